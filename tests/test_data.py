"Recorded data read back with plain h5py; durability under SIGKILL; every VecEnv and algorithm; bad files."
import os, signal, subprocess, sys, time
from pathlib import Path

import h5py
import numpy as np
import pytest

from midt.agents.dqn_trainer import train_dqn
from midt.data.dataset import INPUT_KEYS, DTDataset
from midt.data.storage import DataFileError, TransitionWriter, journal_dir, load_transitions, recover, validate
from midt.utils.config import DQNConfig

HELPERS = Path(__file__).parent/"helpers"

def _run(tmp_path, algorithm, total, **kw):
    kw = {"extra_episodes": 0, **kw}
    cfg = DQNConfig(env_layout_path="quickstart", obs_mode="symbolic_minimal", max_episode_steps=30, n_envs=2,
                    algorithm=algorithm, total_timesteps=total, learning_starts=200, exploration_fraction=0.5,
                    n_steps=64, batch_size=64, net_arch=[32], progress_bar=False, device="cpu", seed=0, **kw)
    return train_dqn(cfg, output_dir=str(tmp_path))

def _check_with_plain_h5py(path: Path, expected_transitions: int, max_steps: int):
    "Everything below uses h5py and numpy only: the format is readable from its description."
    with h5py.File(path, "r") as f:
        n = int(f["metadata/num_episodes"][()])
        eps = [f[f"trajectories/episode_{i}"] for i in range(n)]
        assert sum(len(g["actions"]) for g in eps) == expected_transitions
        returns, states = [], []
        last_step = max(int(g.attrs["global_step"]) for g in eps)
        for g in eps:
            r, rtg = g["rewards"][()], g["rtg"][()]
            np.testing.assert_allclose(rtg, np.cumsum(r[::-1])[::-1], atol=1e-5)       # rtg[t] == sum(rewards[t:])
            assert np.array_equal(g["timesteps"][()], np.arange(len(r)))
            term, trunc = bool(g.attrs["terminated"]), bool(g.attrs["truncated"])
            assert term != trunc
            if term:   # the quick-start layout has one reward: terminating means the last step collected it
                assert r[-1] > 0.5 and g["latents/rewards_available"][-1].sum() == 1
            else:      # truncated at the time limit, or cut when the training budget ran out
                assert len(r) == max_steps or int(g.attrs["global_step"]) == last_step
            returns.append(r.sum(dtype=np.float64)); states.append(g["states"][()])
        s = np.concatenate(states).astype(np.float64)
        np.testing.assert_allclose(f["statistics/state_mean"][()], s.mean(0), atol=1e-5)
        np.testing.assert_allclose(f["statistics/state_std"][()], np.maximum(s.std(0), 1e-6), atol=1e-5)
        np.testing.assert_allclose(f["statistics/return_mean"][()], np.mean(returns), atol=1e-4)
        np.testing.assert_allclose(f["statistics/return_std"][()], np.std(returns), atol=1e-4)
        assert f.attrs["schema_version"] == 1 and len(f.attrs["content_hash"]) == 64

def test_dqn_data_reads_back_with_plain_h5py(tmp_path):
    res = _run(tmp_path, "dqn", 3000)
    assert res.summary["sb3_num_timesteps"] == 3000
    _check_with_plain_h5py(res.data_path, 3000, max_steps=30)

def test_ppo_data_reads_back_with_plain_h5py(tmp_path):
    res = _run(tmp_path, "ppo", 2048)           # 16 rollouts of 64 steps x 2 envs
    assert res.summary["sb3_num_timesteps"] == 2048
    _check_with_plain_h5py(res.data_path, 2048, max_steps=30)
    with h5py.File(res.data_path) as f: assert np.isnan(f["trajectories/episode_0"].attrs["epsilon"])

@pytest.mark.parametrize("algorithm,vec_env", [("dqn", "subproc"), ("a2c", "dummy"), ("a2c", "subproc")])
def test_every_env_of_every_vecenv_is_recorded(tmp_path, algorithm, vec_env):
    res = _run(tmp_path, algorithm, 1024, vec_env=vec_env)
    data = load_transitions(res.data_path)
    assert data.num_transitions == res.summary["sb3_num_timesteps"]
    assert set(data.episodes["env_index"].tolist()) == {0, 1}
    for e in (0, 1):   # each environment's steps add up to half of the total
        assert data.lengths[data.episodes["env_index"] == e].sum() == data.num_transitions // 2

def test_extra_snapshot_episodes_widen_the_returns(tmp_path):
    res = _run(tmp_path, "dqn", 1600, extra_episodes=3, extra_epsilons=[0.0, 1.0], snapshot_fractions=[0.5, 1.0])
    data = load_transitions(res.data_path)
    ids = set(data.episodes["policy_id"])
    assert {"dqn", "step_800@eps0", "step_800@eps1", "step_1600@eps0", "step_1600@eps1"} <= ids
    assert all((data.episodes["policy_id"] == i).sum() >= 3 for i in ids - {"dqn"})
    assert validate(res.data_path) == []

# ---- durability: SIGKILL a real collecting process --------------------------------------------------------------

