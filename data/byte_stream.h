// byte_stream.h - the bytes of one prep input: a byte range of a plain file, or a whole gzip or
// zstd file decompressed (those cannot be entered in the middle, so they are read whole).
//
// Offsets are "logical": positions in the decompressed text. Errors (corrupt or truncated
// compressed data, read errors) are simcsepp::Error naming the file and ending with a HINT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace simcsepp::data {

enum class Compression { kNone, kGzip, kZstd };

// From the first bytes (gzip 1F 8B, zstd 28 B5 2F FD), not from the name.
Compression compression_of(const std::string& path);

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Up to `n` bytes into `out`; 0 at the end. Throws simcsepp::Error on damaged data.
  virtual size_t read(char* out, size_t n) = 0;
  // Human-readable kind for messages ("gzip", "zstd", "text").
  virtual const char* kind() const = 0;
};

// Plain files: bytes [begin, end) (end < 0: to the end of the file). Compressed files: the whole
// decompressed stream, and begin/end must be 0/-1 (Error otherwise: they cannot be seeked).
std::unique_ptr<ByteStream> open_byte_stream(const std::string& path, int64_t begin = 0, int64_t end = -1);

}  // namespace simcsepp::data
