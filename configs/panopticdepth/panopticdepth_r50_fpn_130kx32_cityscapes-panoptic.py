# Old name, kept so that commands and configs using it keep working; the config is
# now panopticdepth_r50_fpn_8xb4-130k_cityscapes-panoptic.py (mmdet-style name).
_base_ = './panopticdepth_r50_fpn_8xb4-130k_cityscapes-panoptic.py'
