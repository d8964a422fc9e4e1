"""The mmcv build rule of tools/env: GPUs hidden by default, nvcc on C++20 when opted in."""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ENV_DIR = osp.join(ROOT, 'tools', 'env')
NVCC = os.environ.get('CUDA_HOME', '/usr/local/cuda') + '/bin/nvcc'


def _fake_pip(tmp_path):
    """A PIP that records the environment it was run with and writes an empty wheel."""
    rec = tmp_path / 'pip_env.json'
    pip = tmp_path / 'fake_pip.py'
    pip.write_text(textwrap.dedent(f"""
        import json, os, sys
        out = sys.argv[sys.argv.index('-w') + 1]
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'), 'w').close()
        keys = ('FORCE_CUDA', 'CUDA_VISIBLE_DEVICES', 'PYTORCH_NVCC', 'CXX', 'CUDA_HOME',
                'MMCV_WITH_OPS', 'MMPDEPTH_REAL_NVCC')
        json.dump({{'argv': sys.argv[1:], **{{k: os.environ.get(k) for k in keys}}}},
                  open({str(rec)!r}, 'w'))
    """))
    return f'{sys.executable} {pip}', rec


def _build(tmp_path, **env):
    pip, rec = _fake_pip(tmp_path)
    full_env = dict(os.environ, PIP=pip, **env)
    proc = subprocess.run(['bash', osp.join(ENV_DIR, 'build_mmcv.sh'), str(tmp_path / 'out')],
                          capture_output=True, text=True, env=full_env)
    return proc, (json.loads(rec.read_text()) if rec.exists() else None)


def test_default_build_hides_gpus_and_ignores_force_cuda(tmp_path):
    # a caller on a GPU machine, even one asking mmcv for its CUDA path
    proc, seen = _build(tmp_path, FORCE_CUDA='1', CUDA_VISIBLE_DEVICES='0,1')
    assert proc.returncode == 0, proc.stderr
    assert seen['FORCE_CUDA'] == '0'
    assert seen['CUDA_VISIBLE_DEVICES'] == ''  # torch.cuda.is_available() is False in the build
    assert seen['PYTORCH_NVCC'] is None
    assert seen['MMCV_WITH_OPS'] == '1'
    assert seen['CXX'].endswith('tools/env/cxx20.sh')
    assert seen['argv'][-1] == 'mmcv==2.1.0'  # the tested version, requirements/constraints.txt
    # never pip's wheel cache: it would return a wheel of the other variant or another torch
    assert '--no-cache-dir' in seen['argv']
    assert os.listdir(tmp_path / 'out') == ['mmcv-2.1.0-cp311-cp311-linux_x86_64.whl']
    assert not (tmp_path / 'out.tmp').exists()
    assert 'CPU ops' in proc.stdout


def test_cuda_opt_in_routes_nvcc_through_the_cxx20_wrapper(tmp_path):
    fake_cuda = tmp_path / 'cuda'
    (fake_cuda / 'bin').mkdir(parents=True)
    (fake_cuda / 'bin' / 'nvcc').write_text('#!/bin/sh\n')
    (fake_cuda / 'bin' / 'nvcc').chmod(0o755)
    proc, seen = _build(tmp_path, MMPDEPTH_MMCV_CUDA='1', CUDA_HOME=str(fake_cuda),
                        FORCE_CUDA='0')
    assert proc.returncode == 0, proc.stderr
    assert seen['FORCE_CUDA'] == '1'
    assert seen['PYTORCH_NVCC'].endswith('tools/env/nvcc20.sh')
    assert seen['MMPDEPTH_REAL_NVCC'] == str(fake_cuda / 'bin' / 'nvcc')
    assert seen['CUDA_HOME'] == str(fake_cuda)


def test_cuda_opt_in_without_nvcc_says_so(tmp_path):
    proc, seen = _build(tmp_path, MMPDEPTH_MMCV_CUDA='1', CUDA_HOME=str(tmp_path / 'nowhere'))
    assert proc.returncode == 2 and seen is None
    assert 'needs nvcc' in proc.stderr and 'nowhere' in proc.stderr


def test_nvcc20_rewrites_only_the_language_standard(tmp_path):
    echo = tmp_path / 'nvcc'
    echo.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    echo.chmod(0o755)
    proc = subprocess.run(['bash', osp.join(ENV_DIR, 'nvcc20.sh'), '-c', 'a b.cu', '-std=c++17',
                           '-O3', '-std=c++14', '--expt-relaxed-constexpr'],
                          capture_output=True, text=True,
                          env=dict(os.environ, MMPDEPTH_REAL_NVCC=str(echo)))
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ['-c', 'a b.cu', '-std=c++20', '-O3', '-std=c++20',
                                        '--expt-relaxed-constexpr']


