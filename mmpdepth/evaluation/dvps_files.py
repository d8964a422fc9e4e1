"""Reading and writing the DVPS reference file formats, and indexing prediction folders.

Cityscapes-DVPS
    GT: ``*_gtFine_instanceTrainIds.png`` (16-bit, class*1000 + instance, void 32000) and
    ``*_depth.png`` (16-bit, metres * 256, 0 invalid). Predictions: a 3-channel uint8 PNG
    ``[class, instance, 0]`` and a 16-bit depth PNG (metres * 256), named like the input images,
    matched to GT per sequence (first ``_`` field) by sorted order.
SemKITTI-DVPS
    GT: ``*_gtFine_class.png``, ``*_gtFine_instance.png``, ``*_depth_<focal>.png``.
    Predictions: ``*cat.png``, ``*ins.png`` and one depth PNG per frame, matched by sorted order.

Every reader checks dtype and size and raises ``ValueError`` naming the file.
"""
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

DEPTH_SCALE = 256.0


def read_png(path: str) -> np.ndarray:
    """Read a PNG as stored (16-bit stays 16-bit), with a clear error for missing/broken files."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    try:
        with Image.open(path) as img:
            return np.array(img)
    except Exception as e:  # PIL raises several types for broken files
        raise ValueError(f'{path}: cannot be read as an image ({e})') from e


def read_depth_png(path: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """16-bit depth PNG (metres * 256, 0 invalid) -> float32 metres."""
    arr = read_png(path)
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint32, np.int64):
        raise ValueError(f'{path}: depth must be a single-channel 16-bit PNG (metres * 256); got '
                         f'dtype {arr.dtype}, shape {arr.shape}. An 8-bit file cannot hold '
                         'metric depth.')
    if shape is not None and arr.shape != tuple(shape[:2]):
        raise ValueError(f'{path}: depth size {arr.shape} differs from the image/label size '
                         f'{tuple(shape[:2])}')
    # float32 * 2**-8 is exact for 16-bit values (the same numbers as float64 / 256)
    depth = arr.astype(np.float32)
    depth *= np.float32(1.0 / DEPTH_SCALE)
    return depth


def write_depth_png(path: str, depth_m: np.ndarray) -> None:
    """Metres -> 16-bit PNG (metres * 256, rounded, clipped to [0, 65535])."""
    v = np.clip(np.round(np.asarray(depth_m, np.float64) * DEPTH_SCALE), 0, 65535)
    Image.fromarray(v.astype(np.uint16)).save(path)


def read_cityscapes_dvps_gt(path: str) -> np.ndarray:
    """``*_gtFine_instanceTrainIds.png`` -> int64 ids (class*1000 + instance)."""
    arr = read_png(path)
    if arr.ndim != 2 or arr.dtype == np.uint8 or arr.dtype == bool:
        raise ValueError(f'{path}: expected a single-channel 16-bit id PNG '
                         f'(class*1000+instance, void 32000); got dtype {arr.dtype}, '
                         f'shape {arr.shape}')
    return arr.astype(np.int64)


def read_cityscapes_dvps_pred(path: str, label_divisor: int = 1000) -> np.ndarray:
    """Predicted 3-channel ``[class, instance, 0]`` uint8 PNG -> class*1000 + instance."""
    arr = read_png(path)
    if arr.ndim != 3 or arr.shape[2] < 2 or arr.dtype != np.uint8:
        raise ValueError(f'{path}: expected a 3-channel uint8 PNG [class, instance, 0]; got '
                         f'dtype {arr.dtype}, shape {arr.shape}')
    ids = arr[..., 0].astype(np.int64)
    ids *= label_divisor
    ids += arr[..., 1]
    return ids


def write_cityscapes_dvps_pred(path: str, ids: np.ndarray, label_divisor: int = 1000) -> None:
    """class*divisor + instance -> 3-channel uint8 ``[class, instance, 0]`` PNG.

    Instance ids above 255 cannot be stored in this format: they raise instead of wrapping.
    """
    ids = np.asarray(ids, np.int64)
    cls, inst = ids // label_divisor, ids % label_divisor
    if cls.max(initial=0) > 255 or inst.max(initial=0) > 255:
        raise ValueError(f'{path}: class/instance ids above 255 do not fit the uint8 format')
    out = np.zeros(ids.shape + (3, ), np.uint8)
    out[..., 0], out[..., 1] = cls, inst
    Image.fromarray(out).save(path)


def read_semkitti_gt(class_path: str, instance_path: str, label_divisor: int = 2**20
                     ) -> np.ndarray:
    """SemKITTI-DVPS class + instance PNGs -> int64 ids (class * 2**20 + instance)."""
    cls = read_png(class_path)
    inst = read_png(instance_path)
    if cls.ndim != 2 or inst.ndim != 2:
        raise ValueError(f'{class_path} / {instance_path}: expected single-channel PNGs')
    if cls.shape != inst.shape:
        raise ValueError(f'{instance_path}: size {inst.shape} differs from {class_path} '
                         f'{cls.shape}')
    return cls.astype(np.int64) * label_divisor + inst.astype(np.int64)


def write_semkitti_pred(cat_path: str, ins_path: str, ids: np.ndarray,
                        label_divisor: int = 2**20) -> None:
    """Prediction ids -> ``*cat.png`` (uint8 class) and ``*ins.png`` (uint16 instance)."""
    ids = np.asarray(ids, np.int64)
    cls, inst = ids // label_divisor, ids % label_divisor
    if inst.max(initial=0) > 65535:
        raise ValueError(f'{ins_path}: instance ids above 65535 do not fit a 16-bit PNG')
    Image.fromarray(cls.astype(np.uint8)).save(cat_path)
    Image.fromarray(inst.astype(np.uint16)).save(ins_path)


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


def _group(names: List[str]) -> 'OrderedDict[str, List[str]]':
    groups: 'OrderedDict[str, List[str]]' = OrderedDict()
    for n in sorted(names):
        groups.setdefault(sequence_id(n), []).append(n)
    return groups


def _check_counts(kind: str, gt: Dict[str, List[str]], pred: Dict[str, List[str]],
                  pred_dir: str) -> None:
    missing = [s for s in gt if s not in pred]
    extra = [s for s in pred if s not in gt]
    if missing:
        raise ValueError(f'{pred_dir}: no {kind} for sequence(s) {missing} (first GT file: '
                         f'{gt[missing[0]][0]})')
    if extra:
        raise ValueError(f'{pred_dir}: {kind} file(s) of sequence(s) {extra} have no GT: '
                         f'{pred[extra[0]][:3]}')
    for s in gt:
        if len(gt[s]) != len(pred[s]):
            raise ValueError(f'{pred_dir}: sequence {s} has {len(gt[s])} GT frames but '
                             f'{len(pred[s])} {kind} files ({pred[s][:3]} ...)')


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
    pred_pan = _group([n for n in _list(pan_dir, 'panoptic prediction') if n.endswith('.png')])
    _check_counts('panoptic prediction', gt_pan, pred_pan, pan_dir)
    pred_depth = None
    if depth_dir is not None:
        pred_depth = _group([n for n in _list(depth_dir, 'depth prediction')
                             if n.endswith('.png')])
        _check_counts('depth prediction', gt_pan, pred_depth, depth_dir)
    seqs = []
    for s in gt_pan:
        seqs.append([
            DVPSFrame(gt=osp.join(gt_dir, g), gt_depth=osp.join(gt_dir, d),
                      pred=osp.join(pan_dir, p),
                      pred_depth=None if pred_depth is None else osp.join(depth_dir, pred_depth[s][i]))
            for i, (g, d, p) in enumerate(zip(gt_pan[s], gt_depth[s], pred_pan[s]))
        ])
    return seqs


def index_semkitti_dvps(gt_dir: str, pan_dir: str,
                        depth_dir: Optional[str]) -> List[List[DVPSFrame]]:
    """Pair SemKITTI-DVPS GT and prediction files by sorted order (one list: all frames)."""
    gt_names = _list(gt_dir, 'GT')
    gt_cls = [n for n in gt_names if n.endswith('_gtFine_class.png')]
    if not gt_cls:
        raise ValueError(f'{gt_dir}: no *_gtFine_class.png files')
    gt_depth = [n for n in gt_names if '_depth' in n and n.endswith('.png')]
    frames = []
    pred_names = _list(pan_dir, 'panoptic prediction')
    cats = [n for n in pred_names if n.endswith('cat.png')]
    inss = [n for n in pred_names if n.endswith('ins.png')]
    for kind, lst in (('*cat.png', cats), ('*ins.png', inss), ('GT depth', gt_depth)):
        if len(lst) != len(gt_cls):
            raise ValueError(f'{pan_dir if "png" in kind and kind[0] == "*" else gt_dir}: '
                             f'{len(gt_cls)} GT frames but {len(lst)} {kind} files')
    depths = None
    if depth_dir is not None:
        depths = [n for n in _list(depth_dir, 'depth prediction') if n.endswith('.png')]
        if len(depths) != len(gt_cls):
            raise ValueError(f'{depth_dir}: {len(gt_cls)} GT frames but {len(depths)} depth '
                             'prediction files')
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


def load_frame(frame: DVPSFrame, protocol_name: str, with_depth: bool):
    """Read one frame's (gt_ids, pred_ids, pred_depth, gt_depth) with size checks."""
    if protocol_name == 'cityscapes-dvps':
        gt = read_cityscapes_dvps_gt(frame.gt)
        pred = read_cityscapes_dvps_pred(frame.pred)
    else:
        gt = read_semkitti_gt(frame.gt, frame.gt_instance)
        cat = read_png(frame.pred)
        ins = read_png(frame.pred_instance)
        if cat.shape != ins.shape or cat.ndim != 2:
            raise ValueError(f'{frame.pred_instance}: shape {ins.shape} does not match '
                             f'{frame.pred} {cat.shape}')
        pred = cat.astype(np.int64) * 2**20 + ins.astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f'{frame.pred}: prediction size {pred.shape} differs from GT '
                         f'{frame.gt} {gt.shape}')
    if not with_depth:
        return gt, pred, None, None
    gt_depth = read_depth_png(frame.gt_depth, gt.shape)
    pred_depth = read_depth_png(frame.pred_depth, gt.shape)
    return gt, pred, pred_depth, gt_depth
