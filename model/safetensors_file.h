// safetensors_file.h - reading and writing safetensors files as libtorch tensors.
//
// Reading validates the header (safetensors_header.h) and then reads each tensor's bytes straight
// into a CPU tensor of the stored dtype (no whole-file buffer). Writing produces files that the
// Python `safetensors` package and transformers load: sorted keys, contiguous offsets, header
// padded with spaces to a multiple of 8 bytes. Byte order is little endian (x86/ARM hosts).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace simcsepp::model {

struct SafetensorsContents {
  std::map<std::string, at::Tensor> tensors;  // CPU, stored dtype, shapes from the header
  std::map<std::string, std::string> metadata;
};

// Throws simcsepp::Error naming the file (and tensor) on I/O errors or an invalid file.
SafetensorsContents read_safetensors(const std::string& path);

// Tensors are written in their own dtype (must be one safetensors knows), from any device.
// Writes to path + ".tmp" and renames, so an interrupted write never leaves a truncated file.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace simcsepp::model
