"""ASCII tables for DPQ results (one place, used by the metric and the offline CLI)."""
import re
from typing import Dict, Optional, Sequence

import numpy as np
from terminaltables import AsciiTable


#: printed under a table with NaN cells: why they are NaN and how to average over present classes
NAN_NOTE = ('nan: a class absent from both GT and predictions has no PQ (0/0, as in the '
            'reference evaluator) and makes the class mean nan; on a small set pass '
            '--skip-absent (skip_absent=True) to average over the classes present')


def _is_nan(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _fmt(v: float) -> str:
    return 'nan' if _is_nan(v) else f'{v:.2f}'


def summary_table(results: Dict[str, float]) -> str:
    """Rows: PQ, DPQ@λ / DPQ and, for videos, DVPQ_k / DVPQ (VPQ without depth); columns:
    all / things / stuff; then depth errors."""
    rows = [['', 'all', 'things', 'stuff']]
    if 'PQ' in results:
        rows.append(['PQ', _fmt(results['PQ']), _fmt(results['PQ_th']), _fmt(results['PQ_st'])])
    video = sorted((k for k in results if re.fullmatch(r'D?VPQ_\d+', k)),
                   key=lambda k: int(k.rsplit('_', 1)[1])) + \
        [k for k in ('VPQ', 'DVPQ') if k in results]
    for key in ('DPQ@0.5', 'DPQ@0.25', 'DPQ@0.1', 'DPQ', *video):
        if key in results:
            th = key.replace('PQ', 'PQ_th', 1)
            st = key.replace('PQ', 'PQ_st', 1)
            rows.append([key, _fmt(results[key]), _fmt(results[th]), _fmt(results[st])])
    table = AsciiTable(rows).table
    if any(cell == 'nan' for row in rows[1:] for cell in row[1:]):
        table += '\n' + NAN_NOTE
    depth_keys = [k for k in ('AbsRel', 'SqRel', 'RMSE', 'RMSE_log', 'SILog', 'd1', 'd2', 'd3')
                  if k in results]
    if depth_keys:
        table += '\n' + AsciiTable([depth_keys, [f'{results[k]:.4f}' for k in depth_keys]]).table
    return table


def classwise_table(pq: np.ndarray, sq: np.ndarray, rq: np.ndarray,
                    class_names: Optional[Sequence[str]] = None, title: str = 'PQ') -> str:
    """Per-class PQ / SQ / RQ in percent."""
    rows = [['class', title, 'SQ', 'RQ']]
    for i in range(len(pq)):
        name = class_names[i] if class_names is not None and i < len(class_names) else str(i)
        rows.append([name, _fmt(100 * pq[i]), _fmt(100 * sq[i]), _fmt(100 * rq[i])])
    return AsciiTable(rows).table
