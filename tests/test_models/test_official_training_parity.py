"""One training step equals the official code's (its golden training outputs, samples A and C).

The official PanopticDepth training step was run unmodified on CPU (2 threads) with
deterministic weights on two hand-made 512x1024 samples: DPS (six losses, frozen BN) and PS
(four losses, BatchNorm in training mode), each sample alone and the batch [A, C]
(``tests/data/golden_train``: the arrays the comparison reads, and the sample files). For each
file the weights are regenerated and converted with the D2 converter, the official config's
model is trained one step on the samples read through mmpdepth's own dataset, pipeline
(augmentation off) and data preprocessor, and five stages are compared
(:mod:`mmpdepth.testing.training_parity`, shared with
``tools/analysis_tools/official_training_parity.py``).

Tolerances (CPU float32, :class:`~mmpdepth.testing.training_parity.Tolerances`):

* pipeline outputs, thing / stuff slots and the 7 position picks per slot (zero-score fillers
  included): exact; float targets <= 1e-6 absolute; centre scores at the picks <= 1e-3
  absolute (forward-map noise);
* every loss term <= 1e-4 relative;
* per-term gradients of the head tensors <= 1e-3 relative (L2), every term but DPS
  ``loss_depth``;
* whole-model gradients (L2 and max of every parameter) <= 1e-2 relative for PS and the batch
  DPS file (no ``loss_depth``: the official code stops at its batch-1 assert); DPS files with
  ``loss_depth`` and its per-term gradients: 2x the official code's own spread between 1 and 2
  threads on that sample (a few predicted depths just above zero amplify rounding through
  1/pred), printed in the table;
* PS BatchNorm running statistics after the step <= 1e-4 relative.

Cost: one forward, the per-term head gradients and one backward per file, each model built
once: about 2 minutes for the six files on 2 CPU threads (the DCN layers train with the
multiply-then-gather form on CPU, whose backward is ~8x faster than torchvision's).
"""
import os.path as osp

import pytest

from mmpdepth.testing import (TrainingParity, build_training_model, format_table,
                              load_golden)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(ROOT, 'tests', 'data', 'golden_train')
KEYS = osp.join(ROOT, 'tests', 'data', 'golden', 'd2_keys_{}.json')
FILES = ('dps_trainA', 'dps_trainC', 'dps_trainAC', 'ps_trainA', 'ps_trainC', 'ps_trainAC')
STAGES = ('1 pipeline', '2 targets', '3 positions', '4 losses', '5 gradients')


@pytest.fixture(scope='module')
def models():
    """One model per kind, shared by its files (each step restores the BN statistics)."""
    return {}


@pytest.fixture(scope='module', params=FILES)
def checks(request, models):
    name = request.param
    golden = load_golden(osp.join(DATA, f'{name}.npz'))
    kind = str(golden['_kind'])
    if kind not in models:
        models[kind] = build_training_model(kind, KEYS.format(kind))
    parity = TrainingParity(golden, osp.join(DATA, 'datasets'), KEYS.format(kind),
                            *models[kind])
    parity.run(threads=2)
    return name, parity.compare()


@pytest.mark.parametrize('stage', STAGES)
def test_training_step_matches_official(checks, stage):
    name, rows = checks
    rows = [c for c in rows if c.stage == stage]
    assert rows, f'{name}: no checks of stage {stage}'
    failed = [c for c in rows if not c.passed]
    assert not failed, f'{name}, stage {stage}:\n' + format_table((name, c) for c in failed)


def test_expected_checks_present(checks):
    """Every stage covers what it should (a check that silently disappears cannot fail)."""
    name, rows = checks
    names = {c.name for c in rows}
    assert 'b0 instance masks' in names and 'p3 picks (7 per slot)' in names
    assert {'loss_pos_th', 'loss_pos_st', 'loss_seg_th', 'loss_seg_st'} <= names
    assert 'whole model (L2 and max of each parameter)' in names
    assert any(n.startswith('per-term loss_seg_th') for n in names)
    if name.startswith('dps'):
        assert 'loss_depth_ins' in names and 'depth (stride 4)' in names
        assert ('loss_depth' in names) == (name != 'dps_trainAC')
    else:
        assert 'BatchNorm running mean after the step' in names
    if name.endswith('AC'):
        assert 'b1 instance masks' in names
