#!/usr/bin/env bash
# multinode_train_test.sh - `simcsepp train` on 2 nodes x 2 ranks, simulated on one machine with
# network + UTS namespaces (netns_cluster.sh): mpirun on a login node starts one orted per
# compute node through launch_agent.sh, so Open MPI sees two hosts, as on a real cluster.
# Checks:
#   1. topology: ranks 0,1 on simnode-a and 2,3 on simnode-b, local ranks 0,1 (of 2) on each,
#      world 4 - from every rank's own log line (MPI_Comm_split_type, MPI_Get_processor_name);
#   2. monitoring: both hosts serve /metrics on the same ports (9400 + local rank), each endpoint
#      answers by host name from inside its own node and from the other node (as a Prometheus
#      elsewhere would scrape it) with that rank's rank/local_rank/host labels, and the file_sd
#      file lists simnode-a:9400, simnode-a:9401, simnode-b:9400, simnode-b:9401 in rank order;
#   3. SIGUSR1 to mpirun reaches the ranks on both hosts: they agree on a step, checkpoint, exit 42;
#   4. equivalence: 8 SimCSE++ updates on 2x2 equal 8 updates on 1x4 (one node, 4 ranks) bit for
#      bit - every checkpoint tensor, every logged loss and gradient norm, the exported model.
#      Why exact equality is the honest criterion here: rank r computes the same thing in both
#      layouts (same binary and CPU, one thread, the same data shard and dropout seed, exact
#      all-gathers), and the only floating-point reductions across ranks (gradient all-reduce,
#      the reduce-scatter of all-gather's backward) are pinned to Open MPI's rank-ordered linear
#      algorithms, whose sums are formed in the same order whichever host a rank is on. Any
#      difference is therefore a topology bug (wrong rank, shard, seed or a missing contribution),
#      not rounding; no tolerance is needed, and none would be safe to pick. The comparison does
#      see summation order: the pinned algorithm in one run and Open MPI's default in the other
#      made 112 of the 119 checkpoint tensors differ (measured once, by hand).
#   5. (where NCCL is built) the NCCL communicator's rendezvous, broadcast_nccl_unique_id, run by
#      nccl_bootstrap_probe on 2x2: every rank holds rank 0's id, whose bootstrap address is
#      simnode-a's and is reachable from simnode-b.
# Not covered (no GPU here): GPU binding by local rank and ncclCommInitRank itself.
# Env (set by ctest): SIMCSEPP_NCCL_BOOTSTRAP_PROBE (only where NCCL is built).
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SHARED_DATA, SIMCSEPP_PYTHON (optional).
# Needs root (network namespaces), iproute2 and util-linux (scripts/setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
# shellcheck source-path=SCRIPTDIR
source "$here/netns_cluster.sh"
slurm_fail() { fail "$@"; }  # training_fixture.sh reports through slurm_fail
# shellcheck source-path=SCRIPTDIR/../../slurm
source "$here/../../slurm/training_fixture.sh"
PY=$SLURM_TEST_PYTHON
check() { "$PY" "$here/check_multinode.py" "$@"; }

work=$(mktemp -d /tmp/simcsepp-multinode.XXXXXX)
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 60 lines) -----" >&2
    tail -n 60 "$f" >&2
  done
  exit 1
}

# Every rank gets the variables it needs through mpirun (the launch agent starts orted with a
# clean environment, like ssh): all ranks log (for the topology lines), one thread per rank (4
# ranks on 2 cores; also keeps each rank's arithmetic the same in both layouts), and a stuck
# collective aborts the job instead of hanging the test.
rank_env=(-x OMP_NUM_THREADS=1 -x SIMCSEPP_LOG_ALL_RANKS=1 -x SIMCSEPP_COLLECTIVE_TIMEOUT_S=60)
two_nodes=(-np 4 -H "simnode-a:2,simnode-b:2")
one_node=(-np 4 -H simnode-a:4)

make_training_inputs "$work" 2000
write_train_config "$work/train.ini" "$work" 8 8
mn_cluster_start "$work/cluster"

# The login namespace's mpirun (the only process there), for signals.
login_mpirun_pid() {
  local p
  for p in $(ip netns pids "${MN_NS[simlogin]}"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = mpirun ] && echo "$p" && return 0
  done
  return 1
}

# wait_until SECS BGPID WHAT CMD...: poll CMD until it succeeds; fail if BGPID ends first.
wait_until() {
  local secs=$1 pid=$2 what=$3 t0=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || fail "the job ended before $what"
    [ $((SECONDS - t0)) -lt "$secs" ] || fail "no $what within $secs s"
    sleep 0.3
  done
}
at_least_step() { local s; s=$(current_step "$1") && [ -n "$s" ] && [ "$s" -ge "$2" ]; }

