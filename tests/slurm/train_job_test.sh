#!/usr/bin/env bash
# train_job_test.sh - the CPU sbatch template trains for real under a real one-node Slurm:
# 2 tasks (mpirun inside the allocation), a tiny random BERT, SimCSE++ for a fixed number of
# steps. Checks that the job completed without requeues, that training reached max-steps, and
# that the exported model in RUN/model loads in Hugging Face transformers and embeds sentences.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
max_steps=12

work=$(mktemp -d /tmp/simcsepp-slurm-train.XXXXXX)
make_training_inputs "$work" 2000
write_train_config "$work/train.ini" "$work" "$max_steps" 10
slurm_cluster_start "$work/cluster"

cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_MPIRUN_ARGS="--mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none"
id=$(SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini) ||
  slurm_fail "sbatch refused the CPU template"
state=$(slurm_wait_job "$id" 200) || true
run="$work/runs/simcsepp-cpu-$id"
echo "----- job $id output -----"
cat "simcsepp-cpu-$id.out" "simcsepp-cpu-$id.err" || true
[ "$state" = COMPLETED ] || slurm_fail "training job $id ended $state"
[ "$(slurm_job_field "$id" Restarts)" = 0 ] || slurm_fail "an uninterrupted job was requeued"
final=$(final_step "$run") || slurm_fail "no step count in $run"
[ "$final" = "$max_steps" ] || slurm_fail "training ended at step $final, want $max_steps"
check_exported_model "$run/model" "$work/model"
grep -q -- "--metrics-bind 0.0.0.0" "simcsepp-cpu-$id.out" ||
  slurm_fail "the launcher did not bind the ranks' /metrics to all interfaces (a remote Prometheus could not scrape)"

echo "PASS: sbatch CPU template trained $max_steps steps on 2 ranks and exported $run/model"
slurm_cluster_stop
cd /
rm -rf "$work"
