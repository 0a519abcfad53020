#!/usr/bin/env bash
# multinode_sbatch_test.sh - the multi-node sbatch template on a real two-node Slurm, simulated on
# one machine: slurmctld on a login namespace, one slurmd in each compute node's network + UTS
# namespace (slurm_netns_cluster.sh on top of tests/cluster/multinode/netns_cluster.sh).
# `sbatch --nodes=2 --ntasks-per-node=2 slurm/simcsepp-multinode-gpu.sbatch train.ini` (GPUs
# per node overridden to 0, CPU config) trains a tiny BERT for 8 SimCSE++ steps through
# simcsepp-launch.sh and `srun --mpi=pmix` across both nodes. Checks:
#   1. the job completes without requeues, on nodes simnode-a,simnode-b, at step 8;
#   2. every rank's topology: ranks 0,1 on simnode-a, 2,3 on simnode-b, local ranks 0,1 of 2;
#   3. the job's training equals 8 steps of 1 node x 4 ranks (mpirun in the namespaces) bit for
#      bit - checkpoint tensors, per-step losses, exported model. Exact for the reasons given in
#      tests/cluster/multinode/multinode_train_test.sh: the same per-rank arithmetic and
#      cross-rank reductions pinned to rank-ordered algorithms (OMPI_MCA_* below, in both runs).
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
# shellcheck source-path=SCRIPTDIR/../cluster/multinode
source "$here/../cluster/multinode/netns_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_netns_cluster.sh"
slurm_fail() { fail "$@"; }  # training_fixture.sh reports through slurm_fail
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
check() { "$SLURM_TEST_PYTHON" "$src/tests/cluster/multinode/check_multinode.py" "$@"; }

# Not under /tmp: each Slurm node has a /tmp of its own; this is the nodes' shared file system.
work=$(mktemp -d /var/tmp/simcsepp-slurm-2node.XXXXXX)
id=""
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.out "$work"/*.err "$work"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 60 lines) -----" >&2
    tail -n 60 "$f" >&2
  done
  slurm2_dump_logs
  exit 1
}

make_training_inputs "$work" 2000
write_train_config "$work/train.ini" "$work" 8 8
mn_cluster_start "$work/net"
trap 'slurm2_stop; mn_cluster_stop' EXIT
slurm2_start "$work/slurm"

# What the ranks need, through sbatch's environment: Open MPI's TCP on the nodes' subnet, no
# single-copy shared memory (containers), yielding ranks (4 on 2 cores), the pinned reductions;
# every rank logs, one thread each, a stuck collective aborts.
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none \
  OMPI_MCA_btl_tcp_if_include=$MN_SUBNET OMPI_MCA_oob_tcp_if_include=$MN_SUBNET OMPI_MCA_mpi_yield_when_idle=1 \
  OMPI_MCA_coll='^han,adapt' OMPI_MCA_coll_tuned_use_dynamic_rules=1 \
  OMPI_MCA_coll_tuned_allreduce_algorithm=1 OMPI_MCA_coll_tuned_reduce_scatter_block_algorithm=1 \
  OMP_NUM_THREADS=1 SIMCSEPP_LOG_ALL_RANKS=1 SIMCSEPP_COLLECTIVE_TIMEOUT_S=60 \
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

cd "$work"
t0=$SECONDS
id=$(SIMCSEPP_HOME=$src SIMCSEPP_RUN_ROOT=$work/runs sl sbatch --parsable --nodes=2 --ntasks-per-node=2 \
  --gpus-per-node=0 --cpus-per-task=1 --time=10 "$src/slurm/simcsepp-multinode-gpu.sbatch" train.ini \
  --no-eval-at-start) || fail "sbatch refused the multi-node template"
state=$(slurm2_wait_job "$id" 300) || true
run="$work/runs/simcsepp-$id"
[ "$state" = COMPLETED ] || fail "multi-node job $id ended $state"
[ "$(slurm2_job_field "$id" Restarts)" = 0 ] || fail "an uninterrupted job was requeued"
nodes=$(slurm2_job_field "$id" NodeList)
[ "$nodes" = "simnode-a,simnode-b" ] || fail "job $id ran on '$nodes', want simnode-a,simnode-b"
[ "$(final_step "$run")" = 8 ] || fail "training ended at step '$(final_step "$run")', want 8"
grep -q "srun --mpi=pmix" "simcsepp-$id.out" || fail "the template did not launch with srun --mpi=pmix"
echo "ok   sbatch multi-node template: job $id COMPLETED on $nodes at step 8 ($((SECONDS - t0)) s)"
check topology "simcsepp-$id.err" simnode-a,simnode-a,simnode-b,simnode-b || fail "wrong topology under srun"

# The reference: the same 8 steps on one node with 4 ranks (mpirun in the namespaces; the
# OMPI_MCA_* and SIMCSEPP_* variables above are forwarded to the ranks with -x).
t0=$SECONDS
rc=0
mn_mpirun -np 4 -H simnode-a:4 -x OMP_NUM_THREADS -x SIMCSEPP_LOG_ALL_RANKS -x SIMCSEPP_COLLECTIVE_TIMEOUT_S \
  -x OMPI_MCA_coll -x OMPI_MCA_coll_tuned_use_dynamic_rules -x OMPI_MCA_coll_tuned_allreduce_algorithm \
  -x OMPI_MCA_coll_tuned_reduce_scatter_block_algorithm \
  "$SIMCSEPP_BIN" train --config "$work/train.ini" --run-dir "$work/run-1x4" --no-eval-at-start \
  --metrics-port 0 >"$work/train-1x4.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "the 1x4 reference training exited $rc"
echo "ok   1x4 reference: 8 steps ($((SECONDS - t0)) s)"
check topology "$work/train-1x4.log" simnode-a,simnode-a,simnode-a,simnode-a || fail "wrong topology in the 1x4 run"
check same-run "$run" "$work/run-1x4" 8 || fail "the 2-node Slurm job trained differently from 1 node x 4 ranks"

echo "PASS: sbatch simcsepp-multinode-gpu.sbatch on a two-node Slurm (2 x 2 ranks) == 1 node x 4 ranks"
slurm2_stop
mn_cluster_stop
cd /
rm -rf "$work"
