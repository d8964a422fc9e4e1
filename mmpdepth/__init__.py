"""mmpdepth: depth-aware panoptic segmentation (PanopticDepth) for OpenMMLab 2.x.

Importing the package checks the installed OpenMMLab stack (a warning with the fix, never a
hard assert), drops known-harmless upstream log messages (:mod:`mmpdepth.utils.console_log`),
makes local checkpoint loading safe (see :mod:`mmpdepth.engine.checkpoint_safety`)
and registers every component into mmdet's registries.
"""
from .utils.dependency_check import warn_if_unsupported
from .version import __version__, version_info

warn_if_unsupported()

from . import apis, datasets, engine, evaluation, models, visualization  # noqa: E402,F401
from .utils.console_log import readable_console  # noqa: E402

readable_console()  # mmengine's default logger (used outside a Runner): no harmless noise

__all__ = ['__version__', 'version_info']
