"""Formulas of the model's pure-tensor pieces against hand-computed values."""
import math

import pytest
import torch

from mmpdepth.models.layers import (AdaptiveKernelFusion, InstanceDepthGenerator,
                                    add_coord_channels, center_peaks, draw_gaussian,
                                    fuse_stuff_kernels, fuse_thing_kernels,
                                    panopticfcn_gaussian_radius, pool_stuff_kernels)


def sig(x):
    return 1 / (1 + math.exp(-x))


def depth_inputs():
    # embedding e=2, 1x2 image; kernel [s, r, k1, k2]
    embed = torch.tensor([[[1.0, -2.0]], [[0.5, 0.0]]])  # (2, 1, 2)
    kernel = torch.tensor([[0.3, -0.4, 2.0, 1.0]])
    dots = [2.0 * 1.0 + 1.0 * 0.5, 2.0 * -2.0 + 0.0]  # k . E per pixel
    return embed, kernel, dots


def test_depth_official_formula():
    embed, kernel, dots = depth_inputs()
    d = InstanceDepthGenerator('official', embed_channels=2, d_max=88)(embed, kernel)
    for j, dot in enumerate(dots):
        want = max(0.0, (2 * sig(dot) - 1) * 88 * sig(-0.4) + 44 * sig(0.3))
        assert d[0, 0, j].item() == pytest.approx(want, rel=1e-6)


def test_depth_t1_and_t2_formulas():
    embed, kernel, dots = depth_inputs()
    t1 = InstanceDepthGenerator('T1', embed_channels=2, d_max=88)(embed, kernel)
    t2 = InstanceDepthGenerator('T2', embed_channels=2, d_max=88)(embed, kernel)
    for j, dot in enumerate(dots):
        assert t1[0, 0, j].item() == pytest.approx(88 * (sig(-0.4) * sig(dot) + sig(0.3)))
        assert t2[0, 0, j].item() == pytest.approx(88 * (sig(-0.4) * (sig(dot) - 0.5) + sig(0.3)))


def test_depth_shift_and_clamp():
    kernel = torch.tensor([[0.3, -0.4, 2.0, 1.0]])
    assert InstanceDepthGenerator('official', 2).shift(kernel).item() == pytest.approx(
        44 * sig(0.3))
    assert InstanceDepthGenerator('T2', 2).shift(kernel).item() == pytest.approx(88 * sig(0.3))
    gen = InstanceDepthGenerator('official', 2, clamp=(0, 80))
    assert gen.clamp_output(torch.tensor([-1.0, 90.0])).tolist() == [0.0, 80.0]


def test_depth_variants_a_and_b():
    embed = torch.tensor([[[0.0, 2.0]]])
    a = InstanceDepthGenerator('pixel', embed_channels=1, d_max=88)
    assert a.kernel_channels == 0 and not a.has_shift
    assert a(embed, None)[0, 0].tolist() == pytest.approx([44.0, 88 * sig(2.0)])
    b = InstanceDepthGenerator('instance', embed_channels=1, d_max=88)
    assert b.kernel_channels == 1
    assert b(embed, torch.tensor([[-1.0]]))[0, 0].tolist() == pytest.approx(
        [44.0, 88 * sig(-2.0)])
    with pytest.raises(ValueError):
        InstanceDepthGenerator('pixel', embed_channels=16)


def test_coord_channels_are_row_then_column():
    x = torch.zeros(1, 1, 3, 5)
    out = add_coord_channels(x)
    assert out.shape == (1, 3, 3, 5)
    assert out[0, 1, :, 0].tolist() == [-1.0, 0.0, 1.0]  # rows
    assert out[0, 2, 0, :].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]  # columns
    # a channels-last input (CPU inference) keeps its layout, with the same values
    x = torch.randn(2, 4, 3, 5)
    cl = add_coord_channels(x.contiguous(memory_format=torch.channels_last))
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cl, add_coord_channels(x))


