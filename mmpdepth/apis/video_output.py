"""Predict one sequence of frames in order and write the mp4 and per-frame prediction files."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np


def predict_sequence(inferencer, source, out_dir: str, name: str, fps: float = 10.0,
                     max_depth: float = 80.0, progress: bool = True,
                     keep_layers: Optional[Sequence[int]] = None) -> dict:
    """Run ``inferencer`` (a :class:`DPSInferencer`) frame by frame over one sequence.

    The model's tracker (if its config has one) starts afresh, so things keep their ids and
    colours over the sequence. Frames are predicted and written one at a time (a long video
    is never held in memory).

    Args:
        source: a video file, a folder of frames or a list of image paths / arrays (in order).
        out_dir (str): gets ``{name}.mp4`` (image | panoptic | depth per frame) and
            ``preds/{panoptic,depth,segments}/`` (per-frame files, the dataset formats).
        fps (float): frame rate of the mp4.
        keep_layers (Sequence[int], optional): frame indices whose panoptic overlay (RGB) is
            returned, e.g. for a strip picture.

    Returns:
        dict: ``frames`` (number written), ``video`` (the mp4's path), ``layers``
        (index -> (H, W, 3) panoptic overlay).
    """
    from mmengine.utils import ProgressBar
    items, errors = inferencer.collect_inputs(source)
    if errors:
        raise ValueError(errors[0] if len(errors) == 1 else
                         f'{errors[0]} (and {len(errors) - 1} more unreadable frames)')
    inferencer.reset_tracker()
    os.makedirs(out_dir, exist_ok=True)
    video_path = osp.join(out_dir, f'{name}.mp4')
    writer, size, n, layers = None, None, 0, {}
    keep = set(keep_layers or ())
    bar = ProgressBar(len(items)) if progress else None
    try:
        for chunk, data in inferencer.preprocess(items, batch_size=1):
            samples = inferencer.forward(data)
            vis = inferencer.visualize(chunk, samples, no_save_vis=True, max_depth=max_depth)
            inferencer.postprocess(samples, vis, pred_out_dir=osp.join(out_dir, 'preds'),
                                   items=chunk)
            for v in vis:
                frame = np.ascontiguousarray(v['panel'][..., ::-1])
                if writer is None:
                    size = (frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2)  # even sides
                    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                             size)
                    if not writer.isOpened():
                        raise OSError(f'{video_path}: OpenCV cannot write an mp4 here')
                writer.write(frame[:size[1], :size[0]])
                if n in keep:
                    layers[n] = v['panoptic']
                n += 1
                if bar:
                    bar.update()
    finally:
        if writer is not None:
            writer.release()
        if bar:
            print()
    return dict(frames=n, video=video_path, layers=layers)


def frame_strip(rows: List[List[np.ndarray]], labels: Sequence[str], scale: float = 0.5,
                gap: int = 4) -> np.ndarray:
    """A picture of frames side by side, one row per variant, each row labelled on its left.

    Args:
        rows: per row, (H, W, 3) RGB pictures of equal size.
        labels: one text per row.
        scale: resize factor of the pictures.

    Returns:
        np.ndarray: (H', W', 3) uint8 RGB.
    """
    out_rows = []
    for pics, label in zip(rows, labels):
        small = [cv2.resize(p, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                 for p in pics]
        h = small[0].shape[0]
        tag = np.full((h, 120, 3), 255, np.uint8)
        y = h // 2 - 8 * (len(label.split('\n')) - 1)
        for line in label.split('\n'):
            cv2.putText(tag, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                        cv2.LINE_AA)
            y += 18
        parts = [tag]
        for p in small:
            parts += [p, np.full((h, gap, 3), 255, np.uint8)]
        out_rows += [np.concatenate(parts[:-1], 1),
                     np.full((gap, sum(x.shape[1] for x in parts[:-1]), 3), 255, np.uint8)]
    return np.concatenate(out_rows[:-1], 0)
