"""midt's Decision Transformer training on the GPU (or whatever device is there): step speed, the data path, and an
end-to-end `train_dt` run whose checkpoint is checked on the CPU.

    PYTHONPATH=. python benchmarks/gpu_train.py --out OUTDIR            # the full run (about 2-3 minutes on an H200)
    PYTHONPATH=. python benchmarks/gpu_train.py --out /tmp/g --quick    # tiny sizes, runs on a CPU in about a minute

(a) Training steps. midt's real step -- `DecisionTransformer` + `action_loss` + `make_optimizer`'s AdamW + the LR
    scheduler + gradient clipping, under `torch.autocast("cuda", bfloat16)` exactly as `train_dt` does when `amp: true` --
    at the seed default shape (d_model 128, 3 layers, 4 heads, K 20, dropout 0.1, the data's state_dim) for several batch
    sizes, in fp32 (torch's default: no TF32) and bf16 autocast, and (resident feed only) tf32
    (`torch.set_float32_matmul_precision("high")`, which midt does not set).
    The same steps on the plain-PyTorch `Reference` of `benchmarks/dt_train.py` (nn.TransformerEncoder, pure causal mask),
    in the same run, interleaved round by round, so that `midt / ref` is a ratio measured under the same conditions.
    Three feeds of the batch:
      resident  pre-sampled batches already on the device (the model's speed alone)
      trainer   `DTDataset.sample_batch` -> train_dt's `_to` each step, as `train_dt` does (on CUDA: `.pin_memory()`, then
                `.to(device, non_blocking=True)`)
      pinned    `sample_batch` -> `.pin_memory()` -> `.to(device, non_blocking=True)` (what pinning would change)
    Timing: `torch.cuda.synchronize()` around each round of n steps (n chosen so a round lasts about --round-seconds),
    after warm-up steps; the median over --rounds interleaved rounds.

    Model FLOPs per training step (what the table's TFLOP/s counts; the same for midt and the reference):
        T = 3K tokens per window, N = B*T tokens per step, d = d_model, L layers, S = state_dim, A = actions
        forward  = 2*N*L*12*d^2            block matmuls (QKV 3d^2 + out d^2 + MLP 8d^2 multiply-adds per token)
                 + 4*B*L*T^2*d             attention scores QK^T and the weighted sum PV, full T x T (the kernels
                                           compute the masked half too; the useful causal part is about half of this)
                 + 2*B*K*(S*d + d*A)       state embedding and action head (the rtg embedding, 1 x d, is ignored)
        training = 3 * forward - 2*B*K*S*d (backward = 2x forward, except that no gradient of the input states is formed)
    Fractions of peak are given against the H200's dense bf16 spec (989 TFLOP/s) and against the ceiling measured in this
    run for the row's precision (an 8192^3 bf16 / 4096^3 tf32 / 4096^3 fp32 matmul, median of 10 after 3 warm-ups; the
    bf16 one was about 790 TFLOP/s on this workplace's H200s).

(b) The data path per step, alone: `sample_batch` (CPU), the host->device copy of a sampled batch from pageable memory,
    `pin_memory()` + copy, the copy from already-pinned memory, and sample + copy together; against the resident bf16
    step of (a), so one can tell whether the loader bounds training at GPU speed.

(c) `train_dt` end to end with `device: auto`, `amp: true` (and `amp: false`), seed default shape, batch 64, on the real
    transitions file, `eval_target_returns: []` (no rollouts: no environment is needed), `progress=False`. Steps/s is
    timed around `train_dt` itself: the whole call, and marginal (a 2000-step run minus a 100-step run, which removes
    set-up, the final evaluation and the checkpoint writes). Then the GPU checkpoint is loaded with
    `load_model_from_checkpoint(..., device="cpu")` and `device="auto"`: equal weights, and logits on CPU vs GPU fp32
    (tolerance 1e-3) and GPU bf16 autocast (tolerance 5e-2 * max(1, |logits|)), on windows with left padding; the fused
    attention path vs the explicit one (`run_with_cache`) on the device too.

Runs the matmul ceilings, then (c), (a), (b) -- the correctness check first -- and rewrites OUT/gpu_train.json (every
number) and OUT/gpu_train.md (the tables) after each part; `--deadline S` skips batch sizes not started by S seconds.
Without CUDA it says so and runs on the CPU (bf16 autocast and tf32 are CUDA-only in `train_dt`: only fp32 is measured).
"""
from __future__ import annotations

