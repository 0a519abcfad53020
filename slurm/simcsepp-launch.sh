#!/usr/bin/env bash
# simcsepp-launch.sh - what every sbatch template runs inside its allocation.
#
#   simcsepp-launch.sh CONFIG.ini [more `simcsepp train` options]
#
# 1. makes the run directory (one per Slurm job id, so a requeued job finds its own checkpoints),
# 2. links the run's Prometheus file_sd JSON (written by the trainer) where Prometheus looks,
# 3. starts one `simcsepp train --config CONFIG.ini --run-dir RUN --resume auto` task per GPU
#    (srun --mpi=pmix, or mpirun inside the allocation),
# 4. turns SIGUSR1 / SIGTERM (Slurm's time-limit warning, preemption; to this script or its
#    process group) into one SIGUSR1 to srun/mpirun, which pass it to the ranks; they agree on a
#    step, checkpoint, write RUN/preempted.json and exit 42 (kExitPreempted),
# 5. on 42 (or RUN/preempted.json) requeues the job (scontrol requeue): it restarts with the same job id and run
#    directory and `--resume auto` continues from the newest valid checkpoint. On 0 the run is
#    done: the trainer has exported the best model to RUN/model.
#
# Knobs (environment; sbatch passes the submitting shell's environment to the job):
#   SIMCSEPP_BIN            the simcsepp binary (default: $SIMCSEPP_HOME/build/bin/simcsepp,
#                           else `simcsepp` on PATH)
#   SIMCSEPP_RUN_ROOT       parent of run directories (default: $SLURM_SUBMIT_DIR/runs)
#   SIMCSEPP_RUN_DIR        the run directory (default: RUN_ROOT/<job name>-<job id>); set it to an
#                           older run's directory to continue that run in a new job
#   SIMCSEPP_LAUNCHER       srun (default; srun --mpi=pmix) | mpirun
#   SIMCSEPP_SRUN_ARGS      extra srun options (e.g. "--cpu-bind=cores")
#   SIMCSEPP_MPIRUN_ARGS    extra mpirun options (e.g. "--mca btl self,vader,tcp")
#   SIMCSEPP_PROMETHEUS_TARGETS  a directory Prometheus reads file_sd files from (e.g. the
#                           checkout's monitoring/prometheus/targets): RUN/prometheus_targets.json
#                           is linked there as <run name>.json (ports: `metrics-port` in the config;
#                           rank with local rank L serves PORT+L)
#   SIMCSEPP_METRICS_BIND   address the ranks' /metrics bind (default 0.0.0.0, so a Prometheus
#                           elsewhere can scrape; `metrics-bind` in the config or on the command
#                           line wins)
#   SIMCSEPP_MAX_REQUEUES   stop requeueing after this many restarts (default 50)
#   SIMCSEPP_TASK_GRACE_S   seconds the other ranks get to finish once the first rank exited
#                           (srun --wait; default 120), so a checkpoint write is never cut short
set -uo pipefail

log() { echo "[simcsepp-launch $(date -u +%H:%M:%S) job ${SLURM_JOB_ID:-?}] $*"; }
die() {
  echo "[simcsepp-launch] error: $1" >&2
  echo "[simcsepp-launch] HINT: $2" >&2
  exit 1
}

[ -n "${SLURM_JOB_ID:-}" ] || die "not inside a Slurm job (SLURM_JOB_ID is unset)" \
  "submit a template with sbatch, e.g. sbatch slurm/simcsepp-1node-gpu.sbatch run.ini"
