#!/usr/bin/env bash
# grace_kill_test.sh - a rank lost mid-run does not leave the others hanging until the collective
# timeout. On a real one-node Slurm (slurm_cluster.sh), 2-task CPU training jobs via srun
# --mpi=pmix (slurm/simcsepp-launch.sh); rank 1 leaves right after update 3
# (SIMCSEPP_TEST_KILL_AFTER_STEP/KILL_RANK), rank 0 then waits in the next all-reduce:
#   signal  rank 1 dies by SIGKILL: srun cancels the step at once (a task killed by a signal
#           ends its step whatever --wait says), long before the 90 s collective timeout;
#   grace   rank 1 exits with code 1 (a rank that failed): srun waits --wait =
#           SIMCSEPP_TASK_GRACE_S (3 s here) for the others, then kills them - a few seconds,
#           not the 90 s collective timeout; the job fails and is not requeued;
#   control the same exit with SIMCSEPP_TASK_GRACE_S=0 (srun --wait=0: no limit) and a 20 s
#           collective timeout: rank 0 lives until its collective timeout aborts it - so the
#           grace case's quick end is the grace period's doing, not something else noticing.
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

work=$(mktemp -d /tmp/simcsepp-slurm-grace.XXXXXX)
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

# --- a rank killed by a signal: the step ends at once ---------------------------------------
run_case signal 120 90 ""
show_job "$ID"
echo "signal case: job $ID ended $TOOK s after rank 1 was killed (grace 120 s, collective timeout 90 s)"
grep -q "task 1: Killed" "simcsepp-cpu-$ID.err" || slurm_fail "[signal] srun did not report the killed task 1"
[ "$TOOK" -le "$limit" ] || slurm_fail "[signal] the job took $TOOK s after the loss"
timed_out "$ID" && slurm_fail "[signal] rank 0 ended by the collective timeout"
echo "ok: signal"

# --- a rank that exits: the grace period ends the survivors ---------------------------------
run_case grace 3 90 1
took=$TOOK id=$ID
show_job "$id"
echo "grace case: job $id ended $took s after rank 1 exited (grace 3 s, collective timeout 90 s)"
err="simcsepp-cpu-$id.err"
out="simcsepp-cpu-$id.out"
grep -q "task 1: Exited with exit code 1" "$err" || slurm_fail "[grace] srun did not report task 1's exit code 1"
[ "$took" -le "$limit" ] || slurm_fail "[grace] the job took $took s after the loss: the grace kill did not happen"
timed_out "$id" && slurm_fail "[grace] rank 0 ended by the collective timeout, not by srun's grace kill"
grep -q "training failed with code" "$out" || slurm_fail "[grace] the launcher did not report the failure"
grep -q "requeueing job" "$out" && slurm_fail "[grace] a lost rank must not requeue the job"
[ "$(slurm_job_field "$id" Restarts)" = 0 ] || slurm_fail "[grace] job $id was requeued"
[ "$(cat "$work/grace.state")" = FAILED ] || slurm_fail "[grace] job $id ended $(cat "$work/grace.state"), want FAILED"
echo "ok: grace kill"

# --- control: without the grace period rank 0 waits for the collective timeout ---------------
run_case control 0 20 1
took_control=$TOOK id=$ID
show_job "$id"
echo "control case: job $id ended $took_control s after rank 1 exited (no grace, collective timeout 20 s)"
timed_out "$id" ||
  slurm_fail "[control] rank 0 did not end by its collective timeout: something other than the grace period ends a failed rank's job, so the grace case proves nothing"
[ "$took_control" -ge 18 ] || slurm_fail "[control] ended after $took_control s, before the 20 s collective timeout"
[ "$took" -lt "$took_control" ] || slurm_fail "the grace case ($took s) was not quicker than the control ($took_control s)"
echo "ok: control (collective timeout), grace ${took}s vs control ${took_control}s"
slurm_cluster_stop
echo "PASS"
