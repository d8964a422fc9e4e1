"""CoordConv input: append normalised row / column coordinates."""
import torch
from torch import Tensor


def add_coord_channels(x: Tensor) -> Tensor:
    """Concatenate two coordinate channels to ``x``.

    Args:
        x (Tensor): (B, C, H, W).

    Returns:
        Tensor: (B, C + 2, H, W); channel C is the **row** coordinate (varies along H) and
        channel C + 1 the **column** coordinate, both ``linspace(-1, 1)`` with end points, as in
        the official PanopticFCN/PanopticDepth code (weights depend on this order).
    """
    b, _, h, w = x.shape
    with torch.no_grad():
        rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
        cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        grid_r, grid_c = torch.meshgrid(rows, cols, indexing='ij')
        coords = torch.stack([grid_r, grid_c]).unsqueeze(0).expand(b, -1, -1, -1)
    return torch.cat([x, coords], dim=1)
