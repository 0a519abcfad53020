// safetensors_test.cpp - the safetensors reader/writer: round trip, and every malformed-file case
// ending in a simcsepp::Error that names the file and the defect (never a crash).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "model/safetensors_file.h"
#include "model/safetensors_header.h"

namespace fs = std::filesystem;
using namespace simcsepp::model;

namespace {

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("simcsepp_safetensors_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// A file with the given header text (length-prefixed) followed by `data_bytes` zero bytes.
std::string make_file(const std::string& header, size_t data_bytes, uint64_t declared_size = UINT64_MAX) {
  const uint64_t n = declared_size == UINT64_MAX ? header.size() : declared_size;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes + header + std::string(data_bytes, '\0');
}

std::string parse_error(const std::string& file) {
  try {
    parse_safetensors_header(file, file.size(), "bad.safetensors");
  } catch (const simcsepp::Error& e) {
    EXPECT_EQ(e.where().rfind("bad.safetensors", 0), 0u) << e.what();
    EXPECT_FALSE(e.hint().empty());
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Safetensors, RoundTripKeepsNamesDtypesShapesAndValues) {
  const auto path = (temp_dir() / "round_trip.safetensors").string();
  torch::manual_seed(0);
  const auto a = torch::randn({3, 5});
  const auto b = torch::randn({7}).to(torch::kBFloat16);
  const auto c = torch::arange(6, torch::kLong).view({2, 3});
  write_safetensors(path, {{"b", b}, {"a", a}, {"c", c}}, {{"format", "pt"}});
  const auto contents = read_safetensors(path);
  ASSERT_EQ(contents.tensors.size(), 3u);
  EXPECT_TRUE(torch::equal(contents.tensors.at("a"), a));
  EXPECT_TRUE(torch::equal(contents.tensors.at("b"), b));
  EXPECT_EQ(contents.tensors.at("b").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(contents.tensors.at("c"), c));
  EXPECT_EQ(contents.metadata.at("format"), "pt");
  // Data buffer starts 8-byte aligned, as the reference writer does.
  EXPECT_EQ(parse_safetensors_header_size(std::string(8, '\0'), 8, "x"), 0u);
  std::ifstream in(path, std::ios::binary);
  std::string prefix(8, '\0');
  in.read(prefix.data(), 8);
  EXPECT_EQ(parse_safetensors_header_size(prefix, fs::file_size(path), path) % 8, 0u);
}

TEST(Safetensors, ParsesAValidHeader) {
  const auto file =
      make_file(R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                R"("v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                12);
  const auto header = parse_safetensors_header(file, file.size(), "ok.safetensors");
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.tensors[0].name, "w");
  EXPECT_EQ(header.tensors[0].dtype, SafetensorsDtype::kF16);
  EXPECT_EQ(header.tensors[0].numel(), 4);
  EXPECT_EQ(header.find("v")->begin, 8u);
  EXPECT_EQ(header.metadata.at("format"), "pt");
}

TEST(Safetensors, RejectsMalformedFiles) {
  EXPECT_NE(parse_error(std::string(5, '\0')).find("too short"), std::string::npos);
  EXPECT_NE(parse_error(make_file("{}", 0, 1000)).find("beyond the end of the file"), std::string::npos);
  EXPECT_NE(parse_error(make_file("{\"a\": [", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(make_file("[1,2]", 0)).find("JSON object"), std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4))
                .find("beyond the data buffer"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                  12))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8))
                .find("unknown dtype 'F12'"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
                .find("does not match dtype"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)).find("begin > end"),
            std::string::npos);
  EXPECT_NE(
      parse_error(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("non-negative"),
      std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8)).find("missing field 'shape'"),
            std::string::npos);
  // A shape whose element count wraps around 2^64 must not pass as a small tensor.
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", 0))
                .find("overflow"),
            std::string::npos);
}

TEST(Safetensors, ReadingATruncatedFileFailsWithItsPath) {
  const auto path = (temp_dir() / "truncated.safetensors").string();
  write_safetensors(path, {{"a", torch::ones({100})}});
  fs::resize_file(path, fs::file_size(path) - 10);
  try {
    read_safetensors(path);
    FAIL() << "expected an error";
  } catch (const simcsepp::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor 'a'"), std::string::npos) << e.what();
  }
}
