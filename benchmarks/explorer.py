"""Explorer step latency at the seed's default model shape (d128, 3 layers, 4 heads, context 20), side by side with
the model's plain forward on the same single window: one step = env step + cached forward + DLA + every panel.

    .venv/bin/python benchmarks/explorer.py [--steps 40]
"""
import argparse, statistics, time

import numpy as np
import torch

from midt.envs.factory import env_config, make_env
from midt.models.decision_transformer import DecisionTransformer
from midt.utils.config import DTModelConfig
from midt.viz.explorer import Explorer


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0]); p.add_argument("--steps", type=int, default=40)
    a = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = env_config("key_door_cue", obs_mode="symbolic", max_steps=200)
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=128, num_layers=3, num_heads=4, dropout=0.1, max_timestep=1000,
                                              state_dim=make_env(cfg).observation_space.shape[0], action_dim=4), context_length=20).eval()
    model.checkpoint_info = {"env_config": cfg, "rtg_scale": 1.0}
    ex = Explorer(model)
    rng = np.random.default_rng(0)
    step, fwd = [], []
    for i in range(a.steps):
        t0 = time.perf_counter(); ex.step(int(rng.integers(4))); step.append(time.perf_counter() - t0)
        ctx = ex.context()
        t0 = time.perf_counter()
        with torch.no_grad(): model(**ctx)
        fwd.append(time.perf_counter() - t0)
        if ex.done: ex.reset()
    s, f = statistics.median(step[3:]), statistics.median(fwd[3:])
    print(f"explorer step (default model, context 20, median of {a.steps - 3}): {s * 1000:.1f} ms; "
          f"plain forward {f * 1000:.1f} ms; ratio {s / f:.1f}x; 95th percentile {np.percentile(step[3:], 95) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
