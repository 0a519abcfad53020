# Trainer-area registrations: helper tools driven by Python oracles, and the Python parity tests.
# (Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.)

# Objective parity: C++ objectives vs an independent torch reference written from method.md.
add_executable(objective_parity_tool ${CMAKE_CURRENT_SOURCE_DIR}/trainer/objective_parity_tool.cpp)
target_link_libraries(objective_parity_tool PRIVATE simcsepp_model simcsepp_cluster simcsepp_warnings)
target_include_directories(objective_parity_tool PRIVATE ${PROJECT_SOURCE_DIR})
simcsepp_enable_torch_pch(objective_parity_tool)
set_target_properties(objective_parity_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_add_python_test(python.objective_parity objective_parity.py)
simcsepp_add_python_test(python.objective_encoder_parity objective_encoder_parity.py)
# DiffCSE / DiffCSE++ vs a reference transcribed from the official DiffCSE code (loss, labels, every gradient).
simcsepp_add_python_test(python.diffcse_parity diffcse_parity.py)
simcsepp_add_python_test(python.trainer_run trainer_run.py)
# Every command given wrong input (truncated gzip, directories for files, read-only mounts, the
# export's own source, a global batch of 1, config-file errors): exit 1, FILE:LINE/option, HINT,
# nothing lost. Mounts a read-only tmpfs, so it runs as root (CI does).
simcsepp_add_python_test(cli.bad_input cli_bad_input.py)

# Data-parallel equivalence of the real update path (TrainStep + AdamW) under mpirun, and the
# gather of every rank's step timings for the "ranks" lines of metrics.jsonl (rank_timings_mpi.cpp).
file(GLOB _trainer_mpi_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/trainer/mpi/*.cpp)
add_executable(test_trainer_equivalence ${_trainer_mpi_srcs} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/mpi/mpi_test_main.cpp)
target_link_libraries(test_trainer_equivalence PRIVATE simcsepp_trainer GTest::gtest simcsepp_warnings)
target_include_directories(test_trainer_equivalence PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(test_trainer_equivalence PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_enable_torch_pch(test_trainer_equivalence)
foreach(_np 2 3)
  simcsepp_add_mpi_test(trainer.train_step_equivalence_np${_np} ${_np} test_trainer_equivalence)
  set_property(TEST trainer.train_step_equivalence_np${_np} APPEND PROPERTY ENVIRONMENT "SIMCSEPP_COLLECTIVE_TIMEOUT_S=120")
  set_property(TEST trainer.train_step_equivalence_np${_np} PROPERTY TIMEOUT 600)
endforeach()

# Gradient caching (--chunk-size) is exact: W ranks chunked == 1 process unchunked on the global
# batch, every objective, under mpirun -np 1, 2 and 3 (tests/trainer/chunked/).
file(GLOB _chunked_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/trainer/chunked/*.cpp)
add_executable(test_chunked_equivalence ${_chunked_srcs} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/mpi/mpi_test_main.cpp)
target_link_libraries(test_chunked_equivalence PRIVATE simcsepp_trainer GTest::gtest simcsepp_warnings)
target_include_directories(test_chunked_equivalence PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(test_chunked_equivalence PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_enable_torch_pch(test_chunked_equivalence)
foreach(_np 1 2 3)
  simcsepp_add_mpi_test(trainer.chunked_equivalence_np${_np} ${_np} test_chunked_equivalence)
  set_property(TEST trainer.chunked_equivalence_np${_np} APPEND PROPERTY ENVIRONMENT "SIMCSEPP_COLLECTIVE_TIMEOUT_S=120")
  set_property(TEST trainer.chunked_equivalence_np${_np} PROPERTY TIMEOUT 600)
endforeach()
# Resume on another world size (issue 16.1): W=3 checkpoint resumed on W'=2 and W'=1 under mpirun.
simcsepp_add_python_test(python.train_reshard_resume train_reshard_resume.py)
simcsepp_add_python_test(python.train_reshard_batches train_reshard_batches.py)
# DiffCSE / DiffCSE++ end to end: trains, checkpoints and resumes the discriminator, exports the encoder only.
simcsepp_add_python_test(python.train_diffcse train_diffcse.py)

# The captured update (--cuda-graphs) against the eager step on a GPU (tests/trainer/cuda/): the
# device check's graph stage. Built with CUDA; without a CUDA device it reports SKIPPED and ctest
# lists it as not run.
if(SIMCSEPP_HAVE_CUDA)
  add_executable(test_trainer_cuda ${CMAKE_CURRENT_SOURCE_DIR}/trainer/cuda/captured_step_cuda_test.cpp)
  target_link_libraries(test_trainer_cuda PRIVATE simcsepp_trainer GTest::gtest simcsepp_warnings)
  target_include_directories(test_trainer_cuda PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(test_trainer_cuda PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  simcsepp_enable_torch_pch(test_trainer_cuda)
  simcsepp_add_mpi_test(trainer.captured_step_cuda 1 test_trainer_cuda)
  set_tests_properties(trainer.captured_step_cuda PROPERTIES TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "no CUDA device: the captured step did not run")
else()
  simcsepp_missing_dependency_test(trainer.captured_step_cuda "the CUDA toolkit (CUDA code paths)"
    "install the CUDA toolkit (/usr/local/cuda on this project's machines) and a CUDA build of torch")
endif()
