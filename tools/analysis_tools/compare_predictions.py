"""How far two prediction files of the same images agree (e.g. fp32 against bf16).

    python tools/test.py CONFIG CKPT --out fp32.pkl
    python tools/test.py CONFIG CKPT --precision bf16 --out bf16.pkl
    python tools/analysis_tools/compare_predictions.py fp32.pkl bf16.pkl [--out result.json]

Reads two ``tools/test.py --out`` pickles, pairs their samples by image path and prints the
share of pixels that keep their segment (each segment of A paired with the segment of B it
overlaps most) and the median / p99 / max of the depth difference in metres over all pixels.
"""
import json
import os.path as osp
import pickle
import sys

import numpy as np

from mmpdepth.utils.cli import ToolArgumentParser, run_tool


def _load(path: str) -> dict:
    """{image path: (panoptic ids (H, W), depth (H, W) or None)} of a test.py --out file."""
    try:
        with open(path, 'rb') as f:
            samples = pickle.load(f)
    except FileNotFoundError:
        raise SystemExit(f'error: {path}: no such file')
    except Exception as e:  # truncated or not a pickle
        raise SystemExit(f'error: {path}: not a tools/test.py --out file ({type(e).__name__}: {e})')
    out = {}
    for s in samples if isinstance(samples, list) else []:
        if not isinstance(s, dict) or 'pred_panoptic_seg' not in s:
            continue
        pan = np.asarray(s['pred_panoptic_seg']['sem_seg'])[0]
        dep = s.get('pred_depth_map')
        out[s.get('img_path', len(out))] = (pan, np.asarray(dep['data'])[0]
                                            if dep is not None else None)
    if not out:
        raise SystemExit(f'error: {path}: holds no panoptic predictions (write it with '
                         'tools/test.py CONFIG CKPT --out FILE.pkl)')
    return out


def main(argv=None) -> int:
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('a', metavar='A.pkl', help='reference predictions (tools/test.py --out)')
    p.add_argument('b', metavar='B.pkl', help='predictions to compare with A')
    p.add_argument('--out', default=None, help='also write the figures to this JSON file')
    args = p.parse_args(argv)
    if args.out and osp.exists(args.out):
        print(f'error: {args.out} exists; choose another --out', file=sys.stderr)
        return 2
    from mmpdepth.evaluation.functional import prediction_agreement
    a, b = _load(args.a), _load(args.b)
    common = [k for k in a if k in b]
    if not common:
        print(f'error: {args.a} and {args.b} share no image', file=sys.stderr)
        return 2
    if len(common) < max(len(a), len(b)):
        print(f'note: comparing the {len(common)} images both files hold '
              f'({len(a)} in A, {len(b)} in B)', file=sys.stderr)
    res = prediction_agreement((a[k][0], b[k][0], a[k][1], b[k][1]) for k in common)
    print(f'images: {res["images"]}\nsame segment: {res["same_segment_pct"]:.3f} % of pixels\n'
          f'depth |A - B|: median {res["depth_median_cm"]:.2f} cm, p99 '
          f'{res["depth_p99_cm"]:.2f} cm, max {res["depth_max_m"]:.3f} m')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    run_tool(main)
