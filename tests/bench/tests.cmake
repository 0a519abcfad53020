# bench.step_anchors_cpu: bench/step_anchors.py (the issue-14 benchmark driver: HF eager, HF
# torch.compile, simcsepp eager, simcsepp captured) run on the CPU with a tiny config, so its code
# path and its arithmetic (medians, model TFLOP/s, MFU, ratios to the anchors) are exercised in CI.
# A benchmark that is run, never a timed assertion: the checks are on the table's shape and numbers'
# consistency (tests/bench/step_anchors_check.py, with its negative controls). The first run on a
# machine compiles with inductor (C++ codegen), later ones hit torch's cache: see docs/performance.md.
add_test(NAME bench.step_anchors_cpu
  COMMAND ${SIMCSEPP_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/step_anchors_check.py $<TARGET_FILE:bench_step>)
set_tests_properties(bench.step_anchors_cpu PROPERTIES ENVIRONMENT "${SIMCSEPP_TEST_ENV}" TIMEOUT 300)
