#!/usr/bin/env bash
# finished_rank_test.sh - a rank that is done never cuts short one that is still working. The
# launcher passes srun --wait=SIMCSEPP_TASK_GRACE_S ("once one task has exited, kill the rest
# after that many seconds"); this test shows on a real one-node Slurm (slurm_cluster.sh), with
# the grace period set to 3 s, that under srun --mpi=pmix and Open MPI that clock never starts
# while a rank still works, so the grace period cannot cut a final checkpoint or export short:
#   probe    an MPI program whose rank 1 calls MPI_Finalize at once while rank 0 works 10 s more:
#            rank 1 leaves MPI_Finalize only when rank 0 has finalised too (PMIx fence), the step
#            ends COMPLETED after >= 10 s, not killed 3 s after rank 1 finished;
#   trainer  a 2-task `simcsepp train` job whose rank 0 is held after the run's last barrier
#            (SIMCSEPP_TEST_HOLD_FILE=PATH + .end, SIMCSEPP_TEST_HOLD_RANK=0) while rank 1 has
#            logged "done" and gone on to MPI_Finalize: 10 s later (3x the grace period) the job
#            still runs; released, it completes with exit 0, summary.json and the exported model.
# A rank that leaves WITHOUT finalising (killed, or exit(1)) is the other case: Slurm's PMIx
# plugin cancels the step within ~2 s (lost_rank_test.sh). So --wait is only a backstop here.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
grace=3
busy=10

work=$(mktemp -d /tmp/simcsepp-slurm-finished-rank.XXXXXX)
mpicc -O1 -o "$work/probe" "$here/finalize_wait_probe.c" || slurm_fail "mpicc failed. HINT: apt-get install libopenmpi-dev"
make_training_inputs "$work" 1000
write_train_config "$work/train.ini" "$work" 6 100000
slurm_cluster_start "$work/cluster"
cd "$work"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "== probe: rank 1 finalises at once, rank 0 works $busy s; srun --wait=$grace"
t0=$SECONDS
timeout 120 srun -n 2 --mpi=pmix --wait=$grace "$work/probe" $busy >probe.out 2>probe.err ||
  { cat probe.out probe.err; slurm_fail "[probe] srun failed: the finished rank's exit ended the step"; }
took=$((SECONDS - t0))
cat probe.out
exit_of() { sed -n "s/^probe rank $1 exit \([0-9.]*\)$/\1/p" probe.out; }
[ -n "$(exit_of 0)" ] || slurm_fail "[probe] rank 0 never left MPI_Finalize (killed by the grace period?)"
[ -n "$(exit_of 1)" ] || slurm_fail "[probe] rank 1 did not report its exit"
awk -v t="$(exit_of 1)" -v b=$busy 'BEGIN { exit !(t >= b - 0.5) }' ||
  slurm_fail "[probe] rank 1 left MPI_Finalize after $(exit_of 1) s, before rank 0 finished ($busy s): --wait would then run"
[ "$took" -ge "$busy" ] || slurm_fail "[probe] the step took $took s, less than rank 0's $busy s of work"
echo "ok: probe (rank 1 left MPI_Finalize at $(exit_of 1) s, with rank 0; step took $took s, grace $grace s)"

echo "== trainer: rank 0 held after the last barrier, rank 1 done; grace $grace s"
touch "$work/hold.end"
id=$(SIMCSEPP_TASK_GRACE_S=$grace SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs SIMCSEPP_LAUNCHER=srun \
  SIMCSEPP_TEST_HOLD_FILE=$work/hold SIMCSEPP_TEST_HOLD_RANK=0 SIMCSEPP_LOG_ALL_RANKS=1 \
  sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini) || slurm_fail "sbatch refused the CPU template"
run="$work/runs/simcsepp-cpu-$id"
out="simcsepp-cpu-$id.out"
err="simcsepp-cpu-$id.err"
show_job() { echo "----- job $id output -----"; cat "$out" "$err" || true; }
t0=$SECONDS
# Rank 0 logs "done" only after the hold, so the first "done:" line is rank 1's.
until grep -q "done: 6 steps" "$out" "$err" 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 200 ] || { show_job; slurm_fail "[trainer] rank 1 did not finish in 200 s"; }
  [ "$(slurm_job_field "$id" JobState)" != RUNNING ] && [ $((SECONDS - t0)) -gt 60 ] &&
    { show_job; slurm_fail "[trainer] job $id is $(slurm_job_field "$id" JobState) before rank 1 finished"; }
  sleep 0.2
done
t_done=$SECONDS
sleep $((3 * grace + 1))
state=$(slurm_job_field "$id" JobState)
[ "$state" = RUNNING ] || { show_job; slurm_fail "[trainer] job $id is $state $((SECONDS - t_done)) s after rank 1 finished (grace $grace s): a finished rank cut the busy one short"; }
[ -f "$run/summary.json" ] && { show_job; slurm_fail "[trainer] summary.json exists while rank 0 is held"; }
rm -f "$work/hold.end"
state=$(slurm_wait_job "$id" 120) || true
show_job
[ "$state" = COMPLETED ] || slurm_fail "[trainer] job $id ended $state, want COMPLETED"
[ "$(final_step "$run")" = 6 ] || slurm_fail "[trainer] summary.json does not say 6 steps"
[ -f "$run/model/config.json" ] || slurm_fail "[trainer] no exported model in $run/model"
echo "ok: trainer (job RUNNING $((3 * grace + 1)) s after rank 1 finished, then COMPLETED)"
slurm_cluster_stop
cd /
rm -rf "$work"
echo "PASS"
