"JupyterLab and papermill see a kernel in which `import midt` works, and papermill injects parameters."
import json, os, subprocess, sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

def _tiny_notebook(path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("answer = 0\nlabel = 'default'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, midt\nprint(json.dumps({'answer': answer, 'label': label, 'version': midt.__version__}))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)

def _printed(nb_path: Path) -> dict:
    nb = nbformat.read(nb_path, as_version=4)
    return json.loads(nb.cells[-1].outputs[0]["text"])

@pytest.mark.parametrize("kernel", ["python3", "midt"])
def test_papermill_injects_parameters(tmp_path, kernel):
    _tiny_notebook(tmp_path/"tiny.ipynb")
    pm.execute_notebook(str(tmp_path/"tiny.ipynb"), str(tmp_path/"out.ipynb"), parameters={"answer": 42, "label": "injected"},
                        kernel_name=kernel, progress_bar=False)
    got = _printed(tmp_path/"out.ipynb")
    assert (got["answer"], got["label"]) == (42, "injected")
    import midt
    assert got["version"] == midt.__version__

_KERNELSPECS = ("import json; from jupyter_client.kernelspec import KernelSpecManager; "
                "print(json.dumps(KernelSpecManager().get_all_specs()))")

def _decoy_path(tmp_path: Path) -> dict:
    "An environment whose PATH starts with a decoy `jupyter` and `jupyter-kernelspec` (a global Jupyter without midt)."
    bin_ = tmp_path/"decoy-bin"; bin_.mkdir()
    for name in ("jupyter", "jupyter-kernelspec", "jupyter-nbconvert", "jupyter-lab"):
        (bin_/name).write_text("#!/bin/sh\necho decoy >&2\necho '{\"kernelspecs\": {}}'\nexit 0\n"); (bin_/name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}"}

def test_midt_kernel_is_installed_for_jupyterlab(tmp_path):
    "Asked the way midt asks (this environment's jupyter_client, in-process), even with another Jupyter first on PATH."
    env = _decoy_path(tmp_path)
    assert subprocess.run(["jupyter-kernelspec", "list", "--json"], env=env, capture_output=True, text=True).stderr.strip() == "decoy"
    out = subprocess.run([sys.executable, "-c", _KERNELSPECS], env=env, capture_output=True, text=True, check=True)
    specs = json.loads(out.stdout)
    assert "midt" in specs, "run `make setup` (it registers the kernel 'Python (midt)')"
    argv0 = specs["midt"]["spec"]["argv"][0]
    assert Path(argv0).resolve() == Path(sys.executable).resolve()  # the kernel runs this environment's Python

def test_notebooks_run_with_a_decoy_jupyter_first_on_path(tmp_path):
    "midt's notebook runner starts this environment's kernel, whatever Jupyter comes first on PATH."
    _tiny_notebook(tmp_path/"tiny.ipynb")
    code = ("from midt.utils.io import run_notebook; import sys; "
            f"run_notebook({str(tmp_path/'tiny.ipynb')!r}, {str(tmp_path/'out')!r}, answer=7, label='x')")
    # the tiny notebook has no output_dir parameter: give it one the runner can set
    nb = nbformat.read(tmp_path/"tiny.ipynb", as_version=4)
    nb.cells[0].source += "\noutput_dir = '.'"
    nbformat.write(nb, tmp_path/"tiny.ipynb")
    r = subprocess.run([sys.executable, "-c", code], env=_decoy_path(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "decoy" not in r.stderr
    assert _printed(tmp_path/"out"/"tiny.ipynb")["answer"] == 7

def test_analysis_notebooks_keep_their_parameters_tag(repo):
    for p in (repo/"nbs"/"analysis").glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{p}: no cell tagged `parameters`"
