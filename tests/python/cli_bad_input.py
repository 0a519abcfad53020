"""cli_bad_input.py - every command given wrong input, as an adversarial user would (issue 20):
each case must end with exit code 1, a message that names the file/line/option at fault, a HINT,
no "internal error", and nothing already written lost (files hashed before and after).

Inputs that claim to be something they are not: a truncated or corrupt gzip stream, a directory
without files, binary data or another compressed format as text, a damaged shard in a prep
output. Outputs that cannot be written: a path that is a file, a read-only mount (a real ro tmpfs:
as root, permission bits do not stop writes), a missing parent, the export's own source. Options
that would train nothing (a global batch of 1), and the messages that used to mislead (--comm,
--resume DIR, a batch larger than the corpus, a bad bind address, config-file errors without
file:line, [section] headers).
"""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

from eval_common import BIN, SHARED, VOCAB, make_tiny_model

CORPUS = os.path.join(SHARED, "corpus", "wiki1m_head.txt")
STS_DEV = os.path.join(SHARED, "sts", "STSBenchmark", "sts-dev.csv")
failures = []


def run(args, env=None):
    e = dict(os.environ, OMP_NUM_THREADS="1")
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=600)


def expect_error(label, args, needles, absent=(), env=None):
    """exit 1, every needle in stderr, none of `absent`, a HINT, no internal error."""
    r = run(args, env)
    msg = r.stderr
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, want 1")
    problems += [f"no '{n}'" for n in needles if n not in msg]
    problems += [f"misleading '{a}'" for a in absent if a in msg]
    if "HINT" not in msg:
        problems.append("no HINT")
    if "internal error" in msg:
        problems.append("reported as internal error")
    print(f"  {label:58s} {'ok' if not problems else 'WRONG ' + '; '.join(problems)}")
    err_lines = [line for line in msg.splitlines() if "error" in line or "HINT" in line]
    print("      " + " | ".join(err_lines)[:400])
    if problems:
        failures.append(f"{label}: {'; '.join(problems)}\n{msg}")
    return r


def check(cond, what):
    print(f"  {what:58s} {'ok' if cond else 'WRONG'}")
    if not cond:
        failures.append(what)


def tree_digest(path):
    """{relative path: sha256} of every file under path (or of the file itself)."""
    out = {}
    if os.path.isfile(path):
        return {"": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, path)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


