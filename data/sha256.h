// sha256.h - SHA-256 (FIPS 180-4) of bytes and files, hex-encoded, by OpenSSL's libcrypto (EVP).
//
// Used to fingerprint the vocabulary and to checksum shards in the manifest and checkpoints, so
// a reader can refuse data made with another vocabulary or a corrupted file. libcrypto picks the
// fastest code for the CPU (SHA-NI, AVX2); the header keeps OpenSSL out of its includers.
#pragma once

#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace simcsepp::data {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view bytes);
// Throws simcsepp::Error naming the path if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace simcsepp::data
