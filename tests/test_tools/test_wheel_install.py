"""mmpdepth as a package in someone else's environment: the wheel carries configs and tools
(``mmpdepth/.mim``), a user's config outside the clone inherits ours with ``mmpdepth::`` and
trains through the installed tools, and installing the wheel into an environment with newer
versions inside our ranges changes nothing there."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: what a wheel is built from (a copy, so the build writes nothing into the clone)
SOURCES = ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml', 'requirements', 'mmpdepth',
           'configs', 'tools', 'demo')
TINY = 'panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
STACK = sysconfig.get_paths()['purelib']  # this environment's site-packages: the stack


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f'{cmd[:4]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}' \
        f'\n{proc.stderr[-3000:]}'
    return proc


def copy_sources(dst):
    """The files a wheel or an editable install is made from (a copy: pip writes build files
    next to setup.py, and an editable install its links, never into the clone)."""
    dst.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for name in SOURCES:
        path = osp.join(ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, dst / name, ignore=ignore)
        else:
            shutil.copy(path, dst / name)
    return dst


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """mmpdepth's wheel, built with ``pip wheel --no-deps --no-build-isolation``."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = copy_sources(tmp / 'src')
    run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
         '-w', str(tmp / 'dist'), str(src)])
    assert not (src / 'mmpdepth' / '.mim').exists()  # copies go to the build folder only
    (whl, ) = (tmp / 'dist').glob('mmpdepth-*.whl')
    return whl


def new_env(path, sees_stack: bool = True):
    """A fresh venv (no pip of its own) that sees this environment's packages through a .pth
    holding the plain site-packages path: that folder's own .pth files (among them the
    editable install's finder, which maps ``mmpdepth`` to the clone) are not run."""
    run([sys.executable, '-m', 'venv', '--without-pip', str(path)])
    python = str(path / 'bin' / 'python')
    purelib = run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    site = purelib.stdout.strip()
    if sees_stack:
        with open(osp.join(site, 'zz_stack.pth'), 'w') as f:
            f.write(STACK + '\n')
    return python, site


