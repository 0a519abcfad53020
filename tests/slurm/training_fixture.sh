# shellcheck shell=bash
# training_fixture.sh - inputs for the Slurm training tests: a tiny random BERT
# (make_tiny_bert.py), a small corpus prepared by `simcsepp prep` from the shared Wikipedia
# sentences, and the INI config every test job trains with. Source after slurm_cluster.sh.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SHARED_DATA, SIMCSEPP_PYTHON (optional).

SLURM_TEST_PYTHON=${SIMCSEPP_PYTHON:-/opt/simcsepp-venv/bin/python}

# make_training_inputs WORK ROWS: WORK/model (HF dir), WORK/corpus (prepared shards).
make_training_inputs() {
  local work=$1 rows=$2 shared=${SIMCSEPP_SHARED_DATA:?SIMCSEPP_SHARED_DATA must be set (ctest sets it)}
  "$SLURM_TEST_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/make_tiny_bert.py" "$work/model" ||
    slurm_fail "could not make the tiny BERT. HINT: bash scripts/setup.sh installs the venv"
  head -n "$rows" "$shared/corpus/wiki1m_head.txt" >"$work/sentences.txt"
  "$SIMCSEPP_BIN" prep --input "$work/sentences.txt" --output "$work/corpus" \
    --vocab "$work/model/vocab.txt" --shard-rows 256 --threads 1 --no-progress ||
    slurm_fail "simcsepp prep failed"
}

# write_train_config FILE WORK MAX_STEPS CHECKPOINT_EVERY: a 2-rank CPU SimCSE++ run.
write_train_config() {
  cat >"$1" <<INI
# Slurm test run: tiny BERT, CPU, MPI between the 2 tasks of the job.
model = $2/model
corpus = $2/corpus
objective = simcse++
batch-size = 8
max-steps = $3
checkpoint-every = $4
# One evaluation, at the end: the exported "best" model is then the final one, so an
# interrupted and an uninterrupted run can be compared weight for weight.
eval-every = 0
sts-dev = ${SIMCSEPP_SHARED_DATA}/sts/STSBenchmark/sts-dev.csv
log-every = 1
device = cpu
comm = mpi
INI
}

# check_exported_model DIR INITIAL_DIR [SAME_AS_DIR]: the export loads in transformers, differs
# from INITIAL_DIR and (if given) holds the same weights as SAME_AS_DIR.
check_exported_model() {
  [ -d "$1" ] || slurm_fail "no exported model at $1"
  "$SLURM_TEST_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/check_exported_model.py" "$@" ||
    slurm_fail "the exported model at $1 is not a trained model"
}

# current_step RUN: the newest step in RUN/metrics.jsonl (nothing before the first step).
current_step() {
  [ -f "$1/metrics.jsonl" ] || return 1
  grep '"kind":"step"' "$1/metrics.jsonl" | tail -n 1 | sed -n 's/.*"step":\([0-9]*\).*/\1/p'
}

# final_step RUN: the step count of the finished run (RUN/summary.json).
final_step() {
  [ -f "$1/summary.json" ] || return 1
  sed -n 's/^ *"steps": *\([0-9]*\).*/\1/p' "$1/summary.json"
}

# preempted_step RUN: the step at which the run checkpointed on a signal (metrics.jsonl).
preempted_step() {
  grep '"kind":"preempted"' "$1/metrics.jsonl" | tail -n 1 | sed -n 's/.*"step":\([0-9]*\).*/\1/p'
}

# resumed_per_rank ERR: "RANK STEP" per "[time RANK/WORLD host] INFO resumed from ... at step STEP"
# line of ERR, sorted by rank. Only rank 0 logs INFO unless SIMCSEPP_LOG_ALL_RANKS=1, which the
# preemption tests export so that every rank's resume is on record.
resumed_per_rank() {
  sed -n 's/^\[[0-9:]* \([0-9]*\)\/[0-9]* [^]]*\] INFO resumed from .* at step \([0-9]*\).*/\1 \2/p' "$1" | sort -n
}

# every_rank_at WORLD STEP: what resumed_per_rank prints when each of WORLD ranks resumed at STEP.
every_rank_at() {
  local r
  for ((r = 0; r < $1; ++r)); do echo "$r $2"; done
}