def test_gaussian_radius_is_panopticfcn_form():
    w, h, o = 10.0, 20.0, 0.7
    b1 = h + w
    r1 = (b1 + math.sqrt(b1**2 - 4 * w * h * (1 - o) / (1 + o))) / 2
    b2 = 2 * (h + w)
    r2 = (b2 + math.sqrt(b2**2 - 16 * (1 - o) * w * h)) / 2
    b3 = -2 * o * (h + w)
    r3 = (b3 + math.sqrt(b3**2 - 16 * o * (o - 1) * w * h)) / 2
    got = panopticfcn_gaussian_radius(torch.tensor([[w, h]]), o).item()
    assert got == pytest.approx(min(r1, r2, r3), rel=1e-6)
    assert got == pytest.approx(r3, rel=1e-6)  # r3 is the smallest for these boxes


def test_draw_gaussian_sigma_and_max_paste():
    hm = torch.zeros(7, 7)
    draw_gaussian(hm, (3, 3), 2, sigma_factor=3.0)
    sigma = 5 / 3
    assert hm[3, 3].item() == 1.0
    assert hm[3, 4].item() == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert hm[3, 6].item() == 0.0  # outside the radius
    draw_gaussian(hm, (0, 0), 1, sigma_factor=3.0)  # border centre, max-combined
    assert hm[0, 0].item() == 1.0 and hm[3, 3].item() == 1.0


def test_center_peaks_pool_nms_and_topk():
    logits = torch.full((2, 5, 5), -10.0)
    logits[0, 2, 2] = 3.0
    logits[0, 2, 3] = 2.0  # neighbour, suppressed by the 3x3 peak test
    logits[1, 0, 4] = 1.0
    scores, index, classes = center_peaks(logits, pool_size=3, top_num=100, score_thr=0.2)
    assert classes.tolist() == [0, 1] and index.tolist() == [12, 4]
    p = torch.sigmoid(logits)
    pooled = torch.nn.functional.avg_pool2d(p[None], 3, 1, 1)[0]
    assert scores[0].item() == pytest.approx(((p + pooled) / 2)[0, 2, 2].item(), rel=1e-6)


def test_stuff_kernel_is_masked_mean_or_global_average():
    prob = torch.zeros(2, 2, 2)
    prob[0] = torch.tensor([[0.9, 0.3], [0.0, 0.0]])  # class 0 wins top row
    prob[1] = torch.tensor([[0.1, 0.2], [0.8, 0.6]])  # class 1 wins bottom row
    kmap = torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])  # (C=1, 2, 2)
    masked = pool_stuff_kernels(prob, kmap, score_thr=0.0, mode='masked_mean')
    assert masked.classes.tolist() == [0, 1]
    assert masked.kernels[:, 0].tolist() == pytest.approx([2.0, 6.0])
    glob = pool_stuff_kernels(prob, kmap, score_thr=0.0, mode='global_avg')
    assert glob.kernels[:, 0].tolist() == pytest.approx([4 / 4, 12 / 4])
    # official: region = argmax & p >= 0.4, divided by the argmax count (2 each)
    off = pool_stuff_kernels(prob, kmap, kmap[:1], score_thr=0.0, mode='official')
    assert off.kernels[:, 0].tolist() == pytest.approx([1.0 / 2, (5.0 + 7.0) / 2])
    assert off.scores.tolist() == pytest.approx([0.9 / 2, (0.8 + 0.6) / 2])
    # depth kernels: mean over the thresholded region (count clamped at 1)
    assert off.depth_kernels[:, 0].tolist() == pytest.approx([1.0, 6.0])
    # score threshold drops class 0 (0.45 <= 0.5)
    assert pool_stuff_kernels(prob, kmap, score_thr=0.5).classes.tolist() == [1]


