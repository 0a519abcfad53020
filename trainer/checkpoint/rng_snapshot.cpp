// rng_snapshot.cpp - see rng_snapshot.h.
#include "trainer/checkpoint/rng_snapshot.h"

#include <ATen/Context.h>
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace simcsepp::trainer {

namespace {

torch::Tensor state_of(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_state_of(at::Generator gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

RngSnapshot capture_rng(torch::Device device) {
  RngSnapshot s;
  s.cpu = state_of(at::detail::getDefaultCPUGenerator());
  if (device.is_cuda()) s.cuda = state_of(at::globalContext().defaultGenerator(device));
  return s;
}

void restore_rng(const RngSnapshot& snapshot, torch::Device device) {
  set_state_of(at::detail::getDefaultCPUGenerator(), snapshot.cpu);
  if (device.is_cuda()) set_state_of(at::globalContext().defaultGenerator(device), snapshot.cuda);
}

}  // namespace simcsepp::trainer
