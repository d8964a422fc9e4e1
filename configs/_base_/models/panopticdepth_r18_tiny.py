# A tiny PanopticDepth (ResNet-18, 64-channel FPN and heads, plain convs) for CPU training on the
# synthetic set and for tests. Same components and losses as the R-50 model.
_base_ = './panopticdepth_r50_fpn.py'
tiny_norm = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(depth=18, style='pytorch', frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    panoptic_head=dict(
        in_channels=64, feat_channels=64, mask_embed_channels=64,
        semantic_fpn=dict(type='SemanticFPNFusion', in_channels=64, channels=64,
                          norm_cfg=tiny_norm),
        norm_cfg=tiny_norm,
        position_deform=False, encoder_deform=False, depth_kernel_deform=False,
        depth=dict(embed_channels=8)),
    test_cfg=dict(fusion=dict(stuff_area_limit=128)))
