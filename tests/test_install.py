"An installed midt (a built wheel, not the editable checkout), run from a folder outside the checkout, runs the shipped config end to end."
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _load_check_demo(repo: Path):
    spec = importlib.util.spec_from_file_location("check_demo", repo/".ci"/"check_demo.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def _copy_sources(repo: Path, dst: Path):
    "The files a clean clone has (git's list when available), without .venv/outputs/build leftovers."
    try: files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError): files = None
    if files is None:
        shutil.copytree(repo, dst, ignore=shutil.ignore_patterns(".venv", "outputs", "build", "*.egg-info", ".git"))
        return
    for f in files:
        if (repo/f).is_file():
            (dst/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(repo/f, dst/f)


def test_installed_wheel_runs_the_shipped_smoke_config(repo, tmp_path):
    src, dist, site, elsewhere = (tmp_path/n for n in ("src", "dist", "site", "elsewhere"))
    _copy_sources(repo, src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)], check=True)
    wheel = next(dist.glob("midt-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}          # the installed copy first: not the editable checkout
    where = subprocess.run([sys.executable, "-c", "import midt; print(midt.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), where
    r = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", "smoke"], cwd=elsewhere, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    run = elsewhere/"outputs"/"smoke"                       # the shipped config's relative output folder, read from here
    assert _load_check_demo(repo).problems(run) == []
    assert "TCP without encryption" not in r.stderr
    # a config that does not exist: one line, exit 2, nothing created
    r = subprocess.run([sys.executable, "-m", "midt.scripts.pipeline", "--config", "configs/nope.yaml", "--output-dir", "x"],
                       cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "configs/nope.yaml: config file not found" in r.stderr
    assert not (elsewhere/"x").exists()
