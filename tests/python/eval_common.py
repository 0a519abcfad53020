"""Shared helpers of the eval parity tests: a small random BERT saved by transformers, and the
Python reference embedding (transformers + the SimCSE poolers) the C++ numbers are compared with.
Test-only: the product never runs Python."""
import os
import shutil

import numpy as np
import torch
from transformers import BertConfig, BertModel, BertTokenizer

SHARED = os.environ["SIMCSEPP_SHARED_DATA"]
BIN = os.environ["SIMCSEPP_BIN"]
VOCAB = os.path.join(SHARED, "vocab", "bert-base-uncased-vocab.txt")


def make_tiny_model(model_dir, seed=0):
    """A randomly initialised BERT (hidden 64, 2 layers, 512 positions) as transformers saves it,
    plus the bert-base-uncased vocabulary. LayerNorm and biases are perturbed so that errors in
    them show up. initializer_range 0.2 (not BERT's 0.02): with 0.02 every [CLS] embedding is
    nearly the same vector (pair cosines within 1e-5 of 1), so Spearman would rank fp32 rounding
    noise and no two correct implementations could agree; 0.2 spreads the cosines over 0.5-1."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=512, initializer_range=0.2)
    model = BertModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(model_dir, safe_serialization=True)
    shutil.copy(VOCAB, os.path.join(model_dir, "vocab.txt"))
    return model


class Reference:
    """Sentence embeddings as SimCSE's evaluation computes them: BertTokenizer (uncased), padding to
    the batch, truncation at max_len, BertModel in eval mode, the named pooler."""

    def __init__(self, model, max_len=512, batch_size=64):
        self.model = model.eval()
        self.tokenizer = BertTokenizer(VOCAB, do_lower_case=True)
        self.max_len = max_len
        self.batch_size = batch_size

    def embed(self, sentences, pooler):
        return self.embed_poolers(sentences, [pooler])[pooler]

    @torch.no_grad()
    def embed_poolers(self, sentences, poolers):
        """{pooler: [N, H] float32} from one encoder pass per batch."""
        out = {p: [] for p in poolers}
        for i in range(0, len(sentences), self.batch_size):
            batch = self.tokenizer(sentences[i:i + self.batch_size], padding=True, truncation=True,
                                   max_length=self.max_len, return_tensors="pt")
            o = self.model(**batch, output_hidden_states=True)
            mask = batch["attention_mask"].unsqueeze(-1).float()
            for pooler in poolers:
                if pooler == "cls_before_pooler":
                    e = o.last_hidden_state[:, 0]
                elif pooler == "avg":
                    e = (o.last_hidden_state * mask).sum(1) / mask.sum(1)
                elif pooler == "avg_first_last":
                    # hidden_states[1] = output of the first layer, as SimCSE's evaluation.
                    e = ((o.hidden_states[1] + o.hidden_states[-1]) / 2 * mask).sum(1) / mask.sum(1)
                else:
                    raise ValueError(pooler)
                out[pooler].append(e.float().numpy())
        h = self.model.config.hidden_size
        return {p: np.concatenate(v) if v else np.zeros((0, h), np.float32) for p, v in out.items()}
