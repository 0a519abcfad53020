// safetensors_header_fuzz.cpp - libFuzzer target for the safetensors header parser
// (model/safetensors_header.h). Any input must either parse into a header whose tensors lie inside
// the file and do not overlap, or throw simcsepp::Error; anything else (crash, sanitizer report,
// another exception type) is a bug. Built only with -DSIMCSEPP_FUZZ=ON and clang; how to run it
// is in docs/model.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/error.h"
#include "model/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  try {
    const auto header = simcsepp::model::parse_safetensors_header(file, size, "fuzz.safetensors");
    const uint64_t data_size = size - header.data_start();
    uint64_t previous_end = 0;
    for (const auto& t : header.tensors) {
      // Invariants the loader relies on before it reads a byte.
      if (t.begin > t.end || t.end > data_size || t.begin < previous_end) std::abort();
      if (static_cast<uint64_t>(t.numel()) * simcsepp::model::safetensors_dtype_size(t.dtype) != t.end - t.begin)
        std::abort();
      previous_end = t.end;
    }
  } catch (const simcsepp::Error&) {
    // Rejected with a clear error: fine.
  }
  return 0;
}
