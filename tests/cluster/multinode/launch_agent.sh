#!/usr/bin/env bash
# launch_agent.sh HOST COMMAND... - Open MPI's remote launcher for the namespaced test cluster
# (netns_cluster.sh), used in place of ssh: `--mca plm_rsh_agent launch_agent.sh`.
#
# mpirun calls it as it would call ssh: the host name, then the words of the orted command line.
# Like sshd, it runs that command through a shell "on" HOST: inside HOST's network namespace and
# a new UTS namespace whose host name is HOST, with a fresh environment (only PATH, HOME and
# LANG, as a login over ssh would give), so a rank sees nothing of the launching shell that
# mpirun did not forward itself. MN_NETNS_MAP ("host=netns ...", exported by netns_cluster.sh)
# names each host's namespace.
set -euo pipefail
host=$1
shift
ns=""
for pair in ${MN_NETNS_MAP:?MN_NETNS_MAP is not set: start the cluster with netns_cluster.sh}; do
  [ "${pair%%=*}" = "$host" ] && ns=${pair#*=}
done
if [ -z "$ns" ]; then
  echo "launch_agent.sh: no namespace for host '$host' (known: $MN_NETNS_MAP)" >&2
  exit 255  # what ssh returns when it cannot reach a host
fi
# shellcheck disable=SC2016  # $0 and $1 belong to the inner shell
exec ip netns exec "$ns" unshare --uts env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 \
  /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
