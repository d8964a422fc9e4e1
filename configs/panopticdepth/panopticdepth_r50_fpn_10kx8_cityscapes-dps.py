# Old name, kept so that commands and configs using it keep working; the config is
# now panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py (mmdet-style name).
# the previous stage's checkpoint is read from that stage's old-name work dir
_base_ = './panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py'
load_from = 'work_dirs/panopticdepth_r50_fpn_10kx8_cityscapes-panoptic-fsf/iter_10000.pth'
