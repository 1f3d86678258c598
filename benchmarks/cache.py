"""Caching activations over a dataset: windows/s and cache size for all hooks vs a names filter, side by side with plain
forward passes over the same batches (target: caching everything <= 1.3x the plain forwards). Every case does the same
work: the run fails before timing anything when the cache of `--windows` windows would not fit in `--max-gb`, and after
each case when a cache holds fewer windows than asked. Two reference rows say where the time of the cache goes: the
explicit attention path (the pattern materialised, as a cache of the pattern needs) and writing the cache's bytes into
fresh memory (first-touch page faults: the floor of any cache that returns new tensors). The process's peak RSS is
printed at the end.

    .venv/bin/python benchmarks/cache.py [--windows 2048] [--batch 256] [--max-gb 8]
"""
import argparse, resource, statistics, sys, time, warnings

import torch

from midt.interp.cache import cache_activations, model_inputs
from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.utils.config import DTModelConfig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=2048); p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3); p.add_argument("--max-gb", type=float, default=8.0)
    a = p.parse_args()
    warnings.simplefilter("error")                       # a cache that stops early is a failed run, not a fast one
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=128, num_layers=3, num_heads=4, dropout=0.1, max_timestep=1000,
                                              state_dim=323), context_length=20).eval()
    batches = [example_inputs(model, batch=a.batch, seed=i, pad=i % 5) for i in range(a.windows // a.batch)]
    W = a.batch * len(batches)
    one = cache_activations(model, batches[0], keep_batch=False)
    per_window = sum(v[0].numel() * v.element_size() for v in one.values())
    if W * per_window > a.max_gb * 2**30:
        sys.exit(f"error: {W} windows cache {W * per_window / 2**30:.1f} GB (all hooks, float32) > --max-gb {a.max_gb}; "
                 "lower --windows or raise --max-gb")
    shapes = [(W,) + tuple(v.shape[1:]) for v in one.values()]

    def plain():
        with torch.no_grad():
            for b in batches: model(**model_inputs(b))
    def explicit():
        with torch.no_grad(), model.hooks([(lambda n: n.endswith("hook_pattern"), lambda t, hook: None)]):
            for b in batches: model(**model_inputs(b))
    def fresh():
        out = [torch.empty(s) for s in shapes]
        for o, v in zip(out, one.values()):
            for s in range(0, W, a.batch): o[s:s + a.batch].copy_(v)
        return out
    cache = lambda **kw: lambda: cache_activations(model, batches, keep_batch=False, max_memory_gb=a.max_gb, **kw)
    cases = {"plain forward": plain, "explicit attention": explicit, "fresh memory, same bytes": fresh,
             "cache all hooks": cache(), "cache resid_post only": cache(names_filter=lambda n: n.endswith("resid_post")),
             "cache all, float16": cache(dtype=torch.float16)}
    times = {k: [] for k in cases}; size = {k: 0 for k in cases}
    for r in range(a.rounds):
        for k, f in cases.items():
            t0 = time.perf_counter(); out = f(); times[k].append(time.perf_counter() - t0)
            if isinstance(out, dict):
                short = {n: len(v) for n, v in out.items() if len(v) != W}
                if short: sys.exit(f"error: {k!r} cached {min(short.values())} of {W} windows: not the same work as the plain forward")
                size[k] = sum(v.numel() * v.element_size() for v in out.values())
            elif isinstance(out, list): size[k] = sum(v.numel() * v.element_size() for v in out)
            del out
    ref = statistics.median(times["plain forward"])
    print(f"{W} windows (context 20, 60 tokens) of the seed's default DT (d128, 3 layers), batches of {a.batch}, "
          f"{torch.get_num_threads()} threads:")
    print(f"  {'case':26s} {'windows/s':>10s} {'x plain':>8s} {'cache MiB':>10s}")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"  {k:26s} {W / m:10.0f} {m / ref:8.2f} {size[k] / 2**20:10.0f}")
    print(f"  peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
