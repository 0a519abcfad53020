// Tests of trainer/checkpoint/async_checkpoint_writer.h: the file holds the state of the snapshot, not what
// the tensors became while it was written; submit returns before the write is done; writes are
// serialised and rotated; a failed write surfaces as an Error naming the file at wait().
#include "trainer/checkpoint/async_checkpoint_writer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "base/error.h"
#include "base/remove_tree.h"
#include "trainer/checkpoint/training_checkpoint.h"

namespace fs = std::filesystem;

namespace simcsepp::trainer {
namespace {

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("simcsepp-async-ckpt-" + name + "-" + std::to_string(::getpid()));
  remove_tree(dir.string());
  fs::create_directories(dir);
  return dir;
}

std::string step_file(const fs::path& dir, int step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08d.ckpt", step);
  return (dir / name).string();
}

TEST(SnapshotTensors, IsACopyTheStepCannotReach) {
  auto w = torch::arange(12, torch::kFloat64).reshape({3, 4});
  const NamedTensors live = {{"w", w}};
  const auto snap = snapshot_tensors(live);
  w.mul_(-1);  // the next update, in place, as AdamW does
  EXPECT_TRUE(torch::equal(snap[0].second, torch::arange(12, torch::kFloat64).reshape({3, 4})));
  EXPECT_NE(snap[0].second.data_ptr(), w.data_ptr());
}

TEST(AsyncCheckpointWriter, FileHoldsTheSnapshotNotTheLaterState) {
  const auto dir = temp_dir("snapshot");
  auto w = torch::randn({256, 1024}, torch::kFloat32);
  const auto at_snapshot = w.clone();
  std::mutex m;
  std::condition_variable cv;
  bool written = false;
  {
    AsyncCheckpointWriter writer([&](const std::string&, double) {
      std::lock_guard<std::mutex> lock(m);
      written = true;
      cv.notify_all();
    });
    writer.submit({dir.string(), step_file(dir, 1), {{"step", 1}}, snapshot_tensors({{"w", w}}), 0});
    for (int i = 0; i < 20; ++i) w.add_(1.0);  // training goes on while the file is written
    writer.wait();
    std::lock_guard<std::mutex> lock(m);
    EXPECT_TRUE(written);
  }
  const auto back = read_checkpoint_file(step_file(dir, 1));
  EXPECT_EQ(back.meta.at("step"), 1);
  EXPECT_TRUE(torch::equal(back.at("w"), at_snapshot));
  remove_tree(dir.string());
}

TEST(AsyncCheckpointWriter, SubmitReturnsWhileTheWriteIsStillRunning) {
  const auto dir = temp_dir("overlap");
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> done{false};
  AsyncCheckpointWriter writer([&](const std::string&, double) {
    // The write is complete; hold its thread until released (bounded: a writer that ran on the
    // caller's thread would otherwise wait forever, and fails the check below instead).
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    done = true;
  });
  writer.submit({dir.string(), step_file(dir, 1), {{"step", 1}}, snapshot_tensors({{"w", torch::ones({4})}}), 0});
  EXPECT_FALSE(done.load());  // submit did not wait for the write (its thread is held above)
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  writer.wait();
  EXPECT_TRUE(done.load());
  remove_tree(dir.string());
}

TEST(AsyncCheckpointWriter, WritesAreSerialisedAndRotatedToTheNewestK) {
  const auto dir = temp_dir("rotate");
  AsyncCheckpointWriter writer;
  for (int step = 1; step <= 5; ++step) {
    writer.submit({dir.string(),
                   step_file(dir, step),
                   {{"step", step}},
                   snapshot_tensors({{"w", torch::full({8}, double(step), torch::kFloat64)}}),
                   2});
  }
  writer.wait();
  const auto files = list_checkpoints(dir.string());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], step_file(dir, 4));
  EXPECT_EQ(files[1], step_file(dir, 5));
  EXPECT_EQ(read_checkpoint_file(files[1]).at("w")[0].item<double>(), 5.0);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().extension(), ".ckpt") << e.path();
  remove_tree(dir.string());
}

TEST(AsyncCheckpointWriter, AFailedWriteIsAnErrorNamingTheFileAtWait) {
  const auto dir = temp_dir("fail");
  std::ofstream(dir / "not-a-dir") << "x";  // the checkpoint directory cannot be created under a file
  const auto bad_dir = dir / "not-a-dir" / "checkpoints";
  AsyncCheckpointWriter writer;
  writer.submit({bad_dir.string(),
                 (bad_dir / "step-00000001.ckpt").string(),
                 {{"step", 1}},
                 snapshot_tensors({{"w", torch::ones({4})}}),
                 0});
  try {
    writer.wait();
    FAIL() << "no error for an impossible checkpoint directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not-a-dir"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(writer.wait());  // reported once
  remove_tree(dir.string());
}

}  // namespace
}  // namespace simcsepp::trainer
