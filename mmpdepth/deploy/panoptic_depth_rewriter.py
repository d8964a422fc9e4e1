"""mmdeploy function rewriter: the exported graph ends at fixed-size candidates.

``PanopticDepth.forward`` becomes image -> backbone -> FPN -> head maps and embeddings ->
:meth:`PanopticDepthHead.candidates_by_feat` (top-K centre peaks per level with their kernels,
every stuff class with its pooled kernel), returned as a flat tuple in
:func:`~mmpdepth.deploy.candidate_io.flatten_candidates` order. Thresholds, kernel fusion and
the panoptic / depth merge have data-dependent shapes and run in Python
(:class:`~mmpdepth.deploy.PanopticDepthBackendModel`).

The DCNv2 layers take the deploy config's ``codebase_config.dcn_export_form`` ('gather' when
absent; see :func:`~mmpdepth.models.layers.deform_conv.export_dcn_form`).
"""
from mmdeploy.core import FUNCTION_REWRITER

from mmpdepth.models.layers.deform_conv import (DCN_EXPORT_FORMS, DEFORM_CONV_OPSET,
                                                export_dcn_form)
from .candidate_io import flatten_candidates


def dcn_export_form_of(deploy_cfg) -> str:
    """The DCN export form a deploy config asks for (``codebase_config.dcn_export_form``,
    default 'gather'); ValueError for an unknown form or 'deform_conv' below opset 19."""
    form = deploy_cfg.get('codebase_config', {}).get('dcn_export_form', 'gather')
    opset = deploy_cfg.get('onnx_config', {}).get('opset_version', 11)
    if form not in DCN_EXPORT_FORMS:
        raise ValueError(f'deploy config: codebase_config.dcn_export_form must be one of '
                         f'{DCN_EXPORT_FORMS}, got {form!r}')
    if form == 'deform_conv' and opset < DEFORM_CONV_OPSET:
        raise ValueError(f"deploy config: codebase_config.dcn_export_form='deform_conv' needs "
                         f'onnx_config.opset_version >= {DEFORM_CONV_OPSET}, got {opset}')
    return form


@FUNCTION_REWRITER.register_rewriter(
    'mmpdepth.models.detectors.panoptic_depth.PanopticDepth.forward')
def panoptic_depth__forward(self, inputs, data_samples=None, mode='tensor', **kwargs):
    """(B, 3, H, W) preprocessed images -> tuple of candidate tensors."""
    ctx = FUNCTION_REWRITER.get_context()
    with export_dcn_form(dcn_export_form_of(ctx.cfg)):
        outs = self.panoptic_head(self.extract_feat(inputs))
    return tuple(flatten_candidates(self.panoptic_head.candidates_by_feat(outs)).values())
