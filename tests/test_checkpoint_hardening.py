"Hostile checkpoints, resumes and data: each is refused with one line naming the file and what would be valid."
import subprocess, sys, types

import numpy as np
import pytest
import torch

import midt.training.checkpoint as checkpoint
import midt.training.trainer as trainer
from midt.testing import toy_data
from midt.training.checkpoint import TrainedDT
from midt.training.trainer import (CheckpointError, NonFiniteLossError, load_model_from_checkpoint,
                                   train_dt)
from midt.utils.config import DTModelConfig, DTTrainConfig, save_config

MCFG = DTModelConfig(embed_dim=8, num_layers=2, num_heads=1, dropout=0.0, max_timestep=8)

def tcfg(data, **kw):
    return DTTrainConfig(data_path=str(data.path), **{**dict(context_length=3, batch_size=8, max_steps=6, warmup_steps=1,
                         eval_every=3, save_every=3, log_every=3, val_windows=8, device="cpu", seed=0), **kw})

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ck")
    data = toy_data(n_episodes=12, path=tmp/"toy.h5")
    res = train_dt(tcfg(data), MCFG, output_dir=str(tmp/"run"), data=data, progress=False)
    return data, res.last_path, torch.load(res.last_path, weights_only=True)

def refused(path, *parts, resume=False):
    "Loading `path` raises a one-line CheckpointError that starts with the file and contains `parts`."
    with pytest.raises(CheckpointError) as e:
        trainer._load_checkpoint_dict(path, resume=resume) if resume else load_model_from_checkpoint(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
    for p in parts: assert p in msg, msg
    return msg

class Thing: pass

def test_unreadable_files(run, tmp_path):
    _, good, _ = run
    raw = good.read_bytes()
    cases = {"empty": b"", "text": b"garbage", "zeros": bytes(4096), "random": np.random.default_rng(0).bytes(3000),
             "head": raw[:10], "half": raw[:len(raw) // 2], "tail": raw[:-20]}
    for name, b in cases.items():
        (tmp_path/f"{name}.pt").write_bytes(b)
        refused(tmp_path/f"{name}.pt", "not a midt checkpoint")
    refused(tmp_path/"empty.pt", "the file is empty (0 bytes)")
    torch.save({"x": Thing()}, tmp_path/"pickled.pt")
    refused(tmp_path/"pickled.pt", "not a midt checkpoint", "pickled Python objects")

@pytest.mark.parametrize("obj", [[1, 2], torch.zeros(3), 5, None, "midt", (1,)])
def test_not_a_dict(obj, tmp_path):
    torch.save(obj, tmp_path/"x.pt")
    refused(tmp_path/"x.pt", "not a midt checkpoint: it holds a", "expected a dict")

@pytest.mark.parametrize("key", checkpoint._LOAD_KEYS + ("format", "version"))
def test_missing_keys(run, tmp_path, key):
    _, _, st = run
    torch.save({k: v for k, v in st.items() if k != key}, tmp_path/"x.pt")
    refused(tmp_path/"x.pt", repr(key) if key not in ("format", "version") else key)

@pytest.mark.parametrize("key", checkpoint._RESUME_KEYS)
def test_missing_resume_keys(run, tmp_path, key):
    _, _, st = run
    torch.save({k: v for k, v in st.items() if k != key}, tmp_path/"x.pt")
    load_model_from_checkpoint(tmp_path/"x.pt")                       # fine for using the model
    refused(tmp_path/"x.pt", f"missing {key!r} (needed to resume)", resume=True)

BAD_FIELDS = [("model_config", [1]), ("model_config", {"num_heads": "x"}), ("model_config", {"embed_dim": 9, "num_heads": 2}),
              ("context_length", 0), ("context_length", "3"), ("context_length", True), ("context_length", 4),
              ("rtg_scale", float("nan")), ("rtg_scale", 0.0), ("rtg_scale", "1"), ("step", -1), ("step", 1.5),
              ("best_val_loss", "low"), ("history", "x"), ("history", [1]), ("data_hash", 5), ("env_config", "{"),
              ("env_config", "[1]"), ("train_config", None)]

@pytest.mark.parametrize("key,value", BAD_FIELDS)
def test_bad_fields(run, tmp_path, key, value):
    _, _, st = run
    if key == "model_config" and isinstance(value, dict): value = {**st["model_config"], **value}
    torch.save({**st, key: value}, tmp_path/"x.pt")
    refused(tmp_path/"x.pt", key)

def test_normalisation(run, tmp_path):
    _, _, st = run
    m, s = st["state_mean"], st["state_std"]
    for name, upd, says in [("std0", {"state_std": s * 0}, "state_std has entries <= 0"),
                            ("stdneg", {"state_std": -s}, "state_std has entries <= 0"),
                            ("stdnan", {"state_std": s * float("nan")}, "state_std has non-finite"),
                            ("meaninf", {"state_mean": m + float("inf")}, "state_mean has non-finite"),
                            ("short", {"state_mean": m[:2]}, "expected a float vector of length state_dim 4"),
                            ("long", {"state_std": torch.ones(9)}, "state_std is shape [9]"),
                            ("2d", {"state_std": s[None]}, "state_std is shape [1, 4]"),
                            ("int", {"state_mean": torch.zeros(4, dtype=torch.long)}, "state_mean is shape [4] int64"),
                            ("list", {"state_mean": [0.0] * 4}, "state_mean is list")]:
        torch.save({**st, **upd}, tmp_path/f"{name}.pt")
        refused(tmp_path/f"{name}.pt", says)

def test_weights(run, tmp_path):
    _, _, st = run
    sd = st["model_state"]; k = "blocks.1.attn.W_O.weight"
    cases = [("shape", {**sd, k: torch.zeros(3, 3)}, f"wrong shape {k} [3, 3] (model: [8, 8])"),
             ("missing", {n: v for n, v in sd.items() if n != k}, f"missing {k}"),
             ("extra", {**sd, "blocks.2.attn.W_O.weight": sd[k]}, "unexpected blocks.2.attn.W_O.weight"),
             ("nan", {**sd, k: sd[k] * float("nan")}, f"non-finite (NaN/inf) weights in {k}"),
             ("inf", {**sd, k: sd[k] + float("inf")}, f"non-finite (NaN/inf) weights in {k}"),
             ("value", {**sd, k: [1.0]}, "model_state is not a dict of named tensors"),
             ("notdict", [1, 2], "model_state is not a dict of named tensors")]
    for name, msd, says in cases:
        torch.save({**st, "model_state": msd}, tmp_path/f"{name}.pt")
        refused(tmp_path/f"{name}.pt", says)
    torch.save({**st, "model_config": {**st["model_config"], "num_layers": 1}}, tmp_path/"layers.pt")
    refused(tmp_path/"layers.pt", "model_state does not fit", "unexpected blocks.1.")

def test_resume_refuses_changed_settings(run, tmp_path):
    data, _, _ = run
    out = str(tmp_path/"r")
    train_dt(tcfg(data), MCFG, output_dir=out, data=data, progress=False, stop_at=3)
    with pytest.raises(CheckpointError) as e:
        train_dt(tcfg(data, learning_rate=1e-3, batch_size=4, max_steps=9), MCFG, output_dir=out, data=data, progress=False, resume=True)
    assert "cannot resume with changed training settings: learning_rate 0.0001 -> 0.001, batch_size 8 -> 4, max_steps 6 -> 9" in str(e.value)
    assert str(e.value).startswith(str(tmp_path/"r/checkpoints/last.pt"))
    with pytest.raises(CheckpointError, match="seed 0 -> 1"):
        train_dt(tcfg(data, seed=1), MCFG, output_dir=out, data=data, progress=False, resume=True)
    with pytest.raises(CheckpointError, match="embed_dim: checkpoint 8 vs requested 16"):
        train_dt(tcfg(data), MCFG.model_copy(update={"embed_dim": 16}), output_dir=out, data=data, progress=False, resume=True)
    other = toy_data(n_episodes=12, seed=3, path=tmp_path/"other.h5")
    with pytest.raises(CheckpointError, match="trained on other data"):
        train_dt(tcfg(other), MCFG, output_dir=out, data=other, progress=False, resume=True)
    res = train_dt(tcfg(data, save_every=2, output_dir="elsewhere"), MCFG, output_dir=out, data=data, progress=False, resume=True)
    assert res.history[-1]["step"] == 6                               # settings that do not change the run are allowed

def test_resume_with_misfit_optimizer_state(run, tmp_path):
    data, _, st = run
    (tmp_path/"checkpoints").mkdir()
    torch.save({**st, "optimizer": {"state": {}, "param_groups": []}}, tmp_path/"checkpoints/last.pt")
    with pytest.raises(CheckpointError, match=r"last.pt: its optimizer state does not fit"):
        train_dt(tcfg(data), MCFG, output_dir=str(tmp_path), data=data, progress=False, resume=True)
    torch.save({**st, "rng": {"torch": torch.zeros(3)}}, tmp_path/"checkpoints/last.pt")
    with pytest.raises(CheckpointError, match=r"last.pt: its rng state does not fit"):
        train_dt(tcfg(data), MCFG, output_dir=str(tmp_path), data=data, progress=False, resume=True)

def test_divergence_names_the_step_and_keeps_the_last_good_checkpoint(run, tmp_path, monkeypatch):
    data, _, _ = run
    calls = {"n": 0}
    real = trainer.action_loss
    def loss_goes_nan(logits, actions, mask):
        loss, acc = real(logits, actions, mask)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] >= 5: loss = loss * float("nan")
        return loss, acc
    monkeypatch.setattr(trainer, "action_loss", loss_goes_nan)
    with pytest.raises(NonFiniteLossError) as e:
        train_dt(tcfg(data), MCFG, output_dir=str(tmp_path), data=data, progress=False)
    msg = str(e.value)
    assert "non-finite training loss or gradient at step 5" in msg and "lower learning_rate (e.g. 1e-05)" in msg, msg
    assert f"the last good checkpoint, {tmp_path/'checkpoints/last.pt'} (step 3), is untouched" in msg, msg
    assert isinstance(e.value, ValueError) and isinstance(e.value, FloatingPointError) and "\n" not in msg
    assert TrainedDT.load(tmp_path/"checkpoints/last.pt").step == 3

def test_cli_divergence_is_one_line(run, tmp_path):
    data, _, _ = run
    save_config(tcfg(data, learning_rate=1e12, gradient_clip=1e12, output_dir=str(tmp_path/"dt")), tmp_path/"t.yaml")
    save_config(MCFG, tmp_path/"m.yaml")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.train_dt", "--config", str(tmp_path/"t.yaml"),
                        "--model-config", str(tmp_path/"m.yaml"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "non-finite training loss or gradient at step" in r.stderr, r.stderr

def test_progress_bar_shows_the_loss(run, tmp_path, capsys):
    data, _, _ = run
    train_dt(tcfg(data), MCFG, output_dir=str(tmp_path/"a"), data=data, progress=True)
    err = capsys.readouterr().err
    assert "DT" in err and "loss=" in err, err
    train_dt(tcfg(data), MCFG, output_dir=str(tmp_path/"b"), data=data, progress=False)
    assert "loss=" not in capsys.readouterr().err

def test_fits_data(run, tmp_path):
    data, good, _ = run
    m = TrainedDT.load(good)
    m.fits(data)
    m.fits(str(data.path))                                               # a path works too
    other = toy_data(n_episodes=12, seed=5, path=tmp_path/"other.h5")
    with pytest.raises(CheckpointError) as e: m.fits(other)
    assert str(e.value).startswith(f"{good} was trained on other data than {other.path}: content hash") and "\n" not in str(e.value)
    m.fits(other, same_data=False)
    wide = toy_data(n_episodes=12, state_dim=6, path=tmp_path/"wide.h5")
    with pytest.raises(CheckpointError, match="the model takes state_dim 4 and 4 actions, the data has state_dim 6 and 4 actions"):
        m.fits(wide, same_data=False)

def test_wandb(run, tmp_path, monkeypatch):
    data, _, _ = run
    seen = {}
    class Run:
        def finish(self): seen["finished"] = True
    fake = types.SimpleNamespace(init=lambda **kw: seen.update(kw) or Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    train_dt(tcfg(data, use_wandb=True, wandb_project="p", run_name="r"), MCFG, output_dir=str(tmp_path), data=data, progress=False)
    assert seen["project"] == "p" and seen["name"] == "r" and seen["sync_tensorboard"] and seen["finished"]
    assert seen["config"]["train"]["learning_rate"] == 1e-4 and seen["config"]["model"]["embed_dim"] == MCFG.embed_dim
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(RuntimeError, match="use_wandb: true needs the `wandb` package"):
        train_dt(tcfg(data, use_wandb=True), MCFG, output_dir=str(tmp_path/"x"), data=data, progress=False)
