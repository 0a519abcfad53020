/* mpi_rank_probe.c - the smallest real MPI program: prints rank, size and the sum of an
 * all-reduce, so the Slurm tests can tell that a launcher (srun --mpi=pmix, mpirun inside an
 * allocation) wired the ranks into one communicator. Built by the test with mpicc. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0, one = 1, sum = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("probe rank %d of %d allreduce %d\n", rank, size, sum);
  MPI_Finalize();
  return 0;
}
