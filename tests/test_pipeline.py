"The README's main command, end to end: every stage on a tiny config, skipping on rerun, bad configs."
import json, subprocess, sys

import yaml

TINY = {"run_name": "tiny", "seed": 1,
        "dqn": {"env_layout_path": "quickstart", "obs_mode": "symbolic_minimal", "max_episode_steps": 30, "n_envs": 2,
                "total_timesteps": 2000, "learning_starts": 200, "net_arch": [32], "snapshot_fractions": [0.5, 1.0],
                "extra_episodes": 3, "extra_epsilons": [0.0, 1.0], "progress_bar": False, "device": "cpu"},
        "model": {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "max_timestep": 32},
        "dt": {"context_length": 5, "max_steps": 100, "warmup_steps": 10, "eval_every": 50, "save_every": 50, "device": "cpu"},
        "eval": {"num_episodes": 3, "calibration_points": 3}}

def _pipeline(repo, *args):
    return subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=repo, timeout=600)

def test_every_stage_then_a_rerun_skips_them(repo, tmp_path):
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump(TINY))
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path/"tiny"
    m = json.loads((run/"metrics.json").read_text())
    assert m["seed"] == 1 and abs(m["environment"]["optimal_return"] - 0.91) < 1e-9   # the quick-start optimum
    assert m["data"]["transitions"] >= 2000 and (run/"data/data/transitions.h5").exists()
    assert (run/"dt/checkpoints/best.pt").exists() and m["dt"]["history"][-1]["step"] == 100
    cal = m["evaluation"]["calibration"]
    assert len(cal["targets"]) == 3 and -1 <= cal["spearman_rho"] <= 1
    for f in ["environment/env_report.ipynb", "environment/env_report.png", "eval/calibration.png", "eval/episode.gif"]:
        assert (run/f).stat().st_size > 1000, f
    assert not list(run.rglob(".*partial*")) and not list(run.rglob("*.tmp"))
    r2 = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path)
    assert r2.returncode == 0 and r2.stdout.count("up to date, skipped") == 4
    assert json.loads((run/"metrics.json").read_text())["evaluation"] == m["evaluation"]

def test_pipeline_cli_rejects_a_bad_config(repo, tmp_path):
    bad = tmp_path/"bad.yaml"; bad.write_text("dqn: {env_layout_path: quickstart}\nmodel: {num_layer: 2}\n")
    r = _pipeline(repo, "--config", bad, "--output-dir", tmp_path)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "key 'model.num_layer'" in r.stderr
    assert not (tmp_path/"quickstart").exists()                           # nothing half-written

def test_the_shipped_quickstart_config_is_valid(repo):
    from midt.utils.config import PipelineConfig, load_config
    cfg = load_config(repo/"configs/quickstart.yaml", PipelineConfig)   # data and checkpoint paths are filled in by the run
    assert cfg.dqn.env_layout_path == "quickstart"
