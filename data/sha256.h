// sha256.h - SHA-256 (FIPS 180-4) of bytes and files, hex-encoded.
//
// Used to fingerprint the vocabulary and to checksum shards in the manifest, so a reader can
// refuse data made with another vocabulary or a corrupted shard. Self-contained (no OpenSSL).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace simcsepp::data {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Throws simcsepp::Error naming the path if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace simcsepp::data
