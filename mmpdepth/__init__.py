"""mmpdepth: depth-aware panoptic segmentation (PanopticDepth) for OpenMMLab 2.x.

Importing the package checks the installed OpenMMLab stack (a warning with the fix, never a
hard assert), makes local checkpoint loading safe (see :mod:`mmpdepth.engine.checkpoint_safety`)
and registers every component into mmdet's registries.
"""
from .utils.dependency_check import warn_if_unsupported
from .version import __version__, version_info

warn_if_unsupported()

from . import apis, datasets, engine, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'version_info']
