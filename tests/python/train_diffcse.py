"""`simcsepp train --objective diffcse++ --generator DIR` end to end on CPU (issue 18), on the default
corpus (../shared/data/corpus, prepared here), with a tiny random BERT encoder and a tiny random
DistilBertForMaskedLM generator made here:

1. trains, logs the RTD loss and accuracy per step (finite, accuracy in [0, 1]) and plots them in
   the run report, checkpoints the discriminator with the encoder, and exports a model directory that holds no discriminator or
   generator tensor and loads in transformers;
2. resume: a run SIGKILLed after step 4 (checkpoint at 3) and resumed with --resume auto gives the
   uninterrupted run's per-step losses and RTD losses and bit-identical final parameters,
   discriminator included (the masks are seeded by seed, rank and update; the dropout streams are
   restored) - and a run of another seed has other RTD losses (the comparison can fail);
3. the RTD part is really trained: the discriminator's parameters move, and with --rtd-weight 0
   the encoder's final weights differ from the default run's (the RTD gradient reaches the
   encoder through the sentence embedding);
3b. --projector batchnorm (DiffCSE's BatchNorm projector): trained, in the checkpoint, resumed
   bit-identically, not exported;
4. bad input, exit 1 before any work: no --generator, a generator with another vocabulary, diffcse
   with --chunk-size, supervised+rtd, the projector with --eval-pooler cls, an unknown projector.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_train_fixture import DATA, VOCAB, Checks, failed_tail, make_model, records, run, sts_dev  # noqa: E402
from trainer_run import read_ckpt  # noqa: E402

check = Checks()


def make_generator(path, vocab=30522):
    torch.manual_seed(5)
    g = DistilBertForMaskedLM(DistilBertConfig(vocab_size=vocab, dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                                               max_position_embeddings=64))
    g.save_pretrained(path, safe_serialization=True)
    return path


def main():
    with tempfile.TemporaryDirectory(prefix="simcsepp_diffcse_") as tmp:
        model = make_model(os.path.join(tmp, "model"))
        gen = make_generator(os.path.join(tmp, "generator"))
        # The default corpus (what scripts/demo.sh trains on): all of ../shared/data/corpus.
        corpus = os.path.join(tmp, "corpus")
        r = run(["prep", "-i", os.path.join(DATA, "corpus"), "-o", corpus, "--vocab", VOCAB, "--max-len", "32",
                 "--no-progress"])
        check(r.returncode == 0, "prep of the default corpus" + failed_tail(r))
        common = ["train", "--model", model, "--corpus", corpus, "--sts-dev", sts_dev(tmp), "--objective", "diffcse++",
                  "--generator", gen, "--batch-size", "8", "--max-steps", "6", "--eval-every", "3",
                  "--checkpoint-every", "3", "--lr", "1e-4", "--device", "cpu", "--comm", "single",
                  "--metrics-port", "0"]
        a = os.path.join(tmp, "a")
        r = run(common + ["--run-dir", a])
        check(r.returncode == 0, "diffcse++ trains" + failed_tail(r))
        steps = records(a, "step")
        rtd = [s.get("rtd_loss") for s in steps]
        acc = [s.get("rtd_accuracy") for s in steps]
        check(len(steps) == 6 and all(x is not None and np.isfinite(x) for x in rtd)
              and all(0 <= x <= 1 for x in acc), f"every step logs a finite RTD loss and accuracy: {rtd} {acc}")
        meta, wa = read_ckpt(os.path.join(a, "checkpoints", "step-00000006.ckpt"))
        disc = [k for k in wa if k.startswith("discriminator/")]
        check(len(disc) > 10 and "discriminator/head.weight" in wa, f"the checkpoint holds the discriminator ({len(disc)} tensors)")
        _, w3 = read_ckpt(os.path.join(a, "checkpoints", "step-00000003.ckpt"))
        moved = max(float(np.max(np.abs(wa[k] - w3[k]))) for k in disc)
        check(moved > 0, f"the discriminator is trained (moved {moved:.2e} between steps 3 and 6)")
        from safetensors.numpy import load_file
        exported = load_file(os.path.join(a, "model", "model.safetensors"))
        check(not any("discriminator" in k or "generator" in k or k.startswith("head.") for k in exported),
              f"the export holds only the encoder ({len(exported)} tensors)")
        page = open(os.path.join(a, "report.html")).read()
        import re
        ys = [float(y) for y in re.findall(r'<circle class="pt" data-series="rtd_loss" data-x="[^"]*" data-y="([^"]*)"', page)]
        check(ys == rtd, f"the run report plots the RTD loss of every step ({len(ys)} points)")
        from transformers import AutoModel
        m = AutoModel.from_pretrained(os.path.join(a, "model"))
        check(m is not None, "the exported model loads in transformers")

        # 2. Resume.
        b = os.path.join(tmp, "b")
        r = run(common + ["--run-dir", b], env={"SIMCSEPP_TEST_KILL_AFTER_STEP": "4"})
        check(r.returncode != 0 and os.path.isfile(os.path.join(b, "checkpoints", "step-00000003.ckpt")),
              f"a run killed after step 4 (rc {r.returncode})")
        r = run(common + ["--run-dir", b, "--resume", "auto"])
        check(r.returncode == 0, "it resumes" + failed_tail(r))
        by_step = {}
        for s in records(b, "step"):
            by_step[s["step"]] = (s["loss"], s["rtd_loss"])
        want = [(s["loss"], s["rtd_loss"]) for s in steps]
        got = [by_step[k] for k in sorted(by_step)]
        check(got == want, f"the resumed run logs the same losses and RTD losses: {got} vs {want}")
        _, wb = read_ckpt(os.path.join(b, "checkpoints", "step-00000006.ckpt"))
        same = all(np.array_equal(wa[k], wb[k]) for k in wa if k.startswith(("model/", "discriminator/")))
        check(same, "bit-identical final encoder and discriminator")
        c = os.path.join(tmp, "c")
        r = run(common + ["--run-dir", c, "--seed", "7"])
        check(r.returncode == 0 and [s["rtd_loss"] for s in records(c, "step")] != rtd,
              "control: another seed gives other RTD losses")

        # 3. The RTD gradient reaches the encoder.
        d = os.path.join(tmp, "d")
        r = run(common + ["--run-dir", d, "--rtd-weight", "0"])
        check(r.returncode == 0, "--rtd-weight 0 runs" + failed_tail(r))
        _, wd = read_ckpt(os.path.join(d, "checkpoints", "step-00000006.ckpt"))
        enc = [k for k in wa if k.startswith("model/bert.encoder")]
        diff = max(float(np.max(np.abs(wa[k] - wd[k]))) for k in enc)
        check(diff > 0, f"the encoder trained with the RTD loss differs from lambda 0 (max {diff:.2e})")

        # 3b. DiffCSE's BatchNorm projector (the official BERT recipe): trained, checkpointed, resumed
        # bit-identically, never exported.
        pa, pb = os.path.join(tmp, "pa"), os.path.join(tmp, "pb")
        r = run(common + ["--run-dir", pa, "--projector", "batchnorm"])
        check(r.returncode == 0, "--projector batchnorm trains" + failed_tail(r))
        _, wpa = read_ckpt(os.path.join(pa, "checkpoints", "step-00000006.ckpt"))
        proj = [k for k in wpa if k.startswith("model/projector.")]
        check(sorted(proj) == ["model/projector.net.0.weight", "model/projector.net.1.bias", "model/projector.net.1.weight",
                               "model/projector.net.3.weight"], f"the checkpoint holds the projector: {proj}")
        exported = load_file(os.path.join(pa, "model", "model.safetensors"))
        check(not any("projector" in k for k in exported), "the projector is not exported")
        r = run(common + ["--run-dir", pb, "--projector", "batchnorm"], env={"SIMCSEPP_TEST_KILL_AFTER_STEP": "4"})
        r = run(common + ["--run-dir", pb, "--projector", "batchnorm", "--resume", "auto"])
        _, wpb = read_ckpt(os.path.join(pb, "checkpoints", "step-00000006.ckpt"))
        check(r.returncode == 0 and all(np.array_equal(wpa[k], wpb[k]) for k in wpa if k.startswith(("model/", "discriminator/"))),
              "with the projector, a killed and resumed run ends bit-identical" + failed_tail(r))

        # 4. Bad input.
        e = os.path.join(tmp, "e")
        no_gen = [x for i, x in enumerate(common) if x != "--generator" and (i == 0 or common[i - 1] != "--generator")]
        r = run(no_gen + ["--run-dir", e])
        check(r.returncode == 1 and "--generator" in r.stderr and "HINT" in r.stderr, "no --generator: exit 1 with a HINT")
        small = make_generator(os.path.join(tmp, "small"), vocab=1000)
        r = run([x if x != gen else small for x in common] + ["--run-dir", e])
        check(r.returncode == 1 and "vocabulary" in r.stderr, "a generator of another vocabulary: exit 1")
        r = run(common + ["--run-dir", e, "--chunk-size", "4"])
        check(r.returncode == 1 and "--chunk-size" in r.stderr, "diffcse with gradient caching: exit 1")
        r = run([x if x != "diffcse++" else "supervised+rtd" for x in common] + ["--run-dir", e])
        check(r.returncode == 1 and "unsupervised" in r.stderr, "supervised+rtd: exit 1")
        r = run(common + ["--run-dir", e, "--projector", "batchnorm", "--eval-pooler", "cls"])
        check(r.returncode == 1 and "--eval-pooler" in r.stderr, "the BatchNorm projector with --eval-pooler cls: exit 1")
        r = run(common + ["--run-dir", e, "--projector", "bn"])
        check(r.returncode == 1 and "--projector" in r.stderr, "an unknown projector: exit 1")
    check.exit("diffcse training")


if __name__ == "__main__":
    main()
