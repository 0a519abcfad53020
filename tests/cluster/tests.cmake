# Multi-rank tests of cluster/ (included by tests/CMakeLists.txt).
#   test_cluster_mpi: GoogleTest binary with an MPI-aware main (tests/cluster/mpi/), run under
#   mpirun -np 2 and -np 3; a short collective timeout makes ranks that fall out of step fail
#   instead of hanging.
#   cluster_fault: the DISABLED_ fault-injection cases, each under mpirun, checked from Python
#   (exit status, message naming rank/host, time to fail).
file(GLOB _cluster_mpi_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cluster/mpi/*.cpp)
add_executable(test_cluster_mpi ${_cluster_mpi_srcs})
target_link_libraries(test_cluster_mpi PRIVATE simcsepp_cluster GTest::gtest simcsepp_warnings)
target_include_directories(test_cluster_mpi PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(test_cluster_mpi PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_enable_torch_pch(test_cluster_mpi)

foreach(_np 2 3)
  simcsepp_add_mpi_test(cluster.mpi_np${_np} ${_np} test_cluster_mpi)
  set_property(TEST cluster.mpi_np${_np} APPEND PROPERTY ENVIRONMENT "SIMCSEPP_COLLECTIVE_TIMEOUT_S=60")
  set_property(TEST cluster.mpi_np${_np} PROPERTY TIMEOUT 300)
endforeach()

simcsepp_add_python_test(cluster.fault cluster_fault_test.py)
string(JOIN " " _cluster_mpirun ${SIMCSEPP_MPIRUN})  # a ';' would split the ENVIRONMENT list
set_property(TEST cluster.fault APPEND PROPERTY ENVIRONMENT
  "SIMCSEPP_MPI_TEST_BIN=$<TARGET_FILE:test_cluster_mpi>"
  "SIMCSEPP_MPIRUN=${_cluster_mpirun}"
  "SIMCSEPP_HAVE_NCCL=${SIMCSEPP_HAVE_NCCL}")
set_property(TEST cluster.fault PROPERTY TIMEOUT 300)

# The data-parallel equivalence test (W ranks x batch B == 1 process x batch W*B, every
# objective): links the model library, so it is its own binary.
file(GLOB _cluster_equiv_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cluster/equivalence/*.cpp)
add_executable(test_cluster_equivalence ${_cluster_equiv_srcs} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/mpi/mpi_test_main.cpp)
target_link_libraries(test_cluster_equivalence PRIVATE simcsepp_model simcsepp_cluster GTest::gtest simcsepp_warnings)
target_include_directories(test_cluster_equivalence PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(test_cluster_equivalence PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_enable_torch_pch(test_cluster_equivalence)
foreach(_np 2 3)
  simcsepp_add_mpi_test(cluster.equivalence_np${_np} ${_np} test_cluster_equivalence)
  set_property(TEST cluster.equivalence_np${_np} APPEND PROPERTY ENVIRONMENT "SIMCSEPP_COLLECTIVE_TIMEOUT_S=120")
  set_property(TEST cluster.equivalence_np${_np} PROPERTY TIMEOUT 600)
endforeach()

# Two nodes simulated on one machine (tests/cluster/multinode/): network + UTS namespaces joined
# by a bridge, mpirun on a "login" namespace starting one orted per node through a launch agent.
# 2 nodes x 2 ranks of `simcsepp train`: every rank's rank/local rank/host, both hosts' /metrics
# and the file_sd list, SIGUSR1 across hosts, and 2x2 == 1x4 bit for bit. Needs root and
# iproute2; fails (never skips) without them. Both cores; one such test at a time.
add_test(NAME cluster.multinode_2x2 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cluster/multinode/multinode_train_test.sh)
set_tests_properties(cluster.multinode_2x2 PROPERTIES
  ENVIRONMENT "${SIMCSEPP_TEST_ENV};SIMCSEPP_PYTHON=${SIMCSEPP_PYTHON}"
  TIMEOUT 300 RESOURCE_LOCK multinode PROCESSORS 2 LABELS multinode)
# The NCCL communicator's rendezvous (ncclGetUniqueId on rank 0, MPI_Bcast of the id) needs no
# GPU: this probe runs it in the multi-node test, which then checks the id and that rank 0's
# bootstrap address is reachable from the other host. Built wherever NCCL is.
if(SIMCSEPP_HAVE_NCCL)
  add_executable(nccl_bootstrap_probe ${CMAKE_CURRENT_SOURCE_DIR}/cluster/multinode/nccl_bootstrap_probe.cpp)
  target_link_libraries(nccl_bootstrap_probe PRIVATE simcsepp_cluster simcsepp_warnings)
  target_include_directories(nccl_bootstrap_probe PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(nccl_bootstrap_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  set_property(TEST cluster.multinode_2x2 APPEND PROPERTY ENVIRONMENT
    "SIMCSEPP_NCCL_BOOTSTRAP_PROBE=$<TARGET_FILE:nccl_bootstrap_probe>")
endif()

# The NCCL communicator's GoogleTests (tests/cluster/nccl/): every collective, stream ordering,
# the async all-reduce, the autograd all-gather backward and the bucketed reduction on real
# GPUs (forced collectives at world 1, so the one-GPU device check runs them). Built wherever
# NCCL is; without a CUDA device each test reports SKIPPED and ctest lists it as not run.
if(SIMCSEPP_HAVE_NCCL)
  add_executable(test_cluster_nccl ${CMAKE_CURRENT_SOURCE_DIR}/cluster/nccl/nccl_communicator_test.cpp)
  target_link_libraries(test_cluster_nccl PRIVATE simcsepp_cluster GTest::gtest simcsepp_warnings)
  target_include_directories(test_cluster_nccl PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(test_cluster_nccl PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  simcsepp_enable_torch_pch(test_cluster_nccl)
  simcsepp_add_mpi_test(cluster.nccl_communicator 1 test_cluster_nccl)
  set_property(TEST cluster.nccl_communicator APPEND PROPERTY ENVIRONMENT "SIMCSEPP_COLLECTIVE_TIMEOUT_S=60")
  set_tests_properties(cluster.nccl_communicator PROPERTIES TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "no CUDA device: every NCCL test reports SKIPPED")
else()
  simcsepp_missing_dependency_test(cluster.nccl_communicator "NCCL with the CUDA toolkit (the NCCL communicator)"
    "install the CUDA toolkit with NCCL (/usr/local/cuda on this project's machines) or the torch wheel's nvidia-nccl")
endif()

# SIMCSEPP_FORCE_COLLECTIVES=1 through `simcsepp train`: a world of one on the multi-rank paths
# trains bit for bit as the plain one (MPI under mpirun -np 1 and single); bad values refused.
simcsepp_add_python_test(cluster.forced_collectives forced_collectives_train.py)
set_property(TEST cluster.forced_collectives PROPERTY TIMEOUT 300)
