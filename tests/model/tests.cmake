# Model-area registrations: the parity driver used by the Python oracles, and those tests.
# (Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.)
add_executable(model_parity_tool ${CMAKE_CURRENT_SOURCE_DIR}/model/model_parity_tool.cpp)
target_link_libraries(model_parity_tool PRIVATE simcsepp_model simcsepp_warnings)
target_include_directories(model_parity_tool PRIVATE ${PROJECT_SOURCE_DIR})
simcsepp_enable_torch_pch(model_parity_tool)
set_target_properties(model_parity_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_add_python_test(python.model_hf_parity model_hf_parity.py)
# DiffCSE's frozen generator (DistilBERT / BERT masked LM) vs transformers' logits.
simcsepp_add_python_test(python.model_generator_parity model_generator_parity.py)

# A real pretrained checkpoint vs transformers/sentence-transformers; its STS-B dev score through
# `simcsepp eval` vs a SentEval-protocol reference.
simcsepp_add_python_test(python.model_pretrained_parity model_pretrained_parity.py)

# libFuzzer target for the safetensors header parser: only with -DSIMCSEPP_FUZZ=ON and clang.
# The parser is compiled into it directly so it carries the fuzzer's coverage hooks.
if(SIMCSEPP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "simcsepp: SIMCSEPP_FUZZ needs clang. HINT: -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  add_executable(fuzz_safetensors_header ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/safetensors_header_fuzz.cpp
                 ${PROJECT_SOURCE_DIR}/model/safetensors_header.cpp ${PROJECT_SOURCE_DIR}/base/error.cpp)
  target_include_directories(fuzz_safetensors_header PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(fuzz_safetensors_header PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
  target_link_options(fuzz_safetensors_header PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_safetensors_header PRIVATE nlohmann_json::nlohmann_json)
  set_target_properties(fuzz_safetensors_header PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()
simcsepp_add_python_test(python.model_export_cli model_export_cli.py)

# FLOP counts for MFU (model/flop_count.h) vs torch.utils.flop_counter on transformers' BertModel.
add_executable(flop_count_tool ${CMAKE_CURRENT_SOURCE_DIR}/model/flop_count_tool.cpp)
target_link_libraries(flop_count_tool PRIVATE simcsepp_model simcsepp_warnings)
target_include_directories(flop_count_tool PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(flop_count_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_add_python_test(python.model_flop_parity model_flop_parity.py)

# Every SDPA backend against math on a GPU (tests/model/cuda/): the device check's attention
# stage. Built with CUDA; without a CUDA device it reports SKIPPED and ctest lists it as not run.
if(SIMCSEPP_HAVE_CUDA)
  add_executable(test_model_cuda ${CMAKE_CURRENT_SOURCE_DIR}/model/cuda/attention_backends_cuda_test.cpp)
  target_link_libraries(test_model_cuda PRIVATE simcsepp_model GTest::gtest GTest::gtest_main simcsepp_warnings)
  target_include_directories(test_model_cuda PRIVATE ${PROJECT_SOURCE_DIR})
  set_target_properties(test_model_cuda PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  simcsepp_enable_torch_pch(test_model_cuda)
  add_test(NAME model.attention_backends_cuda COMMAND test_model_cuda)
  set_tests_properties(model.attention_backends_cuda PROPERTIES ENVIRONMENT "${SIMCSEPP_TEST_ENV}" TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "no CUDA device: the attention backend comparison did not run")
else()
  simcsepp_missing_dependency_test(model.attention_backends_cuda "the CUDA toolkit (CUDA code paths)"
    "install the CUDA toolkit (/usr/local/cuda on this project's machines) and a CUDA build of torch")
endif()
