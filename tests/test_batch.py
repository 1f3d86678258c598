"The batch runner on real papermill executions: a 2x2 grid with one failing combination, resuming, the summary."
import csv, json, subprocess, sys

import nbformat


def _toy_notebook(path):
    "A notebook with parameters a and b that fails only for (a=1, b=1) and records a + b."
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    params = nbformat.v4.new_code_cell("a = 0\nb = 0\nseed = 0\noutput_dir = '.'", metadata={"tags": ["parameters"]})
    nb.cells = [params,
                nbformat.v4.new_code_cell("import json, pathlib\nif a == 1 and b == 1: raise RuntimeError('deliberate failure')"),
                nbformat.v4.new_code_cell("(pathlib.Path(output_dir)/'metrics.json').write_text(json.dumps({'sum': a + b + seed, "
                                          "'findings': {'positive': a + b > 0}}))")]
    nbformat.write(nb, path)
    return path


def _batch(repo, *args):
    return subprocess.run([sys.executable, "-m", "midt.scripts.batch", *map(str, args)], capture_output=True, text=True,
                          cwd=repo, timeout=600)


def test_a_failing_combination_is_reported_and_the_rest_complete_then_a_rerun_skips_them(repo, tmp_path):
    nb, out = _toy_notebook(tmp_path/"toy.ipynb"), tmp_path/"batch"
    r = _batch(repo, nb, "--grid", "a=0,1", "b=0,1", "--set", "seed=10", "--workers", 2, "--output-dir", out)
    assert r.returncode == 1, r.stderr
    assert "FAILED toy {'seed': 10, 'a': 1, 'b': 1}" in r.stderr and "RuntimeError: deliberate failure" in r.stderr
    assert "cell 2 of the executed notebook ('import json, pathlib')" in r.stderr   # after papermill's injected cell
    assert "3 ran, 0 skipped (done before), 1 failed" in r.stdout
    rows = list(csv.DictReader(open(out/"summary.csv")))
    assert [(x["a"], x["b"], x["status"]) for x in rows] == [("0", "0", "done"), ("0", "1", "done"), ("1", "0", "done"), ("1", "1", "failed")]
    assert [x["sum"] for x in rows[:3]] == ["10", "11", "11"] and rows[1]["positive"] == "True"
    assert (out/"toy/a=1__b=1/.toy.partial.ipynb").exists() and not (out/"toy/a=1__b=1/done.json").exists()
    assert (out/"batch_summary.ipynb").exists() and json.loads((out/"metrics.json").read_text())["failed"] == 1
    r2 = _batch(repo, nb, "--grid", "a=0,1", "b=0,1", "--set", "seed=10", "--workers", 2, "--output-dir", out)
    assert r2.returncode == 1 and "0 ran, 3 skipped (done before), 1 failed" in r2.stdout   # only the failure reruns


def test_bad_input_is_refused_before_any_work(repo, tmp_path):
    nb, out = _toy_notebook(tmp_path/"toy.ipynb"), tmp_path/"batch"
    r = _batch(repo, nb, "--grid", "a=0,1", "c=1", "--output-dir", out)
    assert r.returncode == 2 and "unknown parameter c; valid: a, b, seed, output_dir" in r.stderr
    r = _batch(repo, nb, "--grid", "a=", "--output-dir", out)
    assert r.returncode == 2 and "'a' has no values" in r.stderr
    r = _batch(repo, "calibration", "--grid", f"checkpoint={tmp_path/'missing.pt'}", "--output-dir", out)
    assert r.returncode == 2 and "missing.pt: no such file" in r.stderr
    assert not out.exists()


def _echo_notebook(path):
    "A notebook that records its `label` and the content of the file `checkpoint` names."
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("label = ''\ncheckpoint = ''\noutput_dir = '.'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\n(pathlib.Path(output_dir)/'metrics.json').write_text(json.dumps("
                                          "{'label': label, 'content': pathlib.Path(checkpoint).read_text()}))")]
    nbformat.write(nb, path)
    return path


def test_relative_paths_are_read_from_where_the_command_runs(tmp_path):
    "The notebook runs in its output folder; a relative notebook, checkpoint and output folder still mean what the user meant."
    work = tmp_path/"work"; (work/"runs").mkdir(parents=True)
    _echo_notebook(work/"echo.ipynb"); (work/"runs"/"best.pt").write_text("weights")
    r = _batch(work, "echo.ipynb", "--grid", "checkpoint=runs/best.pt", "--set", "label=a", "--output-dir", "out", "--no-summary")
    assert r.returncode == 0, r.stderr
    (m,) = (work/"out"/"echo").glob("*/metrics.json")
    assert json.loads(m.read_text()) == {"label": "a", "content": "weights"}


def test_no_value_can_run_code_in_a_notebook(tmp_path):
    "Strings that try to end their literal early arrive as strings; tags that build objects are refused."
    work = tmp_path/"work"; work.mkdir()
    _echo_notebook(work/"echo.ipynb"); (work/"c.pt").write_text("x")
    payloads = ['x"; import pathlib; pathlib.Path("PWNED").touch() #', 'x\\"; import pathlib; pathlib.Path("PWNED").touch() #',
                "x'''; import pathlib; pathlib.Path('PWNED').touch() #", 'x\\']
    for i, p in enumerate(payloads):
        r = _batch(work, "echo.ipynb", "--grid", "checkpoint=c.pt", "--set", f"label={p!r}" if "'" not in p else f'label="{p}"',
                   "--output-dir", f"out{i}", "--no-summary")
        assert r.returncode == 0, r.stderr
        (m,) = (work/f"out{i}"/"echo").glob("*/metrics.json")
        label = json.loads(m.read_text())["label"]
        assert label.startswith("x") and label.endswith("#" if "PWNED" in p else "\\")   # the whole string, as a string
    import base64
    b64 = base64.b64encode(b'x"; import pathlib; pathlib.Path("PWNED").touch() #').decode()
    for bad in [f"label=!!binary {b64}", "label=!!set {a}", "label=!!python/object/apply:os.system [touch PWNED]"]:
        r = _batch(work, "echo.ipynb", "--grid", "checkpoint=c.pt", "--set", bad, "--output-dir", "bad", "--no-summary")
        assert r.returncode == 2 and r.stderr.startswith("error: --grid label") and r.stderr.count("\n") == 1, r.stderr
    assert not (work/"PWNED").exists() and not any(work.rglob("PWNED")) and not (work/"bad").exists()
