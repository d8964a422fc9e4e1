"""Class names and palettes of the DPS benchmarks; ids, void and the thing / stuff split come
from the annotation formats (:mod:`mmpdepth.formats`)."""
from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, SEMKITTI_DVPS_FORMAT

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')
CITYSCAPES_PALETTE = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
                      (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
                      (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
                      (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
                      (0, 0, 230), (119, 11, 32)]

#: Cityscapes(-DVPS) metainfo: trainIds 0-10 stuff, 11-18 things
CITYSCAPES_DPS_METAINFO = dict(
    classes=CITYSCAPES_CLASSES,
    thing_classes=CITYSCAPES_CLASSES[11:],
    stuff_classes=CITYSCAPES_CLASSES[:11],
    thing_ids=CITYSCAPES_DVPS_FORMAT.thing_ids,
    stuff_ids=CITYSCAPES_DVPS_FORMAT.stuff_ids,
    palette=CITYSCAPES_PALETTE,
    label_divisor=CITYSCAPES_DVPS_FORMAT.label_divisor,
    void_category=CITYSCAPES_DVPS_FORMAT.void_category,
    ignore_index=CITYSCAPES_DVPS_FORMAT.ignore_index,
    dvps_protocol='cityscapes-dvps')

SEMKITTI_CLASSES = ('car', 'bicycle', 'motorcycle', 'truck', 'other-vehicle', 'person',
                    'bicyclist', 'motorcyclist', 'road', 'parking', 'sidewalk', 'other-ground',
                    'building', 'fence', 'vegetation', 'trunk', 'terrain', 'pole', 'traffic-sign')
# semantic-kitti.yaml colours are BGR; these are RGB
SEMKITTI_PALETTE = [(100, 150, 245), (100, 230, 245), (30, 60, 150), (80, 30, 180), (0, 0, 255),
                    (255, 30, 30), (255, 40, 200), (150, 30, 90), (255, 0, 255), (255, 150, 255),
                    (75, 0, 75), (175, 0, 75), (255, 200, 0), (255, 120, 50), (0, 175, 0),
                    (135, 60, 0), (150, 240, 80), (255, 240, 150), (255, 0, 0)]

#: SemKITTI-DVPS metainfo: classes 0-7 things, 8-18 stuff, ignore 255
SEMKITTI_DPS_METAINFO = dict(
    classes=SEMKITTI_CLASSES,
    thing_classes=SEMKITTI_CLASSES[:8],
    stuff_classes=SEMKITTI_CLASSES[8:],
    thing_ids=SEMKITTI_DVPS_FORMAT.thing_ids,
    stuff_ids=SEMKITTI_DVPS_FORMAT.stuff_ids,
    palette=SEMKITTI_PALETTE,
    label_divisor=SEMKITTI_DVPS_FORMAT.label_divisor,
    void_category=SEMKITTI_DVPS_FORMAT.void_category,
    ignore_index=SEMKITTI_DVPS_FORMAT.ignore_index,
    dvps_protocol='semkitti-dvps')
