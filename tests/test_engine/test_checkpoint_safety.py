"""Checkpoint loading rules: weights-only everywhere, trust only for a named file, strict
load_from, validated auto-resume, atomic saving."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from mmpdepth.engine import DPSRunner, UnsafeCheckpointError, trusted_file


class Evil:
    """Unpickling this runs a command — what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class ToyModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs if torch.is_tensor(inputs) else torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out

    def train_step(self, data, optim_wrapper):
        losses = self(data['inputs'], mode='loss')
        optim_wrapper.update_params(losses['loss'])
        return {k: v.detach() for k, v in losses.items()}


def toy_dataloader():
    data = [dict(inputs=torch.randn(2)) for _ in range(8)]
    return dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                collate_fn=dict(type='default_collate'))


def make_runner(work_dir, max_iters=4, resume=False, load_from=None, hooks=True, **cfg):
    return DPSRunner(
        cfg=Config(cfg),
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=toy_dataloader(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='PlainCheckpointHook')] if hooks else None,
        resume=resume, load_from=load_from, default_scope='mmdet')


def test_published_checkpoint_loads_weights_only(tmp_path):
    path = str(tmp_path / 'published.pth')
    model = ToyModel()
    torch.save(dict(state_dict=model.state_dict(), meta=dict(source='paper', classes=['a'])),
               path)
    other = ToyModel()
    load_checkpoint(other, path)
    assert torch.equal(other.linear.weight, model.linear.weight)


def test_crafted_pickle_is_refused_as_load_from(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=Evil(marker)), path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        load_checkpoint(ToyModel(), path)
    runner = make_runner(tmp_path / 'work', load_from=path)
    with pytest.raises(UnsafeCheckpointError):
        runner.load_or_resume()
    assert not osp.exists(marker)
    # trust is limited to the one file named, never its folder or other paths
    with trusted_file(str(tmp_path / 'other.pth')):
        with pytest.raises(UnsafeCheckpointError):
            _load_checkpoint(path)
    assert not osp.exists(marker)


def test_our_checkpoints_load_weights_only_and_resume(tmp_path):
    work = tmp_path / 'work'
    runner = make_runner(work, max_iters=4)
    runner.train()
    ckpt = str(work / 'iter_4.pth')
    # plain data: loads with weights_only=True, no allow-listing at all
    raw = torch.load(ckpt, weights_only=True)
    assert raw['meta']['iter'] == 4
    assert raw['message_hub']['log_scalars']['train/loss']['max_length'] > 0
    # resume continues from the last checkpoint and restores the history
    runner2 = make_runner(work, max_iters=6, resume=True)
    runner2.load_or_resume()
    assert runner2.iter == 4
    hist = runner2.message_hub.get_scalar('train/loss')
    assert isinstance(hist, HistoryBuffer) and len(hist.data[0]) == 4
    runner2.train()
    assert osp.exists(work / 'iter_6.pth')


def test_legacy_checkpoint_resumes_only_when_named_trusted(tmp_path):
    work = tmp_path / 'work'
    runner = make_runner(work, max_iters=2, hooks=False)  # plain mmengine: pickles HistoryBuffer
    runner.train()
    legacy = str(work / 'iter_2.pth')
    with pytest.raises(Exception):
        torch.load(legacy, weights_only=True)
    # as load_from (weights) it is refused ...
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(ToyModel(), legacy)
    # ... and so is resuming from it, even from its own work dir (anyone who can write there
    # could have put it there) ...
    runner2 = make_runner(work, max_iters=4, resume=True)
    with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint'):
        runner2.load_or_resume()
    # ... unless the user names that very file as trusted
    runner3 = make_runner(work, max_iters=4, resume=True, trust_checkpoint=legacy)
    runner3.load_or_resume()
    assert runner3.iter == 2


def test_auto_resume_refuses_pointers_outside_and_links(tmp_path):
    work = tmp_path / 'work'
    make_runner(work, max_iters=4).train()
    outside = tmp_path / 'x.pth'
    outside.write_bytes((work / 'iter_4.pth').read_bytes())
    (work / 'last_checkpoint').write_text(str(outside))
    with pytest.raises(RuntimeError, match='outside the work dir'):
        make_runner(work, max_iters=6, resume=True).load_or_resume()
    os.symlink(str(outside), str(work / 'iter_5.pth'))
    (work / 'last_checkpoint').write_text(str(work / 'iter_5.pth'))
    with pytest.raises(RuntimeError, match='a link'):
        make_runner(work, max_iters=6, resume=True).load_or_resume()


def test_truncated_latest_checkpoint_is_reported_and_the_previous_used(tmp_path, caplog):
    work = tmp_path / 'work'
    make_runner(work, max_iters=4).train()
    full = (work / 'iter_4.pth').read_bytes()
    (work / 'iter_4.pth').write_bytes(full[:len(full) // 2])  # killed while saving
    runner = make_runner(work, max_iters=6, resume=True)
    runner.load_or_resume()
    assert runner.iter == 2
    assert not list(work.glob('.iter_*.tmp*'))


def test_load_from_is_strict_and_names_the_problem(tmp_path):
    class Wider(ToyModel):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

    path = str(tmp_path / 'w.pth')
    torch.save(dict(state_dict=Wider().state_dict()), path)
    with pytest.raises(RuntimeError, match=r'w.pth: does not fit this model: 1 wrong shape'):
        make_runner(tmp_path / 'a', load_from=path).load_or_resume()
    torch.save(dict(state_dict={'linear.weight': torch.zeros(1, 2)}), path)
    with pytest.raises(RuntimeError, match=r'1 missing \(linear.bias\)'):
        make_runner(tmp_path / 'b', load_from=path).load_or_resume()
    runner = make_runner(tmp_path / 'c', load_from=path, load_from_allow_missing=['linear.b'])
    runner.load_or_resume()
    assert torch.equal(runner.model.linear.weight, torch.zeros(1, 2))
    make_runner(tmp_path / 'd', load_from=path, load_from_strict=False).load_or_resume()


def test_plain_conversion_round_trip():
    from mmpdepth.engine.hooks.plain_checkpoint_hook import from_plain, to_plain
    hb = HistoryBuffer([1.0, 2.0], [1, 1], max_length=10)
    plain = to_plain(dict(a=hb, b=np.int64(3), c=[np.float32(0.5)], d=(np.arange(2), 'x')))
    assert plain['b'] == 3 and isinstance(plain['b'], int)
    assert plain['c'] == [0.5] and plain['d'] == ([0, 1], 'x')
    back = from_plain(plain)
    assert isinstance(back['a'], HistoryBuffer)
    assert back['a'].data[0].tolist() == [1.0, 2.0] and back['a'].max_length == 10
