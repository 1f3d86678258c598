"The README's main command, end to end: every stage on a tiny config, skipping on rerun, bad configs."
import json, subprocess, sys

import pytest
import yaml

TINY = {"run_name": "tiny", "seed": 1,
        "dqn": {"env_layout_path": "quickstart", "obs_mode": "symbolic_minimal", "max_episode_steps": 30, "n_envs": 2,
                "total_timesteps": 2000, "learning_starts": 200, "net_arch": [32], "snapshot_fractions": [0.5, 1.0],
                "extra_episodes": 3, "extra_epsilons": [0.0, 1.0], "progress_bar": False, "device": "cpu"},
        "model": {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "max_timestep": 32},
        "dt": {"context_length": 5, "max_steps": 100, "warmup_steps": 10, "eval_every": 50, "save_every": 50, "device": "cpu"},
        "eval": {"num_episodes": 3, "calibration_points": 3},
        "interp": {"num_samples": 64, "patching_samples": 16, "probe_targets": ["action", "rtg", "held_key"]}}

def _pipeline(repo, *args):
    return subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=repo, timeout=600)

def test_every_stage_for_two_seeds_then_a_rerun_skips_them(repo, tmp_path):
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump(TINY))
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path, "--seeds", 1, 2)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"tiny"
    m = json.loads((run/"metrics.json").read_text())
    assert m["seed"] == 1 and abs(m["environment"]["optimal_return"] - 0.91) < 1e-9   # the quick-start optimum
    assert m["data"]["transitions"] >= 2000 and (run/"data/data/transitions.h5").exists()
    assert sorted(m["seeds"]) == ["1", "2"]
    for base in (run, run/"seed_2"):                                      # the run's own seed, then the extra one
        assert (base/"dt/checkpoints/best.pt").exists()
        for f in ["eval/calibration.ipynb", "eval/calibration.png", "eval/episode.gif", "analysis/attention/attention.ipynb",
                  "analysis/attention/attention_modality.png", "analysis/probing/probing.ipynb", "analysis/probing/probe_rtg.png",
                  "analysis/patching/patching.ipynb", "analysis/patching/patching.png",
                  "analysis/interventions/interventions.ipynb", "analysis/interventions/closed_loop.png"]:
            assert (base/f).stat().st_size > 1000, base/f
    assert m["dt"]["history"][-1]["step"] == 100 and m["dt"] == m["seeds"]["1"]["dt"] != m["seeds"]["2"]["dt"]
    cal = m["evaluation"]["calibration"]
    assert len(cal["targets"]) == 3 and -1 <= cal["spearman_rho"] <= 1
    an = m["seeds"]["2"]["analysis"]
    assert an["probing"]["findings"]["probing: held_key best at"].startswith("L0")   # every requested target was probed
    assert an["interventions"]["top_head"] == an["patching"]["findings"]["patching: top head"]   # the same head, ablated
    assert 0 <= an["patching"]["pairs"] <= 16 and set(an["patching"]["attribution_r"]) == {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"}
    html = (run/"report.html").read_text()
    assert "Which findings hold across seeds" in html and "seed 2" in html and "data:image/png;base64" in html
    assert (run/"report.ipynb").exists() and not (run/".report").exists()
    assert not list(run.rglob(".*partial*")) and not list(run.rglob("*.tmp"))
    r2 = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path, "--seeds", 1, 2)
    assert r2.returncode == 0 and r2.stdout.count("up to date, skipped") == 2 + 2 * 3, r2.stdout
    assert json.loads((run/"metrics.json").read_text())["seeds"] == m["seeds"]

def test_an_interrupted_run_resumes_at_the_stage_that_did_not_finish(repo, tmp_path):
    import signal, time
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump({**TINY, "dt": {**TINY["dt"], "max_steps": 3000}}))
    p = subprocess.Popen([sys.executable, "-m", "midt.scripts.pipeline", "--config", str(cfg), "--output-dir", str(tmp_path),
                          "--stages", "environment", "data", "dt"], cwd=repo, stdout=subprocess.PIPE, text=True)
    for line in p.stdout:                                                 # kill it once the DT has started training
        if line.startswith("[midt] dt:"): time.sleep(2); p.send_signal(signal.SIGKILL); break
    p.wait(timeout=60)
    run = tmp_path/"tiny"
    assert (run/"data/stage.json").exists() and not (run/"dt/stage.json").exists()
    cfg.write_text(yaml.safe_dump(TINY))                                  # the same data; a shorter DT this time
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path, "--stages", "environment", "data", "dt")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "environment: up to date, skipped" in r.stdout and "data: up to date, skipped" in r.stdout
    assert "dt: 100 steps" in r.stdout and (run/"dt/stage.json").exists()

