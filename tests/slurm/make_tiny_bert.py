"""make_tiny_bert.py OUT_DIR - a tiny random BERT in Hugging Face layout for the Slurm tests.

hidden 32, 2 layers, 2 heads, the real bert-base-uncased vocabulary (from the shared data), saved
with transformers' save_pretrained (config.json + model.safetensors) plus vocab.txt: the same
kind of model directory a user points `simcsepp train --model` at. Seeded, so reruns agree.
"""
import os
import shutil
import sys

import torch
from transformers import BertConfig, BertModel


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    shared = os.environ.get("SIMCSEPP_SHARED_DATA")
    if not shared:
        print("SIMCSEPP_SHARED_DATA is not set (ctest sets it)", file=sys.stderr)
        return 1
    vocab = os.path.join(shared, "vocab", "bert-base-uncased-vocab.txt")
    with open(vocab, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config, add_pooling_layer=True).save_pretrained(out, safe_serialization=True)
    shutil.copyfile(vocab, os.path.join(out, "vocab.txt"))
    print(f"tiny BERT ({vocab_size} tokens, hidden 32, 2 layers) in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
