#!/usr/bin/env python3
"""prep_distributed.py - distributed, resumable prep and prep-time dedup, checked against Python.

Builds a small mixed corpus (plain text with blank, CRLF and duplicate lines, a .gz, a .zst, a
directory tree with a hidden file, a quoted glob) and runs the real CLI. The oracle is Python:
gzip / the zstd tool to decompress, its own line splitting, blank test and dedup normalisation,
and Hugging Face `tokenizers` for the ids (tokenizer parity is data.tokenizer_parity).

  parity  single process (two block sizes), mpirun -np 2 and -np 3, --part i/3 + --merge, each
          with and without --dedup: every manifest byte-identical to the single-process one, and
          every row (ids, source line, source input) equal to the oracle's; dedup counts equal
          the oracle's independent count.
  resume  SIGKILL after N shards (SIMCSEPP_TEST_KILL_AFTER_SHARDS) in one process, under
          mpirun -np 2 and in one part of three: the rerun reuses exactly the finished shards
          (shards_reused, rows_tokenized in the summary) and equals an uninterrupted prep.
  errors  missing file, empty glob, empty directory, truncated .zst, corrupt .gz, --part out of
          range or malformed, merging incomplete parts: exit 1, the file named, a HINT.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
from tokenizers import BertWordPieceTokenizer

DATA = os.environ.get("SIMCSEPP_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
BIN = os.environ.get("SIMCSEPP_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin/simcsepp"))
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
SHARD_ROWS = 600
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)
    return ok


def run(args, np=None, env_extra=None):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.update(env_extra or {})
    cmd = ([*MPIRUN, "-np", str(np)] if np else []) + [BIN, "prep", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def prep_ok(args, what, np=None, env_extra=None):
    r = run(args, np, env_extra)
    if r.returncode != 0:
        sys.exit(f"FAIL: {what}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}")
    return r.stdout


def counters(summary):
    m = re.search(r"counters: shards_written=(\d+) shards_reused=(\d+) rows_tokenized=(\d+) duplicates=(\d+)", summary)
    if not m:
        sys.exit(f"FAIL: no counters line in the summary:\n{summary}")
    return dict(zip(["written", "reused", "tokenized", "duplicates"], map(int, m.groups())))


# ---- the corpus -------------------------------------------------------------------------------
def read_lines(path, n):
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:n]


def build_corpus(root):
    wiki = read_lines(os.path.join(DATA, "corpus", "wiki1m_head.txt"), 2600)
    leip = read_lines(os.path.join(DATA, "corpus", "leipzig_wikipedia_2016_10k.txt"), 1800)
    misc = read_lines(os.path.join(DATA, "corpus", "senteval_misc.txt"), 2200)
    # a.txt: blank lines, CRLF endings, copies differing only in whitespace / ASCII case, no final \n.
    a = []
    for i, line in enumerate(wiki):
        a.append(line + (b"\r" if i % 13 == 0 else b""))
        if i % 97 == 0:
            a.append(b"   \t ")
        if i % 41 == 0:
            a.append(b"  " + line.upper().replace(b" ", b"   ") + b" ")
        if i % 53 == 0:
            a.append(wiki[i // 2])
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(os.path.join(root, "g"))
    with open(os.path.join(root, "a.txt"), "wb") as f:
        f.write(b"\n".join(a))
    # sub/b.txt.gz: copies of lines of a.txt.
    b = [line if i % 17 else wiki[i] for i, line in enumerate(leip)]
    with gzip.open(os.path.join(root, "sub", "b.txt.gz"), "wb") as f:
        f.write(b"\n".join(b) + b"\n")
    with open(os.path.join(root, "sub", "c.txt"), "wb") as f:
        f.write(b"\n".join(misc) + b"\n")
    subprocess.run(["zstd", "-q", "--rm", os.path.join(root, "sub", "c.txt"), "-o",
                    os.path.join(root, "sub", "c.txt.zst")], check=True)
    with open(os.path.join(root, "sub", "deeper", "e.txt"), "wb") as f:
        f.write(b"\n".join(misc[:40]) + b"\n")
    with open(os.path.join(root, "sub", ".hidden.txt"), "wb") as f:
        f.write(b"must not be read\n")
    for k in range(2):
        with open(os.path.join(root, "g", f"x{k}.txt"), "wb") as f:
            f.write(b"\n".join(leip[900 * k:900 * k + 300]) + b"\n")
    args = [os.path.join(root, "a.txt"), os.path.join(root, "sub"), os.path.join(root, "g", "*.txt")]
    files = [os.path.join(root, "a.txt"), os.path.join(root, "sub", "b.txt.gz"), os.path.join(root, "sub", "c.txt.zst"),
             os.path.join(root, "sub", "deeper", "e.txt"), os.path.join(root, "g", "x0.txt"),
             os.path.join(root, "g", "x1.txt")]
    return args, files


def decompressed(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    with open(path, "rb") as f:
        return f.read()


WS = b" \t\r\n\v\f"


def oracle(files, dedup):
    """Rows (text, input index, line) and per-input counts, by independent Python code."""
    rows, per_input, seen = [], [], set()
    for i, path in enumerate(files):
        lines = decompressed(path).split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        c = {"lines": len(lines), "empty": 0, "duplicates": 0, "rows": 0}
        for n, line in enumerate(lines, start=1):
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line.strip(WS):
                c["empty"] += 1
                continue
            if dedup:
                key = b" ".join(w for w in re.split(rb"[ \t\r\n\v\f]+", line) if w).lower()
                if key in seen:
                    c["duplicates"] += 1
                    continue
                seen.add(key)
            rows.append((line.decode("utf-8", errors="replace"), i, n))
            c["rows"] += 1
        per_input.append(c)
    return rows, per_input


def read_output(out):
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        raw = f.read()
    manifest = json.loads(raw)
    ids, inputs, lines = [], [], []
    for s in manifest["shards"]:
        path = os.path.join(out, s["file"])
        with open(path, "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == s["sha256"], f"checksum of {path}")
        with h5py.File(path, "r") as h:
            check(h.attrs["first_row"] == s["first_row"] and h.attrs["rows"] == s["rows"], f"attrs of {path}")
            t, o = h["text"]["ids"][:], h["text"]["offsets"][:]
            ids += [t[o[k]:o[k + 1]].tolist() for k in range(len(o) - 1)]
            inputs += h["source_input"][:].tolist()
            lines += h["source_line"][:].tolist()
    return raw, manifest, ids, inputs, lines


def check_against_oracle(out, files, dedup, tok, what):
    raw, manifest, ids, inputs, lines = read_output(out)
    rows, per_input = oracle(files, dedup)
    check(manifest["total_rows"] == len(rows) == len(ids), f"{what}: {manifest['total_rows']} rows, oracle {len(rows)}")
    check(all(s["rows"] == SHARD_ROWS for s in manifest["shards"][:-1]), f"{what}: shards of {SHARD_ROWS} rows")
    check(inputs == [r[1] for r in rows], f"{what}: source inputs differ from the oracle")
    check(lines == [r[2] for r in rows], f"{what}: source lines differ from the oracle")
    expected = [e.ids for e in tok.encode_batch([r[0] for r in rows])]
    bad = [k for k, (a, b) in enumerate(zip(expected, ids)) if a != b]
    check(not bad and len(expected) == len(ids), f"{what}: {len(bad)} rows' ids differ from the oracle, first {bad[:5]}")
    for i, c in enumerate(per_input):
        got = {k: manifest["inputs"][i][k] for k in c}
        check(got == c, f"{what}: input {i} counts {got}, oracle {c}")
    check(manifest["dedup"] == dedup, f"{what}: manifest dedup flag")
    return raw, per_input


# ---- cases ----------------------------------------------------------------------------------
def case_parity(work, args, files, tok):
    common = ["--vocab", VOCAB, "--shard-rows", str(SHARD_ROWS), "--no-progress"]
    for dedup in (False, True):
        flag = ["--dedup"] if dedup else []
        tag = "dedup" if dedup else "plain"
        ref = os.path.join(work, f"ref-{tag}")
        summary = prep_ok([*args, "-o", ref, *common, *flag, "--threads", "2"], f"{tag}: single process")
        ref_raw, per_input = check_against_oracle(ref, files, dedup, tok, f"{tag} single process")
        dups = sum(c["duplicates"] for c in per_input)
        check(counters(summary)["duplicates"] == dups, f"{tag}: summary duplicates {counters(summary)} vs oracle {dups}")
        if dedup:
            check(dups > 100, f"the fixture has duplicates to find ({dups})")
        variants = {
            "1 process, 3 KiB blocks, 1 thread": (None, ["--block-bytes", "3000", "--threads", "1"]),
            "mpirun -np 2": (2, ["--block-bytes", "20000", "--threads", "1"]),
            "mpirun -np 3": (3, ["--block-bytes", "7000", "--threads", "1"]),
        }
        for name, (np, extra) in variants.items():
            out = os.path.join(work, f"{tag}-{len(extra)}-{np}")
            prep_ok([*args, "-o", out, *common, *flag, *extra], f"{tag}: {name}", np=np)
            with open(os.path.join(out, "manifest.json"), "rb") as f:
                check(f.read() == ref_raw, f"{tag}: {name}: manifest differs from the single-process one")
            check_against_oracle(out, files, dedup, tok, f"{tag} {name}")
        out = os.path.join(work, f"{tag}-parts")
        for p in (2, 0, 1):  # any order
            s = prep_ok([*args, "-o", out, *common, *flag, "--part", f"{p}/3", "--threads", "1",
                         "--block-bytes", "5000"], f"{tag}: --part {p}/3")
            check(f"part {p}/3" in s, f"{tag}: part {p} summary names the part")
        check(not os.path.exists(os.path.join(out, "manifest.json")), f"{tag}: parts write no manifest")
        s = prep_ok(["--merge", "-o", out], f"{tag}: --merge")
        with open(os.path.join(out, "manifest.json"), "rb") as f:
            check(f.read() == ref_raw, f"{tag}: --part i/3 + --merge: manifest differs from the single-process one")
        check(not [n for n in os.listdir(out) if n.startswith("prep-part-")], f"{tag}: merge removes the part files")
        again = prep_ok([*args, "-o", out, *common, *flag], f"{tag}: rerun after merge")
        check("already complete" in again, f"{tag}: a rerun after the merge is a no-op")


def case_resume(work, args, files, tok):
    common = ["--vocab", VOCAB, "--shard-rows", str(SHARD_ROWS), "--no-progress", "--dedup", "--threads", "1"]
    ref = os.path.join(work, "ref")
    prep_ok([*args, "-o", ref, *common], "uninterrupted prep")
    with open(os.path.join(ref, "manifest.json"), "rb") as f:
        ref_raw = f.read()
    manifest = json.loads(ref_raw)
    total, shards = manifest["total_rows"], len(manifest["shards"])
    check(shards >= 8, f"enough shards to interrupt ({shards})")
    rows_of = {s["file"]: s["rows"] for s in manifest["shards"]}

    def killed_then_resumed(name, np, kill_after, extra=()):
        out = os.path.join(work, name)
        r = run([*args, "-o", out, *common, *extra], np, {"SIMCSEPP_TEST_KILL_AFTER_SHARDS": str(kill_after)})
        check(r.returncode != 0, f"{name}: the killed run failed (exit {r.returncode})")
        check(not os.path.exists(os.path.join(out, "manifest.json")), f"{name}: no manifest after the kill")
        done = sorted(n for n in os.listdir(out) if n.startswith("shard-") and n.endswith(".h5"))
        check(0 < len(done) < shards, f"{name}: {len(done)} of {shards} shards finished before the kill")
        return out, done

    # One process, killed after 3 shards.
    out, done = killed_then_resumed("single", None, 3)
    check(len(done) == 3, f"single: 3 shards before SIGKILL, found {done}")
    c = counters(prep_ok([*args, "-o", out, *common], "single: resume"))
    check(c["reused"] == 3 and c["written"] == shards - 3, f"single: resume reused {c}")
    check(c["tokenized"] == total - sum(rows_of[d] for d in done), f"single: rows tokenized again {c}, total {total}")
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        check(f.read() == ref_raw, "single: resumed manifest differs from the uninterrupted one")
    check_against_oracle(out, files, True, tok, "single resumed")
    c = counters(prep_ok([*args, "-o", out, *common], "single: rerun"))
    check(c["tokenized"] == 0, f"single: a rerun tokenizes nothing {c}")

    # mpirun -np 2: each rank is killed after its 2nd shard (mpirun ends the job).
    out, done = killed_then_resumed("np2", 2, 2)
    c = counters(prep_ok([*args, "-o", out, *common], "np2: resume", np=2))
    check(c["reused"] == len(done), f"np2: resume reused {c['reused']}, finished before the kill {len(done)}")
    check(c["tokenized"] == total - sum(rows_of[d] for d in done), f"np2: rows tokenized again {c}")
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        check(f.read() == ref_raw, "np2: resumed manifest differs from the uninterrupted one")

    # Part 1 of 3 killed after 1 shard: merge refuses, the rerun of that part reuses it.
    out = os.path.join(work, "parts")
    for p in (0, 2):
        prep_ok([*args, "-o", out, *common, "--part", f"{p}/3"], f"parts: part {p}")
    before = set(n for n in os.listdir(out) if n.endswith(".h5"))
    r = run([*args, "-o", out, *common, "--part", "1/3"], None, {"SIMCSEPP_TEST_KILL_AFTER_SHARDS": "1"})
    check(r.returncode != 0, "parts: part 1 was killed")
    new = sorted(set(n for n in os.listdir(out) if n.endswith(".h5")) - before)
    check(len(new) == 1, f"parts: part 1 finished one shard before the kill ({new})")
    r = run(["--merge", "-o", out])
    check(r.returncode == 1 and "parts 1 of 3 have not finished" in r.stderr and "HINT" in r.stderr
          and "--part 1/3" in r.stderr, f"parts: merge of incomplete parts refused ({r.stderr.strip()[-300:]})")
    s = prep_ok([*args, "-o", out, *common, "--part", "1/3"], "parts: part 1 again")
    m = re.search(r"\((\d+) written, (\d+) reused\), (\d+) rows tokenized", s)
    check(m and int(m.group(2)) == 1, f"parts: the rerun of part 1 reused its finished shard ({s.strip()[-200:]})")
    prep_ok(["--merge", "-o", out], "parts: merge")
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        check(f.read() == ref_raw, "parts: resumed + merged manifest differs from the uninterrupted one")


def case_errors(work, args, files, tok):
    common = ["--vocab", VOCAB, "--no-progress"]

    def expect_error(what, argv, needles, np=None):
        r = run(argv, np)
        ok = r.returncode == 1 and "HINT" in r.stderr and all(n in r.stderr for n in needles)
        check(ok, f"{what}: exit {r.returncode}, want 1 naming {needles} with a HINT; stderr: {r.stderr.strip()[-400:]}")

    out = os.path.join(work, "out")
    missing = os.path.join(work, "nope.txt")
    expect_error("missing file", [missing, "-o", out, *common], [missing, "does not exist"])
    pattern = os.path.join(work, "nothing-*.txt")
    expect_error("empty glob", [pattern, "-o", out, *common], [pattern, "matches no files"])
    empty_dir = os.path.join(work, "empty-dir")
    os.makedirs(empty_dir)
    expect_error("empty directory", [empty_dir, "-o", out, *common], [empty_dir, "holds no files"])
    zst = files[2]
    with open(zst, "rb") as f:
        data = f.read()
    cut = os.path.join(work, "cut.txt.zst")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    expect_error("truncated .zst", [cut, "-o", out, *common], [cut, "zstd", "truncated"])
    expect_error("truncated .zst, mpirun -np 2", [files[0], cut, "-o", out, *common], [cut, "truncated"], np=2)
    bad = os.path.join(work, "bad.txt.zst")
    with open(bad, "wb") as f:
        f.write(data[:20] + bytes(b ^ 0x5A for b in data[20:200]) + data[200:])
    expect_error("corrupt .zst", [bad, "-o", out, *common], [bad, "corrupt zstd data"])
    with open(files[1], "rb") as f:
        gz = f.read()
    badgz = os.path.join(work, "bad.txt.gz")
    with open(badgz, "wb") as f:
        f.write(gz[:40] + bytes(b ^ 0x5A for b in gz[40:120]) + gz[120:])
    expect_error("corrupt .gz", [badgz, "-o", out, *common], [badgz, "gzip"])
    expect_error("--part 3/3", [*args, "-o", out, *common, "--part", "3/3"], ["--part", "out of range"])
    expect_error("--part x", [*args, "-o", out, *common, "--part", "one/3"], ["--part", "malformed"])
    expect_error("--part under mpirun", [*args, "-o", out, *common, "--part", "0/2"], ["--part", "mpirun"], np=2)
    expect_error("merge with no parts", ["--merge", "-o", empty_dir], [empty_dir, "no part files"])
    parts = os.path.join(work, "parts")
    prep_ok([*args, "-o", parts, *common, "--part", "0/2"], "part 0/2")
    expect_error("merge of 1 of 2 parts", ["--merge", "-o", parts], [parts, "parts 1 of 2 have not finished", "--part 1/2"])
    check(not os.path.exists(os.path.join(work, "out", "manifest.json")), "no manifest from any failed prep")


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else "parity"
    tok = BertWordPieceTokenizer(VOCAB, lowercase=True)
    tok.enable_truncation(max_length=32)
    with tempfile.TemporaryDirectory() as work:
        args, files = build_corpus(os.path.join(work, "in"))
        {"parity": case_parity, "resume": case_resume, "errors": case_errors}[case](work, args, files, tok)
    if failures:
        sys.exit(f"FAIL: {len(failures)} checks failed")
    print("PASS")


if __name__ == "__main__":
    main()
