"""A readable terminal: tools/train.py and tools/test.py print progress, metrics and where the
outputs are; the environment / config dumps stay in the work dir's log file; known-harmless
upstream warnings reach neither."""
import glob
import logging
import os
import os.path as osp
import subprocess
import sys

from mmengine.fileio import FileClient
from mmengine.logging import MMLogger, print_log

from mmpdepth.utils.console_log import (FILE_ONLY_PREFIXES, HARMLESS_UPSTREAM_MESSAGES,
                                        readable_console)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/panopticdepth/panopticdepth_r18-tiny_fpn_1xb4-2k_synthetic-dps.py'
#: terminal lines allowed for a 2-iteration training with one evaluation (measured: 27), and
#: for a test run (measured: 24); each evaluation prints ~17 lines of metric tables
TRAIN_LINE_BUDGET, TEST_LINE_BUDGET = 40, 35
HARMLESS = [start for start, _ in HARMLESS_UPSTREAM_MESSAGES]


def opts(root):
    o = [f'{k}.dataset.data_root={root}' for k in
         ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    o += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'param_scheduler.1.end=2',
          'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
          'train_dataloader.batch_size=2']
    o += [f'{k}.{a}' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
          for a in ('num_workers=0', 'persistent_workers=False')]
    return o


def run(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout + r.stderr


def check_terminal(out, budget, work):
    lines = out.splitlines()
    assert len(lines) <= budget, f'{len(lines)} lines:\n' + '\n'.join(lines)
    for start in HARMLESS + ['System environment', 'Config:', 'paramwise_options',
                             'Hooks will be executed']:
        assert start not in out, start
    # where the full log is, and it has what the terminal leaves out
    log = [ln.split('Full log (environment, config, hooks): ')[1] for ln in lines
           if 'Full log (environment, config, hooks): ' in ln]
    assert len(log) == 1 and osp.dirname(osp.dirname(log[0])) == work, log
    text = open(log[0]).read()
    assert 'System environment:' in text and 'Config:\n' in text and 'model = dict(' in text
    assert 'Hooks will be executed in the following order' in text
    for start in HARMLESS:
        assert start not in text, start
    return text


def test_train_and_test_print_a_screen_and_log_everything(tiny_synthetic_root, tmp_path):
    work = str(tmp_path / 'work')
    out = run(['tools/train.py', CONFIG, '--work-dir', work, '--cfg-options'] +
              opts(tiny_synthetic_root))
    text = check_terminal(out, TRAIN_LINE_BUDGET, work)
    assert 'Iter(train) [2/2]' in out and 'dps/DPQ' in out and 'Saving checkpoint' in out
    assert 'paramwise_options -- ' in text
    out = run(['tools/test.py', CONFIG, osp.join(work, 'iter_2.pth'), '--work-dir', work,
               '--cfg-options'] + opts(tiny_synthetic_root))
    check_terminal(out, TEST_LINE_BUDGET, work)
    assert 'dps/DPQ' in out and 'AbsRel' in out
    assert len(glob.glob(osp.join(work, '*', '*.log'))) == 2


def emit_harmless_upstream_messages(tmp_path):
    """What mmengine logs when the CheckpointHook starts and an inferencer looks up its collate
    function under the mmdet scope."""
    from mmengine.registry import FUNCTIONS

    # FileClient caches its clients: a disk client made earlier in the process (another test's
    # CheckpointHook) would be reused and the HardDiskBackend message not logged again
    cached = dict(FileClient._instances)
    FileClient._instances.clear()
    try:
        FileClient.infer_client(None, str(tmp_path))
    finally:
        FileClient._instances.update(cached)
    with FUNCTIONS.switch_scope_and_registry('mmdet'):
        pass


def test_filters_drop_what_mmengine_really_logs(tmp_path, capsys):
    """The harmless messages are those mmengine emits (a changed wording would show here)."""
    from mmengine.registry import FUNCTIONS
    MMLogger.get_instance('test_console_unfiltered', log_level='INFO')
    emit_harmless_upstream_messages(tmp_path)
    out = capsys.readouterr().out
    # mmengine logs the registry message only while no 'mmdet' function registry exists (a
    # package imported earlier in the same process, e.g. mmdeploy's, may have created one)
    scope_found = FUNCTIONS._get_root_registry()._search_child('mmdet') is not None
    for start in HARMLESS:
        if scope_found and start.startswith('Failed to search registry'):
            continue
        assert start in out, start
    log_file = str(tmp_path / 'x.log')
    logger = readable_console(MMLogger.get_instance('test_console_filters', log_file=log_file,
                                                    log_level='INFO'))
    emit_harmless_upstream_messages(tmp_path)
    print_log('Config:\nmodel = dict()', logger='current')
    print_log('Iter(train) [1/2] loss: 1.0', logger='current')
    print_log('Config:\nshown: a warning is never file-only', logger='current',
              level=logging.WARNING)
    for h in logger.handlers:
        h.flush()
    out = capsys.readouterr().out
    text = open(log_file).read()
    assert 'Iter(train) [1/2]' in out and 'Iter(train) [1/2]' in text
    assert 'model = dict()' not in out and 'model = dict()' in text
    assert 'shown: a warning' in out
    for start in HARMLESS:
        assert start not in out and start not in text
    assert any(p.startswith('Config:') for p in FILE_ONLY_PREFIXES)
