"""Offline DPQ / DVPQ_k evaluation of saved predictions in the reference file formats.

    python tools/analysis_tools/eval_dpq.py {cityscapes-dvps,semkitti-dvps} --gt-dir GT \
        --pan-dir PRED --depth-dir DEPTH [--eval-frames K | --dvpq] [--nproc N]
        [--out result.json] [--gt-depth-range MIN MAX] [--skip-absent] [--debug]

``--eval-frames K``: the table is DVPQ_K (a thing matches only with the same id in all K
frames; 1 = DPQ). ``--dvpq``: DPQ plus DVPQ_k for k = 1..4 and their mean DVPQ, the number
video leaderboards report.

Same rules as ViP-DeepLab's eval_dvpq.py, with exact integer/float arithmetic (see docs/en/faq.md).
GT depth below 0.1 m or at the 16-bit ceiling (65535 = 256 m, saturated) is not a measurement:
it counts as invalid, and each such file is reported with its pixel count
(``--gt-depth-range`` sets other bounds). The ``--out`` JSON writes undefined values (NaN) as
``null``.
"""
import argparse
import ctypes
import importlib.util
import json
import math
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
from mmpdepth.formats import DEFAULT_GT_DEPTH_RANGE, MIN_GT_DEPTH  # noqa: E402 (light)
from mmpdepth.formats.depth_range import describe_range  # noqa: E402


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got {value}')
    return value


def out_problem(out: str, overwrite: bool):
    """Why ``--out`` cannot be written (checked before the evaluation starts), or None."""
    if osp.isdir(out):
        return f'--out {out}: exists and is a folder'
    if osp.exists(out) and not overwrite:
        return f'--out {out}: exists (pass --overwrite to replace it)'
    parent = osp.dirname(osp.abspath(out))
    while not osp.exists(parent):  # the nearest existing ancestor must be a writable folder
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        return f'--out {out}: {parent} is a file, not a folder'
    if not os.access(parent, os.W_OK):
        return f'--out {out}: the folder {parent} is not writable'
    return None


def json_ready(summary: dict) -> dict:
    """NaN / Inf -> None (JSON null) so the file is valid JSON; a note says what null means."""
    out = {k: (v if math.isfinite(v) else None) for k, v in summary.items()}
    if any(v is None for v in out.values()):
        out['_null'] = ('not defined: a class absent from both GT and predictions makes the '
                        'class mean undefined (--skip-absent averages over present classes)')
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Evaluate DPQ / DVPQ_k of prediction folders')
    p.add_argument('dataset', choices=['cityscapes-dvps', 'semkitti-dvps'])
    p.add_argument('--gt-dir', required=True, help='GT folder (e.g. video_sequence/val)')
    p.add_argument('--pan-dir', required=True, help='panoptic predictions')
    p.add_argument('--depth-dir', default=None,
                   help='depth predictions (16-bit PNG, metres*256); omit for PQ only')
    p.add_argument('--eval-frames', type=_positive_int, default=1,
                   help='k of DVPQ_k; 1 = DPQ')
    p.add_argument('--dvpq', action='store_true',
                   help='also DVPQ_k for k = 1..4 and their mean DVPQ (the video leaderboard '
                   'number); the PQ / DPQ rows stay per frame')
    p.add_argument('--nproc', type=_positive_int, default=1, help='worker processes')
    p.add_argument('--gt-depth-range', nargs=2, type=float, metavar=('MIN', 'MAX'),
                   default=None, help=f'GT depth (metres) trusted; other GT depth pixels are '
                   f'invalid and reported per file (default: {MIN_GT_DEPTH} m up to, not '
                   'including, the 16-bit ceiling 65535 = 256 m)')
    p.add_argument('--skip-absent', action='store_true',
                   help='average over classes present in GT or prediction only')
    p.add_argument('--classwise', action='store_true', help='print per-class PQ')
    p.add_argument('--out', default=None, help='write the summary JSON here')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    p.add_argument('--debug', action='store_true', help='show the traceback of an error')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    problem = out_problem(args.out, args.overwrite) if args.out else None
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    depth_range = DEFAULT_GT_DEPTH_RANGE
    if args.gt_depth_range is not None:
        lo, hi = args.gt_depth_range
        if not 0 <= lo < hi:
            print(f'error: --gt-depth-range {lo:g} {hi:g}: expected 0 <= MIN < MAX (metres)',
                  file=sys.stderr)
            return 2
        depth_range = (lo, hi)
    if args.dvpq and args.eval_frames != 1:
        print('error: --dvpq evaluates k = 1..4 itself; leave out --eval-frames',
              file=sys.stderr)
        return 2
    try:
        if args.dvpq:
            res = evaluate_dvpq_folders(args.dataset, args.gt_dir, args.pan_dir, args.depth_dir,
                                        nproc=args.nproc, skip_absent=args.skip_absent,
                                        gt_depth_range=depth_range)
        else:
            res = evaluate_dvps_folders(args.dataset, args.gt_dir, args.pan_dir,
                                        args.depth_dir, eval_frames=args.eval_frames,
                                        nproc=args.nproc, skip_absent=args.skip_absent,
                                        gt_depth_range=depth_range)
    except (OSError, ValueError, KeyError) as e:
        if args.debug:
            raise
        print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
        return 2
    excluded = res.get('_depth_excluded', {})
    for path, n in sorted(excluded.items()):
        print(f'warning: {path}: {n} GT depth pixel(s) {describe_range(depth_range)} set '
              'invalid (not measurements; --gt-depth-range sets the bounds)', file=sys.stderr)
    if excluded:
        print(f'warning: GT depth pixels set invalid in {len(excluded)} of '
              f'{res["_num_frames"]} frames ({sum(excluded.values())} pixels)', file=sys.stderr)
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
        summary = json_ready({k: float(res[k]) for k in (*RESULT_KEYS, *video_result_keys(res))
                              if k in res})
        if excluded:
            summary['_gt_depth_excluded'] = dict(sorted(excluded.items()))
        if osp.dirname(args.out):
            os.makedirs(osp.dirname(args.out), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2, allow_nan=False)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    keep_freed_memory()  # process-wide: only for the command, not for callers of main()
    try:
        sys.exit(main())  # main() reports expected errors itself, as one line (status 2)
    except KeyboardInterrupt:
        if '--debug' in sys.argv:
            raise
        print('eval_dpq.py: interrupted (Ctrl-C)', file=sys.stderr)
        sys.exit(130)