[ $# -ge 1 ] || die "no config file given" "sbatch TEMPLATE CONFIG.ini [more simcsepp train options]"
config=$1
shift
[ -r "$config" ] || die "cannot read config file '$config' (cwd $(pwd))" \
  "give a path relative to the directory you ran sbatch in, or an absolute one"
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")

home=${SIMCSEPP_HOME:-${SLURM_SUBMIT_DIR:-.}}
bin=${SIMCSEPP_BIN:-}
if [ -z "$bin" ]; then
  if [ -x "$home/build/bin/simcsepp" ]; then bin=$home/build/bin/simcsepp; else bin=$(command -v simcsepp || true); fi
fi
{ [ -n "$bin" ] && [ -x "$bin" ]; } || die "simcsepp binary not found ('$bin')" \
  "set SIMCSEPP_BIN=/path/to/simcsepp or SIMCSEPP_HOME=/path/to/the/checkout before sbatch"

restarts=${SLURM_RESTART_COUNT:-0}
run_root=${SIMCSEPP_RUN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/runs}
run_dir=${SIMCSEPP_RUN_DIR:-$run_root/${SLURM_JOB_NAME:-simcsepp}-$SLURM_JOB_ID}
mkdir -p "$run_dir" || die "cannot create run directory $run_dir" "set SIMCSEPP_RUN_ROOT to a writable shared file system"
run_dir=$(cd "$run_dir" && pwd)
# SLURM_NTASKS keeps the submitted value in a requeued job that was resized; SLURM_TASKS_PER_NODE
# is the allocation the ranks are started from.
echo "$(date -u +%FT%TZ) job=$SLURM_JOB_ID restart=$restarts nodes=${SLURM_JOB_NODELIST:-?} ntasks=${SLURM_NTASKS:-?}" \
  "tasks_per_node=${SLURM_TASKS_PER_NODE:-?}" >>"$run_dir/slurm-jobs.log"
log "run directory $run_dir (restart $restarts), config $config"

# --- metrics endpoints ------------------------------------------------------------------------
# The trainer itself writes RUN/prometheus_targets.json (file_sd: every rank's host:port, the
# ports it really bound). Prometheus globs only file names, so link it where the scrape config
# looks (monitoring/prometheus/targets/) when SIMCSEPP_PROMETHEUS_TARGETS is set.
targets_file=$run_dir/prometheus_targets.json
if [ -n "${SIMCSEPP_PROMETHEUS_TARGETS:-}" ]; then
  mkdir -p "$SIMCSEPP_PROMETHEUS_TARGETS" &&
    ln -sfn "$targets_file" "$SIMCSEPP_PROMETHEUS_TARGETS/$(basename "$run_dir").json" &&
    log "metrics endpoints: $SIMCSEPP_PROMETHEUS_TARGETS/$(basename "$run_dir").json -> $targets_file"
fi
clear_targets() {  # while requeued and pending there is nothing to scrape: no ExporterDown alert
  [ -f "$targets_file" ] || return 0
  echo "[]" >"$targets_file.tmp.$$" && mv -f "$targets_file.tmp.$$" "$targets_file"
}

train_args=(train --config "$config" --run-dir "$run_dir" --resume auto)
# Prometheus scrapes the nodes from another host: every rank binds all interfaces (the targets
# file then names each node by its host name) unless the config or the command line sets
# metrics-bind. The endpoints have no authentication: keep them on the cluster network.
if ! grep -Eq '^[[:space:]]*metrics-bind[[:space:]]*=' "$config" && [[ " $* " != *" --metrics-bind"* ]]; then
  train_args+=(--metrics-bind "${SIMCSEPP_METRICS_BIND:-0.0.0.0}")
fi
train_args+=("$@")

# --- launch -----------------------------------------------------------------------------------
launcher=${SIMCSEPP_LAUNCHER:-srun}
case "$launcher" in
  srun)
    # --mpi=pmix: Debian/Ubuntu Open MPI talks PMIx to slurmstepd (pmi2 does not work with it).
    # --wait: once one rank has exited, the others get TASK_GRACE_S before being killed - a
    # backstop: with PMIx a finished rank waits in MPI_Finalize for the rest (docs/cluster.md).
    read -ra extra <<<"${SIMCSEPP_SRUN_ARGS:-}"
    cmd=(srun --mpi=pmix --wait="${SIMCSEPP_TASK_GRACE_S:-120}" "${extra[@]}" "$bin" "${train_args[@]}")
    ;;
  mpirun)
    # mpirun reads the allocation (nodes, tasks per node) from Slurm itself.
    read -ra extra <<<"${SIMCSEPP_MPIRUN_ARGS:-}"
    cmd=(mpirun --bind-to none "${extra[@]}" "$bin" "${train_args[@]}")
    ;;
  *) die "unknown SIMCSEPP_LAUNCHER '$launcher'" "use srun or mpirun" ;;
