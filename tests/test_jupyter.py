"JupyterLab and papermill see a kernel in which `import midt` works, and papermill injects parameters."
import json, subprocess, sys
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

def test_midt_kernel_is_installed_for_jupyterlab():
    out = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True, check=True)
    specs = json.loads(out.stdout)["kernelspecs"]
    assert "midt" in specs, "run `make setup` (it registers the kernel 'Python (midt)')"
    argv0 = specs["midt"]["spec"]["argv"][0]
    assert Path(argv0).resolve() == Path(sys.executable).resolve()  # the kernel runs this environment's Python

def test_analysis_notebooks_keep_their_parameters_tag(repo):
    for p in (repo/"nbs"/"analysis").glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{p}: no cell tagged `parameters`"
