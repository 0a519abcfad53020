# Model-area registrations: the parity driver used by the Python oracles, and those tests.
# (Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.)
add_executable(model_parity_tool ${CMAKE_CURRENT_SOURCE_DIR}/model/model_parity_tool.cpp)
target_link_libraries(model_parity_tool PRIVATE simcsepp_model simcsepp_warnings)
target_include_directories(model_parity_tool PRIVATE ${PROJECT_SOURCE_DIR})
simcsepp_enable_torch_pch(model_parity_tool)
set_target_properties(model_parity_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
simcsepp_add_python_test(python.model_hf_parity model_hf_parity.py)
