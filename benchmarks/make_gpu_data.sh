#!/usr/bin/env bash
# Build what benchmarks/gpu_check.sh needs on the GPU machine (which has no gymnasium/SB3 and no internet), from the repo root:
#   benchmarks/gpu_data/transitions.h5  real gridworld transitions (the smoke config's data stage: quickstart layout,
#                                       symbolic observations, state_dim 323, ~180 episodes, ~5.4k transitions, ~4 MB)
#   .whl/*.whl                          the Python packages the GPU image lacks (midt's training path imports them)
# Both are ignored through .git/info/exclude and travel with the device tool's `carry: [".whl", "benchmarks/gpu_data"]`.
#
#   bash benchmarks/make_gpu_data.sh            # uses .venv/bin/python (override: PY=/path/to/python)
#   bash benchmarks/make_gpu_data.sh --no-wheels
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
exclude=$(git rev-parse --git-common-dir)/info/exclude
mkdir -p "$(dirname "$exclude")"; touch "$exclude"
for pat in /.whl/ benchmarks/gpu_data/; do grep -qxF "$pat" "$exclude" || echo "$pat" >>"$exclude"; done

# 1. the data: the smoke pipeline's data stage (a small DQN run recording every transition; about a minute on 2 cores)
if [ ! -s benchmarks/gpu_data/transitions.h5 ]; then
  tmp=$(mktemp -d)
  PYTHONPATH=. "$PY" -m midt.scripts.pipeline --config configs/smoke.yaml --stages data --output-dir "$tmp"
  mkdir -p benchmarks/gpu_data
  cp "$tmp/smoke/data/data/transitions.h5" benchmarks/gpu_data/transitions.h5
  rm -rf "$tmp"
fi
PYTHONPATH=. "$PY" -m midt.data.storage info benchmarks/gpu_data/transitions.h5

# 2. the wheels (Python 3.12, x86-64): the versions settings.ini pins; pydantic needs typing_extensions >= 4.16, which
#    the GPU image may not have, so it travels too. One version of each (two stop the install there).
if [ "${1:-}" != "--no-wheels" ]; then
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    gymnasium==1.4.0 Farama-Notifications==0.0.6 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5 typing_extensions==4.16.0
  ls .whl
fi
du -shc .whl benchmarks/gpu_data 2>/dev/null | tail -1
