# PanopticDepth with a Swin-S backbone (mmdet SwinTransformer) + FPN P2-P7.
_base_ = './panopticdepth_swin-t_fpn.py'
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_small_patch4_window7_224.pth'  # noqa
model = dict(backbone=dict(depths=[2, 2, 18, 2], drop_path_rate=0.3,
                           init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
