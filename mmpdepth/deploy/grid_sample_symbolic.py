"""Export ``grid_sample`` as the standard ONNX ``GridSample`` (opset >= 16) for ONNX Runtime.

mmdeploy 1.3.1 maps ``grid_sampler`` to its custom op ``mmdeploy::grid_sampler`` for every
backend, which ties the model to mmdeploy's custom-op library. ONNX Runtime has run the
standard op since 1.12, so for the ``onnxruntime`` backend and opset >= 16 we emit it (the DCNv2
layers of PanopticDepth sample with it); below opset 16 mmdeploy's op is kept.
"""
from mmdeploy.core import SYMBOLIC_REWRITER
from mmdeploy.pytorch.symbolics.grid_sampler import grid_sampler as mmdeploy_grid_sampler
from torch.onnx.symbolic_helper import parse_args

_MODES = ('bilinear', 'nearest', 'bicubic')
_PADDING = ('zeros', 'border', 'reflection')


@parse_args('v', 'v', 'i', 'i', 'i')
def _standard_grid_sample(g, input, grid, interpolation_mode, padding_mode, align_corners):
    return g.op('GridSample', input, grid, mode_s=_MODES[interpolation_mode],
                padding_mode_s=_PADDING[padding_mode], align_corners_i=int(align_corners))


@SYMBOLIC_REWRITER.register_symbolic('grid_sampler', backend='onnxruntime', is_pytorch=True)
def grid_sampler__onnxruntime(g, *args):
    """Standard ``GridSample`` when the export opset has it, else mmdeploy's custom op."""
    ctx = SYMBOLIC_REWRITER.get_context()
    if ctx.cfg.get('onnx_config', {}).get('opset_version', 11) >= 16:
        return _standard_grid_sample(g, *args)
    return mmdeploy_grid_sampler(g, *args)