def test_cosine_fusion_is_class_specific_uniform_mean():
    k = torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [1.0, 0.001]])
    classes = torch.tensor([0, 0, 0, 1])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    depth = torch.tensor([[1.0], [3.0], [5.0], [7.0]])
    out = fuse_thing_kernels(k, classes, scores, depth, sim_thr=0.97)
    assert out.keep.tolist() == [True, False, True, True]
    assert out.kernels[0].tolist() == pytest.approx([(1 + 0.99) / 2, 0.005])
    assert out.depth_kernels[:, 0].tolist() == pytest.approx([2.0, 5.0, 7.0])
    assert out.classes.tolist() == [0, 0, 1] and out.scores.tolist() == pytest.approx(
        [0.9, 0.7, 0.6])


def test_cosine_fusion_chain_of_similar_kernels():
    # a ~ b, b ~ c, but a !~ c: b joins a; c's first similar kernel is b (suppressed), so c is
    # suppressed and joins no cluster
    ang = [0.0, 0.2, 0.4]
    k = torch.tensor([[math.cos(a), math.sin(a)] for a in ang])
    out = fuse_thing_kernels(k, torch.zeros(3, dtype=torch.long), torch.tensor([0.9, 0.8, 0.7]),
                             sim_thr=math.cos(0.25))
    assert out.keep.tolist() == [True, False, False]
    assert out.members.tolist() == [[True, True, False]]
    assert out.kernels[0].tolist() == pytest.approx(((k[0] + k[1]) / 2).tolist())


def test_stuff_fusion_averages_levels_per_class():
    out = fuse_stuff_kernels(torch.tensor([[1.0], [3.0], [10.0]]), torch.tensor([4, 4, 2]),
                             torch.tensor([0.2, 0.4, 0.9]), torch.tensor([[1.0], [2.0], [3.0]]))
    assert out.classes.tolist() == [2, 4]
    assert out.kernels[:, 0].tolist() == [10.0, 2.0]
    assert out.scores.tolist() == pytest.approx([0.9, 0.3])
    assert out.depth_kernels[:, 0].tolist() == [3.0, 1.5]


def test_akf_module_switches_pooling():
    with pytest.raises(ValueError):
        AdaptiveKernelFusion(stuff_pooling='bogus')
    akf = AdaptiveKernelFusion(stuff_pooling='global_avg', stuff_score_thr=0.0)
    prob = torch.tensor([[[0.9, 0.9]]])
    out = akf.pool_stuff(prob, torch.tensor([[[2.0, 4.0]]]))
    assert out.kernels.item() == pytest.approx(3.0)


