#!/usr/bin/env bash
# trivial_job_test.sh - a real one-node Slurm (munge, slurmctld, slurmd started here) runs:
#   1. a 2-task batch job: srun --mpi=pmix and mpirun (inside the allocation) each start a
#      2-rank MPI probe whose all-reduce must see both ranks, and srun -n 2 `simcsepp inspect`;
#   2. the CPU template with a missing config file: the launcher must fail the job (exit 1) with
#      a HINT, and must not requeue it.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }

work=$(mktemp -d /tmp/simcsepp-slurm-trivial.XXXXXX)
slurm_cluster_start "$work/cluster"
mpicc -O1 -o "$work/probe" "$here/mpi_rank_probe.c" || slurm_fail "mpicc failed. HINT: apt-get install libopenmpi-dev"

# --- 1. launchers --------------------------------------------------------------------------
cat >"$work/launchers.sbatch" <<JOB
#!/bin/bash
#SBATCH --ntasks=2
#SBATCH --time=00:05:00
#SBATCH --output=$work/launchers-%j.out
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none
echo "== srun --mpi=pmix"
timeout 60 srun --mpi=pmix -n 2 $work/probe | sed 's/^/srun: /'
echo "== mpirun"
timeout 60 mpirun -np 2 --bind-to none $work/probe | sed 's/^/mpirun: /'
echo "== inspect"
timeout 60 srun -n 2 $bin inspect | grep '^simcsepp' | sed 's/^/inspect: /'
echo "== end"
JOB
id=$(sbatch --parsable "$work/launchers.sbatch") || slurm_fail "sbatch refused the job"
state=$(slurm_wait_job "$id" 120) || true
out="$work/launchers-$id.out"
cat "$out" || true
[ "$state" = COMPLETED ] || slurm_fail "launcher job $id ended $state"
for l in srun mpirun; do
  for r in 0 1; do
    grep -qx "$l: probe rank $r of 2 allreduce 2" "$out" || slurm_fail "$l did not start rank $r of a 2-rank MPI job"
  done
done
[ "$(grep -c '^inspect: simcsepp' "$out")" = 2 ] || slurm_fail "srun -n 2 simcsepp inspect did not run twice"

# --- 2. the template fails a job with a bad config, and does not requeue it ------------------
cd "$work"
id=$(SIMCSEPP_BIN=$bin SIMCSEPP_HOME=$src sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" does-not-exist.ini) ||
  slurm_fail "sbatch refused the CPU template"
state=$(slurm_wait_job "$id" 60) || true
cat "simcsepp-cpu-$id.err" || true
[ "$state" = FAILED ] || slurm_fail "a job with a missing config ended $state, not FAILED"
[ "$(slurm_job_field "$id" ExitCode)" = "1:0" ] || slurm_fail "exit code $(slurm_job_field "$id" ExitCode), want 1:0"
[ "$(slurm_job_field "$id" Restarts)" = 0 ] || slurm_fail "a failed job was requeued"
grep -q "HINT" "simcsepp-cpu-$id.err" || slurm_fail "the launcher's error has no HINT"

echo "PASS: srun --mpi=pmix, mpirun and the CPU template under a real Slurm"
slurm_cluster_stop
cd /
rm -rf "$work"
