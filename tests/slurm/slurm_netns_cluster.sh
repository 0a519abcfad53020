# shellcheck shell=bash
# slurm_netns_cluster.sh - a throw-away two-node Slurm on one machine: slurmctld on the login
# node and one slurmd per compute node of the namespaced cluster (tests/cluster/multinode/
# netns_cluster.sh), so jobs span two hosts with their own names and addresses.
#
# Source netns_cluster.sh first, then:
#   slurm2_start DIR      munge key + slurm.conf under DIR (a fresh directory outside /tmp, the
#                         "shared file system" of both nodes), munged, slurmctld (simlogin) and
#                         two slurmd (simnode-a, simnode-b); waits until both nodes are idle
#   sl CMD...             run a Slurm client command (sbatch, scontrol, ...) on the login node
#   slurm2_wait_job ID S  wait until job ID reaches a final state; prints that state
#   slurm2_stop           cancel what is left and stop the daemons (mn_cluster_stop then ends
#                         anything still inside the namespaces)
#   slurm2_dump_logs      print the daemon logs
#
# Differences from the one-node cluster (slurm_cluster.sh), and why:
# * each slurmd gets a private /tmp (bind mount in its own mount namespace): Slurm's PMIx plugin
#   creates /tmp/spmix_appdir_<uid>_<job>.<step> on every node of a step, and two nodes sharing
#   one /tmp collide ("File exists"), as they never would on real machines;
# * slurmd runs under nsenter --net rather than `ip netns exec`, which mounts a fresh /sys
#   without /sys/fs/cgroup, and slurmd 22.05 refuses to start without it (even with
#   proctrack/linuxproc); the node's hosts file is bind-mounted over /etc/hosts by hand instead;
# * SlurmdSpoolDir, pid and log files carry %n (the node name), so the two slurmd keep apart.
# munged's socket is a path in DIR, reachable from every namespace. Needs the Debian packages
# slurmctld, slurmd, slurm-client and munge (scripts/setup.sh).

SLURM2_DIR=""
SLURM2_PIDS=()

sl() { mn_exec simlogin "$@"; }

slurm2_dump_logs() {
  [ -n "$SLURM2_DIR" ] || return 0
  local f
  for f in "$SLURM2_DIR"/log/*; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
  echo "----- sinfo / squeue -----" >&2
  sl timeout 10 sinfo -N -l >&2 2>&1 || true
  sl timeout 10 squeue -l >&2 2>&1 || true
}

# A compute node's daemon: its network namespace, its host name, its hosts file, its own /tmp.
slurm2_exec_node() {
  local node=$1
  shift
  # shellcheck disable=SC2016  # $0..$3 belong to the inner shell
  nsenter --net="/run/netns/${MN_NS[$node]}" unshare --uts --mount --propagation private bash -c '
    mount --bind "/etc/netns/$1/hosts" /etc/hosts && mkdir -p "$2/nodetmp/$0" &&
      mount --bind "$2/nodetmp/$0" /tmp && cd "$2" && hostname "$0" && shift 2 && exec "$@"' \
    "$node" "${MN_NS[$node]}" "$SLURM2_DIR" "$@"
}

slurm2_start() {
  SLURM2_DIR=$1
  local d=$SLURM2_DIR b node
  for b in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel nsenter; do
    command -v "$b" >/dev/null ||
      mn_fail "$b not found. HINT: bash scripts/setup.sh installs slurmctld slurmd slurm-client munge"
  done
  case "$d" in /tmp/*) mn_fail "slurm2_start: $d is under /tmp, which every node has of its own" ;; esac
  mkdir -p "$d"/{munge,state,log} "$d/spool/simnode-a" "$d/spool/simnode-b"
  chmod 700 "$d" "$d/munge"
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged --force --foreground --key-file="$d/munge/munge.key" --socket="$d/munge/socket" \
    --pid-file="$d/munge/munged.pid" --seed-file="$d/munge/seed" --log-file="$d/log/munged.log" \
    >>"$d/log/munged.out" 2>&1 &
  SLURM2_PIDS+=($!)
  for _ in $(seq 50); do [ -S "$d/munge/socket" ] && break; sleep 0.2; done
  [ -S "$d/munge/socket" ] || mn_fail "munged did not create its socket"
  : >"$d/plugstack.conf"
  # Ports are fixed: nothing else listens inside the namespaces.
  cat >"$d/slurm.conf" <<EOF
ClusterName=simcsepp2node
MailProg=/bin/true
SlurmctldHost=simlogin(${MN_ADDR[simlogin]})
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/socket,cred_expire=5
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobRequeue=1
ReturnToService=2
SchedulerType=sched/backfill
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
NodeName=simnode-a NodeAddr=${MN_ADDR[simnode-a]} CPUs=2 RealMemory=2000 State=UNKNOWN
NodeName=simnode-b NodeAddr=${MN_ADDR[simnode-b]} CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=simnode-a,simnode-b Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  sl slurmctld -D -c -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
  SLURM2_PIDS+=($!)
  for node in simnode-a simnode-b; do
    slurm2_exec_node "$node" slurmd -D -f "$SLURM_CONF" -N "$node" >>"$d/log/slurmd-$node.out" 2>&1 &
    SLURM2_PIDS+=($!)
  done
  local states=""
  for _ in $(seq 60); do
    states=$(sl timeout 5 sinfo -h -N -o '%N=%T' 2>/dev/null | sort -u | tr '\n' ' ' || true)
    [ "$states" = "simnode-a=idle simnode-b=idle " ] && break
    sleep 0.5
  done
  [ "$states" = "simnode-a=idle simnode-b=idle " ] || {
    slurm2_dump_logs
    mn_fail "the two Slurm nodes are '$states', not idle, 30 s after start"
  }
  echo "two-node slurm up: $SLURM_CONF (slurmctld on simlogin, slurmd on simnode-a and simnode-b)"
}

slurm2_job_field() {
  sl scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

slurm2_wait_job() {
  local id=$1 secs=$2 state="" t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    state=$(slurm2_job_field "$id" JobState)
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

slurm2_stop() {
  local pid
  [ -n "$SLURM2_DIR" ] || return 0
  if [ ${#SLURM2_PIDS[@]} -gt 0 ] && [ -n "$(sl timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
    sl timeout 10 scancel --full --quiet -u "$(id -un)" 2>/dev/null || true
    for _ in $(seq 30); do
      [ -z "$(sl timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  # Reverse start order: the slurmd, slurmctld (by their pid files: SLURM2_PIDS holds the shells
  # that started them inside the namespaces), then munged.
  local f pids=()
  for f in "$SLURM2_DIR"/slurmd-simnode-a.pid "$SLURM2_DIR"/slurmd-simnode-b.pid "$SLURM2_DIR"/slurmctld.pid; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
  done
  for ((i = ${#SLURM2_PIDS[@]} - 1; i >= 0; i--)); do pids+=("${SLURM2_PIDS[$i]}"); done
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SLURM2_PIDS=()
  SLURM2_DIR=""
}
