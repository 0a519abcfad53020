"""SIMCSEPP_FORCE_COLLECTIVES=1 through `simcsepp train` (cluster/bootstrap.h): a world of one
that takes the multi-rank paths - gradient buckets all-reduced from backward hooks, the autograd
all-gather of negatives and DCL statistics - trains exactly as the plain world of one (losses
and final weights bit for bit, with the MPI communicator under mpirun -np 1 and the
single-process one), says so in its log, and a value other than 0/1 is refused. On a GPU the
device check runs the same switch over NCCL (scripts/device-check.sh, train stage)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trainer_run import BIN, DATA, VOCAB, check, failures, losses, make_model, read_ckpt  # noqa: E402

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "1"]


def train(args, force=None, mpirun=False):
    env = dict(os.environ)
    env.pop("SIMCSEPP_FORCE_COLLECTIVES", None)
    if force is not None:
        env["SIMCSEPP_FORCE_COLLECTIVES"] = force
    cmd = (MPIRUN if mpirun else []) + [BIN, "train"] + args
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def main():
    with tempfile.TemporaryDirectory(prefix="simcsepp_forced_") as tmp:
        model = make_model(os.path.join(tmp, "model"))
        corpus_txt = os.path.join(tmp, "corpus.txt")
        with open(os.path.join(DATA, "corpus", "wiki1m_head.txt")) as f, open(corpus_txt, "w") as out:
            out.writelines(f.readlines()[:200])
        corpus = os.path.join(tmp, "corpus")
        r = subprocess.run([BIN, "prep", "-i", corpus_txt, "-o", corpus, "--vocab", VOCAB, "--max-len", "32",
                            "--no-progress"], capture_output=True, text=True)
        check(r.returncode == 0, "prep: " + r.stderr[-300:])
        common = ["--model", model, "--corpus", corpus, "--batch-size", "16", "--max-steps", "4",
                  "--eval-every", "0", "--checkpoint-every", "4", "--sts-dev",
                  os.path.join(DATA, "sts", "STSBenchmark", "sts-dev.csv"), "--no-export",
                  "--objective", "simcse++", "--lr", "1e-3", "--device", "cpu", "--metrics-port", "0"]
        for comm, mpirun in (("mpi", True), ("single", False)):
            runs = {}
            for force in (None, "1"):
                d = os.path.join(tmp, f"{comm}_{force or 'plain'}")
                r = train(common + ["--comm", comm, "--run-dir", d], force, mpirun)
                check(r.returncode == 0, f"{comm} force={force} exits 0: " + r.stderr[-400:])
                said = "SIMCSEPP_FORCE_COLLECTIVES=1 (test-only)" in r.stderr
                check(said == (force == "1"), f"{comm} force={force}: the log names the forced paths: {said}")
                runs[force] = d
            la, lb = losses(runs[None]), losses(runs["1"])
            check(len(la) == 4 and la == lb, f"{comm}: forced losses equal plain bit for bit: {la} vs {lb}")
            _, wa = read_ckpt(os.path.join(runs[None], "checkpoints", "step-00000004.ckpt"))
            _, wb = read_ckpt(os.path.join(runs["1"], "checkpoints", "step-00000004.ckpt"))
            same = wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
            check(same and len(wa) > 10, f"{comm}: forced final weights equal plain bit for bit ({len(wa)} tensors)")

        r = train(common + ["--comm", "single", "--run-dir", os.path.join(tmp, "bad")], "2")
        check(r.returncode == 1 and "SIMCSEPP_FORCE_COLLECTIVES='2' is not 0 or 1" in r.stderr,
              f"a value other than 0/1 is refused (exit {r.returncode}): {r.stderr[-300:]}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
