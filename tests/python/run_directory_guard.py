"""A run directory belongs to one run (trainer/run_directory.h), and a run that never scores
finitely does not pass for a success; every case through the built `simcsepp train`:
1. identity: a run records RUN/run.json (run id, options/corpus fingerprints, model shape, global
   batch) and its checkpoints carry the same run id;
2. a second fresh start in that directory is refused with a HINT, and leaves best/, model/,
   metrics.jsonl and the checkpoints byte for byte as they were; --overwrite removes them first
   and starts a new run (new run id, only the new run's lines in metrics.jsonl);
3. resuming checks before any step: another corpus, another model shape, another global batch, a
   checkpoint of another run directory, a step beyond --max-steps - each refused naming the
   checkpoint; --resume auto with every checkpoint corrupt stops with an error (no silent step 0);
4. leftovers of interrupted writes (checkpoints/*.ckpt.tmp.*, best.tmp, preempted.json.tmp) are
   removed at start, and a best/ lost between its two renames is restored from best.old;
5. never a finite dev score (learning rate 1e30: the first update blows the weights up): exit 1,
   the message says so, the final checkpoint is kept, no model exported; an STS-B dev file with
   no rankable pairs is refused before any work;
6. SIGINT (Ctrl-C) is handled like SIGTERM: checkpoint within two step boundaries, exit 42."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from tiny_train_fixture import (BIN, Checks, checkpoints, failed_tail, make_model, prep_corpus,
                                read_checkpoint_tensors, records, run, sts_dev, wiki_lines)

check = Checks()


def tree_digest(run_dir, names=("best", "model", "metrics.jsonl", "checkpoints", "run.json", "summary.json")):
    """sha256 over every file under the given entries of run_dir (paths and contents)."""
    h = hashlib.sha256()
    for name in names:
        top = os.path.join(run_dir, name)
        paths = [top] if os.path.isfile(top) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs)
        for p in paths:
            h.update(os.path.relpath(p, run_dir).encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def refused(r, *needles):
    return r.returncode == 1 and all(n in r.stderr for n in needles)


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_run_dir_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))
        other_corpus = prep_corpus(tmp, "corpus2", wiki_lines(200)[40:])
        dev = sts_dev(tmp)
        base = ["--model", model, "--corpus", corpus, "--sts-dev", dev, "--batch-size", "8", "--device", "cpu",
                "--comm", "single", "--metrics-port", "0", "--no-eval-at-start", "--lr", "1e-4"]
        train = base + ["--max-steps", "6", "--checkpoint-every", "2", "--eval-every", "3"]

        # 1. identity
        a = os.path.join(tmp, "run_a")
        r = run(["train", "--run-dir", a] + train)
        check(r.returncode == 0, "run A exits 0" + failed_tail(r))
        ident = json.load(open(os.path.join(a, "run.json")))
        check(len(ident["run_id"]) == 16 and ident["global_batch"] == 8 and ident["model"]["hidden_size"] == 32,
              f"run.json records run id, global batch and model shape: {ident}")
        meta, _ = read_checkpoint_tensors(os.path.join(a, "checkpoints", checkpoints(a)[-1]))
        check(meta["config"]["run"]["identity"]["run_id"] == ident["run_id"],
              "the checkpoints carry the run id of run.json")

        # 2. a second fresh start is refused and changes nothing; --overwrite starts a new run
        before = tree_digest(a)
        r = run(["train", "--run-dir", a] + train)
        check(refused(r, "holds run " + ident["run_id"], "HINT", "--overwrite"),
              "a fresh start into run A's directory is refused, naming the run and --overwrite" + failed_tail(r))
        r2 = run(["train", "--run-dir", a] + [x if x != "1e-4" else "2e-4" for x in train])
        check(refused(r2, "holds run " + ident["run_id"]), "also with other options" + failed_tail(r2))
        check(tree_digest(a) == before, "the refused starts left run A's files byte for byte unchanged")
        check(not os.path.exists(os.path.join(a, "run.json.tmp")), "and wrote nothing")
        r = run(["train", "--run-dir", a, "--overwrite", "--resume", "auto"] + train)
        check(refused(r, "--overwrite"), "--overwrite with --resume is refused" + failed_tail(r))
        c = os.path.join(tmp, "run_c")
        shutil.copytree(a, c)
        r = run(["train", "--run-dir", c, "--overwrite", "--max-steps", "2"] + train[:-6] +
                ["--checkpoint-every", "2", "--eval-every", "0"])
        check(r.returncode == 0, "--overwrite starts afresh" + failed_tail(r))
        new = json.load(open(os.path.join(c, "run.json")))
        check(new["run_id"] != ident["run_id"], "with a new run id")
        steps = [x["step"] for x in records(c, "step")]
        check(steps == [1, 2] and checkpoints(c) == ["step-00000002.ckpt"],
              f"and only the new run's steps and checkpoints remain: steps {steps}, {checkpoints(c)}")

        # 3. resume checks, each before any step
        ck = lambda d, s: os.path.join(d, "checkpoints", "step-%08d.ckpt" % s)  # noqa: E731
        n_lines = len(records(a))
        cases = [
            ("another corpus", ["--run-dir", a, "--resume", "auto"] + [x if x != corpus else other_corpus for x in train],
             ["another corpus"]),
            ("another global batch", ["--run-dir", a, "--resume", "auto"] + [x if x != "8" else "4" for x in train],
             ["global batch of 8", "HINT"]),
            ("a step beyond --max-steps", ["--run-dir", a, "--resume", ck(a, 6)] + train[:-6] +
             ["--max-steps", "4", "--checkpoint-every", "2"], ["beyond this run's 4 steps", "--max-steps"]),
            ("another run directory's checkpoint", ["--run-dir", os.path.join(tmp, "fresh"), "--resume", ck(a, 4)] + train,
             ["belongs to run " + ident["run_id"], "--run-dir " + a]),
        ]
        for what, args, needles in cases:
            r = run(["train"] + args)
            check(refused(r, *needles) and "step 1/" not in r.stderr,
                  f"resume with {what} is refused up front" + failed_tail(r) + ("" if r.returncode else r.stderr[-300:]))
        other_model = make_model(os.path.join(tmp, "model_wide"), hidden=64)
        r = run(["train", "--run-dir", a, "--resume", "auto"] + [x if x != model else other_model for x in train])
        check(refused(r, "another model shape"), "resume with another model shape is refused" + failed_tail(r))
        check(len(records(a)) == n_lines and tree_digest(a) == before, "no refused resume touched run A")
        check(not os.path.exists(os.path.join(tmp, "fresh", "run.json")), "the other directory was not claimed")

        bad = os.path.join(tmp, "run_bad")
        shutil.copytree(a, bad)
        for f in checkpoints(bad):
            p = os.path.join(bad, "checkpoints", f)
            data = bytearray(open(p, "rb").read())
            data[len(data) // 2] ^= 0xFF
            open(p, "wb").write(bytes(data))
        r = run(["train", "--run-dir", bad, "--resume", "auto"] + train)
        check(refused(r, "every checkpoint in the run directory is corrupt", "HINT"),
              "--resume auto with every checkpoint corrupt stops with an error" + failed_tail(r))
        check(len(records(bad)) == n_lines, "and trained nothing over the old results")

        # 4. leftovers removed, best/ restored; the run continues (resume auto at step 6 of 6:
        # nothing left to train, the final evaluation and export run again)
        d = os.path.join(tmp, "run_leftovers")
        shutil.copytree(a, d)
        leftovers = [os.path.join(d, "checkpoints", "step-00000008.ckpt.tmp.4242"), os.path.join(d, "preempted.json.tmp")]
        for p in leftovers:
            open(p, "w").write("partial")
        os.makedirs(os.path.join(d, "best.tmp"))
        leftovers.append(os.path.join(d, "best.tmp"))
        best_digest = tree_digest(d, ("best",))
        os.rename(os.path.join(d, "best"), os.path.join(d, "best.old"))
        r = run(["train", "--run-dir", d, "--resume", "auto"] + train)
        check(r.returncode == 0, "the run with leftovers resumes" + failed_tail(r))
        check(not any(os.path.exists(p) for p in leftovers), "leftover temp files are removed at start")
        check(os.path.isdir(os.path.join(d, "best")) and not os.path.exists(os.path.join(d, "best.old")),
              "best/ is restored from best.old")
        check(tree_digest(d, ("best",)) == best_digest, "with its contents")

        # 5. never a finite dev score
        nan = os.path.join(tmp, "run_nan")
        r = run(["train", "--run-dir", nan] + [x if x != "1e-4" else "1e30" for x in base] +
                ["--max-steps", "1", "--eval-every", "0"])
        check(r.returncode == 1 and "no STS-B dev evaluation of this run gave a finite score" in r.stderr,
              "a run that never scores finitely exits 1 and says so" + failed_tail(r))
        check(checkpoints(nan) == ["step-00000001.ckpt"], f"its last state is checkpointed: {checkpoints(nan)}")
        check(not os.path.exists(os.path.join(nan, "model")), "and no model is exported")
        one = os.path.join(tmp, "sts-one-score.csv")
        with open(dev) as f:
            rows = [line.split("\t") for line in f.readlines()[:20]]
        open(one, "w").writelines("\t".join(x[:4] + ["3.0"] + x[5:]) for x in rows)
        empty = os.path.join(tmp, "sts-empty.csv")
        open(empty, "w").close()
        for path in (one, empty):
            r = run(["train", "--run-dir", os.path.join(tmp, "run_dev")] + [x if x != dev else path for x in train])
            check(refused(r, "no two different gold scores", path), f"{os.path.basename(path)} is refused up front"
                  + failed_tail(r))

        # 6. SIGINT: checkpoint at the next step boundary, exit 42
        s = os.path.join(tmp, "run_sigint")
        hold = os.path.join(tmp, "hold")
        open(hold + ".2", "w").close()
        env = dict(os.environ, SIMCSEPP_TEST_HOLD_FILE=hold)
        p = subprocess.Popen([BIN, "train", "--run-dir", s] + base + ["--max-steps", "50", "--eval-every", "0"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while not (os.path.exists(os.path.join(s, "metrics.jsonl")) and
                   any(x["step"] == 2 for x in records(s, "step"))) and time.time() - t0 < 120 and p.poll() is None:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
        os.remove(hold + ".2")
        out, err = p.communicate(timeout=120)
        check(p.returncode == 42, f"SIGINT: exit 42 (rc {p.returncode}) " + err[-300:])
        pre = [x for x in records(s, "checkpoint") if x.get("reason") == "preempted"]
        # The stop request joins the next update's flag all-reduce, whose result is read one
        # update late (no host sync in the step): the run stops within two updates of the signal.
        check(len(pre) == 1 and pre[0]["step"] in (3, 4), f"one preemption checkpoint within two steps: {pre}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("run directory")


if __name__ == "__main__":
    main()
