"Real `torchrun` jobs of train_dt on gloo: two ranks follow one process's loss curve, resume across numbers of ranks, and a killed rank ends the job cleanly."
import os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from midt.testing import toy_data
from midt.training.checkpoint import TrainedDT
from midt.training.trainer import train_dt
from midt.utils.config import DTModelConfig, DTTrainConfig, save_config

ROOT = Path(__file__).resolve().parent.parent
TCFG = dict(context_length=5, batch_size=16, max_steps=60, warmup_steps=10, learning_rate=3e-3, eval_every=10,
            save_every=20, log_every=10, val_windows=64, device="cpu", seed=0)
MCFG = DTModelConfig(embed_dim=32, num_layers=1, num_heads=2, dropout=0.0, max_timestep=16)  # no dropout: same draws
LOSS_TOL = 1e-5     # max |Δloss| over the curve, 2 ranks vs 1 process (measured: 1.9e-7; only summation order differs)
WEIGHT_TOL = 1e-3   # max |Δweight| after 60 steps (measured: 4e-5; AdamW magnifies rounding in tiny gradients)

@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return toy_data(n_episodes=60, length=7, path=tmp_path_factory.mktemp("data")/"toy.h5").path

@pytest.fixture(scope="module")
def alone(data_path, tmp_path_factory):
    "The reference: one process, the same global batch, uninterrupted."
    out = tmp_path_factory.mktemp("alone")
    return train_dt(DTTrainConfig(data_path=str(data_path), **TCFG), MCFG, output_dir=str(out), progress=False)

def torchrun(nproc: int, cfg: DTTrainConfig, tmp: Path, *args: str, wait: bool = True):
    "`python -m torch.distributed.run --standalone --nproc_per_node=N -m midt.scripts.train_dt ...` (a free port each time)."
    save_config(cfg, tmp/"t.yaml"); save_config(MCFG, tmp/"m.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "midt.scripts.train_dt",
           "--config", str(tmp/"t.yaml"), "--model-config", str(tmp/"m.yaml"), "--no-progress", *args]
    if not wait: return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r

def same_run(a: Path, b: Path):
    "Two checkpoints of the same run: the same steps, the losses within LOSS_TOL, the weights within WEIGHT_TOL."
    ca, cb = (torch.load(p, weights_only=True) for p in (a, b))
    assert ca["step"] == cb["step"] and [h["step"] for h in ca["history"]] == [h["step"] for h in cb["history"]]
    for ha, hb in zip(ca["history"], cb["history"]):
        for k in ("train_loss", "val_loss"): assert abs(ha[k] - hb[k]) < LOSS_TOL, (ha["step"], k, ha[k], hb[k])
    for k, v in ca["model_state"].items(): assert torch.allclose(v, cb["model_state"][k], atol=WEIGHT_TOL), k

def test_two_ranks_follow_one_process(data_path, alone, tmp_path):
    r = torchrun(2, DTTrainConfig(data_path=str(data_path), output_dir=str(tmp_path/"dt"), **TCFG), tmp_path)
    same_run(alone.last_path, tmp_path/"dt/checkpoints/last.pt")
    assert r.stdout.count("[midt] DT trained") == 1                  # rank 0 reports, and only rank 0 logs
    assert len(list((tmp_path/"dt/tb").glob("events.*"))) == 1
    assert sorted(p.name for p in (tmp_path/"dt/checkpoints").iterdir()) == ["best.pt", "last.pt"]
    first, last = alone.history[0]["train_loss"], alone.history[-1]["train_loss"]
    assert last < first / 5, (first, last)                          # the curve compared is a real descent

def test_resume_with_another_number_of_ranks(data_path, alone, tmp_path):
    cfg = DTTrainConfig(data_path=str(data_path), **TCFG)
    two_then_one, one_then_two = tmp_path/"2to1", tmp_path/"1to2"
    torchrun(2, cfg.model_copy(update={"output_dir": str(two_then_one)}), tmp_path, "--stop-at", "30")
    assert torch.load(two_then_one/"checkpoints/last.pt", weights_only=True)["step"] == 30   # it really stopped early
    train_dt(cfg, MCFG, output_dir=str(two_then_one), resume=True, progress=False)
    same_run(alone.last_path, two_then_one/"checkpoints/last.pt")
    train_dt(cfg, MCFG, output_dir=str(one_then_two), stop_at=30, progress=False)
    torchrun(2, cfg.model_copy(update={"output_dir": str(one_then_two)}), tmp_path, "--resume")
    same_run(alone.last_path, one_then_two/"checkpoints/last.pt")

