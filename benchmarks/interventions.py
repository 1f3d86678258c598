"""Closed-loop rollouts with an intervention active vs without, side by side in one process: batched episodes of the
Posner-cue room with a DT of the Posner config's shape (d64, 2 layers, 2 heads, context 10). Each intervention is
timed per decision step (an ablated agent may walk longer episodes) and as wall time. Target: at most 1.3x.

    .venv/bin/python benchmarks/interventions.py [--episodes 64] [--rounds 5]
"""
import argparse, statistics, time

import torch

from midt.envs.factory import env_config, make_env
from midt.evaluation.rollout import DTActor, rollout
from midt.interp.interventions import ablate, steer
from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.utils.config import DTModelConfig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=64); p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    cfg = env_config("key_door_cue", obs_mode="symbolic", max_steps=50)
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=64, num_layers=2, num_heads=2, dropout=0.0, max_timestep=64,
                                              state_dim=make_env(cfg).observation_space.shape[0]), context_length=10).eval()
    ref = example_inputs(model, batch=256, seed=1)
    actor = DTActor(model)
    cases = {"unmodified": None,
             "zero-ablate one head (L0H1)": lambda: ablate(model, ("z", 0), "zero", heads=[1]),
             "mean-ablate every MLP (per position)": lambda: ablate(model, "mlp_out", "mean", reference=ref),
             "resample one head, matched on the cue": lambda: ablate(model, ("z", 0), "resample", heads=[1], reference=ref,
                                                                     key=lambda w: w["states"][:, -1, -2:].argmax(-1)),
             "steer resid_mid at the decision": lambda: steer(model, "resid_mid", torch.ones(64), 0.1, positions=[-2])}
    per_step, wall = {k: [] for k in cases}, {k: [] for k in cases}
    for r in range(a.rounds + 1):                            # round 0 warms up (imports, allocator) and is not counted
        for k, make in cases.items():                         # alternated, so drift in the machine's load hits all alike
            t0 = time.perf_counter()
            if make is None: eps = rollout(actor, cfg, [0.9], a.episodes, seed=0, temperature=0.5)
            else:
                with make(): eps = rollout(actor, cfg, [0.9], a.episodes, seed=0, temperature=0.5)
            dt = time.perf_counter() - t0
            if r: wall[k].append(dt); per_step[k].append(dt / sum(e.length for e in eps))
    ms = {k: statistics.median(v) for k, v in per_step.items()}; ws = {k: statistics.median(v) for k, v in wall.items()}
    base, wbase = ms["unmodified"], ws["unmodified"]
    print(f"closed loop, {a.episodes} episodes stepped together, key_door_cue, DT d64 x 2 layers, K 10 (median of {a.rounds}):")
    print(f"  {'':40s} {'per step':>10s} {'ratio':>7s} {'wall':>8s} {'ratio':>7s}")
    for k in cases:
        print(f"  {k:40s} {ms[k] * 1e6:8.0f}us {ms[k] / base:6.2f}x {ws[k]:7.2f}s {ws[k] / wbase:6.2f}x")
    worst = max(ms[k] / base for k in cases)
    print(f"  worst per-step ratio {worst:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
