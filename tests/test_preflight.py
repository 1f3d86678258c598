"""Pre-flight of `python -m midt.scripts.pipeline` and `python -m midt.scripts.train_dqn`: a user's mistake is one line
`error: <file>: key '<key>' (<value>): ...` and exit 2 before the run folder exists; a rerun never replaces another
config's data; `config.yaml` describes the results beside it."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch
import yaml

from midt.data.storage import TransitionWriter
from midt.data.trajectory import Trajectory

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SMOKE = yaml.safe_load((ROOT/"configs"/"smoke.yaml").read_text())
DOORKEY = yaml.safe_load((ROOT/"configs"/"minigrid_doorkey.yaml").read_text())


def _config(tmp_path, base: dict, name: str = "c.yaml", **sections) -> Path:
    "A config derived from a shipped one, its output_dir under tmp_path; `sections` update `dqn`, `model`, ... (None removes a key)."
    cfg = json.loads(json.dumps(base))
    cfg["output_dir"] = str(tmp_path/"out")
    for section, upd in sections.items():
        if not isinstance(upd, dict): cfg[section] = upd; continue
        for k, v in upd.items():
            if v is None: cfg.setdefault(section, {}).pop(k, None)
            else: cfg.setdefault(section, {})[k] = v
    p = tmp_path/name; p.write_text(yaml.safe_dump(cfg)); return p


def _pipeline_main(capsys, *argv) -> tuple[int, str]:
    from midt.scripts.pipeline import main
    rc = main([*map(str, argv)])
    return rc, capsys.readouterr().err


def _refused(rc, err, cfg: Path, key: str, *needles, run: Path | None = None):
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith(f"error: {cfg}: key '{key}'"), err
    for n in needles: assert n in lines[0], lines[0]
    if run is not None: assert not run.exists(), list(run.parent.iterdir())


# ---- 5: what only the environment or the machine can judge, checked before the run folder exists ----------------------

CPU_ONLY = not torch.cuda.is_available()
NO_MPS = not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())

CASES = {   # name: (base config, sections, key, what the line says)
    "expert_stochastic": (DOORKEY, {"dqn": {"env_layout_path": "MiniGrid-Dynamic-Obstacles-8x8-v0", "algorithm": "expert"},
                                    "model": {"action_dim": 3}}, "dqn.algorithm", "moves at random"),
    "expert_gridworld": (SMOKE, {"dqn": {"algorithm": "expert"}}, "dqn.algorithm", "midt gridworld"),
    "action_dim_default": (DOORKEY, {"model": {"action_dim": None}}, "model.action_dim", "MiniGrid-DoorKey-5x5-v0 has 7 actions"),
    "action_dim_obstacles": (DOORKEY, {"dqn": {"env_layout_path": "MiniGrid-Dynamic-Obstacles-8x8-v0"}},
                             "model.action_dim", "has 3 actions"),
    "pixels_on_minigrid": (DOORKEY, {"model": {"obs_type": "pixels"}}, "model.obs_type", "flat"),
    "cue_on_doorkey": (DOORKEY, {"interp": {"counterfactual": "cue"}}, "interp.counterfactual", "no cue"),
    "held_key_on_doorkey": (DOORKEY, {"interp": {"counterfactual": "held_key"}}, "interp.counterfactual", "MiniGrid task"),
    "probe_cue_key_on_doorkey": (DOORKEY, {"interp": {"probe_targets": ["action", "cue_key"]}}, "interp.probe_targets",
                                 "valid: action, rtg, timestep"),
    "probe_mission_on_gridworld": (SMOKE, {"interp": {"probe_targets": ["mission"]}}, "interp.probe_targets", "'mission'"),
    "one_mission": (DOORKEY, {"model": {"mission": True}, "interp": {"counterfactual": "mission"}}, "interp.counterfactual",
                    "one mission"),
    "view_size": (DOORKEY, {"dqn": {"view_size": 99}}, "dqn.view_size", "from 3 to 9"),
    "unknown_layout": (SMOKE, {"dqn": {"env_layout_path": "CartPole-v1"}}, "dqn.env_layout_path", "no such layout"),
    "unknown_version": (DOORKEY, {"dqn": {"env_layout_path": "MiniGrid-DoorKey-5x5-v1"}}, "dqn.env_layout_path", "unknown MiniGrid"),
    "id_with_a_path": (DOORKEY, {"dqn": {"env_layout_path": "MiniGrid-../../etc/passwd"}}, "dqn.env_layout_path",
                       "unknown MiniGrid id"),
}
if CPU_ONLY:
    CASES |= {"dqn_cuda": (SMOKE, {"dqn": {"device": "cuda"}}, "dqn.device", "no CUDA GPU; use auto"),
              "dt_cuda3": (SMOKE, {"dt": {"device": "cuda:3"}}, "dt.device", "no CUDA GPU"),
              "interp_cuda": (SMOKE, {"interp": {"device": "cuda"}}, "interp.device", "no CUDA GPU")}
if NO_MPS: CASES["dt_mps"] = (SMOKE, {"dt": {"device": "mps"}}, "dt.device", "no MPS")

@pytest.mark.parametrize("case", sorted(CASES))
def test_pipeline_preflight_names_the_key(tmp_path, capsys, case):
    base, sections, key, needle = CASES[case]
    cfg = _config(tmp_path, base, **sections)
    rc, err = _pipeline_main(capsys, "--config", cfg)
    _refused(rc, err, cfg, key, needle, run=tmp_path/"out")


def test_a_task_that_builds_but_cannot_reset_fails_in_preflight(tmp_path, capsys):
    import minigrid
    if (Path(minigrid.__file__).parent/"envs"/"wfc"/"patterns").is_dir(): pytest.skip("this install has the WFC patterns")
    cfg = _config(tmp_path, DOORKEY, dqn={"env_layout_path": "MiniGrid-WFC-MazeSimple-v0"})
    rc, err = _pipeline_main(capsys, "--config", cfg)
    _refused(rc, err, cfg, "dqn.env_layout_path", "cannot start", "SimpleMaze.png", run=tmp_path/"out")
    d = tmp_path/"d.yaml"; d.write_text(yaml.safe_dump({**DOORKEY["dqn"], "env_layout_path": "MiniGrid-WFC-MazeSimple-v0",
                                                        "output_dir": str(tmp_path/"dqn")}))
    r = _train_dqn(d)
    assert r.returncode == 2 and f"error: {d}: key 'env_layout_path'" in r.stderr and "output_dir" not in r.stderr, r.stderr
    assert not (tmp_path/"dqn").exists()


def test_a_minigrid_named_file_is_an_id_for_both_commands(tmp_path, capsys, monkeypatch):
    "`MiniGrid-mine.txt` is a MiniGrid id (unknown) for the pipeline as for train_dqn, even when such a file exists."
    monkeypatch.chdir(tmp_path)
    (tmp_path/"MiniGrid-mine.txt").write_text((ROOT/"midt"/"layouts"/"quickstart.txt").read_text())
    cfg = _config(tmp_path, SMOKE, dqn={"env_layout_path": "MiniGrid-mine.txt"})
    rc, err = _pipeline_main(capsys, "--config", cfg)
    _refused(rc, err, cfg, "dqn.env_layout_path", "unknown MiniGrid env 'MiniGrid-mine.txt'", run=tmp_path/"out")
    d = tmp_path/"d.yaml"; d.write_text(yaml.safe_dump({**SMOKE["dqn"], "env_layout_path": "MiniGrid-mine.txt",
                                                        "output_dir": str(tmp_path/"dqn")}))
    r = _train_dqn(d, cwd=tmp_path)
    assert r.returncode == 2 and "key 'env_layout_path' ('MiniGrid-mine.txt')" in r.stderr and "unknown MiniGrid env" in r.stderr, r.stderr


def test_the_shipped_configs_pass_the_preflight():
    from midt.scripts.pipeline import absolute_config, check_environment
    from midt.utils.config import PipelineConfig, load_config
    for f in sorted((ROOT/"configs").glob("*.yaml")):
        cfg = absolute_config(load_config(f, PipelineConfig))
        check_environment(cfg, str(f))                   # raises with the key if a shipped config would be refused


# ---- 1: a rerun with another data config never replaces the earlier data -------------------------------------------

def _finished_data_stage(run: Path, key: str, seed: int = 0):
    "What a finished data stage leaves (its record, the agent's config and a data file), and downstream results of that data."
    (run/"data"/"data").mkdir(parents=True)
    (run/"data"/"stage.json").write_text(json.dumps({"key": key, "result": {"data_path": str(run/"data/data/transitions.h5"),
                                                                            "model_path": "", "episodes": 1}}))
    (run/"data"/"config.yaml").write_text(yaml.safe_dump({**SMOKE["dqn"], "seed": seed}))
    (run/"data"/"data"/"transitions.h5").write_bytes(b"old data")
    (run/"dt").mkdir(); (run/"dt"/"stage.json").write_text('{"key": "x", "result": {}}')
    (run/"report.html").write_text("old report"); (run/"config.yaml").write_text("old config")


def test_a_rerun_with_another_seed_is_refused_and_the_data_kept(tmp_path, capsys):
    run = tmp_path/"out"/"smoke"
    _finished_data_stage(run, "0123456789abcdef", seed=0)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    cfg = _config(tmp_path, SMOKE, seed=1)
    rc, err = _pipeline_main(capsys, "--config", cfg, "--stages", "environment")
    _refused(rc, err, cfg, "run_name", "holds data from another config", "seed: 0 there, 1 here", "--force")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before     # nothing touched


def test_a_rerun_with_another_layout_is_refused_even_before_the_stage_was_recorded(tmp_path, capsys):
    "train_dqn finished (data and config.yaml) but the run was killed before data/stage.json: still the other config's data."
    run = tmp_path/"out"/"smoke"
    _finished_data_stage(run, "unused")
    (run/"data"/"stage.json").unlink()
    cfg = _config(tmp_path, SMOKE, dqn={"env_layout_path": "key_door_cue"})
    rc, err = _pipeline_main(capsys, "--config", cfg, "--stages", "environment")
    _refused(rc, err, cfg, "run_name", "dqn.env_layout_path: 'quickstart' there, 'key_door_cue' here")
    assert (run/"data"/"data"/"transitions.h5").read_bytes() == b"old data"


def test_force_moves_the_other_configs_run_aside_whole(tmp_path):
    "--force: the earlier run (data, DT, report, config) is moved aside, nothing deleted; the new run starts empty."
    from midt.scripts.pipeline import run_pipeline
    from midt.utils.config import PipelineConfig, load_config
    run = tmp_path/"out"/"smoke"
    _finished_data_stage(run, "0123456789abcdef")
    cfg = load_config(_config(tmp_path, SMOKE, seed=1), PipelineConfig)
    run_pipeline(cfg, force=True, stages=(), progress=False)
    aside = [p for p in run.parent.iterdir() if p.name.startswith("smoke.replaced-")]
    assert len(aside) == 1 and (aside[0]/"data"/"data"/"transitions.h5").read_bytes() == b"old data"
    assert (aside[0]/"report.html").read_text() == "old report"
    assert not (run/"data").exists() and not (run/"dt").exists() and not (run/"report.html").exists()
    assert yaml.safe_load((run/"config.yaml").read_text())["seed"] == 1 and not (run/"config.pending.yaml").exists()


# ---- 2: config.yaml describes the results in the folder, also after a run that failed ---------------------------------

def test_a_failed_run_leaves_the_earlier_config_yaml(tmp_path):
    from midt.scripts.pipeline import Stage, absolute_config, check_environment, data_key, run_pipeline
    from midt.utils.config import PipelineConfig, load_config
    cfg = absolute_config(load_config(_config(tmp_path, SMOKE), PipelineConfig))
    run = tmp_path/"out"/"smoke"
    Stage(run, "data", data_key(cfg, check_environment(cfg)), False).finish(          # data recorded (a missing file)
        {"data_path": str(tmp_path/"missing.h5"), "model_path": "", "episodes": 1, "transitions": 1})
    run_pipeline(cfg, stages=(), progress=False)                                        # a finished run: its config.yaml
    assert yaml.safe_load((run/"config.yaml").read_text())["dt"]["max_steps"] == 200
    changed = cfg.model_copy(update={"dt": cfg.dt.model_copy(update={"max_steps": 7})})
    with pytest.raises(Exception): run_pipeline(changed, stages=("dt",), progress=False)   # the DT cannot read its data
    assert yaml.safe_load((run/"config.yaml").read_text())["dt"]["max_steps"] == 200      # still the results' config
    assert yaml.safe_load((run/"config.pending.yaml").read_text())["dt"]["max_steps"] == 7  # what was tried, kept aside


# ---- 3 and 4: train_dqn never replaces data silently; Ctrl-C is one line -------------------------------------------

def _train_dqn(cfg: Path, *args, cwd=ROOT, **kw):
    return subprocess.run([sys.executable, "-m", "midt.scripts.train_dqn", "--config", str(cfg), *map(str, args)], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=300, **kw)


def _real_data_file(path: Path):
    "A small real transitions.h5 (one episode), as a finished run leaves it."
    import numpy as np
    with TransitionWriter(path) as w:
        w.add(Trajectory(np.zeros((3, 4), np.float32), [0, 1, 2], [0.0, 0.0, 1.0], np.zeros(4, np.float32), True, False, {}, {}))


def test_train_dqn_refuses_an_output_dir_with_data_unless_force(tmp_path):
    out = tmp_path/"dqn"; data = out/"data"/"transitions.h5"
    _real_data_file(data)
    (out/"config.yaml").write_text("the first run's config\n")
    before = data.read_bytes()
    d = tmp_path/"d.yaml"
    d.write_text(yaml.safe_dump({"env_layout_path": "posner", "max_episode_steps": 10, "total_timesteps": 64, "learning_starts": 16,
                                 "net_arch": [8], "snapshot_fractions": [1.0], "device": "cpu", "seed": 3, "progress_bar": False,
                                 "output_dir": str(out)}))
    r = _train_dqn(d)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"error: {d}: key 'output_dir'" in r.stderr and "holds the data of an earlier run" in r.stderr and "--force" in r.stderr
    assert data.read_bytes() == before and (out/"config.yaml").read_text() == "the first run's config\n"
    r = _train_dqn(d, "--force")                                       # replaced on request, with its own config
    assert r.returncode == 0, r.stderr[-2000:]
    assert data.read_bytes() != before and yaml.safe_load((out/"config.yaml").read_text())["env_layout_path"] == "posner"


def test_train_dqn_ctrl_c_is_one_line_and_writes_no_config(tmp_path):
    out = tmp_path/"dqn"
    d = tmp_path/"d.yaml"
    d.write_text(yaml.safe_dump({**SMOKE["dqn"], "total_timesteps": 10**7, "device": "cpu", "progress_bar": False,
                                 "output_dir": str(out)}))
    p = subprocess.Popen([sys.executable, "-m", "midt.scripts.train_dqn", "--config", str(d)], cwd=ROOT, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120                                       # collecting: the writer's journal exists
    while not (out/"data"/"transitions.h5.journal").exists() and time.time() < deadline: time.sleep(0.1)
    time.sleep(1); p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and [l for l in err.splitlines() if l.strip()] == [
        "interrupted: finished work is kept; rerun the same command to resume"], err
    assert not (out/"config.yaml").exists()                            # no config beside data it did not make


def test_train_dqn_refuses_a_device_this_machine_lacks(tmp_path):
    if not CPU_ONLY: pytest.skip("this machine has CUDA")
    d = tmp_path/"d.yaml"; d.write_text(yaml.safe_dump({**SMOKE["dqn"], "device": "cuda", "output_dir": str(tmp_path/"dqn")}))
    r = _train_dqn(d)
    assert r.returncode == 2 and f"error: {d}: key 'device' ('cuda'): this machine has no CUDA GPU; use auto" in r.stderr, r.stderr
    assert not (tmp_path/"dqn").exists()


# ---- 6: a failed notebook under `python -m` gets its own message ----------------------------------------------------

def test_a_failed_notebook_under_python_m_says_rerunning_resumes(tmp_path):
    "Under `python -m` the module is __main__; the NotebookFailed a stage raises is still caught (exit 1, its own message)."
    from midt.scripts.pipeline import Stage, _Run, absolute_config
    from midt.utils.config import PipelineConfig, load_config
    from midt.utils.executors import Executor
    path = _config(tmp_path, SMOKE)
    cfg = absolute_config(load_config(path, PipelineConfig))
    r = _Run(cfg, ("evaluation",), None, False, False, Executor("process", 1))
    data = {"data_path": str(tmp_path/"missing.h5"), "model_path": "", "episodes": 1, "transitions": 1}
    Stage(r.run, "data", r.data_key, False).finish(data)                    # data and DT stages recorded for this config
    r.dt_stage(cfg.seed, data)[1].finish({"checkpoint": str(tmp_path/"missing.pt"), "history": [], "parameters": 1})
    (r.run/"eval"/".calibration.partial.ipynb").mkdir(parents=True)         # the notebook cannot be written: it fails at once
    p = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", str(path), "--stages", "evaluation"],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith("error: calibration.ipynb could not run: IsADirectoryError") and \
        p.stderr.rstrip().endswith("; rerunning resumes at this stage") and "MIDT_DEBUG" not in p.stderr, p.stderr
