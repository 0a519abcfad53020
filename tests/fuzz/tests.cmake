# The fuzz targets in every ctest run, without clang: each LLVMFuzzerTestOneInput is linked with
# tests/fuzz/replay_main.cpp (seeds + a fixed number of deterministic mutations) and built with
# ASan + UBSan from the sources it checks, as the libFuzzer targets are (-DSIMCSEPP_FUZZ=ON with
# clang, for open-ended fuzzing: docs/data.md, docs/model.md). A few seconds each.
set(_fuzz_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1)
set(_fuzz_env "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1" "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

file(GLOB _fuzz_data_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/data/*.cpp)
add_executable(fuzz_data_parsers_replay ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_data_parsers.cpp
               ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.cpp ${_fuzz_data_srcs})
target_link_libraries(fuzz_data_parsers_replay PRIVATE simcsepp_base simcsepp_hdf5 simcsepp_utf8proc
                      nlohmann_json::nlohmann_json ZLIB::ZLIB Threads::Threads)

add_executable(fuzz_safetensors_header_replay ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/safetensors_header_fuzz.cpp
               ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.cpp ${PROJECT_SOURCE_DIR}/model/safetensors_header.cpp
               ${PROJECT_SOURCE_DIR}/base/error.cpp)
target_link_libraries(fuzz_safetensors_header_replay PRIVATE nlohmann_json::nlohmann_json)

foreach(_t fuzz_data_parsers_replay fuzz_safetensors_header_replay)
  target_include_directories(${_t} PRIVATE ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
  target_compile_options(${_t} PRIVATE ${_fuzz_flags})
  target_link_options(${_t} PRIVATE -fsanitize=address,undefined)
  set_target_properties(${_t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endforeach()

add_test(NAME fuzz.data_parsers_replay COMMAND fuzz_data_parsers_replay 200000
         ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds/csv_and_text.txt ${SIMCSEPP_SHARED_DATA}/nli/snli_triplets.csv)
add_test(NAME fuzz.safetensors_header_replay COMMAND fuzz_safetensors_header_replay 200000
         ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds/tiny_model.safetensors)
set_tests_properties(fuzz.data_parsers_replay fuzz.safetensors_header_replay PROPERTIES
  ENVIRONMENT "${_fuzz_env}" TIMEOUT 300 LABELS fuzz)