esac

# Rank 0 writes RUN/preempted.json once every rank has saved the preemption checkpoint. It says
# "checkpointed" even when srun/mpirun report another code than 42: mpirun kills the other ranks
# as soon as one has exited non-zero (measured), and may then report a killed rank's status.
preempted_file=$run_dir/preempted.json
rm -f "$preempted_file"

# Bash runs traps only between commands or while in `wait`, so the ranks run in the background.
# Every warning (USR1 or TERM, to this script or its whole process group) becomes one USR1 to
# srun/mpirun, which both pass USR1 on to every rank; TERM itself would make srun kill the step
# and mpirun kill the ranks 1 s later, before their checkpoint. Later signals are only logged:
# the ranks are already checkpointing (and a rank that gets a signal directly, e.g. from
# `scancel --signal`, treats it the same way: one flag, one checkpoint).
child=""
signalled=""
# shellcheck disable=SC2317  # called from the traps below
forward() {
  if [ -n "$signalled" ]; then
    log "got SIG$1 (after SIG$signalled): the ranks are already checkpointing"
    return
  fi
  signalled=$1
  log "got SIG$1: asking the ranks to checkpoint (SIGUSR1 to $launcher; they exit 42)"
  [ -n "$child" ] && kill -s USR1 "$child" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

if [ -n "$signalled" ]; then  # warned before anything ran: the newest checkpoint is still current
  echo "{\"before_launch\": \"SIG$signalled\"}" >"$preempted_file"
  rc=42
else
  log "launch: ${cmd[*]}"
  # setsid: srun/mpirun and the ranks get a session and process group of their own, so a TERM
  # to this script's group (timeout, kill -TERM -PGID) reaches only this script. (A background
  # job of a non-interactive shell is no group leader, so setsid execs in place: $! is srun/mpirun.)
  setsid "${cmd[@]}" &
  child=$!
  while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break  # wait returned for a trapped signal: keep waiting
  done
  child=""
fi
log "ranks exited with code $rc${signalled:+ after SIG$signalled}"
leave() {  # the batch script's exit code, logged: Slurm keeps none for a requeued run
  log "exit $1"
  exit "$1"
}
if [ "$rc" -ne 0 ] && [ -f "$preempted_file" ]; then
  [ "$rc" -eq 42 ] || log "but every rank checkpointed ($preempted_file): treating it as 42"
  rc=42
fi

case $rc in
  0)
    log "done: checkpoints, metrics.jsonl, summary.json and the exported model/ are in $run_dir"
    leave 0
    ;;
  42)
    clear_targets
    if [ "$restarts" -ge "${SIMCSEPP_MAX_REQUEUES:-50}" ]; then
      log "checkpointed, but this job was already restarted $restarts times: not requeueing"
      leave 42
    fi
    log "checkpointed; requeueing job $SLURM_JOB_ID (it resumes from $run_dir)"
    # A preempting Slurm may have requeued the job already; then this fails harmlessly.
    scontrol requeue "$SLURM_JOB_ID" || log "scontrol requeue failed (already requeued or cancelled?)"
    leave 42
    ;;
  *)
    log "training failed with code $rc: not requeueing (see the error above; 1 = bad input/config)"
    leave "$rc"
    ;;
esac
