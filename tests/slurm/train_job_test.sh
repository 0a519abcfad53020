#!/usr/bin/env bash
# train_job_test.sh - the CPU sbatch template trains for real under a real one-node Slurm:
# 2 tasks (mpirun inside the allocation), a tiny random BERT, SimCSE++ for a fixed number of
# steps. Checks that the job completed without requeues, that training reached max-steps, that
# the exported model in RUN/model loads in Hugging Face transformers and embeds sentences, and
# that each rank's /metrics, as announced in RUN/prometheus_targets.json, answers on a
# non-loopback address of the node (what a Prometheus elsewhere scrapes). The run holds after
# step 1 (SIMCSEPP_TEST_HOLD_FILE, docs/training.md) until those scrapes are done.
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
# A non-loopback address of this node: only a rank bound to all interfaces answers there.
node_ip=$(ip -4 -o addr show scope global | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
[ -n "$node_ip" ] || slurm_fail "no non-loopback IPv4 address to scrape the ranks from"
export SIMCSEPP_TEST_HOLD_FILE=$work/hold  # sbatch passes the environment on to the ranks
touch "$work/hold.1"
id=$(SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini) ||
  slurm_fail "sbatch refused the CPU template"
run="$work/runs/simcsepp-cpu-$id"

# While the ranks hold after step 1: scrape each announced endpoint through $node_ip.
t0=$SECONDS
endpoints=()
until [ "${#endpoints[@]}" = 2 ]; do
  [ $((SECONDS - t0)) -lt 120 ] || { rm -f "$work/hold.1"; slurm_fail "job $id announced no 2 endpoints in 120 s"; }
  sleep 0.2
  read -ra endpoints <<<"$("$SLURM_TEST_PYTHON" -c 'import json, sys; print(*json.load(open(sys.argv[1]))[0]["targets"])' \
    "$run/prometheus_targets.json" 2>/dev/null)"
done
scraped=0
for endpoint in "${endpoints[@]}"; do
  port=${endpoint##*:}
  t0=$SECONDS
  # The rank that announced the endpoint records step 1 before it holds.
  until curl -sf --max-time 2 "http://$node_ip:$port/metrics" | grep -Eq '^simcsepp_steps_total\{[^}]*\} 1$'; do
    [ $((SECONDS - t0)) -lt 60 ] || {
      rm -f "$work/hold.1"
      slurm_fail "rank endpoint $endpoint (announced) does not serve its step on $node_ip:$port: /metrics is not bound to all interfaces"
    }
    sleep 0.2
  done
  scraped=$((scraped + 1))
done
rm -f "$work/hold.1"
echo "scraped $scraped ranks' /metrics via $node_ip (announced ${endpoints[*]})"
state=$(slurm_wait_job "$id" 200) || true
echo "----- job $id output -----"
cat "simcsepp-cpu-$id.out" "simcsepp-cpu-$id.err" || true
[ "$state" = COMPLETED ] || slurm_fail "training job $id ended $state"
[ "$(slurm_job_field "$id" Restarts)" = 0 ] || slurm_fail "an uninterrupted job was requeued"
final=$(final_step "$run") || slurm_fail "no step count in $run"
[ "$final" = "$max_steps" ] || slurm_fail "training ended at step $final, want $max_steps"
check_exported_model "$run/model" "$work/model"

echo "PASS: sbatch CPU template trained $max_steps steps on 2 ranks and exported $run/model"
slurm_cluster_stop
cd /
rm -rf "$work"
