"""Instance depth maps from depth kernels and the depth embedding (paper §3.3.1, Eq. 3-5)."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

#: depth modes: how a depth kernel [s, r, k] and the embedding E^d give metric depth
DEPTH_MODES = ('official', 'T1', 'T2', 'instance', 'pixel')


class InstanceDepthGenerator(nn.Module):
    """Turn depth kernels into instance depth maps.

    With ``D' = σ(k · E^d)`` (Eq. 3) and the kernel laid out as ``[s, r, k_1..k_e]``:

    * ``'official'`` — the released code: ``D = ReLU((2D' − 1) · d_max·σ(r) + d_max/2·σ(s))``;
      shift ``S = d_max/2 · σ(s)``.
    * ``'T1'`` — Eq. 4: ``D = d_max · (σ(r) · D' + σ(s))``; shift ``d_max·σ(s)`` (compared with the
      instance's **minimum** GT depth, variant C/E).
    * ``'T2'`` — Eq. 5: ``D = d_max · (σ(r) · (D' − 0.5) + σ(s))``; shift ``d_max·σ(s)`` (mean
      GT depth, variant D/F).
    * ``'instance'`` — variant B, instance-wise without normalisation: kernel ``[k]`` only,
      ``D = d_max · D'``; no shift.
    * ``'pixel'`` — variant A, no instance-wise depth: one dense map ``D = d_max · σ(E^d)`` with a
      1-channel embedding, the same for every segment; no kernel, no shift.

    Args:
        mode (str): one of :data:`DEPTH_MODES`. Defaults to 'official'.
        embed_channels (int): e^d, channels of E^d. Defaults to 16.
        d_max (float): d_max. Defaults to 88.
        clamp (tuple, optional): (min, max) applied by :meth:`clamp_output` at inference (the
            official code clamps to [0, 80]).
    """

    def __init__(self, mode: str = 'official', embed_channels: int = 16, d_max: float = 88.0,
                 clamp: Optional[Tuple[float, float]] = (0.0, 80.0)) -> None:
        super().__init__()
        if mode not in DEPTH_MODES:
            raise ValueError(f'unknown depth mode {mode!r}; choose from {DEPTH_MODES}')
        if mode == 'pixel' and embed_channels != 1:
            raise ValueError('pixel-wise depth (variant A) uses a 1-channel depth embedding')
        self.mode = mode
        self.embed_channels = embed_channels
        self.d_max = float(d_max)
        self.clamp = tuple(clamp) if clamp is not None else None

    @property
    def kernel_channels(self) -> int:
        """Length of a depth kernel (0: no depth-kernel head is needed)."""
        if self.mode == 'pixel':
            return 0
        if self.mode == 'instance':
            return self.embed_channels
        return self.embed_channels + 2

    @property
    def has_shift(self) -> bool:
        return self.mode in ('official', 'T1', 'T2')

    def shift(self, kernels: Tensor) -> Tensor:
        """Depth shift in metres of each kernel: (..., D) -> (...)."""
        s = kernels[..., 0].sigmoid()
        return s * (self.d_max / 2 if self.mode == 'official' else self.d_max)

    def forward(self, embed: Tensor, kernels: Optional[Tensor]) -> Tensor:
        """Depth maps in metres.

        Args:
            embed (Tensor): (E, H, W) depth embedding of one image.
            kernels (Tensor): (N, D) depth kernels (ignored in 'pixel' mode).

        Returns:
            Tensor: (N, H, W) depth maps (for 'pixel', (N or 1, H, W) copies of the dense map).
        """
        e, h, w = embed.shape
        if self.mode == 'pixel':
            n = 1 if kernels is None else max(kernels.shape[0], 1)
            return (embed.sigmoid() * self.d_max).expand(n, h, w)
        if self.mode == 'instance':
            return (kernels @ embed.reshape(e, -1)).sigmoid().reshape(-1, h, w) * self.d_max
        s, r, k = kernels[:, :1], kernels[:, 1:2], kernels[:, 2:]
        norm = (k @ embed.reshape(e, -1)).sigmoid().reshape(-1, h, w)  # Eq. 3: D'
        s = s.sigmoid()[..., None]
        r = r.sigmoid()[..., None]
        if self.mode == 'official':
            return torch.relu((norm * 2.0 - 1.0) * (r * self.d_max) + s * (self.d_max / 2))
        if self.mode == 'T1':
            return self.d_max * (r * norm + s)  # Eq. 4
        return self.d_max * (r * (norm - 0.5) + s)  # Eq. 5

    def clamp_output(self, depth: Tensor) -> Tensor:
        return depth if self.clamp is None else depth.clamp(self.clamp[0], self.clamp[1])
