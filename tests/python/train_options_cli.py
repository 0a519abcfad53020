"""`simcsepp train` options that change what a run does, each checked from its outputs:
1. --epochs (with --max-steps 0): ceil(epochs x steps per epoch) updates;
2. --grad-accum A: an update consumes A micro-batches (A times fewer updates per epoch) and its
   loss is the mean of the A micro-batch losses - with the weights frozen (lr 1e-30), update k of
   an A=2 run has the mean loss of steps 2k-1 and 2k of an A=1 run on the same data order;
3. --keep-checkpoints K: only the K newest step-*.ckpt files remain;
4. --resume FILE: a run resumed from its own older checkpoint retrains the steps after it exactly
   (same losses, same final parameters); another run directory's checkpoint is refused;
5. a checkpoint written by 1 rank is resumed by a 2-rank job (mpirun) with the same global batch;
6. --grad-comm-dtype bf16 (2 ranks): the run trains, its first loss equals the fp32 run's (same
   forward), its parameters differ from the fp32 run's (the averaged gradients were rounded to
   bf16: the wire really is bf16; the reduction itself is checked in test_cluster_mpi); a dtype
   other than fp32/bf16 is refused naming the option;
7. --cuda-graphs on, on a CPU: the step stays eager, the log's warning says why (CUDA), the run's
   losses and final parameters are bit-identical to the run without it, the config records it;
   a value other than on/off is refused naming the option;
8. --off-dropout-call fused: the run trains with the separate calls' losses (fp32: within 1e-5
   relative over 4 updates; the views are the same, model.FusedOffDropout.*), the config records
   it, a value other than separate/fused is refused naming the option."""
import os
import shlex
import shutil
import tempfile

import numpy as np

from tiny_train_fixture import (Checks, checkpoints, failed_tail, make_model, prep_corpus, read_checkpoint_tensors,
                                records, run, step_losses, sts_dev, wiki_lines)

