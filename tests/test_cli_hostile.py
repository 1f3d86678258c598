"""Hostile inputs to every command: one `error:` line, exit status 2, nothing created, no traceback."""
import os, signal, subprocess, sys, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(module, *args, cwd):
    return subprocess.run([sys.executable, "-m", f"midt.{module}", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    r = run("scripts.pipeline", "--config", "smoke", "--output-dir", out, "--stages", "environment", "data", "dt", cwd=out)
    assert r.returncode == 0, r.stderr
    run_dir = out/"smoke"
    return {"out": out, "ckpt": run_dir/"dt"/"checkpoints"/"best.pt", "data": run_dir/"data"/"data"/"transitions.h5"}


@pytest.fixture
def junk(tmp_path):
    (tmp_path/"afile").write_text("x\n")
    (tmp_path/"adir").mkdir()
    (tmp_path/"empty.yaml").write_text("")
    (tmp_path/"cwd").mkdir()
    return tmp_path


def refused(r, cwd, *needles):
    "exit 2, one `error:` line on stderr, no traceback, nothing created in the working directory"
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles: assert n in lines[0], lines[0]
    assert list(Path(cwd).iterdir()) == [], list(Path(cwd).iterdir())


EVAL_CASES = [
    (["--num-episodes", "0"], "--num-episodes"), (["--num-episodes", "-3"], "--num-episodes"),
    (["--num-episodes", "99999999999999999999"], "--num-episodes"), (["--target-returns", "nan"], "finite"),
    (["--target-returns", "inf"], "finite"), (["--seed", "-1"], "--seed"), (["--seed", str(2**70)], "--seed"),
    (["--temperature", "0"], "--temperature"), (["--temperature", "nan"], "--temperature"),
    (["--output-dir", "{junk}/afile"], "is a file"), (["--output-dir", "{junk}/afile/sub"], "is a file"),
    (["--output-dir", "/proc/x"], "/proc"), (["--env-layout", "MiniGrid-Nope-v0"], "MiniGrid-Nope-v0"),
    (["--env-layout", "{junk}/afile"], "afile"),
]

@pytest.mark.parametrize("extra,needle", EVAL_CASES)
def test_evaluate_refuses(smoke, junk, extra, needle):
    base = {"--checkpoint": smoke["ckpt"], "--data-path": smoke["data"], "--target-returns": "0.5", "--num-episodes": "1"}
    for k, v in zip(extra[::2], extra[1::2]): base[k] = v.format(junk=junk)
    r = run("scripts.evaluate", *[x for kv in base.items() for x in kv], cwd=junk/"cwd")
    refused(r, junk/"cwd", needle)
    assert not (junk/"afile").is_dir()


@pytest.mark.parametrize("ckpt", ["trunc", "empty", "adir", "data"])
def test_evaluate_bad_checkpoint(smoke, junk, ckpt):
    path = {"trunc": junk/"t.pt", "empty": junk/"e.pt", "adir": junk/"adir", "data": smoke["data"]}[ckpt]
    if ckpt == "trunc": path.write_bytes(smoke["ckpt"].read_bytes()[:1000])
    if ckpt == "empty": path.write_bytes(b"")
    r = run("scripts.evaluate", "--checkpoint", path, "--data-path", smoke["data"], "--target-returns", "0.5", cwd=junk/"cwd")
    refused(r, junk/"cwd")


INTERP_CASES = [
    (["--run-probing", "--probe-target", "nope"], "nope"), (["--run-probing", "--modality", "nope"], "modality"),
    (["--run-attention", "--num-samples", "-1"], "--num-samples"), (["--run-attention", "--num-samples", "0"], "--num-samples"),
    (["--run-patching", "--rtg-delta", "nan"], "finite"), (["--run-attention", "--output-dir", "/proc"], "/proc"),
    (["--run-attention", "--output-dir", "{junk}/afile"], "is a file"), (["--run-attention", "--config", "{junk}/adir"], "adir"),
    (["--run-attention", "--config", "{junk}/empty.yaml", "--num-samples", "-5"], "--num-samples"), ([], "nothing to do"),
]

@pytest.mark.parametrize("extra,needle", INTERP_CASES)
def test_run_interp_refuses(smoke, junk, extra, needle):
    extra = [x.format(junk=junk) for x in extra]
    r = run("scripts.run_interp", "--checkpoint", smoke["ckpt"], "--data-path", smoke["data"], *extra, cwd=junk/"cwd")
    refused(r, junk/"cwd", needle)


PIPE_CASES = [
    (["--workers", "0"], "--workers"), (["--seed", "-1"], "--seed"), (["--seeds", "-5"], "--seeds"),
    (["--seed", str(2**70)], "--seed"), (["--seed", "abc"], "--seed"), (["--stages", "bogus"], "bogus"),
    (["--stages", "dt"], "'data'"), (["--stages", "evaluation"], "'data'"), (["--stages", "analysis", "report"], "'data'"),
    (["--output-dir", "{junk}/afile"], "is a file"), (["--output-dir", "/proc"], "/proc"),
]

@pytest.mark.parametrize("extra,needle", PIPE_CASES)
def test_pipeline_refuses(junk, extra, needle):
    extra = [x.format(junk=junk) for x in extra]
    r = run("scripts.pipeline", "--config", "smoke", *extra, cwd=junk/"cwd")
    refused(r, junk/"cwd", needle)


@pytest.mark.parametrize("config", ["{junk}/adir", "{junk}/empty.yaml", "{junk}/list.yaml"])
def test_pipeline_bad_config(junk, config):
    (junk/"list.yaml").write_text("- a\n- b\n")
    r = run("scripts.pipeline", "--config", config.format(junk=junk), cwd=junk/"cwd")
    refused(r, junk/"cwd")


def test_pipeline_stage_alone_reuses_recorded_results(smoke):
    r = run("scripts.pipeline", "--config", "smoke", "--output-dir", smoke["out"], "--stages", "dt", cwd=smoke["out"])
    assert r.returncode == 0, r.stderr
    assert "dt: up to date, skipped" in r.stdout


BATCH_CASES = [
    (["calibration", "--grid", "seed=1", "--grid", "seed=2"], "twice"), (["calibration", "--grid", "seed=nan"], "seed"),
    (["calibration", "--grid", "seed=-1"], "seed"), (["calibration", "--grid", "seed=1", "--set", "seed=2"], "both"),
    (["calibration", "--set", "output_dir=../x"], "output_dir"), (["calibration", "--workers", "0"], "--workers"),
    (["calibration", "--output-dir", "/proc"], "/proc"), (["calibration", "--grid", "seed=2020-01-01"], "date"),
    (["calibration", "--grid", "seed=!!python/object/apply:os.system [x]"], "seed"),
    (["calibration", "--grid", "temperature=abc"], "temperature"), (["{junk}/adir"], "not found"),
    (["{junk}/noparams.ipynb"], "parameters"), (["{junk}/afile"], "not found"), (["nope"], "nope"),
]

@pytest.mark.parametrize("extra,needle", BATCH_CASES)
def test_batch_refuses(junk, extra, needle):
    import nbformat
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), junk/"noparams.ipynb")
    r = run("scripts.batch", *[x.format(junk=junk) for x in extra], "--no-summary", cwd=junk/"cwd")
    refused(r, junk/"cwd", needle)