def pip_into(python, *args):
    return run([sys.executable, '-m', 'pip', '--python', python, *args],
               env=dict(os.environ, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1'))


def test_wheel_carries_configs_tools_and_model_index(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'mmpdepth/.mim/model-index.yml' in names
    assert f'mmpdepth/.mim/configs/{TINY}' in names
    assert 'mmpdepth/.mim/configs/_base_/default_runtime.py' in names
    assert 'mmpdepth/.mim/configs/panopticdepth/metafile.yml' in names
    assert {'mmpdepth/.mim/tools/train.py', 'mmpdepth/.mim/tools/test.py',
            'mmpdepth/.mim/tools/analysis_tools/eval_dpq.py'} <= set(names)
    assert 'mmpdepth/.mim/demo/demo_synthetic.png' in names
    assert not [n for n in names if n.startswith('tests/') or '__pycache__' in n]
    meta = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    # ranges, not pins
    assert 'Requires-Dist: mmcv<2.2.0,>=2.0.0' in meta
    pins = [line for line in meta.splitlines()
            if line.startswith('Requires-Dist:') and '==' in line.split(';')[0]]
    assert pins == []


def test_user_config_outside_the_clone_inherits_ours_and_trains_with_the_installed_tools(
        wheel, tmp_path):
    python, site = new_env(tmp_path / 'venv')
    pip_into(python, 'install', '-q', '--no-deps', str(wheel))
    data = tmp_path / 'data'
    user = tmp_path / 'user'
    user.mkdir()
    (user / 'my_config.py').write_text(textwrap.dedent(f"""
        _base_ = ['mmpdepth::{TINY}']
        data_root = '{data}/'
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root=data_root))
        val_dataloader = None
        val_evaluator = None
        val_cfg = None
        test_dataloader = None
        test_evaluator = None
        test_cfg = None
        train_cfg = dict(max_iters=2)
        default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
    """))
    # one process: import the wheel's mmpdepth, load the config, build the model, then train
    # 2 iterations with the wheel's tools/train.py (run as a user runs it)
    (user / 'check.py').write_text(textwrap.dedent(f"""
        import runpy, sys
        import mmpdepth
        assert mmpdepth.__file__.startswith({site!r}), mmpdepth.__file__
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope
        from mmpdepth.datasets.synthetic import write_synthetic_dps
        write_synthetic_dps({str(data)!r}, num_train_seqs=1, num_val_seqs=1, frames_per_seq=2,
                            height=128, width=256, seed=5)
        cfg = Config.fromfile('my_config.py')
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        print('built', type(model).__name__, 'from', mmpdepth.__file__)
        tools = mmpdepth.__file__.replace('__init__.py', '.mim/tools/')
        sys.argv = [tools + 'train.py', 'my_config.py', '--work-dir', 'work_dir']
        runpy.run_path(sys.argv[0], run_name='__main__')
    """))
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH='')
    proc = subprocess.run([python, 'check.py'], cwd=user, capture_output=True, text=True,
                          env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert f'built PanopticDepth from {site}/mmpdepth/__init__.py' in out
    assert 'Iter(train) [2/2]' in out
    assert (user / 'work_dir' / 'iter_2.pth').is_file()
    assert not osp.exists(osp.join(ROOT, 'work_dir'))


def test_editable_install_links_configs_into_the_package(tmp_path):
    """``pip install -e`` (PEP 660: setup.py sees ``editable_wheel``, never ``develop``) links
    configs, tools, demo and model-index.yml into mmpdepth/.mim, and ``mmpdepth::`` finds
    them although the distribution's location is site-packages."""
    src = copy_sources(tmp_path / 'src')
    python, site = new_env(tmp_path / 'venv')
    pip_into(python, 'install', '-q', '--no-deps', '--no-build-isolation', '--use-pep517', '-e',
             str(src))
    mim = src / 'mmpdepth' / '.mim'
    for entry in ('configs', 'tools', 'demo', 'model-index.yml'):
        assert (mim / entry).is_symlink() and (mim / entry).samefile(src / entry)
    (tmp_path / 'mine.py').write_text(f"_base_ = ['mmpdepth::{TINY}']\n")
    script = textwrap.dedent("""
        import mmpdepth
        from mmengine.config import Config
        print(mmpdepth.__file__, Config.fromfile('mine.py').model.type)
    """)
    proc = run([python, '-c', script], cwd=tmp_path,
               env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=''))
    assert proc.stdout.split()[-2:] == [str(src / 'mmpdepth' / '__init__.py'), 'PanopticDepth']


def _fake_installed(site, name, version):
    """Metadata of an installed distribution (all pip looks at when resolving)."""
    info = osp.join(site, f'{name.replace("-", "_")}-{version}.dist-info')
    os.makedirs(info)
    with open(osp.join(info, 'METADATA'), 'w') as f:
        f.write(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    open(osp.join(info, 'RECORD'), 'w').close()


@pytest.mark.parametrize('newer', [
    {},
    {'numpy': '2.2.6', 'opencv-python': '4.12.0.88', 'matplotlib': '3.10.7'},
])
def test_installing_the_wheel_changes_nothing_the_environment_has(wheel, tmp_path, newer):
    """``pip install --dry-run --report`` of the wheel into this stack, and into this stack with
    newer NumPy (2.x) / OpenCV / Matplotlib inside our ranges: pip would install mmpdepth and
    nothing else (no index is reachable: any other need would fail the resolution)."""
    python, site = new_env(tmp_path / 'venv')
    for name, version in newer.items():
        _fake_installed(site, name, version)
    report = tmp_path / 'report.json'
    pip_into(python, 'install', '--dry-run', '--report', str(report), str(wheel))
    installs = json.loads(report.read_text())['install']
    assert [(i['metadata']['name'], i['metadata']['version']) for i in installs] == [
        ('mmpdepth', wheel.name.split('-')[1])]


def test_an_environment_outside_the_ranges_is_not_taken_as_is(wheel, tmp_path):
    """mmdet 3.3 refuses mmcv >= 2.2: with mmcv 2.2.0 installed, pip may not install the wheel
    beside it as it is: it fails naming mmcv (no index here), or replaces that mmcv."""
    python, site = new_env(tmp_path / 'venv')
    _fake_installed(site, 'mmcv', '2.2.0')
    report = tmp_path / 'report.json'
    proc = subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install',
                           '--dry-run', '--report', str(report), str(wheel)],
                          capture_output=True, text=True,
                          env=dict(os.environ, PIP_NO_INDEX='1'))
    if proc.returncode == 0:
        installs = {i['metadata']['name']: i['metadata']['version']
                    for i in json.loads(report.read_text())['install']}
        assert installs['mmcv'] < '2.2'
    else:
        assert 'mmcv' in proc.stdout + proc.stderr
