#!/usr/bin/env bash
# Build the mmcv wheel from source into OUT_DIR (called by setup_env.sh and gpu_check.sh).
#
#   PIP="python -m pip" bash tools/env/build_mmcv.sh OUT_DIR [SOURCE]
#
# SOURCE: an sdist path or a requirement (default mmcv==<version in requirements/constraints.txt>).
# Default: mmcv's ops for the CPU only, with every GPU hidden from the build
# (CUDA_VISIBLE_DEVICES='', FORCE_CUDA=0, whatever the caller set): mmpdepth's CUDA compute is
# torch / torchvision and needs no mmcv CUDA kernel, and mmcv's CUDA path (taken whenever torch
# sees a GPU or FORCE_CUDA=1) passes -std=c++17 to nvcc, which torch 2.14's headers refuse.
# MMPDEPTH_MMCV_CUDA=1: build the CUDA ops too (needs nvcc: CUDA_HOME or /usr/local/cuda), with
# C++20 for nvcc (tools/env/nvcc20.sh) and the host compiler (tools/env/cxx20.sh);
# TORCH_CUDA_ARCH_LIST (e.g. "9.0") limits the GPU architectures and with them the build time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: build_mmcv.sh OUT_DIR [SOURCE]}
MMCV_VER=$(sed -n 's/^mmcv==\(.*\)$/\1/p' "$ROOT/requirements/constraints.txt")
SRC=${2:-mmcv==$MMCV_VER}
PIP=${PIP:-python -m pip}

build_env=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(nproc)}" "CXX=$HERE/cxx20.sh" CC=gcc)
if [ "${MMPDEPTH_MMCV_CUDA:-0}" = "1" ]; then
  CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  if [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
    echo "build_mmcv: MMPDEPTH_MMCV_CUDA=1 needs nvcc, not found at $CUDA_HOME/bin/nvcc (set CUDA_HOME)" >&2
    exit 2
  fi
  echo "build_mmcv: mmcv $MMCV_VER with CUDA ops (nvcc $CUDA_HOME/bin/nvcc, C++20 wrapper)"
  if [ ! -f "$CUDA_HOME/include/cusparse.h" ]; then
    # an nvcc-only toolkit: the CUDA library headers torch includes come from its pip packages
    NV_INC=$(${PIP%% *} -c "import glob, os, nvidia; print(':'.join(sorted(os.path.dirname(h) for r in nvidia.__path__ for h in glob.glob(os.path.join(r, '*', 'include', 'cusparse.h')))))" 2>/dev/null || true)
    [ -n "$NV_INC" ] && build_env+=("CPATH=$NV_INC${CPATH:+:$CPATH}")
  fi
  build_env+=(FORCE_CUDA=1 "CUDA_HOME=$CUDA_HOME" "PYTORCH_NVCC=$HERE/nvcc20.sh"
              "MMPDEPTH_REAL_NVCC=$CUDA_HOME/bin/nvcc")
else
  echo "build_mmcv: mmcv $MMCV_VER with CPU ops (GPUs hidden from the build)"
  build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
fi
rm -rf "$OUT.tmp"
# --no-cache-dir: pip's own wheel cache is keyed by the source alone, so it would hand back a
# wheel built for the other variant (CPU / CUDA ops) or against another torch; OUT_DIR (named
# after variant, torch and Python by setup_env.sh) is the cache
env "${build_env[@]}" $PIP wheel --no-cache-dir --no-build-isolation --no-deps -w "$OUT.tmp" "$SRC"
mkdir -p "$OUT"
mv "$OUT.tmp"/mmcv-*.whl "$OUT"/ && rm -rf "$OUT.tmp"
