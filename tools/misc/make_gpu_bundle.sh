#!/usr/bin/env bash
# Pack what a bare CUDA machine with PyTorch (no OpenMMLab, no network) needs for the GPU check.
#
#   bash tools/misc/make_gpu_bundle.sh OUT [--python-version 3.12] [--overwrite]
#
# OUT/wheels        mmengine, mmdet, mmsegmentation and the pure-Python / small binary packages
#                   they import that such a machine lacks (versions of requirements/constraints.txt,
#                   wheels for --python-version, manylinux x86_64, no dependencies resolved there)
# OUT/build-wheels  setuptools < 82 (mmcv 2.1.0's setup.py needs pkg_resources)
# OUT/sdist         the mmcv 2.1.0 source (checked against PyPI's sha256)
# OUT/mmpdepth-src.tar.gz  this checkout (tracked and unignored files: configs, tools, benchmarks,
#                   tests and their golden parity data tests/data/golden)
# OUT/gpu_check.sh  the script that installs all of it there and runs benchmarks/gpu_check.py
# The bundle must stay under 60 MB (checked). Needs network to PyPI (here only).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=""; PYV=3.12; OVERWRITE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYV=$2; shift 2 ;;
    --overwrite) OVERWRITE=1; shift ;;
    -*) echo "make_gpu_bundle: unknown option $1" >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
[ -n "$OUT" ] || { echo "usage: make_gpu_bundle.sh OUT [--python-version 3.12] [--overwrite]" >&2; exit 2; }
if [ -e "$OUT" ] && [ ! -d "$OUT" ]; then
  echo "make_gpu_bundle: $OUT exists and is not a folder" >&2; exit 2
fi
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
  if [ "$OVERWRITE" != 1 ]; then
    echo "make_gpu_bundle: $OUT is not empty (pass --overwrite to replace the bundle's parts in it)" >&2
    exit 2
  fi
  rm -rf "$OUT/wheels" "$OUT/build-wheels" "$OUT/sdist" "$OUT/mmpdepth-src.tar.gz" \
         "$OUT/gpu_check.sh" "$OUT/SHA256SUMS"
fi
mkdir -p "$OUT/wheels" "$OUT/build-wheels" "$OUT/sdist"
PY=${PYTHON:-python3}
pin() { sed -n "s/^$1==\(.*\)$/\1/p" "$ROOT/requirements/constraints.txt" | head -1; }

# Imported by mmengine / mmdet / mmseg / mmpdepth and not in the CUDA image (its package list is
# in the device README); numpy, scipy, matplotlib, opencv, pillow, timm, pyyaml, rich, tqdm,
# regex, packaging and six are there already.
PKGS="mmengine mmdet mmsegmentation addict yapf platformdirs termcolor terminaltables pycocotools
shapely prettytable wcwidth ftfy importlib_metadata tomli"
specs=()
for p in $PKGS; do
  v=$(pin "$p"); [ -n "$v" ] || { echo "make_gpu_bundle: $p not pinned in requirements/constraints.txt" >&2; exit 2; }
  specs+=("$p==$v")
done
echo "[make_gpu_bundle] wheels for Python $PYV: ${specs[*]}"
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64; do plat+=(--platform "$p"); done
$PY -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  "${plat[@]}" -d "$OUT/wheels" "${specs[@]}"
$PY -m pip download -q --no-deps --only-binary=:all: -d "$OUT/build-wheels" \
  "setuptools==$(sed -n 's/^setuptools==\([0-9.]*\).*/\1/p' "$ROOT/requirements/build.txt")"

MMCV_VER=$(sed -n 's/^mmcv==\(.*\)$/\1/p' "$ROOT/requirements/constraints.txt")
echo "[make_gpu_bundle] mmcv $MMCV_VER source"
$PY - "$MMCV_VER" "$OUT/sdist" "${MMPDEPTH_CACHE:-$HOME/.cache/mmpdepth}" <<'EOF'
import hashlib, json, os, shutil, sys, urllib.request
ver, out, cache = sys.argv[1:]
name = f'mmcv-{ver}.tar.gz'
req = urllib.request.Request('https://pypi.org/simple/mmcv/',  # PEP 691 JSON index
                             headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
with urllib.request.urlopen(req, timeout=60) as r:
    info = [u for u in json.load(r)['files'] if u['filename'] == name][0]
info['digests'] = info['hashes']
cached = os.path.join(cache, name)
def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()
if not (os.path.isfile(cached) and sha(cached) == info['digests']['sha256']):
    os.makedirs(cache, exist_ok=True)
    with urllib.request.urlopen(info['url'], timeout=300) as r, open(cached + '.part', 'wb') as f:
        shutil.copyfileobj(r, f)
    if sha(cached + '.part') != info['digests']['sha256']:
        sys.exit(f'{info["url"]}: sha256 differs from PyPI\'s')
    os.replace(cached + '.part', cached)
shutil.copy(cached, os.path.join(out, name))
EOF

echo "[make_gpu_bundle] mmpdepth source"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - -czf "$OUT/mmpdepth-src.tar.gz")
cp "$ROOT/tools/misc/gpu_check.sh" "$OUT/gpu_check.sh"
(cd "$OUT" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
MB=$(du -sm "$OUT" | cut -f1)
if [ "$MB" -gt 60 ]; then
  echo "make_gpu_bundle: $OUT is $MB MB, over the 60 MB a device call carries" >&2; exit 1
fi
echo "[make_gpu_bundle] $OUT: $MB MB, $(ls "$OUT/wheels" | wc -l) wheels; on the GPU machine: bash $OUT/gpu_check.sh $OUT"
