# Old name, kept so that commands and configs using it keep working; the config is
# now panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py (mmdet-style name).
_base_ = './panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
