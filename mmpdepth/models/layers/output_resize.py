"""Stride-4 maps to the original image size, and where a thresholded mask can be set there
(the windows the fusion head pastes in; exact for bilinear resizing)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def upsample_to_original(maps: Tensor, img_hw: Tuple[int, int],
                         ori_hw: Tuple[int, int]) -> Tensor:
    """(N, h, w) stride-4 maps -> x4 bilinear, crop padding, resize to the original size."""
    if maps.shape[0] == 0:
        return maps.new_zeros(0, *ori_hw)
    up = F.interpolate(maps[None], scale_factor=4, mode='bilinear',
                       align_corners=False)[..., :img_hw[0], :img_hw[1]]
    if tuple(up.shape[-2:]) != tuple(ori_hw):
        up = F.interpolate(up, size=ori_hw, mode='bilinear', align_corners=False)
    return up[0]


class OriginalSizeMaps:
    """(N, h, w) stride-4 maps at the original size on demand: one map, or a window of it, at
    a time, each equal to the same rows of :func:`upsample_to_original` (flipped back for a
    flipped view) without holding the (N, H, W) stack.

    A whole map, and any window when the input is resized to the original size, is cut from
    the same computation as the stack: equal bit for bit. Without a final resize
    (``img_hw == ori_hw``, the usual test pipeline) a smaller window upsamples only the
    stride-4 rows / columns it reads plus one of margin: ``scale_factor=4`` gives the same
    source coordinates and weights as the whole map (``(y + 0.5) / 4 - 0.5`` is exact in
    float) and the margin keeps the crop's clamped border out of the window, but PyTorch's
    kernel may round a crop's last vector differently: equal within one float rounding
    (2^-24 relative).

    Args:
        maps (Tensor): (M, h, w) stride-4 maps (padded input / 4).
        img_hw, ori_hw (tuple): un-padded input and original size.
        flip (bool): the view was flipped horizontally: maps and windows are flipped back.
        rows (Tensor, optional): (N, ) rows of ``maps`` that are maps ``0 .. N-1`` here
            (default: all M), so a subset needs no copy of the stack.
    """

    def __init__(self, maps: Tensor, img_hw: Tuple[int, int], ori_hw: Tuple[int, int],
                 flip: bool = False, rows: Optional[Tensor] = None) -> None:
        self.maps = maps
        self.rows = list(range(maps.shape[0])) if rows is None else rows.tolist()
        self.img_hw = tuple(img_hw)
        self.ori_hw = tuple(ori_hw)
        self.flip = flip

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (len(self), ) + self.ori_hw

    def full(self, i: int) -> Tensor:
        """(H, W) map ``i``."""
        r = self.rows[i]
        up = upsample_to_original(self.maps[r:r + 1], self.img_hw, self.ori_hw)[0]
        return up.flip(-1) if self.flip else up

    def window(self, i: int, window: Sequence[int]) -> Tensor:
        """(y1 - y0, x1 - x0) window ``[y0, y1, x0, x1)`` of map ``i``."""
        y0, y1, x0, x1 = (int(v) for v in window)
        if y1 <= y0 or x1 <= x0:
            return self.maps.new_zeros(max(y1 - y0, 0), max(x1 - x0, 0))
        if (y1 - y0, x1 - x0) == self.ori_hw or self.img_hw != self.ori_hw:
            return self.full(i)[y0:y1, x0:x1]
        if self.flip:  # the window in the un-flipped maps
            x0, x1 = self.ori_hw[1] - x1, self.ori_hw[1] - x0
        (a, b), (c, d) = (_stride4_rows(lo, hi, n) for lo, hi, n in
                          ((y0, y1, self.maps.shape[1]), (x0, x1, self.maps.shape[2])))
        r = self.rows[i]
        up = F.interpolate(self.maps[r:r + 1, None, a:b, c:d], scale_factor=4,
                           mode='bilinear', align_corners=False)[0, 0]
        up = up[y0 - 4 * a:y1 - 4 * a, x0 - 4 * c:x1 - 4 * c]
        return up.flip(-1) if self.flip else up


def _stride4_rows(lo: int, hi: int, n: int) -> Tuple[int, int]:
    """Stride-4 rows ``[a, b)`` that x4 outputs ``[lo, hi)`` read, with one row of margin."""
    if hi <= lo:
        return 0, 0
    first = max((2 * lo - 3) // 8, 0)  # floor((lo + 0.5) / 4 - 0.5), clamped at 0
    last = max((2 * hi - 5) // 8, 0) + 1  # the same for output hi - 1, and its next row
    return max(first - 1, 0), min(last + 2, n)


def output_windows(masks: Tensor, img_hw: Tuple[int, int],
                   ori_hw: Tuple[int, int]) -> Tensor:
    """Where the upsampled maps can exceed the threshold: (N, 4) windows ``[y0, y1, x0, x1)``
    of the original-size output for (N, h, w) boolean stride-4 masks (``p > mask_thr``).

    Bilinear resizing (``align_corners=False``, no antialias) makes each output a convex
    combination of input rows/columns ``floor(s)`` and ``floor(s) + 1`` of its source
    coordinate ``s``, so an output above the threshold reads an input above it; the window
    holds every output that reads a masked input (plus one pixel of margin). An empty mask
    gives an empty window. (Float rounding could only matter for inputs within ~1e-7 of the
    threshold.)
    """
    n, h, w = masks.shape
    win = torch.zeros(n, 4, dtype=torch.long)
    if n == 0:
        return win
    for axis, (n_s4, n_img, n_ori) in enumerate(((h, img_hw[0], ori_hw[0]),
                                                  (w, img_hw[1], ori_hw[1]))):
        hit = masks.any(2 - axis).cpu()  # (N, h) rows or (N, w) columns
        first = hit.float().argmax(1).double()
        last = (n_s4 - 1 - hit.flip(1).float().argmax(1)).double()
        lo, hi = _reading_range(first, last, 0.25, 4 * n_s4)  # x4 upsampling
        hi = hi.clamp(max=n_img)  # crop of the padding
        if n_ori != n_img:
            lo, hi = _reading_range(lo.double(), hi.double() - 1, n_img / n_ori, n_ori)
        empty = ~hit.any(1)
        win[:, 2 * axis] = torch.where(empty, 0, lo)
        win[:, 2 * axis + 1] = torch.where(empty, 0, hi.clamp(min=lo))
    return win


def flip_windows(windows: Tensor, width: int) -> Tensor:
    """(N, 4) ``[y0, y1, x0, x1)`` windows of maps flipped horizontally."""
    return torch.stack([windows[:, 0], windows[:, 1], width - windows[:, 3],
                        width - windows[:, 2]], dim=1)


def _reading_range(first: Tensor, last: Tensor, scale: float,
                   n_out: int) -> Tuple[Tensor, Tensor]:
    """Outputs ``[lo, hi)`` of a bilinear resize (``align_corners=False``, source coordinate
    ``max((y + 0.5) * scale - 0.5, 0)``) that read any input index in ``[first, last]``."""
    lo = torch.floor((first - 0.5) / scale - 0.5) - 1
    lo = torch.where(first <= 1, torch.zeros_like(lo), lo)  # clamped coordinates read row 0, 1
    hi = torch.ceil((last + 1.5) / scale - 0.5) + 1
    return lo.clamp(0, n_out).long(), hi.clamp(0, n_out).long()
