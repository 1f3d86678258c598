"""Check the docs build up to what runs without Quarto: nbdev.yml, the hand-written sidebar, and `proc_nbs`.

`nbdev_proc_nbs` itself first tries to download Quarto, which cannot be installed here, so this calls the
same steps it runs (`refresh_quarto_yml`, `_build_modidx`, `proc_nbs`) and checks the sidebar lists every notebook."""
import sys, yaml
from pathlib import Path
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml
from nbdev.doclinks import _build_modidx
from nbdev.serve import proc_nbs

def _entries(x):
    if isinstance(x, str): yield x
    elif isinstance(x, list):
        for o in x: yield from _entries(o)
    elif isinstance(x, dict):
        for k in ('contents', 'href', 'file'):
            if k in x: yield from _entries(x[k])

def main():
    import subprocess
    if subprocess.run([sys.executable, str(Path(__file__).parent/'readme.py'), '--check']).returncode: sys.exit(1)
    cfg = get_config()
    nbs = cfg.nbs_path
    refresh_quarto_yml()
    _build_modidx()
    sidebar = yaml.safe_load((nbs/'sidebar.yml').read_text())

    listed = set(_entries(sidebar['website']['sidebar']['contents']))
    on_disk = {str(p.relative_to(nbs)) for p in nbs.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts}
    missing = sorted(on_disk - listed - {'index.ipynb'})
    dangling = sorted(p for p in listed if p.endswith('.ipynb') and p not in on_disk)
    for m in missing: print(f"ERROR: {nbs/'sidebar.yml'}: notebook {m} is not in the sidebar", file=sys.stderr)
    for m in dangling: print(f"ERROR: {nbs/'sidebar.yml'}: lists {m}, which does not exist", file=sys.stderr)
    if missing or dangling: sys.exit(1)
    cache = proc_nbs(n_workers=2, force=True)
    n = len(list(Path(cache).rglob('*.ipynb')))
    if n < len(on_disk): sys.exit(f"ERROR: proc_nbs produced {n} notebooks for {len(on_disk)} in {nbs}")
    print(f"check_docs: sidebar lists all {len(on_disk)} notebooks; proc_nbs processed them into {cache}")

if __name__ == '__main__':  # proc_nbs spawns workers that import this file
    main()
