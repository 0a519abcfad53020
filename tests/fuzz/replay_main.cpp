// replay_main.cpp - a main() for the libFuzzer targets in tests/fuzz/ that needs no clang: it runs
// LLVMFuzzerTestOneInput on every seed and then on N inputs mutated from them (bit flips, random
// and "interesting" bytes, inserted/deleted/duplicated ranges, splices of two seeds, truncation)
// with a fixed PRNG seed, so every CI run fuzzes the same inputs and a failure reproduces. Built
// with ASan + UBSan by tests/fuzz/tests.cmake. A property violation aborts inside the target; the
// SIGABRT handler prints the failing input (hex) before the process dies.
//
//   usage: fuzz_<target>_replay ITERATIONS [PRNG_SEED] SEED_FILE...
//   a SEED_FILE ending in .txt or .csv also gives each of its lines as a seed.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::string* g_current = nullptr;

void on_abort(int) {
  static const char kHex[] = "0123456789abcdef";
  const char head[] = "\nfuzz replay: the target aborted on this input (hex):\n";
  (void)!write(2, head, sizeof(head) - 1);
  if (g_current != nullptr) {
    for (unsigned char c : *g_current) {
      const char pair[2] = {kHex[c >> 4], kHex[c & 15]};
      (void)!write(2, pair, 2);
    }
  }
  (void)!write(2, "\n", 1);
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

struct Rng {  // splitmix64: tiny, fixed, the same everywhere
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

// Bytes that parsers treat specially: CSV quoting, JSON structure, UTF-8 lead/continuation bytes,
// control characters and NUL.
const std::string kInteresting = std::string("\",\n\r\t {}[]:0123456789-.e\\#", 27) + std::string("\0\x7f\x80\xbf\xc3\xe4\xf0\xff", 8);

std::string mutate(std::string s, const std::vector<std::string>& seeds, Rng& rng) {
  const size_t rounds = 1 + rng.below(8);
  for (size_t r = 0; r < rounds; ++r) {
    switch (rng.below(8)) {
      case 0:
        if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
        break;
      case 1:
        if (!s.empty()) s[rng.below(s.size())] = static_cast<char>(rng.next());
        break;
      case 2:
        s.insert(rng.below(s.size() + 1), 1, kInteresting[rng.below(kInteresting.size())]);
        break;
      case 3:
        if (!s.empty()) {
          const size_t at = rng.below(s.size());
          s.erase(at, 1 + rng.below(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 4:
        if (!s.empty()) {
          const size_t at = rng.below(s.size());
          const std::string piece = s.substr(at, 1 + rng.below(16));
          s.insert(rng.below(s.size() + 1), piece);
        }
        break;
      case 5: {
        const std::string& other = seeds[rng.below(seeds.size())];
        s = s.substr(0, rng.below(s.size() + 1)) + other.substr(rng.below(other.size() + 1));
        break;
      }
      case 6:
        s.resize(rng.below(s.size() + 1));
        break;
      default:
        if (!s.empty()) s[rng.below(s.size())] = kInteresting[rng.below(kInteresting.size())];
        break;
    }
  }
  if (s.size() > 4096) s.resize(4096);
  return s;
}

void run_one(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ITERATIONS [PRNG_SEED] SEED_FILE...\n", argv[0]);
    return 2;
  }
  const long iterations = std::strtol(argv[1], nullptr, 10);
  int first_file = 2;
  uint64_t prng_seed = 1;
  if (argc > 3 && std::strspn(argv[2], "0123456789") == std::strlen(argv[2])) {
    prng_seed = std::strtoull(argv[2], nullptr, 10);
    first_file = 3;
  }
  std::vector<std::string> seeds;
  for (int i = first_file; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz replay: cannot read seed file %s\n", argv[i]);
      return 2;
    }
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string name = argv[i];
    if (name.size() > 4 && (name.ends_with(".txt") || name.ends_with(".csv"))) {
      size_t start = 0;
      for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1)
        seeds.push_back(all.substr(start, nl - start));
    }
    seeds.push_back(std::move(all));
  }
  seeds.emplace_back();  // the empty input
  std::signal(SIGABRT, on_abort);
  for (const auto& s : seeds) run_one(s);
  Rng rng{prng_seed};
  for (long i = 0; i < iterations; ++i) run_one(mutate(seeds[rng.below(seeds.size())], seeds, rng));
  std::printf("fuzz replay: %zu seeds + %ld mutated inputs (PRNG seed %llu): no property violated\n", seeds.size(),
              iterations, static_cast<unsigned long long>(prng_seed));
  return 0;
}
