// mpi_checks.h - what every reader test under mpirun shares: failures counted per rank and
// summed at the end, one temporary directory for all ranks, and an all-gather of equal-length
// vectors.
#pragma once

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace simcsepp::data::testing {

inline int mpi_failures = 0;

inline void check(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "FAIL (rank %d): %s\n", rank, what.c_str());
    ++mpi_failures;
  }
}

// Sums the failures of every rank; rank 0 prints the verdict. The process's exit code.
inline int finish(int rank, int world) {
  int total = 0;
  MPI_Allreduce(&mpi_failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("%s: %d ranks, %d failures\n", total ? "FAIL" : "PASS", world, total);
  return total ? 1 : 0;
}

// One directory name for all ranks: `name`, the world size and rank 0's pid (broadcast).
inline std::filesystem::path shared_temp_dir(const std::string& name, int world) {
  int pid = static_cast<int>(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return std::filesystem::temp_directory_path() / (name + "_" + std::to_string(world) + "_" + std::to_string(pid));
}

template <typename T>
std::vector<T> gather(const std::vector<T>& mine, MPI_Datatype type, int world) {
  std::vector<T> all(mine.size() * static_cast<size_t>(world));
  MPI_Allgather(mine.data(), static_cast<int>(mine.size()), type, all.data(), static_cast<int>(mine.size()), type,
                MPI_COMM_WORLD);
  return all;
}

}  // namespace simcsepp::data::testing
