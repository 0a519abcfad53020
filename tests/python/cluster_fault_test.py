"""cluster_fault_test.py - failures end a multi-rank job quickly, with rank and host named.

Runs the DISABLED_ FaultInjection cases of test_cluster_mpi under mpirun (2 ranks) with a 3 s
collective timeout and checks: non-zero exit, the expected message naming the rank (for a dead
rank: mpirun's report of which rank exited and with which code), and that the job ended well
before the hang it would otherwise be (a stuck rank sleeps 120 s). Cases: a rank stuck before an
all-reduce, a dead rank, diverged parameters, and (NCCL builds) the NCCL unique-id broadcast whose
root never arrives.
"""
import os
import re
import shlex
import socket
import subprocess
import sys
import time

BIN = os.environ["SIMCSEPP_MPI_TEST_BIN"]
MPIRUN = shlex.split(os.environ["SIMCSEPP_MPIRUN"])


def run_case(name, timeout_s=3):
    env = dict(os.environ, SIMCSEPP_COLLECTIVE_TIMEOUT_S=str(timeout_s), OMP_NUM_THREADS="1")
    cmd = MPIRUN + ["-np", "2", BIN, "--gtest_also_run_disabled_tests",
                    "--gtest_filter=FaultInjection.DISABLED_" + name]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def check(cond, what, output):
    if not cond:
        print("FAIL:", what, "\n--- output ---\n", output[-4000:])
        sys.exit(1)


def main():
    host = socket.gethostname()

    rc, out, took = run_case("StuckRankTimesOut")
    check(rc != 0, "stuck rank: job must fail", out)
    check("has not completed after" in out and "all_reduce" in out, "stuck rank: timeout message", out)
    check("rank 0/2 on " + host in out, "stuck rank: message names rank and host", out)
    check(took < 40, f"stuck rank: ended after {took:.1f} s, expected about the 3 s timeout", out)
    print(f"stuck rank: aborted after {took:.1f} s")

    rc, out, took = run_case("DeadRankEndsJob")
    check(rc != 0, "dead rank: job must fail", out)
    # mpirun ends the job and names the rank that died (the last, 1 of 2) and its exit code (7).
    # "Process name: [[job,1],RANK]" then "Exit code: N"
    dead = re.search(r"Process name:\s*\[.*,(\d+)\]\s*\n\s*Exit code:\s*(\d+)", out)
    check(dead is not None, "dead rank: the job's end reports the process that died", out)
    check(dead.groups() == ("1", "7"), f"dead rank: reported rank {dead.group(1)} exit {dead.group(2)}, "
          "want rank 1 exit 7", out)
    check(took < 40, f"dead rank: ended after {took:.1f} s", out)
    print(f"dead rank: job ended after {took:.1f} s, rank {dead.group(1)} reported with exit code {dead.group(2)}")

    # The NCCL rendezvous needs no GPU, only an NCCL build.
    if os.environ.get("SIMCSEPP_HAVE_NCCL") == "ON":
        rc, out, took = run_case("NcclBootstrapRootNeverJoins")
        check(rc != 0, "nccl bootstrap: job must fail", out)
        check("broadcast of the NCCL unique id from rank 0" in out and "has not completed after" in out,
              "nccl bootstrap: timeout message names the root", out)
        check("rank 1/2 on " + host in out, "nccl bootstrap: message names the waiting rank and host", out)
        check(took < 40, f"nccl bootstrap: ended after {took:.1f} s, expected about the 3 s timeout", out)
        print(f"nccl bootstrap, root never joins: aborted after {took:.1f} s")
    else:
        print("nccl bootstrap: NOT TESTED (this build has no NCCL)")

    rc, out, took = run_case("DivergenceAborts", timeout_s=30)
    check(rc != 0, "divergence: job must fail", out)
    check("parameters diverged" in out and "'encoder.layer.0.weight'" in out and "after update 1" in out,
          "divergence: message names the parameter and update", out)
    print(f"divergence: aborted after {took:.1f} s")
    print("PASS")


if __name__ == "__main__":
    main()
