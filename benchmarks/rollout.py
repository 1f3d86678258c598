"""Episodes per second of batched evaluation (one forward per step for all episodes) vs the one-at-a-time loop.

Both evaluate the same 64 episodes (same seeds, same sampled actions) of a DT of the quick-start shape on the quick-start
layout, side by side in one run; the ratio is printed (target >= 5x).

    .venv/bin/python benchmarks/rollout.py [--episodes 64] [--rounds 3]
"""
import argparse, statistics, time

import torch

from midt.envs.factory import env_config
from midt.evaluation.rollout import DTActor, rollout
from midt.models.decision_transformer import DecisionTransformer
from midt.utils.config import DTModelConfig
from midt.envs.gridworld import GridWorldEnv


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=64); p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    ecfg = env_config("quickstart", obs_mode="symbolic", max_steps=50)
    state_dim = GridWorldEnv("quickstart").observation_space.shape[0]
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=64, num_layers=2, num_heads=2, max_timestep=64, state_dim=state_dim), 10)
    actor = DTActor(model)
    kw = dict(target_returns=[0.9], num_episodes=a.episodes, seed=0, optimum=1.0)
    res = {"batched": [], "one at a time": []}
    for _ in range(a.rounds):
        for name, bs in (("batched", None), ("one at a time", 1)):
            t0 = time.perf_counter(); eps = rollout(actor, ecfg, batch_size=bs, **kw)
            res[name].append(len(eps) / (time.perf_counter() - t0))
    steps = sum(e.length for e in eps)
    print(f"{a.episodes} episodes ({steps} steps) of an untrained quick-start-shape DT, median of {a.rounds} rounds:")
    for k, v in res.items(): print(f"  {k:14s} {statistics.median(v):8.1f} episodes/s")
    print(f"  ratio          {statistics.median(res['batched']) / statistics.median(res['one at a time']):8.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
