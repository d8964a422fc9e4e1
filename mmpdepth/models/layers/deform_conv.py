"""Modulated deformable 3x3 convolution (DCNv2) whose offsets come from a plain conv.

Four implementations of the same operator (equal outputs and gradients in float64):

* ``'torchvision'``: ``torchvision.ops.deform_conv2d`` (compiled CPU / CUDA kernels; im2col, so
  its backward keeps only the inputs: the memory-lean choice for training; its CPU backward is
  slow);
* ``'grid_sample'``: bilinear ``grid_sample`` of the 9 taps, one product per tap (standard ops;
  autograd keeps the (B, 9, H*W, C) samples);
* ``'gather'``: the product first, then a bilinear- and mask-weighted gather of 36 rows per
  output pixel (``F.embedding_bag``): the fastest CPU path, forward and backward (~8x
  torchvision's CPU backward), at the cost of a (B*H*W*9, C_out) buffer kept for backward;
* ``'export'``: the form taken under tracing / ONNX export (standard ONNX ops only): the
  'gather' product written as MatMul + 36 ``Gather`` rows (default), NCHW ``grid_sample``
  and one ``(C_out, 9C)`` product, or one standard ``DeformConv`` node (opset >= 19; ONNX
  Runtime >= 1.25 runs it) (:func:`export_dcn_form`).

``impl='auto'`` (the default) picks per call with :func:`select_dcn_impl`.
"""
import threading
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

from .precision import autocast_off

#: values of ``ModulatedDeformConv3x3(impl=...)`` / ``PanopticDepthHead(dcn_impl=...)``
DCN_IMPLS = ('auto', 'torchvision', 'grid_sample', 'gather')
#: forms the DCN takes under tracing / ONNX export (:func:`export_dcn_form`)
DCN_EXPORT_FORMS = ('gather', 'grid_sample', 'deform_conv')
#: output channels of the offset / mask conv at CPU inference (27 padded with zero filters;
#: oneDNN's blocked conv kernels run 32 outputs faster than 27)
OFFSET_CONV_CPU_CHANNELS = 32
#: the first ONNX opset with ``DeformConv``
DEFORM_CONV_OPSET = 19
_export_form = ['gather']
_workspace = threading.local()


@contextmanager
def dcn_workspace() -> Iterator[None]:
    """Inference DCN calls inside share one product buffer, freed on exit.

    The 'gather' product of a stride-4 layer at 1024x2048 is ~1.2 GB; allocated afresh for
    every layer its pages fault in again each time (the product then runs ~1.4x slower than
    into a reused buffer). Nested uses share the outermost buffer; autograd calls never use it
    (their product is kept for backward). One buffer per thread.
    """
    outer = getattr(_workspace, 'active', False)
    _workspace.active = True
    try:
        yield
    finally:
        if not outer:
            _workspace.active = False
            _workspace.buf = None


def _product_buffer(rows: int, cols: int, like: Tensor) -> Optional[Tensor]:
    """A (rows, cols) view of the :func:`dcn_workspace` buffer, grown as needed; None
    outside a workspace."""
    if not getattr(_workspace, 'active', False):
        return None
    buf = getattr(_workspace, 'buf', None)
    if buf is None or buf.numel() < rows * cols or buf.dtype != like.dtype \
            or buf.device != like.device:
        buf = _workspace.buf = None  # free the old one first
        buf = _workspace.buf = torch.empty(rows * cols, dtype=like.dtype, device=like.device)
    return buf[:rows * cols].view(rows, cols)


@contextmanager
def export_dcn_form(form: str) -> Iterator[None]:
    """Trace / export DCNv2 layers inside the block as ``form``: 'gather' (MatMul, then 36
    ``Gather`` rows per pixel; the default), 'grid_sample' (NCHW ``GridSample``, then one
    MatMul) or 'deform_conv' (one ONNX ``DeformConv`` node; the export's opset must be >= 19).
    All are standard ONNX ops and equal up to float rounding."""
    if form not in DCN_EXPORT_FORMS:
        raise ValueError(f'DCN export form must be one of {DCN_EXPORT_FORMS}, got {form!r}')
    previous = _export_form[0]
    _export_form[0] = form
    try:
        yield
    finally:
        _export_form[0] = previous


