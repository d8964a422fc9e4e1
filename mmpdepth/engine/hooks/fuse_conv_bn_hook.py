"""Fold the model's BatchNorms into its convolutions before testing."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpdepth.models.conv_bn_fusion import fuse_conv_bn_for_inference
from mmpdepth.registry import HOOKS


@HOOKS.register_module()
class FuseConvBNHook(Hook):
    """Before the test loop (after the checkpoint is loaded), fold each BatchNorm of the
    backbone and neck into the conv before it (:func:`fuse_conv_bn_for_inference`):
    the same predictions up to float rounding, faster. ``tools/test.py --fuse-conv-bn``
    adds it. Test only: validation during training keeps the model as it is.
    """
    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        n = fuse_conv_bn_for_inference(runner.model)
        print_log(f'FuseConvBNHook: folded {n} BatchNorm layers into their convolutions',
                  logger='current')
