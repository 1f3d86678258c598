"Hostile input for the data layer: kills during collection, recovery that keeps the newest data, edited files, a full disk."
import os, signal, subprocess, sys, time
from pathlib import Path

import h5py
import numpy as np
import pytest

from midt.data.dataset import DTDataset
from midt.data.storage import DataFileError, TransitionWriter, journal_dir, load_transitions, main, recover, validate
from midt.data.trajectory import Trajectory

HELPERS = Path(__file__).parent/"helpers"
PY = sys.executable

def _finished(path, n=3, value=100.0):
    with TransitionWriter(path, env_config={"action_dim": 4}, overwrite=True) as w:
        for i in range(n): w.add(Trajectory(np.full((4, 2), value + i, np.float32), [0, 1, 2, 3], [0, 0, 0, 1.0], terminated=True))
    return path

def _killed_collection(path, n):
    "A real process that journals n episodes into `path` and is SIGKILLed."
    p = subprocess.Popen([PY, str(HELPERS/"hold_writer.py"), str(path), str(n)], stdout=subprocess.PIPE, text=True)
    try: assert p.stdout.readline().strip() == "READY"
    finally: p.send_signal(signal.SIGKILL); p.wait()

def _cli(*args):
    r = subprocess.run([PY, "-m", "midt.data.storage", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r

# ---- defect 3: recovery keeps the newest data, deletes nothing it has not stored --------------------------------------

@pytest.mark.parametrize("how", ["cli", "load"])
def test_recover_prefers_the_newer_journal_and_keeps_the_old_file(tmp_path, how):
    path = _finished(tmp_path/"transitions.h5", n=3)
    _killed_collection(path, 5)                           # a newer collection into the same file, killed
    assert journal_dir(path).exists()
    if how == "cli":
        r = _cli("recover", path)
        assert r.returncode == 0 and "5 episodes" in r.stdout, r
    else:
        assert load_transitions(path).num_episodes == 5
    assert not journal_dir(path).exists()
    data = load_transitions(path)
    assert data.num_episodes == 5 and bool(data.attrs["recovered"]) and data.states[0, 0] == 0
    old = list(tmp_path.glob("transitions.superseded-*.h5"))
    assert len(old) == 1 and load_transitions(old[0]).num_episodes == 3 and load_transitions(old[0]).states[0, 0] == 100

def test_journal_already_in_the_file_is_removed_and_nothing_else(tmp_path):
    path = tmp_path/"t.h5"
    w = TransitionWriter(path, env_config={"action_dim": 4}, flush_episodes=1)
    for i in range(2): w.add(Trajectory(np.zeros((2, 2), np.float32), [0, 1], [0, 1.0], terminated=True))
    import shutil; shutil.copytree(journal_dir(path), tmp_path/"copy")
    w.close()
    shutil.copytree(tmp_path/"copy", journal_dir(path))  # as if killed after the final rename, before removing the journal
    recover(path)
    assert not journal_dir(path).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["copy", "t.h5"]
    assert load_transitions(path).num_episodes == 2

def test_empty_newer_journal_leaves_the_file(tmp_path):
    path = _finished(tmp_path/"t.h5", n=3)
    _killed_collection(path, 0)
    assert load_transitions(path).num_episodes == 3 and not journal_dir(path).exists()

# ---- defect 4: a rerun is not blocked by a dead collection's journal, and keeps its episodes ---------------------------

def test_new_writer_sets_a_dead_journal_aside(tmp_path, capfd):
    path = tmp_path/"t.h5"
    _killed_collection(path, 4)
    with TransitionWriter(path, env_config={"action_dim": 4}) as w:
        w.add(Trajectory(np.zeros((2, 2), np.float32), [0, 1], [0, 1.0], terminated=True))
    assert "4 finished episodes are kept in" in capfd.readouterr().err
    side = list(tmp_path.glob("t.interrupted-*.h5"))
    assert len(side) == 1 and load_transitions(side[0]).num_episodes == 4 and validate(side[0]) == []
    assert load_transitions(path).num_episodes == 1

def test_a_live_collection_is_refused(tmp_path):
    path = tmp_path/"t.h5"
    p = subprocess.Popen([PY, str(HELPERS/"hold_writer.py"), str(path), "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        for f in (lambda: TransitionWriter(path, overwrite=True), lambda: recover(path), lambda: load_transitions(path)):
            with pytest.raises(DataFileError, match=f"still being written by process {p.pid}"): f()
        assert len(list(journal_dir(path).glob("chunk_*.h5"))) == 2
    finally: p.send_signal(signal.SIGKILL); p.wait()
    w = TransitionWriter(path, overwrite=True)          # in this process, a second writer on an open journal is refused
    with pytest.raises(DataFileError, match="still being written by this process"): TransitionWriter(path, overwrite=True)
    w.close() if w._buffer else None

TRAIN = """
import sys
from midt.agents.dqn_trainer import train_dqn
from midt.utils.config import DQNConfig
cfg = DQNConfig(env_layout_path="quickstart", obs_mode="symbolic_minimal", max_episode_steps=15, n_envs=2, algorithm="dqn",
                total_timesteps=int(sys.argv[2]), learning_starts=100, net_arch=[16], progress_bar=False, device="cpu",
                seed=0, extra_episodes=0, flush_interval=0.05)
train_dqn(cfg, output_dir=sys.argv[1])
"""

def test_train_dqn_reruns_after_a_sigkill_during_collection(tmp_path):
    data = tmp_path/"data"/"transitions.h5"
    p = subprocess.Popen([PY, "-c", TRAIN, str(tmp_path), str(10**7)], stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while len(list(journal_dir(data).glob("chunk_*.h5"))) < 3:
            assert p.poll() is None and time.time() - t0 < 120, "collection did not start"
            time.sleep(0.05)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    chunks = len(list(journal_dir(data).glob("chunk_*.h5")))
    r = subprocess.run([PY, "-c", TRAIN, str(tmp_path), "300"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "was interrupted" in r.stderr and "finished episodes are kept in" in r.stderr
    side = list(data.parent.glob("transitions.interrupted-*.h5"))
    assert len(side) == 1 and load_transitions(side[0]).num_episodes >= chunks
    assert load_transitions(data).num_transitions >= 300 and not journal_dir(data).exists()

# ---- defect 5: one validator; every bad file is refused with one line naming file, dataset and problem ----------------

def _good(tmp_path):
    return _finished(tmp_path/"good.h5", n=3, value=0.0)

def _replace(f, name, data):
    del f[name]; f.create_dataset(name, data=data)

EDITS = {
    "action_too_big":   (lambda f: f["flat/actions"].__setitem__(5, 4), "flat/actions: episode 1, step 1 has action 4; valid actions are integers in [0, 4)"),
    "action_negative":  (lambda f: f["flat/actions"].__setitem__(0, -1), "flat/actions: episode 0, step 0 has action -1"),
    "action_float":     (lambda f: _replace(f, "flat/actions", np.arange(12) % 4 + 0.5), "flat/actions has dtype float64; expected integers"),
    "rtg_wrong":        (lambda f: f["flat/rtg"].__setitem__(2, 7.0), "flat/rtg: episode 0, step 2 is 7"),
    "reward_nan":       (lambda f: f["flat/rewards"].__setitem__(3, np.nan), "flat/rewards: episode 0, step 3 is not finite"),
    "state_inf":        (lambda f: f["flat/states"].__setitem__((9, 1), np.inf), "flat/states: episode 2, step 1 is not finite"),
    "empty_episode":    (lambda f: _replace(f, "flat/episode_offsets", np.array([0, 4, 4, 12])), "episode 1 is empty"),
    "offsets_reversed": (lambda f: _replace(f, "flat/episode_offsets", np.array([0, 8, 4, 12])), "flat/episode_offsets decrease at episode 1"),
    "offsets_short":    (lambda f: _replace(f, "flat/episode_offsets", np.array([0, 4, 8, 10])), "flat/episode_offsets ends at 10; expected 12"),
    "offsets_start":    (lambda f: _replace(f, "flat/episode_offsets", np.array([1, 4, 8, 12])), "flat/episode_offsets starts at 1; expected 0"),
    "std_zero":         (lambda f: f["statistics/state_std"].__setitem__(0, 0.0), "statistics/state_mean, state_std: feature 0"),
    "std_nan":          (lambda f: f["statistics/state_std"].__setitem__(1, np.nan), "statistics/state_mean, state_std: feature 1"),
    "stats_stale":      (lambda f: f["statistics/state_mean"].__setitem__(0, 5.0), "but the states give"),
    "missing_rtg":      (lambda f: f.__delitem__("flat/rtg"), "dataset 'flat/rtg' missing"),
    "missing_meta":     (lambda f: f.__delitem__("metadata/env_config"), "dataset 'metadata/env_config' missing"),
    "missing_flat":     (lambda f: f.__delitem__("flat"), "dataset 'flat/states' missing"),
    "missing_hash":     (lambda f: f.attrs.__delitem__("content_hash"), "file attribute 'content_hash' missing"),
    "actions_2d":       (lambda f: _replace(f, "flat/actions", np.zeros((12, 2), np.int32)), "flat/actions has shape (12, 2); expected (12,)"),
    "rewards_short":    (lambda f: _replace(f, "flat/rewards", np.zeros(11, np.float32)), "flat/rewards has shape (11,); expected (12,)"),
    "states_string":    (lambda f: _replace(f, "flat/states", np.array(["a"] * 12, dtype=object).astype("S1")), "flat/states has dtype"),
    "timesteps":        (lambda f: f["flat/timesteps"].__setitem__(4, 3), "flat/timesteps: episode 1, step 0 is 3; expected 0"),
    "num_episodes":     (lambda f: _replace(f, "metadata/num_episodes", 4), "metadata/num_episodes is 4"),
    "env_json":         (lambda f: _replace(f, "metadata/env_config", "{not json"), "metadata/env_config is not valid JSON"),
    "action_dim_bad":   (lambda f: _replace(f, "metadata/env_config", '{"action_dim": "four"}'), "action_dim is 'four'"),
    "both_ends":        (lambda f: f["flat/truncated"].__setitem__(0, True), "episode 0 is both terminated and truncated"),
    "edited_states":    (lambda f: f["flat/states"].__setitem__((1, 0), 0.0001), "content_hash does not match the data"),
    "schema":           (lambda f: f.attrs.__setitem__("schema_version", "x"), "schema_version 'x'"),
}

@pytest.mark.parametrize("case", sorted(EDITS))
def test_bad_file_is_refused_everywhere(tmp_path, case, capsys):
    edit, message = EDITS[case]
    path = _good(tmp_path)
    assert validate(path) == []
    with h5py.File(path, "a") as f: edit(f)
    with pytest.raises(DataFileError) as e: load_transitions(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and message in msg, msg
    assert any(message in m for m in validate(path)), validate(path)
    with pytest.raises(DataFileError, match="good.h5"): DTDataset(path)
    for cmd in ("validate", "info"):                     # the command line, in-process (its subprocess form: below)
        assert main([cmd, str(path)]) == 2
        err = capsys.readouterr().err
        assert f"error: {path}: " in err and message in err and "Traceback" not in err, err

def test_cli_bad_paths_give_one_line(tmp_path):
    (tmp_path/"text.h5").write_text("hello")
    _finished(tmp_path/"bad.h5")
    with h5py.File(tmp_path/"bad.h5", "a") as f: f["flat/actions"][0] = 99
    for cmd, p, what in [("info", tmp_path/"bad.h5", "has action 99"), ("validate", tmp_path/"bad.h5", "has action 99"),
                         ("info", tmp_path, "is a folder"), ("info", tmp_path/"none.h5", "not found"),
                         ("validate", tmp_path/"text.h5", "not an HDF5 file"), ("recover", tmp_path/"none.h5", "no journal to recover")]:
        r = _cli(cmd, p)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {p}") and what in r.stderr, r

def test_dataset_edge_cases_that_pass_validation(tmp_path):
    path = tmp_path/"edge.h5"
    with TransitionWriter(path, env_config={"action_dim": 3}) as w:
        w.add(Trajectory(np.array([[1.0, 5.0]], np.float32), [2], [1.0], terminated=True))    # one step; feature 1 constant
        w.add(Trajectory(np.array([[2.0, 5.0], [3.0, 5.0]], np.float32), [0, 1], [0.0, 0.0], truncated=True))
    assert validate(path) == []
    ds = DTDataset(path, context_length=20, split="all")
    item = ds[0]
    assert item["attention_mask"].sum() == 1 and item["actions"][-1] == 2 and item["actions"][0] == 3
    assert np.isfinite(ds.states).all() and (ds.states[:, 1] == 0).all()          # constant feature: centred, not divided by 0
    b = ds.sample_batch(4, np.random.default_rng(0))
    assert torch_finite(b["states"]) and b["states"].shape == (4, 20, 2)
    data = load_transitions(path); data.statistics = {**data.statistics, "state_std": np.zeros(2, np.float32)}
    assert np.isfinite(DTDataset(data, 4, split="all").states).all()                 # in-memory data with std 0
    for kw, what in [({"rtg_scale": 0}, "rtg_scale"), ({"context_length": 0}, "context_length"), ({"end_sample_prob": 2}, "end_sample_prob")]:
        with pytest.raises(ValueError, match=what): DTDataset(path, split="all", **kw)

def torch_finite(t): return bool(t.isfinite().all())

def test_load_of_a_50k_file_stays_fast(tmp_path):
    rng = np.random.default_rng(0); path = tmp_path/"big.h5"
    with TransitionWriter(path, env_config={"action_dim": 7}, flush_episodes=10**6) as w:
        for _ in range(1000):
            s = np.zeros((50, 147), np.float32); s[np.arange(50), rng.integers(0, 147, 50)] = 1
            w.add(Trajectory(s, rng.integers(0, 7, 50), (rng.random(50) < 0.05).astype(np.float32), terminated=True))
    t0 = time.time(); data = load_transitions(path); dt = time.time() - t0
    assert data.num_transitions == 50_000 and dt < 2.0, dt

# ---- defect 9: a full disk is a clear error, leaves no temporary file, keeps the chunks -------------------------------

def test_file_size_limit_while_collecting(tmp_path):
    path = tmp_path/"t.h5"
    r = subprocess.run([PY, str(HELPERS/"hold_writer.py"), str(path), "3", str(200_000)], capture_output=True, text=True)
    assert r.returncode == 3, (r.returncode, r.stderr[-1500:])
    assert "disk full or file size limit" in r.stdout and "chunk_" in r.stdout
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    data = load_transitions(path)                                     # the chunks written before are intact
    assert data.num_episodes >= 3 and (data.lengths[:3] == 3).all()

FULL = """
import resource, sys
from midt.agents.dqn_trainer import train_dqn
from midt.utils.config import DQNConfig
cfg = DQNConfig(env_layout_path="quickstart", obs_mode="symbolic_minimal", max_episode_steps=15, n_envs=2, algorithm="dqn",
                total_timesteps=3000, learning_starts=100, net_arch=[16], progress_bar=False, device="cpu", seed=0,
                extra_episodes=0, flush_interval=0.05)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
train_dqn(cfg, output_dir=sys.argv[1])
"""

def test_train_dqn_with_a_file_size_limit(tmp_path):
    r = subprocess.run([PY, "-c", FULL, str(tmp_path), str(60_000)], capture_output=True, text=True)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])                      # an exception, not a segfault
    last = r.stderr.strip().splitlines()[-1]
    assert "disk full or file size limit" in last and "transitions.h5" in last, last
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    data = load_transitions(tmp_path/"data"/"transitions.h5")                   # ... and the journaled episodes recover
    assert data.num_episodes > 0 and validate(tmp_path/"data"/"transitions.h5") == []
