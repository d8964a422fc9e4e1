"""Reading and writing the DVPS reference file formats, and indexing prediction folders.

Cityscapes-DVPS
    GT: ``*_gtFine_instanceTrainIds.png`` (16-bit, class*1000 + instance, void 32000) and
    ``*_depth.png`` (16-bit, metres * 256, 0 invalid). Predictions: a 3-channel uint8 PNG
    ``[class, instance, 0]`` and a 16-bit depth PNG (metres * 256), named like the input images
    (``<frame>_leftImg8bit.png``) or ``<frame>.png``, paired with the GT by frame key.
SemKITTI-DVPS
    GT: ``*_gtFine_class.png``, ``*_gtFine_instance.png``, ``*_depth_<focal>.png``.
    Predictions: ``<frame>_cat.png``, ``<frame>_ins.png`` and a depth PNG ``<frame>[_depth].png``
    per frame, paired with the GT by frame key.

Frame key: the file name without its known suffix (``_gtFine_instanceTrainIds.png``,
``_leftImg8bit.png``, ``_depth_<focal>.png``, ...). Files are paired by key, never by sorted
order: a renamed, missing or extra file is an error naming it.

The file readers and writers of each format live in :mod:`mmpdepth.formats`; every reader
checks dtype and size and raises ``ValueError`` naming the file.
"""
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from mmpdepth.formats import (DEFAULT_GT_DEPTH_RANGE, DEPTH_SCALE, exclude_implausible_depth,
                              get_format, read_depth_png)

def sequence_id(name: str) -> str:
    """DVPS sequence id: the first ``_`` field of a file name."""
    return osp.basename(name).split('_')[0]


def _list(dir_path: str, what: str) -> List[str]:
    if not osp.isdir(dir_path):
        raise FileNotFoundError(f'{dir_path}: {what} directory not found')
    return sorted(f for f in os.listdir(dir_path) if not f.startswith('.'))


@dataclass
class DVPSFrame:
    """One evaluated frame: the files that make it."""
    gt: str
    gt_depth: str
    pred: str
    pred_depth: Optional[str]
    gt_instance: Optional[str] = None   # SemKITTI only
    pred_instance: Optional[str] = None  # SemKITTI only

    @property
    def gt_info(self) -> Dict[str, str]:
        """The GT paths under the sample keys of the annotation formats."""
        if self.gt_instance is None:
            return dict(pan_path=self.gt)
        return dict(sem_path=self.gt, inst_path=self.gt_instance)

    @property
    def pred_files(self) -> List[str]:
        return [self.pred] if self.pred_instance is None else [self.pred, self.pred_instance]


def _group(names: List[str]) -> 'OrderedDict[str, List[str]]':
    groups: 'OrderedDict[str, List[str]]' = OrderedDict()
    for n in sorted(names):
        groups.setdefault(sequence_id(n), []).append(n)
    return groups


#: suffixes stripped to get a frame key, longest first
FRAME_SUFFIXES = ('_gtFine_instanceTrainIds.png', '_gtFine_instance.png', '_gtFine_class.png',
                  '_leftImg8bit.png', '_cat.png', '_ins.png', 'cat.png', 'ins.png', '.png')


def frame_key(name: str) -> str:
    """``name`` without its known suffix (also ``_depth.png`` / ``_depth_<focal>.png``)."""
    base = osp.basename(name)
    stem = base[:-len('.png')] if base.endswith('.png') else base
    if '_depth' in stem:
        head, _, tail = stem.rpartition('_depth')
        if tail == '' or (tail.startswith('_') and tail[1:].replace('.', '', 1).isdigit()):
            return head
    for suf in FRAME_SUFFIXES:
        if base.endswith(suf):
            return base[:-len(suf)]
    return stem


def pair_by_key(keys: List[str], names: List[str], folder: str, kind: str) -> List[str]:
    """The file of ``names`` for each frame key in ``keys`` (same order); every key needs
    exactly one file and every file a key, else ``ValueError`` naming the file."""
    by_key: Dict[str, str] = {}
    for n in names:
        k = frame_key(n)
        if k in by_key:
            raise ValueError(f'{osp.join(folder, n)}: a second {kind} file for frame {k} '
                             f'(also {by_key[k]})')
        by_key[k] = n
    wanted = set(keys)
    extra = sorted(n for k, n in by_key.items() if k not in wanted)
    missing = [k for k in keys if k not in by_key]
    if missing:
        hint = f'; unpaired {kind} file: {osp.join(folder, extra[0])}' if extra else ''
        raise ValueError(f'{folder}: no {kind} file for frame {missing[0]}'
                         f'{f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""}'
                         f'{hint}')
    if extra:
        raise ValueError(f'{osp.join(folder, extra[0])}: {kind} file of no GT frame'
                         f'{f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""}')
    return [by_key[k] for k in keys]


