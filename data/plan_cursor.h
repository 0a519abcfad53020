// plan_cursor.h - the kept rows of a PrepPlan in order, from any row: opens the block holding it
// (a plain input at the block's byte offset, a compressed or CSV input from its start) and skips
// empty records, duplicates and earlier rows without tokenizing them.
#pragma once

#include <cstdint>
#include <memory>

#include "data/prep_plan.h"

namespace simcsepp::data {

struct PlannedRow {
  SourceRecord record;
  int32_t input = 0;
  int64_t begin = 0, end = 0;  // logical byte range of the record in its input
};

class PlanCursor {
 public:
  explicit PlanCursor(const PrepPlan& plan) : plan_(plan) {}
  // The next row returned is global row `row` (< plan.total_rows). Moving forward within the
  // current block reads on; otherwise the row's block is opened.
  void seek(int64_t row);
  // False after the last row.
  bool next(PlannedRow& out);

 private:
  void open_block(size_t block);
  const PrepPlan& plan_;
  size_t block_ = 0;
  std::unique_ptr<RecordReader> reader_;
  int64_t ordinal_ = 0, row_ = 0;
  size_t dup_ = 0;
};

}  // namespace simcsepp::data
