"""A video file as a lazily read list of inferencer inputs (one sequence of frames)."""
import os.path as osp
from typing import Callable, List, Union

import numpy as np

#: file endings read as videos (OpenCV decodes them)
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')


def is_video_path(path) -> bool:
    return isinstance(path, str) and path.lower().endswith(VIDEO_EXTENSIONS)


class VideoFrames:
    """The frames of a video as inferencer items (``dict(img, name, img_path, notes)``),
    decoded on access (a sequence, not all in memory): ``len()``, ``frames[i]`` and slices,
    fastest in order. Frame ``i`` is named ``{video stem}_{i:06d}``.

    Args:
        path (str): video file (any format OpenCV reads).
        read_input (callable): ``(BGR array, index) -> item`` that checks the frame
            (:meth:`DPSInferencer.read_input`).
    """

    def __init__(self, path: str, read_input: Callable[[np.ndarray, int], dict]) -> None:
        import mmcv
        if not osp.isfile(path):
            raise ValueError(f'{path}: file not found')
        try:
            self.reader = mmcv.VideoReader(path)
        except (ValueError, OSError, AssertionError) as e:
            raise ValueError(f'{path}: cannot open the video ({e})') from None
        if not self.reader.opened or len(self.reader) == 0:
            raise ValueError(f'{path}: not a video OpenCV can read, or it has no frame')
        self.path, self.read_input = path, read_input
        self.stem = osp.splitext(osp.basename(path))[0]
        self.fps = float(self.reader.fps) or 10.0

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: Union[int, slice]) -> Union[dict, List[dict]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        frame = self.reader[index]
        if frame is None:
            raise ValueError(f'{self.path}: frame {index} cannot be decoded')
        item = self.read_input(frame, index)
        item.update(name=f'{self.stem}_{index:06d}', img_path=None)
        return item
