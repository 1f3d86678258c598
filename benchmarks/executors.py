"""The same 2x2 batch grid (four executions of the shipped `env_report` notebook, two at once) under the process pool
and under a local Ray started for it, side by side: wall times, Ray's start-up (`ray.init` of a local Ray) apart from
the grid itself, and their ratio to the pool. Both write the same `summary.csv` (checked at the end).

    .venv/bin/python benchmarks/executors.py [--workers 2] [--rounds 1]
"""
import argparse, os, tempfile, time
from pathlib import Path

from midt.scripts.batch import run_batch
from midt.utils.executors import Executor

GRID = {"seed": [0, 1], "episodes": [2, 3]}
FIXED = {"layout": "quickstart", "max_steps": 20}


def grid(out: Path, executor) -> float:
    t = time.perf_counter()
    results = run_batch(["env_report"], GRID, output_dir=out, fixed=FIXED, summary=False, progress=False, executor=executor)
    assert all(r.status == "done" for r in results), [r.error for r in results if r.error]
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2); p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="midt-executors-"))
    rows = []
    for r in range(a.rounds):
        pool = grid(tmp/f"pool{r}", Executor("process", a.workers))
        ex = Executor("ray", a.workers)
        t = time.perf_counter(); ex.start(); start = time.perf_counter() - t
        ray = grid(tmp/f"ray{r}", ex)                                    # run_batch's `with` stops the Ray it started
        rows.append((pool, start, ray))
        same = (tmp/f"pool{r}"/"summary.csv").read_text() == (tmp/f"ray{r}"/"summary.csv").read_text()
        print(f"round {r}: process pool {pool:.1f} s | ray start {start:.1f} s + grid {ray:.1f} s = {start + ray:.1f} s | "
              f"same summary.csv: {same}")
    pool = min(r[0] for r in rows)
    _, start, ray = min(rows, key=lambda r: r[1] + r[2])                # Ray's best round, start and grid of the same round
    print(f"2x2 grid of env_report, {a.workers} at once, {os.cpu_count()} cores (best of {a.rounds}):")
    print(f"  process pool          {pool:6.1f} s   1.00x")
    print(f"  ray, grid only        {ray:6.1f} s   {ray / pool:.2f}x")
    print(f"  ray, start + grid     {start + ray:6.1f} s   {(start + ray) / pool:.2f}x")
    print(f"  local Ray start-up    {start:6.1f} s   {start / pool:.2f}x of the pool's whole grid")


if __name__ == "__main__":
    main()
