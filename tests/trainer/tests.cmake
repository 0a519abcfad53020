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
simcsepp_add_python_test(python.trainer_run trainer_run.py)
