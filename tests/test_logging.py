"What TensorBoard holds after real (tiny) DQN and DT runs: the full config as text, the hyperparameters with final metrics."
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from midt.agents.dqn_trainer import train_dqn
from midt.testing import toy_data
from midt.training.trainer import train_dt
from midt.utils.config import DQNConfig, DTModelConfig, DTTrainConfig

def events(folder: Path) -> EventAccumulator:
    return EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0}).Reload()

def test_dt_run_logs_config_and_hparams(tmp_path):
    toy = toy_data(n_episodes=20, path=tmp_path/"toy.h5")
    cfg = DTTrainConfig(data_path=str(toy.path), context_length=3, batch_size=8, max_steps=6, warmup_steps=1, eval_every=3,
                        save_every=3, log_every=3, val_windows=8, device="cpu", seed=0, learning_rate=3e-4)
    res = train_dt(cfg, DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, dropout=0.0, max_timestep=8),
                   output_dir=str(tmp_path/"dt"), progress=False)
    ev = events(tmp_path/"dt"/"tb")
    text = ev.Tensors("config/train/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "learning_rate: 0.0003" in text and "|max_steps|6|" in text
    assert "embed_dim: 8" in ev.Tensors("config/model/text_summary")[0].tensor_proto.string_val[0].decode()
    assert ev.Scalars("hparam/final_val_loss")[0].value == res.history[-1]["val_loss"]
    assert ev.Scalars("hparam/best_val_loss")[0].value == min(h["val_loss"] for h in res.history)
    assert b"train/learning_rate" in ev.PluginTagToContent("hparams")["_hparams_/experiment"]

def test_dqn_run_logs_config_and_hparams(tmp_path):
    res = train_dqn(DQNConfig(env_layout_path="quickstart", obs_mode="symbolic", max_episode_steps=20, n_envs=1,
                              total_timesteps=300, learning_starts=100, net_arch=[16], extra_episodes=0,
                              progress_bar=False, device="cpu", seed=0), output_dir=str(tmp_path))
    runs = [p for p in (tmp_path/"tb").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs                      # SB3's run folder holds the config and hparams too
    ev = events(runs[0])
    assert "total_timesteps: 300" in ev.Tensors("config/dqn/text_summary")[0].tensor_proto.string_val[0].decode()
    assert abs(ev.Scalars("hparam/return_mean")[0].value - res.summary["return_mean"]) < 1e-6
    assert ev.Scalars("hparam/episodes")[0].value == res.summary["episodes"]

def offline_run(out: Path) -> bytes:
    "The records of the one offline W&B run under `out` (W&B's own log, to be synced later; no server involved)."
    import wandb
    wandb.teardown()                                  # W&B's service writes the run's log out asynchronously
    runs = list((out/"wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    return runs[0].read_bytes()

def test_wandb_offline_gets_the_dt_and_dqn_configs(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline"); monkeypatch.setenv("WANDB_SILENT", "true")
    toy = toy_data(n_episodes=20, path=tmp_path/"toy.h5")
    cfg = DTTrainConfig(data_path=str(toy.path), context_length=3, batch_size=8, max_steps=6, warmup_steps=1, eval_every=3,
                        save_every=3, log_every=3, val_windows=8, device="cpu", seed=0, learning_rate=3e-4,
                        use_wandb=True, wandb_project="midt-test", run_name="dt-offline")
    train_dt(cfg, DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, dropout=0.0, max_timestep=8),
             output_dir=str(tmp_path/"dt"), progress=False)
    rec = offline_run(tmp_path/"dt")
    assert b"learning_rate" in rec and b"0.0003" in rec and b"embed_dim" in rec   # the train and model configs reach W&B
    assert b"train/loss" in rec and b"val/val_loss" in rec                      # and TensorBoard's scalars, mirrored
    train_dqn(DQNConfig(env_layout_path="quickstart", obs_mode="symbolic", max_episode_steps=20, n_envs=1,
                        total_timesteps=300, learning_starts=100, net_arch=[16], extra_episodes=0, progress_bar=False,
                        device="cpu", seed=0, use_wandb=True, wandb_project="midt-test"), output_dir=str(tmp_path/"dqn"))
    assert b"total_timesteps" in offline_run(tmp_path/"dqn")
