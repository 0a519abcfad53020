// safetensors_header.h - the project's own parser of the safetensors header (no torch).
//
// File layout: 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"k": "v"}}
// then the byte buffer; offsets are relative to the buffer start (8 + N).
// Every way a file can be wrong (truncated, header length beyond the file, invalid JSON, missing
// fields, unknown dtype, offsets out of range or overlapping, size not matching dtype x shape)
// becomes a simcsepp::Error naming the file and tensor; the parser never reads out of bounds. It
// is fuzzed by tests/fuzz/safetensors_header_fuzz.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace simcsepp::model {

enum class SafetensorsDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32" -> kF32 ...; nullopt-like failure is reported by the parser, so this throws on unknown.
SafetensorsDtype parse_safetensors_dtype(const std::string& name, const std::string& where);
const char* safetensors_dtype_name(SafetensorsDtype dtype);
size_t safetensors_dtype_size(SafetensorsDtype dtype);

struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, [begin, end)
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;               // N
  std::vector<SafetensorsEntry> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_start() const { return 8 + header_size; }
  const SafetensorsEntry* find(const std::string& name) const;
};

// Largest header accepted (the reference implementation's limit): guards allocations.
inline constexpr uint64_t kMaxSafetensorsHeaderSize = 100'000'000;

// Reads N from the first 8 bytes and checks it against `file_size`. `prefix` must hold >= 8 bytes.
uint64_t parse_safetensors_header_size(std::string_view prefix, uint64_t file_size, const std::string& where);

// Parses the header of a file of `file_size` bytes whose first bytes are `prefix` (at least 8 + N
// of them; the whole file is fine). Throws simcsepp::Error naming `where` (the file) on any defect.
SafetensorsHeader parse_safetensors_header(std::string_view prefix, uint64_t file_size, const std::string& where);

}  // namespace simcsepp::model
