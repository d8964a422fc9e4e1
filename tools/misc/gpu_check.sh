#!/usr/bin/env bash
# Install a bundle of tools/misc/make_gpu_bundle.sh into a temporary target and run the GPU check.
#
#   bash gpu_check.sh BUNDLE [--out DIR] [-- GPU_CHECK_ARGS...]
#
# Needs: python3 with PyTorch (CUDA build), a C++ compiler; no network. Nothing outside a new
# temporary folder is written, except DIR/gpu_check.json and DIR/gpu_check.log (DIR: --out,
# default the current folder; an existing gpu_check.json there is kept unless --overwrite).
# mmcv's ops are built for the CPU from the bundled sdist, in parallel, GPUs hidden from the build
# (tools/env/build_mmcv.sh): mmpdepth's CUDA compute is torch / torchvision.
# Env: PYTHON (default python3); MMCV_WHEEL=path of an mmcv wheel built for this Python and torch
# (skips the build); KEEP_TMP=1 keeps the temporary folder.
# Exit status: gpu_check.py's (0 all good, 1 a check failed, 3 no CUDA device), 2 bad bundle.
set -euo pipefail
BUNDLE=""; OUTDIR=$(pwd); OVERWRITE=0; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR=$2; shift 2 ;;
    --overwrite) OVERWRITE=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    *) BUNDLE=$1; shift ;;
  esac
done
[ -n "$BUNDLE" ] || { echo "usage: gpu_check.sh BUNDLE [--out DIR] [-- GPU_CHECK_ARGS]" >&2; exit 2; }
BUNDLE=$(cd "$BUNDLE" 2>/dev/null && pwd) || { echo "gpu_check: $BUNDLE: no such folder" >&2; exit 2; }
for f in mmpdepth-src.tar.gz SHA256SUMS; do
  [ -f "$BUNDLE/$f" ] || { echo "gpu_check: $BUNDLE has no $f: not a bundle of make_gpu_bundle.sh" >&2; exit 2; }
done
(cd "$BUNDLE" && sha256sum --quiet -c SHA256SUMS) || { echo "gpu_check: $BUNDLE: files differ from SHA256SUMS" >&2; exit 2; }
mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
if { [ -e "$OUTDIR/gpu_check.json" ] || [ -e "$OUTDIR/gpu_check.log" ]; } && [ "$OVERWRITE" != 1 ]; then
  echo "gpu_check: $OUTDIR already holds gpu_check.json / .log (pass --overwrite to replace them)" >&2; exit 2
fi
PY=${PYTHON:-python3}
T=$(mktemp -d "${TMPDIR:-/tmp}/mmpdepth-gpu-check.XXXXXX")
[ "${KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$T"' EXIT
log() { echo "[gpu_check $(date +%H:%M:%S)] $*"; }
t0=$(date +%s)

log "1/4 installing the bundle's wheels into $T/site"
PIPI=(-m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check)
$PY "${PIPI[@]}" --target "$T/site" "$BUNDLE"/wheels/*.whl
$PY "${PIPI[@]}" --target "$T/build" "$BUNDLE"/build-wheels/*.whl
mkdir -p "$T/src" && tar xzf "$BUNDLE/mmpdepth-src.tar.gz" -C "$T/src"

if [ -n "${MMCV_WHEEL:-}" ]; then
  log "2/4 mmcv from $MMCV_WHEEL (no build)"
  mkdir -p "$T/mmcv" && cp "$MMCV_WHEEL" "$T/mmcv/"
else
  log "2/4 building mmcv's CPU ops with $(nproc) jobs"
  PYTHONPATH="$T/build" PIP="$PY -m pip" MAX_JOBS=$(nproc) \
    bash "$T/src/tools/env/build_mmcv.sh" "$T/mmcv" "$(ls "$BUNDLE"/sdist/mmcv-*.tar.gz)" \
    > "$T/mmcv_build.log" 2>&1 || { tail -30 "$T/mmcv_build.log" >&2; echo "gpu_check: mmcv build failed" >&2; exit 2; }
fi
$PY "${PIPI[@]}" --target "$T/site" "$T"/mmcv/mmcv-*.whl
export PYTHONPATH="$T/site:$T/src"
cd "$T/src"
log "3/4 $($PY -c "
import mmcv, mmdet, mmengine, mmseg, torch, mmpdepth, os
from mmcv.ops import get_compiling_cuda_version
assert mmcv.__file__.startswith('$T/site'), mmcv.__file__
print('installed: mmcv', mmcv.__version__, '(ops: CUDA', get_compiling_cuda_version() + ')',
      'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__, 'mmengine', mmengine.__version__,
      '| torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())
") ($(( $(date +%s) - t0 )) s)"
log "4/4 benchmarks/gpu_check.py"
set +e
PYTHONUNBUFFERED=1 $PY benchmarks/gpu_check.py --out "$OUTDIR/gpu_check.json" "${EXTRA[@]}" 2>&1 \
  | tee "$OUTDIR/gpu_check.log"
rc=${PIPESTATUS[0]}
set -e
log "done in $(( $(date +%s) - t0 )) s, status $rc"
exit "$rc"
