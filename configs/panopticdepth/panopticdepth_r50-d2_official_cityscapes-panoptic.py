# The official PanopticDepth R-50 panoptic-only model (PanopticDepth-R50-cityscapes.yaml, no
# depth branches) for converted checkpoints: sequential paste with void, Cityscapes panoptic val.
# Trained as the official stage 1: every layer trainable (FREEZE_AT 0) with SyncBN in training
# mode (batch statistics, momentum 0.1, eps 1e-5); one process falls back to plain BN.
_base_ = [
    '../_base_/models/panopticdepth_r50_fpn.py', '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/schedules/adam_poly.py', '../_base_/schedules/iters_10k.py',
    '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(frozen_stages=-1, norm_cfg=dict(type='SyncBN', requires_grad=True),
                  norm_eval=False),
    panoptic_head=dict(depth=None),
    test_cfg=dict(fusion=dict(merge_mode='ps')))
