"""The global batches of a resumed run (issue 16 point 1), end to end with the CLI under mpirun,
dropout on: row ids logged by every rank (SIMCSEPP_TEST_BATCH_ROWS) are compared with an
uninterrupted 3-rank run's.

The reference is 3 ranks x batch 4 (global 12) on a 120-row corpus, 10 updates per epoch, for 16
updates (so epoch 1 starts at update 11). Each case SIGKILLs the same 3-rank run after update 7
(checkpoint at 6) and resumes it with --resume auto:

1. on 2 ranks and on 1 rank, same global batch: every update's global batch (its ranks' rows in
   rank order) equals the reference's, before and after the epoch boundary (later epochs keep the
   3-rank layout);
2. on 3 ranks with --grad-accum 2 (the per-rank batch 2 derived from the global batch 12): each
   update's two micro-batches together are the reference update's rows, in order;
3. on 2 ranks x batch 3 with --allow-batch-change (global 6): a warning; the epoch in progress
   continues the reference's order from row 72 (6 x 12), 6 rows per update, to its end; the
   schedule continues by update count (learning rate per update equal to the reference's, the
   run still ends at update 16); run.json records the new global batch.
A control shows the comparison can fail: the reference's rows shifted by one update differ.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from trainer_run import BIN, DATA, VOCAB, check, failures, make_model  # noqa: E402

STEPS, CKPT, KILL = 16, 6, 7


def mpirun(np_, args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", str(np_), BIN, "train"]
    return subprocess.run(cmd + args, env=e, capture_output=True, text=True, timeout=600)


def batch_rows(prefix, world):
    """{(update, micro): rows of the global micro-batch, ranks in order} from PREFIX.<rank>."""
    per_rank = []
    for rank in range(world):
        got = {}
        with open(f"{prefix}.{rank}") as f:
            for line in f:
                v = [int(x) for x in line.split()]
                got[(v[0], v[1])] = (v[2], v[4:])  # a resumed run re-logs the updates after its checkpoint
        per_rank.append(got)
    return {k: (per_rank[0][k][0], [r for g in per_rank for r in g[k][1]]) for k in per_rank[0]}


def update_rows(rows, update):
    """The rows of one update: its micro-batches' global batches in order."""
    out = []
    micro = 0
    while (update, micro) in rows:
        out += rows[(update, micro)][1]
        micro += 1
    return out


def step_lrs(run_dir):
    lrs = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "step":
                lrs[r["step"]] = r["lr"]
    return lrs


