"""Pure-numpy drawing of panoptic maps and metric depth (used by the visualizer and tools)."""
import hashlib
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from matplotlib import colormaps

INVALID_DEPTH_COLOUR = (255, 0, 255)  # magenta: no depth / invalid


def instance_colour(base: Sequence[int], key: int) -> Tuple[int, int, int]:
    """The class colour perturbed deterministically by an instance key (same key, same colour)."""
    h = hashlib.md5(str(int(key)).encode()).digest()
    jitter = (np.frombuffer(h[:3], np.uint8).astype(np.int32) % 81) - 40
    return tuple(int(v) for v in np.clip(np.asarray(base, np.int32) + jitter, 0, 255))


def colourize_panoptic(ids: np.ndarray, palette: Sequence[Sequence[int]], label_divisor: int,
                       thing_classes: Sequence[int], void_colour=(0, 0, 0)) -> np.ndarray:
    """(H, W) ids ``class * divisor + inst`` -> (H, W, 3) uint8 RGB.

    Stuff takes its class colour; each thing instance its class colour perturbed by its id;
    classes outside the palette (void) are ``void_colour``.
    """
    out = np.zeros(ids.shape + (3, ), np.uint8)
    out[:] = void_colour
    for seg in np.unique(ids):
        cls = int(seg) // label_divisor
        if cls < 0 or cls >= len(palette):
            continue
        colour = instance_colour(palette[cls], int(seg)) \
            if cls in thing_classes and int(seg) % label_divisor > 0 else palette[cls]
        out[ids == seg] = colour
    return out


def segment_boundaries(ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour belongs to another segment."""
    b = np.zeros(ids.shape, bool)
    b[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    b[:-1, :] |= ids[:-1, :] != ids[1:, :]
    return b


def overlay_panoptic(img: np.ndarray, ids: np.ndarray, palette, label_divisor: int,
                     thing_classes: Sequence[int], alpha: float = 0.6,
                     class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Blend the coloured panoptic map on an RGB image, with white outlines and optional labels."""
    colours = colourize_panoptic(ids, palette, label_divisor, thing_classes)
    out = (img.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha)
    out = out.clip(0, 255).astype(np.uint8)
    out[segment_boundaries(ids)] = (255, 255, 255)
    if class_names is not None:
        for seg in np.unique(ids):
            cls = int(seg) // label_divisor
            if cls < 0 or cls >= len(class_names):
                continue
            ys, xs = np.nonzero(ids == seg)
            if len(ys) < 200:
                continue
            y, x = int(np.median(ys)), int(np.median(xs))
            cv2.putText(out, class_names[cls], (max(x - 20, 0), y), cv2.FONT_HERSHEY_SIMPLEX,
                        0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def colourize_depth(depth: np.ndarray, max_depth: float = 80.0, min_depth: float = 0.0,
                    cmap: str = 'turbo') -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 RGB on a **fixed** metric range; depth <= 0 is invalid."""
    d = np.asarray(depth, np.float32)
    t = np.clip((d - min_depth) / max(max_depth - min_depth, 1e-6), 0, 1)
    rgb = (colormaps[cmap](t)[..., :3] * 255).astype(np.uint8)
    rgb[~(d > 0)] = INVALID_DEPTH_COLOUR
    return rgb


def depth_colour_bar(height: int, max_depth: float = 80.0, min_depth: float = 0.0,
                     cmap: str = 'turbo', width: int = 64) -> np.ndarray:
    """A vertical colour bar (near at the bottom) with metre ticks, (height, width, 3) RGB."""
    bar = np.full((height, width, 3), 255, np.uint8)
    vals = np.linspace(max_depth, min_depth, height)[:, None].repeat(14, 1)
    bar[:, 4:18] = colourize_depth(np.maximum(vals, 1e-3), max_depth, min_depth, cmap)
    for v in np.linspace(min_depth, max_depth, 5):
        y = int(round((max_depth - v) / max(max_depth - min_depth, 1e-6) * (height - 1)))
        cv2.line(bar, (18, y), (22, y), (0, 0, 0), 1)
        cv2.putText(bar, f'{v:.0f}m', (24, min(max(y + 4, 9), height - 2)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def panel(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Concatenate equal-height RGB images left to right with white gaps."""
    h = max(i.shape[0] for i in images)
    parts = []
    for k, im in enumerate(images):
        if im.shape[0] != h:
            im = cv2.resize(im, (int(im.shape[1] * h / im.shape[0]), h),
                            interpolation=cv2.INTER_NEAREST)
        parts.append(im)
        if k < len(images) - 1:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def prediction_panel(rgb: np.ndarray, panoptic: np.ndarray, depth: Optional[np.ndarray],
                     meta: dict, label_divisor: int, max_depth: float = 80.0,
                     draw_labels: bool = False) -> dict:
    """The picture of one prediction: image | panoptic overlay | depth | colour bar.

    Args:
        rgb (np.ndarray): (H, W, 3) uint8 RGB. panoptic (np.ndarray): (H, W) ids.
        depth (np.ndarray, optional): (H, W) metres.
        meta (dict): dataset meta (``palette``, ``thing_ids``, ``classes``); a generated
            palette is used without one.

    Returns:
        dict: ``panel`` and the layers ``panoptic`` and ``depth`` (None without depth), RGB.
    """
    palette = meta.get('palette') or [(i * 37 % 255, i * 91 % 255, i * 53 % 255)
                                      for i in range(256)]
    pan = overlay_panoptic(rgb, panoptic, palette, label_divisor, meta.get('thing_ids', ()), 0.6,
                           meta.get('classes') if draw_labels else None)
    parts = [rgb, pan]
    depth_rgb = None
    if depth is not None:
        depth_rgb = colourize_depth(depth, max_depth)
        parts += [depth_rgb, depth_colour_bar(rgb.shape[0], max_depth)]
    return dict(panel=panel(parts), panoptic=pan, depth=depth_rgb)
