# Evaluation / inference registrations: Python parity and CLI tests of `simcsepp eval` and
# `simcsepp embed` (they run the built binary, SIMCSEPP_BIN). The GoogleTest parts live in
# tests/data/sts_readers_test.cpp and tests/evaluation/*_test.cpp (test_evaluation).
simcsepp_add_python_test(evaluation.sts_parity eval_sts_parity.py)
simcsepp_add_python_test(evaluation.embed_parity eval_embed_parity.py)
simcsepp_add_python_test(evaluation.cli_errors eval_cli_errors.py)
