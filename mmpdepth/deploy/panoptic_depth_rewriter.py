"""mmdeploy function rewriter: the exported graph ends at fixed-size candidates.

``PanopticDepth.forward`` becomes image -> backbone -> FPN -> head maps and embeddings ->
:meth:`PanopticDepthHead.candidates_by_feat` (top-K centre peaks per level with their kernels,
every stuff class with its pooled kernel), returned as a flat tuple in
:func:`~mmpdepth.deploy.candidate_io.flatten_candidates` order. Thresholds, kernel fusion and
the panoptic / depth merge have data-dependent shapes and run in Python
(:class:`~mmpdepth.deploy.PanopticDepthBackendModel`).
"""
from mmdeploy.core import FUNCTION_REWRITER

from .candidate_io import flatten_candidates


@FUNCTION_REWRITER.register_rewriter(
    'mmpdepth.models.detectors.panoptic_depth.PanopticDepth.forward')
def panoptic_depth__forward(self, inputs, data_samples=None, mode='tensor', **kwargs):
    """(B, 3, H, W) preprocessed images -> tuple of candidate tensors."""
    outs = self.panoptic_head(self.extract_feat(inputs))
    return tuple(flatten_candidates(self.panoptic_head.candidates_by_feat(outs)).values())
