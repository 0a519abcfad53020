// batch_stager.cpp - see batch_stager.h.
#include "trainer/batch_stager.h"

#include <cstring>

#include "cluster/base/error.h"

namespace simcsepp::trainer {

BatchStager::BatchStager(std::unique_ptr<StagingOps> ops, int slots) : ops_(std::move(ops)), slots_(slots) {
  SIMCSEPP_CHECK(ops_ != nullptr && slots >= 1, "BatchStager needs its device operations and >= 1 slot");
  for (auto& s : slots_) {
    s.copied = ops_->new_event();
    s.consumed = ops_->new_event();
  }
}

StagedStep BatchStager::stage(const std::vector<std::vector<data::TokenBatch>>& micro_batches) {
  int64_t elements = 0;
  for (const auto& columns : micro_batches) {
    for (const auto& b : columns) {
      SIMCSEPP_CHECK(static_cast<int64_t>(b.input_ids.size()) == b.rows * b.max_len &&
                         b.attention_mask.size() == b.input_ids.size(),
                     "TokenBatch size mismatch");
      elements += 2 * b.rows * b.max_len;
    }
  }
  StagedStep out;
  out.slot = next_;
  Slot& slot = slots_[next_];
  SIMCSEPP_CHECK(slot.released, "BatchStager: slot " + std::to_string(out.slot) +
                                    " staged again before release() of its last step; call release() after each step");
  next_ = (next_ + 1) % static_cast<int>(slots_.size());
  if (slot.copy_issued) ops_->host_wait(slot.copied);  // 1: H is no longer being read
  if (!slot.host.defined() || slot.host.numel() < elements) {
    slot.host = ops_->host_buffer(elements);
    slot.device = ops_->device_buffer(elements);
  }
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
  ops_->stream_wait(StagingOps::kCopy, slot.consumed);  // 3: the last reader of D is done
  auto host = slot.host.narrow(0, 0, elements);
  auto device = slot.device.narrow(0, 0, elements);
  ops_->copy(device, host, StagingOps::kCopy);  // 4
  ops_->record(slot.copied, StagingOps::kCopy);
  slot.copy_issued = true;
  ops_->stream_wait(StagingOps::kCompute, slot.copied);  // 5
  slot.released = false;
  offset = 0;
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