@pytest.mark.slow
@pytest.mark.skipif(not osp.exists(NVCC), reason='no nvcc on this machine')
def test_real_nvcc_compiles_aten_code_only_through_the_wrapper(tmp_path):
    """The installed torch headers refuse nvcc's -std=c++17 (mmcv's flag); the wrapper fixes it."""
    from torch.utils import cpp_extension as ce
    src = tmp_path / 'k.cu'
    src.write_text('#include <ATen/ATen.h>\n'
                   '__global__ void k(float* x) { x[threadIdx.x] *= 2.f; }\n'
                   'at::Tensor twice(const at::Tensor& t) { return t * 2; }\n')
    flags = [f'-I{p}' for p in ce.include_paths(device_type='cuda')]
    flags += ['-c', str(src), '-std=c++17', '-gencode=arch=compute_90,code=sm_90']
    raw = subprocess.run([NVCC, *flags, '-o', str(tmp_path / 'a.o')], capture_output=True,
                         text=True)
    assert raw.returncode != 0
    assert 'C++20 or later compatible compiler is required' in raw.stderr
    wrapped = subprocess.run(['bash', osp.join(ENV_DIR, 'nvcc20.sh'), *flags,
                              '-o', str(tmp_path / 'b.o')], capture_output=True, text=True)
    assert wrapped.returncode == 0, wrapped.stderr[-2000:]
    assert (tmp_path / 'b.o').stat().st_size > 0


def _fake_venv(tmp_path):
    """A .venv whose python records each call and answers setup_env.sh's questions (torch 2.14.1,
    Python 3.11, no mmcv installed yet), plus a cached mmcv wheel for that torch."""
    venv, cache = tmp_path / 'venv', tmp_path / 'cache'
    (venv / 'bin').mkdir(parents=True)
    calls = tmp_path / 'calls.jsonl'
    python = venv / 'bin' / 'python'
    python.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        args = sys.argv[1:]
        with open({str(calls)!r}, 'a') as f:
            f.write(json.dumps(args) + '\\n')
        code = args[1] if args[:1] == ['-c'] else ''
        if 'torch.__version__' in code and 'mmcv' not in code:
            print('2.14.1')
        elif 'sys.version_info' in code and 'mmcv' not in code:
            print('311')
        elif 'import sys, mmcv' in code:
            sys.exit(1)  # no mmcv yet
    """))
    python.chmod(0o755)
    machine = subprocess.run(['uname', '-m'], capture_output=True, text=True).stdout.strip()
    wheel_dir = cache / f'mmcv-2.1.0-cpu-torch2.14.1-py311-{machine}'
    wheel_dir.mkdir(parents=True)
    (wheel_dir / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_text('')
    return venv, cache, calls


def test_setup_installs_the_mmcv_wheel_with_its_dependencies_and_keeps_a_log(tmp_path):
    """pip checks the whole environment after each install: the mmcv wheel installed on its own
    (--no-deps) and mmcv's dependencies next made pip print `ERROR: ... mmcv 2.1.0 requires
    mmengine>=0.3.0, which is not installed`. The wheel now goes in the same pip run as mmengine
    and the other requirements, each pinned by the constraints file."""
    venv, cache, calls = _fake_venv(tmp_path)
    proc = subprocess.run(['bash', osp.join(ENV_DIR, 'setup_env.sh')], capture_output=True,
                          text=True, env=dict(os.environ, VENV=str(venv),
                                              MMPDEPTH_CACHE=str(cache)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installs = [c[3:] for c in map(json.loads, calls.read_text().splitlines())
                if c[:3] == ['-m', 'pip', 'install']]
    wheel = [c for c in installs if any(a.endswith('.whl') and 'mmcv-2.1.0' in a for a in c)]
    assert len(wheel) == 1, installs
    (with_wheel, ) = wheel
    assert '--no-deps' not in with_wheel
    for req in ('requirements/mminstall.txt', 'requirements/runtime.txt'):
        assert req in with_wheel
    assert with_wheel[with_wheel.index('-c') + 1] == 'requirements/constraints.txt'
    # every pip install but the editable one resolves dependencies, under the constraints
    for call in installs:
        assert ('-e' in call and '--no-deps' in call) or 'requirements/constraints.txt' in call
    log = (venv / 'setup.log').read_text()
    assert '4/5 mmcv + OpenMMLab' in log and '] done' in log
    assert (venv / '.mmpdepth-installed').is_file()


def test_setup_log_of_this_environment_has_no_error_line():
    """The install that made the running environment (tools/env/setup_env.sh keeps its log in
    the venv) printed no ERROR line, such as pip's dependency-resolver complaint."""
    log = osp.join(sys.prefix, 'setup.log')
    if not osp.isfile(log):
        pytest.skip(f'{log}: this environment was not installed by tools/env/setup_env.sh')
    with open(log) as f:
        lines = f.read().splitlines()
    assert any('[setup_env' in line for line in lines)
    assert [line for line in lines if line.startswith('ERROR')] == []