def test_bad_output_folder_and_notebook_parameters_are_refused_before_any_work(repo, tmp_path):
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump(TINY))
    (tmp_path/"a_file").write_text("")
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path/"a_file"/"runs")
    assert r.returncode == 2 and "a_file" in r.stderr and "is a file" in r.stderr
    from midt.scripts.pipeline import run_notebook
    with pytest.raises(ValueError, match="unknown parameter layuot; valid: layout, max_steps, obs_mode, view_size, episodes, seed, output_dir"):
        run_notebook("env_report", tmp_path/"env", layuot="quickstart")
    assert not (tmp_path/"env").exists()

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

def test_relative_config_layout_and_output_folder_from_another_folder(repo, tmp_path):
    "The way a user runs it: relative paths everywhere, from a folder that is not the repository; every notebook sees them."
    work = tmp_path/"study"; (work/"layouts").mkdir(parents=True); (work/"configs").mkdir()
    (work/"layouts"/"room.txt").write_text((repo/"midt"/"layouts"/"quickstart.txt").read_text())
    cfg = {**TINY, "output_dir": "runs", "dqn": {**TINY["dqn"], "env_layout_path": "layouts/room.txt"}}
    (work/"configs"/"tiny.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", "configs/tiny.yaml",
                        "--stages", "environment", "data", "dt", "evaluation"], cwd=work, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run = work/"runs"/"tiny"
    assert (run/"eval"/"calibration.ipynb").exists() and (run/"eval"/"metrics.json").exists()
    saved = yaml.safe_load((run/"config.yaml").read_text())                # absolute: the run can be read from anywhere
    assert saved["output_dir"] == str(work/"runs") and saved["dqn"]["env_layout_path"] == str(work/"layouts"/"room.txt")
    assert "TCP without encryption" not in r.stderr and "Traceback" not in r.stderr

def test_a_kill_during_data_collection_resumes_by_itself(repo, tmp_path):
    "SIGKILL while the agent is collecting; the same command again finishes, and the interrupted episodes are kept aside."
    import signal, time
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump({**TINY, "dqn": {**TINY["dqn"], "total_timesteps": 8000}}))
    args = ["--config", str(cfg), "--output-dir", str(tmp_path), "--stages", "environment", "data"]
    p = subprocess.Popen([sys.executable, "-m", "midt.scripts.pipeline", *args], cwd=repo, stdout=subprocess.PIPE, text=True)
    data = tmp_path/"tiny"/"data"/"data"
    for line in p.stdout:
        if line.startswith("[midt] data: dqn"): break
    deadline = time.time() + 120                                         # wait until some episodes are journaled
    while time.time() < deadline and not list(data.glob("transitions.h5.journal/chunk_*.h5")): time.sleep(0.2)
    p.send_signal(signal.SIGKILL); p.wait(timeout=60)
    assert list(data.glob("transitions.h5.journal/chunk_*.h5")) and not (tmp_path/"tiny"/"data"/"stage.json").exists()
    r = _pipeline(repo, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/"tiny"/"data"/"stage.json").exists() and (data/"transitions.h5").exists()
    assert list(data.glob("transitions.interrupted-*.h5"))                 # nothing collected before the kill is lost

def test_a_bad_layout_is_one_line_before_the_run_folder_exists(repo, tmp_path):
    (tmp_path/"bad.txt").write_text("#####\n#S..#\n#####\n")              # no reward anywhere
    cfg = tmp_path/"c.yaml"; cfg.write_text(yaml.safe_dump({**TINY, "dqn": {**TINY["dqn"], "env_layout_path": str(tmp_path/"bad.txt")}}))
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path/"out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.txt" in r.stderr, r.stderr
    assert not (tmp_path/"out").exists()

def test_targets_outside_the_datas_returns_give_no_calibration_in_words_not_a_number(repo, tmp_path):
    cfg = tmp_path/"tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "eval": {**TINY["eval"], "target_returns": [-1.0, 5.0, 6.0]}}))   # one inside (returns -3.3..-0.1)
    r = _pipeline(repo, "--config", cfg, "--output-dir", tmp_path, "--stages", "environment", "data", "dt", "evaluation", "report")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "no calibration over the data's returns" in r.stdout and "1 of the targets -1, 5, 6 lie there, 3 are needed" in r.stdout
    cal = json.loads((tmp_path/"tiny/metrics.json").read_text())["evaluation"]["calibration"]
    assert cal["spearman_rho"] is None and cal["top_target"] == -1.0 and cal["targets_in_support"] == 1
    assert "n/a" in (tmp_path/"tiny/report.html").read_text()
