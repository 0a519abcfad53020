#!/usr/bin/env bash
# lost_rank_test.sh - a rank lost mid-run does not leave the others hanging until the collective
# timeout. On a real one-node Slurm (slurm_cluster.sh), 2-task CPU training jobs via srun
# --mpi=pmix (slurm/simcsepp-launch.sh, which passes --wait=SIMCSEPP_TASK_GRACE_S); rank 1
# leaves right after update 3 (SIMCSEPP_TEST_KILL_AFTER_STEP/KILL_RANK) while rank 0 waits in
# the next all-reduce:
#   signal  rank 1 dies by SIGKILL;
#   exit    rank 1 exits with code 1 (a rank that failed), without MPI_Finalize.
# Measured (Slurm 22.05, Open MPI 4.1): in both cases Slurm's PMIx plugin cancels the step at once
# ("Error handler invoked: status = -61", STEP CANCELLED), 2 s after the loss, whatever --wait
# says: with the grace period set to 120 s and the collective timeout to 90 s, each job must end
# within 45 s, not by the collective timeout, FAILED and not requeued. A first version of this
# test expected --wait to be what ends them; its control (--wait=0, no limit) ended in 2 s too,
# which is how the PMIx abort was found. A rank that finishes normally waits in MPI_Finalize for
# the others, so --wait does not start then either (finished_rank_test.sh).
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
kill_step=3

work=$(mktemp -d /tmp/simcsepp-slurm-lost-rank.XXXXXX)
make_training_inputs "$work" 1000
write_train_config "$work/train.ini" "$work" 100000 100000  # runs until a rank is lost
echo "no-export = true" >>"$work/train.ini"
slurm_cluster_start "$work/cluster"
cd "$work"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_LAUNCHER=srun SIMCSEPP_TEST_KILL_AFTER_STEP=$kill_step SIMCSEPP_TEST_KILL_RANK=1
export SIMCSEPP_LOG_ALL_RANKS=1

# run_case NAME GRACE_S COLLECTIVE_TIMEOUT_S EXIT_CODE: submits the job (rank 1 exits with
# EXIT_CODE, or dies by SIGKILL when it is empty) and waits for its end; sets ID and TOOK
# (seconds from just before the loss to the job's end).
run_case() {
  local id run t0 t_lost
  id=$(SIMCSEPP_TASK_GRACE_S=$2 SIMCSEPP_COLLECTIVE_TIMEOUT_S=$3 SIMCSEPP_TEST_KILL_EXIT_CODE=$4 SIMCSEPP_HOME=$src \
    SIMCSEPP_RUN_ROOT=$work/runs-$1 sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini) ||
    slurm_fail "[$1] sbatch refused the CPU template"
  run="$work/runs-$1/simcsepp-cpu-$id"
  t0=$SECONDS
  # Rank 0 writes an update's metrics line once the next update is launched, so the line of
  # update kill_step-1 appears just before rank 1 finishes update kill_step and leaves: from
  # then on (to within one update) rank 0 is alone.
  until [ "$(current_step "$run" 2>/dev/null)" -ge $((kill_step - 1)) ] 2>/dev/null; do
    [ $((SECONDS - t0)) -lt 150 ] || slurm_fail "[$1] job $id did not reach step $((kill_step - 1)) in 150 s"
    sleep 0.1
  done
  t_lost=$SECONDS
  slurm_wait_job "$id" 200 >"$work/$1.state" || true
  TOOK=$((SECONDS - t_lost))
  ID=$id
}
show_job() { echo "----- job $1 output -----"; cat "simcsepp-cpu-$1.out" "simcsepp-cpu-$1.err" || true; }

timed_out() { grep -q "collective .* has not completed after" "simcsepp-cpu-$1.err" "simcsepp-cpu-$1.out"; }
# Well before the collective timeout (90 s): grace 3 s + Slurm's kill of the step (KillWait 10 s
# after SIGTERM at most) + the launcher's exit, with room for a loaded machine.
limit=45

for mode in signal exit; do
  code=""
  [ "$mode" = exit ] && code=1
  run_case "$mode" 120 90 "$code"
  show_job "$ID"
  echo "$mode case: job $ID ended $TOOK s after rank 1 left (grace 120 s, collective timeout 90 s)"
  err="simcsepp-cpu-$ID.err"
  out="simcsepp-cpu-$ID.out"
  if [ "$mode" = signal ]; then want="task 1: Killed"; else want="task 1: Exited with exit code 1"; fi
  grep -q "$want" "$err" || slurm_fail "[$mode] srun did not report '$want'"
  [ "$TOOK" -le "$limit" ] || slurm_fail "[$mode] the job took $TOOK s after the loss (collective timeout 90 s)"
  timed_out "$ID" && slurm_fail "[$mode] rank 0 ended by the collective timeout"
  grep -q "training failed with code" "$out" || slurm_fail "[$mode] the launcher did not report the failure"
  grep -q "requeueing job" "$out" && slurm_fail "[$mode] a lost rank must not requeue the job"
  [ "$(slurm_job_field "$ID" Restarts)" = 0 ] || slurm_fail "[$mode] job $ID was requeued"
  [ "$(cat "$work/$mode.state")" = FAILED ] || slurm_fail "[$mode] job $ID ended $(cat "$work/$mode.state"), want FAILED"
  echo "ok: $mode"
done
slurm_cluster_stop
echo "PASS"
