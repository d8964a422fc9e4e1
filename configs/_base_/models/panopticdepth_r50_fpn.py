# PanopticDepth, ResNet-50 + FPN (P2-P7), the official DPS architecture (42,614,643 parameters).
# Official input convention: BGR image minus the RGB-ordered ImageNet mean, std 1
# (see README "paper vs official code"). custom_imports lives in default_runtime.py.

num_classes = 19
thing_class_ids = (11, 12, 13, 14, 15, 16, 17, 18)
depth_cfg = dict(mode='official', embed_channels=16, d_max=88.0, clamp=(0.0, 80.0))

model = dict(
    type='PanopticDepth',
    data_preprocessor=dict(
        type='DPSDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32,
        seg_pad_value=255),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=None),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_output',
        relu_before_extra_convs=True,
        num_outs=6),
    panoptic_head=dict(
        type='PanopticDepthHead',
        num_classes=num_classes,
        thing_class_ids=thing_class_ids,
        in_channels=256,
        feat_channels=256,
        mask_embed_channels=256,
        # DCNv2 per device and mode: torchvision's deform_conv2d in training (memory-lean
        # backward), multiply-then-gather for CPU inference, standard ops when exporting;
        # embed_with_cp / tower_with_cp: activation checkpointing (README "Training on GPUs")
        dcn_impl='auto',
        embed_with_cp=False,
        tower_with_cp=False,
        semantic_fpn=dict(type='SemanticFPNFusion', in_channels=256, channels=256),
        depth=depth_cfg,
        kernel_fusion=dict(
            type='AdaptiveKernelFusion',
            stuff_pooling='official',
            stuff_prob_thr=0.4,
            stuff_score_thr=0.1,
            sim_thr=0.97,
            class_specific=True),
        loss_center=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                         reduction='sum', loss_weight=1.0),
        loss_region=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                         reduction='sum', loss_weight=1.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=False, activate=False, naive_dice=False,
                       eps=5e-9, reduction='sum', loss_weight=4.0),
        loss_depth=dict(type='InstanceDepthLoss', si_weight=5.0, loss_weight=5.0,
                        instance_weight=1.0)),
    # num_classes, thing_class_ids and depth come from panoptic_head (set them there only)
    panoptic_fusion_head=dict(type='PanopticDepthFusionHead'),
    train_cfg=dict(
        pos_num=7,
        instance_scales=((1, 128), (64, 256), (128, 512), (256, 1024), (512, 2048)),
        gaussian_sigma=3.0,
        min_overlap=0.7,
        shift_target='mean'),
    test_cfg=dict(
        head=dict(center_pool_sizes=(3, 3, 3, 5, 5), center_top_num=100, center_thr=0.01),
        fusion=dict(
            merge_mode='dps',
            mask_thr=0.5,
            min_rescored_score=0.05,
            max_per_img=200,
            combine_inst_thr=0.2,
            overlap_thr=0.5,
            stuff_area_limit=2048,
            depth_embed_resize='crop',
            label_divisor=1000,
            void_label=255)))
