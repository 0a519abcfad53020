"""`simcsepp export` end to end: a transformers-made BERT directory -> export -> loads in
transformers and sentence-transformers with the same embeddings as the source model (< 1e-5);
re-export keeps the recorded pooler; bad input exits 1 with a message naming the file and a HINT.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, BertConfig, BertModel, BertTokenizer

SIMCSEPP = os.environ["SIMCSEPP_BIN"]
VOCAB = os.path.join(os.environ["SIMCSEPP_SHARED_DATA"], "vocab", "bert-base-uncased-vocab.txt")
SENTENCES = ["a man is playing a guitar .", "two dogs run on the beach", "hello world"]


def simcsepp(*args, expect=0):
    r = subprocess.run([SIMCSEPP, *args], capture_output=True, text=True)
    if r.returncode != expect:
        sys.exit(f"FAIL: simcsepp {' '.join(args)} exited {r.returncode}, expected {expect}\n{r.stdout}\n{r.stderr}")
    return r


def main():
    torch.manual_seed(1)
    config = BertConfig(vocab_size=30522, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=64, max_position_embeddings=40)
    model = BertModel(config).eval()
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "source")
        model.save_pretrained(source)
        with open(os.path.join(source, "vocab.txt"), "w") as f:
            f.write(open(VOCAB).read())
        out = os.path.join(work, "exported")
        simcsepp("export", "--model", source, "--output", out, "--pooler", "avg")

        tokenizer = BertTokenizer(VOCAB)
        batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
        with torch.no_grad():
            h = model(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        want = (h * m).sum(1) / m.sum(1)
        hf = AutoModel.from_pretrained(out).eval()
        with torch.no_grad():
            diff_hf = (hf(**batch).last_hidden_state - h).abs().max().item()
        got = SentenceTransformer(out, device="cpu").encode(SENTENCES, convert_to_tensor=True)
        diff_st = (got - want).abs().max().item()
        print(f"export --pooler avg: AutoModel diff {diff_hf:.2e}, SentenceTransformer (mean) diff {diff_st:.2e}")
        if not (diff_hf < 1e-5 and diff_st < 1e-5):
            sys.exit("FAIL: exported model differs from the source")

        # Re-export of an export keeps its pooler (recorded in config.json).
        again = os.path.join(work, "again")
        simcsepp("export", "--model", out, "--output", again)
        pooling = json.load(open(os.path.join(again, "1_Pooling", "config.json")))
        if not pooling["pooling_mode_mean_tokens"] or pooling["pooling_mode_cls_token"]:
            sys.exit(f"FAIL: re-export lost the avg pooler: {pooling}")

        # Bad input: a truncated weights file -> exit 1, names the file, gives a HINT.
        broken = os.path.join(work, "broken")
        simcsepp("export", "--model", out, "--output", broken)
        weights = os.path.join(broken, "model.safetensors")
        os.truncate(weights, 1000)
        r = simcsepp("export", "--model", broken, "--output", os.path.join(work, "x"), expect=1)
        if weights not in r.stderr or "HINT" not in r.stderr:
            sys.exit(f"FAIL: error message lacks the file or a HINT:\n{r.stderr}")
        r = simcsepp("export", "--model", out, "--output", os.path.join(work, "y"), "--pooler", "max", expect=1)
        if "pooler" not in r.stderr:
            sys.exit(f"FAIL: bad --pooler message:\n{r.stderr}")
        print("bad input: exit 1 with file and HINT")
    print("PASS")


if __name__ == "__main__":
    main()
