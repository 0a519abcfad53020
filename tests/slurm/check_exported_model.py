"""check_exported_model.py EXPORTED_DIR INITIAL_DIR [SAME_AS_DIR] - is a Slurm job's export real?

Loads the export with Hugging Face transformers (or sentence-transformers when the directory has
modules.json), embeds two sentences and checks: the embeddings are finite and of the tiny model's
width, the parameters have the initial model's names and shapes, and training moved them (the
export is not the initial model copied through). Exit 0 when all hold, 1 with a message if not.
"""
import os
import sys

import torch
from transformers import AutoModel, AutoTokenizer, BertModel


# Same machine, same rank count, same MPI reduction order: the runs should agree bit for bit;
# the tolerance only allows for a different summation order inside a library.
SAME_AS_TOLERANCE = 1e-5


def load(path: str):
    if os.path.exists(os.path.join(path, "modules.json")):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(path, device="cpu")[0].auto_model
    return AutoModel.from_pretrained(path)


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    exported, initial = sys.argv[1], sys.argv[2]
    sentences = ["a man is playing a guitar .", "the cat sleeps on the mat ."]
    if os.path.exists(os.path.join(exported, "modules.json")):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(exported, device="cpu")
        emb = torch.as_tensor(st.encode(sentences))
        model = st[0].auto_model
    else:
        model = AutoModel.from_pretrained(exported).eval()
        tok = AutoTokenizer.from_pretrained(exported if os.path.exists(os.path.join(exported, "vocab.txt")) else initial)
        with torch.no_grad():
            emb = model(**tok(sentences, return_tensors="pt", padding=True)).last_hidden_state[:, 0]
    ref = BertModel.from_pretrained(initial, add_pooling_layer=False)
    errors = []
    if not torch.isfinite(emb).all():
        errors.append("non-finite embeddings")
    if emb.shape != (2, ref.config.hidden_size):
        errors.append(f"embedding shape {tuple(emb.shape)}, want (2, {ref.config.hidden_size})")
    got = {k.removeprefix("bert."): v for k, v in model.state_dict().items()}
    moved = 0.0
    for name, want in ref.state_dict().items():
        if name not in got:
            errors.append(f"parameter {name} missing from the export")
        elif got[name].shape != want.shape:
            errors.append(f"{name}: shape {tuple(got[name].shape)}, want {tuple(want.shape)}")
        elif want.is_floating_point():
            moved = max(moved, (got[name].float() - want.float()).abs().max().item())
    if moved <= 1e-7:
        errors.append("the exported weights equal the initial ones: training changed nothing")
    if len(sys.argv) == 4:
        other = {k.removeprefix("bert."): v for k, v in load(sys.argv[3]).state_dict().items()}
        if other.keys() != got.keys():
            errors.append(f"{sys.argv[3]} has other parameters than {exported}")
        diff = max((got[k].float() - other[k].float()).abs().max().item() for k in got.keys() & other.keys())
        print(f"largest weight difference to {sys.argv[3]}: {diff:.3g}")
        if diff > SAME_AS_TOLERANCE:
            errors.append(f"weights differ from {sys.argv[3]} by {diff:.3g} > {SAME_AS_TOLERANCE}")
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    print(f"exported model {exported}: embeddings {tuple(emb.shape)}, largest weight change {moved:.3g}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
