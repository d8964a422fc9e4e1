"""Offline DPQ / DVPQ_k evaluation of saved predictions in the reference file formats.

    python tools/analysis_tools/eval_dpq.py {cityscapes-dvps,semkitti-dvps} --gt-dir GT \
        --pan-dir PRED --depth-dir DEPTH [--eval-frames K | --dvpq] [--nproc N]
        [--out result.json]

``--eval-frames K``: the table is DVPQ_K (a thing matches only with the same id in all K
frames; 1 = DPQ). ``--dvpq``: DPQ plus DVPQ_k for k = 1..4 and their mean DVPQ, the number
video leaderboards report.

Same rules as ViP-DeepLab's eval_dvpq.py, with exact integer/float arithmetic (see docs/en/faq.md).
"""
import argparse
import ctypes
import importlib.util
import json
import os
import os.path as osp
import sys
import types

if __name__ == '__main__':
    # one BLAS thread per process: the depth metrics' dot products are memory-bound, and
    # threads of several workers would fight over the cores (set before numpy is imported;
    # only when run as the command, not when main() is imported by other code)
    for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(_var, '1')


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed blocks for reuse instead of returning each 16-64 MB
    per-frame array to the OS (and faulting its pages in again for the next frame): sys time
    3.4 -> 0.6 s and wall time -23 % on 60 frames of 1024x2048 here. Process-wide, so only in
    this command-line tool; a no-op where malloc is not glibc's."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: heap, not mmap, below 1 GiB
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD: never trim the heap top
        libc.mallopt(-2, 256 << 20)  # M_TOP_PAD: grow the heap in 256 MiB steps
    except (OSError, AttributeError):
        pass


def import_evaluation_light():
    """Import ``mmpdepth.evaluation``'s numpy-only modules without running the package's
    ``__init__`` (which imports torch, mmcv and mmdet to register the model): the package
    and ``mmpdepth.evaluation`` are entered as bare namespace modules when mmpdepth is not
    imported yet, so the evaluator starts in a fraction of a second."""
    if 'mmpdepth' not in sys.modules:
        spec = importlib.util.find_spec('mmpdepth')
        if spec is None or not spec.submodule_search_locations:
            raise ImportError('mmpdepth is not installed (pip install -e .)')
        root = spec.submodule_search_locations[0]
        for name, path in (('mmpdepth', root), ('mmpdepth.evaluation', osp.join(root,
                                                                             'evaluation'))):
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            sys.modules[name] = mod
    from mmpdepth.evaluation import dvps_folder_evaluation, functional, result_table
    return dvps_folder_evaluation, functional, result_table


_folders, _functional, _tables = import_evaluation_light()
RESULT_KEYS, evaluate_dvps_folders = _folders.RESULT_KEYS, _folders.evaluate_dvps_folders
evaluate_dvpq_folders, video_result_keys = (_folders.evaluate_dvpq_folders,
                                            _folders.video_result_keys)
get_protocol, summarize_pq = _functional.get_protocol, _functional.summarize_pq
classwise_table, summary_table = _tables.classwise_table, _tables.summary_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Evaluate DPQ / DVPQ_k of prediction folders')
    p.add_argument('dataset', choices=['cityscapes-dvps', 'semkitti-dvps'])
    p.add_argument('--gt-dir', required=True, help='GT folder (e.g. video_sequence/val)')
    p.add_argument('--pan-dir', required=True, help='panoptic predictions')
    p.add_argument('--depth-dir', default=None,
                   help='depth predictions (16-bit PNG, metres*256); omit for PQ only')
    p.add_argument('--eval-frames', type=int, default=1, help='k of DVPQ_k; 1 = DPQ')
    p.add_argument('--dvpq', action='store_true',
                   help='also DVPQ_k for k = 1..4 and their mean DVPQ (the video leaderboard '
                   'number); the PQ / DPQ rows stay per frame')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    p.add_argument('--skip-absent', action='store_true',
                   help='average over classes present in GT or prediction only')
    p.add_argument('--classwise', action='store_true', help='print per-class PQ')
    p.add_argument('--out', default=None, help='write the summary JSON here')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    p.add_argument('--debug', action='store_true', help='show the traceback of an error')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out and (osp.isdir(args.out) or (osp.exists(args.out) and not args.overwrite)):
        print(f'error: --out {args.out}: exists' + (' and is a folder' if osp.isdir(args.out)
                                                     else ' (pass --overwrite to replace it)'),
              file=sys.stderr)
        return 2
    if args.dvpq and args.eval_frames != 1:
        print('error: --dvpq evaluates k = 1..4 itself; leave out --eval-frames',
              file=sys.stderr)
        return 2
    try:
        if args.dvpq:
            res = evaluate_dvpq_folders(args.dataset, args.gt_dir, args.pan_dir, args.depth_dir,
                                        nproc=args.nproc, skip_absent=args.skip_absent)
        else:
            res = evaluate_dvps_folders(args.dataset, args.gt_dir, args.pan_dir,
                                        args.depth_dir, eval_frames=args.eval_frames,
                                        nproc=args.nproc, skip_absent=args.skip_absent)
    except (OSError, ValueError, KeyError) as e:
        if args.debug:
            raise
        print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    if args.dvpq:
        print(f'{args.dataset}: {res["_num_frames"]} frames; PQ / DPQ per frame, DVPQ_k on '
              'windows of k frames, DVPQ = mean over k = 1..4')
    else:
        print(f'{args.dataset}: {res["_num_frames"]} frames, {res["_num_windows"]} windows '
              f'of {args.eval_frames} frame(s)')
    print(summary_table(res))
    if args.classwise:
        protocol = get_protocol(args.dataset)
        for lam, st in res['_stats'].items():
            s = summarize_pq(st, protocol.num_classes, protocol.epsilon)
            print(classwise_table(s.pq, s.sq, s.rq, title='PQ' if lam is None else f'DPQ@{lam:g}'))
    if args.out:
        summary = {k: float(res[k]) for k in (*RESULT_KEYS, *video_result_keys(res))
                   if k in res}
        if osp.dirname(args.out):
            os.makedirs(osp.dirname(args.out), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    keep_freed_memory()  # process-wide: only for the command, not for callers of main()
    sys.exit(main())  # main() reports expected errors itself, as one line (status 2)
