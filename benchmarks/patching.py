"""Activation patching at the seed's default shape (d128, 3 layers, 4 heads, context 20: 60 tokens), side by side:
a full layers x positions residual sweep batched vs the naive loop (one forward per cell), and attribution patching
(2 forwards + 1 backward) vs the exact batched sweep. Targets: batched >= 5x the loop; attribution >= 10x exact.

    .venv/bin/python benchmarks/patching.py [--pairs 8] [--rounds 2]
"""
import argparse, statistics, time

import numpy as np
import torch

from midt.interp.patching import ActivationPatcher, logit_diff_metric
from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.utils.config import DTModelConfig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=8); p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=128, num_layers=3, num_heads=4, dropout=0.1, max_timestep=1000,
                                              state_dim=323), context_length=20).eval()
    clean, patch = example_inputs(model, batch=a.pairs, seed=0), example_inputs(model, batch=a.pairs, seed=1)
    pt, metric = ActivationPatcher(model), logit_diff_metric(0, 1)
    T, L = 60, 3

    def loop():
        with torch.no_grad():
            return torch.stack([torch.stack([metric(pt.patch_hidden_states(clean, patch, l, [t])).mean() for t in range(T)])
                                for l in range(L)])
    cases = {"naive loop (one forward per cell)": loop,
             "batched sweep": lambda: pt.compute_patching_effect(clean, patch, metric, normalize=False),
             "attribution patching": lambda: pt.attribution_patching(clean, patch, metric)}
    times = {k: [] for k in cases}; out = {}
    for _ in range(a.rounds):
        for k, f in cases.items():
            t0 = time.perf_counter(); out[k] = f(); times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"resid_post sweep, {L} layers x {T} positions, {a.pairs} clean/patch pairs (median of {a.rounds}):")
    for k, v in med.items(): print(f"  {k:36s} {v * 1000:9.0f} ms")
    print(f"  batched vs loop      {med['naive loop (one forward per cell)'] / med['batched sweep']:6.1f}x  (target >= 5x)")
    print(f"  attribution vs exact {med['batched sweep'] / med['attribution patching']:6.1f}x  (target >= 10x)")
    print(f"  batched == loop: max |diff| {float((out['batched sweep'] - out['naive loop (one forward per cell)']).abs().max()):.2e}")
    print("  (the correlation of attribution with exact patching is measured on trained models: tests/test_interp.py)")


if __name__ == "__main__":
    main()
