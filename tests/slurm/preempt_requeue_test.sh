#!/usr/bin/env bash
# preempt_requeue_test.sh - the time-limit warning path under a real one-node Slurm:
#   1. the CPU template trains (2 tasks, srun --mpi=pmix); once it has made progress the test sends the warning
#      signal the templates ask for (`scancel --batch --signal=USR1`, what --signal=B:USR1@300
#      delivers before the time limit);
#   2. the ranks must checkpoint and exit 42, the launcher must `scontrol requeue` the job, and
#      the requeued job (same id, same run directory) must resume from that checkpoint by itself
#      (--resume auto) and finish;
#   3. an uninterrupted job with the same config (launched by mpirun) is the reference: both end at the same step with
#      the same weights (the checkpoint restores optimizer, RNG and data position), and both
#      exports load in transformers.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
max_steps=300

work=$(mktemp -d /tmp/simcsepp-slurm-preempt.XXXXXX)
make_training_inputs "$work" 2000
# Periodic checkpoints off (beyond max-steps): the only checkpoint is the one the signal makes.
write_train_config "$work/train.ini" "$work" "$max_steps" 100000
slurm_cluster_start "$work/cluster"

cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_MPIRUN_ARGS="--mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none"
# Every rank logs INFO (sbatch passes the environment on), so each rank's resume is checked.
export SIMCSEPP_LOG_ALL_RANKS=1
# $1: launcher. The interrupted job uses srun --mpi=pmix (the GPU templates' default), the
# reference mpirun (the CPU template's), so both launch paths see a whole training run.
submit() { SIMCSEPP_LAUNCHER=$1 SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini; }
show_job() { echo "----- job $1 output -----"; cat "simcsepp-cpu-$1.out" "simcsepp-cpu-$1.err" || true; }

# --- 1. interrupted run ---------------------------------------------------------------------
id=$(submit srun) || slurm_fail "sbatch refused the CPU template"
run="$work/runs/simcsepp-cpu-$id"
t0=$SECONDS
until [ "$(current_step "$run")" -ge 5 ] 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 120 ] || { show_job "$id"; slurm_fail "job $id made no progress in 120 s"; }
  sleep 0.1
done
at=$(current_step "$run")
[ "$at" -lt "$max_steps" ] || slurm_fail "job $id finished before the signal; raise max_steps"
echo "job $id at step $at: sending the time-limit warning (SIGUSR1 to the batch script)"
scancel --batch --signal=USR1 "$id"
state=$(slurm_wait_job "$id" 200) || true
show_job "$id"
[ "$state" = COMPLETED ] || slurm_fail "interrupted job $id ended $state"
[ "$(slurm_job_field "$id" Restarts)" = 1 ] ||
  slurm_fail "job $id restarted $(slurm_job_field "$id" Restarts) times, want exactly 1 (the requeue)"
out="simcsepp-cpu-$id.out"
grep -q "ranks exited with code 42 after SIGUSR1" "$out" || slurm_fail "the ranks did not exit 42 on SIGUSR1"
grep -q "requeueing job $id" "$out" || slurm_fail "the launcher did not requeue"
grep -q "restart=1 " "$run/slurm-jobs.log" || slurm_fail "the requeued job did not start in $run"
saved=$(preempted_step "$run")
[ -n "$saved" ] || slurm_fail "no preemption checkpoint recorded in $run/metrics.jsonl"
{ [ "$saved" -ge "$at" ] && [ "$saved" -lt "$max_steps" ]; } ||
  slurm_fail "checkpointed at step $saved: want the signal's step (>= $at, < $max_steps)"
resumed=$(resumed_per_rank "simcsepp-cpu-$id.err")
[ "$resumed" = "$(every_rank_at 2 "$saved")" ] ||
  slurm_fail "the requeued job's ranks resumed at (rank step) '$(echo $resumed)', want step $saved on ranks 0 and 1"
final=$(final_step "$run") || slurm_fail "no step count in $run"
[ "$final" = "$max_steps" ] || slurm_fail "interrupted run ended at step $final, want $max_steps"
check_exported_model "$run/model" "$work/model"

# --- 2. the uninterrupted reference ----------------------------------------------------------
ref_id=$(submit mpirun) || slurm_fail "sbatch refused the reference job"
state=$(slurm_wait_job "$ref_id" 200) || true
[ "$state" = COMPLETED ] || { show_job "$ref_id"; slurm_fail "reference job $ref_id ended $state"; }
ref_final=$(final_step "$work/runs/simcsepp-cpu-$ref_id") || slurm_fail "no step count in the reference run"
[ "$ref_final" = "$final" ] || slurm_fail "steps: interrupted $final, uninterrupted $ref_final"
check_exported_model "$work/runs/simcsepp-cpu-$ref_id/model" "$work/model" "$run/model"

echo "PASS: signalled at step $at, checkpointed, requeued, both ranks resumed at $saved, ended at $final like the uninterrupted run"
slurm_cluster_stop
cd /
rm -rf "$work"