def main():
    with tempfile.TemporaryDirectory(prefix="simcsepp_reshard_rows_") as tmp:
        model = make_model(os.path.join(tmp, "model"))  # dropout 0.1: the batches, not the losses, are compared
        corpus_txt = os.path.join(tmp, "corpus.txt")
        with open(os.path.join(DATA, "corpus", "wiki1m_head.txt")) as f, open(corpus_txt, "w") as out:
            out.writelines(f.readlines()[:120])
        corpus = os.path.join(tmp, "corpus")
        r = subprocess.run([BIN, "prep", "-i", corpus_txt, "-o", corpus, "--vocab", VOCAB, "--max-len", "32",
                            "--shard-rows", "40", "--no-progress"], capture_output=True, text=True)
        check(r.returncode == 0, "prep: " + r.stderr[-300:])
        common = ["--model", model, "--corpus", corpus, "--max-steps", str(STEPS), "--eval-every", "0",
                  "--checkpoint-every", str(CKPT), "--sts-dev", os.path.join(DATA, "sts", "STSBenchmark", "sts-dev.csv"),
                  "--no-export", "--lr", "1e-3", "--warmup-steps", "2", "--device", "cpu", "--comm", "mpi",
                  "--metrics-port", "0"]
        ref = os.path.join(tmp, "ref")
        r = mpirun(3, common + ["--batch-size", "4", "--run-dir", ref], {"SIMCSEPP_TEST_BATCH_ROWS": ref + ".rows"})
        check(r.returncode == 0, "reference W=3 run: " + r.stderr[-500:])
        ref_rows = batch_rows(ref + ".rows", 3)
        ref_lr = step_lrs(ref)
        check(sorted(ref_rows) == [(u, 0) for u in range(1, STEPS + 1)] and ref_rows[(11, 0)][0] == 1
              and ref_rows[(10, 0)][0] == 0, "the reference logs 16 updates, epoch 1 from update 11")
        epoch0 = [row for u in range(1, 11) for row in update_rows(ref_rows, u)]
        check(sorted(epoch0) == list(range(120)), "the reference's epoch 0 reads every row once")
        control = all(update_rows(ref_rows, u) == update_rows(ref_rows, u + 1) for u in range(KILL, STEPS))
        check(not control, "control: consecutive updates have other rows (the comparison can fail)")

        def killed(name):
            d = os.path.join(tmp, name)
            r = mpirun(3, common + ["--batch-size", "4", "--run-dir", d], {"SIMCSEPP_TEST_KILL_AFTER_STEP": str(KILL)})
            check(r.returncode != 0 and os.path.isfile(os.path.join(d, "checkpoints", f"step-{CKPT:08d}.ckpt")),
                  f"{name}: W=3 run killed after update {KILL} with a checkpoint at {CKPT} (rc {r.returncode})")
            return d

        # 1. Same global batch on 2 and 1 ranks.
        for world in (2, 1):
            d = killed(f"w{world}")
            r = mpirun(world, common + ["--batch-size", "4", "--run-dir", d, "--resume", "auto"],
                       {"SIMCSEPP_TEST_BATCH_ROWS": d + ".rows"})
            check(r.returncode == 0 and "later epochs keep that layout" in r.stderr,
                  f"W'={world} resumes keeping the 3-rank layout: " + r.stderr[-400:])
            got = batch_rows(d + ".rows", world)
            same = [u for u in range(KILL, STEPS + 1) if update_rows(got, u) == update_rows(ref_rows, u)]
            check(same == list(range(KILL, STEPS + 1)),
                  f"W'={world}: updates {KILL}..{STEPS} have the reference's global batches (equal: {same})")

        # 2. Same W, --grad-accum 2: the per-rank batch 2 is derived, two micro-batches per update.
        d = killed("accum")
        r = mpirun(3, common + ["--batch-size", "4", "--grad-accum", "2", "--run-dir", d, "--resume", "auto"],
                   {"SIMCSEPP_TEST_BATCH_ROWS": d + ".rows"})
        check(r.returncode == 0 and "--batch-size 2 per rank (given 4)" in r.stderr,
              "--grad-accum 2 resumes with the derived per-rank batch 2: " + r.stderr[-400:])
        got = batch_rows(d + ".rows", 3)
        same = [u for u in range(KILL, STEPS + 1)
                if (u, 1) in got and update_rows(got, u) == update_rows(ref_rows, u)]
        check(same == list(range(KILL, STEPS + 1)),
              f"--grad-accum 2: each update's two micro-batches are the reference update's rows (equal: {same})")

        # 3. --allow-batch-change to a global batch of 6.
        d = killed("changed")
        r = mpirun(2, common + ["--batch-size", "3", "--allow-batch-change", "--run-dir", d, "--resume", "auto"],
                   {"SIMCSEPP_TEST_BATCH_ROWS": d + ".rows"})
        check(r.returncode == 0 and "the global batch changes from 12 to 6" in r.stderr,
              "--allow-batch-change resumes with a warning: " + r.stderr[-400:])
        got = batch_rows(d + ".rows", 2)
        left = (120 - CKPT * 12) // 6  # updates 7..14 finish epoch 0
        cont = [row for u in range(CKPT + 1, CKPT + 1 + left) for row in update_rows(got, u)]
        check(cont == epoch0[CKPT * 12:] and got[(CKPT + left, 0)][0] == 0 and got[(CKPT + left + 1, 0)][0] == 1,
              f"the epoch in progress continues the reference's order from row {CKPT * 12}, 6 rows per update, "
              f"to its end at update {CKPT + left}")
        lrs = step_lrs(d)
        check(max(lrs) == STEPS and all(abs(lrs[u] - ref_lr[u]) <= 1e-12 * ref_lr[u] for u in range(KILL, STEPS + 1)),
              f"the schedule continues by update count: lr equals the reference's at updates {KILL}..{STEPS}")
        identity = json.load(open(os.path.join(d, "run.json")))
        check(identity["global_batch"] == 6, f"run.json records the new global batch ({identity['global_batch']})")
    print("FAILED:" if failures else "all reshard batch checks passed", *failures, sep="\n  ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
