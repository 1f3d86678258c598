#!/usr/bin/env bash
# The one command for the GPU machine (run from the repo root), measuring midt's DT training on the GPU:
#   bash benchmarks/gpu_check.sh            # full sizes: about 2.5 minutes on an H200 (hard stop at 330 s)
#   bash benchmarks/gpu_check.sh --quick    # tiny sizes (CPU test here: PY=.venv/bin/python SKIP_WHEELS=1 OUT=/tmp/x)
# Needs, carried with the device tool (both made by benchmarks/make_gpu_data.sh, both ignored by git):
#   .whl/                  gymnasium, pydantic and their needs, which the GPU image lacks (`import midt` needs gymnasium)
#   benchmarks/gpu_data/   transitions.h5, real gridworld data (no environment can run there)
# Results: $OUT/gpu_train.md (tables), $OUT/gpu_train.json (every number), $OUT/gpu_check.log (this output).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_check_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -z "${SKIP_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
fi
[ -s benchmarks/gpu_data/transitions.h5 ] || { echo "benchmarks/gpu_data/transitions.h5 missing: run benchmarks/make_gpu_data.sh and carry benchmarks/gpu_data"; exit 1; }
{
  nvidia-smi || echo "nvidia-smi: not available"
  "$PY" -c "import torch, numpy, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', 'numpy', numpy.__version__)"
  "$PY" -c "import pydantic, gymnasium, midt.training.trainer; print('imports ok: pydantic', pydantic.VERSION, 'gymnasium', gymnasium.__version__, 'from', gymnasium.__file__)"
} 2>&1 | tee "$OUT/gpu_env.txt"
if [ "${1:-}" = "--quick" ]; then ARGS=(--quick); LIMIT=600; else ARGS=(--deadline 200); LIMIT=330; fi
timeout -s INT -k 10 $LIMIT "$PY" benchmarks/gpu_train.py --out "$OUT" "${ARGS[@]}" 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw,memory.used --format=csv 2>/dev/null
echo "gpu_train.py exit status $rc; results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $rc
