// sha256.cpp - SHA-256 through OpenSSL's EVP interface (see sha256.h).
#include "data/sha256.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "base/error.h"

namespace simcsepp::data {

namespace {

// An EVP call that fails means libcrypto itself is broken (out of memory, a FIPS provider that
// refuses SHA-256): say which call and what OpenSSL reported.
void check(int ok, const char* what) {
  if (ok == 1) return;
  char reason[256] = "no OpenSSL error queued";
  if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof(reason));
  throw Error(std::string("OpenSSL ") + what + " failed: " + reason, "SHA-256",
              "check the OpenSSL installation (libssl3 / libcrypto.so.3) and its configuration (OPENSSL_CONF)");
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) check(0, "EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
    check(0, "EVP_DigestInit_ex(sha256)");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t size) {
  if (size > 0) check(EVP_DigestUpdate(ctx_, data, size), "EVP_DigestUpdate");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  check(EVP_DigestFinal_ex(ctx_, digest, &length), "EVP_DigestFinal_ex");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open file for checksum", path, "check that the file exists and is readable");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error("read error while checksumming", path, "is the file system healthy?");
  return h.hex_digest();
}

}  // namespace simcsepp::data
