"Ray as the executor, on a local Ray and real papermill: the same summary and failure report as the process pool, skipping, the pipeline's seeds as Ray tasks."
import csv, json, subprocess, sys

import yaml

from test_batch import _batch, _toy_notebook
from test_pipeline import TINY, _pipeline


def _files(out):
    "Every file a batch wrote, relative to its output folder (the kernel logs, kept only when a kernel spoke, aside)."
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.endswith(".kernel.log"))


def test_a_2x2_grid_on_local_ray_gives_the_process_pools_summary_and_failure_report(repo, tmp_path):
    nb = _toy_notebook(tmp_path/"toy.ipynb")
    args = [nb, "--grid", "a=0,1", "b=0,1", "--set", "seed=10", "--workers", 2, "--no-summary"]
    pool = _batch(repo, *args, "--output-dir", tmp_path/"pool")
    ray = _batch(repo, *args, "--output-dir", tmp_path/"ray", "--executor", "ray")
    assert (pool.returncode, ray.returncode) == (1, 1), ray.stderr[-3000:]
    # every row and column alike (the toy's summary has no wall times; the failing row carries the same cell and error)
    assert (tmp_path/"ray"/"summary.csv").read_text() == (tmp_path/"pool"/"summary.csv").read_text()
    rows = list(csv.DictReader(open(tmp_path/"ray"/"summary.csv")))
    assert [(x["a"], x["b"], x["status"]) for x in rows] == [("0", "0", "done"), ("0", "1", "done"), ("1", "0", "done"), ("1", "1", "failed")]
    assert "cell 2 of the executed notebook ('import json, pathlib'): RuntimeError: deliberate failure" in rows[3]["error"]
    assert _files(tmp_path/"ray") == _files(tmp_path/"pool")          # the same notebooks, metrics, done markers, partial notebook
    assert "3 ran, 0 skipped (done before), 1 failed" in ray.stdout
    failed = lambda r, out: [l.replace(str(out), "OUT") for l in r.stderr.splitlines() if l.startswith("  FAILED")]
    assert failed(ray, tmp_path/"ray") == failed(pool, tmp_path/"pool") and len(failed(ray, tmp_path/"ray")) == 1
    # the combinations that completed are skipped on a rerun; with nothing left to run, no Ray is started
    again = _batch(repo, nb, "--grid", "a=0", "b=0,1", "--set", "seed=10", "--no-summary", "--output-dir", tmp_path/"ray",
                   "--executor", "ray")
    assert again.returncode == 0 and "0 ran, 2 skipped (done before), 0 failed" in again.stdout, again.stderr


def test_ray_options_without_ray_or_with_the_process_pool_are_one_line(repo, tmp_path):
    nb = _toy_notebook(tmp_path/"toy.ipynb")
    r = _batch(repo, nb, "--grid", "a=0", "--address", "auto", "--output-dir", tmp_path/"out")
    assert r.returncode == 2 and r.stderr.strip() == "error: --address, --cpus-per-task and --gpus-per-task need --executor ray"
    code = ("import sys; sys.modules['ray'] = None\nfrom midt.scripts.batch import main\n"      # as if Ray were not installed
            f"sys.exit(main([{str(nb)!r}, '--grid', 'a=0', '--executor', 'ray', '--output-dir', {str(tmp_path/'out')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "error: --executor ray needs Ray, which is not installed: pip install ray==2.60.0"
    assert not (tmp_path/"out").exists()


def test_pipeline_seeds_as_ray_tasks_then_a_rerun_skips_them(repo, tmp_path):
    "Each seed's DT and each calibration notebook is a Ray task; a rerun finds every stage done and starts no Ray."
    cfg = tmp_path/"tiny.yaml"; cfg.write_text(yaml.safe_dump(TINY))
    args = ["--config", cfg, "--output-dir", tmp_path, "--seeds", 0, 1, "--stages", "environment", "data", "dt", "evaluation",
            "--executor", "ray"]
    r = _pipeline(repo, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"tiny"
    m = json.loads((run/"metrics.json").read_text())
    assert sorted(m["seeds"]) == ["0", "1"] and m["seeds"]["0"]["dt"] != m["seeds"]["1"]["dt"]
    for base in (run, run/"seed_0"):                                      # the run's own seed (1), then the other
        assert (base/"dt/checkpoints/best.pt").exists() and (base/"eval/calibration.ipynb").exists()
        assert len(json.loads((base/"eval/metrics.json").read_text())["calibration"]["targets"]) == 3
    assert m["seeds"]["1"]["dt"]["history"][-1]["step"] == 100
    assert "dt (seed 0): 100 steps" in r.stdout and "dt (seed 1): val loss" in r.stdout
    again = _pipeline(repo, *args)
    assert again.returncode == 0 and again.stdout.count("up to date, skipped") == 2 + 2 * 2, again.stdout