def is_exporting() -> bool:
    """True while tracing (``torch.jit.trace``, FLOP counting) or exporting to ONNX."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def select_dcn_impl(impl: str, device_type: str, needs_grad: bool, exporting: bool,
                    gather_bytes: int = 0, train_gather_bytes: float = 0) -> str:
    """The implementation a DCNv2 call runs with.

    ``'auto'``: tracing / export -> ``'export'``; CPU inference -> ``'gather'`` (fastest there);
    CPU training -> ``'gather'`` while its buffer kept for backward (``gather_bytes``) is at most
    ``train_gather_bytes``, else ``'torchvision'`` (memory-lean backward); CUDA (training and
    inference) -> ``'torchvision'`` (compiled kernel, no (H*W*9, C_out) buffer). An explicit
    ``'grid_sample'`` / ``'gather'`` takes the export form under tracing too (``embedding_bag``
    has no standard ONNX form); an explicit ``'torchvision'`` is kept as asked.

    Args:
        impl (str): one of :data:`DCN_IMPLS`.
        device_type (str): ``x.device.type`` ('cpu', 'cuda', ...).
        needs_grad (bool): autograd records this call.
        exporting (bool): :func:`is_exporting`.
        gather_bytes (int): size of the 'gather' product buffer of this call.
        train_gather_bytes (float): the largest such buffer 'auto' keeps for a CPU backward.

    Returns:
        str: 'export', 'torchvision', 'grid_sample' or 'gather'.
    """
    if impl not in DCN_IMPLS:
        raise ValueError(f'DCN impl must be one of {DCN_IMPLS}, got {impl!r}')
    if impl == 'torchvision':
        return impl
    if exporting:
        return 'export'
    if impl != 'auto':
        return impl
    if device_type != 'cpu':
        return 'torchvision'
    if needs_grad and gather_bytes > train_gather_bytes:
        return 'torchvision'
    return 'gather'


def _tap_positions(offset: Tensor, h: int, w: int) -> Tuple[Tensor, Tensor]:
    """Pixel coordinates ``(y, x)`` sampled by the 9 taps, each (B, 9, H, W): tap k = 3i + j
    of output pixel (y, x) reads ``(y + i - 1 + Δy_k, x + j - 1 + Δx_k)``."""
    b = offset.shape[0]
    dt, dev = offset.dtype, offset.device
    taps = torch.arange(9, device=dev)
    ky = (taps // 3 - 1).to(dt).view(1, 9, 1, 1)
    kx = (taps % 3 - 1).to(dt).view(1, 9, 1, 1)
    ys = torch.arange(h, dtype=dt, device=dev).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=dt, device=dev).view(1, 1, 1, w)
    off = offset.view(b, 9, 2, h, w)
    return ys + ky + off[:, :, 0], xs + kx + off[:, :, 1]


def _tap_grid(offset: Tensor, h: int, w: int) -> Tensor:
    """Normalised ``grid_sample`` coordinates of the 9 taps: (B, 9, H, W, 2) as (x, y)."""
    py, px = _tap_positions(offset, h, w)
    # align_corners=False coordinates: pixel p <-> (2p + 1) / size - 1 (no 1/(size - 1), so a
    # 1-pixel-wide map and traced (ONNX) sizes need no special case)
    gy = (2.0 * py + 1.0) / h - 1.0
    gx = (2.0 * px + 1.0) / w - 1.0
    return torch.stack([gx, gy], dim=-1)


def _sample_taps(x_cl: Tensor, grid: Tensor, mask: Tensor) -> Tensor:
    """Bilinear samples of the taps times the modulation: (B, 9, H*W, C).

    ``x_cl`` (B, C, H, W) is channels-last, so every sample reads one contiguous C-vector (the
    NCHW input is several times slower on CPU; the output is NCHW either way);
    ``grid`` (B, 9, h, w, 2); ``mask`` (B, 9, h, w).
    """
    b, _, h, w, _ = grid.shape
    s = F.grid_sample(x_cl, grid.reshape(b, 9 * h, w, 2), mode='bilinear',
                      padding_mode='zeros', align_corners=False)
    s = s.permute(0, 2, 3, 1).reshape(b, 9, h * w, x_cl.shape[1])
    m = mask.reshape(b, 9, h * w, 1)
    return s * m


def gather_index_dtype(rows: int) -> torch.dtype:
    """int32 for the rows of a gather table of ``rows`` rows while they fit (half the index
    memory of int64, which ``embedding_bag`` also takes), int64 beyond."""
    return torch.int32 if rows <= torch.iinfo(torch.int32).max else torch.int64


def _bilinear_tap_bags(offset: Tensor, mask: Tensor,
                       index_dtype: torch.dtype = torch.int64) -> Tuple[Tensor, Tensor]:
    """Rows and weights that DCNv2 reads, for a gather from ``Y = x @ [W_0 .. W_8]``.

    Output pixel q, tap k = 3i + j samples ``x`` at ``(y + i - 1 + Δy_k, x + j - 1 + Δx_k)``;
    each of the 4 bilinear corners inside the image contributes ``weight * mask_k`` times row
    ``(b * H*W + corner) * 9 + k`` of ``Y`` viewed as (B*H*W*9, C_out); corners outside get
    weight 0 (zero padding, as torchvision / DCNv2).

    Args:
        offset (Tensor): (B, 18, H, W). mask (Tensor): (B, 9, H, W).
        index_dtype (torch.dtype): int64, or int32 (``embedding_bag`` takes both).

    Returns:
        tuple: ``index`` (B*H*W, 36) and ``weight`` (B*H*W, 36), one output pixel a row
        (raster order), the corners of tap k at columns 4k .. 4k + 3.
    """
    b, _, h, w = offset.shape
    dt, dev = offset.dtype, offset.device

    def pixel_major(t: Tensor) -> Tensor:  # (B, C, H, W) -> (B, H, W, C), contiguous
        return t.permute(0, 2, 3, 1).contiguous()  # what follows keeps this memory order

    off = pixel_major(offset).unflatten(-1, (9, 2))
    taps = torch.arange(9, device=dev)
    ys = torch.arange(h, dtype=dt, device=dev).view(h, 1, 1)
    xs = torch.arange(w, dtype=dt, device=dev).view(w, 1)
    py = off[..., 0] + (ys + (taps // 3 - 1).to(dt))  # (B, H, W, 9)
    px = off[..., 1] + (xs + (taps % 3 - 1).to(dt))
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.to(index_dtype), x0.to(index_dtype)
    # rows y0, y0 + 1 and columns x0, x0 + 1: their bilinear weights (0 outside the image)
    # and their offsets in Y viewed as (B*H*W*9, C_out)
    wy = [(1 - ly).masked_fill((y0 < 0) | (y0 >= h), 0),
          ly.masked_fill((y0 < -1) | (y0 >= h - 1), 0)]
    wx = [(1 - lx).masked_fill((x0 < 0) | (x0 >= w), 0),
          lx.masked_fill((x0 < -1) | (x0 >= w - 1), 0)]
    ry = [y0.clamp(0, h - 1) * (w * 9), (y0 + 1).clamp(0, h - 1) * (w * 9)]
    tap = taps.to(index_dtype)
    cx = [x0.clamp(0, w - 1) * 9 + tap, (x0 + 1).clamp(0, w - 1) * 9 + tap]
    if b > 1:
        first = (torch.arange(b, device=dev) * (h * w * 9)).to(index_dtype)
        first = first.view(b, 1, 1, 1)
        ry = [r + first for r in ry]
    m = pixel_major(mask)
    # corners (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1) of each tap
    index = torch.stack([ry[i] + cx[j] for i in (0, 1) for j in (0, 1)], -1)
    weight = torch.stack([wy[i] * wx[j] * m for i in (0, 1) for j in (0, 1)], -1)
    return index.reshape(b * h * w, 36), weight.reshape(b * h * w, 36)


def _dcn_export(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """NCHW ``grid_sample`` (what ONNX GridSample takes), no transposes, and one
    (C_out, 9C) @ (9C, H*W) product, so a runtime holds few (B, 9C, H*W) buffers. -> NCHW."""
    b, c, h, w = x.shape
    c_out = weight.shape[0]
    grid = _tap_grid(offset, h, w)
    s = F.grid_sample(x, grid.reshape(b, 9 * h, w, 2), mode='bilinear',
                      padding_mode='zeros', align_corners=False)
    s = s.reshape(b, c, 9, h * w) * mask.reshape(b, 1, 9, h * w)
    out = torch.matmul(weight.reshape(c_out, c * 9), s.reshape(b, c * 9, h * w))
    return out.reshape(b, c_out, h, w)


def _dcn_export_gather(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """The 'gather' form in standard ONNX ops: one MatMul ``Y = x @ [W_0 .. W_8]``, then the
    36 bilinear / modulation-weighted rows of ``Y`` each output pixel reads, summed as 36
    ``Gather`` + ``Mul`` + ``Add`` (no (H*W, 36, C_out) buffer). -> NCHW."""
    b, c, h, w = x.shape
    c_out = weight.shape[0]
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    y = torch.matmul(rows, weight.permute(1, 2, 3, 0).reshape(c, 9 * c_out))
    y = y.reshape(-1, c_out)
    index, bag_weight = _bilinear_tap_bags(offset, mask)
    out = None
    for j in range(36):
        term = y.index_select(0, index[:, j]) * bag_weight[:, j:j + 1]
        out = term if out is None else out + term
    return out.reshape(b, h, w, c_out).permute(0, 3, 1, 2)


class _OnnxDeformConv(torch.autograd.Function):
    """torchvision's DCNv2 that exports as one standard ONNX ``DeformConv`` node (same offset
    layout, interleaved (Δy, Δx) per tap, and mask input). -> NCHW."""

    @staticmethod
    def forward(ctx, x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                bias: Tensor) -> Tensor:
        return deform_conv2d(x, offset, weight, bias, stride=1, padding=1, mask=mask)

    @staticmethod
    def symbolic(g, x, offset, mask, weight, bias):
        if g.opset < DEFORM_CONV_OPSET:
            raise ValueError(
                f"DCN export form 'deform_conv' needs ONNX opset >= {DEFORM_CONV_OPSET} "
                f'(DeformConv), the export uses opset {g.opset}: raise opset_version or use '
                "the 'gather' form")
        return g.op('DeformConv', x, weight, offset, bias, mask, kernel_shape_i=[3, 3],
                    pads_i=[1, 1, 1, 1], strides_i=[1, 1], dilations_i=[1, 1], group_i=1,
                    offset_group_i=1)


def _dcn_grid_sample(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """Sample the taps on a channels-last input, then one product per tap. -> (B, H, W, C_out)."""
    b, c, h, w = x.shape
    c_out = weight.shape[0]
    x_cl = x.contiguous(memory_format=torch.channels_last)
    w_taps = weight.permute(2, 3, 1, 0).reshape(9, c, c_out)  # tap k = 3i + j: (C, C_out)
    s = _sample_taps(x_cl, _tap_grid(offset, h, w), mask)
    out = s[:, 0] @ w_taps[0]
    for k in range(1, 9):  # no in-place writes: one graph for autograd
        out = out + s[:, k] @ w_taps[k]
    return out.view(b, h, w, c_out)


def _dcn_gather(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                gemm_dtype: Optional[torch.dtype] = None) -> Tensor:
    """Multiply first, ``Y[(b, p), k] = x[b, :, p] @ W_k`` (one (H*W, C) x (C, 9*C_out) GEMM),
    then gather: bilinear interpolation is linear, so this equals sampling first; it costs the
    (H*W*9, C_out) buffer. ``gemm_dtype`` (e.g. bfloat16): the GEMM and the gather in that
    dtype, the output in ``x``'s dtype. -> (B, H, W, C_out)."""
    b, c, h, w = x.shape
    c_out = weight.shape[0]
    rows = x.permute(0, 2, 3, 1).reshape(b * h * w, c)
    w_mat = weight.permute(1, 2, 3, 0).reshape(c, 9 * c_out)
    if gemm_dtype is not None:
        rows, w_mat = rows.to(gemm_dtype), w_mat.to(gemm_dtype)
    # autograd keeps y for backward (also for the offsets' and mask's gradients alone)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (rows, w_mat, offset, mask))
    buf = None if grad else _product_buffer(rows.shape[0], w_mat.shape[1], rows)
    y = torch.mm(rows, w_mat) if buf is None else torch.mm(rows, w_mat, out=buf)
    index, bag_weight = _bilinear_tap_bags(offset, mask, gather_index_dtype(y.shape[0] * 9))
    out = F.embedding_bag(index, y.view(b * h * w * 9, c_out),
                          per_sample_weights=bag_weight.to(y.dtype), mode='sum')
    return out.view(b, h, w, c_out).to(x.dtype)


