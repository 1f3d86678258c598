"""A collection that is killed: writes N finished episodes durably into PATH (overwrite=True), prints READY, then waits.

Usage: hold_writer.py PATH N [FSIZE_LIMIT_BYTES]  -- with a limit, episodes of growing size are added until a write fails;
the error is printed as `ERROR <message>` and the process exits 3."""
import resource, sys, time
import numpy as np
from midt.data.storage import DataFileError, TransitionWriter
from midt.data.trajectory import Trajectory

path, n = sys.argv[1], int(sys.argv[2])
w = TransitionWriter(path, env_config={"action_dim": 4}, flush_episodes=1, overwrite=True)
for i in range(n): w.add(Trajectory(np.full((3, 2), i, np.float32), [0, 1, 2], [0, 0, 1.0], terminated=True))
if len(sys.argv) > 3:
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
    try:
        for T in (10, 100, 1000, 10_000, 100_000, 1_000_000):
            w.add(Trajectory(np.random.default_rng(T).random((T, 2), dtype=np.float32), np.zeros(T), np.zeros(T), terminated=True))
    except DataFileError as e:
        print("ERROR", e, flush=True); sys.exit(3)
    sys.exit(0)
print("READY", flush=True)
time.sleep(600)
