// safetensors_file.cpp - safetensors <-> torch tensors.
#include "model/safetensors_file.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/safetensors_header.h"

namespace simcsepp::model {

namespace {

at::ScalarType to_torch(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF64:
      return at::kDouble;
    case SafetensorsDtype::kF32:
      return at::kFloat;
    case SafetensorsDtype::kF16:
      return at::kHalf;
    case SafetensorsDtype::kBF16:
      return at::kBFloat16;
    case SafetensorsDtype::kI64:
      return at::kLong;
    case SafetensorsDtype::kI32:
      return at::kInt;
    case SafetensorsDtype::kI16:
      return at::kShort;
    case SafetensorsDtype::kI8:
      return at::kChar;
    case SafetensorsDtype::kU8:
      return at::kByte;
    case SafetensorsDtype::kBool:
      return at::kBool;
  }
  throw std::logic_error("unhandled SafetensorsDtype");
}

SafetensorsDtype from_torch(at::ScalarType type, const std::string& where) {
  switch (type) {
    case at::kDouble:
      return SafetensorsDtype::kF64;
    case at::kFloat:
      return SafetensorsDtype::kF32;
    case at::kHalf:
      return SafetensorsDtype::kF16;
    case at::kBFloat16:
      return SafetensorsDtype::kBF16;
    case at::kLong:
      return SafetensorsDtype::kI64;
    case at::kInt:
      return SafetensorsDtype::kI32;
    case at::kShort:
      return SafetensorsDtype::kI16;
    case at::kChar:
      return SafetensorsDtype::kI8;
    case at::kByte:
      return SafetensorsDtype::kU8;
    case at::kBool:
      return SafetensorsDtype::kBool;
    default:
      throw Error(std::string("dtype ") + c10::toString(type) + " cannot be stored in safetensors", where,
                  "convert the tensor to float32/float16/bfloat16 first");
  }
}

}  // namespace

SafetensorsContents read_safetensors(const std::string& path) {
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read file: " + ec.message(), path, "check the path of the model directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open file", path, "check permissions");

  std::string prefix(std::min<uint64_t>(file_size, 8), '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  const uint64_t header_size = parse_safetensors_header_size(prefix, file_size, path);
  prefix.resize(8 + header_size);
  in.read(prefix.data() + 8, static_cast<std::streamsize>(header_size));
  if (!in) throw Error("cannot read header", path, "is the file still being written?");
  const SafetensorsHeader header = parse_safetensors_header(prefix, file_size, path);

  SafetensorsContents contents;
  contents.metadata = header.metadata;
  for (const auto& entry : header.tensors) {
    auto tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(to_torch(entry.dtype)));
    in.seekg(static_cast<std::streamoff>(header.data_start() + entry.begin));
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(entry.end - entry.begin));
    if (!in) throw Error("cannot read data", path + ": tensor '" + entry.name + "'", "is the file truncated?");
    contents.tensors.emplace(entry.name, std::move(tensor));
  }
  return contents;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Sorted names, contiguous offsets: the layout the Python package writes.
  std::vector<std::pair<std::string, at::Tensor>> sorted;
  for (const auto& [name, tensor] : tensors) sorted.emplace_back(name, tensor.detach().to(torch::kCPU).contiguous());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, tensor] = sorted[i];
    if (i > 0 && sorted[i - 1].first == name) throw Error("duplicate tensor name '" + name + "'", path);
    const auto dtype = from_torch(tensor.scalar_type(), path + ": tensor '" + name + "'");
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(dtype)},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // aligns the data buffer to 8 bytes

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot create file", tmp, "check that the output directory is writable");
    char size_bytes[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(size_bytes, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, tensor] : sorted) {
      out.write(static_cast<const char*>(tensor.data_ptr()),
                static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
    }
    out.flush();
    if (!out) throw Error("write failed", tmp, "is the disk full?");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename " + tmp + ": " + ec.message(), path, "check the output directory");
}

}  // namespace simcsepp::model
