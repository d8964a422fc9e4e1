"""The one guarded image reader: a size check on the header before anything is decoded.

A small file can declare a huge image (a "decompression bomb": e.g. a 100 kB PNG of
100000 x 100000 px would need 30 GB decoded). :func:`read_image` reads the declared size
first (PIL reads the header only) and refuses images above :func:`max_image_pixels`
(default :data:`DEFAULT_MAX_IMAGE_PIXELS` = 2**27, about 134 megapixels, 11585 x 11585; the
environment variable ``MMPDEPTH_MAX_IMAGE_PIXELS`` sets another limit) with a ``ValueError``
naming the file, its size and the limit. Folder tools report such a file and go on with the
others.
"""
import os
import warnings
from typing import Optional, Tuple

import numpy as np

#: largest width * height decoded (about 134 megapixels); see the module docstring
DEFAULT_MAX_IMAGE_PIXELS = 2**27
#: environment variable that sets another limit (an integer number of pixels)
MAX_PIXELS_ENV = 'MMPDEPTH_MAX_IMAGE_PIXELS'


def max_image_pixels() -> int:
    """The pixel-count limit: ``$MMPDEPTH_MAX_IMAGE_PIXELS`` or the default."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f'{MAX_PIXELS_ENV}={text!r}: expected a positive integer number of '
                         'pixels') from None
    if value < 1:
        raise ValueError(f'{MAX_PIXELS_ENV}={text!r}: expected a positive integer')
    return value


def declared_size(path: str) -> Optional[Tuple[int, int]]:
    """(width, height) from the file's header without decoding it; None if PIL cannot
    identify the format (the decoder will then say what is wrong)."""
    from PIL import Image
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we check ourselves
        try:
            with Image.open(path) as img:
                return img.size
        except Exception:  # noqa: BLE001 - unknown / broken header: left to the decoder
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = old


def check_image_size(path: str, max_pixels: Optional[int] = None) -> None:
    """Raise ``ValueError`` naming ``path`` if its declared size is above the limit."""
    limit = max_image_pixels() if max_pixels is None else max_pixels
    size = declared_size(path)
    if size is not None and size[0] * size[1] > limit:
        raise ValueError(f'{path}: declares {size[0]}x{size[1]} px '
                         f'({size[0] * size[1] / 1e6:.0f} megapixels), above the limit of '
                         f'{limit / 1e6:.0f} megapixels (a corrupt or hostile file?); set '
                         f'{MAX_PIXELS_ENV} to decode larger images')


def read_image(path: str, flags: Optional[int] = None,
               max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image file with OpenCV (``cv2.IMREAD_UNCHANGED`` by default: 16-bit and
    alpha kept, BGR channel order) after :func:`check_image_size`; ``ValueError`` naming the
    file for anything that is not a readable image."""
    import cv2
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    check_image_size(path, max_pixels)
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED if flags is None else flags)
    except cv2.error as e:
        raise ValueError(f'{path}: cannot be decoded ({" ".join(str(e).split())[:160]})') \
            from None
    if img is None:
        raise ValueError(f'{path}: not an image (or a broken file)')
    return img
