"""Offline DPQ / DVPQ_k evaluation of saved predictions in the reference file formats.

    python tools/analysis_tools/eval_dpq.py {cityscapes-dvps,semkitti-dvps} --gt-dir GT \
        --pan-dir PRED --depth-dir DEPTH [--eval-frames K] [--nproc N] [--out result.json]

Same rules as ViP-DeepLab's eval_dvpq.py, with exact integer/float arithmetic (see README FAQ).
"""
import argparse
import json
import os.path as osp
import sys

from mmpdepth.evaluation.dvps_folder_evaluation import RESULT_KEYS, evaluate_dvps_folders
from mmpdepth.evaluation.functional import get_protocol, summarize_pq
from mmpdepth.evaluation.result_table import classwise_table, summary_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Evaluate DPQ / DVPQ_k of prediction folders')
    p.add_argument('dataset', choices=['cityscapes-dvps', 'semkitti-dvps'])
    p.add_argument('--gt-dir', required=True, help='GT folder (e.g. video_sequence/val)')
    p.add_argument('--pan-dir', required=True, help='panoptic predictions')
    p.add_argument('--depth-dir', default=None,
                   help='depth predictions (16-bit PNG, metres*256); omit for PQ only')
    p.add_argument('--eval-frames', type=int, default=1, help='k of DVPQ_k; 1 = DPQ')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    p.add_argument('--skip-absent', action='store_true',
                   help='average over classes present in GT or prediction only')
    p.add_argument('--classwise', action='store_true', help='print per-class PQ')
    p.add_argument('--out', default=None, help='write the summary JSON here')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out and (osp.isdir(args.out) or (osp.exists(args.out) and not args.overwrite)):
        print(f'error: --out {args.out}: exists' + (' and is a folder' if osp.isdir(args.out)
                                                     else ' (pass --overwrite to replace it)'),
              file=sys.stderr)
        return 2
    try:
        res = evaluate_dvps_folders(args.dataset, args.gt_dir, args.pan_dir, args.depth_dir,
                                    eval_frames=args.eval_frames, nproc=args.nproc,
                                    skip_absent=args.skip_absent)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'{args.dataset}: {res["_num_frames"]} frames, {res["_num_windows"]} windows of '
          f'{args.eval_frames} frame(s)')
    print(summary_table(res))
    if args.classwise:
        protocol = get_protocol(args.dataset)
        for lam, st in res['_stats'].items():
            s = summarize_pq(st, protocol.num_classes, protocol.epsilon)
            print(classwise_table(s.pq, s.sq, s.rq, title='PQ' if lam is None else f'DPQ@{lam:g}'))
    if args.out:
        summary = {k: float(res[k]) for k in RESULT_KEYS if k in res}
        if osp.dirname(args.out):
            import os
            os.makedirs(osp.dirname(args.out), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
