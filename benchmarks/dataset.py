"""The data path vs DT training: windows per second from DTDataset, and the load time of a 1M-transition file.

Writes a synthetic transitions file of N transitions (episodes of 50 steps, observations shaped like the quick-start
layout's symbolic mode), then measures, in one run:
  - writing it (TransitionWriter, journal + final merge),
  - load_transitions (contiguous arrays from flat/),
  - DTDataset construction, windows/s of `sample_batch` (what the trainer uses) and of per-item `__getitem__`,
  - the windows/s one training step of the default DT consumes (embed 128, 3 layers, 4 heads, context 20, batch 64),
    measured here with a plain PyTorch transformer of that shape; the ratio to it (target >= 20x).

    .venv/bin/python benchmarks/dataset.py [--transitions 1000000] [--state-dim 323]
"""
import argparse, tempfile, time
from pathlib import Path

import numpy as np
import torch

from midt.data.dataset import DTDataset
from midt.data.storage import TransitionWriter, load_transitions
from midt.data.trajectory import Trajectory


def write_file(path, n, state_dim, ep_len=50):
    rng = np.random.default_rng(0)
    with TransitionWriter(path, env_config={"action_dim": 4}, flush_episodes=2000) as w:
        for e in range(n // ep_len):
            s = np.zeros((ep_len, state_dim), np.float32)
            s[np.arange(ep_len), rng.integers(0, state_dim, ep_len)] = 1.0        # one-hot-like, as real observations
            w.add(Trajectory(s, rng.integers(0, 4, ep_len), np.full(ep_len, -0.01, np.float32), terminated=True,
                             latents={"agent_pos": rng.integers(0, 8, (ep_len, 2))}, attrs={"env_index": e % 4}))


def train_step_ms(state_dim, K=20, B=64, d=128, L=3, H=4, steps=5):
    "One training step of a plain transformer of the default DT's shape (3K tokens)."
    layer = torch.nn.TransformerEncoderLayer(d, H, 4 * d, dropout=0.1, batch_first=True, norm_first=True)
    net = torch.nn.Sequential(torch.nn.Linear(state_dim, d), torch.nn.TransformerEncoder(layer, L), torch.nn.Linear(d, 4))
    opt = torch.optim.AdamW(net.parameters())
    x, mask = torch.randn(B, 3 * K, state_dim), torch.nn.Transformer.generate_square_subsequent_mask(3 * K)
    for i in range(steps + 1):
        if i == 1: t0 = time.perf_counter()
        out = net[2](net[1](net[0](x), mask=mask, is_causal=True))
        out.sum().backward(); opt.step(); opt.zero_grad()
    return (time.perf_counter() - t0) / steps * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--transitions", type=int, default=1_000_000)
    p.add_argument("--state-dim", type=int, default=323)
    a = p.parse_args()
    path = Path(tempfile.mkdtemp())/"bench.h5"
    t = time.perf_counter(); write_file(path, a.transitions, a.state_dim); t_write = time.perf_counter() - t
    t = time.perf_counter(); data = load_transitions(path); t_load = time.perf_counter() - t
    t = time.perf_counter(); ds = DTDataset(data, context_length=20, split="train"); t_ds = time.perf_counter() - t
    rng = np.random.default_rng(0)
    t = time.perf_counter(); n = 0
    while time.perf_counter() - t < 3: ds.sample_batch(64, rng); n += 64
    batch_wps = n / (time.perf_counter() - t)
    t = time.perf_counter(); n = 0
    while time.perf_counter() - t < 3: ds[int(rng.integers(len(ds)))]; n += 1
    item_wps = n / (time.perf_counter() - t)
    ms = train_step_ms(a.state_dim)
    need = 64 / (ms / 1000)
    print(f"file: {data.num_transitions} transitions, {data.num_episodes} episodes, state_dim {a.state_dim}, "
          f"{path.stat().st_size / 2**20:.0f} MiB")
    print(f"  write (journal + merge)      {t_write:8.1f} s")
    print(f"  load_transitions             {t_load:8.2f} s")
    print(f"  DTDataset(train split)       {t_ds:8.2f} s")
    print(f"  sample_batch(64)             {batch_wps:8.0f} windows/s")
    print(f"  __getitem__                  {item_wps:8.0f} windows/s")
    print(f"  default DT train step        {ms:8.0f} ms -> consumes {need:.0f} windows/s")
    print(f"  ratio sample_batch / needed  {batch_wps / need:8.1f}x  (target >= 20x)")
    print(f"  ratio __getitem__ / needed   {item_wps / need:8.1f}x")


if __name__ == "__main__":
    main()