check = Checks()
MPIRUN = shlex.split(os.environ.get("SIMCSEPP_MPIRUN", "mpirun --allow-run-as-root --oversubscribe"))


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_train_options_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))  # 20 micro-batches of 8 per epoch
        dev = sts_dev(tmp)
        base = ["--model", model, "--corpus", corpus, "--sts-dev", dev, "--batch-size", "8", "--device", "cpu",
                "--comm", "single", "--metrics-port", "0", "--no-export", "--no-eval-at-start", "--eval-every", "0"]

        # 1. --epochs 1.5 over 20 steps per epoch -> ceil(30) updates.
        d = os.path.join(tmp, "epochs")
        r = run(["train", "--run-dir", d, "--max-steps", "0", "--epochs", "1.5"] + base)
        check(r.returncode == 0, "--epochs run exits 0" + failed_tail(r))
        steps = sorted(step_losses(d)) if r.returncode == 0 else []
        check(steps == list(range(1, 31)), f"--epochs 1.5 ran 30 updates, got {len(steps)}")
        check("for 30 steps (20 per epoch)" in r.stderr, "the log names 30 steps, 20 per epoch")

        # 2. --grad-accum 2, weights frozen by a 1e-30 learning rate (lr must be > 0).
        frozen = ["--lr", "1e-30", "--max-steps", "0", "--epochs", "1"]
        d1, d2 = os.path.join(tmp, "accum1"), os.path.join(tmp, "accum2")
        r1 = run(["train", "--run-dir", d1] + frozen + base)
        r2 = run(["train", "--run-dir", d2, "--grad-accum", "2"] + frozen + base)
        check(r1.returncode == 0 and r2.returncode == 0, "frozen runs exit 0" + failed_tail(r1) + failed_tail(r2))
        l1, l2 = step_losses(d1), step_losses(d2)
        check(len(l1) == 20 and len(l2) == 10, f"1 epoch: 20 updates without, 10 with --grad-accum 2 ({len(l1)}, {len(l2)})")
        check("global batch 16" in r2.stderr, "--grad-accum 2 x batch 8 announces a global batch of 16")
        if len(l1) == 20 and len(l2) == 10:
            want = np.array([(l1[2 * k - 1] + l1[2 * k]) / 2 for k in range(1, 11)])
            got = np.array([l2[k] for k in range(1, 11)])
            err = np.max(np.abs(got - want) / np.abs(want))
            # Same fp32 losses summed in another order: rounding only (~1e-7).
            check(err < 1e-5, f"accumulated loss = mean of its 2 micro-batch losses (max rel err {err:.2e})")
            check(np.ptp(np.array(list(l1.values()))) > 1e-3, "the micro-batch losses differ (the check is not vacuous)")

        # 3. + 4. Run A: 8 updates, a checkpoint every 2, keep 2.
        train = base + ["--lr", "1e-4", "--max-steps", "8", "--checkpoint-every", "2"]
        a = os.path.join(tmp, "run_a")
        r = run(["train", "--run-dir", a, "--keep-checkpoints", "2"] + train)
        check(r.returncode == 0, "run A exits 0" + failed_tail(r))
        check(checkpoints(a) == ["step-00000006.ckpt", "step-00000008.ckpt"],
              f"--keep-checkpoints 2 keeps the 2 newest of 2,4,6,8: {checkpoints(a)}")
        older = os.path.join(tmp, "older-step-6.ckpt")
        shutil.copy(os.path.join(a, "checkpoints", "step-00000006.ckpt"), older)

        # 4. --resume FILE continues its own run from an older checkpoint: steps 7-8 again, the
        # same losses and parameters as the first time; into another directory it is refused
        # (a checkpoint belongs to its run directory, trainer/run_directory.h).
        la = step_losses(a)
        _, pa = read_checkpoint_tensors(os.path.join(a, "checkpoints", "step-00000008.ckpt"))
        b = os.path.join(tmp, "run_b")
        r = run(["train", "--run-dir", b, "--resume", older] + train)
        check(r.returncode == 1 and "belongs to run" in r.stderr and "--run-dir " + a in r.stderr,
              "--resume FILE of another run directory is refused, naming that directory" + failed_tail(r))
        r = run(["train", "--run-dir", a, "--resume", older] + train)
        check(r.returncode == 0 and f"resumed from {older} at step 6" in r.stderr,
              "--resume FILE resumes run A from that file" + failed_tail(r))
        lb = step_losses(a)
        check(all(lb[s] == la[s] for s in (7, 8)) and len([x for x in records(a, "step") if x["step"] == 7]) == 2,
              f"the resumed run retrains steps 7-8 exactly: first {[la.get(s) for s in (7, 8)]} again "
              f"{[lb.get(s) for s in (7, 8)]}")
        _, pb = read_checkpoint_tensors(os.path.join(a, "checkpoints", "step-00000008.ckpt"))
        names = [k for k in pa if k.startswith("model/")]
        check(len(names) > 10 and all(np.array_equal(pa[k], pb[k]) for k in names),
              f"identical final parameters ({len(names)} tensors)")

        # 5. 1-rank checkpoint, 2-rank job (same global batch: 2 x 4).
        r = run(["train", "--run-dir", a, "--resume", older] +
                [x if x != "single" else "mpi" for x in train[:train.index("--batch-size")]] + ["--batch-size", "4"] +
                [x if x != "single" else "mpi" for x in train[train.index("--batch-size") + 2:]],
                prefix=MPIRUN + ["-np", "2"])
        # Resharded resume (issue 16.1; equivalence in python.train_reshard_resume): accepted.
        resumed = r.returncode == 0 and "continues the order of 1 rank(s) x 8 rows" in r.stderr
        check(resumed, f"2-rank job resumes a 1-rank checkpoint with the same global batch (rc {r.returncode})"
              + ("" if resumed else ": " + r.stderr[-400:]))

        # 6. --grad-comm-dtype: 2 ranks x 4, 6 updates, final checkpoint compared.
        two = [x if x != "single" else "mpi" for x in base[:base.index("--batch-size")]] + ["--batch-size", "4"] + \
              [x if x != "single" else "mpi" for x in base[base.index("--batch-size") + 2:]] + ["--max-steps", "6"]
        finals = {}
        for dtype in ("fp32", "bf16"):
            d = os.path.join(tmp, "comm_" + dtype)
            r = run(["train", "--run-dir", d, "--grad-comm-dtype", dtype] + two, prefix=MPIRUN + ["-np", "2"])
            check(r.returncode == 0, f"--grad-comm-dtype {dtype} 2-rank run exits 0" + failed_tail(r))
            if r.returncode == 0:
                finals[dtype] = (step_losses(d), read_checkpoint_tensors(os.path.join(d, "checkpoints", checkpoints(d)[-1]))[1])
                config = records(d, "config")[0]
                check(config.get("grad_comm_dtype") == dtype, f"metrics.jsonl config records grad_comm_dtype {dtype}")
        if len(finals) == 2:
            (l32, p32), (l16, p16) = finals["fp32"], finals["bf16"]
            check(l32[1] == l16[1], f"step 1 loss is the same forward in both ({l32[1]} vs {l16[1]})")
            names = [k for k in p32 if k.startswith("model/")]
            differ = [k for k in names if not np.array_equal(p32[k], p16[k])]
            check(len(names) > 10 and differ, f"bf16 gradients change the parameters ({len(differ)} of {len(names)} differ)")
        r = run(["train", "--run-dir", os.path.join(tmp, "comm_bad"), "--grad-comm-dtype", "fp16"] + base)
        check(r.returncode == 1 and "--grad-comm-dtype" in r.stderr and "bf16" in r.stderr,
              "--grad-comm-dtype fp16 is refused naming the option" + failed_tail(r))

        # 7. --cuda-graphs on a CPU: eager, said, identical.
        runs = {}
        for graphs in ("off", "on"):
            d = os.path.join(tmp, "graphs_" + graphs)
            r = run(["train", "--run-dir", d, "--cuda-graphs", graphs, "--max-steps", "4"] + base)
            check(r.returncode == 0, f"--cuda-graphs {graphs} on a CPU exits 0" + failed_tail(r))
            if r.returncode == 0:
                runs[graphs] = (step_losses(d), read_checkpoint_tensors(os.path.join(d, "checkpoints", checkpoints(d)[-1]))[1],
                                r.stderr)
                check(records(d, "config")[0].get("cuda_graphs") == graphs, f"metrics.jsonl config records cuda_graphs {graphs}")
        if len(runs) == 2:
            (l_off, p_off, _), (l_on, p_on, log_on) = runs["off"], runs["on"]
            said = [line for line in log_on.splitlines() if "--cuda-graphs on: the step stays eager" in line]
            check(said and "CUDA" in said[0], "the log says why the step stays eager: " + (said[0] if said else "(no line)"))
            check(l_off == l_on, f"losses bit-identical with and without --cuda-graphs on a CPU ({l_off} vs {l_on})")
            names = [k for k in p_off if k.startswith("model/")]
            same = all(np.array_equal(p_off[k], p_on[k]) for k in names)
            check(len(names) > 10 and same, "final parameters bit-identical with and without --cuda-graphs on a CPU")
        r = run(["train", "--run-dir", os.path.join(tmp, "graphs_bad"), "--cuda-graphs", "yes"] + base)
        check(r.returncode == 1 and "--cuda-graphs" in r.stderr and "off" in r.stderr,
              "--cuda-graphs yes is refused naming the option" + failed_tail(r))

        # 8. --off-dropout-call fused: the same training, in one encoder call.
        d = os.path.join(tmp, "fused_call")
        r = run(["train", "--run-dir", d, "--off-dropout-call", "fused", "--max-steps", "4"] + base)
        check(r.returncode == 0, "--off-dropout-call fused exits 0" + failed_tail(r))
        if r.returncode == 0 and "off" in runs:
            fused, separate = step_losses(d), runs["off"][0]
            worst = max(abs(fused[k] - separate[k]) / abs(separate[k]) for k in separate)
            check(sorted(fused) == sorted(separate) and worst <= 1e-5,
                  f"fused-call losses equal the separate calls' (worst relative difference {worst:.2e})")
            check(records(d, "config")[0].get("off_dropout_call") == "fused", "metrics.jsonl config records off_dropout_call fused")
        r = run(["train", "--run-dir", os.path.join(tmp, "fused_bad"), "--off-dropout-call", "one"] + base)
        check(r.returncode == 1 and "--off-dropout-call" in r.stderr and "fused" in r.stderr,
              "--off-dropout-call one is refused naming the option" + failed_tail(r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("train option")


if __name__ == "__main__":
    main()
