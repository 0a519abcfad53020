// safetensors_header.cpp - validating parser of the safetensors header.
#include "model/safetensors_header.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace simcsepp::model {

namespace {

constexpr const char* kHint = "the file is not a valid safetensors file (truncated or corrupted?); re-export it";

struct DtypeInfo {
  const char* name;
  SafetensorsDtype dtype;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {"F64", SafetensorsDtype::kF64, 8},   {"F32", SafetensorsDtype::kF32, 4}, {"F16", SafetensorsDtype::kF16, 2},
    {"BF16", SafetensorsDtype::kBF16, 2}, {"I64", SafetensorsDtype::kI64, 8}, {"I32", SafetensorsDtype::kI32, 4},
    {"I16", SafetensorsDtype::kI16, 2},   {"I8", SafetensorsDtype::kI8, 1},   {"U8", SafetensorsDtype::kU8, 1},
    {"BOOL", SafetensorsDtype::kBool, 1},
};

// Reads a non-negative JSON integer as u64 (rejects floats, negatives, strings).
uint64_t as_u64(const nlohmann::json& value, const std::string& what, const std::string& where) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  throw Error(what + " must be a non-negative integer, got " + value.dump(), where, kHint);
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& spec, uint64_t data_size,
                             const std::string& file) {
  const std::string where = file + ": tensor '" + name + "'";
  if (!spec.is_object()) throw Error("entry must be a JSON object", where, kHint);
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!spec.contains(field)) throw Error(std::string("missing field '") + field + "'", where, kHint);
  }
  SafetensorsEntry entry;
  entry.name = name;
  if (!spec["dtype"].is_string()) throw Error("dtype must be a string", where, kHint);
  entry.dtype = parse_safetensors_dtype(spec["dtype"].get<std::string>(), where);

  const auto& shape = spec["shape"];
  if (!shape.is_array()) throw Error("shape must be an array", where, kHint);
  // Element count with overflow checks: a hostile shape must not wrap around to a small size.
  uint64_t numel = 1;
  for (const auto& dim : shape) {
    const uint64_t d = as_u64(dim, "shape entry", where);
    if (d > static_cast<uint64_t>(INT64_MAX)) throw Error("shape entry too large", where, kHint);
    if (d != 0 && numel > UINT64_MAX / d) throw Error("shape overflows", where, kHint);
    numel *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  const auto& offsets = spec["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    throw Error("data_offsets must be [begin, end]", where, kHint);
  }
  entry.begin = as_u64(offsets[0], "data_offsets[0]", where);
  entry.end = as_u64(offsets[1], "data_offsets[1]", where);
  if (entry.begin > entry.end) throw Error("data_offsets begin > end", where, kHint);
  if (entry.end > data_size) {
    throw Error("data_offsets end " + std::to_string(entry.end) + " beyond the data buffer of " +
                    std::to_string(data_size) + " bytes",
                where, kHint);
  }
  const size_t element = safetensors_dtype_size(entry.dtype);
  if (numel > UINT64_MAX / element || numel * element != entry.end - entry.begin) {
    throw Error("byte size " + std::to_string(entry.end - entry.begin) + " does not match dtype " +
                    safetensors_dtype_name(entry.dtype) + " x shape (" + std::to_string(numel) + " elements)",
                where, kHint);
  }
  return entry;
}

}  // namespace

SafetensorsDtype parse_safetensors_dtype(const std::string& name, const std::string& where) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  throw Error("unknown dtype '" + name + "'", where,
              "supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL; convert the checkpoint to F32/F16/BF16");
}

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 1;
}

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

uint64_t parse_safetensors_header_size(std::string_view prefix, uint64_t file_size, const std::string& where) {
  if (file_size < 8 || prefix.size() < 8) {
    throw Error("file too short for a safetensors header (" + std::to_string(file_size) + " bytes)", where, kHint);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(prefix[i]);  // little endian
  if (n > file_size - 8) {
    throw Error("header length " + std::to_string(n) + " runs beyond the end of the file (" +
                    std::to_string(file_size) + " bytes)",
                where, kHint);
  }
  if (n > kMaxSafetensorsHeaderSize) throw Error("header length " + std::to_string(n) + " is too large", where, kHint);
  return n;
}

SafetensorsHeader parse_safetensors_header(std::string_view prefix, uint64_t file_size, const std::string& where) {
  SafetensorsHeader header;
  header.header_size = parse_safetensors_header_size(prefix, file_size, where);
  if (prefix.size() < header.data_start()) throw Error("header truncated", where, kHint);
  const std::string_view text = prefix.substr(8, header.header_size);

  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error("header is not valid JSON", where, kHint);
  if (!json.is_object()) throw Error("header must be a JSON object", where, kHint);

  const uint64_t data_size = file_size - header.data_start();
  for (const auto& [name, spec] : json.items()) {
    if (name == "__metadata__") {
      if (!spec.is_object()) throw Error("__metadata__ must be an object", where, kHint);
      for (const auto& [key, value] : spec.items()) {
        if (!value.is_string()) throw Error("__metadata__ value of '" + key + "' must be a string", where, kHint);
        header.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_entry(name, spec, data_size, where));
  }
  // Overlapping tensors would alias each other's bytes: the file is corrupt.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  for (size_t i = 1; i < header.tensors.size(); ++i) {
    const auto& prev = header.tensors[i - 1];
    const auto& cur = header.tensors[i];
    if (cur.begin < prev.end) {
      throw Error("data of tensors '" + prev.name + "' and '" + cur.name + "' overlap", where, kHint);
    }
  }
  return header;
}

}  // namespace simcsepp::model
