#!/usr/bin/env bash
# The GPU checks of issue 13 in one unattended run (under 10 minutes on one GPU):
#   1. install the gpu extra and CuPy (skipped when they import already);
#   2. the engine parity suite on the array engine with device cuda (the same tests
#      the CPU runs with device cpu: tests/gpu_engine, the engine suites, Feast parity);
#   3. benchmarks/gpu_bench.py: the point-in-time join GPU vs the DuckDB engine (medium
#      with windowed aggregates, then large), to_torch vs raw tensor.to(device).
# Without a GPU (no nvidia-smi, or CuPy sees no device) every step runs with device cpu
# on medium instead and says so: that proves the script end to end on any machine.
#
#   bash benchmarks/gpu_check.sh                 # from the repository root
#   GPU_CHECK_NO_INSTALL=1 bash benchmarks/gpu_check.sh
#   GPU_CHECK_WHEELS=/path/to/wheels bash ...    # install offline from a wheelhouse
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
started=$(date +%s)
step() { printf '\n== %s (%ss in)\n' "$1" "$(($(date +%s) - started))"; }

step "device"
device=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  device=cuda
else
  echo "no NVIDIA GPU here (nvidia-smi finds none): the cuda parts are skipped, device cpu runs"
fi

step "install"
if [[ $device == cuda ]]; then
  if "$PY" -c "import cupy, torch" >/dev/null 2>&1; then
    echo "cupy and torch import already"
  elif [[ -n ${GPU_CHECK_NO_INSTALL:-} ]]; then
    echo "GPU_CHECK_NO_INSTALL is set but cupy or torch is missing" >&2
    exit 2
  else
    args=(-q)
    if [[ -n ${GPU_CHECK_WHEELS:-} ]]; then args+=(--no-index --find-links "$GPU_CHECK_WHEELS"); fi
    # torch==2.13.0 from PyPI is the CUDA 12 build on Linux; CuPy's wheel for CUDA 12.x
    timeout 300 "$PY" -m pip install "${args[@]}" -e '.[gpu,test-core]' cupy-cuda12x || {
      echo "installing the gpu extra and cupy-cuda12x failed (no index reachable? set" \
        "GPU_CHECK_WHEELS to a folder of wheels)" >&2
      exit 2
    }
  fi
  if ! "$PY" -c "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0"; then
    echo "CuPy sees no CUDA device: the cuda parts are skipped, device cpu runs"
    device=cpu
  else
    "$PY" -c "import cupy; print('cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
  fi
else
  echo "skipped: no GPU (CuPy is needed only with one)"
fi

step "parity suite on the array engine, device $device"
export FEATURESTORE_TEST_ARRAY_DEVICE=$device
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -x \
  tests/gpu_engine tests/offline/test_engine.py tests/offline/test_window_events.py \
  tests/parity/test_engine_feast_parity.py -k "array or gpu"

step "benchmark: medium, join and windowed aggregates, device $device"
timeout 150 "$PY" -m benchmarks.gpu_bench --sizes medium --device "$device" --repeats 3

if [[ $device == cuda ]]; then
  step "benchmark: large (10M feature rows, 1M entity rows), join, device cuda"
  timeout 240 "$PY" -m benchmarks.gpu_bench --sizes large --device cuda --repeats 3 --no-windows
else
  step "benchmark: large"
  echo "skipped: large is the GPU's size (device cuda); run it where a GPU is"
fi

step "done"
