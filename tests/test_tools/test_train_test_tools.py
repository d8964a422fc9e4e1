"""tools/train.py, tools/test.py, tools/dist_train.sh and --resume on the tiny synthetic config."""
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
PY = sys.executable


@pytest.fixture(scope='module')
def data_root(tiny_synthetic_root):
    return tiny_synthetic_root


def opts(data_root, max_iters, interval):
    o = [f'{k}.dataset.data_root={data_root}' for k in
         ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    o += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters + 1}',
          f'param_scheduler.1.end={max_iters}', f'default_hooks.checkpoint.interval={interval}',
          'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
          'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
          'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
          'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    return o


def run(args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          **kw)


def test_train_then_test_prints_dpq_and_writes_pictures(data_root, tmp_path):
    work = str(tmp_path / 'work')
    r = run([PY, 'tools/train.py', CONFIG, '--work-dir', work, '--cfg-options'] +
            opts(data_root, 3, 3))
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = osp.join(work, 'iter_3.pth')
    assert osp.isfile(ckpt)
    r = run([PY, 'tools/test.py', CONFIG, ckpt, '--work-dir', work, '--show-dir', 'vis',
             '--out', str(tmp_path / 'preds.pkl'), '--cfg-options'] + opts(data_root, 3, 3))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    assert 'dps/DPQ:' in out and 'dps/PQ:' in out and 'AbsRel' in out
    pics = [os.path.join(dp, f) for dp, _, fs in os.walk(work) for f in fs
            if f.endswith('.png') and 'vis' in dp]
    assert len(pics) == 2
    assert osp.isfile(tmp_path / 'preds.pkl')
    # --fuse-conv-bn: BatchNorms folded after the checkpoint is loaded, the same metrics
    r2 = run([PY, 'tools/test.py', CONFIG, ckpt, '--work-dir', work, '--fuse-conv-bn',
              '--cfg-options'] + opts(data_root, 3, 3))
    assert r2.returncode == 0, r2.stderr[-3000:]
    out2 = r2.stdout + r2.stderr
    assert 'FuseConvBNHook: folded 20 BatchNorm layers' in out2

    def metrics(text):
        return {k: v for k, v in re.findall(r'(dps/\w+): (-?[\d.]+)', text)}

    assert metrics(out) and metrics(out2) == metrics(out)


def test_unsafe_checkpoint_is_refused_by_test_tool(data_root, tmp_path):
    import torch

    class Evil:

        def __reduce__(self):
            return (os.system, (f'touch {tmp_path}/pwned', ))

    bad = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': {}, 'meta': Evil()}, bad)
    r = run([PY, 'tools/test.py', CONFIG, bad, '--work-dir', str(tmp_path / 'w'),
             '--cfg-options'] + opts(data_root, 2, 2))
    assert r.returncode != 0
    assert 'refused to load' in r.stderr and not osp.exists(tmp_path / 'pwned')


def test_killed_training_resumes_exactly(data_root, tmp_path):
    """kill -9 after a checkpoint, then --resume: the same weights as an uninterrupted run."""
    import torch
    det = ['randomness.seed=0', 'randomness.deterministic=True']
    work = str(tmp_path / 'work')
    args = [PY, 'tools/train.py', CONFIG, '--work-dir', work, '--cfg-options'] + \
        opts(data_root, 8, 2) + det
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not osp.exists(osp.join(work, 'iter_4.pth')) and time.time() < deadline:
        time.sleep(0.2)
        assert proc.poll() is None, 'training ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not osp.exists(osp.join(work, 'iter_8.pth'))
    assert not [f for f in os.listdir(work) if '.tmp' in f]  # atomic saving leaves no debris
    r = run(args[:3] + ['--resume'] + args[3:])
    assert r.returncode == 0, r.stderr[-3000:]
    log = r.stdout + r.stderr
    assert 'resumed' in log.lower()
    assert 'Iter(train) [1/8]' not in log and 'Iter(train) [8/8]' in log
    whole = str(tmp_path / 'whole')
    r = run([PY, 'tools/train.py', CONFIG, '--work-dir', whole, '--cfg-options'] +
            opts(data_root, 8, 4) + det)
    assert r.returncode == 0, r.stderr[-3000:]
    a = torch.load(osp.join(work, 'iter_8.pth'), weights_only=True)['state_dict']
    b = torch.load(osp.join(whole, 'iter_8.pth'), weights_only=True)['state_dict']
    assert a.keys() == b.keys() and len(a) > 100
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, differ[:5]


def test_dist_train_with_two_processes_on_cpu(data_root, tmp_path):
    work = str(tmp_path / 'dist')
    env = dict(os.environ, PORT='29517', PYTHON=PY, OMP_NUM_THREADS='1')
    r = subprocess.run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work,
                        '--cfg-options'] + opts(data_root, 2, 2), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    logs = [os.path.join(dp, f) for dp, _, fs in os.walk(work) for f in fs if f.endswith('.log')]
    text = ''.join(open(p).read() for p in logs)
    assert 'Distributed launcher: pytorch' in text and 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # mmengine's name for the world size


def test_stage_chain_script_runs_the_stages_in_order_and_skips_finished_ones(tmp_path):
    root = tmp_path / 'repo'
    (root / 'tools').mkdir(parents=True)
    shutil.copy(osp.join(ROOT, 'tools', 'dist_train_stages.sh'), root / 'tools')
    os.symlink(osp.join(ROOT, 'configs'), root / 'configs')
    env = dict(os.environ, PYTHON=PY)
    cmd = ['bash', str(root / 'tools' / 'dist_train_stages.sh'), 'swin-t', 'semkitti', '8',
           '--dry-run', '--amp']
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('[stages]')]
    assert [ln.split()[1].rstrip(':') for ln in lines] == [
        f'panopticdepth_swin-t_fpn_{s}' for s in (
            '8xb4-130k_cityscapes-panoptic', '8xb1-10k_cityscapes-panoptic-fsf',
            '8xb1-10k_cityscapes-dps', '8xb1-10k_semkitti-dps')]
    assert all(ln.endswith(' 8 --amp') for ln in lines)
    done = root / 'work_dirs' / 'panopticdepth_swin-t_fpn_8xb4-130k_cityscapes-panoptic'
    done.mkdir(parents=True)
    (done / 'iter_130000.pth').write_bytes(b'')
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert 'cityscapes-panoptic: done' in r.stdout and r.stdout.count('tools/dist_train.sh') == 3
    bad = subprocess.run(cmd[:2] + ['r101', 'cityscapes', '8'], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and 'BACKBONE must be' in bad.stderr
