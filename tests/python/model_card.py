"""Model cards (model/model_card.h): the README.md of every exported model directory.
1. `simcsepp train` exports run/model with a card: YAML front matter in the Hugging Face
   convention (library_name sentence-transformers, pipeline_tag sentence-similarity, tags with
   the objective, base_model, the base model's license when its own card names one), the
   recipe, corpus rows, updates and the STS-B dev scores of summary.json;
2. both usage snippets run as written (exec of the card's code blocks, unchanged) and load this
   very model: the sentence-transformers embeddings equal simcsepp's own `embed` output, and the
   transformers snippet's pooling gives the same normalised embeddings;
3. `simcsepp export` writes a card too, saying that no training is recorded.
"""
import json
import os
import re
import shutil
import tempfile

import numpy as np
import yaml

from tiny_train_fixture import Checks, failed_tail, make_model, prep_corpus, run, sts_dev, wiki_lines

check = Checks()


def card_parts(path):
    """(front matter dict, body text, python code blocks) of a model card."""
    text = open(path).read()
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    if not m:
        return None, text, []
    return yaml.safe_load(m.group(1)), m.group(2), re.findall(r"```python\n(.*?)```", m.group(2), re.S)


def run_snippet(code):
    """Runs a card's snippet as written; returns its globals (the embeddings among them)."""
    scope = {}
    exec(compile(code, "<model card snippet>", "exec"), scope)
    return scope


def main():
    tmp = tempfile.mkdtemp(prefix="simcsepp_model_card_")
    try:
        model = make_model(os.path.join(tmp, "base"))
        with open(os.path.join(model, "README.md"), "w") as f:  # the base model's own card
            f.write("---\nlicense: apache-2.0\nlanguage: en\n---\n# a tiny base model\n")
        corpus = prep_corpus(tmp, "corpus", wiki_lines(160))
        dev = sts_dev(tmp)
        run_dir = os.path.join(tmp, "run")
        r = run(["train", "--run-dir", run_dir, "--model", model, "--corpus", corpus, "--sts-dev", dev,
                 "--batch-size", "8", "--device", "cpu", "--comm", "single", "--metrics-port", "0",
                 "--eval-every", "3", "--max-steps", "6", "--lr", "1e-3", "--objective", "simcse++"])
        check(r.returncode == 0, "the tiny run trains and exports" + failed_tail(r))
        exported = os.path.join(run_dir, "model")
        card = os.path.join(exported, "README.md")
        check(os.path.isfile(card), "run/model/README.md exists")
        if not os.path.isfile(card):
            check.exit("model card")
        front, body, snippets = card_parts(card)
        summary = json.load(open(os.path.join(run_dir, "summary.json")))

        # 1. Front matter and facts.
        check(front is not None, "the card opens with YAML front matter")
        front = front or {}
        check(front.get("library_name") == "sentence-transformers", f"library_name {front.get('library_name')}")
        check(front.get("pipeline_tag") == "sentence-similarity", f"pipeline_tag {front.get('pipeline_tag')}")
        tags = front.get("tags") or []
        check({"sentence-transformers", "sentence-similarity", "simcse++"} <= set(tags), f"tags {tags}")
        check(front.get("base_model") == "base", f"base_model names the starting model: {front.get('base_model')}")
        check(front.get("license") == "apache-2.0", f"license from the base model's card: {front.get('license')}")
        check(f"| updates | {summary['steps']} |" in body, "the card gives the number of updates")
        check(f"(step {summary['best_step']})" in body
              and f"{summary['best_sts_dev_spearman_x100']:.2f}" in body, "the card gives the best STS-B dev score")
        check(f"{summary['initial_sts_dev_spearman_x100']:.2f}" in body, "and the score before training")
        check("(160 rows)" in body, "the corpus and its rows")
        check("| learning rate | `0.001` |" in body and "| global batch (sentences per update) | `8` |" in body,
              "the recipe: learning rate and global batch")

        # 2. The snippets, as written.
        check(len(snippets) == 2, f"two usage snippets ({len(snippets)})")
        if len(snippets) == 2:
            st = run_snippet(snippets[0])
            hf = run_snippet(snippets[1])
            st_emb = np.asarray(st["embeddings"], dtype=np.float64)
            hf_emb = hf["embeddings"].numpy().astype(np.float64)
            check(st_emb.shape == hf_emb.shape == (2, 32), f"both snippets embed 2 sentences ({st_emb.shape}, {hf_emb.shape})")
            st_unit = st_emb / np.linalg.norm(st_emb, axis=1, keepdims=True)
            err = float(np.max(np.abs(st_unit - hf_emb))) if st_emb.shape == hf_emb.shape else 1.0
            check(err < 1e-5, f"transformers pooling = sentence-transformers embeddings (max diff {err:.1e})")
            sentences = os.path.join(tmp, "two.txt")
            with open(sentences, "w") as f:
                f.write("A man is playing a guitar.\nSomeone is playing an instrument.\n")
            out = os.path.join(tmp, "two.npy")
            r = run(["embed", "--model", exported, "--input", sentences, "--output", out])
            if r.returncode == 0 and os.path.exists(out):
                ours = np.load(out).astype(np.float64)
                err = float(np.max(np.abs(ours - st_emb)))
                check(err < 1e-4, f"the snippet's embeddings are simcsepp embed's (max diff {err:.1e})")
            else:
                check(False, "simcsepp embed of the two sentences" + failed_tail(r))

        # 3. `simcsepp export` writes a card saying nothing was trained.
        out_dir = os.path.join(tmp, "exported")
        r = run(["export", "--model", model, "--output", out_dir])
        check(r.returncode == 0, "simcsepp export" + failed_tail(r))
        front, body, snippets = card_parts(os.path.join(out_dir, "README.md"))
        check(front is not None and front.get("library_name") == "sentence-transformers"
              and "simcse++" not in (front.get("tags") or []), "export's card: front matter without an objective")
        check("no training is recorded" in body and len(snippets) == 2, "export's card says no training is recorded")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("model card")


if __name__ == "__main__":
    main()
