#!/usr/bin/env bash
# launcher_cap_and_templates_test.sh - under a real one-node Slurm (slurm_cluster.sh):
#   1. the launcher's requeue cap: a job already restarted SIMCSEPP_MAX_REQUEUES times (here 0)
#      that gets the time-limit warning checkpoints, exits 42 and is NOT requeued (Restarts 0,
#      ExitCode 42:0, "not requeueing" in its log) - without the cap a preemption loop would
#      requeue forever;
#   2. the GPU templates (slurm/simcsepp-1node-gpu.sbatch, slurm/simcsepp-multinode-gpu.sbatch):
#      sbatch parses every #SBATCH line and the controller accepts the job (`sbatch --test-only`)
#      once the resources this CPU cluster lacks (GPUs, 4 nodes of 8 tasks) are overridden on
#      the command line; every other directive (time, signal, requeue, open-mode, output names)
#      is the template's own. A misspelt or invalid directive fails here.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"

work=$(mktemp -d /tmp/simcsepp-slurm-cap.XXXXXX)
make_training_inputs "$work" 1000
write_train_config "$work/train.ini" "$work" 100000 100000  # runs until the signal
slurm_cluster_start "$work/cluster"
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_MPIRUN_ARGS="--mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none"

# --- 1. requeue cap --------------------------------------------------------------------------
id=$(SIMCSEPP_MAX_REQUEUES=0 SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs \
  sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini) || slurm_fail "sbatch refused the CPU template"
run="$work/runs/simcsepp-cpu-$id"
t0=$SECONDS
until [ "$(current_step "$run")" -ge 2 ] 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 120 ] || slurm_fail "job $id made no progress in 120 s"
  sleep 0.2
done
scancel --batch --signal=USR1 "$id"
state=$(slurm_wait_job "$id" 120) || true
cat "simcsepp-cpu-$id.out" "simcsepp-cpu-$id.err" || true
grep -q "ranks exited with code 42 after SIGUSR1" "simcsepp-cpu-$id.out" || slurm_fail "the ranks did not checkpoint and exit 42"
grep -q "already restarted 0 times: not requeueing" "simcsepp-cpu-$id.out" || slurm_fail "the launcher did not apply the cap"
[ "$(slurm_job_field "$id" Restarts)" = 0 ] || slurm_fail "job $id was requeued past SIMCSEPP_MAX_REQUEUES=0"
[ "$state" = FAILED ] || slurm_fail "capped job $id ended $state, want FAILED (exit 42, not requeued)"
[ "$(slurm_job_field "$id" ExitCode)" = "42:0" ] || slurm_fail "exit code $(slurm_job_field "$id" ExitCode), want 42:0"
[ -n "$(preempted_step "$run")" ] || slurm_fail "no preemption checkpoint recorded in $run/metrics.jsonl"
echo "ok: requeue cap (job $id: exit 42, 0 restarts)"

# --- 2. GPU templates parsed and accepted --------------------------------------------------
fit=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0)
for t in simcsepp-1node-gpu simcsepp-multinode-gpu; do
  out=$(SIMCSEPP_HOME=$src sbatch --test-only "${fit[@]}" "$src/slurm/$t.sbatch" train.ini 2>&1) ||
    slurm_fail "sbatch --test-only refused slurm/$t.sbatch: $out"
  echo "$t: $out"
  echo "$out" | grep -q "to start at" || slurm_fail "slurm/$t.sbatch: no start estimate from --test-only: $out"
  echo "$out" | grep -qi "error\|invalid\|unrecognized" && slurm_fail "slurm/$t.sbatch: sbatch complained: $out"
done
# Not vacuous: the same check refuses a template with a misspelt directive.
sed 's/^#SBATCH --requeue$/#SBATCH --requeu-typo/' "$src/slurm/simcsepp-1node-gpu.sbatch" >"$work/typo.sbatch"
if out=$(sbatch --test-only "${fit[@]}" "$work/typo.sbatch" train.ini 2>&1); then
  slurm_fail "sbatch --test-only accepted a misspelt directive: $out"
fi
echo "ok: both GPU templates accepted by sbatch --test-only; a misspelt directive is refused"

echo "PASS: launcher requeue cap and GPU templates under a real Slurm"
slurm_cluster_stop
cd /
rm -rf "$work"
