# Data tests beyond the GoogleTest binary test_data: helpers for the Python parity tests, the
# multi-rank reader tests (mpirun) and the parity tests themselves.

# Helper for the tokenizer parity test: tokenizes a file to ids (test-only, not in the CLI).
add_executable(data_tokenize_ids ${CMAKE_CURRENT_SOURCE_DIR}/data/tools/tokenize_ids.cpp)
target_link_libraries(data_tokenize_ids PRIVATE simcsepp_data simcsepp_warnings)
set_target_properties(data_tokenize_ids PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

simcsepp_add_python_test(data.tokenizer_parity tokenizer_parity.py)
