"""Caching activations over a dataset: windows/s and cache size for all hooks vs a names filter, side by side with plain
forward passes over the same batches (target: caching everything <= 1.5x the plain forwards). The peak memory of each
case is its cache plus one batch of activations; the process's peak RSS is printed at the end.

    .venv/bin/python benchmarks/cache.py [--windows 4096] [--batch 256]
"""
import argparse, resource, statistics, time

import numpy as np
import torch

from midt.interp.cache import cache_activations, model_inputs
from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.utils.config import DTModelConfig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=4096); p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=128, num_layers=3, num_heads=4, dropout=0.1, max_timestep=1000,
                                              state_dim=323), context_length=20).eval()
    batches = [example_inputs(model, batch=a.batch, seed=i, pad=i % 5) for i in range(a.windows // a.batch)]

    def plain():
        with torch.no_grad():
            for b in batches: model(**model_inputs(b))
    cases = {"plain forward": plain,
             "cache all hooks": lambda: cache_activations(model, batches, keep_batch=False),
             "cache resid_post only": lambda: cache_activations(model, batches, names_filter=lambda n: n.endswith("resid_post"), keep_batch=False),
             "cache all, float16": lambda: cache_activations(model, batches, dtype=torch.float16, keep_batch=False)}
    times = {k: [] for k in cases}; size = {k: 0 for k in cases}
    for r in range(a.rounds):
        for k, f in cases.items():
            t0 = time.perf_counter(); out = f(); times[k].append(time.perf_counter() - t0)
            if isinstance(out, dict): size[k] = sum(v.numel() * v.element_size() for v in out.values())
            del out
    ref = statistics.median(times["plain forward"])
    print(f"{a.windows} windows (context 20, 60 tokens) of the seed's default DT (d128, 3 layers), batches of {a.batch}:")
    print(f"  {'case':24s} {'windows/s':>10s} {'x plain':>8s} {'cache MiB':>10s}")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"  {k:24s} {a.windows / m:10.0f} {m / ref:8.2f} {size[k] / 2**20:10.0f}")
    print(f"  peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
