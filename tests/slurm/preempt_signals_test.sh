#!/usr/bin/env bash
# preempt_signals_test.sh - every way a warning signal reaches a training job, under both
# launchers, on one real one-node Slurm (started once for all cases):
#   step      the ranks: `scancel --signal=SIG` (srun: the job step). mpirun starts the ranks inside
#             the batch step, which has no step of its own, so there: `scancel --full --signal=SIG`
#             (the batch step and all its processes);
#   launcher  the batch script (simcsepp-launch.sh): `scancel --batch --signal=SIG`;
#   group     the batch script's whole process group: `kill -SIG -- -PGID` (what `timeout` or a
#             wrapper that signals its group does).
# A case may send several signals (one after the other, 0.3 s apart). Each case must end in
# exactly one preemption checkpoint (metrics.jsonl), batch exit code 42 (the launcher's log), a
# requeue (Restarts=1), a requeued run that resumes at the checkpointed step and finishes, and
# no rank left running. slurm.preempt_requeue_resume checks the resumed weights themselves.
# Env (set by ctest): SIMCSEPP_BIN, SIMCSEPP_SOURCE_DIR, SIMCSEPP_SHARED_DATA.
# Optional: PREEMPT_CASES="srun:launcher:TERM mpirun:group:TERM,launcher:USR1" runs only those.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/slurm_cluster.sh"
# shellcheck source-path=SCRIPTDIR
source "$here/training_fixture.sh"
src=${SIMCSEPP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${SIMCSEPP_BIN:?SIMCSEPP_BIN must point to the simcsepp binary}"
max_steps=20
signal_at=3

# LAUNCHER:TARGET:SIG[,TARGET:SIG...]. The last case of each launcher sends two signals: the
# launcher forwards the first, the second reaches ranks that are already checkpointing.
cases=${PREEMPT_CASES:-"srun:step:USR1 srun:launcher:TERM srun:group:TERM srun:launcher:USR1,step:TERM
  mpirun:step:TERM mpirun:launcher:TERM mpirun:group:TERM mpirun:launcher:USR1,group:TERM"}

work=$(mktemp -d /tmp/simcsepp-slurm-signals.XXXXXX)
make_training_inputs "$work" 2000
# Periodic checkpoints off: the only checkpoints are the signal's and the final one.
write_train_config "$work/train.ini" "$work" "$max_steps" 100000
echo "no-export = true" >>"$work/train.ini"
slurm_cluster_start "$work/cluster"

cd "$work" || slurm_fail "cannot cd to $work"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SIMCSEPP_MPIRUN_ARGS="--mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none"
# Every rank logs INFO (sbatch passes the environment on), so each rank's resume is checked.
export SIMCSEPP_LOG_ALL_RANKS=1
# Each case's run holds after step $signal_at until its ranks have the signal (test hook
# SIMCSEPP_TEST_HOLD_UNTIL_SIGNAL, docs/training.md): a tiny run trains its 20 steps faster than
# Slurm delivers a signal, so without the hold the signal could arrive after the last step.
submit() {
  SIMCSEPP_TEST_HOLD_FILE=$2 SIMCSEPP_TEST_HOLD_UNTIL_SIGNAL=1 SIMCSEPP_LAUNCHER=$1 SIMCSEPP_HOME=$src \
    SIMCSEPP_RUN_ROOT=$work/runs sbatch --parsable "$src/slurm/simcsepp-cpu.sbatch" train.ini
}
show_job() { echo "----- job $1 output -----"; cat "simcsepp-cpu-$1.out" "simcsepp-cpu-$1.err" || true; }
case_fail() { show_job "$1"; slurm_fail "[$2] $3"; }

# The batch script's pid (slurmstepd makes it a process group leader: pid = pgid).
batch_pid() { scontrol listpids "$1" 2>/dev/null | awk '$3 == "batch" && $4 == "0" { print $1 }'; }

# deliver LAUNCHER ID TARGET SIG
deliver() {
  case "$3" in
    step)
      if [ "$1" = srun ]; then scancel --signal="$4" "$2"; else scancel --full --signal="$4" "$2"; fi ;;
    launcher) scancel --batch --signal="$4" "$2" ;;
    group)
      local pid
      pid=$(batch_pid "$2")
      [ -n "$pid" ] || return 1
      kill -s "$4" -- "-$pid" ;;
    *) return 1 ;;
  esac
}

