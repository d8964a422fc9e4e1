"""DPQ / PQ / depth metric for mmengine evaluators (a thin wrapper of the functional core)."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmpdepth.formats import (ANNOTATION_FORMATS, DEFAULT_GT_DEPTH_RANGE,
                              exclude_implausible_depth, get_format, read_depth_png,
                              write_depth_png)
from mmpdepth.formats.depth_range import describe_range
from mmpdepth.registry import METRICS

from ..functional import (DPQ_THRESHOLDS, DVPSProtocol, PQStats, depth_sums, get_protocol,
                          summarize_depth, summarize_dpq, summarize_pq, window_stats)
from ..functional.depth_metrics import depth_error_level
from ..functional.window_histograms import frame_histogram, window_stats_from_histograms
from ..result_table import classwise_table, summary_table


@METRICS.register_module()
class DPQMetric(BaseMetric):
    """PQ, DPQ^λ (λ ∈ {0.5, 0.25, 0.1}), DPQ, DVPQ_k and depth errors of DPS predictions.

    ``process`` keeps only per-image statistics (PQ counts per class and threshold, depth sums),
    so collecting them across ranks is cheap; ``compute_metrics`` sums them over the set
    (dataset-level PQ, as the reference scripts) and logs a table.

    GT is read from the files named in each sample's metainfo (``pan_path`` or ``sem_path`` +
    ``inst_path``, and ``depth_path``), at the original resolution, exactly as the reference
    evaluators read it. Predictions (``pred_panoptic_seg`` ids ``class * label_divisor +
    instance``, ``pred_depth_map`` metres) must be at the original size (models predict with
    ``rescale=True``).

    Video (samples with a ``seq_id``, as the DVPS datasets give): DVPQ_k is DPQ on windows of
    k consecutive frames, where a thing matches only if its id is the same in all k frames
    (Cityscapes-DVPS: windows inside a sequence; SemKITTI-DVPS: over the sorted frame list, as
    the reference scripts). ``DVPQ_k`` (``_th`` / ``_st``: things / stuff) for each k of
    ``dvpq_frames`` and their mean ``DVPQ`` (the leaderboard number; mean over k and λ) are
    reported next to DPQ (``DVPQ_1`` equals DPQ). Without depth: ``VPQ_k`` and ``VPQ``. The
    metric sees the frames of a sequence in order on one process: the DVPS configs' test
    loaders use :class:`SequenceSampler`, which gives whole sequences to each rank (windows
    across two ranks' frames are not formed).

    Args:
        protocol (str, optional): 'cityscapes-dvps' or 'semkitti-dvps'; by default taken from
            the dataset metainfo (``dvps_protocol``), else Cityscapes-DVPS.
        pred_label_divisor (int): divisor of the model's ids (``test_cfg.fusion.label_divisor``).
        pred_void_label (int): class id the model writes on void pixels (255).
        thresholds (Sequence[float]): DPQ thresholds.
        with_depth (bool): compute DPQ and depth metrics (False: PQ only).
        skip_absent (bool): class means over classes present in GT or prediction only.
        classwise (bool): also log per-class tables.
        format_only (bool): only write predictions (needs ``outfile_prefix``).
        outfile_prefix (str, optional): write predictions in the reference formats here:
            ``{prefix}/panoptic/`` and ``{prefix}/depth/`` (readable by ``eval_dpq.py``).
            Refused if those folders already hold files, unless ``overwrite_outputs``; two
            inputs whose outputs would get one name (``a.png``, ``a.jpg``) are an error.
        overwrite_outputs (bool): write into ``outfile_prefix`` folders that hold files.
        gt_depth_range (tuple): (min, max) metres of trusted GT depth (max None: the 16-bit
            ceiling); other GT depth pixels count as invalid and are reported per file (see
            :mod:`mmpdepth.formats.depth_range`).
        dvpq_frames (Sequence[int]): window lengths k of DVPQ_k (``()``: none; each k adds
            a histogram over k frames per frame).
    """
    default_prefix: Optional[str] = 'dps'

    def __init__(self,
                 protocol: Optional[str] = None,
                 pred_label_divisor: int = 1000,
                 pred_void_label: int = 255,
                 thresholds: Sequence[float] = DPQ_THRESHOLDS,
                 with_depth: bool = True,
                 skip_absent: bool = False,
                 classwise: bool = False,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 dvpq_frames: Sequence[int] = (1, 2, 3, 4),
                 overwrite_outputs: bool = False,
                 gt_depth_range: Sequence = DEFAULT_GT_DEPTH_RANGE,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not outfile_prefix:
            raise ValueError('format_only=True needs outfile_prefix')
        if outfile_prefix and not overwrite_outputs:
            for sub in ('panoptic', 'depth'):
                d = osp.join(outfile_prefix, sub)
                if osp.isdir(d) and os.listdir(d):
                    raise ValueError(f'outfile_prefix {outfile_prefix}: {d} already holds '
                                     'predictions; give a new prefix or set '
                                     'overwrite_outputs=True (e.g. --cfg-options '
                                     'test_evaluator.overwrite_outputs=True)')
        self.gt_depth_range = tuple(gt_depth_range)
        self._written: Dict[str, str] = {}
        self.protocol_name = protocol
        self.pred_label_divisor = pred_label_divisor
        self.pred_void_label = pred_void_label
        self.thresholds = tuple(thresholds)
        self.with_depth = with_depth
        self.skip_absent = skip_absent
        self.classwise = classwise
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        if any(int(k) < 1 for k in dvpq_frames):
            raise ValueError(f'dvpq_frames must be window lengths >= 1, got {dvpq_frames}')
        self.dvpq_frames = tuple(sorted({int(k) for k in dvpq_frames}))
        self._recent: List[tuple] = []  # the last frames of this process, for windows

    @property
    def protocol(self) -> DVPSProtocol:
        name = self.protocol_name or (self.dataset_meta or {}).get('dvps_protocol') \
            or 'cityscapes-dvps'
        return get_protocol(name)

    def _pred_ids(self, pred: np.ndarray, protocol: DVPSProtocol) -> np.ndarray:
        """Model ids -> the protocol's encoding; void -> the protocol's void category."""
        pred = pred.astype(np.int64)
        cls, inst = pred // self.pred_label_divisor, pred % self.pred_label_divisor
        cls = np.where(cls == self.pred_void_label, protocol.void_category, cls)
        return cls * protocol.label_divisor + inst

    @staticmethod
    def _read_gt(meta: dict, protocol: DVPSProtocol):
        fmt = meta.get('ann_format')
        if fmt not in ANNOTATION_FORMATS:
            raise ValueError(f'DPQMetric cannot read GT of format {fmt!r} '
                             f'({meta.get("img_path")}); samples need ann_format and GT paths')
        fmt = get_format(fmt)
        gt = fmt.read_gt_ids(meta)
        fmt.check_ids(gt, meta.get('pan_path') or meta.get('sem_path') or meta.get('img_path'))
        if (fmt.label_divisor, fmt.void_category) != (protocol.label_divisor,
                                                      protocol.void_category):
            cls, inst = fmt.decode(gt)
            cls = np.where(cls == fmt.void_category, protocol.void_category, cls)
            gt = cls * protocol.label_divisor + inst
        return gt

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        protocol = self.protocol
        for ds in data_samples:
            pred = ds['pred_panoptic_seg']['sem_seg'].cpu().numpy()[0]
            pred_depth = ds['pred_depth_map']['data'].cpu().numpy()[0] \
                if self.with_depth and 'pred_depth_map' in ds else None
            if self.outfile_prefix:
                self._write(ds, pred, pred_depth, protocol)
            if self.format_only:
                continue
            pred_ids = self._pred_ids(pred, protocol)
            gt = self._read_gt(ds, protocol)
            if gt.shape != pred_ids.shape:
                raise ValueError(f'{ds.get("img_path")}: prediction size {pred_ids.shape} '
                                 f'differs from GT {gt.shape} (predict with rescale=True)')
            gt_depth, level = None, None
            excluded_note = None
            lams = (None, )
            if self.with_depth and pred_depth is not None and ds.get('depth_path'):
                gt_depth = read_depth_png(ds['depth_path'], gt.shape)
                gt_depth, excluded = exclude_implausible_depth(gt_depth, 1.0,
                                                               self.gt_depth_range)
                if excluded:
                    excluded_note = (ds['depth_path'], excluded)
                lams = (None, ) + self.thresholds
                level = depth_error_level(pred_depth, gt_depth, sorted(self.thresholds,
                                                                       reverse=True))
            stats = window_stats([gt], [pred_ids], None, None, protocol, lams,
                                 depth_levels=[level] if level is not None else None)
            result = {'stats': {k: v.to_array() for k, v in stats.items()}}
            if gt_depth is not None:
                result['depth'] = depth_sums(pred_depth, gt_depth)
            if excluded_note:
                result['depth_excluded'] = excluded_note
            if ds.get('seq_id') is not None and self.dvpq_frames:
                result['windows'] = self._window_stats(ds['seq_id'], gt, pred_ids, level,
                                                       protocol, lams)
            self.results.append(result)

    def _window_stats(self, seq_id, gt: np.ndarray, pred_ids: np.ndarray,
                      level: Optional[np.ndarray], protocol: DVPSProtocol, lams: tuple) -> dict:
        """Statistics of the windows of k > 1 frames that end at this frame: k -> λ -> array."""
        if protocol.sequence_frames is not None and self._recent \
                and self._recent[-1][0] != seq_id:
            self._recent = []  # Cityscapes-DVPS: windows stay inside a sequence
        # a frame's (GT, prediction, depth level) histogram: a window's is the sum of its
        # frames', so no map is kept and no frames are concatenated
        frames = self._recent + [(seq_id, frame_histogram(gt, pred_ids, level))]
        out = {}
        for k in self.dvpq_frames:
            if k == 1 or len(frames) < k:
                continue
            stats = window_stats_from_histograms([f[1] for f in frames[-k:]], protocol, lams)
            out[k] = {lam: v.to_array() for lam, v in stats.items()}
        keep = max(self.dvpq_frames) - 1
        self._recent = frames[-keep:] if keep > 0 else []
        return out

    def evaluate(self, size: int) -> dict:
        self._recent = []  # the next evaluation starts with new windows
        return super().evaluate(size)

    def _write(self, ds: dict, pred: np.ndarray, pred_depth: Optional[np.ndarray],
               protocol: DVPSProtocol) -> None:
        pan_dir = osp.join(self.outfile_prefix, 'panoptic')
        depth_dir = osp.join(self.outfile_prefix, 'depth')
        os.makedirs(pan_dir, exist_ok=True)
        source = ds.get('img_path') or f'{ds.get("img_id")}.png'
        stem = osp.splitext(osp.basename(source))[0]
        if stem in self._written and self._written[stem] != source:
            raise ValueError(f'{source}: its predictions would be written under the name of '
                             f'{self._written[stem]} ({stem}.png in {self.outfile_prefix}); '
                             'rename one of the two inputs')
        self._written[stem] = source
        ids = self._pred_ids(pred, protocol)
        fmt = get_format(protocol.name)
        fmt.write_pred_ids([osp.join(pan_dir, stem + suffix) for suffix in fmt.pred_suffixes],
                           ids, protocol.label_divisor)
        if pred_depth is not None:
            os.makedirs(depth_dir, exist_ok=True)
            write_depth_png(osp.join(depth_dir, f'{stem}.png'), pred_depth)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'predictions written to {self.outfile_prefix}')
            return dict()
        protocol = self.protocol
        total: Dict = {}
        for r in results:
            for k, arr in r['stats'].items():
                total[k] = total[k] + arr if k in total else arr
        stats = {k: PQStats.from_array(v) for k, v in total.items()}
        out = summarize_dpq(stats, protocol, skip_absent=self.skip_absent)
        if any('windows' in r for r in results):
            out.update(self._summarize_windows(results, stats, protocol))
        excluded = [r['depth_excluded'] for r in results if 'depth_excluded' in r]
        for path, n in excluded:
            logger.warning(f'{path}: {n} GT depth pixel(s) {describe_range(self.gt_depth_range)} '
                           'set invalid (not measurements; gt_depth_range sets the bounds)')
        if excluded:
            logger.warning(f'GT depth pixels set invalid in {len(excluded)} of {len(results)} '
                           f'images ({sum(n for _, n in excluded)} pixels)')
        depth = [r['depth'] for r in results if 'depth' in r]
        if depth:
            out.update(summarize_depth(depth))
        logger.info(f'{protocol.name} results on {len(results)} images:\n' + summary_table(out))
        if self.classwise:
            names = (self.dataset_meta or {}).get('classes')
            for lam, st in stats.items():
                s = summarize_pq(st, protocol.num_classes, protocol.epsilon)
                logger.info('\n' + classwise_table(s.pq, s.sq, s.rq, names,
                                                   'PQ' if lam is None else f'DPQ@{lam:g}'))
        return {k: float(v) for k, v in out.items()}

    def _summarize_windows(self, results: List[dict], frame_stats: dict,
                           protocol: DVPSProtocol) -> Dict[str, float]:
        """``DVPQ_k`` (``_th``, ``_st``) per k and their mean ``DVPQ`` (``VPQ`` without depth)."""
        out: Dict[str, float] = {}
        per_k = {}
        for k in self.dvpq_frames:
            if k == 1:
                stats = frame_stats
            else:
                total: Dict = {}
                for r in results:
                    for lam, arr in r.get('windows', {}).get(k, {}).items():
                        total[lam] = total[lam] + arr if lam in total else arr
                if not total:
                    continue
                stats = {lam: PQStats.from_array(v) for lam, v in total.items()}
            per_k[k] = summarize_dpq(stats, protocol, skip_absent=self.skip_absent,
                                     warn_absent=False)
        with_depth = any(lam is not None for lam in frame_stats)
        src, name = ('DPQ', 'DVPQ') if with_depth else ('PQ', 'VPQ')
        for suffix in ('', '_th', '_st'):
            for k, summ in per_k.items():
                out[f'{name}{suffix}_{k}'] = summ[f'{src}{suffix}']
        missing = [k for k in self.dvpq_frames if k not in per_k]
        if missing:
            MMLogger.get_current_instance().warning(
                f'no window of {missing} frames (sequences too short): no mean {name}')
        else:
            for suffix in ('', '_th', '_st'):
                out[f'{name}{suffix}'] = float(np.mean([out[f'{name}{suffix}_{k}']
                                                        for k in per_k]))
        return out
