/* finalize_wait_probe.c - rank 0 keeps working for SECONDS while every other rank calls
 * MPI_Finalize at once; each rank prints when it finalises and when it leaves (seconds after a
 * common barrier), so a Slurm test can tell whether a finished rank exits (and starts srun's
 * --wait clock) before the busy one is done. Built by the test with mpicc. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int seconds = argc > 1 ? atoi(argv[1]) : 8;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = now();
  if (rank == 0) sleep((unsigned)seconds);
  printf("probe rank %d finalize %.1f\n", rank, now() - t0);
  fflush(stdout);
  MPI_Finalize();
  printf("probe rank %d exit %.1f\n", rank, now() - t0);
  fflush(stdout);
  return 0;
}
