import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

@pytest.fixture
def repo() -> Path:
    "The repository root (configs/, nbs/, settings.ini)."
    return REPO
