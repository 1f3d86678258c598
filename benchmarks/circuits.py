"""Every OV and QK circuit and every composition score of the default DT shape (d128, 3 layers, 4 heads, d_head 32,
323 state features, 1001 timesteps, 4 actions), factored (`FactoredMatrix`: norms and singular values from the factors)
vs materialised (the dense product, then its norm and singular values), side by side in one process: time and the
bytes the circuits hold.

    .venv/bin/python benchmarks/circuits.py [--rounds 3] [--threads 1]
"""
import argparse, statistics, time

import torch

from midt.interp.circuits import SOURCES, _all_heads, _scores, ov_circuit, qk_circuit
from midt.models.decision_transformer import DecisionTransformer
from midt.utils.config import DTModelConfig


def circuits(model):
    "Every OV circuit (each input type -> logits) and every QK circuit (each query type x key type) of every head."
    L, H = model.cfg.num_layers, model.cfg.num_heads
    out = []
    for l in range(L):
        for h in range(H):
            out += [ov_circuit(model, l, h, s) for s in SOURCES]
            out += [qk_circuit(model, l, h, q, k) for q in SOURCES for k in SOURCES]
    return out


@torch.no_grad()
def factored(model):
    cs = circuits(model)
    stats = [(c.norm(), c.svd()[1]) for c in cs]
    comp = [_scores(_all_heads(model, "ov"), _all_heads(model, k)) for k in ("q", "k", "ov")]
    return stats, comp, sum(c.A.numel() * c.A.element_size() + c.B.numel() * c.B.element_size() for c in cs)


@torch.no_grad()
def materialised(model):
    cs = [c.AB for c in circuits(model)]
    stats = [(torch.linalg.matrix_norm(c), torch.linalg.svdvals(c)) for c in cs]
    ov = _all_heads(model, "ov").AB                                                 # [layer, head, d, d]
    comp = []
    for right in (_all_heads(model, "q").AB, _all_heads(model, "k").AB, ov):
        prod = ov[:, :, None, None] @ right[None, None]                              # [L, H, L, H, d, d]
        comp.append(torch.linalg.matrix_norm(prod) / (torch.linalg.matrix_norm(ov)[:, :, None, None] * torch.linalg.matrix_norm(right)[None, None]))
    return stats, comp, sum(c.numel() * c.element_size() for c in cs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: a shared 2-core machine does not spin)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=128, num_layers=3, num_heads=4, dropout=0.1, max_timestep=1000,
                                              state_dim=323), context_length=20).eval()
    cases = {"factored": factored, "materialised": materialised}
    times = {k: [] for k in cases}; out = {}
    for _ in range(a.rounds):
        for k, f in cases.items():
            t0 = time.perf_counter(); out[k] = f(model); times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(out["factored"][0])
    print(f"{n} OV/QK circuits (12 heads x (4 OV + 16 QK)) with norm and singular values, + Q/K/V composition "
          f"scores of 12 x 12 head pairs (median of {a.rounds}):")
    for k in cases: print(f"  {k:14s} {med[k] * 1000:9.0f} ms   circuits hold {out[k][2] / 2**20:8.1f} MiB")
    print(f"  time:   materialised / factored {med['materialised'] / med['factored']:6.1f}x")
    print(f"  memory: materialised / factored {out['materialised'][2] / out['factored'][2]:6.1f}x")
    dn = max(float((f[0] - m[0]).abs().max() / m[0].abs().max()) for f, m in zip(out["factored"][0], out["materialised"][0]))
    ds = max(float((f[1] - m[1][:len(f[1])]).abs().max() / m[1].abs().max()) for f, m in zip(out["factored"][0], out["materialised"][0]))
    dc = max(float((f - m).abs().max()) for f, m in zip(out["factored"][1], out["materialised"][1]))
    print(f"  agreement: norms {dn:.1e}, singular values {ds:.1e} (relative), composition scores {dc:.1e} (absolute)")


if __name__ == "__main__":
    main()
