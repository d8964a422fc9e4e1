"""Compare one mmpdepth training step with the official code's, stage by stage.

    python tools/analysis_tools/official_training_parity.py GOLDEN_DIR [--files NAME ...]
        [--data-root DIR] [--key-tables DIR] [--threads 2] [--out TABLE.txt [--force]]

GOLDEN_DIR holds the official code's outputs of one training step (``dps_train*.npz``,
``ps_train*.npz``, made with deterministic weights) and, in ``datasets/``, the sample files it
read. For every file the official model's weights are regenerated (``--key-tables``: the
``d2_keys_{dps,ps}.json`` weight tables, default ``tests/data/golden``), converted with the D2
converter and loaded into the official config's model in training mode; the samples go through
mmpdepth's own dataset, pipeline (augmentation off) and data preprocessor; one forward, the
per-term gradients of the head tensors listed in the file and one backward are compared with the
official arrays: pipeline, targets per level, position picks, losses, gradients.

Prints one table (stage, check, max abs / rel error, tolerance, pass), then a summary (per file
and stage: checks passed, the check closest to its tolerance); the exit status is 1 when a check
is past its tolerance. Tolerances: docs/en/training_parity.md. A DPS step at 512x1024
takes about 2 CPU minutes.
"""
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None) -> int:
    from mmpdepth.utils.cli import ToolArgumentParser, positive_int
    p = ToolArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('golden_dir', metavar='GOLDEN_DIR', help='folder of golden training files')
    p.add_argument('--files', nargs='+', default=None, metavar='NAME',
                   help='only these files (e.g. dps_trainA ps_trainAC); default: all')
    p.add_argument('--data-root', default=None,
                   help='folder of the sample files (default: GOLDEN_DIR/datasets)')
    p.add_argument('--key-tables', default=osp.join(ROOT, 'tests', 'data', 'golden'),
                   help='folder with d2_keys_dps.json / d2_keys_ps.json (weight tables)')
    p.add_argument('--threads', type=positive_int, default=2,
                   help='torch threads of the comparison (the golden files: 2)')
    p.add_argument('--out', default=None,
                   help='also write the table to this file (rewritten after every file)')
    p.add_argument('--force', action='store_true', help='overwrite an existing --out file')
    args = p.parse_args(argv)
    if args.out and osp.exists(args.out) and not args.force:
        print(f'error: {args.out} exists; pass --force to overwrite it', file=sys.stderr)
        return 2

    import mmpdepth  # noqa: F401 (registers the components)
    from mmpdepth.testing import (GoldenError, TrainingParity, build_training_model,
                                  format_summary, format_table, golden_files, load_golden)
    paths = golden_files(args.golden_dir)
    if args.files:
        by_name = {osp.basename(q)[:-4]: q for q in paths}
        unknown = [f for f in args.files if f not in by_name]
        if unknown:
            raise GoldenError(f'{args.golden_dir}: no golden file {unknown[0]}.npz (there: '
                              f'{", ".join(sorted(by_name))})')
        paths = [by_name[f] for f in args.files]
    goldens = [load_golden(q) for q in paths]  # every file checked before the long runs
    data_root = args.data_root or osp.join(args.golden_dir, 'datasets')
    if not osp.isdir(data_root):
        raise GoldenError(f'{data_root}: sample folder not found (--data-root)')
    models, rows = {}, []
    for g in goldens:
        kind, name = str(g['_kind']), str(g['_name'])
        table = osp.join(args.key_tables, f'd2_keys_{kind}.json')
        if kind not in models:
            models[kind] = build_training_model(kind, table)
        t0 = time.perf_counter()
        parity = TrainingParity(g, data_root, table, *models[kind])
        parity.run(args.threads)
        checks = parity.compare()
        failed = sum(not c.passed for c in checks)
        sec = parity.rec['seconds']
        print(f'{name}: {len(checks) - failed} of {len(checks)} checks pass '
              f'({time.perf_counter() - t0:.0f} s: forward {sec["forward"]:.0f} s, per-term '
              f'gradients {sec["per_term"]:.0f} s, backward {sec["backward"]:.0f} s)',
              file=sys.stderr)
        rows += [(name, c) for c in checks]
        if args.out:  # the table so far, after every file (a long run can be read early)
            with open(args.out, 'w') as f:
                f.write(format_table(rows) + '\n')
    table = format_table(rows)
    print(table)
    print('\nsummary (per file and stage):\n' + format_summary(rows))
    failed = [f'{n}: {c.stage} {c.name}' for n, c in rows if not c.passed]
    if failed:
        print(f'{len(failed)} checks past their tolerance, first: {failed[0]}', file=sys.stderr)
        return 1
    print(f'all {len(rows)} checks within their tolerances', file=sys.stderr)
    return 0


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
