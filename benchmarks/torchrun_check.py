"""`train_dt` under torchrun beside one process with the same global batch: loss curves side by side, max |Δloss|,
per-step time ratio, and a resume from the N-rank run's checkpoint in one process.

    python benchmarks/torchrun_check.py                           # here: 2 gloo ranks on the CPU
    python benchmarks/torchrun_check.py --device auto --nproc 8   # a machine with 8 GPUs: one NCCL rank per GPU, bf16 autocast

Per-step times come from TensorBoard's wall times between the first and the last logged step (start-up excluded).
Informational: prints, asserts nothing. Dropout is 0, so the curves differ only by summation order.
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from midt.testing import toy_data
from midt.utils.config import DTModelConfig, DTTrainConfig, save_config


def run(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode: sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return time.perf_counter() - t


def curve(out: Path) -> dict[int, tuple[float, float]]:
    "step -> (train loss, wall time) from the run's TensorBoard events."
    ev = EventAccumulator(str(next((out/"tb").glob("events.*")))); ev.Reload()
    return {e.step: (e.value, e.wall_time) for e in ev.Scalars("train/loss")}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nproc", type=int, default=2); p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=400); p.add_argument("--batch", type=int, default=64)
    p.add_argument("--embed", type=int, default=64); p.add_argument("--layers", type=int, default=2)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="torchrun_check_"))
    data = toy_data(n_episodes=400, length=12, path=tmp/"toy.h5")
    base = dict(data_path=str(data.path), context_length=10, batch_size=a.batch, max_steps=a.steps, warmup_steps=20,
                learning_rate=1e-3, eval_every=a.steps // 2, save_every=a.steps, log_every=max(1, a.steps // 10),
                val_windows=256, device=a.device, amp=True, seed=0)
    save_config(DTModelConfig(embed_dim=a.embed, num_layers=a.layers, num_heads=2, dropout=0.0, max_timestep=16), tmp/"m.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("OMP_NUM_THREADS", "1")
    one = [sys.executable, "-m", "midt.scripts.train_dt"]
    many = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}", "-m", "midt.scripts.train_dt"]
    walls = {}
    for name, cmd, extra in (("one", one, []), ("ranks", many, []), ("cut", many, ["--stop-at", str(a.steps // 2)]),
                             ("resumed", one, ["--resume"])):
        out = tmp/("cut" if name == "resumed" else name)
        save_config(DTTrainConfig(**base, output_dir=str(out)), tmp/f"{name}.yaml")
        walls[name] = run(cmd + ["--config", str(tmp/f"{name}.yaml"), "--model-config", str(tmp/"m.yaml"), "--no-progress", *extra], env)
    c1, cn = curve(tmp/"one"), curve(tmp/"ranks")
    print(f"torch {torch.__version__}, device {a.device}, {a.nproc} ranks vs 1 process, global batch {a.batch}, "
          f"embed {a.embed}, {a.layers} layers, {a.steps} steps")
    print(f"{'step':>6} {'1 process':>12} {f'{a.nproc} ranks':>12} {'|Δ|':>9}")
    for s in sorted(c1): print(f"{s:6d} {c1[s][0]:12.7f} {cn[s][0]:12.7f} {abs(c1[s][0] - cn[s][0]):9.2e}")
    print(f"max |Δ train loss| over the curve: {max(abs(c1[s][0] - cn[s][0]) for s in c1):.2e}")
    lo, hi = min(c1), max(c1)
    t1, tn = ((c[hi][1] - c[lo][1]) / (hi - lo) for c in (c1, cn))
    print(f"per step: 1 process {t1 * 1e3:.2f} ms, {a.nproc} ranks {tn * 1e3:.2f} ms; ratio {a.nproc} ranks / 1 process = {tn / t1:.2f}")
    print(f"whole commands (start-up included): 1 process {walls['one']:.1f} s, {a.nproc} ranks {walls['ranks']:.1f} s")
    full, resumed = (torch.load(tmp/d/"checkpoints/last.pt", weights_only=True) for d in ("one", "cut"))
    dv = abs(full["history"][-1]["val_loss"] - resumed["history"][-1]["val_loss"])
    print(f"{a.nproc} ranks to step {a.steps // 2}, resumed in 1 process to {a.steps}: final val loss "
          f"{resumed['history'][-1]['val_loss']:.6f} vs uninterrupted 1 process {full['history'][-1]['val_loss']:.6f} (|Δ| {dv:.2e})")


if __name__ == "__main__":
    main()
