import os
from pathlib import Path

import pytest

# pytest-xdist runs tests side by side on a 2-core machine; every test that trains or runs a notebook would start as many
# torch threads as there are cores, and threads that wait for a busy core spin (measured: 20x slower steps). One thread
# per test process (inherited by the pipelines and notebook kernels the tests start) keeps the cores busy with work.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") != "1":
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"): os.environ.setdefault(var, "1")

REPO = Path(__file__).resolve().parent.parent

@pytest.fixture
def repo() -> Path:
    "The repository root (configs/, nbs/, settings.ini)."
    return REPO
