"""Pure-numpy drawing of panoptic maps and metric depth (used by the visualizer and tools).

A drawn prediction reads without a legend sheet: each picture has a title (``image``,
``panoptic``, ``depth``, prefixed ``GT`` / ``prediction`` where both are drawn), a legend below
names the classes present (and the no-depth colour), and the depth colour bar is in metres. Text
sizes follow the image height, so a 2048 x 4096 picture is as readable as a 256 x 512 one.
"""
import hashlib
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from matplotlib import colormaps

#: colour of pixels without depth: a neutral grey, which no class palette of the datasets and
#: no colour of the depth colour map (turbo) uses
NO_DEPTH_COLOUR = (128, 128, 128)
#: colour of void (unlabelled) panoptic pixels
VOID_COLOUR = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX
#: white space between pictures (scaled with the text)
GAP = 4


def text_style(height: int) -> Tuple[float, int]:
    """cv2 font scale and stroke thickness for text on a picture ``height`` px tall: capital
    letters about 1/28 of the height (at least 10 px), so text stays readable when a large
    picture is shrunk to a screen."""
    scale = max(0.45, height / 600.0)
    return scale, max(1, int(round(scale * 1.6)))


def instance_colour(base: Sequence[int], key: int) -> Tuple[int, int, int]:
    """The class colour perturbed deterministically by an instance key (same key, same colour)."""
    h = hashlib.md5(str(int(key)).encode()).digest()
    jitter = (np.frombuffer(h[:3], np.uint8).astype(np.int32) % 81) - 40
    return tuple(int(v) for v in np.clip(np.asarray(base, np.int32) + jitter, 0, 255))


