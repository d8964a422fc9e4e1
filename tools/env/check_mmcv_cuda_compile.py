"""Compile some of mmcv's CUDA sources the way ``MMPDEPTH_MMCV_CUDA=1`` builds them, and time it.

    python tools/env/check_mmcv_cuda_compile.py MMCV_SRC [--files nms_cuda.cu ...] [--count 3]
        [--arch 9.0] [--no-wrapper]

MMCV_SRC: the mmcv 2.1.0 sdist (``.tar.gz``) or its unpacked folder. Each file is compiled to an
object (no GPU needed) with the flags mmcv's ``setup.py`` gives nvcc on its CUDA path
(``-DMMCV_WITH_CUDA``, its include folders, ``-std=c++17``) plus torch's extension flags, through
``tools/env/nvcc20.sh`` (``--no-wrapper``: the real nvcc, which shows the C++20 error torch's
headers raise). Prints each file's time and an estimate of the whole CUDA build.
Exit status: 0 when every file compiled.
"""
import argparse
import glob
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time

HERE = osp.dirname(osp.abspath(__file__))
DEFAULT_FILES = ('nms_cuda.cu', 'roi_align_cuda.cu', 'deform_conv_cuda.cu')


def cuda_library_includes(cuda_home: str) -> list:
    """Where the CUDA library headers torch's ATen/cuda includes (cusparse.h, ...) are: the
    toolkit's include folder, else the pip ``nvidia`` packages torch was installed with (an
    nvcc-only toolkit, like this machine's, lacks them). Same rule as build_mmcv.sh."""
    if osp.isfile(osp.join(cuda_home, 'include', 'cusparse.h')):
        return []
    import nvidia
    return sorted(osp.dirname(h) for root in nvidia.__path__
                  for h in glob.glob(osp.join(root, '*', 'include', 'cusparse.h')))


def nvcc_command(src: str, obj: str, mmcv_root: str, arch: str, wrapper: bool) -> list:
    """The nvcc command line torch's BuildExtension runs for one of mmcv's .cu files."""
    from torch.utils import cpp_extension as ce
    cuda_home = os.environ['CUDA_HOME']
    nvcc = osp.join(HERE, 'nvcc20.sh') if wrapper else osp.join(cuda_home, 'bin', 'nvcc')
    csrc = osp.join(mmcv_root, 'mmcv', 'ops', 'csrc')
    includes = [osp.join(csrc, 'pytorch'), osp.join(csrc, 'common'),
                osp.join(csrc, 'common', 'cuda')]
    includes += ce.include_paths(device_type='cuda') + [sysconfig.get_paths()['include']]
    includes += cuda_library_includes(cuda_home)
    major, minor = arch.split('.')
    return ([nvcc, '-c', src, '-o', obj, '-DMMCV_WITH_CUDA']
            + [f'-I{p}' for p in includes] + list(ce.COMMON_NVCC_FLAGS)
            + ['--compiler-options', "'-fPIC'", '-DTORCH_EXTENSION_NAME=_ext',
               '-DTORCH_API_INCLUDE_EXTENSION_H',
               f'-D_GLIBCXX_USE_CXX11_ABI={int(__import__("torch")._C._GLIBCXX_USE_CXX11_ABI)}',
               f'-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}',
               '-std=c++17'])  # what mmcv 2.1.0's setup.py appends for torch > 1.12


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mmcv_src', help='mmcv sdist (.tar.gz) or its unpacked folder')
    ap.add_argument('--files', nargs='+', default=None,
                    help=f'file names under mmcv/ops/csrc/pytorch/cuda (default {DEFAULT_FILES})')
    ap.add_argument('--arch', default='9.0', help='one GPU architecture (default 9.0, H100/H200)')
    ap.add_argument('--no-wrapper', action='store_true', help='call the real nvcc directly')
    args = ap.parse_args()
    os.environ.setdefault('CUDA_HOME', '/usr/local/cuda')  # as build_mmcv.sh
    with tempfile.TemporaryDirectory() as tmp:
        root = args.mmcv_src
        if osp.isfile(root):
            with tarfile.open(root) as tf:
                members = [m for m in tf.getmembers() if '/mmcv/ops/csrc/' in m.name
                           and (m.isfile() or m.isdir())]
                tf.extractall(tmp, members=members, filter='data')
            root = glob.glob(osp.join(tmp, 'mmcv-*'))[0]
        if not osp.isdir(osp.join(root, 'mmcv', 'ops', 'csrc')):
            print(f'{args.mmcv_src}: no mmcv/ops/csrc folder: not an mmcv source tree',
                  file=sys.stderr)
            return 2
        cuda_dir = osp.join(root, 'mmcv', 'ops', 'csrc', 'pytorch', 'cuda')
        all_cu = sorted(glob.glob(osp.join(cuda_dir, '*.cu')))
        names = args.files or DEFAULT_FILES
        times, failed = [], 0
        print(f'nvcc: {"tools/env/nvcc20.sh -> " if not args.no_wrapper else ""}'
              f'{os.environ.get("CUDA_HOME", "/usr/local/cuda")}/bin/nvcc, arch sm_{args.arch}')
        for name in names:
            src = osp.join(cuda_dir, name)
            if not osp.isfile(src):
                print(f'{src}: no such CUDA source', file=sys.stderr)
                return 2
            cmd = nvcc_command(src, osp.join(tmp, name + '.o'), root, args.arch,
                               not args.no_wrapper)
            t0 = time.perf_counter()
            proc = subprocess.run(' '.join(cmd), shell=True, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            ok = proc.returncode == 0
            failed += not ok
            times.append(dt)
            print(f'  {name:32s} {"ok" if ok else "FAILED":6s} {dt:7.1f} s', flush=True)
            if not ok:
                err = [ln for ln in proc.stderr.splitlines() if 'error' in ln]
                print('    ' + (err[0] if err else proc.stderr.strip()[-300:]))
        if not failed:
            mean = sum(times) / len(times)
            jobs = os.cpu_count() or 1
            print(f'{len(all_cu)} CUDA sources in mmcv; at {mean:.0f} s each the CUDA part of a '
                  f'full build takes about {mean * len(all_cu) / 60:.0f} min on one core, '
                  f'{mean * len(all_cu) / jobs / 60:.0f} min with {jobs} parallel jobs '
                  f'(plus the CPU sources, one architecture)')
        return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