# ---- 1-3: topology, metrics and file_sd on two hosts, signal across hosts --------------------
t0=$SECONDS
topo=$work/run-topo
mn_mpirun "${two_nodes[@]}" "${rank_env[@]}" "$SIMCSEPP_BIN" train --config "$work/train.ini" --run-dir "$topo" \
  --max-steps 100000 --checkpoint-every 100000 --no-eval-at-start \
  --metrics-bind 0.0.0.0 --metrics-port 9400 >"$work/topo.log" 2>&1 &
job=$!
wait_until 120 "$job" "4 targets in $topo/prometheus_targets.json" \
  check wait-targets "$topo/prometheus_targets.json" 4 0.1
wait_until 120 "$job" "step 2 in $topo/metrics.jsonl" at_least_step "$topo" 2
check file-sd "$topo/prometheus_targets.json" simnode-a:9400 simnode-a:9401 simnode-b:9400 simnode-b:9401 ||
  fail "file_sd does not list both hosts with their ports"
for node in a b; do
  for local in 0 1; do
    rank=$local
    [ "$node" = b ] && rank=$((2 + local))
    for from in simnode-a simnode-b; do
      mn_exec "$from" "$PY" "$here/check_multinode.py" scrape "http://simnode-$node:$((9400 + local))/metrics" \
        "$rank" "$local" "simnode-$node" 4 || fail "/metrics of rank $rank not served correctly to $from"
    done
  done
done
pid=$(login_mpirun_pid) || fail "no mpirun in the login namespace"
kill -USR1 "$pid"
rc=0
wait "$job" || rc=$?
[ "$rc" = 42 ] || fail "after SIGUSR1 the 2-node job exited $rc, want 42 (checkpointed on preemption)"
stopped=$(preempted_step "$topo")
if [ -z "$stopped" ] || [ ! -f "$topo/checkpoints/step-$(printf %08d "$stopped").ckpt" ]; then
  fail "no preemption checkpoint (metrics.jsonl says step '${stopped}')"
fi
[ "$(grep -c "preempted (signal" "$work/topo.log")" = 4 ] ||
  fail "not all 4 ranks logged the preemption: $(grep "preempted (signal" "$work/topo.log" || true)"
check topology "$work/topo.log" simnode-a,simnode-a,simnode-b,simnode-b || fail "wrong topology on 2 nodes"
echo "ok   2x2 job: metrics, file_sd, SIGUSR1 -> checkpoint at step $stopped and exit 42 ($((SECONDS - t0)) s)"

# ---- 4: 2 nodes x 2 ranks == 1 node x 4 ranks -------------------------------------------------
# Rank-ordered linear reductions in both runs (see the header); han/adapt would choose by topology.
pinned=(--mca coll "^han,adapt" --mca coll_tuned_use_dynamic_rules 1
  --mca coll_tuned_allreduce_algorithm 1 --mca coll_tuned_reduce_scatter_block_algorithm 1)
for layout in 2x2 1x4; do
  t0=$SECONDS
  if [ "$layout" = 2x2 ]; then hosts=("${two_nodes[@]}"); else hosts=("${one_node[@]}"); fi
  rc=0
  mn_mpirun "${hosts[@]}" "${rank_env[@]}" "${pinned[@]}" "$SIMCSEPP_BIN" train --config "$work/train.ini" \
    --run-dir "$work/run-$layout" --no-eval-at-start --metrics-port 0 >"$work/train-$layout.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "the $layout training exited $rc"
  [ "$(final_step "$work/run-$layout")" = 8 ] || fail "the $layout training did not end at step 8"
  echo "ok   $layout training: 8 steps ($((SECONDS - t0)) s)"
done
check topology "$work/train-2x2.log" simnode-a,simnode-a,simnode-b,simnode-b || fail "wrong topology in the 2x2 run"
check topology "$work/train-1x4.log" simnode-a,simnode-a,simnode-a,simnode-a || fail "wrong topology in the 1x4 run"
check same-run "$work/run-2x2" "$work/run-1x4" 8 || fail "2 nodes x 2 ranks trained differently from 1 node x 4 ranks"

# ---- 5: the NCCL communicator's rendezvous across hosts (no GPU needed) -----------------------
if [ -n "${SIMCSEPP_NCCL_BOOTSTRAP_PROBE:-}" ]; then
  mn_mpirun "${two_nodes[@]}" "$SIMCSEPP_NCCL_BOOTSTRAP_PROBE" >"$work/nccl-bootstrap.log" 2>&1 ||
    fail "the NCCL bootstrap probe failed on 2 nodes"
  check nccl-bootstrap "$work/nccl-bootstrap.log" simnode-a,simnode-a,simnode-b,simnode-b "${MN_ADDR[simnode-a]}" ||
    fail "the NCCL unique id did not reach every rank intact, or its root address is not reachable across hosts"
else
  echo "note: simcsepp was built without NCCL, so there is no NCCL rendezvous to check"
fi

echo "PASS: 2 simulated nodes x 2 ranks: topology, per-host /metrics and file_sd, preemption, 2x2 == 1x4${SIMCSEPP_NCCL_BOOTSTRAP_PROBE:+, NCCL rendezvous}"
mn_cluster_stop
rm -rf "$work"
