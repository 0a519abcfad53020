# shellcheck shell=bash
# slurm_cluster.sh - a throw-away one-node Slurm cluster for the Slurm service tests.
#
# Source this file, then:
#   slurm_cluster_start DIR   write munge key + slurm.conf under DIR (a fresh, empty directory),
#                             start munged, slurmctld and slurmd on loopback ports, wait for the
#                             node to be idle; exports SLURM_CONF so sbatch/squeue/... talk to it
#   slurm_wait_job ID SECS    wait until job ID reaches a final state; prints that state
#   slurm_job_field ID KEY    one KEY=value field of `scontrol show job ID`
#   slurm_cluster_stop        cancel what is left, stop the three daemons (the start installs an
#                             EXIT trap that calls it, so a failing test never leaves them behind)
#   slurm_dump_logs           print the daemon logs (called on every failure)
#
# Everything (state, spool, sockets, logs, key) lives under DIR, the daemons run as root in the
# foreground of this shell's children and listen on 127.0.0.1 only, so several clusters (or a
# system Slurm) can coexist. No cgroups in a container: proctrack/linuxproc and task/none.
# Needs the Debian packages slurmctld, slurmd, slurm-client and munge (scripts/setup.sh).

SLURM_TEST_DIR=""
SLURM_TEST_PIDS=()

slurm_fail() {
  echo "FAIL: $*" >&2
  slurm_dump_logs
  exit 1
}

slurm_dump_logs() {
  [ -n "$SLURM_TEST_DIR" ] || return 0
  local f
  for f in "$SLURM_TEST_DIR"/log/*; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 60 lines) -----" >&2
    tail -n 60 "$f" >&2
  done
  if [ -n "${SLURM_CONF:-}" ] && command -v sinfo >/dev/null; then
    echo "----- sinfo / squeue -----" >&2
    timeout 10 sinfo -N -l >&2 2>&1 || true
    timeout 10 squeue -l >&2 2>&1 || true
  fi
}

# A TCP port nobody listens on right now, below the kernel's ephemeral range: the ports that
# port-0 binds (every other test's servers, Prometheus, the ranks' /metrics) and outgoing
# connections draw from, so under ctest -j none of them can take it before slurmctld/slurmd bind
# it. (Slurm tests run one at a time: RESOURCE_LOCK slurm.)
slurm_free_port() {
  local p low _high
  read -r low _high </proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 12000 ] || return 1
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

slurm_cluster_start() {
  SLURM_TEST_DIR=$1
  local d=$SLURM_TEST_DIR
  local b
  for b in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$b" >/dev/null ||
      slurm_fail "$b not found. HINT: bash scripts/setup.sh installs slurmctld slurmd slurm-client munge"
  done
  mkdir -p "$d"/{munge,state,spool,log,jobs}
  chmod 700 "$d" "$d/munge"
  trap 'slurm_cluster_stop' EXIT

  # munge: a fresh key, socket and pid file of our own (root needs --force).
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged --force --foreground --key-file="$d/munge/munge.key" --socket="$d/munge/socket" \
    --pid-file="$d/munge/munged.pid" --seed-file="$d/munge/seed" --log-file="$d/log/munged.log" \
    >>"$d/log/munged.out" 2>&1 &
  SLURM_TEST_PIDS+=($!)
  for _ in $(seq 50); do [ -S "$d/munge/socket" ] && break; sleep 0.2; done
  [ -S "$d/munge/socket" ] || slurm_fail "munged did not create its socket"

  local host ctld_port slurmd_port
  host=$(hostname -s)
  ctld_port=$(slurm_free_port) || slurm_fail "no free port"
  slurmd_port=$(slurm_free_port) || slurm_fail "no free port"
  : >"$d/plugstack.conf"  # keep the system's SPANK plugins out
  # cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
  cat >"$d/slurm.conf" <<EOF
ClusterName=simcsepptest
MailProg=/bin/true
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/socket,cred_expire=5
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
# Short scheduling passes: a requeued job starts seconds after its credentials expire.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=10
MessageTimeout=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -D -c -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
  SLURM_TEST_PIDS+=($!)
  slurmd -D -f "$SLURM_CONF" -N "$host" >>"$d/log/slurmd.out" 2>&1 &
  SLURM_TEST_PIDS+=($!)

  local state=""
  for _ in $(seq 60); do
    state=$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  [ "$state" = idle ] || slurm_fail "node $host is '$state', not idle, 30 s after start"
  echo "slurm test cluster up: $SLURM_CONF (node $host, ports $ctld_port/$slurmd_port)"
}

slurm_job_field() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# Waits for a final state (a requeued job passes through PENDING/RUNNING again, and is waited for).
slurm_wait_job() {
  local id=$1 secs=$2 state="" t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    state=$(slurm_job_field "$id" JobState)
    case "$state" in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "$state"
        return 0
        ;;
    esac
    sleep 1
  done
  echo "TIMEOUT_WAITING($state)"
  return 1
}

slurm_cluster_stop() {
  local d=$SLURM_TEST_DIR pid
  [ -n "$d" ] || return 0
  if [ ${#SLURM_TEST_PIDS[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
    # Jobs first, so that no slurmstepd outlives its slurmd.
    if [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
      timeout 10 scancel --full --quiet -u "$(id -un)" 2>/dev/null || true
      for _ in $(seq 30); do
        [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 1
      done
    fi
  fi
  # Reverse start order: slurmd, slurmctld, munged.
  for ((i = ${#SLURM_TEST_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${SLURM_TEST_PIDS[$i]}
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SLURM_TEST_PIDS=()
}
