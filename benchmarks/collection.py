"""Cost of recording: `DQN.learn` with the TransitionRecorderCallback vs without, same seed and steps, side by side.

Runs are interleaved (plain, recorded, plain, recorded, ...) so machine noise hits both alike; the median of each is
reported with their ratio (target <= 1.05). The writer's final merge into transitions.h5 happens after `learn` and is
reported on its own line.

Second part: the MiniGrid adapter (flat one-hot view + latents) against raw MiniGrid, stepped with the same random
actions and seeds, interleaved, as steps/s and a ratio (target <= 1.2).

    .venv/bin/python benchmarks/collection.py [--steps 20000] [--rounds 3] [--obs symbolic] [--part all|recorder|minigrid]
"""
import argparse, statistics, tempfile, time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

from midt.agents.callbacks import TransitionRecorderCallback
from midt.data.storage import TransitionWriter
from midt.envs.gridworld import GridWorldEnv
from midt.envs.minigrid import make_minigrid


def run(steps, obs, n_envs, record: bool, tmp: Path, i: int):
    vec = make_vec_env(lambda: GridWorldEnv("quickstart", obs_mode=obs, max_steps=50), n_envs=n_envs, seed=0)
    model = DQN("MlpPolicy", vec, learning_starts=1000, seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]})
    cb, writer = None, None
    if record:
        writer = TransitionWriter(tmp/f"t{i}.h5", env_config={"action_dim": 4})
        cb = TransitionRecorderCallback(writer)
    t0 = time.perf_counter()
    model.learn(steps, callback=cb)
    learn = time.perf_counter() - t0
    close = 0.0
    if writer:
        t1 = time.perf_counter(); writer.close(); close = time.perf_counter() - t1
    vec.close()
    return learn, close


def step_env(env, steps: int, seed: int = 0) -> float:
    "Seconds to take `steps` random actions (same actions and resets for any env of the task)."
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps)
    env.reset(seed=seed); episode = 0
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc: episode += 1; env.reset(seed=seed + episode)
    return time.perf_counter() - t0


def minigrid_overhead(env_id: str, steps: int, rounds: int):
    import minigrid  # noqa: F401  (registers the ids)
    raw, adapted = gym.make(env_id), make_minigrid(env_id)
    t_raw, t_ad = [], []
    for r in range(rounds):
        t_raw.append(step_env(raw, steps, r)); t_ad.append(step_env(adapted, steps, r))
    mr, ma = statistics.median(t_raw), statistics.median(t_ad)
    print(f"{env_id}: {steps} random steps, {rounds} interleaved rounds (median):")
    print(f"  raw MiniGrid      {steps / mr:9.0f} steps/s")
    print(f"  midt adapter      {steps / ma:9.0f} steps/s   (flat one-hot view + latents)")
    print(f"  ratio             {ma / mr:9.3f}   (target <= 1.2)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--obs", default="symbolic")
    p.add_argument("--n-envs", type=int, default=4)
    p.add_argument("--part", choices=["all", "recorder", "minigrid"], default="all")
    p.add_argument("--minigrid-env", default="MiniGrid-DoorKey-5x5-v0")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.part in ("all", "minigrid"): minigrid_overhead(a.minigrid_env, a.steps, a.rounds)
    if a.part == "minigrid": return
    tmp = Path(tempfile.mkdtemp())
    plain, rec, close = [], [], []
    for r in range(a.rounds):
        plain.append(run(a.steps, a.obs, a.n_envs, False, tmp, r)[0])
        l, c = run(a.steps, a.obs, a.n_envs, True, tmp, r); rec.append(l); close.append(c)
    mp, mr = statistics.median(plain), statistics.median(rec)
    print(f"DQN.learn {a.steps} steps, {a.n_envs} envs, obs={a.obs}, {a.rounds} interleaved rounds (median):")
    print(f"  without recorder  {mp:7.2f} s")
    print(f"  with recorder     {mr:7.2f} s")
    print(f"  ratio             {mr / mp:7.3f}   (target <= 1.05)")
    print(f"  writer.close()    {statistics.median(close):7.2f} s   (merging the journal into transitions.h5, after learn)")


if __name__ == "__main__":
    main()