def test_pipeline_sigint_is_one_line_and_resumes(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "midt.scripts.pipeline", "--config", "smoke", "--output-dir", tmp_path,
                          "--stages", "environment", "data"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         # a test runner's worker may ignore SIGINT, and children inherit that: give it back, as a terminal does
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (tmp_path/"smoke"/"environment"/"stage.json").exists() and time.time() < deadline: time.sleep(0.2)
    time.sleep(1)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    lines = [l for l in err.splitlines() if l.strip() and "Traceback" not in l]
    assert p.returncode == 130, err
    assert "Traceback" not in err and len(lines) == 1 and "interrupted" in lines[0], err
    r = run("scripts.pipeline", "--config", "smoke", "--output-dir", tmp_path, "--stages", "environment", cwd=tmp_path)
    assert r.returncode == 0 and "environment: up to date, skipped" in r.stdout, r.stderr


def test_ctrl_c_inside_a_weakref_callback_is_one_line():
    "A Ctrl-C that Python can only report as 'Exception ignored' (it landed in a weakref callback) still ends the command with one line and 130."
    code = """
import os, signal, weakref
from midt.utils.io import cli
class A: pass
def main():
    a = A()
    r = weakref.ref(a, lambda _: (os.kill(os.getpid(), signal.SIGINT), sum(range(1000))))
    del a
    for _ in range(1000): sum(range(10))
    return 0
raise SystemExit(cli(main)())
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip().splitlines() == ["interrupted: finished work is kept; rerun the same command to resume"], p.stderr


def test_ctrl_c_inside_code_made_by_exec_still_exits_130(tmp_path):
    """A Ctrl-C that lands while a module builds its dataclasses (code run by `exec` on a string): CPython remembers it
    and, under `python -m`, would end the process with SIGINT (-2) after the command had already returned 130."""
    (tmp_path/"ki_command.py").write_text("""
import sys
from midt.utils.io import cli
@cli
def main():
    exec("raise KeyboardInterrupt")
    return 0
sys.exit(main())
""")
    p = subprocess.run([sys.executable, "-m", "ki_command"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**ENV, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert p.returncode == 130, (p.returncode, p.stderr)
    assert p.stderr.strip() == "interrupted: finished work is kept; rerun the same command to resume"
