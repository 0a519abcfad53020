// bench_sha256.cpp - SHA-256 throughput of data/sha256.h (vocabulary fingerprints, shard and
// checkpoint checksums; the per-epoch shard verification of issue 12 hashes every shard).
//
// Measures, best of `repeats` runs each:
//   1. Sha256::update over an in-memory buffer in 1 MiB pieces (the hash alone): MB/s;
//   2. sha256_file of a temporary file of the same size, read back from the page cache: MB/s;
//   3. sha256_hex of a 64-byte string (per-call overhead): ns per call.
// Prints the digest of the buffer so two builds can be compared for equality.
// Usage: bench_sha256 [MiB=256] [repeats=3]. Results: docs/data.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "data/sha256.h"

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mib = argc > 1 ? std::stoul(argv[1]) : 256;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 3;
  std::vector<char> data(mib << 20);
  std::mt19937_64 rng(12345);
  for (std::size_t i = 0; i + 8 <= data.size(); i += 8) {
    const std::uint64_t v = rng();
    std::copy_n(reinterpret_cast<const char*>(&v), 8, data.data() + i);
  }

  double best_mem = 1e30;
  std::string digest;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    simcsepp::data::Sha256 h;
    for (std::size_t off = 0; off < data.size(); off += 1 << 20) {
      h.update(data.data() + off, std::min<std::size_t>(1 << 20, data.size() - off));
    }
    digest = h.hex_digest();
    best_mem = std::min(best_mem, seconds_since(t0));
  }

  const auto path = std::filesystem::temp_directory_path() / ("bench_sha256_" + std::to_string(::getpid()) + ".bin");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  double best_file = 1e30;
  std::string file_digest;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    file_digest = simcsepp::data::sha256_file(path.string());
    best_file = std::min(best_file, seconds_since(t0));
  }
  std::filesystem::remove(path);

  const std::string small(64, 'x');
  const int calls = 200000;
  std::size_t sink = 0;
  const auto t_small = Clock::now();
  for (int i = 0; i < calls; ++i) sink += simcsepp::data::sha256_hex(small).size();
  const double small_ns = seconds_since(t_small) / calls * 1e9;

  const double mb = double(data.size()) / 1e6;
  std::printf("buffer %zu MiB, best of %d\n", mib, repeats);
  std::printf("Sha256::update (1 MiB pieces): %8.1f MB/s  digest %s\n", mb / best_mem, digest.c_str());
  std::printf("sha256_file (page cache):      %8.1f MB/s  %s\n", mb / best_file,
              file_digest == digest ? "same digest" : "DIGEST DIFFERS");
  std::printf("sha256_hex of 64 bytes:        %8.1f ns/call (%zu)\n", small_ns, sink / calls);
  return file_digest == digest ? 0 : 1;
}
