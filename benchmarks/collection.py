"""Cost of recording: `DQN.learn` with the TransitionRecorderCallback vs without, same seed and steps, side by side.

Runs are interleaved (plain, recorded, plain, recorded, ...) so machine noise hits both alike; the median of each is
reported with their ratio (target <= 1.05). The writer's final merge into transitions.h5 happens after `learn` and is
reported on its own line.

    .venv/bin/python benchmarks/collection.py [--steps 20000] [--rounds 3] [--obs symbolic]
"""
import argparse, statistics, tempfile, time
from pathlib import Path

import torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

from midt.agents.callbacks import TransitionRecorderCallback
from midt.data.storage import TransitionWriter
from midt.envs.gridworld import GridWorldEnv


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--obs", default="symbolic")
    p.add_argument("--n-envs", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(1)
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
