#!/usr/bin/env bash
# requeue_fewer_tasks_test.sh - a preempted job requeued onto fewer tasks, under a real one-node
# Slurm (issue 16 point 1):
#   1. the CPU template trains on 2 tasks (mpirun, batch 8 per rank: global batch 16) and gets
#      the time-limit warning; the ranks checkpoint and exit 42. SIMCSEPP_MAX_REQUEUES=0 keeps the
#      launcher from requeueing it at once, so the test can requeue it held
#      (`scontrol requeuehold`), shrink it to 1 task (`scontrol update NumTasks=1`) and release
#      it - what a user does to a requeued job that waits for nodes that are not free, without
#      the race against the scheduler starting it first;
#   2. the requeued job (same id, same run directory, SLURM_NTASKS=1) resumes with the config's
#      own `batch-size = 8`: simcsepp derives 16 per rank from the checkpoint's global batch and
#      continues the 2-rank data order; it finishes and exports a model that loads;
#   3. every rank logs its row ids (SIMCSEPP_TEST_BATCH_ROWS): the global batch of every update,
#      before and after the requeue and across the epoch boundary, equals an uninterrupted 2-task
#      job's (dropout on: the batches, not the weights, are compared).
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
max_steps=160  # 1000 rows / global batch 16: 62 updates per epoch, so the run crosses two epoch boundaries

work=$(mktemp -d /tmp/simcsepp-slurm-fewer.XXXXXX)
make_training_inputs "$work" 1000
write_train_config "$work/train.ini" "$work" "$max_steps" 100000
slurm_cluster_start "$work/cluster"

cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_MPIRUN_ARGS="--mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none"
export SIMCSEPP_LOG_ALL_RANKS=1
# $1: row-log prefix; the rest: sbatch options.
submit() {
  local rows=$1
  shift
  SIMCSEPP_TEST_BATCH_ROWS=$rows SIMCSEPP_MAX_REQUEUES=0 SIMCSEPP_LAUNCHER=mpirun SIMCSEPP_HOME=$src \
    SIMCSEPP_RUN_ROOT=$work/runs sbatch --parsable "$@" "$src/slurm/simcsepp-cpu.sbatch" train.ini
}
show_job() { echo "----- job $1 output -----"; cat "simcsepp-cpu-$1.out" "simcsepp-cpu-$1.err" || true; }

# --- 1. 2 tasks, warned, checkpointed, not requeued by the launcher ---------------------------
id=$(submit "$work/rows-int") || slurm_fail "sbatch refused the CPU template"
run="$work/runs/simcsepp-cpu-$id"
t0=$SECONDS
until [ "$(current_step "$run")" -ge 5 ] 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 120 ] || { show_job "$id"; slurm_fail "job $id made no progress in 120 s"; }
  sleep 0.1
done
scancel --batch --signal=USR1 "$id"
state=$(slurm_wait_job "$id" 200) || true
grep -q "ranks exited with code 42 after SIGUSR1" "simcsepp-cpu-$id.out" ||
  { show_job "$id"; slurm_fail "job $id did not checkpoint and exit 42 on SIGUSR1 (state $state)"; }
saved=$(preempted_step "$run")
[ -n "$saved" ] && [ "$saved" -lt "$max_steps" ] || slurm_fail "no preemption checkpoint before step $max_steps in $run"
echo "job $id checkpointed at step $saved on 2 tasks"

# --- 2. requeued held, shrunk to 1 task, released ---------------------------------------------
scontrol requeuehold "$id" || slurm_fail "scontrol requeuehold $id failed"
scontrol update JobId="$id" NumTasks=1 || slurm_fail "scontrol update NumTasks=1 of job $id failed"
[ "$(slurm_job_field "$id" NumTasks)" = 1 ] || slurm_fail "job $id has NumTasks=$(slurm_job_field "$id" NumTasks), want 1"
scontrol release "$id" || slurm_fail "scontrol release $id failed"
state=$(slurm_wait_job "$id" 300) || true
show_job "$id"
[ "$state" = COMPLETED ] || slurm_fail "the requeued 1-task job $id ended $state"
cat "$run/slurm-jobs.log"
grep -q "restart=1 .*tasks_per_node=1$" "$run/slurm-jobs.log" || slurm_fail "the requeued job did not start on 1 task in $run"
err="simcsepp-cpu-$id.err"
# (SLURM_NTASKS keeps the submitted value in the requeued job; the allocation has 1 task, and
# mpirun starts what the allocation holds.)
grep -q "0/1 .*global batch 16 on cpu, 1 rank(s)" "$err" || slurm_fail "the requeued job did not train on 1 rank"
grep -q "batch-size 16 per rank (given 8) keeps its global batch of 16" "$err" ||
  slurm_fail "the 1-task job did not derive its per-rank batch from the global batch"
grep -q "continues the order of 2 rank(s) x 8 rows" "$err" || slurm_fail "the 1-task job did not keep the 2-rank data order"
[ "$(resumed_per_rank "$err")" = "0 $saved" ] || slurm_fail "the 1-task job did not resume at step $saved"
[ "$(final_step "$run")" = "$max_steps" ] || slurm_fail "the requeued run ended at step $(final_step "$run"), want $max_steps"
check_exported_model "$run/model" "$work/model"

# --- 3. the global batches equal an uninterrupted 2-task job's --------------------------------
ref_id=$(submit "$work/rows-ref") || slurm_fail "sbatch refused the reference job"
state=$(slurm_wait_job "$ref_id" 300) || true
[ "$state" = COMPLETED ] || { show_job "$ref_id"; slurm_fail "reference job $ref_id ended $state"; }
"$SLURM_TEST_PYTHON" - "$work" "$saved" "$max_steps" <<'PY' || slurm_fail "the requeued run read other global batches"
import sys
work, saved, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rows(path):  # {update: (epoch, rows)}; the last line of an update wins (a resumed run re-logs)
    out = {}
    for line in open(path):
        v = [int(x) for x in line.split()]
        out[v[0]] = (v[2], v[4:])
    return out
ref = [rows(f"{work}/rows-ref.{r}") for r in (0, 1)]
before = [rows(f"{work}/rows-int.{r}") for r in (0, 1)]  # rank 0's file also holds the 1-task job's lines
bad = []
for u in range(1, steps + 1):
    want = ref[0][u][1] + ref[1][u][1]
    got = before[0][u][1] + before[1][u][1] if u <= saved else before[0][u][1]
    if got != want:
        bad.append(u)
epochs = sorted({ref[0][u][0] for u in range(1, steps + 1)})
print(f"updates 1..{steps} (epochs {epochs}; 2 tasks to {saved}, 1 task after): {steps - len(bad)} equal, differing {bad[:10]}")
control = sum(ref[0][u][1] == ref[0][u + 1][1] for u in range(1, steps))
print(f"control: consecutive reference updates with equal rows: {control}")
sys.exit(1 if bad or control or len(epochs) < 3 else 0)
PY

echo "PASS: checkpointed at $saved on 2 tasks, requeued on 1 task, resumed with the same global batches, ended at $max_steps"
slurm_cluster_stop
cd /
rm -rf "$work"