def index_cityscapes_dvps(gt_dir: str, pan_dir: str,
                          depth_dir: Optional[str]) -> List[List[DVPSFrame]]:
    """Pair GT and prediction files per sequence; returns a list of sequences of frames."""
    gt_names = _list(gt_dir, 'GT')
    gt_pan = _group([n for n in gt_names if n.endswith('_gtFine_instanceTrainIds.png')])
    gt_depth = _group([n for n in gt_names if n.endswith('_depth.png')])
    if not gt_pan:
        raise ValueError(f'{gt_dir}: no *_gtFine_instanceTrainIds.png files')
    for s, names in gt_pan.items():
        stems = [n[:-len('_gtFine_instanceTrainIds.png')] for n in names]
        dstems = [n[:-len('_depth.png')] for n in gt_depth.get(s, [])]
        if stems != dstems:
            lost = sorted(set(stems) ^ set(dstems))
            raise ValueError(f'{gt_dir}: GT panoptic and depth files do not pair in sequence {s}:'
                             f' {lost[:3]}')
    gt_keys = [frame_key(n) for s in gt_pan for n in gt_pan[s]]
    pred_pan = pair_by_key(gt_keys, [n for n in _list(pan_dir, 'panoptic prediction')
                                     if n.endswith('.png')], pan_dir, 'panoptic prediction')
    pred_depth = None
    if depth_dir is not None:
        pred_depth = pair_by_key(gt_keys, [n for n in _list(depth_dir, 'depth prediction')
                                           if n.endswith('.png')], depth_dir, 'depth prediction')
    seqs, i = [], 0
    for s in gt_pan:
        frames = []
        for g, d in zip(gt_pan[s], gt_depth[s]):
            frames.append(DVPSFrame(
                gt=osp.join(gt_dir, g), gt_depth=osp.join(gt_dir, d),
                pred=osp.join(pan_dir, pred_pan[i]),
                pred_depth=None if pred_depth is None else osp.join(depth_dir, pred_depth[i])))
            i += 1
        seqs.append(frames)
    return seqs


def index_semkitti_dvps(gt_dir: str, pan_dir: str,
                        depth_dir: Optional[str]) -> List[List[DVPSFrame]]:
    """Pair SemKITTI-DVPS GT and prediction files by frame key (one list: all frames)."""
    gt_names = _list(gt_dir, 'GT')
    gt_cls = [n for n in gt_names if n.endswith('_gtFine_class.png')]
    if not gt_cls:
        raise ValueError(f'{gt_dir}: no *_gtFine_class.png files')
    keys = [frame_key(n) for n in gt_cls]
    gt_depth = pair_by_key(keys, [n for n in gt_names if '_depth' in n and n.endswith('.png')],
                           gt_dir, 'GT depth')
    pred_names = _list(pan_dir, 'panoptic prediction')
    cats = pair_by_key(keys, [n for n in pred_names if n.endswith('cat.png')], pan_dir,
                       '*cat.png prediction')
    inss = pair_by_key(keys, [n for n in pred_names if n.endswith('ins.png')], pan_dir,
                       '*ins.png prediction')
    depths = None
    if depth_dir is not None:
        depths = pair_by_key(keys, [n for n in _list(depth_dir, 'depth prediction')
                                    if n.endswith('.png')], depth_dir, 'depth prediction')
    frames = []
    for i, c in enumerate(gt_cls):
        inst = c.replace('_gtFine_class.png', '_gtFine_instance.png')
        if not osp.isfile(osp.join(gt_dir, inst)):
            raise FileNotFoundError(f'{osp.join(gt_dir, inst)}: file not found (pairs {c})')
        frames.append(DVPSFrame(
            gt=osp.join(gt_dir, c), gt_instance=osp.join(gt_dir, inst),
            gt_depth=osp.join(gt_dir, gt_depth[i]), pred=osp.join(pan_dir, cats[i]),
            pred_instance=osp.join(pan_dir, inss[i]),
            pred_depth=None if depths is None else osp.join(depth_dir, depths[i])))
    return [frames]


def load_frame(frame: DVPSFrame, protocol_name: str, with_depth: bool,
               notes: Optional[list] = None,
               gt_depth_range: Tuple[float, Optional[float]] = DEFAULT_GT_DEPTH_RANGE):
    """Read one frame's (gt_ids, pred_ids, pred_depth, gt_depth) with size and class checks;
    the depth maps as stored (metres * 256, see :func:`read_depth_png`). GT depth outside
    ``gt_depth_range`` (see :mod:`mmpdepth.formats.depth_range`) is set invalid; each such
    file is appended to ``notes`` as ``(path, count)``."""
    fmt = get_format(protocol_name)
    gt = fmt.read_gt_ids(frame.gt_info)
    fmt.check_ids(gt, frame.gt, 'GT')
    pred = fmt.read_pred_ids(frame.pred_files)
    fmt.check_ids(pred, frame.pred, 'predicted')
    if pred.shape != gt.shape:
        raise ValueError(f'{frame.pred}: prediction size {pred.shape} differs from GT '
                         f'{frame.gt} {gt.shape}')
    if not with_depth:
        return gt, pred, None, None
    gt_depth = read_depth_png(frame.gt_depth, gt.shape, as_stored=True)
    gt_depth, excluded = exclude_implausible_depth(gt_depth, 1.0 / DEPTH_SCALE, gt_depth_range)
    if excluded and notes is not None:
        notes.append((frame.gt_depth, excluded))
    pred_depth = read_depth_png(frame.pred_depth, gt.shape, as_stored=True)
    return gt, pred, pred_depth, gt_depth
