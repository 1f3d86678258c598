"Evaluation of a DT trained briefly on quick-start data: calibration, baselines, CLI, bad input."
import json, subprocess, sys

import numpy as np
import pytest

from midt.agents.dqn_trainer import load_policy, train_dqn
from midt.data.storage import load_transitions
from midt.evaluation.rollout import DTActor, SB3Actor, calibrate, compare_policies, rollout
from midt.training.trainer import load_model_from_checkpoint, train_dt
from midt.utils.config import DQNConfig, DTModelConfig, DTTrainConfig

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    dqn_cfg = DQNConfig(env_layout_path="quickstart", obs_mode="symbolic_minimal", max_episode_steps=30, n_envs=2,
                        total_timesteps=4000, learning_starts=300, exploration_fraction=0.5, net_arch=[32],
                        extra_episodes=6, extra_epsilons=[0.0, 0.3, 1.0], snapshot_fractions=[0.5, 1.0],
                        progress_bar=False, device="cpu", seed=0)
    dqn = train_dqn(dqn_cfg, output_dir=str(out/"dqn"))
    data = load_transitions(dqn.data_path)
    tcfg = DTTrainConfig(data_path=str(dqn.data_path), context_length=6, batch_size=64, max_steps=400, warmup_steps=40,
                         learning_rate=1e-3, eval_every=200, save_every=200, device="cpu", seed=0)
    dt = train_dt(tcfg, DTModelConfig(embed_dim=32, num_layers=2, num_heads=2, max_timestep=32), output_dir=str(out/"dt"),
                  data=data, progress=False)
    return {"data": data, "data_path": dqn.data_path, "dqn_model": dqn.model_path, "dqn_cfg": dqn_cfg,
            "checkpoint": dt.best_path, "out": out}

def test_calibration_of_a_briefly_trained_dt_is_finite_and_sensible(trained):
    data = trained["data"]
    actor = DTActor(load_model_from_checkpoint(trained["checkpoint"]))
    metrics, summary, fig = calibrate(actor, data.env_config, data.returns, num_episodes=8, path=trained["out"]/"cal.png")
    assert (trained["out"]/"cal.png").stat().st_size > 10_000
    for k in ("spearman_rho", "slope_in_support", "mace_in_support", "success_rate_at_top", "normalized_return_at_top"):
        assert np.isfinite(metrics[k]), k
    assert metrics["spearman_rho"] > 0.3              # achieved returns rise with the target
    assert 0 <= metrics["success_rate_at_top"] <= 1
    lo, hi = metrics["support"]
    assert lo == pytest.approx(float(data.returns.min())) and hi == pytest.approx(float(data.returns.max()))
    assert all(s["return_ci_low"] <= s["return_mean"] <= s["return_ci_high"] for s in summary)

def test_dt_bc_and_dqn_side_by_side_on_the_same_seeds(trained):
    data = trained["data"]
    actors = {"DT": DTActor(load_model_from_checkpoint(trained["checkpoint"])),
              "DQN": SB3Actor(load_policy(trained["dqn_cfg"], trained["dqn_model"]))}
    rows = compare_policies(actors, data.env_config, [0.5, 0.9], num_episodes=4, seed=5)
    assert [(r["policy"], r["target_return"]) for r in rows] == [("DT", 0.5), ("DT", 0.9), ("DQN", 0.5), ("DQN", 0.9)]
    # the greedy DQN ignores the target: same seeds, same episodes
    dqn_eps = rollout(actors["DQN"], data.env_config, [0.5, 0.9], 4, seed=5)
    assert [e.actions for e in dqn_eps[:4]] == [e.actions for e in dqn_eps[4:]]

def _evaluate(*args):
    return subprocess.run([sys.executable, "-m", "midt.scripts.evaluate", *map(str, args)], capture_output=True, text=True, timeout=300)

def test_cli_writes_table_metrics_calibration_and_gif(trained, tmp_path):
    r = _evaluate("--checkpoint", trained["checkpoint"], "--data-path", trained["data_path"], "--env-layout", "quickstart",
                  "--target-returns", "0.5", "0.8", "1.0", "--num-episodes", "4", "--calibration",
                  "--dqn-model", trained["dqn_model"], "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| DT | 0.500 |" in r.stdout and "| DQN (data policy) | 1.000 |" in r.stdout
    m = json.loads((tmp_path/"metrics.json").read_text())
    assert len(m["targets"]) == 6 and np.isfinite(m["calibration"]["spearman_rho"])
    assert (tmp_path/"calibration.png").exists() and (tmp_path/"episode.gif").exists()

def test_cli_bad_input_fails_before_any_rollout(trained, tmp_path):
    base = ["--checkpoint", trained["checkpoint"], "--data-path", trained["data_path"], "--output-dir", tmp_path]
    r = _evaluate(*base, "--env-layout", "posner", "--target-returns", "1")          # other grid: other state size
    assert r.returncode == 2 and "expects state_dim" in r.stderr
    r = _evaluate(*base, "--env-layout", "layouts/none.txt", "--target-returns", "1")
    assert r.returncode == 2 and "none.txt" in r.stderr
    r = _evaluate(*base, "--target-returns")
    assert r.returncode == 2 and "--target-returns is empty" in r.stderr
    assert not any(tmp_path.iterdir())                                               # nothing written

def test_cli_refuses_another_runs_data_unless_asked(trained, tmp_path):
    "The data file decides the environment: a file the checkpoint was not trained on is refused, naming both files."
    other = load_transitions(trained["data_path"]).select(np.arange(10))        # same shapes, other content
    import shutil
    shutil.copy(trained["data_path"], tmp_path/"copy.h5")                          # the same data elsewhere: accepted
    r = _evaluate("--checkpoint", trained["checkpoint"], "--data-path", tmp_path/"copy.h5", "--target-returns", "0.5",
                  "--num-episodes", "2", "--output-dir", tmp_path/"ok")
    assert r.returncode == 0, r.stderr
    from midt.data.storage import TransitionWriter
    with TransitionWriter(tmp_path/"other.h5", env_config=other.env_config, collection_config=other.collection_config) as w:
        for i in range(other.num_episodes): w.add(other.episode(i))
    base = ["--checkpoint", trained["checkpoint"], "--data-path", tmp_path/"other.h5", "--target-returns", "0.5",
            "--num-episodes", "2"]
    r = _evaluate(*base, "--output-dir", tmp_path/"refused")
    assert r.returncode == 2 and "was trained on other data than" in r.stderr and "--allow-other-data" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path/"refused").exists()
    r = _evaluate(*base, "--allow-other-data", "--output-dir", tmp_path/"allowed")
    assert r.returncode == 0, r.stderr