run_case() {
  local spec=$1 launcher=${1%%:*} signals=${1#*:}
  local id run t0 at state n saved resumed final out=() sig target codes sigs
  local hold=$work/hold-$RANDOM$RANDOM
  t0=$SECONDS
  touch "$hold.$signal_at"
  id=$(submit "$launcher" "$hold") || slurm_fail "[$spec] sbatch refused the CPU template"
  run=$work/runs/simcsepp-cpu-$id
  until [ "$(current_step "$run" 2>/dev/null)" -ge "$signal_at" ] 2>/dev/null; do
    [ $((SECONDS - t0)) -lt 120 ] || case_fail "$id" "$spec" "job $id made no progress in 120 s"
    sleep 0.1
  done
  at=$(current_step "$run")
  [ "$at" = "$signal_at" ] || case_fail "$id" "$spec" "job $id went on to step $at past its hold at $signal_at"
  IFS=, read -ra out <<<"$signals"
  for sig in "${out[@]}"; do
    target=${sig%%:*}
    deliver "$launcher" "$id" "$target" "${sig#*:}" ||
      case_fail "$id" "$spec" "could not send SIG${sig#*:} to the $target of job $id"
    sleep 0.3
  done
  # A rank whose signal comes only from another rank (the stop all-reduce) leaves the hold when
  # the file goes: once the run has checkpointed on the signal, or after 60 s (then the checks
  # below say what went wrong).
  for _ in $(seq 600); do
    grep -q '"kind":"preempted"' "$run/metrics.jsonl" 2>/dev/null && break
    sleep 0.1
  done
  rm -f "$hold.$signal_at"
  state=$(slurm_wait_job "$id" 240)
  [ "$state" = COMPLETED ] || case_fail "$id" "$spec" "job $id ended $state, want COMPLETED after a requeue"
  [ "$(slurm_job_field "$id" Restarts)" = 1 ] ||
    case_fail "$id" "$spec" "job $id restarted $(slurm_job_field "$id" Restarts) times, want exactly 1 (the requeue)"
  # The batch script's exit codes, in order (the launcher logs each: Slurm keeps none for a
  # requeued run): 42 (checkpointed, requeued), then 0 (finished).
  codes=$(sed -n 's/^\[simcsepp-launch .*\] exit \([0-9]*\)$/\1/p' "simcsepp-cpu-$id.out" | tr '\n' ' ')
  [ "$codes" = "42 0 " ] ||
    case_fail "$id" "$spec" "batch exit codes '$codes', want '42 0' (checkpointed + requeued, then done)"
  n=$(grep '"kind":"checkpoint"' "$run/metrics.jsonl" | grep -c '"reason":"preempted"')
  [ "$n" = 1 ] || case_fail "$id" "$spec" "$n preemption checkpoints in $run/metrics.jsonl, want exactly 1"
  n=$(grep -c '"kind":"preempted"' "$run/metrics.jsonl")
  [ "$n" = 1 ] || case_fail "$id" "$spec" "$n 'preempted' records in $run/metrics.jsonl, want exactly 1"
  saved=$(preempted_step "$run")
  { [ "$saved" -ge "$at" ] && [ "$saved" -lt "$max_steps" ]; } ||
    case_fail "$id" "$spec" "checkpointed at step $saved: want the signal's step (>= $at, < $max_steps)"
  resumed=$(resumed_per_rank "simcsepp-cpu-$id.err")
  [ "$resumed" = "$(every_rank_at 2 "$saved")" ] ||
    case_fail "$id" "$spec" "the requeued job's ranks resumed at (rank step) '$(echo $resumed)', want step $saved on ranks 0 and 1"
  final=$(final_step "$run") || case_fail "$id" "$spec" "no summary.json in $run: the requeued job did not finish"
  [ "$final" = "$max_steps" ] || case_fail "$id" "$spec" "the run ended at step $final, want $max_steps"
  # Orphans: a launcher killed before its ranks leaves them running outside Slurm's tracking.
  local left
  left=$(pgrep -f -- "--run-dir $run " | tr '\n' ' ')
  if [ -n "$left" ]; then
    ps -o pid,ppid,pgid,args -p "${left// /,}" >&2
    # shellcheck disable=SC2086  # one word per pid
    kill -9 $left 2>/dev/null
    case_fail "$id" "$spec" "ranks of job $id (pids $left) still ran after the job ended"
  fi
  # What each rank's handler saw (10 = USR1, 15 = TERM, 0 = stopped by another rank's signal).
  sigs=$(sed -n 's/.*preempted (signal \([0-9]*\)) at step.*/\1/p' "simcsepp-cpu-$id.err" | sort | tr '\n' ' ')
  echo "PASS [$spec] job $id: signalled at step $at, one checkpoint at $saved (ranks' signals: ${sigs% }), exit 42, requeued, resumed, finished at $final ($((SECONDS - t0)) s)"
}

for c in $cases; do run_case "$c"; done
echo "PASS: all cases"
slurm_cluster_stop
cd /
rm -rf "$work"
