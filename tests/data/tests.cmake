# Data tests beyond the GoogleTest binary test_data: helpers for the Python parity tests, the
# multi-rank reader tests (mpirun) and the parity tests themselves.

# Helper for the tokenizer parity test: tokenizes a file to ids (test-only, not in the CLI).
add_executable(data_tokenize_ids ${CMAKE_CURRENT_SOURCE_DIR}/data/tools/tokenize_ids.cpp)
target_link_libraries(data_tokenize_ids PRIVATE simcsepp_data simcsepp_warnings)
set_target_properties(data_tokenize_ids PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

simcsepp_add_python_test(data.tokenizer_parity tokenizer_parity.py)
# `simcsepp prep` output read with h5py and checked against Python's csv module + `tokenizers`.
simcsepp_add_python_test(data.prep_parity prep_parity.py)

# Multi-rank reader tests: small non-GoogleTest binaries (tests/data/mpi/, shared checks in
# mpi_checks.h) under mpirun with 1, 2 and 3 ranks.
function(simcsepp_add_data_mpi_binary target source)
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/data/mpi/${source})
  target_link_libraries(${target} PRIVATE simcsepp_data MPI::MPI_CXX simcsepp_warnings)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()
simcsepp_add_data_mpi_binary(test_data_mpi reader_mpi_main.cpp)
simcsepp_add_mpi_test(data.reader_np1 1 test_data_mpi)
simcsepp_add_mpi_test(data.reader_np2 2 test_data_mpi)
simcsepp_add_mpi_test(data.reader_np3 3 test_data_mpi)

# libFuzzer target for the CSV parser and tokenizer: only with -DSIMCSEPP_FUZZ=ON and clang.
# The data sources are compiled into it directly so they carry the fuzzer's coverage hooks.
if(SIMCSEPP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "simcsepp: SIMCSEPP_FUZZ needs clang. HINT: -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  file(GLOB _data_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/data/*.cpp)
  add_executable(fuzz_data_parsers ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_data_parsers.cpp ${_data_srcs})
  target_include_directories(fuzz_data_parsers PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(fuzz_data_parsers PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
  target_link_options(fuzz_data_parsers PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_data_parsers PRIVATE simcsepp_base simcsepp_hdf5 simcsepp_utf8proc
                        nlohmann_json::nlohmann_json ZLIB::ZLIB simcsepp_zstd Threads::Threads)
  set_target_properties(fuzz_data_parsers PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()

# The reader with drop_tail off and with a corrupt shard (its prefetch thread's error) on 2 and 3
# ranks: tests/data/mpi/reader_tail_and_errors_mpi.cpp.
simcsepp_add_data_mpi_binary(test_data_mpi_tail_errors reader_tail_and_errors_mpi.cpp)
simcsepp_add_mpi_test(data.reader_tail_and_errors_np2 2 test_data_mpi_tail_errors)
simcsepp_add_mpi_test(data.reader_tail_and_errors_np3 3 test_data_mpi_tail_errors)

# What the job reads and hashes per epoch (the issue-15 I/O bound), with 1, 2 and 3 ranks:
# tests/data/mpi/reader_io_mpi.cpp.
simcsepp_add_data_mpi_binary(test_data_mpi_io reader_io_mpi.cpp)
simcsepp_add_mpi_test(data.reader_io_np1 1 test_data_mpi_io)
simcsepp_add_mpi_test(data.reader_io_np2 2 test_data_mpi_io)
simcsepp_add_mpi_test(data.reader_io_np3 3 test_data_mpi_io)

# Distributed (mpirun -np 2/3, --part i/K + --merge), resumable (SIGKILL) and deduplicating prep
# against a Python oracle: tests/python/prep_distributed.py.
simcsepp_add_python_test(data.prep_distributed_parity prep_distributed.py parity)
simcsepp_add_python_test(data.prep_distributed_resume prep_distributed.py resume)
simcsepp_add_python_test(data.prep_distributed_errors prep_distributed.py errors)
