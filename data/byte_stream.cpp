// byte_stream.cpp - plain byte ranges (pread), gzip (zlib gzread) and zstd (ZSTD_decompressStream).
#include "data/byte_stream.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#ifdef SIMCSEPP_HAVE_ZSTD
#include <zstd.h>
#endif

#include "base/error.h"

namespace simcsepp::data {

namespace {

class PlainStream final : public ByteStream {
 public:
  PlainStream(const std::string& path, int64_t begin, int64_t end) : path_(path), pos_(begin), end_(end) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(std::string("cannot open input file: ") + std::strerror(errno), path, "check the path and permissions");
    if (end_ < 0) end_ = static_cast<int64_t>(::lseek(fd_, 0, SEEK_END));
  }
  ~PlainStream() override { ::close(fd_); }
  size_t read(char* out, size_t n) override {
    if (pos_ >= end_) return 0;
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), end_ - pos_));
    for (;;) {
      const ssize_t got = ::pread(fd_, out, n, pos_);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw Error(std::string("read error: ") + std::strerror(errno), path_, "check the file system");
      pos_ += got;
      return static_cast<size_t>(got);
    }
  }
  const char* kind() const override { return "text"; }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t pos_, end_;
};

class GzipStream final : public ByteStream {
 public:
  explicit GzipStream(const std::string& path) : path_(path) {
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_) throw Error("cannot open input file", path, "check the path and permissions");
    gzbuffer(gz_, 1 << 20);
  }
  ~GzipStream() override { gzclose(gz_); }
  size_t read(char* out, size_t n) override {
    const int got = gzread(gz_, out, static_cast<unsigned>(std::min<size_t>(n, 1 << 30)));
    int errnum = Z_OK;
    const char* msg = gzerror(gz_, &errnum);
    if (got < 0 || (errnum != Z_OK && errnum != Z_BUF_ERROR)) {
      throw Error(std::string("corrupt gzip data: ") + msg, path_,
                  "the compressed stream is damaged; `gzip -t FILE` checks it, fetch or compress it again");
    }
    // gzread reports a stream cut short (no end-of-stream marker / CRC) only through gzerror,
    // as Z_BUF_ERROR "unexpected end of file", and returns 0 like a clean end.
    if (got == 0 && errnum == Z_BUF_ERROR) {
      throw Error("gzip stream is truncated (it ends before its end-of-stream marker)", path_,
                  "the file was cut short (interrupted download or copy?); `gzip -t FILE` checks it, fetch it again");
    }
    return static_cast<size_t>(got);
  }
  const char* kind() const override { return "gzip"; }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
};

#ifdef SIMCSEPP_HAVE_ZSTD
class ZstdStream final : public ByteStream {
 public:
  explicit ZstdStream(const std::string& path) : path_(path), in_(path, std::ios::binary), buf_(ZSTD_DStreamInSize()) {
    if (!in_) throw Error("cannot open input file", path, "check the path and permissions");
    ds_ = ZSTD_createDStream();
    ZSTD_initDStream(ds_);
  }
  ~ZstdStream() override { ZSTD_freeDStream(ds_); }
  size_t read(char* out, size_t n) override {
    ZSTD_outBuffer ob{out, n, 0};
    while (ob.pos == 0) {
      if (input_.pos == input_.size) {
        in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        const auto got = static_cast<size_t>(in_.gcount());
        if (got == 0) {
          // At the end of the file a frame must be complete (the last call returned 0).
          if (pending_ != 0) {
            throw Error("zstd stream is truncated (its last frame is incomplete)", path_,
                        "the file was cut short (interrupted download or copy?); `zstd -t FILE` checks it, fetch it again");
          }
          return 0;
        }
        input_ = ZSTD_inBuffer{buf_.data(), got, 0};
      }
      pending_ = ZSTD_decompressStream(ds_, &ob, &input_);
      if (ZSTD_isError(pending_)) {
        throw Error(std::string("corrupt zstd data: ") + ZSTD_getErrorName(pending_), path_,
                    "the compressed stream is damaged; `zstd -t FILE` checks it, fetch or compress it again");
      }
    }
    return ob.pos;
  }
  const char* kind() const override { return "zstd"; }

 private:
  std::string path_;
  std::ifstream in_;
  std::vector<char> buf_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  ZSTD_DStream* ds_ = nullptr;
  size_t pending_ = 0;
};
#endif

}  // namespace

Compression compression_of(const std::string& path) {
  unsigned char m[4] = {0, 0, 0, 0};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(m), 4);
  const auto n = in.gcount();
  if (n >= 2 && m[0] == 0x1F && m[1] == 0x8B) return Compression::kGzip;
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD) return Compression::kZstd;
  return Compression::kNone;
}

std::unique_ptr<ByteStream> open_byte_stream(const std::string& path, int64_t begin, int64_t end) {
  const Compression c = compression_of(path);
  if (c == Compression::kNone) return std::make_unique<PlainStream>(path, begin, end);
  if (begin != 0 || end >= 0) {
    throw Error("a compressed input cannot be read from the middle", path,
                "internal: compressed inputs are read whole (one block per file)");
  }
  if (c == Compression::kGzip) return std::make_unique<GzipStream>(path);
#ifdef SIMCSEPP_HAVE_ZSTD
  return std::make_unique<ZstdStream>(path);
#else
  throw Error("input is zstd-compressed but this build has no zstd support", path,
              "install libzstd-dev and rebuild simcsepp, or decompress it (`zstd -d FILE`) first");
#endif
}

}  // namespace simcsepp::data
