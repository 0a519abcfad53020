"""`simcsepp embed` writes one embedding per input line (.npy and .h5, raw and L2-normalised) equal
to the Python reference (transformers, same pooler) to 1e-4, in input order, streaming in chunks
smaller than the file (--chunk-lines 7, --batch-size 3), with empty and CRLF lines kept as rows."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from eval_common import BIN, SHARED, Reference, make_tiny_model

TOL = 1e-4


def main():
    failures = []
    with open(os.path.join(SHARED, "corpus", "wiki1m_head.txt"), encoding="utf-8") as f:
        sentences = [next(f).rstrip("\n") for _ in range(40)]
    sentences[5] = ""  # an empty line is a sentence too ([CLS] [SEP])
    with tempfile.TemporaryDirectory() as work:
        model_dir = os.path.join(work, "model")
        ref = Reference(make_tiny_model(model_dir, seed=1))
        path = os.path.join(work, "in.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("".join(s + ("\r\n" if i == 9 else "\n") for i, s in enumerate(sentences)))
        for pooler, normalize, ext in [("cls_before_pooler", False, "npy"), ("avg", True, "h5"),
                                       ("avg_first_last", False, "h5"), ("avg", True, "npy")]:
            out = os.path.join(work, f"emb_{pooler}_{normalize}.{ext}")
            cmd = [BIN, "embed", "--model", model_dir, "--input", path, "--output", out, "--pooler", pooler,
                   "--chunk-lines", "7", "--batch-size", "3", "--device", "cpu"] + (["--normalize"] if normalize else [])
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"FAIL: {' '.join(cmd)}:\n{run.stderr}")
            if "sentences/s" not in run.stdout:
                failures.append(f"no throughput printed: {run.stdout!r}")
            if ext == "npy":
                got = np.load(out)
            else:
                with h5py.File(out, "r") as h5:
                    got = h5["embeddings"][()]
                    attrs = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in h5["embeddings"].attrs.items()}
                    if attrs.get("pooler") != pooler or attrs.get("normalized") != str(normalize).lower():
                        failures.append(f"{out}: attributes {attrs}")
            want = ref.embed(sentences, pooler)
            if normalize:
                want = want / np.linalg.norm(want, axis=1, keepdims=True)
            if got.dtype != np.float32 or got.shape != want.shape:
                failures.append(f"{out}: {got.dtype} {got.shape}, want float32 {want.shape}")
                continue
            diff = float(np.abs(got - want).max())
            print(f"  {pooler:18s} normalize={normalize!s:5s} .{ext:3s} shape {got.shape} max abs diff {diff:.2e}")
            if not diff < TOL:
                failures.append(f"{out}: max abs diff {diff}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"PASS: embeddings equal the reference within {TOL}")


if __name__ == "__main__":
    main()
