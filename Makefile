# The README's two commands: `make demo` (set up + run the main job) and `make test` (set up + run every test).
# Both create .venv on first use and reuse it afterwards (re-installing when settings.ini or setup.py change).
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.midt-installed
CONFIG ?= configs/quickstart.yaml
JOBS   ?= 2

.PHONY: setup demo smoke test check-sync docs-check nbtest pytest browser lab clean-outputs

setup: $(STAMP)

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first and pinned: on a CPU machine that carries the CPU build this never pulls a CUDA build
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name midt --display-name "Python (midt)" >/dev/null
	@touch $(STAMP)

demo: setup
	$(BIN)/python -m midt.scripts.pipeline --config $(CONFIG)

# the smallest run of every stage, checked as a user would look at it (CI runs this first)
smoke: setup
	$(BIN)/python -m midt.scripts.pipeline --config configs/smoke.yaml
	$(BIN)/python .ci/check_demo.py outputs/smoke

check-sync: setup
	$(BIN)/python .ci/check_sync.py

docs-check: setup
	$(BIN)/python .ci/check_docs.py

nbtest: setup
	$(BIN)/nbdev_test --n_workers $(JOBS)

# the browser test drives Debian's Chromium with Playwright (never a downloaded browser); installed once, as root
browser:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: tests/test_browser.py will be skipped"

pytest: setup browser
	$(BIN)/python -m pytest -n $(JOBS) tests

test: setup check-sync docs-check nbtest pytest

lab: setup
	$(BIN)/jupyter lab nbs

clean-outputs:
	find outputs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