def modulated_deform_conv3x3(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                             bias: Optional[Tensor], impl: str = 'auto',
                             gemm_dtype: Optional[torch.dtype] = None,
                             train_gather_mb: float = 0) -> Tensor:
    """Modulated deformable 3x3 convolution (stride 1, padding 1, one offset group).

    Tap k = 3i + j samples ``x`` bilinearly at ``(y + i - 1 + Δy_k, x + j - 1 + Δx_k)`` with
    zeros outside the image, times ``mask_k``; the taps' samples are multiplied by
    ``W[:, :, i, j]`` and summed (DCNv2 / torchvision semantics).

    Args:
        x (Tensor): (B, C, H, W). offset (Tensor): (B, 18, H, W), interleaved (Δy, Δx) per tap.
        mask (Tensor): (B, 9, H, W). weight (Tensor): (C_out, C, 3, 3).
        bias (Tensor, optional): (C_out,).
        impl (str): one of :data:`DCN_IMPLS`, resolved by :func:`select_dcn_impl`.
        gemm_dtype (torch.dtype, optional): the 'gather' path's product in this dtype
            (reduced-precision inference); sampling positions and weights stay as given.
        train_gather_mb (float): 'auto' trains on CPU with 'gather' while its product buffer
            (B*H*W*9*C_out values) stays within this many MiB, else with 'torchvision'.

    Returns:
        Tensor: (B, C_out, H, W); channels-last memory for 'grid_sample' / 'gather'.
    """
    grads = (x, offset, mask, weight) + ((bias, ) if bias is not None else ())
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in grads)
    b, _, h, w = x.shape
    gather_bytes = b * h * w * 9 * weight.shape[0] * x.element_size()
    chosen = select_dcn_impl(impl, x.device.type, needs_grad, is_exporting(), gather_bytes,
                             train_gather_mb * 2**20)
    if chosen == 'torchvision':
        return deform_conv2d(x, offset, weight, bias, stride=1, padding=1, mask=mask)
    if chosen == 'export':
        if _export_form[0] == 'deform_conv':
            return _OnnxDeformConv.apply(x, offset, mask, weight,
                                         weight.new_zeros(weight.shape[0]) if bias is None
                                         else bias)
        export = _dcn_export_gather if _export_form[0] == 'gather' else _dcn_export
        out = export(x, offset, mask, weight)
        return out if bias is None else out + bias.view(1, -1, 1, 1)
    if chosen == 'gather':
        out = _dcn_gather(x, offset, mask, weight, gemm_dtype)
    else:
        out = _dcn_grid_sample(x, offset, mask, weight)
    if bias is not None:
        # in place at inference: the gather's output is fresh (no second (B, H, W, C) buffer)
        out = out + bias if needs_grad else out.add_(bias)
    return out.permute(0, 3, 1, 2)


