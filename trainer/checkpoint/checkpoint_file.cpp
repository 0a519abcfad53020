// checkpoint_file.cpp - see checkpoint_file.h.
#include "trainer/checkpoint/checkpoint_file.h"

#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "data/sha256.h"

namespace simcsepp::trainer {

namespace {

constexpr char kMagic[] = "SIMCSEPP-CKPT-1\n";  // 16 bytes without the terminator
constexpr size_t kMagicLen = 16;
constexpr size_t kTrailerLen = 64;

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "float32";
    case torch::kDouble:
      return "float64";
    case torch::kLong:
      return "int64";
    case torch::kByte:
      return "uint8";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      break;
  }
  throw Error(std::string("checkpoint cannot store dtype ") + c10::toString(t), "", "this is a bug: please report it");
}

torch::ScalarType dtype_from(const std::string& s, const std::string& path) {
  if (s == "float32") return torch::kFloat;
  if (s == "float64") return torch::kDouble;
  if (s == "int64") return torch::kLong;
  if (s == "uint8") return torch::kByte;
  if (s == "bfloat16") return torch::kBFloat16;
  throw Error("unknown dtype '" + s + "' in checkpoint", path, "the file was written by another version");
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("write failed: ") + std::strerror(errno), path, "is the disk full?");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

// Hashes and writes in one pass.
struct HashingWriter {
  int fd;
  const std::string& path;
  data::Sha256 hash;
  void put(const void* data, size_t size) {
    hash.update(data, size);
    write_all(fd, data, size, path);
  }
};

std::string read_trailer_and_hash(const std::string& path, std::string* computed) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open checkpoint", path, "check the path and permissions");
  const auto size = std::filesystem::file_size(path);
  if (size < kMagicLen + 8 + kTrailerLen)
    throw Error("checkpoint is truncated", path, "delete it; an older one is kept");
  data::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t left = size - kTrailerLen;
  while (left > 0) {
    const auto n = static_cast<std::streamsize>(std::min<uint64_t>(left, buf.size()));
    in.read(buf.data(), n);
    if (in.gcount() != n) throw Error("checkpoint read failed", path, "is the file being written?");
    hash.update(buf.data(), static_cast<size_t>(n));
    left -= static_cast<uint64_t>(n);
  }
  std::string trailer(kTrailerLen, '\0');
  in.read(trailer.data(), kTrailerLen);
  *computed = hash.hex_digest();
  return trailer;
}

nlohmann::json read_header(std::ifstream& in, const std::string& path, uint64_t* data_start) {
  char magic[kMagicLen];
  in.read(magic, kMagicLen);
  if (in.gcount() != static_cast<std::streamsize>(kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0) {
    throw Error("not a simcsepp checkpoint (bad magic)", path, "pass a file written by `simcsepp train`");
  }
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (in.gcount() != static_cast<std::streamsize>(header_len)) throw Error("checkpoint header truncated", path, "");
  *data_start = kMagicLen + 8 + header_len;
  try {
    return nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("checkpoint header is not JSON: ") + e.what(), path, "the file is corrupt");
  }
}

}  // namespace

const torch::Tensor& CheckpointContents::at(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return t;
  }
  throw Error("checkpoint has no tensor '" + name + "'", name, "was it written by another model or version?");
}

void write_checkpoint_file(const std::string& path, const nlohmann::json& meta, const NamedTensors& tensors) {
  std::vector<torch::Tensor> host;
  nlohmann::json table = nlohmann::json::array();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto h = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(h.numel()) * h.element_size();
    table.push_back({{"name", name},
                     {"dtype", dtype_name(h.scalar_type())},
                     {"shape", h.sizes().vec()},
                     {"offset", offset},
                     {"bytes", bytes}});
    offset += bytes;
    host.push_back(std::move(h));
  }
  nlohmann::json header = {{"meta", meta}, {"tensors", table}};
  const std::string header_text = header.dump();
  const uint64_t header_len = header_text.size();

  const std::filesystem::path final_path(path);
  const auto tmp = final_path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw Error(std::string("cannot create checkpoint: ") + std::strerror(errno), tmp,
                "is the run directory writable?");
  try {
    HashingWriter w{fd, tmp, {}};
    w.put(kMagic, kMagicLen);
    w.put(&header_len, 8);
    w.put(header_text.data(), header_text.size());
    for (const auto& h : host) w.put(h.data_ptr(), static_cast<size_t>(h.numel()) * h.element_size());
    const std::string digest = w.hash.hex_digest();
    write_all(fd, digest.data(), digest.size(), tmp);
    if (::fsync(fd) != 0)
      throw Error(std::string("fsync failed: ") + std::strerror(errno), tmp, "is the disk healthy?");
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  ::close(fd);
  std::filesystem::rename(tmp, final_path);
  // Make the rename itself durable.
  const auto dir = final_path.parent_path().empty() ? std::filesystem::path(".") : final_path.parent_path();
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

bool verify_checkpoint_file(const std::string& path, std::string* reason) {
  try {
    std::string computed;
    const auto trailer = read_trailer_and_hash(path, &computed);
    if (trailer != computed) {
      if (reason) *reason = "checksum mismatch (file corrupt or truncated)";
      return false;
    }
    std::ifstream in(path, std::ios::binary);
    uint64_t start = 0;
    read_header(in, path, &start);
    return true;
  } catch (const Error& e) {
    if (reason) *reason = e.what();
    return false;
  }
}

nlohmann::json read_checkpoint_meta(const std::string& path) {
  std::string reason;
  if (!verify_checkpoint_file(path, &reason)) {
    throw Error("invalid checkpoint: " + reason, path, "use an older checkpoint (--resume auto skips bad ones)");
  }
  std::ifstream in(path, std::ios::binary);
  uint64_t start = 0;
  return read_header(in, path, &start).at("meta");
}

CheckpointContents read_checkpoint_file(const std::string& path) {
  std::string reason;
  if (!verify_checkpoint_file(path, &reason)) {
    throw Error("invalid checkpoint: " + reason, path, "use an older checkpoint (--resume auto skips bad ones)");
  }
  std::ifstream in(path, std::ios::binary);
  uint64_t start = 0;
  const auto header = read_header(in, path, &start);
  CheckpointContents out;
  out.meta = header.at("meta");
  for (const auto& entry : header.at("tensors")) {
    const auto shape = entry.at("shape").get<std::vector<int64_t>>();
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype_from(entry.at("dtype"), path)));
    const auto bytes = entry.at("bytes").get<uint64_t>();
    SIMCSEPP_CHECK(bytes == static_cast<uint64_t>(t.numel()) * t.element_size(), "checkpoint tensor size");
    in.seekg(static_cast<std::streamoff>(start + entry.at("offset").get<uint64_t>()));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(bytes));
    out.tensors.emplace_back(entry.at("name").get<std::string>(), std::move(t));
  }
  return out;
}

}  // namespace simcsepp::trainer
