// test_hooks.h - environment variables that let the tests stop, hold or observe a real training
// run at an exact step (docs/training.md, "Test hook:" paragraphs). Unset, each is a no-op; nothing
// else in the run depends on them.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

namespace simcsepp::trainer {

// SIMCSEPP_TEST_KILL_AFTER_STEP=S (SIMCSEPP_TEST_KILL_RANK=R: only rank R): the update after which
// this rank kills itself; -1: never.
int64_t kill_after_step_for_tests(int rank);
// SIMCSEPP_TEST_HOLD_FILE=PATH (SIMCSEPP_TEST_HOLD_RANK=R): wait at `point` while PATH.point exists
// (with SIMCSEPP_TEST_HOLD_UNTIL_SIGNAL=1: or until a preemption signal reached this rank).
void hold_for_tests(const std::string& point, int rank);
// Whether PATH.point exists now (the run settles its pending step before holding).
bool hold_requested_for_tests(const std::string& point, int rank);
// SIMCSEPP_TEST_BATCH_ROWS=PATH: the file PATH.<rank> that receives one line per micro-batch.
std::optional<std::ofstream> batch_rows_log_for_tests(int rank);

}  // namespace simcsepp::trainer
