"""comm_model.py - a model (arithmetic, not a measurement) of the gradient all-reduce of BERT-base
SimCSE++ on H200 nodes, and of how much of it the step's bucketed overlap can hide. Prints the
markdown tables of docs/performance.md ("Gradient communication at scale").

    python bench/comm_model.py

Bandwidth terms only (latency: see docs/performance.md). Assumptions, all stated in the doc:
  - gradient buffer S: BERT-base encoder + SimCSE MLP head, 109,482,240 parameters (counted below),
    4 bytes (fp32) or 2 bytes (bf16) each;
  - ring all-reduce: every rank sends (and receives) 2 (n-1)/n S;
  - NVLink 4 inside a node: 450 GB/s per direction per GPU (900 GB/s is the bidirectional sum);
  - between nodes: 400 Gb/s = 50 GB/s per direction per link, either one link per node (the issue's
    assumption) or one per GPU (8 per node, the DGX H200 layout);
  - backward = 2/3 of the step (backward is 2x the forward's matmuls), for the issue's targets;
  - buckets (cluster/gradient_reducer.h, 25 MiB): the encoder layers' gradients arrive evenly
    during backward and their buckets all-reduce from 1/12 of backward on, serially on one
    communication stream; the embeddings' gradients (21.8% of S) arrive last, so their
    all-reduce always starts after backward.
"""

H, I, V, P, LAYERS = 768, 3072, 30522, 512, 12
EMB = V * H + P * H + 2 * H + 2 * H          # word, position, token-type embeddings, LayerNorm
LAYER = 4 * (H * H + H) + (H * I + I) + (I * H + H) + 2 * 2 * H
HEAD = H * H + H
PARAMS = EMB + LAYERS * LAYER + HEAD
B_NVLINK, B_NIC, GPUS = 450e9, 50e9, 8
STEPS = {"batch 64 (target 10 ms)": 10e-3, "batch 512 (target 55 ms)": 55e-3}


def ring(n, size, bw):
    return 2 * (n - 1) / n * size / bw if n > 1 else 0.0


def flat(nodes, size, nics):
    """One ring over all nodes x 8 GPUs: every link carries 2 (n-1)/n S; with one NIC per GPU NCCL
    runs one ring per rail (8 rings of S/8), so the node boundary carries S/8 per NIC."""
    n = nodes * GPUS
    if nodes == 1:
        return ring(n, size, B_NVLINK)
    return max(ring(n, size, B_NVLINK), ring(n, size / nics, B_NIC))


def hierarchical(nodes, size, nics):
    """Reduce-scatter inside the node, all-reduce of the 1/8 shards across nodes (the 8 shards
    share the node's NICs), all-gather inside the node."""
    intra = (GPUS - 1) / GPUS * size / B_NVLINK
    inter = ring(nodes, size / GPUS, B_NIC) * GPUS / nics  # 8 shards over `nics` links
    return 2 * intra + inter


def exposed(comm, backward):
    """Communication time left after backward ends, with bucketed overlap."""
    emb = EMB / PARAMS
    layers_done = max(backward, backward / LAYERS + (1 - emb) * comm)
    return layers_done + emb * comm - backward


def main():
    print(f"parameters: embeddings {EMB:,}, per layer {LAYER:,} x {LAYERS}, head {HEAD:,} = {PARAMS:,}; "
          f"fp32 {4 * PARAMS / 1e6:.1f} MB, bf16 {2 * PARAMS / 1e6:.1f} MB; embeddings {100 * EMB / PARAMS:.1f}%\n")
    for nics, title in ((1, "one 400 Gb/s link per node (the issue's 17 ms case)"),
                        (8, "one 400 Gb/s NIC per GPU (8 per node)")):
        print(f"All-reduce time per step, ms, {title}:\n")
        print("| nodes x 8 GPUs | fp32 flat ring | fp32 hierarchical | bf16 flat ring | bf16 hierarchical |")
        print("|---|---|---|---|---|")
        for nodes in (1, 2, 4, 8, 16, 32, 64):
            cells = []
            for width in (4, 2):
                s = width * PARAMS
                cells += [f"{1e3 * flat(nodes, s, nics):.2f}", f"{1e3 * hierarchical(nodes, s, nics):.2f}"]
            print(f"| {nodes} x 8 | " + " | ".join(cells) + " |")
        print()
    print("Exposed (not hidden) communication per step, ms, the better of flat and hierarchical, "
          "backward = 2/3 of the target step:\n")
    head = ["nodes x 8 GPUs, links"] + [f"{k}, {d}" for k in STEPS for d in ("fp32", "bf16")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for nics in (1, 8):
        for nodes in (1, 2, 8, 64):
            if nodes == 1 and nics == 8:
                continue
            cells = []
            for step in STEPS.values():
                for width in (4, 2):
                    s = width * PARAMS
                    c = min(flat(nodes, s, nics), hierarchical(nodes, s, nics))
                    cells.append(f"{1e3 * exposed(c, 2 / 3 * step):.2f} of {1e3 * c:.2f}")
            link = "NVLink only" if nodes == 1 else f"{nics} link{'s' if nics > 1 else ''}/node"
            print(f"| {nodes} x 8, {link} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
