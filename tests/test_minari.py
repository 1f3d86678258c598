"Minari both ways on data the data stage recorded: CLI export, CLI import, identical windows, and a DT trained on the import through the normal CLI."
import os, subprocess, sys

import numpy as np
import pytest
import torch

from midt.agents.dqn_trainer import train_dqn
from midt.data.dataset import DTDataset
from midt.data.storage import load_transitions
from midt.training.checkpoint import TrainedDT
from midt.utils.config import DQNConfig, DTModelConfig, DTTrainConfig, save_config

@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("dqn")
    res = train_dqn(DQNConfig(env_layout_path="quickstart", obs_mode="symbolic", max_episode_steps=30, n_envs=2,
                              total_timesteps=1200, learning_starts=200, net_arch=[32], extra_episodes=2,
                              snapshot_fractions=[1.0], progress_bar=False, device="cpu", seed=0), output_dir=str(out))
    return res.data_path

def run(*args, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, env=env)

def test_export_import_train(recorded, tmp_path):
    root = tmp_path/"minari"
    r = run("-m", "midt.data.minari", "export", str(recorded), "midt/quickstart-v0", "--data-path", str(root))
    assert r.returncode == 0, r.stderr
    # Minari itself reads it, with its datasets folder from the environment
    code = ("import minari; d = minari.load_dataset('midt/quickstart-v0'); "
            "print(d.total_episodes, d.total_steps, sorted(next(iter(d.iterate_episodes())).infos))")
    r = run("-c", code, env={**os.environ, "MINARI_DATASETS_PATH": str(root)})
    data = load_transitions(recorded)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == [str(data.num_episodes), str(data.num_transitions)]
    assert all(name in r.stdout for name in data.latents)
    r = run("-m", "midt.data.minari", "import", "midt/quickstart-v0", str(tmp_path/"imported.h5"), "--data-path", str(root))
    assert r.returncode == 0, r.stderr
    back = load_transitions(tmp_path/"imported.h5")
    assert back.attrs["content_hash"] == data.attrs["content_hash"]
    assert back.env_config == data.env_config
    a = DTDataset(data, context_length=6, split="all", with_latents=True)
    b = DTDataset(back, context_length=6, split="all", with_latents=True)
    rows = np.arange(data.num_transitions)
    wa, wb = a.gather(rows), b.gather(rows)
    assert sorted(wa) == sorted(wb)
    for k in wa: assert torch.equal(wa[k], wb[k]), k
    # the imported file trains a DT through the normal command line
    save_config(DTTrainConfig(data_path=str(tmp_path/"imported.h5"), output_dir=str(tmp_path/"dt"), context_length=6, batch_size=16,
                              max_steps=20, warmup_steps=2, eval_every=10, save_every=10, log_every=10, device="cpu", seed=0), tmp_path/"t.yaml")
    save_config(DTModelConfig(embed_dim=32, num_layers=1, num_heads=2, dropout=0.0, max_timestep=32), tmp_path/"m.yaml")
    r = run("-m", "midt.scripts.train_dt", "--config", str(tmp_path/"t.yaml"), "--model-config", str(tmp_path/"m.yaml"), "--no-progress")
    assert r.returncode == 0, r.stderr
    dt = TrainedDT.load(tmp_path/"dt/checkpoints/last.pt")
    assert dt.step == 20 and dt.data_hash == data.attrs["content_hash"]

def test_bad_input_is_one_line(tmp_path):
    r = run("-m", "midt.data.minari", "import", "midt/missing-v0", str(tmp_path/"x.h5"), "--data-path", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no Minari dataset 'midt/missing-v0'" in r.stderr, r.stderr
    r = run("-m", "midt.data.minari", "export", str(tmp_path/"nope.h5"), "midt/x-v0", "--data-path", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
