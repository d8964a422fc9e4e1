"""Configs of ours for configs outside the clone: ``mmpdepth::`` bases after ``import mmpdepth``
(in-process, through mmengine's loader), absolute paths before it, and the ``mmpdepth`` scope
that such configs build their components in."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config
from mmengine.config import config as config_module
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import DefaultScope
from mmengine.registry import MODELS as MMENGINE_MODELS

from mmpdepth.registry import MMPDEPTH_SCOPE_REGISTRIES
from mmpdepth.utils import package_configs
from mmpdepth.utils.package_configs import config_dir, config_path, register_config_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = 'panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'


def test_config_dir_is_this_installations_configs():
    assert osp.samefile(config_dir(), osp.join(ROOT, 'configs'))
    assert osp.samefile(config_path(TINY), osp.join(ROOT, 'configs', TINY))
    with pytest.raises(FileNotFoundError, match='panopticdepth/nope.py: no such mmpdepth config'):
        config_path('panopticdepth/nope.py')


def test_import_registers_the_prefix_once_and_only_for_mmpdepth():
    assert MODULE2PACKAGE['mmpdepth'] == 'mmpdepth'
    lookup, installed = config_module.get_installed_path, config_module.is_installed
    register_config_scope()
    # idempotent: not wrapped twice
    assert config_module.get_installed_path is lookup and config_module.is_installed is installed
    assert lookup('mmpdepth') == package_configs.PACKAGE_DIR and installed('mmpdepth')
    assert not installed('surely_not_a_package_xyz')
    from mmengine.utils import get_installed_path
    assert lookup('mmdet') == get_installed_path('mmdet')


def test_prefix_needs_no_pkg_resources(tmp_path, monkeypatch):
    """setuptools >= 82 has no pkg_resources, which mmengine's package lookup imports."""
    monkeypatch.setitem(sys.modules, 'pkg_resources', None)  # import pkg_resources fails
    (tmp_path / 'mine.py').write_text(f"_base_ = ['mmpdepth::{TINY}']\n")
    assert Config.fromfile(str(tmp_path / 'mine.py')).model.type == 'PanopticDepth'


def test_user_config_inherits_ours_by_prefix_and_builds_in_the_mmpdepth_scope(tmp_path):
    (tmp_path / 'mine.py').write_text(textwrap.dedent(f"""
        _base_ = ['mmpdepth::{TINY}']
        train_cfg = dict(max_iters=5)
    """))
    cfg = Config.fromfile(str(tmp_path / 'mine.py'))
    ours = Config.fromfile(osp.join(ROOT, 'configs', TINY))
    assert cfg.train_cfg.max_iters == 5 and ours.train_cfg.max_iters != 5
    assert cfg.model.backbone.depth == ours.model.backbone.depth
    # components of an mmpdepth:: base are built in scope 'mmpdepth', through mmengine's root
    # registry as a Runner does: our model and mmdet's parts inside it are found
    assert cfg.model._scope_ == 'mmpdepth'
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMENGINE_MODELS.build(cfg.model)
    assert type(model).__name__ == 'PanopticDepth'
    assert type(model.backbone).__name__ == 'ResNet'


def test_scope_registries_hold_nothing_and_fall_through_to_mmdet():
    models = MMPDEPTH_SCOPE_REGISTRIES['MODELS']
    assert models.scope == 'mmpdepth' and models.parent.scope == 'mmdet'
    assert len(models.module_dict) == 0
    assert models.get('PanopticDepth').__name__ == 'PanopticDepth'
    assert models.get('FPN').__name__ == 'FPN'
    assert MMPDEPTH_SCOPE_REGISTRIES['DATASETS'].get('CityscapesDPSDataset') is not None
    assert MMPDEPTH_SCOPE_REGISTRIES['METRICS'].get('DPQMetric') is not None


def test_before_the_import_an_absolute_path_works_and_the_prefix_does_not(tmp_path, capsys):
    """mmengine reads ``_base_`` before ``custom_imports``: a fresh process that has not
    imported mmpdepth resolves an absolute path (as printed by ``python -m
    mmpdepth.utils.package_configs NAME``), not the ``mmpdepth::`` prefix."""
    assert package_configs.main([TINY]) == 0
    path = capsys.readouterr().out.strip()
    assert osp.isabs(path) and osp.samefile(path, osp.join(ROOT, 'configs', TINY))
    (tmp_path / 'by_path.py').write_text(f'_base_ = [{path!r}]\ntrain_cfg = dict(max_iters=3)\n')
    (tmp_path / 'by_prefix.py').write_text(f"_base_ = ['mmpdepth::{TINY}']\n")
    script = textwrap.dedent("""
        import sys
        from mmengine.config import Config
        try:
            Config.fromfile('by_prefix.py', import_custom_modules=False)
            print('prefix before the import: loaded')
        except AssertionError as e:
            print('prefix before the import: refused:', e)
        cfg = Config.fromfile('by_path.py', import_custom_modules=False)
        assert 'mmpdepth' not in sys.modules and cfg.train_cfg.max_iters == 3
        Config.fromfile('by_path.py')  # its custom_imports import mmpdepth
        assert 'mmpdepth' in sys.modules
        Config.fromfile('by_prefix.py')
        print('prefix after the import: loaded')
    """)
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'prefix before the import: refused: mmengine does not support to load mmpdepth' \
        in proc.stdout
    assert 'prefix after the import: loaded' in proc.stdout


def test_config_path_command_reports_a_missing_config(tmp_path):
    assert package_configs.main(['panopticdepth/nope.py']) == 2
    assert package_configs.main([]) == 0
