"""mmpdepth's configs for configs outside the clone.

A wheel carries the repository's configs, tools and demo in ``mmpdepth/.mim/`` (an editable
install links them there), as the OpenMMLab packages do. Two ways to inherit a config of ours:

* ``_base_ = ['mmpdepth::panopticdepth/<name>.py']`` once ``mmpdepth`` is imported (our tools,
  ``mim`` and ``tools/train.py`` of mmdet do it first; in Python, ``import mmpdepth`` before
  ``Config.fromfile``): importing mmpdepth calls :func:`register_config_scope`;
* an absolute path, which needs no import: :func:`config_path`, or
  ``python -m mmpdepth.utils.package_configs panopticdepth/<name>.py``, prints it.

Run without an install (``PYTHONPATH`` at a clone), the clone's ``configs/`` is used.
"""
import os.path as osp
import sys

#: the ``mmpdepth`` package folder
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCOPE = 'mmpdepth'


def config_dir() -> str:
    """Folder of this installation's configs: ``mmpdepth/.mim/configs`` of a wheel or editable
    install, else ``configs/`` of the clone ``mmpdepth`` is imported from."""
    for path in (osp.join(PACKAGE_DIR, '.mim', 'configs'),
                 osp.join(osp.dirname(PACKAGE_DIR), 'configs')):
        if osp.isdir(path):
            return path
    raise FileNotFoundError(f'{PACKAGE_DIR}: this mmpdepth has no configs (neither .mim/configs '
                            'nor a clone\'s configs/); reinstall it from a wheel or a clone')


def config_path(name: str) -> str:
    """Absolute path of the config ``name`` (relative to ``configs/``), e.g.
    ``config_path('panopticdepth/panopticdepth_r50_fpn_8xb1-10k_cityscapes-dps.py')``."""
    path = osp.join(config_dir(), name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{name}: no such mmpdepth config (in {config_dir()})')
    return path


def register_config_scope() -> None:
    """Teach mmengine's config loader the ``mmpdepth::`` prefix.

    mmengine resolves ``pkg::path`` only for packages in ``MODULE2PACKAGE`` and looks for
    ``<installed package>/.mim/configs/path``; it finds the installed package with
    ``pkg_resources`` (gone from setuptools >= 82) through the distribution's location, which
    for an editable (PEP 660) install is site-packages, not the source folder. So ``mmpdepth``
    is added to the map, and mmengine's two lookups answer for ``mmpdepth`` with this imported
    package's folder (every other package goes to mmengine's own lookups). Idempotent.
    """
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault(SCOPE, SCOPE)
    answers = dict(is_installed=True, get_installed_path=PACKAGE_DIR)
    for name, answer in answers.items():
        lookup = getattr(config_module, name, None)
        if lookup is not None and not getattr(lookup, 'mmpdepth_aware', False):
            setattr(config_module, name, _answer_for_mmpdepth(lookup, answer))


def _answer_for_mmpdepth(lookup, answer):
    """``lookup(package)``, except that ``mmpdepth`` gets ``answer``."""

    def wrapped(package: str):
        return answer if package == SCOPE else lookup(package)

    wrapped.mmpdepth_aware = True
    wrapped.__name__ = lookup.__name__
    wrapped.__doc__ = lookup.__doc__
    return wrapped


def main(argv=None) -> int:
    """``python -m mmpdepth.utils.package_configs [NAME]``: print the configs folder or the
    absolute path of config NAME."""
    args = sys.argv[1:] if argv is None else argv
    try:
        print(config_path(args[0]) if args else config_dir())
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
