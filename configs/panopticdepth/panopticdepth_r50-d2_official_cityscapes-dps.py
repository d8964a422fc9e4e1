# The official PanopticDepth R-50 DPS model, for checkpoints converted with
# tools/model_converters/panopticdepth_d2_to_mmpdepth.py. Architecture, input convention
# (BGR image minus the RGB-ordered mean, std 1, padded to 32) and every test constant are the
# official ones (PanopticDepth-R50-cityscapes-dps.yaml); the test pipeline has no resize.
# Verified against outputs of the official code (tests/test_models/test_official_parity.py).
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/datasets/cityscapes_dps.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
model = dict(test_cfg=dict(fusion=dict(depth_embed_resize='official')))
