"The DT trained on data recorded by the data stage: CLI, accuracy above chance, exact resume, NaN stop, checkpoints."
import subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from midt.agents.dqn_trainer import train_dqn
from midt.data.storage import load_transitions
from midt.training.checkpoint import TrainedDT
from midt.training.trainer import CheckpointError, load_model_from_checkpoint, train_dt
from midt.utils.config import DQNConfig, DTModelConfig, DTTrainConfig, save_config

@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("dqn")
    res = train_dqn(DQNConfig(env_layout_path="quickstart", obs_mode="symbolic", max_episode_steps=30, n_envs=2,
                              total_timesteps=3000, learning_starts=300, exploration_fraction=0.5, net_arch=[32],
                              extra_episodes=4, snapshot_fractions=[0.5, 1.0], progress_bar=False, device="cpu", seed=0),
                    output_dir=str(out))
    return res.data_path

TCFG = dict(context_length=6, batch_size=32, max_steps=150, warmup_steps=20, learning_rate=1e-3, eval_every=50,
            save_every=50, log_every=25, device="cpu", seed=0)
MCFG = DTModelConfig(embed_dim=32, num_layers=2, num_heads=2, dropout=0.1, max_timestep=32)

def test_cli_trains_clearly_better_than_chance(recorded, tmp_path):
    save_config(DTTrainConfig(data_path=str(recorded), output_dir=str(tmp_path/"dt"), **{**TCFG, "max_steps": 300}), tmp_path/"t.yaml")
    save_config(MCFG, tmp_path/"m.yaml")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.train_dt", "--config", str(tmp_path/"t.yaml"),
                        "--model-config", str(tmp_path/"m.yaml"), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    dt = TrainedDT.load(tmp_path/"dt/checkpoints/best.pt")
    assert (tmp_path/"dt/checkpoints/last.pt").exists()
    best = min(h["val_loss"] for h in dt.history)
    acc = [h["val_action_accuracy"] for h in dt.history]
    assert max(acc) > 0.45, acc                    # chance is 0.25 with four actions
    assert best < 1.2                               # log(4) = 1.386 for a uniform guess

def test_resume_is_bit_identical(recorded, tmp_path):
    data = load_transitions(recorded)
    cfg = DTTrainConfig(data_path=str(recorded), **TCFG)
    full = train_dt(cfg, MCFG, output_dir=str(tmp_path/"full"), data=data, progress=False)
    train_dt(cfg, MCFG, output_dir=str(tmp_path/"cut"), data=data, progress=False, stop_at=75)   # not at a save point
    assert torch.load(tmp_path/"cut/checkpoints/last.pt", weights_only=True)["step"] == 75   # it really stopped early
    resumed = train_dt(cfg, MCFG, output_dir=str(tmp_path/"cut"), data=data, progress=False, resume=True)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert full.history == resumed.history

def test_bc_baseline_ignores_the_return(recorded, tmp_path):
    data = load_transitions(recorded)
    cfg = DTTrainConfig(data_path=str(recorded), **{**TCFG, "max_steps": 30})
    bc = train_dt(cfg, MCFG.model_copy(update={"condition_on_return": False}), output_dir=str(tmp_path), data=data, progress=False)
    m = load_model_from_checkpoint(bc.best_path)
    from midt.models.decision_transformer import example_inputs
    x = example_inputs(m, batch=2)
    with torch.no_grad():
        assert torch.equal(m(**x), m(**{**x, "returns_to_go": x["returns_to_go"] + 5.0}))

def test_rollouts_during_training_are_logged(recorded, tmp_path):
    cfg = DTTrainConfig(data_path=str(recorded), **{**TCFG, "max_steps": 50, "eval_target_returns": [0.9, -1.0], "eval_episodes": 3})
    res = train_dt(cfg, MCFG, output_dir=str(tmp_path), progress=False)
    h = res.history[-1]
    assert np.isfinite(h["return_at_0.9"]) and np.isfinite(h["return_at_-1"])
    assert -0.11 * 30 - 1e-6 <= h["return_at_0.9"] <= 0.91 + 1e-6         # within what the quick-start layout allows

def test_nan_loss_stops_with_the_step(recorded, tmp_path):
    cfg = DTTrainConfig(data_path=str(recorded), **{**TCFG, "learning_rate": 1e12, "gradient_clip": 1e12})
    with pytest.raises(FloatingPointError, match=r"non-finite training loss or gradient at step \d+"):
        train_dt(cfg, MCFG, output_dir=str(tmp_path), progress=False)
    for p in (tmp_path/"checkpoints").glob("*.pt"):   # nothing saved holds broken weights
        sd = torch.load(p, weights_only=True)["model_state"]
        assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point())

def test_checkpoint_errors(recorded, tmp_path):
    (tmp_path/"x.pt").write_text("garbage")
    with pytest.raises(CheckpointError, match="x.pt: not a midt checkpoint"): load_model_from_checkpoint(tmp_path/"x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path/"other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not a midt checkpoint"): load_model_from_checkpoint(tmp_path/"other.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt: checkpoint not found"): load_model_from_checkpoint(tmp_path/"nope.pt")


def test_best_by_last_keeps_the_last_evaluation(tmp_path):
    "`best_by: last` makes best.pt the last evaluated model, whatever the validation loss did."
    from midt.testing import toy_data
    data = toy_data("first_state", n_episodes=60)
    steps = {}
    for by in ("val_loss", "last"):
        tcfg = DTTrainConfig(data_path=data.path, context_length=5, batch_size=16, max_steps=120, warmup_steps=5,
                             learning_rate=3e-3, eval_every=40, save_every=40, log_every=40, device="cpu", best_by=by)
        res = train_dt(tcfg, DTModelConfig(embed_dim=16, num_layers=1, num_heads=2, max_timestep=8),
                       output_dir=str(tmp_path/by), data=data, progress=False)
        st = torch.load(res.best_path, weights_only=True, map_location="cpu")
        best = min(res.history, key=lambda h: h["val_loss"])["step"]
        steps[by] = (st["step"], best)
    assert steps["val_loss"][0] == steps["val_loss"][1]      # the lowest validation loss
    assert steps["last"][0] == 120                            # the last evaluation
    with pytest.raises(ValueError, match="best_by"):
        DTTrainConfig(best_by="accuracy")
