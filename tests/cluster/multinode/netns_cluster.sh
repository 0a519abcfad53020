# shellcheck shell=bash
# netns_cluster.sh - a throw-away two-node "cluster" on one machine, for the multi-node tests.
#
# Source this file, then:
#   mn_cluster_start DIR   make three network namespaces - a login node (where mpirun runs) and
#                          two compute nodes - joined by a bridge in the login namespace, each
#                          with its own address on MN_SUBNET and a hosts file that names all three;
#                          installs an EXIT trap that calls mn_cluster_stop
#   mn_exec NODE CMD...    run CMD inside NODE's network namespace and a new UTS namespace whose
#                          host name is NODE (NODE: simlogin, simnode-a or simnode-b)
#   mn_mpirun ARGS...      mpirun on the login node, with launch_agent.sh as Open MPI's remote
#                          launcher (it starts each compute node's orted inside that node's
#                          namespaces) and MPI's TCP traffic restricted to MN_SUBNET
#   mn_cluster_stop        end every process still inside the namespaces, delete them and their
#                          /etc/netns/ files (idempotent)
#
# Why namespaces: Open MPI then sees two hosts with different names (MPI_Get_processor_name),
# places ranks per host, splits MPI_COMM_TYPE_SHARED per host and uses TCP between them, and
# every rank can bind the same metrics port on its own host - as on a real cluster. Nothing is
# configured outside the namespaces: the veth pairs are created inside them, the addresses exist
# only there, and each namespace's loopback is its own, so the test's traffic cannot leave.
# The hosts file is iproute2's per-namespace convention (/etc/netns/NS/hosts is bind-mounted
# over /etc/hosts by `ip netns exec`), so names resolve inside the namespaces only.
# Needs root and iproute2 (scripts/setup.sh); util-linux's unshare for the UTS namespace.

MN_SUBNET=10.213.77.0/24
MN_PREFIX="smn$$"  # namespace names carry our PID, so leftovers of a killed run are recognisable
MN_DIR=""
MN_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -A MN_NS=([simlogin]="$MN_PREFIX-login" [simnode-a]="$MN_PREFIX-a" [simnode-b]="$MN_PREFIX-b")
declare -A MN_ADDR=([simlogin]=10.213.77.254 [simnode-a]=10.213.77.1 [simnode-b]=10.213.77.2)
export MN_NETNS_MAP="simlogin=$MN_PREFIX-login simnode-a=$MN_PREFIX-a simnode-b=$MN_PREFIX-b"

mn_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Namespaces of earlier runs of these tests whose shell is gone (ctest's timeout kills with
# SIGKILL, which no trap survives): their processes are ended and the namespaces deleted.
mn_remove_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^smn[0-9]+-' || true); do
    pid=${ns#smn}
    pid=${pid%%-*}
    [ "$pid" != "$$" ] && kill -0 "$pid" 2>/dev/null && continue
    echo "removing the stale namespace $ns of an earlier run (pid $pid)"
    mn_delete_ns "$ns"
  done
}

mn_delete_ns() {
  local ns=$1 pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 25); do
      [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
      sleep 0.2
    done
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  fi
  ip netns delete "$ns" 2>/dev/null || true
  rm -rf "/etc/netns/$ns"
}

mn_cluster_start() {
  MN_DIR=$1
  local b node ns
  for b in ip unshare mpirun orted; do
    command -v "$b" >/dev/null || mn_fail "$b not found. HINT: bash scripts/setup.sh installs iproute2 and Open MPI"
  done
  [ "$(id -u)" = 0 ] || mn_fail "network namespaces need root (this test runs as $(id -un))"
  mkdir -p "$MN_DIR"
  mn_remove_stale
  trap 'mn_cluster_stop' EXIT
  trap 'exit 143' TERM INT  # so that a signal runs the EXIT trap too
  for node in simlogin simnode-a simnode-b; do
    ns=${MN_NS[$node]}
    ip netns add "$ns" || mn_fail "ip netns add $ns failed (no permission to create network namespaces?)"
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    {
      echo "127.0.0.1 localhost"
      for b in simlogin simnode-a simnode-b; do echo "${MN_ADDR[$b]} $b"; done
    } >"/etc/netns/$ns/hosts"
  done
  # The "switch": a bridge in the login namespace; each node's veth pair is created right
  # there with its peer put straight into the node's namespace (never in the host's).
  local login=${MN_NS[simlogin]}
  ip -n "$login" link add mnbr type bridge || mn_fail "cannot create a bridge (kernel without bridge support?)"
  ip -n "$login" addr add "${MN_ADDR[simlogin]}/24" dev mnbr
  ip -n "$login" link set mnbr up
  for node in simnode-a simnode-b; do
    ns=${MN_NS[$node]}
    ip -n "$login" link add "port-${node#simnode-}" type veth peer name eth0 netns "$ns" ||
      mn_fail "cannot create the veth pair of $node"
    ip -n "$login" link set "port-${node#simnode-}" master mnbr up
    ip -n "$ns" addr add "${MN_ADDR[$node]}/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # Every node must reach every other before MPI is tried: a connection to a port nobody
  # listens on is refused when the route works ("No route to host"/a timeout otherwise).
  local from to err
  for from in simlogin simnode-a simnode-b; do
    for to in simlogin simnode-a simnode-b; do
      err=$(ip netns exec "${MN_NS[$from]}" timeout 5 bash -c "exec 3<>/dev/tcp/$to/1" 2>&1 || true)
      case "$err" in
        *"Connection refused"*) ;;
        *) mn_fail "$from cannot reach $to (${MN_ADDR[$to]}) inside the namespaces: ${err:-timeout}" ;;
      esac
    done
  done
  echo "multi-node test cluster up: namespaces ${MN_NS[*]} on $MN_SUBNET"
}

mn_exec() {
  local node=$1
  shift
  local ns=${MN_NS[$node]:-}
  [ -n "$ns" ] || mn_fail "mn_exec: unknown node '$node'"
  # shellcheck disable=SC2016  # $0 and $@ belong to the inner shell
  ip netns exec "$ns" unshare --uts bash -c 'hostname "$0" && exec "$@"' "$node" "$@"
}

# Open MPI's options for the namespaced cluster: the launch agent, TCP (OOB and BTL) only on the
# namespaces' subnet, shared memory between ranks of one node, no binding, and ranks that yield
# while waiting (4 ranks on 2 cores: busy polling made a 1x4 run take 16 s instead of 9 s).
mn_mpirun() {
  mn_exec simlogin mpirun --allow-run-as-root --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
    --mca plm_rsh_agent "$MN_HERE/launch_agent.sh" \
    --mca oob_tcp_if_include "$MN_SUBNET" --mca btl_tcp_if_include "$MN_SUBNET" \
    --mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none \
    "$@"
}

mn_cluster_stop() {
  local ns
  [ -n "$MN_DIR" ] || return 0
  for ns in "${MN_NS[@]}"; do mn_delete_ns "$ns"; done
  rmdir /etc/netns 2>/dev/null || true  # only when empty: other namespaces may have files there
  MN_DIR=""
}