import argparse, json, os, platform, statistics, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from midt.data.dataset import DTDataset
from midt.data.storage import load_transitions
from midt.models.decision_transformer import DecisionTransformer
from midt.training import trainer as T
from midt.training.trainer import action_loss, load_model_from_checkpoint, lr_lambda, make_optimizer, train_dt
from midt.utils.config import DTModelConfig, DTTrainConfig, resolve_device
from benchmarks import dt_train

BF16_SPEC = 989.4e12          # H200 SXM dense bf16 tensor-core spec (same chip as the H100 SXM)
SPEC = {"bf16": BF16_SPEC, "tf32": 494.7e12, "fp32": 66.9e12}
SEED_SHAPE = dict(d=128, L=3, H=4, K=20, dropout=0.1)

_pageable = lambda b, dev: {k: v.to(dev, non_blocking=True) for k, v in b.items()}   # no pinning
_to = getattr(T, "_to", None) or _pageable


def train_flops(B, K, d, L, S, A):
    "Model FLOPs of one training step (see the module docstring)."
    Tk = 3 * K; N = B * Tk
    fwd = 2 * N * L * 12 * d * d + 4 * B * L * Tk * Tk * d + 2 * B * K * (S * d + d * A)
    return 3 * fwd - 2 * B * K * S * d


class Clock:
    "Wall time between synchronised points (CUDA: `torch.cuda.synchronize()` before each reading)."
    def __init__(self, device): self.cuda = device.startswith("cuda")
    def __call__(self):
        if self.cuda: torch.cuda.synchronize()
        return time.perf_counter()


def set_precision(p):
    "fp32: torch's default (no TF32); tf32: TF32 matmuls; bf16: fp32 weights, bf16 autocast (as train_dt's amp)."
    torch.set_float32_matmul_precision("high" if p == "tf32" else "highest")   # (no convolutions: cuDNN is left alone)


def matmul_ceiling(device, rounds=10):
    "Measured matmul TFLOP/s per precision on this device (CUDA only)."
    if not device.startswith("cuda"): return {}
    out = {}
    for p, n, dt in (("bf16", 8192, torch.bfloat16), ("tf32", 4096, torch.float32), ("fp32", 4096, torch.float32)):
        set_precision(p)
        a = torch.randn(n, n, device=device, dtype=dt); b = torch.randn(n, n, device=device, dtype=dt)
        for _ in range(3): a @ b
        ts = []
        for _ in range(rounds):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); a @ b; e.record(); e.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
        out[p] = 2 * n ** 3 / statistics.median(ts)
        del a, b
    set_precision("fp32"); torch.cuda.empty_cache()
    return out


def make_models(s, S, A, device):
    cfg = DTModelConfig(embed_dim=s["d"], num_layers=s["L"], num_heads=s["H"], dropout=s["dropout"], max_timestep=1000,
                        state_dim=S, action_dim=A)
    dt_train.STATE_DIM, dt_train.A = S, A        # the reference reads these module globals when built
    torch.manual_seed(0)
    return {"midt": DecisionTransformer(cfg, s["K"]).to(device), "ref": dt_train.Reference(s["d"], s["L"], s["H"], s["K"]).to(device)}


