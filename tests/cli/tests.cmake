# Behaviours of the `simcsepp` command line, driven through the built binary (SIMCSEPP_BIN) with a
# tiny random BERT (tests/python/tiny_train_fixture.py); each runs in well under a minute.
#   cli.conventions: exit codes 2 and 3, --help, --version, --config with the command line winning;
#   train.options: --epochs, --grad-accum, --keep-checkpoints, --resume FILE, and a 2-rank job
#     refusing a 1-rank checkpoint (mpirun -np 2, so PROCESSORS 2);
#   train.supervised_e2e: SNLI triplets -> prep -> train --objective supervised -> eval;
#   train.chunk_size: --chunk-size refused when negative, chunked losses = unchunked, C >= batch off;
#   train.run_directory_guard: run.json, refused starts and resumes, --overwrite, failed runs, Ctrl-C.
simcsepp_add_python_test(cli.conventions cli_conventions.py)
simcsepp_add_python_test(train.options train_options_cli.py)
string(JOIN " " _cli_mpirun ${SIMCSEPP_MPIRUN})  # a ';' would split the ENVIRONMENT list
set_property(TEST train.options APPEND PROPERTY ENVIRONMENT "SIMCSEPP_MPIRUN=${_cli_mpirun}")
set_tests_properties(train.options PROPERTIES PROCESSORS 2 TIMEOUT 300)
simcsepp_add_python_test(train.supervised_e2e train_supervised_e2e.py)
simcsepp_add_python_test(train.chunk_size train_chunk_size_cli.py)
set_tests_properties(train.chunk_size PROPERTIES TIMEOUT 300)
set_tests_properties(cli.conventions train.supervised_e2e PROPERTIES TIMEOUT 300)
# The C++ SVD behind the logged effective rank vs numpy's SVD of the same batch embeddings.
simcsepp_add_python_test(train.effective_rank_svd train_effective_rank_svd.py)
set_tests_properties(train.effective_rank_svd PROPERTIES TIMEOUT 120)
# A run directory belongs to one run (run.json, refusals before any step, --overwrite, leftovers),
# a run without a finite dev score exits 1, and Ctrl-C checkpoints like SIGTERM.
simcsepp_add_python_test(train.run_directory_guard run_directory_guard.py)
set_tests_properties(train.run_directory_guard PROPERTIES TIMEOUT 300)
# train.model_card: every exported model directory carries a Hugging Face model card whose front
# matter parses, whose facts are the run's, and whose two usage snippets load the model as written.
simcsepp_add_python_test(train.model_card model_card.py)
set_tests_properties(train.model_card PROPERTIES TIMEOUT 300)
