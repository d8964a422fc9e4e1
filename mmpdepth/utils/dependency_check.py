"""Check the installed OpenMMLab stack and explain, in plain words, how to fix it.

mmdet and mmcv assert versions at import time with terse messages; users of other
OpenMMLab projects hit the same problems on current PyTorch. This module only reads package
metadata (it imports nothing heavy), so it can run *before* mmdet is imported and tell the user
what to do instead of a bare ``AssertionError``. It never raises.
"""
import importlib.util
import warnings
from importlib import metadata
from typing import Dict, List, Optional

from packaging.version import InvalidVersion, Version

#: package -> (minimum inclusive, maximum exclusive, tested version)
SUPPORTED: Dict[str, tuple] = {
    'mmcv': ('2.0.0rc4', '2.2.0', '2.1.0'),
    'mmengine': ('0.7.1', '1.0.0', '0.10.7'),
    'mmdet': ('3.0.0', '3.4.0', '3.3.0'),
    'mmsegmentation': ('1.0.0', '2.0.0', '1.2.2'),
}

FIX_HINT = ('Run `make test` (or `bash tools/env/setup_env.sh`) from the mmpdepth checkout: it '
            'builds mmcv from source against your torch and installs the tested versions '
            '(see docs/en/get_started.md "Version matrix" and docs/en/faq.md).')


def _installed_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_dependencies(versions: Optional[Dict[str, Optional[str]]] = None,
                       has_mmcv_ops: Optional[bool] = None) -> List[str]:
    """Return human-readable problems with the installed stack (empty if all is fine).

    Args:
        versions: package -> installed version (``None`` = missing). Read from the environment
            when not given (tests pass their own).
        has_mmcv_ops: whether ``mmcv._ext`` (the compiled ops) is importable. Detected when not
            given.
    """
    if versions is None:
        versions = {name: _installed_version(name) for name in SUPPORTED}
        if versions.get('mmcv') is None and _installed_version('mmcv-lite'):
            versions['mmcv'] = 'lite:' + _installed_version('mmcv-lite')
    problems = []
    for name, (low, high, tested) in SUPPORTED.items():
        ver = versions.get(name)
        if ver is None:
            problems.append(f'{name} is not installed; mmpdepth was tested with {name}=={tested}.')
            continue
        if name == 'mmcv' and ver.startswith('lite:'):
            problems.append(
                f'mmcv-lite {ver[5:]} is installed, but mmdet imports the compiled ops '
                '(mmcv._ext) at import time. Uninstall mmcv-lite and build full mmcv '
                f'{tested} from source.')
            continue
        try:
            v = Version(ver)
        except InvalidVersion:
            problems.append(f'{name} has an unparsable version {ver!r}.')
            continue
        if not (Version(low) <= v < Version(high)):
            problems.append(f'{name} {ver} is outside the supported range [{low}, {high}); '
                            f'mmpdepth was tested with {name}=={tested}.')
    if has_mmcv_ops is None:
        has_mmcv_ops = (versions.get('mmcv') is not None
                        and importlib.util.find_spec('mmcv') is not None
                        and importlib.util.find_spec('mmcv._ext') is not None)
    mmcv_ver = versions.get('mmcv')
    if mmcv_ver is not None and not mmcv_ver.startswith('lite:') and not has_mmcv_ops:
        problems.append(f'mmcv {mmcv_ver} has no compiled ops (mmcv._ext is missing): it was '
                        'installed without MMCV_WITH_OPS=1. mmdet needs them.')
    return problems


def format_problems(problems: List[str]) -> str:
    """One message listing every problem and the fix."""
    lines = ['mmpdepth found problems with the installed OpenMMLab stack:']
    lines += [f'  - {p}' for p in problems]
    lines.append(FIX_HINT)
    return '\n'.join(lines)


def warn_if_unsupported() -> List[str]:
    """Emit one ``UserWarning`` describing every problem; return the problems."""
    problems = check_dependencies()
    if problems:
        warnings.warn(format_problems(problems), UserWarning, stacklevel=2)
    return problems