class Stepper:
    "One model's training step as `train_dt` runs it (optimizer, scheduler, clipping, autocast when bf16)."
    def __init__(self, model, tcfg, device):
        self.model, self.device, self.clip = model.train(), device, tcfg.gradient_clip
        self.opt = make_optimizer(model, tcfg)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(tcfg))

    def __call__(self, batch, amp):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = self.model(**batch)
        loss, _ = action_loss(logits, batch["actions"], batch["attention_mask"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step(); self.sched.step(); self.opt.zero_grad(set_to_none=True)
        return loss


def feeds(ds, B, device, rng, n_resident=4):
    pool = [_to(ds.sample_batch(B, rng), device) for _ in range(n_resident)]
    it = iter(range(10**12))
    f = {"resident": lambda: pool[next(it) % n_resident],
         "trainer": lambda: _to(ds.sample_batch(B, rng), device)}
    if device.startswith("cuda"):
        f["pinned"] = lambda: {k: v.pin_memory().to(device, non_blocking=True) for k, v in ds.sample_batch(B, rng).items()}
    return f


def run_rounds(configs, clock, rounds, round_s, warmup=3, max_steps=500):
    "configs: name -> fn() doing one step. Interleaved rounds; returns name -> list of seconds per step."
    n = {}
    for name, fn in configs.items():             # warm up, then size the round
        for _ in range(warmup): fn()
        t0 = clock(); fn(); fn(); t = (clock() - t0) / 2
        n[name] = int(min(max_steps, max(3, round_s / max(t, 1e-6))))
    res = {k: [] for k in configs}
    for _ in range(rounds):
        for name, fn in configs.items():
            t0 = clock()
            for _ in range(n[name]): fn()
            res[name].append((clock() - t0) / n[name])
    return res, n


def part_a(ds, S, A, device, a, ceil, clock):
    rows = []
    tcfg = DTTrainConfig(data_path=str(a.data), context_length=SEED_SHAPE["K"], batch_size=64, warmup_steps=10)
    precs = [p for p in a.precisions if device.startswith("cuda") or p == "fp32"]
    shape = dict(SEED_SHAPE)
    for B in a.batches + a.extra_batches:
        if a.deadline and time.perf_counter() - a.t0 > a.deadline:
            print(f"  B={B}: skipped, past --deadline {a.deadline:.0f} s", flush=True); continue
        feed_names = ["resident"] if B in a.extra_batches and B not in a.batches else None
        models = make_models(shape, S, A, device)
        steppers = {k: Stepper(m, tcfg, device) for k, m in models.items()}
        rng = np.random.default_rng(0)
        fd = feeds(ds, B, device, rng)
        cfgs = {}
        for fname in feed_names or list(fd):
            for p in precs:
                if p == "tf32" and fname != "resident": continue       # tf32: the model's speed only
                for mname, st in steppers.items():
                    def fn(st=st, f=fd[fname], p=p):
                        set_precision(p); st(f(), p == "bf16")
                    cfgs[(mname, p, fname)] = fn
        if device.startswith("cuda"): torch.cuda.reset_peak_memory_stats()
        try:
            res, n = run_rounds(cfgs, clock, a.rounds, a.round_seconds)
        except torch.cuda.OutOfMemoryError as e:
            print(f"  B={B}: out of memory ({str(e).splitlines()[0]}); skipped", flush=True); continue
        finally: set_precision("fp32")
        mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
        fl = train_flops(B, shape["K"], shape["d"], shape["L"], S, A)
        for (mname, p, fname), ts in res.items():
            t = statistics.median(ts)
            ref_t = statistics.median(res[("ref", p, fname)])
            rows.append(dict(model=mname, batch=B, precision=p, feed=fname, ms_per_step=t * 1e3, steps_per_s=1 / t,
                             tokens_per_s=B * 3 * shape["K"] / t, tflops=fl / t / 1e12, flops_per_step=fl,
                             pct_bf16_spec=100 * fl / t / BF16_SPEC,
                             pct_measured_ceiling=100 * fl / t / ceil[p] if p in ceil else None,
                             ratio_to_ref=t / ref_t, steps_per_round=n[(mname, p, fname)],
                             spread_pct=100 * (max(ts) - min(ts)) / t, peak_mem_gib=mem))
        print_a([r for r in rows if r["batch"] == B])
        del models, steppers, fd, cfgs
        if device.startswith("cuda"): torch.cuda.empty_cache()
    return rows


def fmt_a(rows):
    h = ("| model | B | prec | feed | ms/step | steps/s | Mtok/s | TFLOP/s | % bf16 spec | % ceiling | midt/ref | spread % |\n"
         "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    out = [h]
    for r in rows:
        c = f"{r['pct_measured_ceiling']:.2f}" if r["pct_measured_ceiling"] is not None else "-"
        ratio = f"{r['ratio_to_ref']:.2f}x" if r["model"] == "midt" else ""
        out.append(f"| {r['model']} | {r['batch']} | {r['precision']} | {r['feed']} | {r['ms_per_step']:.3f} | "
                   f"{r['steps_per_s']:.0f} | {r['tokens_per_s'] / 1e6:.2f} | {r['tflops']:.2f} | {r['pct_bf16_spec']:.2f} | "
                   f"{c} | {ratio} | {r['spread_pct']:.0f} |")
    return "\n".join(out)


def print_a(rows): print(fmt_a(rows), flush=True)


def part_b(ds, device, a, step_ms, clock):
    rows = []
    cuda = device.startswith("cuda")
    for B in a.batches:
        if a.deadline and time.perf_counter() - a.t0 > a.deadline:
            print(f"  B={B}: skipped, past --deadline {a.deadline:.0f} s", flush=True); continue
        rng = np.random.default_rng(1)
        cpu_b = ds.sample_batch(B, rng)
        nbytes = sum(v.numel() * v.element_size() for v in cpu_b.values())
        pinned_b = {k: v.pin_memory() for k, v in cpu_b.items()} if cuda else None
        cfgs = {"sample_batch (CPU)": lambda: ds.sample_batch(B, rng),
                "copy, pageable": lambda: _pageable(cpu_b, device),
                "sample + copy, pageable": lambda: _pageable(ds.sample_batch(B, rng), device),
                "sample + copy (train_dt)": lambda: _to(ds.sample_batch(B, rng), device)}
        if cuda:
            cfgs["pin_memory() + copy"] = lambda: {k: v.pin_memory().to(device, non_blocking=True) for k, v in cpu_b.items()}
            cfgs["copy, already pinned"] = lambda: {k: v.to(device, non_blocking=True) for k, v in pinned_b.items()}
            cfgs["sample + pin + copy"] = lambda: {k: v.pin_memory().to(device, non_blocking=True)
                                                   for k, v in ds.sample_batch(B, rng).items()}
        res, _ = run_rounds(cfgs, clock, a.rounds, a.round_seconds / 2)
        st = step_ms.get(B)
        for name, ts in res.items():
            t = statistics.median(ts)
            rows.append(dict(batch=B, what=name, ms=t * 1e3, mb=nbytes / 1e6,
                             gb_per_s=nbytes / t / 1e9 if name.startswith("copy") else None,
                             step_ms=st, pct_of_step=100 * t * 1e3 / st if st else None))
    return rows


def fmt_b(rows):
    out = ["| B | what | ms | batch MB | GB/s | resident step ms | % of step |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        g = f"{r['gb_per_s']:.1f}" if r["gb_per_s"] else ""
        s = f"{r['step_ms']:.3f}" if r["step_ms"] else ""
        p = f"{r['pct_of_step']:.0f}" if r["pct_of_step"] is not None else ""
        out.append(f"| {r['batch']} | {r['what']} | {r['ms']:.3f} | {r['mb']:.1f} | {g} | {s} | {p} |")
    return "\n".join(out)


def part_c(data, device, a, tmp):
    "train_dt end to end, then the checkpoint on CPU vs on the device."
    out = {"runs": []}
    amps = [True, False] if device.startswith("cuda") else [False]
    for amp in amps:
        times = {}
        for label, steps in (("warm-up", a.e2e_short), ("short", a.e2e_short), ("long", a.e2e_steps)):
            cfg = DTTrainConfig(data_path=str(a.data), device="auto", amp=amp, max_steps=steps, warmup_steps=min(100, steps),
                                batch_size=64, context_length=SEED_SHAPE["K"], eval_every=steps, save_every=steps,
                                eval_target_returns=[], val_windows=a.e2e_val_windows, seed=0)
            d = Path(tmp)/f"amp{int(amp)}_{label}"
            t0 = time.perf_counter()
            res = train_dt(cfg, DTModelConfig(), output_dir=str(d), data=data, progress=False)
            if device.startswith("cuda"): torch.cuda.synchronize()
            times[label] = time.perf_counter() - t0
        S, L = a.e2e_short, a.e2e_steps
        run = dict(amp=amp, device=resolve_device("auto"), steps=L, seconds=times["long"], steps_per_s=L / times["long"],
                   marginal_steps_per_s=(L - S) / max(times["long"] - times["short"], 1e-9),
                   setup_and_final_s=times["short"] - S * (times["long"] - times["short"]) / (L - S),
                   final=res.history[-1] if res.history else None, checkpoint=str(res.last_path))
        out["runs"].append(run)
        print(f"  train_dt amp={amp}: {L} steps in {times['long']:.2f} s = {run['steps_per_s']:.0f} steps/s overall, "
              f"{run['marginal_steps_per_s']:.0f} steps/s marginal; val loss {run['final']['val_loss']:.3f}", flush=True)
        if amp == amps[0]: main_res = res
    out["checkpoint_check"] = check_checkpoint(main_res, data, device, a)
    return out


@torch.no_grad()
def check_checkpoint(res, data, device, a):
    c = {}
    m_cpu = load_model_from_checkpoint(res.last_path, device="cpu")
    m_dev = load_model_from_checkpoint(res.last_path, device="auto")
    c["loaded_on_cpu"] = next(m_cpu.parameters()).device.type == "cpu"
    c["loaded_on"] = str(next(m_dev.parameters()).device)
    c["param_dtype"] = str(next(m_cpu.parameters()).dtype)
    trained = {k: v.detach().cpu() for k, v in res.model.state_dict().items()}
    c["weights_equal_to_trained"] = all(torch.equal(trained[k], v) for k, v in m_cpu.state_dict().items())
    ds = DTDataset(data, split="all", context_length=m_cpu.context_length, rtg_scale=1.0)
    ends = np.linspace(0, len(ds) - 1, 256).astype(np.int64)          # includes windows at episode starts (left padding)
    b = ds.gather(ends)
    c["padded_windows"] = int((b["attention_mask"] == 0).any(1).sum())
    ref = m_cpu(**b)
    bd = {k: v.to(device) for k, v in b.items()}
    got32 = m_dev(**bd).float().cpu()
    scale = max(1.0, float(ref.abs().max()))
    c["max_abs_diff_fp32"] = float((got32 - ref).abs().max())
    c["logit_scale"] = scale
    c["fp32_ok"] = c["max_abs_diff_fp32"] <= 1e-3 * scale
    if device.startswith("cuda"):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got16 = m_dev(**bd).float().cpu()
        c["max_abs_diff_bf16"] = float((got16 - ref).abs().max())
        real = b["attention_mask"].bool()
        c["bf16_argmax_agreement"] = float((got16.argmax(-1) == ref.argmax(-1))[real].float().mean())
        c["bf16_ok"] = c["max_abs_diff_bf16"] <= 5e-2 * scale
    explicit, _ = m_dev.run_with_cache(**bd)                           # hooks on the pattern: the explicit attention path
    c["max_abs_diff_fused_vs_explicit_on_device"] = float((explicit.float().cpu() - got32).abs().max())
    c["fused_vs_explicit_ok"] = c["max_abs_diff_fused_vs_explicit_on_device"] <= 1e-3 * scale
    c["ok"] = all(v for k, v in c.items() if k.endswith("_ok") or k in ("loaded_on_cpu", "weights_equal_to_trained"))
    return c


def env_info(device):
    info = dict(python=platform.python_version(), torch=torch.__version__, numpy=np.__version__, device=device,
                cuda_available=torch.cuda.is_available(), torch_cuda=torch.version.cuda, threads=torch.get_num_threads(),
                cpus=os.cpu_count())
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", sms=p.multi_processor_count,
                    gpu_mem_gib=round(p.total_memory / 2**30, 1), cudnn=torch.backends.cudnn.version())
    import pydantic, gymnasium
    info["pydantic"] = f"{pydantic.VERSION} ({Path(pydantic.__file__).parent.parent})"
    info["gymnasium"] = f"{gymnasium.__version__} ({Path(gymnasium.__file__).parent.parent})"
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for gpu_train.json and gpu_train.md")
    p.add_argument("--data", default=str(ROOT/"benchmarks/gpu_data/transitions.h5"), help="a transitions.h5 (make_gpu_data.sh)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batches", default="64,512,2048", help="batch sizes of (a) with every feed, and of (b)")
    p.add_argument("--extra-batches", default="8192", help="batch sizes of (a), resident feed only (saturation)")
    p.add_argument("--precisions", default="fp32,tf32,bf16")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--round-seconds", type=float, default=0.2)
    p.add_argument("--e2e-steps", type=int, default=2000)
    p.add_argument("--e2e-short", type=int, default=100)
    p.add_argument("--e2e-val-windows", type=int, default=2048, help="train_dt's val_windows (its default: 2048)")
    p.add_argument("--parts", default="a,b,c")
    p.add_argument("--deadline", type=float, default=0, help="seconds: batch sizes of (a) and (b) not started by then are skipped")
    p.add_argument("--quick", action="store_true", help="tiny sizes (a CPU test of the script): B 8,32; 2 rounds; 30-step e2e")
    a = p.parse_args(argv)
    if a.quick:
        a.batches, a.extra_batches, a.rounds, a.round_seconds, a.e2e_steps, a.e2e_short = "8,32", "", 2, 0.05, 30, 10
        a.e2e_val_windows = 256
    a.batches = [int(x) for x in str(a.batches).split(",") if x]
    a.extra_batches = [int(x) for x in str(a.extra_batches).split(",") if x and int(x) not in a.batches]
    a.precisions = [x for x in a.precisions.split(",") if x]
    a.parts = set(a.parts.split(","))
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(a.device)
    if not device.startswith("cuda"):
        print(f"NOTE: no CUDA device (torch {torch.__version__}, cuda available: {torch.cuda.is_available()}); "
              f"running on {device}: fp32 only, numbers are not GPU numbers", flush=True)
    a.t0 = time.perf_counter()
    report = {"env": env_info(device), "args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(a).items()},
              "errors": []}
    print(json.dumps(report["env"], indent=1), flush=True)
    clock = Clock(device)
    data = load_transitions(a.data)
    ds = DTDataset(data, split="train", context_length=SEED_SHAPE["K"], train_split=0.9, seed=0)
    S, A = ds.state_dim, ds.action_dim
    report["data"] = dict(path=str(a.data), episodes=data.num_episodes, transitions=data.num_transitions, state_dim=S,
                          action_dim=A, train_windows=len(ds))
    print(f"data: {report['data']}", flush=True)
    head = [f"# midt DT training on {report['env'].get('gpu', device)}", "",
            f"torch {torch.__version__}, CUDA {torch.version.cuda}, data {data.num_episodes} episodes / "
            f"{data.num_transitions} transitions, state_dim {S}, shape d{SEED_SHAPE['d']} L{SEED_SHAPE['L']} "
            f"H{SEED_SHAPE['H']} K{SEED_SHAPE['K']} dropout {SEED_SHAPE['dropout']}", ""]
    md = {}                                       # section -> markdown lines, written in a fixed order
    errors = report["errors"]

    def save():
        "Write what is known so far (a run killed later still leaves its finished parts)."
        report["seconds"] = time.perf_counter() - a.t0
        body = [l for k in ("ceil", "a", "b", "c") for l in md.get(k, [])]
        tail = [f"total {report['seconds']:.0f} s; errors: {errors or 'none'}", ""]
        (out/"gpu_train.json").write_text(json.dumps(report, indent=1, default=str))
        (out/"gpu_train.md").write_text("\n".join(head + body + tail))

    def section(name, fn):
        t0 = time.perf_counter()
        print(f"\n== {name}  (at {t0 - a.t0:.0f} s)", flush=True)
        try: return fn()
        except Exception as e:
            traceback.print_exc(); errors.append(f"{name}: {type(e).__name__}: {e}"); return None
        finally: print(f"   ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)

    ceil = section("matmul ceilings", lambda: matmul_ceiling(device)) or {}
    report["matmul_ceiling_tflops"] = {k: v / 1e12 for k, v in ceil.items()}
    if ceil: print("  " + ", ".join(f"{k} {v / 1e12:.0f} TFLOP/s" for k, v in ceil.items()), flush=True)
    md["ceil"] = ["measured matmul ceilings (TFLOP/s): " + (", ".join(f"{k} {v / 1e12:.0f}" for k, v in ceil.items()) or
                  "none (no CUDA)") + f"; bf16 spec {BF16_SPEC / 1e12:.0f}", ""]
    save()
    if "c" in a.parts:                            # first: the correctness check matters most if time runs short
        with tempfile.TemporaryDirectory() as tmp:
            c = section("(c) train_dt end to end + checkpoint on CPU", lambda: part_c(data, device, a, tmp))
        report["c_train_dt"] = c
        if c:
            print(json.dumps(c["checkpoint_check"], indent=1), flush=True)
            md["c"] = ["## (c) train_dt end to end", "",
                       "| amp | device | steps | s | steps/s | marginal steps/s | set-up + final s | val loss |",
                       "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            md["c"] += [f"| {r['amp']} | {r['device']} | {r['steps']} | {r['seconds']:.2f} | {r['steps_per_s']:.0f} | "
                        f"{r['marginal_steps_per_s']:.0f} | {r['setup_and_final_s']:.2f} | {r['final']['val_loss']:.3f} |"
                        for r in c["runs"]]
            md["c"] += ["", "checkpoint check: `" + json.dumps(c["checkpoint_check"]) + "`", ""]
            if not c["checkpoint_check"]["ok"]: errors.append("checkpoint check failed: " + json.dumps(c["checkpoint_check"]))
        save()
    if "a" in a.parts:
        rows = section("(a) training steps", lambda: part_a(ds, S, A, device, a, ceil, clock)) or []
        report["a_steps"] = rows
        md["a"] = ["## (a) training steps (median of interleaved rounds; midt/ref at the same batch, precision, feed)", "",
                   fmt_a(rows), ""]
        save()
    step_ms = {r["batch"]: r["ms_per_step"] for r in report.get("a_steps", [])
               if r["model"] == "midt" and r["feed"] == "resident" and r["precision"] == ("bf16" if device.startswith("cuda") else "fp32")}
    if "b" in a.parts:
        rows = section("(b) data path", lambda: part_b(ds, device, a, step_ms, clock)) or []
        report["b_data_path"] = rows
        print(fmt_b(rows), flush=True)
        md["b"] = ["## (b) data path per step (median)", "", fmt_b(rows), ""]
    save()
    print(f"\nwrote {out/'gpu_train.json'} and {out/'gpu_train.md'} in {report['seconds']:.0f} s; errors: {errors or 'none'}", flush=True)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
