#!/usr/bin/env bash
# nvcc wrapper used only while building mmcv's CUDA ops (MMPDEPTH_MMCV_CUDA=1): mmcv 2.1.0's
# setup.py passes -std=c++17 to nvcc, torch >= 2.13 headers need C++20
# ("#error C++20 or later compatible compiler is required to use ATen").
# Reached through torch's PYTORCH_NVCC; the real nvcc is MMPDEPTH_REAL_NVCC or $CUDA_HOME/bin/nvcc.
args=()
for a in "$@"; do
  case "$a" in
    -std=c++17|-std=c++14) args+=("-std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "${MMPDEPTH_REAL_NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}" "${args[@]}"
