# Swin-T / Swin-S backbones (mmdet SwinTransformer) for PanopticDepth, as variables a Swin config
# puts into the model of panopticdepth_r50_fpn.py (no base of its own, so configs stay three
# levels deep):
#   model = dict(data_preprocessor={{_base_.swin_data_preprocessor}},
#                backbone={{_base_.swin_t}}, neck={{_base_.swin_neck}})
# The official code has no Swin recipe; input normalisation is the usual RGB ImageNet one for Swin
# weights. `swin_*` trains every layer from ImageNet weights (stage 1); `swin_*_finetune` freezes
# the patch embedding and the first stage (as res2 for R-50) and loads nothing (stages 2-3, which
# start from the previous stage's checkpoint).
swin_data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                              bgr_to_rgb=True)
swin_neck = dict(in_channels=[96, 192, 384, 768])
swin_t = dict(
    _delete_=True,
    type='SwinTransformer',
    embed_dims=96,
    depths=[2, 2, 6, 2],
    num_heads=[3, 6, 12, 24],
    window_size=7,
    mlp_ratio=4,
    qkv_bias=True,
    qk_scale=None,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.2,
    patch_norm=True,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    with_cp=False,
    convert_weights=True,
    init_cfg=dict(type='Pretrained', checkpoint='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'))  # noqa
swin_s = dict(
    swin_t, depths=[2, 2, 18, 2], drop_path_rate=0.3,
    init_cfg=dict(type='Pretrained', checkpoint='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_small_patch4_window7_224.pth'))  # noqa
swin_t_finetune = dict(swin_t, frozen_stages=1, init_cfg=None)
swin_s_finetune = dict(swin_s, frozen_stages=1, init_cfg=None)