def colourize_panoptic(ids: np.ndarray, palette: Sequence[Sequence[int]], label_divisor: int,
                       thing_classes: Sequence[int], void_colour=VOID_COLOUR) -> np.ndarray:
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
    """Blend the coloured panoptic map on an RGB image, with white outlines (1 px per 512 px of
    height) and optional labels (class names on segments larger than 0.3 % of the image)."""
    colours = colourize_panoptic(ids, palette, label_divisor, thing_classes)
    out = (img.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha)
    out = out.clip(0, 255).astype(np.uint8)
    edges = segment_boundaries(ids)
    width = max(1, ids.shape[0] // 512)  # outlines stay visible when a large picture shrinks
    if width > 1:
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((width, width), np.uint8)) > 0
    out[edges] = (255, 255, 255)
    if class_names is not None:
        scale, thick = text_style(ids.shape[0])
        scale, thick = scale * 0.75, max(1, thick - 1)
        for seg in np.unique(ids):
            cls = int(seg) // label_divisor
            if cls < 0 or cls >= len(class_names):
                continue
            ys, xs = np.nonzero(ids == seg)
            if len(ys) < 0.003 * ids.size:
                continue
            (tw, _), _ = cv2.getTextSize(class_names[cls], FONT, scale, thick)
            y, x = int(np.median(ys)), int(np.median(xs))
            cv2.putText(out, class_names[cls], (max(x - tw // 2, 0), y), FONT, scale,
                        (255, 255, 255), thick, cv2.LINE_AA)
    return out


def colourize_depth(depth: np.ndarray, max_depth: float = 80.0, min_depth: float = 0.0,
                    cmap: str = 'turbo') -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 RGB on a **fixed** metric range; depth <= 0 (no depth)
    is :data:`NO_DEPTH_COLOUR`."""
    d = np.asarray(depth, np.float32)
    t = np.clip((d - min_depth) / max(max_depth - min_depth, 1e-6), 0, 1)
    rgb = (colormaps[cmap](t)[..., :3] * 255).astype(np.uint8)
    rgb[~(d > 0)] = NO_DEPTH_COLOUR
    return rgb


def depth_colour_bar(height: int, max_depth: float = 80.0, min_depth: float = 0.0,
                     cmap: str = 'turbo', width: Optional[int] = None) -> np.ndarray:
    """A vertical colour bar (near at the bottom) with ticks in metres, (height, width, 3) RGB.

    The bar, ticks and labels scale with ``height``; ``width`` (default: what the labels need)
    only pads or crops the right side.
    """
    scale, thick = text_style(height)
    (tw, th), _ = cv2.getTextSize(f'{max_depth:.0f} m', FONT, scale, thick)
    bar_w, tick = max(14, th), max(4, th // 2)
    need = bar_w + tick + tw + 3 * max(2, th // 4)
    width = width or need
    out = np.full((height, max(width, need), 3), 255, np.uint8)
    x0 = max(2, th // 4)
    vals = np.linspace(max_depth, min_depth, height)[:, None].repeat(bar_w, 1)
    out[:, x0:x0 + bar_w] = colourize_depth(np.maximum(vals, 1e-3), max_depth, min_depth, cmap)
    for v in np.linspace(min_depth, max_depth, 5):
        y = int(round((max_depth - v) / max(max_depth - min_depth, 1e-6) * (height - 1)))
        cv2.line(out, (x0 + bar_w, y), (x0 + bar_w + tick, y), (0, 0, 0), thick)
        ty = min(max(y + th // 2, th + 1), height - 2)
        cv2.putText(out, f'{v:.0f} m', (x0 + bar_w + tick + x0, ty), FONT, scale, (0, 0, 0),
                    thick, cv2.LINE_AA)
    return out[:, :width]


def title_bar(width: int, text: str, height: int) -> np.ndarray:
    """A white strip ``width`` px wide with ``text`` in black, sized for pictures ``height`` px
    tall (see :func:`text_style`)."""
    scale, thick = text_style(height)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    strip = np.full((th + base + 2 * max(3, th // 3), width, 3), 255, np.uint8)
    cv2.putText(strip, text, (max((width - tw) // 2, 0), max(3, th // 3) + th), FONT, scale,
                (0, 0, 0), thick, cv2.LINE_AA)
    return strip


def panel(images: Sequence[np.ndarray], gap: int = GAP,
          titles: Optional[Sequence[Optional[str]]] = None) -> np.ndarray:
    """Concatenate RGB images left to right with white gaps (resized to the tallest), each under
    its title (``titles[k]``; None or '' leaves a blank strip)."""
    h = max(i.shape[0] for i in images)
    parts = []
    for k, im in enumerate(images):
        if im.shape[0] != h:
            im = cv2.resize(im, (int(im.shape[1] * h / im.shape[0]), h),
                            interpolation=cv2.INTER_NEAREST)
        if titles is not None:
            im = np.concatenate([title_bar(im.shape[1], titles[k] or '', h), im])
        parts.append(im)
        if k < len(images) - 1:
            parts.append(np.full((parts[-1].shape[0], gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def legend_entries(meta: dict, ids: Sequence[np.ndarray], label_divisor: int,
                   with_depth: bool = False) -> List[Tuple[str, Tuple[int, int, int]]]:
    """(name, RGB colour) of each class present in the panoptic maps ``ids``, in class order
    (thing instances are drawn in shades of their class colour), then ``void`` if present and
    ``no depth`` if ``with_depth``."""
    palette, names = meta.get('palette') or default_palette(), meta.get('classes') or ()
    present = set()
    for m in ids:
        present |= set((np.unique(m).astype(np.int64) // label_divisor).tolist())
    entries, void = [], False
    for cls in sorted(present):
        if 0 <= cls < len(palette):
            name = names[cls] if cls < len(names) else f'class {cls}'
            entries.append((name, tuple(int(c) for c in palette[cls])))
        else:
            void = True
    if void:
        entries.append(('void', VOID_COLOUR))
    if with_depth:
        entries.append(('no depth', NO_DEPTH_COLOUR))
    return entries


def draw_legend(entries: Sequence[Tuple[str, Sequence[int]]], width: int,
                height: int) -> np.ndarray:
    """A white block ``width`` px wide: one colour swatch and name per entry, in rows; text
    sized for pictures ``height`` px tall."""
    scale, thick = text_style(height)
    (_, th), base = cv2.getTextSize('Ag', FONT, scale, thick)
    pad, sw = max(3, th // 2), th + base
    row_h = sw + pad
    rows, x, y = [[]], pad, 0
    for name, colour in entries:
        (tw, _), _ = cv2.getTextSize(name, FONT, scale, thick)
        w = sw + pad // 2 + tw + 2 * pad
        if x + w > width and rows[-1]:
            rows.append([])
            x = pad
        rows[-1].append((name, colour, x))
        x += w
    out = np.full((len(rows) * row_h + pad, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        y = pad + r * row_h
        for name, colour, x in row:
            cv2.rectangle(out, (x, y), (x + sw - 1, y + sw - 1), tuple(int(c) for c in colour),
                          -1)
            cv2.rectangle(out, (x, y), (x + sw - 1, y + sw - 1), (0, 0, 0), 1)
            cv2.putText(out, name, (x + sw + pad // 2, y + th + base // 2), FONT, scale,
                        (0, 0, 0), thick, cv2.LINE_AA)
    return out


def stack_rows(rows: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Stack pictures top to bottom (left-aligned, padded white to the widest)."""
    width = max(r.shape[1] for r in rows)
    out = []
    for k, r in enumerate(rows):
        out.append(np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255))
        if k < len(rows) - 1:
            out.append(np.full((gap, width, 3), 255, np.uint8))
    return np.concatenate(out)


def default_palette() -> List[Tuple[int, int, int]]:
    """Colours for a model without dataset meta (256 classes)."""
    return [(i * 37 % 255, i * 91 % 255, i * 53 % 255) for i in range(256)]


def draw_row(rgb: np.ndarray, ids: Optional[np.ndarray], depth: Optional[np.ndarray],
             meta: dict, label_divisor: int, max_depth: float = 80.0, alpha: float = 0.6,
             draw_labels: bool = False, title_prefix: str = '') -> Dict:
    """One titled row: image | panoptic overlay | depth | colour bar (maps of another size than
    the image are resized to it, nearest).

    Returns:
        dict: ``row`` (RGB), ``titles`` (the titles drawn), the layers ``panoptic`` and
        ``depth`` (None when not drawn) and ``ids`` (the map drawn, or None).
    """
    h, w = rgb.shape[:2]
    palette = meta.get('palette') or default_palette()
    prefix = f'{title_prefix} ' if title_prefix else ''
    parts, titles, pan, depth_rgb = [rgb], [f'{prefix}image'], None, None
    if ids is not None:
        if ids.shape != (h, w):
            ids = cv2.resize(ids.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        pan = overlay_panoptic(rgb, ids, palette, label_divisor, meta.get('thing_ids', ()),
                               alpha, meta.get('classes') if draw_labels else None)
        parts.append(pan)
        titles.append(f'{prefix}panoptic')
    if depth is not None:
        if depth.shape != (h, w):
            depth = cv2.resize(depth.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
        depth_rgb = colourize_depth(depth, max_depth)
        parts += [depth_rgb, depth_colour_bar(h, max_depth)]
        titles += [f'{prefix}depth', '']  # the colour bar is labelled in metres
    return dict(row=panel(parts, max(GAP, h // 100), titles), titles=[t for t in titles if t],
                panoptic=pan, depth=depth_rgb, ids=ids)


def prediction_panel(rgb: np.ndarray, panoptic: np.ndarray, depth: Optional[np.ndarray],
                     meta: dict, label_divisor: int, max_depth: float = 80.0,
                     draw_labels: bool = False, alpha: float = 0.6) -> dict:
    """The picture of one prediction: titled image | panoptic overlay | depth | colour bar, and
    a legend of the classes present (and the no-depth colour) below.

    Args:
        rgb (np.ndarray): (H, W, 3) uint8 RGB. panoptic (np.ndarray): (H, W) ids.
        depth (np.ndarray, optional): (H, W) metres.
        meta (dict): dataset meta (``palette``, ``thing_ids``, ``classes``); a generated
            palette is used without one.

    Returns:
        dict: ``panel``, the layers ``panoptic`` and ``depth`` (None without depth), RGB;
        ``titles`` and ``legend`` (the (name, colour) entries drawn).
    """
    row = draw_row(rgb, panoptic, depth, meta, label_divisor, max_depth, alpha, draw_labels)
    entries = legend_entries(meta, [row['ids']], label_divisor, depth is not None)
    pic = stack_rows([row['row'], draw_legend(entries, row['row'].shape[1], rgb.shape[0])],
                     max(GAP, rgb.shape[0] // 100))
    return dict(panel=pic, panoptic=row['panoptic'], depth=row['depth'], titles=row['titles'],
                legend=entries)