class ReadOnlyMount:
    """A real read-only file system (tmpfs mounted ro) with one file in it."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", self.path], check=True)
        with open(os.path.join(self.path, "existing.txt"), "w") as f:
            f.write("keep me\n")
        subprocess.run(["mount", "-o", "remount,ro", self.path], check=True)
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", self.path], check=False)


def sentences(n):
    with open(CORPUS, encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


def main():
    work = tempfile.mkdtemp(prefix="simcsepp-bad-input-")
    try:
        model = os.path.join(work, "model")
        make_tiny_model(model)  # transformers BertModel with its pretrained pooler
        text = os.path.join(work, "corpus.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.writelines(sentences(400))
        corpus = os.path.join(work, "corpus.prep")
        r = run(["prep", "-i", text, "-o", corpus, "--vocab", VOCAB, "--max-len", "16", "--shard-rows", "100",
                 "--no-progress"])
        check(r.returncode == 0, f"prep of a good corpus works ({r.stderr.strip()[-200:]})")

        # ---- prep: inputs that are not what they claim --------------------------------------
        print("prep inputs")
        gz = os.path.join(work, "corpus.txt.gz")
        with gzip.open(gz, "wb") as f:
            f.write("".join(sentences(3000)).encode())
        data = open(gz, "rb").read()
        truncated = os.path.join(work, "truncated.txt.gz")
        open(truncated, "wb").write(data[:3000])
        out = os.path.join(work, "p-trunc")
        expect_error("prep: truncated .gz (first 3000 bytes)", ["prep", "-i", truncated, "-o", out, "--vocab", VOCAB],
                     ["truncated.txt.gz", "truncated"])
        check(not os.path.exists(os.path.join(out, "manifest.json")), "prep: no manifest from a truncated input")
        corrupt = os.path.join(work, "corrupt.txt.gz")
        bad = bytearray(data)
        for i in range(len(bad) // 2, len(bad) // 2 + 64):
            bad[i] ^= 0x5A
        open(corrupt, "wb").write(bytes(bad))
        expect_error("prep: corrupt .gz (64 bytes flipped)",
                     ["prep", "-i", corrupt, "-o", os.path.join(work, "p-corrupt"), "--vocab", VOCAB],
                     ["corrupt.txt.gz", "gzip"])
        # A directory is expanded to the files below it (docs/data.md); one without files is refused.
        empty_dir = os.path.join(work, "empty-dir")
        os.makedirs(empty_dir)
        expect_error("prep -i EMPTY_DIR", ["prep", "-i", empty_dir, "-o", os.path.join(work, "p-dir"), "--vocab", VOCAB],
                     [empty_dir, "directory holds no files"], absent=["gzip"])
        binary = os.path.join(work, "binary.txt")
        open(binary, "wb").write(b"first line\nsecond \x00\x01\x02 line\n")
        expect_error("prep: binary data in a text input",
                     ["prep", "-i", binary, "-o", os.path.join(work, "p-bin"), "--vocab", VOCAB],
                     ["binary.txt:2", "NUL"])
        shard = sorted(f for f in os.listdir(corpus) if f.startswith("shard-"))[0]
        expect_error("prep: an HDF5 shard given as text input",
                     ["prep", "-i", os.path.join(corpus, shard), "-o", os.path.join(work, "p-h5"), "--vocab", VOCAB],
                     [shard, "HDF5"])
        xz = os.path.join(work, "corpus.txt.xz")
        open(xz, "wb").write(b"\xfd7zXZ\x00" + b"\x00" * 64)
        expect_error("prep: an xz file", ["prep", "-i", xz, "-o", os.path.join(work, "p-xz"), "--vocab", VOCAB],
                     ["corpus.txt.xz", "xz"])
        expect_error("prep --vocab DIR", ["prep", "-i", text, "-o", os.path.join(work, "p-v"), "--vocab", work],
                     ["--vocab", "directory"])
        # A damaged shard in an output being resumed: named as damaged, not as "another prep".
        resumed = os.path.join(work, "p-resume")
        shutil.copytree(corpus, resumed)
        os.remove(os.path.join(resumed, "manifest.json"))  # an interrupted prep
        victim = os.path.join(resumed, shard)
        open(victim, "r+b").truncate(os.path.getsize(victim) // 2)
        before = tree_digest(resumed)
        expect_error("prep: truncated shard in the output", ["prep", "-i", text, "-o", resumed, "--vocab", VOCAB,
                                                             "--max-len", "16", "--shard-rows", "100"],
                     [shard, "truncated or corrupt"], absent=["another prep"])
        check(tree_digest(resumed) == before, "prep: nothing in that output changed")

        # ---- prep: outputs -------------------------------------------------------------------
        print("prep outputs")
        a_file = os.path.join(work, "a-file")
        open(a_file, "w").write("x\n")
        expect_error("prep -o FILE", ["prep", "-i", text, "-o", a_file, "--vocab", VOCAB],
                     ["--output", a_file, "not a directory"])
        with ReadOnlyMount(os.path.join(work, "ro")) as ro:
            expect_error("prep -o on a read-only mount", ["prep", "-i", text, "-o", os.path.join(ro, "c"), "--vocab",
                                                          VOCAB], ["--output", "Read-only file system"])
            expect_error("prep -o a read-only directory", ["prep", "-i", text, "-o", ro, "--vocab", VOCAB],
                         ["--output", "Read-only file system"])
            expect_error("train --run-dir on a read-only mount",
                         ["train", "--model", model, "--corpus", corpus, "--run-dir", os.path.join(ro, "run"),
                          "--max-len", "16", "--sts-dev", STS_DEV, "--batch-size", "4"],
                         ["--run-dir", "Read-only file system"])
            expect_error("embed --output on a read-only mount",
                         ["embed", "--model", model, "--input", text, "--output", os.path.join(ro, "e.npy")],
                         ["--output", "Read-only file system"])
            expect_error("export -o on a read-only mount", ["export", "-m", model, "-o", os.path.join(ro, "x")],
                         ["--output", "Read-only file system"])
            expect_error("eval --output on a read-only mount",
                         ["eval", "--model", model, "--senteval-data", os.path.join(SHARED, "sts"), "--tasks",
                          "STS12", "--output", os.path.join(ro, "r.json")], ["--output", "Read-only file system"])
            check(open(os.path.join(ro, "existing.txt")).read() == "keep me\n", "read-only mount untouched")

        # ---- train -----------------------------------------------------------------------------
        print("train")
        no_dev = ["train", "--model", model, "--corpus", corpus, "--max-len", "16", "--max-steps", "2",
                  "--no-eval-at-start", "--eval-every", "0", "--log-level", "warn"]
        base = [*no_dev, "--sts-dev", STS_DEV]
        expect_error("train --batch-size 1 on one rank", [*base, "--run-dir", os.path.join(work, "r1"),
                                                          "--batch-size", "1"],
                     ["--batch-size", "no in-batch negatives"])
        expect_error("train: batch larger than the corpus", [*base, "--run-dir", os.path.join(work, "r2"),
                                                             "--batch-size", "1000"],
                     [corpus, "400 rows", "--batch-size"], absent=["--no-drop-tail"])
        expect_error("train --resume DIR", [*base, "--run-dir", os.path.join(work, "r3"), "--resume", work],
                     ["--resume", "is a directory"], absent=["does not exist"])
        expect_error("train --comm nccl on a CPU", [*base, "--run-dir", os.path.join(work, "r4"), "--comm", "nccl",
                                                    "--device", "cpu"], ["--comm"], absent=["--backend"])
        expect_error("train --run-dir FILE", [*base, "--run-dir", a_file], ["--run-dir", a_file, "not a directory"])
        expect_error("train --attention-backend fast", [*base, "--run-dir", os.path.join(work, "r6"),
                                                        "--attention-backend", "fast"],
                     ["--attention-backend", "unknown attention backend 'fast'"])
        # The CPU has no memory-efficient kernel: refused at start, not replaced by another one.
        expect_error("train --attention-backend efficient on a CPU", [*base, "--run-dir", os.path.join(work, "r7"),
                                                                     "--attention-backend", "efficient"],
                     ["--attention-backend", "cannot run this model's attention"])
        expect_error("train --metrics-bind not-an-address", [*base, "--run-dir", os.path.join(work, "r5"),
                                                             "--metrics-bind", "not-an-address"],
                     ["--metrics-bind", "not an IP address"], absent=["port taken", "is taken"])
        # An address of another host: /metrics is disabled on that rank (training goes on, as when a
        # port is taken), and the warning says why - not "is the port taken".
        r = run([*base, "--run-dir", os.path.join(work, "r6"), "--metrics-bind", "192.0.2.1", "--metrics-port", "0",
                 "--no-export"])
        check(r.returncode == 0 and "192.0.2.1 is not an address of this host" in r.stderr and "taken" not in r.stderr,
              "train --metrics-bind 192.0.2.1: warning names the address, not a port")
        expect_error("train --sts-dev DIR", [*no_dev, "--run-dir", os.path.join(work, "r7"), "--sts-dev", work],
                     [work, "STS-B dev"])

        # ---- config files: FILE:LINE, sections -------------------------------------------------
        print("config files")
        ini = os.path.join(work, "run.ini")
        with open(ini, "w") as f:
            f.write(f"# one file for prep and train\n[prep]\nvocab = {VOCAB}\n\n[train]\nbatch-size = 4\n"
                    f"max-len = 16\nbatch-sise = 8\n")
        expect_error("config: unknown key", ["train", "--config", ini, "--model", model, "--corpus", corpus,
                                             "--run-dir", os.path.join(work, "c1")], [f"{ini}:8", "batch-sise"])
        with open(ini, "w") as f:
            f.write("[trian]\nbatch-size = 4\n")
        expect_error("config: unknown section", ["train", "--config", ini, "--model", model, "--corpus", corpus,
                                                 "--run-dir", os.path.join(work, "c2")], [f"{ini}:1", "[trian]"])
        with open(ini, "w") as f:
            f.write("max-len = 16\nbatch-size = four\n")
        expect_error("config: a bad value", ["train", "--config", ini, "--model", model, "--corpus", corpus,
                                             "--run-dir", os.path.join(work, "c3")], [f"{ini}:2", "four"])
        with open(ini, "w") as f:
            f.write("max-len = 16\nmax-len = 32\n")
        expect_error("config: a key twice", ["train", "--config", ini, "--model", model, "--corpus", corpus,
                                             "--run-dir", os.path.join(work, "c4")], [f"{ini}:2", "line 1"])
        # Sections work: [prep] keys are skipped by train, [train] and train.* keys are used.
        with open(ini, "w") as f:
            f.write(f"[prep]\nvocab = {VOCAB}\nshard-rows = 50\n[train]\nmax-len = 16\nbatch-size = 4\n"
                    f"max-steps = 2\nno-eval-at-start = true\neval-every = 0\ntrain.sts-dev = {STS_DEV}\n")
        good_run = os.path.join(work, "c-ok")
        r = run(["train", "--config", ini, "--model", model, "--corpus", corpus, "--run-dir", good_run,
                 "--no-export"])
        summary = os.path.join(good_run, "summary.json")
        check(r.returncode == 0 and os.path.exists(summary) and json.load(open(summary))["steps"] == 2,
              f"config: [train] section trains 2 steps ({r.stderr.strip()[-300:]})")
        r = run(["prep", "--config", ini, "-i", text, "-o", os.path.join(work, "c-prep"), "--max-len", "16",
                 "--no-progress"])
        shards = [f for f in os.listdir(os.path.join(work, "c-prep")) if f.startswith("shard-")] \
            if os.path.isdir(os.path.join(work, "c-prep")) else []
        check(r.returncode == 0 and len(shards) == 8, f"config: [prep] section sets shard-rows 50 ({len(shards)} "
                                                      f"shards, {r.stderr.strip()[-200:]})")

        # ---- export ----------------------------------------------------------------------------
        print("export")
        before = tree_digest(model)
        expect_error("export -m X -o X", ["export", "-m", model, "-o", model], ["--output", "model directory itself"])
        expect_error("export -m X -o X/ (same directory, other spelling)", ["export", "-m", model, "-o", model + "/."],
                     ["--output", "model directory itself"])
        check(tree_digest(model) == before, "export: the source checkpoint is unchanged")
        foreign = os.path.join(work, "foreign")
        os.makedirs(foreign)
        open(os.path.join(foreign, "notes.txt"), "w").write("mine\n")
        expect_error("export -o a directory of other files", ["export", "-m", model, "-o", foreign],
                     ["--output", "not an earlier simcsepp export"])
        check(tree_digest(foreign) == {"notes.txt": hashlib.sha256(b"mine\n").hexdigest()}, "export: it is unchanged")
        expect_error("export -o FILE", ["export", "-m", model, "-o", a_file], ["--output", a_file, "not a directory"])
        exported = os.path.join(work, "exported")
        r = run(["export", "-m", model, "-o", exported])
        check(r.returncode == 0, f"export of a Hugging Face checkpoint works ({r.stderr.strip()[-200:]})")
        src = load_file(os.path.join(model, "model.safetensors"))
        dst = load_file(os.path.join(exported, "model.safetensors"))
        pooler_same = all(torch.equal(src[k], dst[k]) for k in ("pooler.dense.weight", "pooler.dense.bias"))
        check(pooler_same, "export carries the pretrained pooler unchanged (not a fresh init)")
        same = [k for k in src if k in dst and torch.equal(src[k], dst[k])]
        check(len(same) == len(src), f"export: all {len(src)} source tensors unchanged ({len(same)} equal)")
        r = run(["export", "-m", model, "-o", exported])
        check(r.returncode == 0, "export into an earlier export replaces it")

        # ---- embed / eval ----------------------------------------------------------------------
        print("embed / eval")
        expect_error("embed: truncated .gz input", ["embed", "--model", model, "--input", truncated, "--output",
                                                    os.path.join(work, "e.npy")], ["truncated.txt.gz", "truncated"])
        old = os.path.join(work, "old.npy")
        open(old, "wb").write(b"an older output\n")
        expect_error("embed: binary input, existing output", ["embed", "--model", model, "--input", binary,
                                                              "--output", old], ["binary.txt:2"])
        check(open(old, "rb").read() == b"an older output\n" and not os.path.exists(old + ".partial"),
              "embed: the older output is kept, no partial file left")
        expect_error("embed --output in a missing directory",
                     ["embed", "--model", model, "--input", text, "--output", os.path.join(work, "no", "e.npy")],
                     ["--output", "does not exist"])
        expect_error("embed --output DIR.npy (a directory)", ["embed", "--model", model, "--input", text, "--output",
                                                              exported], ["--output"])
        expect_error("embed --input DIR", ["embed", "--model", model, "--input", work, "--output",
                                           os.path.join(work, "e2.npy")], ["--input", "directory"])
        expect_error("eval --output DIR", ["eval", "--model", model, "--senteval-data", os.path.join(SHARED, "sts"),
                                           "--tasks", "STS12", "--output", work], ["--output", "directory"])
    finally:
        subprocess.run(["umount", os.path.join(work, "ro")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    if failures:
        print(f"\nFAIL: {len(failures)} case(s)")
        for f in failures:
            print(" -", f)
        sys.exit(1)
    print("\nPASS: every bad input got exit 1, a named place, a HINT, and lost nothing")


if __name__ == "__main__":
    main()
