"The README's main command, end to end on the quick-start config (the stages that exist so far)."
import json, subprocess, sys

def test_pipeline_cli_writes_a_run_folder(repo, tmp_path):
    r = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", str(repo/"configs/quickstart.yaml"),
                        "--output-dir", str(tmp_path), "--seed", "1"], capture_output=True, text=True, cwd=repo, timeout=300)
    assert r.returncode == 0, r.stderr
    run = tmp_path/"quickstart"
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["seed"] == 1
    env = metrics["environment"]
    assert abs(env["optimal_return"] - 0.91) < 1e-9                     # the quick-start optimum (see 13_envs.oracle)
    assert env["random_return_mean"] < env["optimal_return"]
    assert (run/"env_report.png").stat().st_size > 1000
    assert (run/"env_report.ipynb").exists() and not list(run.glob(".*partial*"))
    assert "seed: 1" in (run/"config.yaml").read_text()

def test_pipeline_cli_rejects_a_bad_config(tmp_path):
    bad = tmp_path/"bad.yaml"; bad.write_text("dqn: {env_layout_path: quickstart}\nmodel: {num_layer: 2}\n")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", str(bad), "--output-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "key 'model.num_layer'" in r.stderr
    assert not (tmp_path/"quickstart").exists()                           # nothing half-written
