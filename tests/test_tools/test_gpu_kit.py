"""The GPU check kit on a CPU machine: bundle, install from it, the check's own code paths."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable


def _run(cmd, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED='1', **kw.pop('env', {}))
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1200,
                          **kw)


def test_gpu_check_without_cuda_says_so_and_fails(tmp_path):
    out = tmp_path / 'gpu_check.json'
    r = _run([PY, 'benchmarks/gpu_check.py', '--out', str(out)],
             env=dict(CUDA_VISIBLE_DEVICES=''))
    assert r.returncode == 3
    assert 'no CUDA device' in r.stderr and 'nothing was measured' in r.stderr
    assert 'Traceback' not in r.stderr
    assert not out.exists()


@pytest.mark.slow
def test_gpu_check_parts_run_on_cpu_in_smoke_mode(tmp_path):
    """Every part's code path, on tiny inputs on the CPU (the golden parity is the real one)."""
    out = tmp_path / 'gpu_check.json'
    r = _run([PY, 'benchmarks/gpu_check.py', '--device', 'cpu', '--smoke', '--out', str(out)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads(out.read_text())['rows']
    parts = [row['part'] for row in rows]
    assert parts == ['parity'] * 2 + ['train'] * 2 + ['infer'] * 2 + ['tiny']
    assert not [row for row in rows if 'error' in row]
    for row in rows[:2]:
        assert row["ok"] and row["same_segment_pct"] >= 99.9 and row["depth_p999_diff_m"] <= 5e-3
    assert all(row['memory_gb'] > 0 and row['step_s'] > 0 for row in rows[2:4])
    assert 'parity  tf32=False' in r.stdout and 'wrote' in r.stdout


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(('pypi.org', 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_bundle_builds_and_installs_into_a_temporary_target(tmp_path):
    cache = os.environ.get('MMPDEPTH_CACHE', osp.expanduser('~/.cache/mmpdepth'))
    wheels = glob.glob(osp.join(cache, f'mmcv-2.1.0-cpu-*-py{sys.version_info[0]}'
                                       f'{sys.version_info[1]}-*', 'mmcv-*.whl'))
    if not wheels:
        pytest.skip('no mmcv wheel built by setup_env.sh in the cache')
    if not _pypi_reachable():
        pytest.skip('PyPI not reachable (the bundle is made from PyPI)')
    bundle = tmp_path / 'bundle'
    pyver = f'{sys.version_info[0]}.{sys.version_info[1]}'  # this machine's, to install here
    r = _run(['bash', 'tools/misc/make_gpu_bundle.sh', str(bundle), '--python-version', pyver])
    assert r.returncode == 0, r.stderr[-3000:]
    size = sum(osp.getsize(p) for p in glob.glob(str(bundle / '**'), recursive=True)
               if osp.isfile(p))
    assert size < 60e6
    assert glob.glob(str(bundle / 'wheels' / 'mmdet-3.3.0-*.whl'))
    assert glob.glob(str(bundle / 'sdist' / 'mmcv-2.1.0.tar.gz'))
    # an existing bundle is not replaced without --overwrite
    r2 = _run(['bash', 'tools/misc/make_gpu_bundle.sh', str(bundle)])
    assert r2.returncode == 2 and '--overwrite' in r2.stderr
    out = tmp_path / 'out'
    r = _run(['bash', str(bundle / 'gpu_check.sh'), str(bundle), '--out', str(out)],
             env=dict(PYTHON=PY, MMCV_WHEEL=wheels[0], CUDA_VISIBLE_DEVICES=''))
    log = r.stdout + r.stderr
    assert r.returncode == 3, log[-3000:]  # installed, then: no CUDA device
    assert 'installed: mmcv 2.1.0' in log and 'mmdet 3.3.0' in log and 'mmseg 1.2.2' in log
    assert 'CUDA available: False' in log and 'no CUDA device' in log
    assert (out / 'gpu_check.log').exists() and not (out / 'gpu_check.json').exists()
    r3 = _run(['bash', str(bundle / 'gpu_check.sh'), str(bundle), '--out', str(out)],
              env=dict(PYTHON=PY, MMCV_WHEEL=wheels[0]))
    assert r3.returncode == 2 and '--overwrite' in r3.stderr
    (bundle / 'sdist' / 'mmcv-2.1.0.tar.gz').write_bytes(b'tampered')
    r4 = _run(['bash', str(bundle / 'gpu_check.sh'), str(bundle), '--out', str(tmp_path / 'o2')],
              env=dict(PYTHON=PY, MMCV_WHEEL=wheels[0]))
    assert r4.returncode == 2 and 'SHA256SUMS' in r4.stderr
