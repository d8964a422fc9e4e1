#!/usr/bin/env bash
# The paper's training stages in order, each starting from the previous stage's last checkpoint
# (every stage config's load_from names work_dirs/<previous stage>/iter_N.pth):
#
#   tools/dist_train_stages.sh BACKBONE DATASET GPUS [--dry-run] [train.py args ...]
#
#   BACKBONE: r50 | swin-t | swin-s      DATASET: cityscapes | semkitti
#   1. panopticdepth_<bb>_fpn_8xb4-130k_cityscapes-panoptic   (panoptic, 130k iterations x 32)
#   2. panopticdepth_<bb>_fpn_8xb1-10k_cityscapes-panoptic-fsf (full-scale fine-tuning)
#   3. panopticdepth_<bb>_fpn_8xb1-10k_cityscapes-dps          (depth branches added)
#   4. panopticdepth_<bb>_fpn_8xb1-10k_semkitti-dps            (DATASET=semkitti only)
#
# A stage whose last checkpoint (work_dirs/<stage>/iter_<max_iters>.pth) exists is skipped, so
# the script continues an interrupted chain. --dry-run prints the commands only.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
BACKBONE=$1; DATASET=$2; GPUS=$3; shift 3
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
case "$BACKBONE" in r50|swin-t|swin-s) ;; *) echo "error: BACKBONE must be r50, swin-t or swin-s, got '$BACKBONE'" >&2; exit 2;; esac
case "$DATASET" in cityscapes|semkitti) ;; *) echo "error: DATASET must be cityscapes or semkitti, got '$DATASET'" >&2; exit 2;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
STAGES="8xb4-130k_cityscapes-panoptic 8xb1-10k_cityscapes-panoptic-fsf 8xb1-10k_cityscapes-dps"
[ "$DATASET" = semkitti ] && STAGES="$STAGES 8xb1-10k_semkitti-dps"
for s in $STAGES; do
  name=panopticdepth_${BACKBONE}_fpn_$s
  cfg=configs/panopticdepth/$name.py
  [ -f "$ROOT/$cfg" ] || { echo "error: $cfg: stage config not found" >&2; exit 2; }
  iters=$(cd "$ROOT" && "$PYTHON" -c "from mmengine.config import Config; print(Config.fromfile('$cfg').train_cfg.max_iters)")
  last=work_dirs/$name/iter_$iters.pth
  if [ -f "$ROOT/$last" ]; then
    echo "[stages] $name: done ($last exists), skipped"
    continue
  fi
  echo "[stages] $name: tools/dist_train.sh $cfg $GPUS $*"
  if [ $DRY = 0 ]; then
    (cd "$ROOT" && bash tools/dist_train.sh "$cfg" "$GPUS" "$@")
  fi
done
