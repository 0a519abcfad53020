// batch_stager.cpp - see batch_stager.h.
#include "trainer/batch_stager.h"

#include <cstring>

#include "base/error.h"

namespace simcsepp::trainer {

BatchStager::BatchStager(std::unique_ptr<StagingOps> ops, int slots) : ops_(std::move(ops)), slots_(slots) {
  SIMCSEPP_CHECK(ops_ != nullptr && slots >= 1, "BatchStager needs its device operations and >= 1 slot");
  for (auto& s : slots_) {
    s.copied = ops_->new_event();
    s.consumed = ops_->new_event();
  }
}

BatchStager::~BatchStager() {
  for (auto& s : slots_) {
    if (s.copy_issued) ops_->host_wait(s.copied);
  }
}

StagedStep BatchStager::stage(const std::vector<std::vector<data::TokenBatch>>& micro_batches,
                              const std::vector<data::PackedTokens>& packed) {
  SIMCSEPP_CHECK(packed.empty() || packed.size() == micro_batches.size(),
                 "BatchStager: " + std::to_string(packed.size()) + " packed blocks for " +
                     std::to_string(micro_batches.size()) + " micro-batches");
  int64_t elements = 0;
  for (size_t m = 0; m < micro_batches.size(); ++m) {
    int64_t n = 0;
    for (const auto& b : micro_batches[m]) {
      SIMCSEPP_CHECK(static_cast<int64_t>(b.input_ids.size()) == b.rows * b.max_len &&
                         b.attention_mask.size() == b.input_ids.size(),
                     "TokenBatch size mismatch");
      n += 2 * b.rows * b.max_len;
    }
    SIMCSEPP_CHECK(packed.empty() || (packed[m].data != nullptr && packed[m].elements == n),
                   "BatchStager: packed block " + std::to_string(m) + " does not hold exactly its micro-batch's tokens");
    elements += n;
  }
  StagedStep out;
  out.slot = next_;
  Slot& slot = slots_[next_];
  SIMCSEPP_CHECK(slot.released, "BatchStager: slot " + std::to_string(out.slot) +
                                    " staged again before release() of its last step; call release() after each step");
  next_ = (next_ + 1) % static_cast<int>(slots_.size());
  if (slot.copy_issued) ops_->host_wait(slot.copied);  // 1: H (or the blocks) no longer read
  slot.in_flight.clear();
  if (!slot.device.defined() || slot.device.numel() < elements) {
    if (packed.empty()) slot.host = ops_->host_buffer(elements);
    slot.device = ops_->device_buffer(elements);
  } else if (packed.empty() && (!slot.host.defined() || slot.host.numel() < elements)) {
    slot.host = ops_->host_buffer(elements);
  }
  ops_->stream_wait(StagingOps::kCopy, slot.consumed);  // 3: the last reader of D is done
  if (packed.empty()) {
    auto* h = slot.host.data_ptr<int64_t>();  // 2
    int64_t offset = 0;
    for (const auto& columns : micro_batches) {
      for (const auto& b : columns) {
        const int64_t n = b.rows * b.max_len;
        std::memcpy(h + offset, b.input_ids.data(), n * sizeof(int64_t));
        std::memcpy(h + offset + n, b.attention_mask.data(), n * sizeof(int64_t));
        offset += 2 * n;
      }
    }
    auto host = slot.host.narrow(0, 0, elements);
    auto device = slot.device.narrow(0, 0, elements);
    ops_->copy(device, host, StagingOps::kCopy);  // 4
  } else {
    int64_t offset = 0;
    for (size_t m = 0; m < packed.size(); ++m) {  // 4: one copy per micro-batch, from its block
      auto host = torch::from_blob(packed[m].data.get(), {packed[m].elements}, torch::kLong);
      auto device = slot.device.narrow(0, offset, packed[m].elements);
      ops_->copy(device, host, StagingOps::kCopy);
      offset += packed[m].elements;
    }
    slot.in_flight = packed;
  }
  ops_->record(slot.copied, StagingOps::kCopy);
  slot.copy_issued = true;
  ops_->stream_wait(StagingOps::kCompute, slot.copied);  // 5
  slot.released = false;
  int64_t offset = 0;
  for (const auto& columns : micro_batches) {
    auto& ids = out.ids.emplace_back();
    auto& masks = out.masks.emplace_back();
    for (const auto& b : columns) {
      const int64_t n = b.rows * b.max_len;
      ids.push_back(slot.device.narrow(0, offset, n).view({b.rows, b.max_len}));
      masks.push_back(slot.device.narrow(0, offset + n, n).view({b.rows, b.max_len}));
      offset += 2 * n;
    }
  }
  return out;
}

void BatchStager::release(const StagedStep& staged) {
  SIMCSEPP_CHECK(staged.slot >= 0 && staged.slot < static_cast<int>(slots_.size()), "release() of an unknown slot");
  Slot& slot = slots_[staged.slot];
  ops_->record(slot.consumed, StagingOps::kCompute);
  slot.released = true;
}

}  // namespace simcsepp::trainer
