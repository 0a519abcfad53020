// raw_tensor_io.h - test-only exchange of float32 tensors with the Python oracles: a tensor is
// <dir>/<name>.f32 (little-endian float32, C order) and its shape is given in a JSON file.
// Deliberately trivial so neither side depends on the other's serialisation library.
#pragma once

#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"

namespace simcsepp::testing {

inline torch::Tensor read_f32(const std::string& path, const std::vector<int64_t>& shape) {
  auto t = torch::empty(shape, torch::kFloat);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tensor file", path, "was the Python side run first?");
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * sizeof(float));
  if (in.gcount() != static_cast<std::streamsize>(t.numel() * sizeof(float))) {
    throw Error("short tensor file", path, "shape in the JSON and file size disagree");
  }
  return t;
}

inline void write_f32(const std::string& path, const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();  // CUDA tensors too
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
  if (!out) throw Error("cannot write tensor file", path, "is the directory writable?");
}

}  // namespace simcsepp::testing
