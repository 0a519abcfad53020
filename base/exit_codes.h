// exit_codes.h - the documented process exit codes (README "Outputs"; slurm/ relies on them).
#pragma once

namespace simcsepp {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;       // bad input or configuration: message says what to fix
inline constexpr int kExitUsage = 2;       // unknown command / no command
inline constexpr int kExitInternal = 3;    // a bug: please report with the log
inline constexpr int kExitPreempted = 42;  // checkpointed on a preemption signal; requeue and resume

}  // namespace simcsepp
