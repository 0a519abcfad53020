// plan_cursor.cpp - sequential access to a plan's rows (see plan_cursor.h).
#include "data/plan_cursor.h"

#include <algorithm>

namespace simcsepp::data {

void PlanCursor::open_block(size_t block) {
  block_ = block;
  reader_.reset();
  if (block >= plan_.blocks.size()) return;
  const PlannedBlock& b = plan_.blocks[block];
  const PrepInput& in = plan_.inputs[static_cast<size_t>(b.scan.input)];
  if (in.splittable()) {
    reader_ = std::make_unique<RecordReader>(in.path, b.scan.begin, b.scan.end, b.lines_before);
  } else {
    reader_ = std::make_unique<RecordReader>(in.path);
  }
  ordinal_ = b.first_ordinal, row_ = b.first_row, dup_ = b.dup_begin;
}

void PlanCursor::seek(int64_t row) {
  const auto& blocks = plan_.blocks;
  const auto it = std::partition_point(blocks.begin(), blocks.end(),
                                       [&](const PlannedBlock& b) { return b.first_row + b.rows <= row; });
  const auto target = static_cast<size_t>(it - blocks.begin());
  if (!reader_ || target != block_ || row_ > row) open_block(target);
  PlannedRow skipped;
  while (row_ < row && next(skipped)) {
  }
}

bool PlanCursor::next(PlannedRow& out) {
  for (;;) {
    if (!reader_) {
      if (block_ >= plan_.blocks.size()) return false;
      open_block(block_);
      if (!reader_) return false;
    }
    const int64_t begin = reader_->offset();
    if (!reader_->next(out.record)) {
      open_block(block_ + 1);
      if (!reader_) return false;
      continue;
    }
    if (record_is_empty(out.record.fields)) continue;
    const PlannedBlock& b = plan_.blocks[block_];
    const int64_t ordinal = ordinal_++;
    if (dup_ < b.dup_end && plan_.duplicates[dup_] == ordinal) {
      ++dup_;
      continue;
    }
    ++row_;
    out.input = b.scan.input;
    out.begin = begin;
    out.end = reader_->offset();
    return true;
  }
}

}  // namespace simcsepp::data
