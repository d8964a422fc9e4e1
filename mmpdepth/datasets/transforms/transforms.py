"""Depth-aware geometric transforms that keep image, panoptic maps and depth aligned.

Label maps (``seg_fields``) and depth (``depth_fields``) are resampled with pixel-centre
nearest neighbour (``cv2.INTER_NEAREST_EXACT``), so they stay on the same pixel grid as the
bilinearly resized image and no label or depth value is invented by interpolation.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmpdepth.registry import TRANSFORMS

#: pad values of the label maps: semantic -> ignore, instance -> none
SEG_PAD_VALUES = {'gt_seg_map': 255, 'gt_instance_map': 0}


def _nearest_resize(arr: np.ndarray, size_wh: Tuple[int, int]) -> np.ndarray:
    if arr.dtype == np.int32 or arr.dtype == np.int64:
        # cv2 resizes int32 with nearest, but not int64; ids are small and exact in int32
        return cv2.resize(arr.astype(np.int32), size_wh,
                          interpolation=cv2.INTER_NEAREST_EXACT).astype(arr.dtype)
    return cv2.resize(arr, size_wh, interpolation=cv2.INTER_NEAREST_EXACT)


def _update_intrinsics(results: dict, sx: float = 1.0, sy: float = 1.0, dx: float = 0.0,
                       dy: float = 0.0, flip_width: Optional[int] = None) -> None:
    cam = results.get('cam_intrinsic')
    if not cam or cam.get('cx') is None:
        return
    cam = dict(cam)
    cam['fx'] *= sx
    cam['fy'] *= sy
    cam['cx'] = cam['cx'] * sx - dx
    cam['cy'] = cam['cy'] * sy - dy
    if flip_width is not None:
        cam['cx'] = flip_width - cam['cx']
    results['cam_intrinsic'] = cam


@TRANSFORMS.register_module()
class DPSResize(BaseTransform):
    """Resize image, label maps and depth; optionally scale depth values with the zoom.

    Required Keys: img; optional gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Modified Keys: img, img_shape, gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Added Keys: scale, scale_factor (w_scale, h_scale), keep_ratio, depth_scale

    Args:
        scale (tuple[int, int], optional): target (w, h). With ``keep_ratio`` the image is
            rescaled to fit inside it (mmcv ``imrescale`` rule). ``None``: use the image's own
            size (only ``ratio_range`` applies).
        ratio_range (tuple[float, float], optional): random factor in this range multiplying
            the target scale (the paper's "resized by [0.8, 1.2]").
        short_edge_choices (Sequence[int], optional): instead of ``scale``, resize the short edge
            to a size drawn from this list, the long edge capped at ``max_size`` (Detectron2's
            ``ResizeShortestEdge(sample_style='choice')`` of the official stage-1/2 configs).
        max_size (int): long-edge cap with ``short_edge_choices``. Defaults to 4096.
        keep_ratio (bool): keep the aspect ratio. Defaults to True.
        scale_depth (bool): divide depth values by the zoom factor, as the paper's "depth
            annotations are scaled accordingly" and the official mapper do
            (``depth *= (w / new_w + h / new_h) / 2``). Defaults to False (values kept).
        interpolation (str): image interpolation. Defaults to 'bilinear'.
    """

    def __init__(self,
                 scale: Optional[Tuple[int, int]] = None,
                 ratio_range: Optional[Tuple[float, float]] = None,
                 keep_ratio: bool = True,
                 scale_depth: bool = False,
                 interpolation: str = 'bilinear',
                 short_edge_choices: Optional[Sequence[int]] = None,
                 max_size: int = 4096) -> None:
        if scale is None and ratio_range is None and not short_edge_choices:
            raise ValueError('DPSResize needs scale, ratio_range or short_edge_choices')
        self.short_edge_choices = tuple(short_edge_choices) if short_edge_choices else None
        self.max_size = max_size
        self.scale = tuple(scale) if scale is not None else None
        self.ratio_range = ratio_range
        self.keep_ratio = keep_ratio
        self.scale_depth = scale_depth
        self.interpolation = interpolation

    @cache_randomness
    def _random_ratio(self) -> float:
        if self.ratio_range is None:
            return 1.0
        lo, hi = self.ratio_range
        return float(np.random.uniform(lo, hi))

    @cache_randomness
    def _random_short_edge(self) -> int:
        return int(np.random.choice(self.short_edge_choices))

    def _target_size(self, h: int, w: int) -> Tuple[int, int]:
        if self.short_edge_choices:
            short = self._random_short_edge()
            f = short / min(h, w)
            if max(h, w) * f > self.max_size:
                f = self.max_size / max(h, w)
            return int(w * f + 0.5), int(h * f + 0.5)
        r = self._random_ratio()
        if self.scale is None:
            return int(w * r + 0.5), int(h * r + 0.5)
        sw, sh = self.scale[0] * r, self.scale[1] * r
        if self.keep_ratio:
            f = min(max(sw, sh) / max(h, w), min(sw, sh) / min(h, w))
            return int(w * f + 0.5), int(h * f + 0.5)
        return int(sw + 0.5), int(sh + 0.5)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        new_w, new_h = self._target_size(h, w)
        results['img'] = mmcv.imresize(results['img'], (new_w, new_h),
                                       interpolation=self.interpolation)
        for key in results.get('seg_fields', []):
            results[key] = _nearest_resize(results[key], (new_w, new_h))
        depth_factor = (w / new_w + h / new_h) / 2.0 if self.scale_depth else 1.0
        for key in results.get('depth_fields', []):
            d = _nearest_resize(results[key], (new_w, new_h))
            results[key] = (d * depth_factor).astype(np.float32) if self.scale_depth else d
        sx, sy = new_w / w, new_h / h
        prev = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (prev[0] * sx, prev[1] * sy)
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['keep_ratio'] = self.keep_ratio
        results['depth_scale'] = results.get('depth_scale', 1.0) * depth_factor
        _update_intrinsics(results, sx, sy)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio}, scale_depth={self.scale_depth})')


@TRANSFORMS.register_module()
class DPSRandomCrop(BaseTransform):
    """Random or centre crop to a fixed size; regions outside the image are padded.

    Padding uses ``img_pad_val`` for the image, void for labels (255 semantic, 0 instance) and
    0 (invalid) for depth, like the official DPS mapper. Instances cut away by the crop simply
    disappear from the instance map.

    Required Keys: img; optional gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Modified Keys: img, img_shape, gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Added Keys: crop_offset (y, x) of the crop in the input image (negative when padded)

    Args:
        crop_size (tuple[int, int]): (h, w) of the output.
        crop_type (str): 'random' or 'center' (the official DPS stage uses a centre crop).
        img_pad_val (float | tuple): image fill value. Defaults to 0.
    """

    def __init__(self, crop_size: Tuple[int, int], crop_type: str = 'random',
                 img_pad_val: Union[float, Sequence[float]] = 0) -> None:
        if crop_type not in ('random', 'center'):
            raise ValueError(f'crop_type must be "random" or "center", got {crop_type!r}')
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.img_pad_val = img_pad_val

    @cache_randomness
    def _offsets(self, h: int, w: int) -> Tuple[int, int]:
        ch, cw = self.crop_size
        out = []
        for size, crop in ((h, ch), (w, cw)):
            slack = size - crop
            if self.crop_type == 'center':
                out.append(int(slack // 2) if slack >= 0 else -int((-slack) // 2))
            else:
                out.append(int(np.random.randint(0, slack + 1)) if slack >= 0
                           else -int(np.random.randint(0, -slack + 1)))
        return out[0], out[1]

    @staticmethod
    def _crop(arr: np.ndarray, y0: int, x0: int, ch: int, cw: int, fill) -> np.ndarray:
        h, w = arr.shape[:2]
        out = np.empty((ch, cw) + arr.shape[2:], arr.dtype)
        out[...] = fill
        sy0, sx0 = max(y0, 0), max(x0, 0)
        sy1, sx1 = min(y0 + ch, h), min(x0 + cw, w)
        if sy1 > sy0 and sx1 > sx0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = arr[sy0:sy1, sx0:sx1]
        return out

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        ch, cw = self.crop_size
        y0, x0 = self._offsets(h, w)
        results['img'] = self._crop(results['img'], y0, x0, ch, cw, self.img_pad_val)
        for key in results.get('seg_fields', []):
            results[key] = self._crop(results[key], y0, x0, ch, cw, SEG_PAD_VALUES.get(key, 255))
        for key in results.get('depth_fields', []):
            results[key] = self._crop(results[key], y0, x0, ch, cw, 0)
        results['img_shape'] = (ch, cw)
        results['crop_offset'] = (y0, x0)
        _update_intrinsics(results, dx=x0, dy=y0)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size}, crop_type={self.crop_type})'


@TRANSFORMS.register_module()
class DPSRandomFlip(BaseTransform):
    """Horizontal flip of image, label maps and depth with probability ``prob``.

    Required Keys: img; optional gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Modified Keys: img, gt_seg_map, gt_instance_map, gt_depth_map, cam_intrinsic

    Added Keys: flip, flip_direction
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        flip = self._do_flip()
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        if flip:
            results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
            for key in results.get('seg_fields', []) + results.get('depth_fields', []):
                results[key] = np.ascontiguousarray(results[key][:, ::-1])
            _update_intrinsics(results, flip_width=results['img'].shape[1])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'
