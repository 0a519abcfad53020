/* nccl_version_probe.c - configure-time probe (cmake/SimcseppNccl.cmake): prints the version code
 * of the libnccl it is linked with. Declared here, not from nccl.h, so it needs no CUDA headers. */
#include <stdio.h>
int ncclGetVersion(int* version); /* ncclResult_t is an int-sized enum; 0 = ncclSuccess */
int main(void) {
  int v = 0;
  if (ncclGetVersion(&v) != 0) return 1;
  printf("%d\n", v);
  return 0;
}