class ModulatedDeformConv3x3(nn.Module):
    """DCNv2 3x3 with its own offset/mask predictor, then optional norm and ReLU.

    ``conv_offset`` outputs 27 channels: the first 18 are the offsets (interleaved Δy, Δx per
    tap, the layout of DCNv2, Detectron2, mmcv and torchvision) and ``sigmoid`` of the last 9 is
    the modulation mask. Under autocast (AMP) the offsets and the deformable conv run in
    float32: torchvision's CPU kernel has no bfloat16 and sampling positions need the precision;
    only the 'gather' inference path runs its product at the autocast dtype.

    Args:
        in_channels, out_channels (int): channels.
        bias (bool): bias of the deformable conv.
        norm_cfg (dict, optional): e.g. ``dict(type='GN', num_groups=32)``; applied after the
            conv, before the activation.
        act (bool): ReLU at the end.
        zero_init_offset (bool): start with zero offsets and mask 0.5 (mmcv's init); the
            official code uses PyTorch's default conv init. Defaults to True.
        impl (str): one of :data:`DCN_IMPLS` (default 'auto', see :func:`select_dcn_impl`).
        train_gather_mb (float): the largest 'gather' buffer (MiB) that 'auto' keeps for a CPU
            backward; larger calls train with 'torchvision' (slower backward, less memory).
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 norm_cfg: Optional[dict] = None, act: bool = True,
                 zero_init_offset: bool = True, impl: str = 'auto',
                 train_gather_mb: float = 1024) -> None:
        super().__init__()
        if impl not in DCN_IMPLS:
            raise ValueError(f'impl must be one of {DCN_IMPLS}, got {impl!r}')
        self.impl = impl
        self.train_gather_mb = train_gather_mb
        self.conv_offset = nn.Conv2d(in_channels, 27, 3, padding=1, bias=True)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=1)
        if zero_init_offset:
            nn.init.zeros_(self.conv_offset.weight)
            nn.init.zeros_(self.conv_offset.bias)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg else None
        self.act = nn.ReLU(inplace=True) if act else None

    def _offset_conv(self, x: Tensor) -> Tensor:
        """``conv_offset(x)``: (B, 27, H, W). CPU inference pads the conv to
        :data:`OFFSET_CONV_CPU_CHANNELS` outputs with zero filters and keeps the first 27
        (same values; oneDNN's blocked kernels run 27 outputs ~1.5x slower than 32)."""
        conv = self.conv_offset
        pad = OFFSET_CONV_CPU_CHANNELS - conv.out_channels
        if pad <= 0 or x.device.type != 'cpu' or torch.is_grad_enabled() or is_exporting():
            return conv(x)
        weight = F.pad(conv.weight, (0, 0, 0, 0, 0, 0, 0, pad))
        bias = None if conv.bias is None else F.pad(conv.bias, (0, pad))
        return F.conv2d(x, weight, bias, conv.stride, conv.padding)[:, :conv.out_channels]

    def _deform(self, x: Tensor, gemm_dtype: Optional[torch.dtype] = None) -> Tensor:
        out = self._offset_conv(x)
        offset = out[:, :18]
        mask = out[:, 18:].sigmoid()
        return modulated_deform_conv3x3(x, offset, mask, self.weight, self.bias, self.impl,
                                        gemm_dtype, self.train_gather_mb)

    def forward(self, x: Tensor) -> Tensor:
        dev = x.device.type
        if torch.is_autocast_enabled(dev) and not is_exporting():
            # offsets, masks and training in fp32; at inference the GEMM at the autocast dtype
            low = None if torch.is_grad_enabled() else torch.get_autocast_dtype(dev)
            with autocast_off(dev):
                x = self._deform(x.float(), low)
        else:
            x = self._deform(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x
