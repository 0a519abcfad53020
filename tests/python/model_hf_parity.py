"""Parity of simcsepp's BERT encoder, checkpoint loader and export with Python transformers.

(a) A randomly initialised small BERT saved by transformers (BertModel safetensors, BertForMaskedLM
    with the "bert." prefix and MLM head, and pytorch_model.bin) loads in simcsepp and gives the
    same last hidden states and pooled embeddings in eval mode: max abs diff < 1e-5 (fp32).
(b) `export` of that model loads in transformers.AutoModel (no missing/unexpected keys) and in
    sentence_transformers.SentenceTransformer, and their embeddings equal simcsepp's (< 1e-5) for
    the cls_before_pooler, avg and cls (MLP) poolers.
Needs the build's model_parity_tool (SIMCSEPP_BUILD_DIR) and the shared vocabulary.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, BertConfig, BertForMaskedLM, BertModel

TOL = 1e-5
BUILD = os.environ["SIMCSEPP_BUILD_DIR"]
TOOL = os.path.join(BUILD, "bin", "model_parity_tool")
VOCAB = os.path.join(os.environ["SIMCSEPP_SHARED_DATA"], "vocab", "bert-base-uncased-vocab.txt")
SENTENCES = [
    "a man is playing a guitar .",
    "the quick brown fox jumps over the lazy dog near the riverbank",
    "hello",
    "simcse++ uses off-dropout negatives and a dimension-wise contrastive loss .",
]


def tool(*args):
    result = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"model_parity_tool {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def check(name, got, want, tol=TOL):
    diff = (got - want).abs().max().item()
    print(f"  {name:40s} max abs diff {diff:.2e}")
    if not diff < tol:
        sys.exit(f"FAIL: {name}: max abs diff {diff} >= {tol}")


def run_simcsepp(model_dir, ids, mask, work):
    inputs, outputs = os.path.join(work, "inputs.safetensors"), os.path.join(work, "outputs.safetensors")
    save_file({"input_ids": ids.contiguous(), "attention_mask": mask.contiguous()}, inputs)
    report = json.loads(tool("run", model_dir, inputs, outputs))
    return load_file(outputs), report


def masked_mean(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1)


def main():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=96, max_position_embeddings=64, layer_norm_eps=1e-12,
                        attn_implementation="sdpa")
    reference = BertModel(config).eval()
    # Random init leaves LayerNorm at 1/0 and biases at 0: perturb them so the test can fail.
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)

    from transformers import BertTokenizer
    tokenizer = BertTokenizer(VOCAB, do_lower_case=True)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        ref = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    ref_poolers = {
        "cls_before_pooler": ref.last_hidden_state[:, 0],
        "avg": masked_mean(ref.last_hidden_state, mask),
        "avg_first_last": masked_mean((ref.hidden_states[1] + ref.hidden_states[-1]) / 2, mask),
    }

    with tempfile.TemporaryDirectory() as work:
        # (a) three checkpoint layouts.
        layouts = {}
        layouts["BertModel safetensors"] = os.path.join(work, "bert_model")
        reference.save_pretrained(layouts["BertModel safetensors"])
        mlm = BertForMaskedLM(config)
        mlm.bert.load_state_dict(reference.state_dict(), strict=False)
        layouts["BertForMaskedLM safetensors (bert. prefix)"] = os.path.join(work, "bert_mlm")
        mlm.save_pretrained(layouts["BertForMaskedLM safetensors (bert. prefix)"])
        layouts["BertModel pytorch_model.bin"] = os.path.join(work, "bert_bin")
        reference.save_pretrained(layouts["BertModel pytorch_model.bin"], safe_serialization=False)
        for label, model_dir in layouts.items():
            print(f"(a) {label}")
            out, report = run_simcsepp(model_dir, ids, mask, work)
            check("last_hidden_state (all positions)", out["last_hidden_state"], ref.last_hidden_state)
            for pooler, want in ref_poolers.items():
                check(pooler, out[pooler], want)
            if sorted(report["missing"]) != ["mlp.dense.bias", "mlp.dense.weight"]:
                sys.exit(f"FAIL: unexpected missing list {report['missing']}")
            print(f"  report: missing {report['missing']}, unexpected {report['unexpected']}")

        # Negative control: the same weights with another layer_norm_eps must NOT pass, so the
        # comparison above is sensitive at the tolerance used.
        import shutil
        control = os.path.join(work, "control")
        shutil.copytree(layouts["BertModel safetensors"], control)
        cfg = json.load(open(os.path.join(control, "config.json")))
        cfg["layer_norm_eps"] = 1e-3
        json.dump(cfg, open(os.path.join(control, "config.json"), "w"))
        out, _ = run_simcsepp(control, ids, mask, work)
        diff = (out["last_hidden_state"] - ref.last_hidden_state).abs().max().item()
        print(f"(control) layer_norm_eps 1e-3 instead of 1e-12: max abs diff {diff:.2e} (must exceed {TOL})")
        if not diff > TOL:
            sys.exit("FAIL: the parity check does not detect a changed layer_norm_eps")

        # (b) export -> transformers and sentence-transformers.
        from sentence_transformers import SentenceTransformer
        source = layouts["BertModel safetensors"]
        with open(os.path.join(source, "vocab.txt"), "w") as f:
            f.write(open(VOCAB).read())
        for pooler in ["cls_before_pooler", "avg", "cls"]:
            exported = os.path.join(work, f"export_{pooler}")
            tool("export", source, exported, pooler)
            ours, _ = run_simcsepp(exported, ids, mask, work)
            print(f"(b) export --pooler {pooler}")
            hf, info = AutoModel.from_pretrained(exported, output_loading_info=True)
            if any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")):
                sys.exit(f"FAIL: transformers loading info {info}")
            hf.eval()
            with torch.no_grad():
                hf_out = hf(input_ids=ids, attention_mask=mask)
            check("AutoModel last_hidden_state", hf_out.last_hidden_state, ours["last_hidden_state"])
            check("AutoModel pooler_output == simcsepp cls (MLP)", hf_out.pooler_output, ours["cls"])
            st = SentenceTransformer(exported, device="cpu")
            st_ids = st.tokenize(SENTENCES)["input_ids"]
            if not torch.equal(st_ids, ids):
                sys.exit("FAIL: sentence-transformers tokenised differently from BertTokenizer")
            emb = st.encode(SENTENCES, convert_to_tensor=True, batch_size=len(SENTENCES))
            check(f"SentenceTransformer.encode vs simcsepp {pooler}", emb, ours[pooler])
    print("PASS")


if __name__ == "__main__":
    main()
