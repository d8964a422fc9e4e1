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
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            rows, cols = _traced_unit_range(x, 2), _traced_unit_range(x, 3)
        else:
            rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
            cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        grid_r, grid_c = torch.meshgrid(rows, cols, indexing='ij')
        coords = torch.stack([grid_r, grid_c]).unsqueeze(0).expand(b, -1, -1, -1)
        if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            # a channels-last x keeps its layout only if the coordinates have it too (else
            # cat returns NCHW, ~6x slower, and every later conv reorders again)
            coords = coords.contiguous(memory_format=torch.channels_last)
    return torch.cat([x, coords], dim=1)


def _traced_unit_range(x: Tensor, dim: int) -> Tensor:
    """``linspace(-1, 1, x.shape[dim])`` from a shape tensor, so that an exported graph stays
    valid for other input sizes (a traced ``linspace`` keeps the export-time size; equal to
    float rounding, and [-1] for a size of 1 like ``linspace``)."""
    n = torch._shape_as_tensor(x)[dim].to(x.device)
    steps = torch.arange(n, device=x.device).to(x.dtype)
    return steps * 2.0 / (n - 1).clamp(min=1).to(x.dtype) - 1.0
