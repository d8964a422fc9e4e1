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


#: first bytes of every PNG file, and of the formats a mislabelled ``.png`` usually holds
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_SIGNATURES = ((b'\xff\xd8\xff', 'JPEG'), (b'GIF8', 'GIF'), (b'BM', 'BMP'), (b'II*\x00', 'TIFF'),
               (b'MM\x00*', 'TIFF'), (b'RIFF', 'WEBP'))


def read_png(path: str, rgb: bool = True) -> np.ndarray:
    """Read a PNG as stored (16-bit stays 16-bit; colour as RGB, or as OpenCV's BGR with
    ``rgb=False``, which saves a copy), with a clear error for missing, truncated or mislabelled
    files.

    Decoded with OpenCV (libpng; ~1.1-1.3x faster than PIL here, identical values), except
    palette PNGs, which PIL decodes to their indices as the reference scripts read them.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    with open(path, 'rb') as f:
        head = f.read(33)  # signature + IHDR chunk
    is_png = head.startswith(PNG_SIGNATURE)
    if path.lower().endswith('.png') and not is_png:
        fmt = next((name for sig, name in _SIGNATURES if head.startswith(sig)), 'non-PNG')
        raise ValueError(f'{path}: named .png but holds a {fmt} file (lossy or re-encoded '
                         'labels would give wrong numbers)')
    if is_png and len(head) == 33 and head[25] != 3:  # IHDR colour type 3 = palette
        try:
            import cv2
        except ImportError:  # pragma: no cover - opencv comes with mmcv
            cv2 = None
        if cv2 is not None:
            arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if arr is None:
                raise ValueError(f'{path}: cannot be read as an image (truncated or not an '
                                 'image)')
            if arr.ndim == 3 and rgb:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3
                                   else cv2.COLOR_BGRA2RGBA)
            return arr
    try:
        with Image.open(path) as img:
            arr = np.array(img)
    except Exception as e:  # PIL raises several types for broken files
        raise ValueError(f'{path}: cannot be read as an image (truncated or not an image: '
                         f'{e})') from e
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and not rgb:
        arr = arr[..., [2, 1, 0, 3][:arr.shape[2]]]
    return arr


def read_depth_png(path: str, shape: Optional[Sequence[int]] = None,
                   as_stored: bool = False) -> np.ndarray:
    """16-bit depth PNG (metres * 256, 0 invalid) -> float32 metres (``as_stored``: the
    16-bit values, metres * :data:`DEPTH_SCALE`, without a conversion pass)."""
    arr = read_png(path)
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint32, np.int64):
        raise ValueError(f'{path}: depth must be a single-channel 16-bit PNG (metres * 256); got '
                         f'dtype {arr.dtype}, shape {arr.shape}. An 8-bit file cannot hold '
                         'metric depth.')
    if shape is not None and arr.shape != tuple(shape[:2]):
        raise ValueError(f'{path}: depth size {arr.shape} differs from the image/label size '
                         f'{tuple(shape[:2])}')
    if as_stored:
        return arr
    # float32 * 2**-8 is exact for 16-bit values (the same numbers as float64 / 256)
    depth = arr.astype(np.float32)
    depth *= np.float32(1.0 / DEPTH_SCALE)
    return depth


def write_depth_png(path: str, depth_m: np.ndarray) -> None:
    """Metres -> 16-bit PNG (metres * 256, rounded, clipped to [0, 65535])."""
    v = np.clip(np.round(np.asarray(depth_m, np.float64) * DEPTH_SCALE), 0, 65535)
    Image.fromarray(v.astype(np.uint16)).save(path)


def read_cityscapes_dvps_gt(path: str) -> np.ndarray:
    """``*_gtFine_instanceTrainIds.png`` -> int32 ids (class*1000 + instance)."""
    arr = read_png(path)
    if arr.ndim != 2 or arr.dtype == np.uint8 or arr.dtype == bool:
        raise ValueError(f'{path}: expected a single-channel 16-bit id PNG '
                         f'(class*1000+instance, void 32000); got dtype {arr.dtype}, '
                         f'shape {arr.shape}')
    return arr.astype(np.int32 if arr.dtype == np.uint16 else np.int64)


def read_cityscapes_dvps_pred(path: str, label_divisor: int = 1000) -> np.ndarray:
    """Predicted 3-channel ``[class, instance, 0]`` uint8 PNG -> class*1000 + instance
    (int32 while ``255 * label_divisor + 255`` fits it, else int64)."""
    arr = read_png(path, rgb=False)  # [0, instance, class]
    if arr.ndim != 3 or arr.shape[2] < 2 or arr.dtype != np.uint8:
        raise ValueError(f'{path}: expected a 3-channel uint8 PNG [class, instance, 0]; got '
                         f'dtype {arr.dtype}, shape {arr.shape}')
    cls = arr[..., 0] if arr.shape[2] == 2 else arr[..., 2]
    ids = cls.astype(np.int32 if 256 * label_divisor < 2**31 else np.int64)
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


def load_frame(frame: DVPSFrame, protocol_name: str, with_depth: bool):
    """Read one frame's (gt_ids, pred_ids, pred_depth, gt_depth) with size checks; the depth
    maps as stored (metres * :data:`DEPTH_SCALE`, see :func:`read_depth_png`)."""
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
    gt_depth = read_depth_png(frame.gt_depth, gt.shape, as_stored=True)
    pred_depth = read_depth_png(frame.pred_depth, gt.shape, as_stored=True)
    return gt, pred, pred_depth, gt_depth
