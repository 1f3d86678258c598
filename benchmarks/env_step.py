"""Steps per second of GridWorldEnv vs MiniGrid DoorKey-8x8 (one-hot observations), measured side by side.

Each environment is built with `gymnasium.make` (same wrappers), driven by the same random action stream, reset on
episode end, and timed in interleaved rounds; the median round is reported. Target: GridWorldEnv >= 10x MiniGrid.

    .venv/bin/python benchmarks/env_step.py [--steps 20000] [--rounds 5]
"""
import argparse, statistics, time

import gymnasium as gym
import numpy as np

import midt  # noqa: F401  registers midt/GridWorld-v0


def make_minigrid_onehot():
    import minigrid  # noqa: F401
    from minigrid.wrappers import OneHotPartialObsWrapper
    return OneHotPartialObsWrapper(gym.make("MiniGrid-DoorKey-8x8-v0"))


CASES = {
    "GridWorld quickstart symbolic": lambda: gym.make("midt/GridWorld-v0", layout="quickstart", obs_mode="symbolic", max_steps=100),
    "GridWorld quickstart symbolic_minimal": lambda: gym.make("midt/GridWorld-v0", layout="quickstart", obs_mode="symbolic_minimal", max_steps=100),
    "GridWorld posner symbolic": lambda: gym.make("midt/GridWorld-v0", layout="posner", obs_mode="symbolic", max_steps=100),
    "GridWorld posner symbolic_minimal": lambda: gym.make("midt/GridWorld-v0", layout="posner", obs_mode="symbolic_minimal", max_steps=100),
    "MiniGrid DoorKey-8x8 one-hot": make_minigrid_onehot,
}


def steps_per_second(env, actions) -> float:
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc: env.reset()
    return len(actions) / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    envs = {k: f() for k, f in CASES.items()}
    rng = np.random.default_rng(0)
    acts4 = rng.integers(0, 4, a.steps).tolist()
    acts_mg = rng.integers(0, 6, a.steps).tolist()
    res = {k: [] for k in envs}
    for _ in range(a.rounds):  # interleaved, so machine noise hits all cases alike
        for k, env in envs.items():
            res[k].append(steps_per_second(env, acts_mg if k.startswith("MiniGrid") else acts4))
    ref = statistics.median(res["MiniGrid DoorKey-8x8 one-hot"])
    print(f"{'environment':40s} {'steps/s':>10s} {'x MiniGrid':>11s}")
    for k, v in res.items():
        m = statistics.median(v)
        print(f"{k:40s} {m:10.0f} {m / ref:10.1f}x")


if __name__ == "__main__":
    main()