def rank_pids(pid: int) -> dict[int, int]:
    "RANK -> pid of torchrun's worker processes (its children that carry RANK in their environment)."
    kids = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t/"children").read_text().split()]
    found = {}
    for c in kids:
        try: env = dict(kv.split("=", 1) for kv in Path(f"/proc/{c}/environ").read_bytes().decode().split("\0") if "=" in kv)
        except OSError: continue
        if "RANK" in env: found[int(env["RANK"])] = c
    return found

@pytest.mark.parametrize("killed", [0, 1])
def test_a_killed_rank_ends_the_job_cleanly(data_path, tmp_path, killed):
    out = tmp_path/"dt"; ck = out/"checkpoints"
    cfg = DTTrainConfig(data_path=str(data_path), output_dir=str(out), **{**TCFG, "max_steps": 100_000, "save_every": 10})
    p = torchrun(2, cfg, tmp_path, wait=False)
    try:
        deadline = time.monotonic() + 240
        while not (ck/"last.pt").exists():                         # training is under way and has written a checkpoint
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()[1][-3000:]
            time.sleep(0.1)
        pids = rank_pids(p.pid)
        assert sorted(pids) == [0, 1], pids
        os.kill(pids[killed], signal.SIGKILL)                      # a real kill, mid-run (rank 0 may be writing last.pt)
        _, err = p.communicate(timeout=120)                        # the job ends: no rank waits forever
    finally:
        if p.poll() is None: p.kill(); p.communicate()
    assert p.returncode != 0
    assert f"error: rank {1 - killed} of 2: " in err, err[-3000:]  # the survivor says who it is and why it stopped
    assert "--resume continues it" in err and "SIGKILL" in err       # ... and torchrun names the killed rank
    assert sorted(q.name for q in ck.iterdir() if not q.name.startswith(".")) == ["best.pt", "last.pt"]
    dt = TrainedDT.load(ck/"last.pt")                              # the last complete checkpoint stays valid
    step = torch.load(ck/"last.pt", weights_only=True)["step"]
    assert step > 0 and step % 10 == 0 and dt.history, step

def test_a_hung_rank_times_out(data_path, tmp_path, monkeypatch):
    "A rank that stops answering (SIGSTOP: alive, so torchrun sees nothing) fails the others after MIDT_DIST_TIMEOUT_S."
    monkeypatch.setenv("MIDT_DIST_TIMEOUT_S", "10")
    out = tmp_path/"dt"; ck = out/"checkpoints"
    cfg = DTTrainConfig(data_path=str(data_path), output_dir=str(out), **{**TCFG, "max_steps": 100_000, "save_every": 10})
    p = torchrun(2, cfg, tmp_path, wait=False)
    pids = {}
    try:
        deadline = time.monotonic() + 240
        while not (ck/"last.pt").exists():
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()[1][-3000:]
            time.sleep(0.1)
        pids = rank_pids(p.pid)
        os.kill(pids[1], signal.SIGSTOP); stopped = time.monotonic()
        while Path(f"/proc/{pids[0]}").exists() and time.monotonic() < stopped + 60: time.sleep(0.2)
        waited = time.monotonic() - stopped
        os.kill(pids[1], signal.SIGCONT)                           # let torchrun's SIGTERM reach it
        _, err = p.communicate(timeout=120)
    finally:
        if pids: os.kill(pids[1], signal.SIGCONT) if Path(f"/proc/{pids[1]}").exists() else None
        if p.poll() is None: p.kill(); p.communicate()
    assert 8 < waited < 50, waited                                 # it waited for the timeout, not for ever
    assert p.returncode != 0 and "error: rank 0 of 2: another rank failed or the process group broke" in err, err[-3000:]
    TrainedDT.load(ck/"last.pt")
