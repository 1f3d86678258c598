"""Check a finished pipeline run as a user would look at it: `report.html` is there and no executed notebook holds an error.

    python .ci/check_demo.py outputs/smoke
"""
import json
import sys
from pathlib import Path

import nbformat


def problems(run: Path) -> list[str]:
    found = []
    if not (run/"report.html").is_file(): found.append(f"{run/'report.html'}: missing")
    if not (run/"metrics.json").is_file(): found.append(f"{run/'metrics.json'}: missing")
    notebooks = sorted(p for p in run.rglob("*.ipynb") if not p.name.startswith("."))
    partial = sorted(p for p in run.rglob(".*.partial.ipynb"))
    found += [f"{p}: a partial notebook (a stage failed)" for p in partial]
    expected = {"env_report", "calibration", "attention", "probing", "patching", "report"}
    missing = expected - {p.stem for p in notebooks}
    if missing: found.append(f"{run}: no executed notebook for {', '.join(sorted(missing))}")
    for p in notebooks:
        nb = nbformat.read(p, as_version=4)
        for i, c in enumerate(nb.cells):
            for o in c.get("outputs", []):
                if o.get("output_type") == "error":
                    found.append(f"{p}: cell {i}: {o.get('ename')}: {o.get('evalue')}")
            if c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None:
                found.append(f"{p}: cell {i} was not executed")
    return found


if __name__ == "__main__":
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/smoke")
    bad = problems(run)
    for b in bad: print(f"check_demo: {b}", file=sys.stderr)
    if bad: sys.exit(1)
    n = len([p for p in run.rglob("*.ipynb") if not p.name.startswith(".")])
    secs = json.loads((run/"metrics.json").read_text()).get("seconds")
    print(f"check_demo: {run}: report.html and {n} executed notebooks without errors (pipeline {secs} s)")
