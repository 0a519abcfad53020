// preemption.h - SIGUSR1 / SIGTERM / SIGINT handling for preemptible jobs (Slurm sends SIGUSR1
// via --signal, SIGTERM at the time limit or scancel; a person presses Ctrl-C). The handler only
// sets a flag; the training loop finishes the current step, agrees across ranks (TrainStep's
// stop all-reduce), writes a checkpoint and exits with kExitPreempted (42). A second SIGINT
// ends the process at once (default action), without a checkpoint.
#pragma once

#include <cstdint>
#include <string>

namespace simcsepp::trainer {

// Installs the handlers (idempotent). Returns immediately.
void install_preemption_handlers();
// True once SIGUSR1, SIGTERM or SIGINT arrived in this process.
bool preemption_requested();
// The signal number that requested it (0 if none).
int preemption_signal();

// RUN/preempted.json: every rank has saved the preemption checkpoint at `step`. The Slurm
// launcher requeues on it (it removes the file before each launch), whatever exit code
// srun/mpirun report. Written to a temporary name and renamed, so it is never seen half-written.
void write_preempted_marker(const std::string& run_dir, int64_t step, int signal);

}  // namespace simcsepp::trainer
