# Evaluation / inference registrations: Python parity and CLI tests of `simcsepp eval` and
# `simcsepp embed` (they run the built binary, SIMCSEPP_BIN). The GoogleTest parts live in
# tests/data/sts_readers_test.cpp and tests/trainer/{spearman,sts_evaluation}_test.cpp.
simcsepp_add_python_test(eval.sts_parity eval_sts_parity.py)
simcsepp_add_python_test(eval.embed_parity eval_embed_parity.py)
simcsepp_add_python_test(eval.cli_errors eval_cli_errors.py)
