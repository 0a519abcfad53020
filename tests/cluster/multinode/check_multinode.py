"""check_multinode.py - the assertions of the multi-node test (multinode_train_test.sh).

  topology LOG HOST0,HOST1,...    every rank logged exactly one "cluster: rank R/W (local L/S) on
                                  HOST" line; rank r is on HOSTr, its local rank is its index
                                  among the ranks of that host (rank order), local size = their
                                  number, and the log prefix of that line names the same rank/host
  wait-targets FILE N SECS        wait until the file_sd FILE lists N targets; print them
  file-sd FILE TARGET...          FILE lists exactly these targets, in rank order, with a run_id
  scrape URL RANK LOCAL HOST W    GET URL (from wherever this runs: the test runs it inside a
                                  node's namespace) answers Prometheus text whose samples carry
                                  rank/local_rank/host of that rank and simcsepp_world_size W
  same-run RUN_A RUN_B STEP       the two runs are the same training: every tensor of the
                                  step-STEP checkpoints (parameters, AdamW moments, every rank's
                                  RNG state) is bit-identical, the per-step losses and gradient
                                  norms in metrics.jsonl are equal, and the exported models are
                                  byte-identical
  nccl-bootstrap LOG HOST0,... ADDR
                                  the lines of nccl_bootstrap_probe: one per rank on the expected
                                  host, the same non-zero NCCL unique id on every rank, its root
                                  address on ADDR (rank 0's host), reachable from the last rank
Exits 1 with a message naming what differs.
"""
import hashlib
import json
import os
import re
import struct
import sys
import time
import urllib.request


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def topology(log_path, hosts_csv):
    hosts = hosts_csv.split(",")
    world = len(hosts)
    # "[12:00:00 2/4 simnode-b] INFO cluster: rank 2/4 (local 0/2) on simnode-b, backend mpi, ..."
    pat = re.compile(r"^\[\S+ (\d+)/(\d+) (\S+)\] INFO cluster: rank (\d+)/(\d+) \(local (\d+)/(\d+)\) on (\S+?),")
    seen = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = pat.match(line)
            if not m:
                continue
            prank, pworld, phost, rank, w, local, lsize, host = m.groups()
            rank = int(rank)
            if (int(prank), int(pworld), phost) != (rank, int(w), host):
                fail(f"log prefix '{prank}/{pworld} {phost}' disagrees with the topology line: {line.strip()}")
            if rank in seen:
                fail(f"rank {rank} logged its topology twice: {seen[rank]} and {line.strip()}")
            seen[rank] = (int(w), int(local), int(lsize), host)
    if sorted(seen) != list(range(world)):
        fail(f"topology lines from ranks {sorted(seen)}, want 0..{world - 1} (SIMCSEPP_LOG_ALL_RANKS=1 forwarded?)"
             f" in {log_path}")
    for r in range(world):
        w, local, lsize, host = seen[r]
        on_host = [q for q in range(world) if hosts[q] == hosts[r]]
        want = (world, on_host.index(r), len(on_host), hosts[r])
        if (w, local, lsize, host) != want:
            fail(f"rank {r}: world {w}, local {local}/{lsize} on {host}; want world {want[0]}, "
                 f"local {want[1]}/{want[2]} on {want[3]}")
        print(f"ok   rank {r}/{w} local {local}/{lsize} on {host}")


def read_targets(path):
    with open(path) as f:
        groups = json.load(f)
    if not isinstance(groups, list) or len(groups) != 1:
        fail(f"{path}: want one file_sd target group, got {groups!r}")
    return groups[0]


def wait_targets(path, n, secs):
    deadline = time.time() + float(secs)
    last = None
    while time.time() < deadline:
        if os.path.exists(path):
            try:
                last = read_targets(path)["targets"]
            except (json.JSONDecodeError, KeyError):
                last = None  # written by rename, so this is not expected; retry anyway
            if last is not None and len(last) == int(n):
                print("\n".join(last))
                return
        time.sleep(0.2)
    fail(f"{path} did not list {n} targets within {secs} s (last seen: {last})")


def file_sd(path, *want):
    group = read_targets(path)
    if group.get("targets") != list(want):
        fail(f"{path} lists {group.get('targets')}, want {list(want)} (every rank's host:port, rank order)")
    if not group.get("labels", {}).get("run_id"):
        fail(f"{path} has no run_id label: {group}")
    print(f"ok   file_sd lists {', '.join(want)} (run_id {group['labels']['run_id']})")


def scrape(url, rank, local, host, world):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    except OSError as e:
        fail(f"GET {url} from {os.uname().nodename}: {e}")
    labels = {"rank": rank, "local_rank": local, "host": host}
    line = next((l for l in text.splitlines() if l.startswith("simcsepp_world_size{")), None)
    if line is None:
        fail(f"{url} has no simcsepp_world_size sample")
    got = dict(re.findall(r'(\w+)="([^"]*)"', line))
    for k, v in labels.items():
        if got.get(k) != v:
            fail(f"{url}: label {k}={got.get(k)!r}, want {v!r} (sample: {line})")
    if float(line.rsplit(" ", 1)[1]) != float(world):
        fail(f"{url}: {line}, want world size {world}")
    print(f"ok   {url} from {os.uname().nodename}: rank {rank} local {local} host {host}")


