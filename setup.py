"""mmpdepth: install with ``pip install .`` (or ``-e .``) into an OpenMMLab 2.x environment.

Like the OpenMMLab packages, a wheel carries ``mmpdepth/.mim/`` with the repository's configs,
tools, demo and ``model-index.yml``, so ``mim train mmpdepth CONFIG`` and configs that inherit
``mmpdepth::panopticdepth/<config>.py`` work without a clone. Wheels get copies (written into the
build folder only); an editable / develop install gets links in the source tree instead, so edits
to ``configs/`` show at once.
"""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: repository entries shipped inside the package as ``mmpdepth/.mim/<entry>``
MIM_ENTRIES = ('configs', 'tools', 'demo', 'model-index.yml')
#: setup commands of an editable install: ``develop`` (legacy) and ``editable_wheel`` (PEP 660,
#: which never has ``develop`` in sys.argv)
EDITABLE_COMMANDS = ('develop', 'editable_wheel')


def get_version() -> str:
    with open(osp.join(HERE, 'mmpdepth', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname: str) -> list:
    """Requirements of ``requirements/<fname>``: comments and blank lines left out, ``-r FILE``
    lines replaced by that file's requirements."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line.startswith('-r '):
                reqs += parse_requirements(line[3:].strip())
            elif line:
                reqs.append(line)
    return reqs


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def link_mim_entries() -> None:
    """Editable install: ``mmpdepth/.mim/<entry>`` -> ``../../<entry>`` (relative links)."""
    mim = osp.join(HERE, 'mmpdepth', '.mim')
    os.makedirs(mim, exist_ok=True)
    for entry in MIM_ENTRIES:
        dst = osp.join(mim, entry)
        if osp.islink(dst) and os.readlink(dst) == osp.join('..', '..', entry):
            continue
        _remove(dst)
        os.symlink(osp.join('..', '..', entry), dst)


def copy_mim_entries(package_dir: str) -> None:
    """Wheel: real copies in ``<package_dir>/.mim`` (``__pycache__`` left out)."""
    mim = osp.join(package_dir, '.mim')
    for entry in MIM_ENTRIES:
        src, dst = osp.join(HERE, entry), osp.join(mim, entry)
        _remove(dst)
        os.makedirs(mim, exist_ok=True)
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


class BuildPyWithMim(build_py):
    """build_py that also puts the ``.mim`` copies into the package of the build folder."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            copy_mim_entries(osp.join(self.build_lib, 'mmpdepth'))

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = super().get_outputs(include_bytecode)
        mim = osp.join(self.build_lib, 'mmpdepth', '.mim')
        for root, _, files in os.walk(mim):
            outputs += [osp.join(root, f) for f in files]
        return outputs


if any(cmd in sys.argv for cmd in EDITABLE_COMMANDS):
    link_mim_entries()

setup(
    name='mmpdepth',
    version=get_version(),
    description='Depth-aware panoptic segmentation (PanopticDepth) for OpenMMLab 2.x',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=('mmpdepth', 'mmpdepth.*')),
    python_requires='>=3.9',
    license='Apache License 2.0',
    install_requires=parse_requirements('runtime.txt') + parse_requirements('mminstall.txt'),
    extras_require={
        'mim': parse_requirements('mminstall.txt'),
        'tests': parse_requirements('tests.txt'),
        'deploy': parse_requirements('deploy.txt'),
    },
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
