// Tests of the Prometheus file_sd writer.
#include "monitoring/file_sd.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace simcsepp::monitoring {
namespace {

namespace fs = std::filesystem;

TEST(FileSd, WritesAllEndpointsWithLabelsAtomically) {
  const fs::path dir = fs::temp_directory_path() / ("simcsepp_file_sd_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / kFileSdName;
  write_file_sd(path.string(), {"node1:9400", "node1:9401", "node2:9400"}, {{"run_id", "r1"}});
  write_file_sd(path.string(), {"node1:9400", "node2:9400"}, {{"run_id", "r1"}});  // replaced
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 1u);
  EXPECT_EQ(doc[0]["targets"], nlohmann::json({"node1:9400", "node2:9400"}));
  EXPECT_EQ(doc[0]["labels"]["run_id"], "r1");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  fs::remove_all(dir);
}

TEST(FileSd, BadInputNamesTheProblem) {
  EXPECT_THROW(file_sd_json({"node1"}, {}), Error);
  EXPECT_THROW(file_sd_json({"node1:http"}, {}), Error);
  EXPECT_THROW(file_sd_json({"node1:9400"}, {{"__bad", "x"}}), Error);
  try {
    write_file_sd("/nonexistent-dir/x/targets.json", {"h:1"}, {});
    FAIL() << "writing into a missing directory did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x/targets.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace simcsepp::monitoring
