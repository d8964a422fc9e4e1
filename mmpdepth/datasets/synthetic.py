"""Procedural street-like scenes with panoptic and metric depth ground truth.

Scenes are rendered with a pinhole camera (focal ``f`` px, horizon row ``y_h``, camera height
``cam_h`` m) so that geometry and depth agree: a ground pixel at row y has depth
``Z = f * cam_h / (y - y_h)``; an object of real height ``H`` at depth ``Z`` stands on the ground
row ``y_h + f * cam_h / Z`` and is ``f * H / Z`` px tall. Things are painted far to near, so near
objects occlude far ones. Files are written in the **Cityscapes-DVPS layout**
(``video_sequence/{split}/{seq:06d}_{frame:06d}_synthetic_..._{suffix}``), so
:class:`CityscapesDPSDataset` loads them unchanged. Each sequence has 6 frames of one scene with
moving objects (consistent instance ids), like Cityscapes-DVPS.

Classes use Cityscapes trainIds: road 0, sidewalk 1, building 2, pole 5, vegetation 8, sky 10,
person 11, car 13. Sky has no depth (0 = invalid), and a few random pixels are invalid too.
Everything is deterministic given the seed.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from mmpdepth.formats import CITYSCAPES_DVPS_FORMAT, write_depth_png

ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR = 0, 1, 2, 5, 8, 10, 11, 13
#: the scenes are written in the Cityscapes-DVPS format
DIVISOR = CITYSCAPES_DVPS_FORMAT.label_divisor
VOID_ID = CITYSCAPES_DVPS_FORMAT.void_id

BASE_COLOURS = {
    ROAD: (88, 88, 92), SIDEWALK: (170, 150, 160), BUILDING: (120, 100, 85), POLE: (60, 60, 60),
    VEGETATION: (60, 130, 50), SKY: (120, 170, 230)
}
CAR_COLOURS = [(200, 30, 30), (30, 60, 200), (230, 200, 40), (235, 235, 235), (40, 40, 40),
               (20, 140, 120)]
PERSON_COLOURS = [(60, 40, 120), (20, 120, 60), (150, 60, 30), (30, 30, 30)]


@dataclass
class SyntheticCamera:
    """Pinhole camera used for rendering; written to ``camera.json`` for point clouds."""
    fx: float
    fy: float
    cx: float
    cy: float
    height_m: float = 1.5

    def as_dict(self) -> Dict[str, float]:
        return dict(fx=self.fx, fy=self.fy, u0=self.cx, v0=self.cy, height_m=self.height_m)


def _noise(rng: np.random.Generator, shape: Tuple[int, int], scale: float) -> np.ndarray:
    """Low-frequency texture noise."""
    h, w = shape
    coarse = rng.normal(0, scale, (max(h // 8, 1) + 1, max(w // 8, 1) + 1))
    up = np.kron(coarse, np.ones((8, 8)))[:h, :w]
    return up + rng.normal(0, scale * 0.5, (h, w))


class SyntheticSceneRenderer:
    """Render one sequence of frames of a random street scene.

    Args:
        height, width: image size in pixels.
        rng: numpy random generator (determinism comes from its seed).
        thing_depth_range: (near, far) metres of the things' initial depths.
        with_poles: draw the 0-2 poles of the layout (False: the same scene without them;
            at small sizes they are 2-3 px wide, thinner than one stride-8 cell).
    """

    def __init__(self, height: int, width: int, rng: np.random.Generator,
                 thing_depth_range: Tuple[float, float] = (6.0, 45.0),
                 with_poles: bool = True):
        self.h, self.w = height, width
        self.rng = rng
        self.thing_depth_range = thing_depth_range
        self.with_poles = with_poles
        f = 0.9 * width
        self.horizon = int(round(height * rng.uniform(0.40, 0.48)))
        self.camera = SyntheticCamera(fx=f, fy=f, cx=width / 2, cy=self.horizon)
        self._make_layout()

    def _make_layout(self) -> None:
        rng, w = self.rng, self.w
        self.road_half_far = rng.uniform(0.02, 0.06) * w
        self.road_spread = rng.uniform(0.8, 1.4)
        # background: buildings / vegetation columns at far depths
        self.bg = []
        x = 0
        while x < w:
            bw = int(rng.integers(w // 10, w // 4))
            cls = BUILDING if rng.random() < 0.65 else VEGETATION
            depth = rng.uniform(35, 70)
            top = self.horizon - int(rng.uniform(0.15, 0.6) * self.horizon)
            self.bg.append((x, min(x + bw, w), cls, depth, max(top, 2),
                            rng.integers(-20, 20, 3)))
            x += bw
        self.poles = [(rng.uniform(0.05, 0.95) * w, rng.uniform(8, 30))
                      for _ in range(int(rng.integers(0, 3)))]
        if not self.with_poles:  # drawn all the same, so the rest of the scene is unchanged
            self.poles = []
        # things: (class, depth, lateral metres, size, colour, speed)
        self.things = []
        for _ in range(int(rng.integers(2, 7))):
            is_car = rng.random() < 0.65
            depth = rng.uniform(*self.thing_depth_range)
            lateral = rng.uniform(-7, 7)
            if is_car:
                size = (rng.uniform(1.4, 1.8), rng.uniform(1.7, 4.2))  # height, width (m)
                colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
            else:
                size = (rng.uniform(1.6, 1.9), rng.uniform(0.5, 0.7))
                colour = PERSON_COLOURS[int(rng.integers(len(PERSON_COLOURS)))]
            speed = rng.uniform(-0.6, 0.6)
            self.things.append([CAR if is_car else PERSON, depth, lateral, size, colour, speed])

    def render(self, t: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame t -> (rgb uint8 HxWx3, panoptic ids int32 HxW, depth float32 metres HxW)."""
        h, w, yh = self.h, self.w, self.horizon
        f = self.camera.fy
        cam_h = self.camera.height_m
        rng = np.random.default_rng(self.rng.integers(1 << 31) + t)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.zeros((h, w, 3), np.float64)
        ids = np.full((h, w), SKY * DIVISOR, np.int32)
        depth = np.zeros((h, w), np.float64)

        # sky gradient
        tsky = np.clip(yy / max(yh, 1), 0, 1)[..., None]
        img[:] = np.array(BASE_COLOURS[SKY]) * (1 - tsky) + np.array((200, 215, 235)) * tsky

        # ground: road in the middle, sidewalk outside
        below = yy > yh
        zg = np.where(below, f * cam_h / np.maximum(yy - yh, 1e-6), 0)
        xm = (xx + 0.5 - w / 2) / np.maximum(yy - yh, 1e-6)  # lateral metres / cam_h
        lateral_m = xm * cam_h
        road = below & (np.abs(lateral_m) < 4.5 * self.road_spread)
        ids[below] = SIDEWALK * DIVISOR
        ids[road] = ROAD * DIVISOR
        depth[below] = zg[below]
        for cls, mask in ((SIDEWALK, below & ~road), (ROAD, road)):
            img[mask] = BASE_COLOURS[cls]
        # lane dashes (texture only)
        dash = road & (np.abs(lateral_m) < 0.12) & ((zg.astype(np.int64) // 3) % 2 == 0)
        img[dash] = (230, 230, 230)

        # background columns
        for x0, x1, cls, d, top, tint in self.bg:
            m = (xx >= x0) & (xx < x1) & (yy >= top) & (yy <= yh + f * cam_h / d)
            m &= ~(below & (zg < d))
            ids[m] = cls * DIVISOR
            depth[m] = d
            img[m] = np.clip(np.array(BASE_COLOURS[cls]) + tint, 0, 255)
            if cls == BUILDING:  # windows
                win = m & ((yy.astype(int) // 6) % 3 == 0) & ((xx.astype(int) // 5) % 3 == 0)
                img[win] = img[win] * 0.6
        for px, d in self.poles:
            half = max(1.0, 0.15 * f / d / 2)
            bottom = yh + f * cam_h / d
            m = (np.abs(xx - px) <= half) & (yy <= bottom) & (yy >= bottom - 6.0 * f / d)
            ids[m] = POLE * DIVISOR
            depth[m] = d
            img[m] = BASE_COLOURS[POLE]

        # things, far to near
        order = sorted(range(len(self.things)), key=lambda i: -self.things[i][1])
        for i in order:
            cls, d0, lat, (hm, wm), colour, speed = self.things[i]
            d = d0 + speed * t * 0.8
            if d < 4:
                continue
            cx = w / 2 + f * (lat + 0.15 * speed * t) / d
            bottom = yh + f * cam_h / d
            ph, pw = f * hm / d, f * wm / d
            m = (np.abs(xx + 0.5 - cx) <= pw / 2) & (yy <= bottom) & (yy >= bottom - ph)
            if cls == PERSON:  # a head: narrower top part
                head = m & (yy < bottom - 0.8 * ph) & (np.abs(xx + 0.5 - cx) > pw * 0.3)
                m &= ~head
            if not m.any():
                continue
            ids[m] = cls * DIVISOR + (i + 1)
            # slight depth variation over the object (front face slanting)
            depth[m] = d + 0.3 * wm * np.abs(xx[m] + 0.5 - cx) / max(pw, 1)
            img[m] = colour
            if cls == CAR:
                win = m & (yy < bottom - 0.6 * ph) & (np.abs(xx + 0.5 - cx) < pw * 0.4)
                img[win] = (40, 50, 60)
                wheel = m & (yy > bottom - 0.18 * ph)
                img[wheel] = (15, 15, 15)
            else:
                face = (yy >= bottom - ph) & (yy < bottom - 0.8 * ph) & m
                img[face] = (230, 190, 160)

        # texture, noise, shading with distance
        img += _noise(rng, (h, w), 6.0)[..., None]
        img *= (1.0 - 0.25 * np.clip(depth / 80.0, 0, 1))[..., None]
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)

        # sky has no depth; a few random invalid pixels; cap like Cityscapes-DVPS
        depth[ids == SKY * DIVISOR] = 0.0
        depth[rng.random((h, w)) < 0.02] = 0.0
        depth = np.clip(depth, 0, 80.0)
        return img, ids, depth.astype(np.float32)


def write_synthetic_dps(out_dir: str,
                        num_train_seqs: int = 12,
                        num_val_seqs: int = 4,
                        frames_per_seq: int = 6,
                        height: int = 256,
                        width: int = 512,
                        seed: int = 0,
                        thing_depth_range: Tuple[float, float] = (6.0, 45.0),
                        with_poles: bool = True) -> Dict[str, List[str]]:
    """Write a synthetic Cityscapes-DVPS-layout set; returns the written image paths per split.

    Layout: ``out_dir/video_sequence/{train,val}/{seq:06d}_{frame:06d}_synthetic_{seq:06d}_
    {frame:06d}_{leftImg8bit,gtFine_instanceTrainIds,depth}.png`` and ``out_dir/camera.json``.
    Existing files with the same names are overwritten; nothing else is touched.
    """
    rng = np.random.default_rng(seed)
    written: Dict[str, List[str]] = {}
    seq_id = 0
    camera = None
    for split, n in (('train', num_train_seqs), ('val', num_val_seqs)):
        d = osp.join(out_dir, 'video_sequence', split)
        os.makedirs(d, exist_ok=True)
        written[split] = []
        for _ in range(n):
            renderer = SyntheticSceneRenderer(height, width,
                                              np.random.default_rng(rng.integers(1 << 31)),
                                              thing_depth_range, with_poles)
            camera = camera or renderer.camera
            for t in range(frames_per_seq):
                img, ids, depth = renderer.render(t)
                stem = f'{seq_id:06d}_{t:06d}_synthetic_{seq_id:06d}_{t:06d}'
                Image.fromarray(img).save(osp.join(d, f'{stem}_leftImg8bit.png'))
                Image.fromarray(ids.astype(np.uint16)).save(
                    osp.join(d, f'{stem}_gtFine_instanceTrainIds.png'))
                write_depth_png(osp.join(d, f'{stem}_depth.png'), depth)
                written[split].append(osp.join(d, f'{stem}_leftImg8bit.png'))
            seq_id += 1
    if camera is not None:
        cam = camera.as_dict()
        cam['note'] = ('pinhole intrinsics of the synthetic renderer; the principal point row '
                       'varies per sequence (horizon), this is the first sequence')
        with open(osp.join(out_dir, 'camera.json'), 'w') as f:
            json.dump(cam, f, indent=2)
    return written
