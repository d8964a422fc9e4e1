#!/usr/bin/env bash
# Create .venv (if missing) and install the whole stack, idempotently:
#   torch -> build tools -> mmcv wheel (built from source, cached) -> mmcv + OpenMMLab + runtime
#   -> mmpdepth (editable). Versions: the ranges of requirements/*.txt, pinned to the tested set
#   by requirements/constraints.txt (pip -c). A second run with everything installed only checks
#   and returns in seconds. The log of the last install is kept in $VENV/setup.log.
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
# everything below also goes to $VENV/setup.log (tests check it has no pip ERROR line)
exec > >(tee "$VENV/setup.log") 2>&1
PIP="$VENV/bin/python -m pip"
CONSTRAINTS="-c requirements/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log "1/5 torch + torchvision (requirements/torch.txt)"
$PIP install -q $CONSTRAINTS -r requirements/torch.txt

log "2/5 build tools (requirements/build.txt)"
$PIP install -q $CONSTRAINTS -r requirements/build.txt

TORCH_VER=$($VENV/bin/python -c "import torch; print(torch.__version__.split('+')[0])")
MMCV_VER=$(sed -n 's/^mmcv==\(.*\)$/\1/p' requirements/constraints.txt)
MMCV_VARIANT=$([ "${MMPDEPTH_MMCV_CUDA:-0}" = "1" ] && echo cuda || echo cpu)
WHEEL_DIR=$CACHE/mmcv-$MMCV_VER-$MMCV_VARIANT-torch$TORCH_VER-py$($VENV/bin/python -c "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')")-$(uname -m)
# installed mmcv of the right version with ops of the asked variant ('not available' = CPU ops)?
MMCV_WHEEL=()
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
  # another build of mmcv (other variant) goes first, so that pip installs ours below
  $PIP uninstall -q -y mmcv 2>/dev/null || true
  MMCV_WHEEL=("$(ls "$WHEEL_DIR"/mmcv-*.whl | head -1)")
fi

# the mmcv wheel in the same pip run as mmengine & co.: pip resolves its dependencies with the
# rest (installed alone with --no-deps, pip's check would report mmengine missing as an ERROR)
log "4/5 mmcv + OpenMMLab + runtime + tests + deploy (requirements/{mminstall,runtime,tests,deploy}.txt)"
$PIP install -q $CONSTRAINTS "${MMCV_WHEEL[@]}" -r requirements/mminstall.txt -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt

log "5/5 mmpdepth (editable)"
$PIP install -q --no-deps --no-build-isolation --use-pep517 -e .

$VENV/bin/python -c "import mmpdepth, mmdet, mmseg; from mmcv.ops import ModulatedDeformConv2d; print('stack OK: torch', __import__('torch').__version__, 'mmcv', __import__('mmcv').__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__)"
echo "$REQ_HASH" > "$STAMP"
log "done"
