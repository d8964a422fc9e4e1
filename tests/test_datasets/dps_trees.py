"""Tiny dataset trees in each supported layout, written by the tests themselves."""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image


def block_maps(h=32, w=64, seed=0):
    """Blocky class / instance / depth maps (8x8 blocks) and an image encoding them.

    Image: R = 10 * class, G = 20 * instance, B = depth (metres, <= 80) -> alignment after
    geometric transforms can be checked from the image alone.
    """
    rng = np.random.default_rng(seed)
    bh, bw = h // 8, w // 8
    cls = rng.choice([0, 2, 8, 11, 13], (bh, bw)).repeat(8, 0).repeat(8, 1)
    inst = np.where(cls >= 11, rng.integers(1, 4, (bh, bw)).repeat(8, 0).repeat(8, 1), 0)
    depth = rng.uniform(5, 60, (bh, bw)).round().repeat(8, 0).repeat(8, 1)
    img = np.stack([cls * 10, inst * 20, depth], -1).astype(np.uint8)
    return img, cls, inst, depth


def write_cityscapes_dvps(root, n=2, h=32, w=64, void_corner=True, depth_dtype=np.uint16):
    d = osp.join(root, 'video_sequence', 'val')
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        img, cls, inst, depth = block_maps(h, w, seed=i)
        ids = cls * 1000 + inst
        if void_corner:
            ids[:4, :4] = 32000
        stem = f'{i // 6:06d}_{i % 6:06d}_city_000000_{i:06d}'
        Image.fromarray(img).save(osp.join(d, f'{stem}_leftImg8bit.png'))
        Image.fromarray(ids.astype(np.uint16)).save(
            osp.join(d, f'{stem}_gtFine_instanceTrainIds.png'))
        Image.fromarray((depth * 256).astype(depth_dtype) if depth_dtype != np.uint8
                        else depth.astype(np.uint8)).save(osp.join(d, f'{stem}_depth.png'))
    return d


def write_semkitti_dvps(root, n=2, h=32, w=64, focal=718.856):
    d = osp.join(root, 'video_sequence', 'val')
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        img, cls, inst, depth = block_maps(h, w, seed=10 + i)
        # re-map to SemKITTI classes: things 0-7, stuff 8-18
        kitti = np.select([cls == 0, cls == 2, cls == 8, cls == 11, cls == 13],
                          [8, 12, 14, 5, 0])
        kitti[:2, :2] = 255
        stem = f'{8:06d}_{i:06d}'
        Image.fromarray(img).save(osp.join(d, f'{stem}_leftImg8bit.png'))
        Image.fromarray(kitti.astype(np.uint8)).save(osp.join(d, f'{stem}_gtFine_class.png'))
        Image.fromarray(inst.astype(np.uint16)).save(osp.join(d, f'{stem}_gtFine_instance.png'))
        Image.fromarray((depth * 256).astype(np.uint16)).save(
            osp.join(d, f'{stem}_depth_{focal}.png'))
    return d


LABEL_ID = {0: 7, 2: 11, 8: 21, 11: 24, 13: 26}  # trainId -> Cityscapes labelId


def write_cityscapes_panoptic(root, n=2, h=32, w=64):
    img_dir = osp.join(root, 'leftImg8bit', 'val', 'city')
    pan_dir = osp.join(root, 'gtFine', 'cityscapes_panoptic_val')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(pan_dir, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        img, cls, inst, _ = block_maps(h, w, seed=20 + i)
        name = f'city_000000_{i:06d}'
        Image.fromarray(img).save(osp.join(img_dir, f'{name}_leftImg8bit.png'))
        seg_ids = np.zeros((h, w), np.int64)
        segments = []
        for c in np.unique(cls):
            for k in np.unique(inst[cls == c]):
                m = (cls == c) & (inst == k)
                sid = LABEL_ID[c] * 1000 + k if c >= 11 else LABEL_ID[c]
                crowd = int(c == 11 and k == 1)  # mark one thing segment as crowd
                if crowd:
                    sid = LABEL_ID[c]
                seg_ids[m] = sid
                segments.append(dict(id=int(sid), category_id=LABEL_ID[c], iscrowd=crowd))
        rgb = np.stack([seg_ids % 256, seg_ids // 256 % 256, seg_ids // 65536], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(osp.join(pan_dir, f'{name}_gtFine_panoptic.png'))
        images.append(dict(id=name, file_name=f'{name}_leftImg8bit.png', height=h, width=w))
        anns.append(dict(image_id=name, file_name=f'{name}_gtFine_panoptic.png',
                         segments_info=segments))
    with open(osp.join(root, 'gtFine', 'cityscapes_panoptic_val.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=[]), f)