def read_ckpt(path):
    """{name: (dtype, shape, raw bytes)} of a SIMCSEPP-CKPT-1 file (trainer/checkpoint/checkpoint_file.h)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:16] != b"SIMCSEPP-CKPT-1\n":
        fail(f"{path} is not a simcsepp checkpoint")
    (n,) = struct.unpack("<Q", data[16:24])
    header = json.loads(data[24:24 + n])
    start = 24 + n
    return {t["name"]: (t["dtype"], t["shape"], data[start + t["offset"]:start + t["offset"] + t["bytes"]])
            for t in header["tensors"]}


def step_records(run):
    out = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "step":
                out[r["step"]] = r
    return out


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def same_run(run_a, run_b, step):
    name = f"step-{int(step):08d}.ckpt"
    a = read_ckpt(os.path.join(run_a, "checkpoints", name))
    b = read_ckpt(os.path.join(run_b, "checkpoints", name))
    if sorted(a) != sorted(b):
        fail(f"the checkpoints hold different tensors: {sorted(set(a) ^ set(b))}")
    params = [k for k in a if k.startswith("model/")]
    if len(params) < 10 or not any(k.startswith("optim/") for k in a) or "rng/cpu" not in a:
        fail(f"unexpected checkpoint contents: {sorted(a)}")
    differ = [k for k in a if a[k] != b[k]]
    if differ:
        fail(f"{len(differ)} of {len(a)} checkpoint tensors differ between {run_a} and {run_b} at step {step}, "
             f"first: {differ[:5]}")
    print(f"ok   step {step}: all {len(a)} checkpoint tensors bit-identical ({len(params)} parameters, "
          f"AdamW state, every rank's RNG state)")
    sa, sb = step_records(run_a), step_records(run_b)
    if sorted(sa) != list(range(1, int(step) + 1)) or sorted(sb) != sorted(sa):
        fail(f"logged steps {sorted(sa)} vs {sorted(sb)}, want 1..{step}")
    for k in sorted(sa):
        for field in ("loss", "instance_loss", "dcl_loss", "grad_norm", "lr"):
            if sa[k].get(field) != sb[k].get(field):
                fail(f"step {k}: {field} {sa[k].get(field)!r} vs {sb[k].get(field)!r}")
    print(f"ok   per-step losses, gradient norm and learning rate equal at all {len(sa)} steps")
    ma, mb = (os.path.join(r, "model", "model.safetensors") for r in (run_a, run_b))
    if sha256(ma) != sha256(mb):
        fail(f"exported models differ: {ma} vs {mb}")
    print("ok   exported models byte-identical")


def nccl_bootstrap(log_path, hosts_csv, root_addr):
    hosts = hosts_csv.split(",")
    pat = re.compile(r"^nccl-id rank (\d+) host (\S+) id ([0-9a-f]+) root (\S+) connect (\S+)$")
    seen = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = pat.match(line.strip())
            if m:
                seen[int(m.group(1))] = m.groups()[1:]
    if sorted(seen) != list(range(len(hosts))):
        fail(f"nccl-id lines from ranks {sorted(seen)}, want 0..{len(hosts) - 1} in {log_path}")
    ids = {v[1] for v in seen.values()}
    if len(ids) != 1 or set(next(iter(ids))) == {"0"}:
        fail(f"the ranks hold {len(ids)} different NCCL unique ids (or an all-zero one): {seen}")
    for r, (host, _, root, connect) in sorted(seen.items()):
        if host != hosts[r]:
            fail(f"rank {r} is on {host}, want {hosts[r]}")
        if root == "unknown-layout" or root.rsplit(":", 1)[0] != root_addr:
            fail(f"rank {r}: the NCCL bootstrap root is at {root}, want {root_addr}:PORT (rank 0's host; "
                 "NCCL_SOCKET_IFNAME picks the interface; 'unknown-layout' means NCCL changed its id format)")
    last = len(hosts) - 1
    if seen[last][3] != "ok":
        fail(f"rank {last} on {hosts[last]} cannot connect to the NCCL bootstrap root {seen[last][2]}: {seen[last][3]}")
    print(f"ok   NCCL unique id identical on all {len(hosts)} ranks; bootstrap root {seen[0][2]} on {hosts[0]}, "
          f"reached from rank {last} on {hosts[last]}")


def main():
    cmds = {"topology": topology, "wait-targets": wait_targets, "file-sd": file_sd, "scrape": scrape,
            "same-run": same_run, "nccl-bootstrap": nccl_bootstrap}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[sys.argv[1]](*sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
