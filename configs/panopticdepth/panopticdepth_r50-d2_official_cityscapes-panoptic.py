# The official PanopticDepth R-50 panoptic-only model (PanopticDepth-R50-cityscapes.yaml, no
# depth branches) for converted checkpoints: sequential paste with void, Cityscapes panoptic val.
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    panoptic_head=dict(depth=None),
    test_cfg=dict(fusion=dict(merge_mode='ps')))