@pytest.mark.parametrize("kill_after", [2.0, 3.3])
def test_sigkill_loses_no_finished_episode(tmp_path, kill_after):
    flush = 0.25
    out = tmp_path/"transitions.h5"
    p = subprocess.Popen([sys.executable, str(HELPERS/"collect_and_log.py"), str(out), str(flush), "0"],
                         stdout=subprocess.PIPE, text=True)
    finished, started = [], None
    try:
        for line in p.stdout:
            if line.startswith("START"): started = time.time()
            if line.startswith("EPISODE"):
                _, env, step, t = line.split(); finished.append((int(env), int(step), float(t)))
            if started and time.time() - started > kill_after: break
    finally:
        p.send_signal(signal.SIGKILL); p.wait()
    killed_at = time.time()
    assert journal_dir(out).exists() and not out.exists()        # nothing that looks complete was left
    assert len(finished) > 10
    data = load_transitions(out)                                 # recovers automatically
    assert bool(data.attrs["recovered"]) and not journal_dir(out).exists()
    assert validate(out) == []
    got = set(zip(data.episodes["env_index"].tolist(), data.episodes["global_step"].tolist()))
    durable = {(e, s) for e, s, t in finished if t < killed_at - flush - 1.0}   # 1 s slack for a loaded machine
    assert durable <= got, f"{len(durable - got)} finished episodes lost"
    assert got <= {(e, s) for e, s, _ in finished}              # nothing that was not finished
    for i in range(data.num_episodes):                           # every episode served is whole and consistent
        ep = data.episode(i)
        assert ep.terminated != ep.truncated and len(ep) <= 15
        np.testing.assert_allclose(ep.rtg, np.cumsum(ep.rewards[::-1])[::-1], atol=1e-5)

def test_recover_command_and_a_live_writer(tmp_path):
    from midt.data.trajectory import Trajectory
    out = tmp_path/"t.h5"
    w = TransitionWriter(out, flush_episodes=1)
    w.add(Trajectory(np.zeros((3, 2), np.float32), [0, 1, 2], [0.0, 0.0, 1.0], terminated=True))
    # this process is still writing: recovery refuses (a reader must not steal a live collection)
    journal = journal_dir(out)
    assert journal.exists()
    r = subprocess.run([sys.executable, "-m", "midt.data.storage", "recover", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "still being written" in r.stderr
    w.close()
    assert load_transitions(out).num_episodes == 1

# ---- bad input ----------------------------------------------------------------------------------------------------

def _good_file(tmp_path):
    from midt.data.trajectory import Trajectory
    with TransitionWriter(tmp_path/"good.h5") as w:
        for i in range(3): w.add(Trajectory(np.ones((4, 2), np.float32) * i, [0, 1, 2, 3], [0, 0, 0, 1.0], terminated=True))
    return tmp_path/"good.h5"

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.h5: transitions file not found"): load_transitions(tmp_path/"nothing.h5")

def test_not_an_hdf5_file(tmp_path):
    (tmp_path/"x.h5").write_text("hello")
    with pytest.raises(DataFileError, match="x.h5: not an HDF5 file"): load_transitions(tmp_path/"x.h5")

def test_truncated_file(tmp_path):
    raw = _good_file(tmp_path).read_bytes()
    (tmp_path/"cut.h5").write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(DataFileError, match="cut.h5"): load_transitions(tmp_path/"cut.h5")
    assert validate(tmp_path/"cut.h5")

def test_wrong_schema_version(tmp_path):
    p = _good_file(tmp_path)
    with h5py.File(p, "a") as f: f.attrs["schema_version"] = 2
    with pytest.raises(DataFileError, match="good.h5: schema_version 2; this midt reads schema_version 1"): load_transitions(p)

def test_empty_dataset(tmp_path):
    with pytest.raises(DataFileError, match="no finished episode"):
        TransitionWriter(tmp_path/"e.h5").close()
    assert not (tmp_path/"e.h5").exists()

def test_modified_data_fails_validation(tmp_path):
    p = _good_file(tmp_path)
    with h5py.File(p, "a") as f: f["flat/rewards"][0] = 5.0
    assert any("content_hash" in m for m in validate(p))

def test_cli_with_an_env_that_does_not_exist(tmp_path):
    (tmp_path/"c.yaml").write_text("env_layout_path: MiniGrid-NoSuch-v0\ntotal_timesteps: 100\n")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.train_dqn", "--config", str(tmp_path/"c.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and str(tmp_path/"c.yaml") in r.stderr and "unknown MiniGrid env" in r.stderr

# ---- the dataset on real data ------------------------------------------------------------------------------------

def test_dataset_windows_on_recorded_data(tmp_path):
    import torch
    res = _run(tmp_path, "dqn", 1200)
    data = load_transitions(res.data_path)
    ds = DTDataset(data, context_length=8, split="all")
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    batch = next(iter(loader))
    assert set(batch) == set(INPUT_KEYS) and batch["states"].shape == (16, 8, data.states.shape[1])
    i = int(data.episode_offsets[5]) + 3                      # step 3 of episode 5: 4 real steps, 4 pads
    item = ds[i]
    assert item["attention_mask"].tolist() == [0] * 4 + [1] * 4
    raw = (data.states[i - 3:i + 1] - data.statistics["state_mean"]) / data.statistics["state_std"]
    np.testing.assert_allclose(item["states"][4:].numpy(), raw, atol=1e-5)
    assert item["actions"][4:].tolist() == data.actions[i - 3:i + 1].tolist()
    tr, va = DTDataset(data, 8, split="train", seed=3), DTDataset(data, 8, split="val", seed=3)
    assert len(tr) + len(va) == data.num_transitions