def _dcn_case(seed, b, c_in, c_out, h, w):
    """Random float64 DCNv2 inputs (x, offset, mask, weight, bias); offsets up to ~±9 px."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c_in, h, w, dtype=torch.double, generator=g)
    wt = torch.randn(c_out, c_in, 3, 3, dtype=torch.double, generator=g)
    bias = torch.randn(c_out, dtype=torch.double, generator=g)
    off = torch.randn(b, 18, h, w, dtype=torch.double, generator=g) * 3
    m = torch.rand(b, 9, h, w, dtype=torch.double, generator=g)
    return x, off, m, wt, bias


@pytest.mark.parametrize('impl', ['grid_sample', 'gather', 'auto'])
def test_every_dcn_impl_equals_torchvision_outputs_and_gradients(impl):
    """float64, batch 2, one tap exactly on the -1 border: same output and the same gradients
    for x, weight, mask, offset and bias as ``torchvision.ops.deform_conv2d``."""
    from torchvision.ops import deform_conv2d

    from mmpdepth.models.layers.deform_conv import modulated_deform_conv3x3
    x, off, m, w, b = _dcn_case(0, 2, 4, 3, 7, 9)
    off[:, 0, 0, 0] = -1.0  # exactly on the -1 border
    leaves = (x, w, m, off, b)
    for t in leaves:
        t.requires_grad_()
    a = deform_conv2d(x, off, w, b, padding=1, mask=m)
    c = modulated_deform_conv3x3(x, off, m, w, b, impl=impl)
    assert torch.allclose(a, c, atol=1e-12)
    g = torch.randn_like(a)  # a non-uniform upstream gradient
    ga = torch.autograd.grad((a * g).sum(), leaves)
    gc = torch.autograd.grad((c * g).sum(), leaves)
    for name, p, q in zip(('x', 'weight', 'mask', 'offset', 'bias'), ga, gc):
        # the offset gradient jumps where a sample crosses a pixel edge: off[:, 0, 0, 0] sits on
        # one, where implementations may take either side; compare it elsewhere
        if name == 'offset':
            p, q = p.clone(), q.clone()
            p[:, 0, 0, 0] = q[:, 0, 0, 0] = 0
        assert torch.allclose(p, q, atol=1e-9), name


def test_gather_dcn_inference_equals_torchvision():
    """No autograd: product first, then the bilinear gather (``embedding_bag``); batch 2,
    offsets reaching every border, samples exactly on pixel centres and far outside."""
    from torchvision.ops import deform_conv2d

    from mmpdepth.models.layers.deform_conv import modulated_deform_conv3x3
    x, off, m, w, b = _dcn_case(1, 2, 5, 4, 8, 6)
    off[0, :, 0, 0] = torch.arange(18, dtype=off.dtype) - 9.0  # integer offsets, some outside
    off[1, 0, 3, 2] = -40.0  # a tap far above the image
    a = deform_conv2d(x, off, w, b, padding=1, mask=m)
    with torch.no_grad():
        c = modulated_deform_conv3x3(x, off, m, w, b, impl='gather')
        c32 = modulated_deform_conv3x3(x.float(), off.float(), m.float(), w.float(), b.float(),
                                       impl='gather')
    assert c.shape == a.shape
    assert torch.allclose(a, c, atol=1e-12)
    assert torch.allclose(a.float(), c32, rtol=1e-5, atol=1e-5)


def test_gather_rows_are_int32_while_they_fit():
    """The gather's row indices are int32 up to 2**31 - 1 rows of the product, int64 beyond
    (a product that large would overflow int32 rows silently)."""
    from mmpdepth.models.layers.deform_conv import _bilinear_tap_bags, gather_index_dtype
    assert gather_index_dtype(2**31 - 1) == torch.int32
    assert gather_index_dtype(2**31) == torch.int64
    off, m = torch.randn(2, 18, 5, 6) * 3, torch.rand(2, 9, 5, 6)
    i32, w32 = _bilinear_tap_bags(off, m, torch.int32)
    i64, w64 = _bilinear_tap_bags(off, m)
    assert i32.dtype == torch.int32 and i64.dtype == torch.int64
    assert torch.equal(i32.long(), i64) and torch.equal(w32, w64)
    assert int(i64.max()) < 2 * 5 * 6 * 9 and int(i64.min()) >= 0


def test_dcn_offset_conv_runs_padded_on_cpu_inference_only(monkeypatch):
    """CPU inference runs the 27-channel offset / mask conv with 32 filters (5 zero) and keeps
    the first 27: the same values; training and export run the module's own conv."""
    import mmpdepth.models.layers.deform_conv as dc
    torch.manual_seed(0)
    layer = dc.ModulatedDeformConv3x3(8, 8, zero_init_offset=False).eval()
    x = torch.randn(1, 8, 6, 10).contiguous(memory_format=torch.channels_last)
    seen = []
    conv2d = torch.nn.functional.conv2d
    monkeypatch.setattr(dc.F, 'conv2d', lambda inp, wt, *a: seen.append(wt.shape[0])
                        or conv2d(inp, wt, *a))
    with torch.no_grad():
        padded = layer._offset_conv(x)
    assert seen == [dc.OFFSET_CONV_CPU_CHANNELS] and padded.shape == (1, 27, 6, 10)
    plain = layer.conv_offset(x)  # with autograd: the module's conv, 27 filters
    assert torch.equal(layer._offset_conv(x), plain)
    assert torch.allclose(padded, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize('form,op', [('gather', 'index_select'), ('grid_sample', 'grid_sampler')])
def test_dcn_export_path_equals_torchvision(form, op):
    """The path taken under tracing (ONNX export, FLOP counting) computes the same DCNv2, in
    either export form (the default 'gather', or 'grid_sample')."""
    from torchvision.ops import deform_conv2d

    from mmpdepth.models.layers.deform_conv import export_dcn_form, modulated_deform_conv3x3
    x, off, m, w, b = _dcn_case(2, 1, 4, 3, 6, 7)
    with export_dcn_form(form):
        traced = torch.jit.trace(lambda *a: modulated_deform_conv3x3(*a, w, b), (x, off, m))
    graph = str(traced.graph)
    assert op in graph and 'torchvision::deform_conv2d' not in graph
    other = 'grid_sampler' if form == 'gather' else 'embedding_bag'
    assert other not in graph
    assert torch.allclose(traced(x, off, m), deform_conv2d(x, off, w, b, padding=1, mask=m),
                          atol=1e-12)
    with pytest.raises(ValueError, match='export form'):
        with export_dcn_form('nchw'):
            pass



def test_dcn_deform_conv_export_form_is_one_onnx_deformconv_node(tmp_path):
    """'deform_conv' exports each DCNv2 as one standard ``DeformConv`` node (opset 19) whose
    values (ONNX's reference evaluator, and ONNX Runtime where it has the kernel: >= 1.25) are
    torchvision's; below opset 19 the export stops with a message naming the form and opset."""
    import io

    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator
    from packaging.version import Version
    from torchvision.ops import deform_conv2d

    from mmpdepth.models.layers.deform_conv import export_dcn_form, modulated_deform_conv3x3
    x, off, m, w, b = (t.float() for t in _dcn_case(5, 1, 4, 3, 6, 7))

    class Layer(torch.nn.Module):

        def forward(self, x, off, m):
            return modulated_deform_conv3x3(x, off, m, w, b)

    def export(opset):
        buf = io.BytesIO()
        with export_dcn_form('deform_conv'):
            torch.onnx.export(Layer(), (x, off, m), buf, input_names=['x', 'off', 'm'],
                              output_names=['y'], opset_version=opset, dynamo=False)
        return onnx.load_from_string(buf.getvalue())

    model = export(19)
    assert [n.op_type for n in model.graph.node if n.op_type != 'Constant'] == ['DeformConv']
    ref = deform_conv2d(x, off, w, b, padding=1, mask=m).numpy()
    feeds = dict(x=x.numpy(), off=off.numpy(), m=m.numpy())
    y = ReferenceEvaluator(model).run(None, feeds)[0]
    assert np.abs(y - ref).max() < 1e-4
    import onnxruntime as ort
    if Version(ort.__version__) >= Version('1.25'):
        sess = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
        assert np.abs(sess.run(None, feeds)[0] - ref).max() < 1e-4
    with pytest.raises(ValueError, match="'deform_conv' needs ONNX opset >= 19.*opset 17"):
        export(17)


MIB = 2**20


@pytest.mark.parametrize('impl,device,grad,export,buffer_mb,expected', [
    ('auto', 'cpu', True, False, 300, 'gather'),          # CPU training, buffer within budget
    ('auto', 'cpu', True, False, 1200, 'torchvision'),    # ... past it: lean backward
    ('auto', 'cuda', True, False, 1, 'torchvision'),      # training on CUDA
    ('auto', 'cpu', False, False, 5000, 'gather'),        # CPU inference: fastest there
    ('auto', 'cuda', False, False, 1, 'torchvision'),     # CUDA inference: compiled kernel
    ('auto', 'cpu', False, True, 1, 'export'),            # tracing / ONNX: standard ops
    ('auto', 'cuda', True, True, 1, 'export'),
    ('grid_sample', 'cuda', True, False, 1, 'grid_sample'),
    ('grid_sample', 'cpu', False, True, 1, 'export'),
    ('gather', 'cpu', True, False, 5000, 'gather'),
    ('torchvision', 'cpu', False, True, 1, 'torchvision'),  # asked for explicitly
])
def test_dcn_auto_impl_picks_per_device_and_mode(impl, device, grad, export, buffer_mb,
                                                 expected):
    from mmpdepth.models.layers.deform_conv import select_dcn_impl
    assert select_dcn_impl(impl, device, grad, export, buffer_mb * MIB, 1024 * MIB) == expected


def test_dcn_module_auto_trains_with_gather_within_its_buffer_budget(monkeypatch):
    """CPU: 'gather' for training while the kept buffer fits ``train_gather_mb``, torchvision
    past it; 'gather' for inference at any size."""
    import mmpdepth.models.layers.deform_conv as dc
    calls = []
    for name in ('_dcn_gather', '_dcn_grid_sample'):
        fn = getattr(dc, name)
        monkeypatch.setattr(dc, name, lambda *a, _f=fn, _n=name: calls.append(_n) or _f(*a))
    tv = dc.deform_conv2d
    monkeypatch.setattr(dc, 'deform_conv2d',
                        lambda *a, **k: calls.append('torchvision') or tv(*a, **k))
    x = torch.randn(1, 4, 6, 8)  # buffer: 6 * 8 * 9 * 4 floats = 6912 bytes
    roomy = dc.ModulatedDeformConv3x3(4, 4, norm_cfg=None)
    tight = dc.ModulatedDeformConv3x3(4, 4, norm_cfg=None, train_gather_mb=6000 / MIB)
    roomy(x).sum().backward()
    tight(x).sum().backward()
    with torch.no_grad():
        tight(x)
    assert calls == ['_dcn_gather', 'torchvision', '_dcn_gather']
    with pytest.raises(ValueError, match='impl'):
        dc.ModulatedDeformConv3x3(4, 4, impl='cuda')


def test_dcn_runs_in_float32_under_bf16_autocast():
    """torchvision's CPU kernel has no bfloat16: under autocast the layer runs in float32 and
    gives the float32 result."""
    from mmpdepth.models.layers.deform_conv import ModulatedDeformConv3x3
    torch.manual_seed(0)
    layer = ModulatedDeformConv3x3(8, 8, norm_cfg=None, zero_init_offset=False)
    x = torch.randn(1, 8, 6, 7, requires_grad=True)
    ref = layer(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(x.bfloat16())
    assert out.dtype == torch.float32
    assert torch.allclose(out, layer(x.bfloat16().float()), atol=1e-5)
    assert (out - ref).abs().max() < 0.1  # only the bf16 rounding of the input differs
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize('img_hw,ori_hw', [((64, 96), (64, 96)), ((61, 90), (61, 90)),
                                           ((61, 90), (130, 170)), ((64, 96), (37, 50)),
                                           ((40, 56), (200, 260))])
def test_fusion_output_windows_hold_every_upsampled_mask_pixel(img_hw, ori_hw):
    """The paste looks only inside these windows: outside them the upsampled, cropped and
    resized probability never exceeds the threshold (padding, up- and downscaling)."""
    from mmpdepth.models.layers import flip_windows, output_windows, upsample_to_original
    torch.manual_seed(0)
    h4, w4 = (img_hw[0] + 31) // 32 * 8, (img_hw[1] + 31) // 32 * 8  # padded, stride 4
    probs = torch.rand(40, h4, w4) * 0.6  # scattered pixels above 0.5
    probs[:10] *= 0.7  # some candidates without any
    corners = [(0, 0), (0, w4 - 3), (h4 - 2, 0), (h4 - 2, w4 - 3), (h4 // 2, w4 // 3)]
    for i in range(10, 20):  # one small blob each, at the borders, corners and inside
        r, c = corners[i % 5]
        probs[i] = 0.2
        probs[i, r:r + 2, c:c + 3] = 0.9 if i < 15 else 0.51
    full = upsample_to_original(probs, img_hw, ori_hw) > 0.5
    win = output_windows(probs > 0.5, img_hw, ori_hw)
    assert full.shape[0] == win.shape[0] == 40
    flipped = flip_windows(win, ori_hw[1])
    for masks, windows in ((full, win), (full.flip(-1), flipped)):  # also for flipped TTA views
        for m, (y0, y1, x0, x1) in zip(masks, windows.tolist()):
            inside = torch.zeros_like(m)
            inside[y0:y1, x0:x1] = True
            assert not (m & ~inside).any()
    assert int((win[:, 1] - win[:, 0]).clamp(min=0)[:10].sum()) == 0  # no mask, empty window
    area = ((win[10:, 1] - win[10:, 0]) * (win[10:, 3] - win[10:, 2])).float()
    assert float(area[:10].max()) < 0.2 * ori_hw[0] * ori_hw[1]  # one blob: a small window


@pytest.mark.parametrize('img_hw,ori_hw', [((64, 96), (64, 96)), ((61, 90), (61, 90)),
                                           ((61, 90), (130, 170)), ((64, 96), (37, 50))])
@pytest.mark.parametrize('flip', [False, True])
def test_original_size_maps_equal_the_upsampled_stack_in_any_window(img_hw, ori_hw, flip):
    """The merge upsamples one thing at a time, only inside its window: bit for bit the same
    values as the whole (N, H, W) stack of upsample_to_original (flipped back for TTA)."""
    from mmpdepth.models.layers import OriginalSizeMaps, upsample_to_original
    g = torch.Generator().manual_seed(1)
    h4, w4 = (img_hw[0] + 31) // 32 * 8, (img_hw[1] + 31) // 32 * 8
    probs = torch.rand(6, h4, w4, generator=g)
    full = upsample_to_original(probs, img_hw, ori_hw)
    if flip:
        full = full.flip(-1)
    lazy = OriginalSizeMaps(probs, img_hw, ori_hw, flip=flip)
    assert lazy.shape == tuple(full.shape) and len(lazy) == 6
    H, W = ori_hw
    windows = [(0, H, 0, W), (0, 1, 0, 1), (H - 1, H, W - 1, W), (3, 4, 0, W), (0, H, 5, 6)]
    for _ in range(40):
        y0, y1 = sorted(torch.randint(0, H + 1, (2, ), generator=g).tolist())
        x0, x1 = sorted(torch.randint(0, W + 1, (2, ), generator=g).tolist())
        windows.append((y0, y1, x0, x1))
    for i, (y0, y1, x0, x1) in enumerate(windows):
        ours, ref = lazy.window(i % 6, (y0, y1, x0, x1)), full[i % 6, y0:y1, x0:x1]
        if (y1 - y0, x1 - x0) == ori_hw or img_hw != ori_hw:
            assert torch.equal(ours, ref)  # cut from the same computation
        else:  # a crop of the stride-4 map: the same weights, one rounding at most
            assert ours.shape == ref.shape
            assert torch.allclose(ours, ref, rtol=0, atol=2**-23), (ours - ref).abs().max()
    assert torch.equal(lazy.full(3), full[3])
    # the margin matters: a window cut at the crop's own border would differ by far more
    y = 4 * 3 + 1
    tight = torch.nn.functional.interpolate(probs[:1, None, 3:5], scale_factor=4,
                                            mode='bilinear', align_corners=False)[0, 0, y - 12]
    exact = upsample_to_original(probs, img_hw, img_hw)[0, y]
    assert (tight[:len(exact)] - exact).abs().max() > 1e-3


@pytest.mark.parametrize('flip', [False, True])
def test_original_size_maps_of_a_row_subset_equal_those_of_the_copied_rows(flip):
    """The merge keeps the rescored things as rows of the candidates' maps (no copy of the
    kept stack): each map and window is the one of the copied subset."""
    from mmpdepth.models.layers import OriginalSizeMaps
    g = torch.Generator().manual_seed(2)
    probs = torch.rand(7, 16, 24, generator=g)
    keep = torch.tensor([5, 0, 3])
    rows = OriginalSizeMaps(probs, (61, 90), (61, 90), flip=flip, rows=keep)
    copied = OriginalSizeMaps(probs[keep], (61, 90), (61, 90), flip=flip)
    assert len(rows) == 3 and rows.shape == copied.shape == (3, 61, 90)
    for i in range(3):
        assert torch.equal(rows.full(i), copied.full(i))
        for win in ((0, 61, 0, 90), (10, 30, 7, 50), (60, 61, 0, 1)):
            assert torch.equal(rows.window(i, win), copied.window(i, win))
    assert not torch.equal(rows.full(0), OriginalSizeMaps(probs, (61, 90), (61, 90),
                                                          flip=flip).full(0))


def test_semantic_fpn_fusion_sums_in_place_only_without_autograd():
    """At inference the level sum accumulates into the first branch's output (same values,
    no fresh stride-4 tensor per level); with autograd it stays out of place."""
    from mmpdepth.models.layers import SemanticFPNFusion
    torch.manual_seed(0)
    m = SemanticFPNFusion(in_channels=8, channels=8,
                          norm_cfg=dict(type='GN', num_groups=4)).eval()
    feats = [torch.randn(1, 8, 16 // 2**i, 24 // 2**i) for i in range(4)]
    with torch.no_grad():
        ref = m.branches[0](feats[0])
        for branch, f in zip(m.branches[1:], feats[1:]):
            ref = ref + branch(f)
        assert torch.equal(m(feats), ref)
    out = m(feats)
    assert out.requires_grad and torch.allclose(out, ref)
    out.sum().backward()  # an in-place sum on the ReLU output would fail here
    assert m.branches[0][0].conv.weight.grad is not None


def test_dcn_workspace_reuses_one_buffer_and_gives_the_same_output():
    """Inference DCN calls in a workspace write their product into one shared buffer (freed on
    exit); the output is unchanged, autograd calls keep their own product."""
    import mmpdepth.models.layers.deform_conv as dc
    torch.manual_seed(0)
    x, off, m = torch.randn(1, 8, 5, 6), torch.randn(1, 18, 5, 6), torch.rand(1, 9, 5, 6)
    w = torch.randn(8, 8, 3, 3)
    ref = dc._dcn_gather(x, off, m, w)
    with dc.dcn_workspace():
        a = dc._dcn_gather(x, off, m, w)
        buf = dc._workspace.buf
        assert buf is not None and buf.numel() == 5 * 6 * 9 * 8
        with dc.dcn_workspace():  # nested: the same buffer
            b = dc._dcn_gather(x[:, :, :4], off[:, :, :4], m[:, :, :4], w)
        assert dc._workspace.buf is buf
        wg = w.clone().requires_grad_()
        c = dc._dcn_gather(x, off, m, wg)  # autograd: not the shared buffer
        c.sum().backward()
        assert wg.grad is not None
        # only the offsets train: their gradient reads the product, which must survive the
        # next call
        og = off.clone().requires_grad_()
        d = dc._dcn_gather(x, og, m, w)
        dc._dcn_gather(2 * x, off, m, w)
        d.sum().backward()
        og_ref = off.clone().requires_grad_()
        dc._dcn_gather(x, og_ref, m, w).sum().backward()
        assert torch.equal(og.grad, og_ref.grad)
    assert dc._workspace.buf is None and not dc._workspace.active
    assert torch.equal(a, ref) and torch.allclose(c, ref)
    assert torch.equal(b, dc._dcn_gather(x[:, :, :4], off[:, :, :4], m[:, :, :4], w))
