"""Fail when `nbdev_export` or `nbdev_clean` would change a file: notebooks and library must be in sync.

Hashes every file under the library and notebook folders, runs export then clean, and compares.
Works the same in a clean clone and in a working tree with uncommitted edits."""
import hashlib, sys
from pathlib import Path

from nbdev.config import get_config
from nbdev.doclinks import nbdev_export
from nbdev.clean import nbdev_clean

cfg = get_config()
roots = [cfg.lib_path, cfg.nbs_path]

def snapshot():
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for r in roots for p in sorted(Path(r).rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts
            and p.name != 'nbdev.yml'}

def changed(before, after): return sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))

problems = []
s0 = snapshot()
nbdev_export()
s1 = snapshot()
if d := changed(s0, s1): problems.append(("nbdev_export", d, "notebooks and library out of sync: edit the notebook, run nbdev_export, commit both"))
nbdev_clean()
s2 = snapshot()
if d := changed(s1, s2): problems.append(("nbdev_clean", d, "unclean notebooks: run nbdev_clean (the papermill `parameters` tag survives) and commit"))
for tool, files, why in problems:
    print(f"ERROR: {tool} changed {len(files)} file(s) -- {why}:", file=sys.stderr)
    for f in files: print(f"  {f}", file=sys.stderr)
if problems: sys.exit(1)
print(f"check_sync: nbdev_export and nbdev_clean change nothing ({len(s2)} files checked)")
