"""README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed here).

    python .ci/readme.py           # write README.md
    python .ci/readme.py --check   # exit 1 when README.md is not what index.ipynb gives
"""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def render() -> str:
    nb = nbformat.read(ROOT/"nbs/index.ipynb", as_version=4)
    parts = []
    for i, c in enumerate(nb.cells):
        src = c.source.strip()
        if c.cell_type == "markdown":
            if i == 0: src += "\n\n<!-- Generated from nbs/index.ipynb by .ci/readme.py; edit the notebook, not this file. -->"
            parts.append(src.replace("](images/", "](nbs/images/"))
        elif c.cell_type == "code" and not src.startswith("#|"):
            parts.append(f"```python\n{src}\n```")
            text = "".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream").rstrip()
            if text: parts.append(f"```\n{text}\n```")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if (ROOT/"README.md").read_text() != text:
            print("README.md differs from nbs/index.ipynb: run `python .ci/readme.py`", file=sys.stderr); sys.exit(1)
        print("readme: README.md matches nbs/index.ipynb")
    else:
        (ROOT/"README.md").write_text(text); print("README.md written from nbs/index.ipynb")
