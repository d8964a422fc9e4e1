#!/usr/bin/env bash
# Create .venv (if missing) and install the whole stack, idempotently:
#   torch -> build tools -> mmcv (built from source, cached) -> OpenMMLab + runtime -> mmpdepth (editable).
# A second run with everything installed only checks and returns in seconds.
# Env: MMPDEPTH_CACHE (default ~/.cache/mmpdepth) keeps the built mmcv wheel, keyed by torch version;
#      MMPDEPTH_MMCV_CUDA=1 builds mmcv's CUDA ops too (default: CPU ops, GPUs hidden; see build_mmcv.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
CACHE=${MMPDEPTH_CACHE:-$HOME/.cache/mmpdepth}
STAMP=$VENV/.mmpdepth-installed
REQ_HASH=$( (cat requirements/*.txt setup.py tools/env/setup_env.sh tools/env/build_mmcv.sh; echo "mmcv-cuda=${MMPDEPTH_MMCV_CUDA:-0}") 2>/dev/null | sha1sum | cut -c1-16)

log() { echo "[setup_env $(date +%H:%M:%S)] $*"; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQ_HASH" ]; then
  log "environment up to date ($VENV)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
CONSTRAINTS="-c requirements/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log "1/5 torch + torchvision (requirements/torch.txt)"
$PIP install -q $CONSTRAINTS -r requirements/torch.txt

log "2/5 build tools (requirements/build.txt)"
$PIP install -q $CONSTRAINTS -r requirements/build.txt

TORCH_VER=$($VENV/bin/python -c "import torch; print(torch.__version__.split('+')[0])")
MMCV_VER=$(sed -n 's/^mmcv==\(.*\)$/\1/p' requirements/mminstall.txt)
MMCV_VARIANT=$([ "${MMPDEPTH_MMCV_CUDA:-0}" = "1" ] && echo cuda || echo cpu)
WHEEL_DIR=$CACHE/mmcv-$MMCV_VER-$MMCV_VARIANT-torch$TORCH_VER-py$($VENV/bin/python -c "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')")-$(uname -m)
# installed mmcv of the right version with ops of the asked variant ('not available' = CPU ops)?
if $VENV/bin/python -c "
import sys, mmcv
from mmcv.ops import get_compiling_cuda_version
cuda = get_compiling_cuda_version() != 'not available'
sys.exit(0 if mmcv.__version__ == '$MMCV_VER' and cuda == ('$MMCV_VARIANT' == 'cuda') else 1)" 2>/dev/null; then
  log "3/5 mmcv $MMCV_VER with $MMCV_VARIANT ops already installed"
else
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "3/5 building mmcv $MMCV_VER ($MMCV_VARIANT ops) from source against torch $TORCH_VER; ~9 min on 2 cores for CPU ops"
    t0=$(date +%s)
    PIP="$PIP" bash tools/env/build_mmcv.sh "$WHEEL_DIR"
    log "mmcv build took $(( $(date +%s) - t0 )) s; wheel cached in $WHEEL_DIR"
  else
    log "3/5 installing cached mmcv wheel from $WHEEL_DIR"
  fi
  $PIP install -q --no-deps "$WHEEL_DIR"/mmcv-*.whl
  # mmcv's own runtime deps (no build needed)
  $PIP install -q $CONSTRAINTS addict yapf opencv-python packaging pyyaml
fi

log "4/5 OpenMMLab + runtime + tests + deploy (requirements/{mminstall,runtime,tests,deploy}.txt)"
$PIP install -q $CONSTRAINTS -r requirements/mminstall.txt -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt

log "5/5 mmpdepth (editable)"
$PIP install -q --no-deps --no-build-isolation -e .

$VENV/bin/python -c "import mmpdepth, mmdet, mmseg, timm; from mmcv.ops import ModulatedDeformConv2d; print('stack OK: torch', __import__('torch').__version__, 'mmcv', __import__('mmcv').__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__)"
echo "$REQ_HASH" > "$STAMP"
log "done"
