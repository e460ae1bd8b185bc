"""fprdo.importance: the sketched diag(J^T J) against the exact Jacobian and finite differences, the colour
path against minicodec.colour, probe reproducibility, model output handling, post-processing and arguments."""
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minicodec  # noqa: E402
from minicodec import colour as mc  # noqa: E402

import fprdo  # noqa: E402
from fprdo_nets import RAW, one_thread, rand_img, rel_err, tiny_net  # noqa: E402, F401 (one_thread: autouse)
from fprdo import colour_torch as ct  # noqa: E402

imp = sys.modules["fprdo.importance"]  # the attribute fprdo.importance is the function


def pooled(maps):
    return np.concatenate([m.ravel() for m in maps])


# ----------------------------------------------------------------------------- colour path

@pytest.mark.parametrize("h,w", [(12, 10), (7, 5), (1, 1), (2, 3), (9, 16), (33, 17)])
def test_colour_torch_matches_minicodec_float(h, w):
    rng = np.random.default_rng(h * 100 + w)
    y = rng.uniform(0, 255, (h, w))
    cb, cr = (rng.uniform(0, 255, ((h + 1) // 2, (w + 1) // 2)) for _ in range(2))
    # minicodec.colour.yuv420_to_rgb before _to_u8
    ycc = np.stack([y, mc.upsample_chroma(cb, h, w), mc.upsample_chroma(cr, h, w)], -1)
    ref = (ycc - mc.YCBCR_OFFSET) @ mc.YCBCR_TO_RGB.T
    got = ct.yuv420_to_rgb(*(torch.tensor(a) for a in (y, cb, cr))).numpy()
    assert got.shape == (3, h, w)
    np.testing.assert_allclose(got.transpose(1, 2, 0), ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ct.upsample_chroma(torch.tensor(cb), h, w).numpy(), mc.upsample_chroma(cb, h, w),
                               rtol=0, atol=1e-12)
    # full range (gray pictures): chroma 128 -> R = G = B = Y
    ref_full = ycc.copy()
    ref_full[..., 1:] -= 128.0
    got_full = ct.yuv420_to_rgb(*(torch.tensor(a) for a in (y, cb, cr)), full_range=True).numpy()
    np.testing.assert_allclose(got_full.transpose(1, 2, 0), ref_full @ mc.YCBCR_TO_RGB_FULL.T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ct.gray_to_rgb(torch.tensor(y)).numpy(), np.stack([y] * 3), rtol=0, atol=1e-9)
    # rounding it gives minicodec's uint8 output; batch dimensions are carried
    u8 = [np.clip(np.rint(a), 0, 255).astype(np.uint8) for a in (y, cb, cr)]
    dec = ct.yuv420_to_rgb(*(torch.tensor(a.astype(np.float64)) for a in u8)).numpy()
    np.testing.assert_array_equal(np.clip(np.rint(dec), 0, 255).astype(np.uint8).transpose(1, 2, 0),
                                  mc.yuv420_to_rgb(*u8))
    batched = ct.yuv420_to_rgb(*(torch.tensor(np.stack([a, a + 1])) for a in (y, cb, cr))).numpy()
    np.testing.assert_allclose(batched[0], got, atol=1e-12)


# ----------------------------------------------------------------------------- the estimator

@pytest.mark.parametrize("h, w, stride, gray", [(7, 9, 4, False), (12, 10, 1, False), (5, 6, 8, False),
                                                  (9, 7, 4, True), (1, 1, 1, False), (2, 3, 2, False)])
def test_colour_adjoint_matches_autograd(h, w, stride, gray):
    # the sketch's transpose of planes -> padded model input (fprdo.colour_adjoint) against torch's own
    # backward through colour_torch and the replicate padding, probe by probe, squares summed
    from fprdo.colour_adjoint import accumulate_squared_grads, colour_matrix
    rng = np.random.default_rng(h * 100 + w)
    shapes = [(h, w)] if gray else [(h, w), ((h + 1) // 2, (w + 1) // 2), ((h + 1) // 2, (w + 1) // 2)]
    planes = [torch.tensor(rng.uniform(0, 255, s), requires_grad=True) for s in shapes]
    x = imp._pad_to_stride(imp._planes_to_input(planes, gray), stride)
    G = rng.standard_normal((3,) + tuple(x.shape[1:]))
    want = [np.zeros(s) for s in shapes]
    for g in G:
        for a, gi in zip(want, torch.autograd.grad(x, planes, torch.tensor(g[None]), retain_graph=True)):
            a += gi.numpy() ** 2
    got = [np.zeros(s) for s in shapes] + ([np.zeros((1, 1))] * 2 if gray else [])
    accumulate_squared_grads(G, colour_matrix(gray), gray, *got[:3])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-18)


def test_sketch_converges_to_exact_diagonal():
    net, img = tiny_net(), rand_img(12, 10)
    exact = fprdo.importance(img, net, exact=True, stride=1, **RAW)
    errs = [rel_err(fprdo.importance(img, net, probes=k, stride=1, batch=256, **RAW), exact)
            for k in (16, 256, 4096)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.05
    # Gaussian probes are unbiased too (noisier)
    assert rel_err(fprdo.importance(img, net, probes=1024, stride=1, probe="gaussian", batch=256, **RAW),
                   exact) < 0.15


def test_exact_matches_independent_jacobian():
    # exact=True against torch's full Jacobian of the model w.r.t. its RGB input, chained by hand with the
    # (linear) colour conversion: J_planes = J_rgb @ d rgb / d planes
    net, img = tiny_net(double=True), rand_img(6, 8, seed=3)
    exact = fprdo.importance(img, net, exact=True, stride=1, dtype=torch.float64, **RAW)
    planes = [torch.tensor(p, dtype=torch.float64) for p in mc.rgb_to_yuv420(img)]
    x = ct.yuv420_to_rgb(*planes).unsqueeze(0) / 255.0
    j_rgb = torch.autograd.functional.jacobian(lambda t: net(t).reshape(-1), x).reshape(-1, x.numel())
    j_col = torch.autograd.functional.jacobian(
        lambda *p: (ct.yuv420_to_rgb(*p) / 255.0).reshape(-1), tuple(planes))
    for e, jc in zip(exact, j_col):
        j = j_rgb @ jc.reshape(x.numel(), -1)
        np.testing.assert_allclose(e, (j ** 2).sum(0).reshape(e.shape).numpy(), rtol=1e-10, atol=1e-14)


def test_diagonal_matches_finite_differences():
    # w_p = ||J[:, p]||^2 = lim ||f(x + h e_p) - f(x - h e_p)||^2 / (4 h^2), through colour path and padding
    net, img = tiny_net(double=True), rand_img(12, 10, seed=1)
    kw = dict(stride=8, dtype=torch.float64)  # 12 x 10 is padded to 16 x 16
    w = fprdo.importance(img, net, exact=True, **kw, **RAW)
    planes = [p.astype(np.float64) for p in mc.rgb_to_yuv420(img)]
    h = 1e-3
    for plane, (i, j) in [(0, (4, 3)), (0, (11, 9)), (1, (2, 1)), (1, (5, 4)), (2, (0, 0)), (2, (3, 2))]:
        up, dn = [p.copy() for p in planes], [p.copy() for p in planes]
        up[plane][i, j] += h
        dn[plane][i, j] -= h
        fd = fprdo.feature_distance(net, tuple(up), tuple(dn), **kw) / (4 * h * h)
        assert fd == pytest.approx(w[plane][i, j], rel=1e-6), (plane, i, j)
    # the sketch sees the same thing
    sk = fprdo.importance(img, net, probes=1024, batch=256, **kw, **RAW)
    assert rel_err(sk, w) < 0.1


def test_gray_matches_finite_differences():
    net, img = tiny_net(double=True), rand_img(9, 7, seed=2, gray=True)
    w = fprdo.importance(img, net, exact=True, stride=4, dtype=torch.float64, **RAW)
    assert isinstance(w, np.ndarray) and w.shape == (9, 7) and w.dtype == np.float64
    h = 1e-3
    for i, j in [(0, 0), (4, 3), (8, 6)]:
        up, dn = img.astype(np.float64), img.astype(np.float64)
        up[i, j] += h
        dn[i, j] -= h
        # a gray picture decodes as full-range luma with neutral chroma: R = G = B = Y
        with torch.no_grad():
            fu = net(_pad(torch.tensor(np.stack([up] * 3))[None] / 255.0, 4)).reshape(-1)
            fdn = net(_pad(torch.tensor(np.stack([dn] * 3))[None] / 255.0, 4)).reshape(-1)
        fd = float(((fu - fdn) ** 2).sum()) / (4 * h * h)
        assert fd == pytest.approx(w[i, j], rel=1e-6)


def _pad(x, s):
    return torch.nn.functional.pad(x, (0, (-x.shape[-1]) % s, 0, (-x.shape[-2]) % s), mode="replicate")


def test_idse_predicts_feature_distance_better_than_sse():
    # a network with spatially varying sensitivity (a fixed gain map on its features), 50 localised blob
    # perturbations (sigma 0.4..1.2 luma samples; wide blobs bring in the cross-sample terms the diagonal
    # drops) of random position, width, amplitude and plane mix: sum w e^2 must track the true feature
    # distance better than sum e^2 does
    base = tiny_net(seed=5, double=True, out=4)
    gen = torch.Generator().manual_seed(0)
    gain = torch.exp(1.5 * torch.randn(1, 4, 8, 8, dtype=torch.float64, generator=gen))

    def net(x):
        return base(x) * gain

    img = rand_img(16, 16, seed=4)
    w = fprdo.importance(img, net, probes=512, batch=128, stride=16, dtype=torch.float64, tau=0.0, chroma_gain=1.0)
    planes = [p.astype(np.float64) for p in mc.rgb_to_yuv420(img)]
    rng = np.random.default_rng(0)
    true, idse, sse = [], [], []
    for _ in range(50):
        e = []
        for k, p in enumerate(planes):
            n = p.shape[0]
            yy, xx = np.mgrid[:n, :n]
            cy, cx = rng.uniform(0, n, 2)
            s = rng.uniform(0.4, 1.2) * n / 16
            amp = rng.uniform(-3, 3) * (1.0 if k == 0 else rng.uniform(0, 1))
            e.append(amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s)))
        true.append(fprdo.feature_distance(net, tuple(planes), tuple(p + d for p, d in zip(planes, e)),
                                           stride=16, dtype=torch.float64))
        idse.append(sum((wk * d * d).sum() for wk, d in zip(w, e)))
        sse.append(sum((d * d).sum() for d in e))
    r_idse = np.corrcoef(idse, true)[0, 1]
    r_sse = np.corrcoef(sse, true)[0, 1]
    assert r_idse > r_sse + 0.1  # 0.91 against 0.30 with these seeds (pure IDSE weights)
    assert r_idse > 0.8


# ----------------------------------------------------------------------------- probes, batches, outputs

def test_seed_reproducible_and_batch_independent():
    net, img = tiny_net(double=True), rand_img(12, 10)
    kw = dict(probes=20, seed=7, stride=1, dtype=torch.float64, **RAW)
    ref = fprdo.importance(img, net, batch=1, **kw)
    for b, vec in [(7, False), (64, False), (7, True), (64, True)]:
        got = fprdo.importance(img, net, batch=b, vectorize=vec, **kw)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=0)
    again = fprdo.importance(img, net, batch=1, **kw)
    for r, g in zip(ref, again):
        np.testing.assert_array_equal(g, r)
    other = fprdo.importance(img, net, batch=1, **{**kw, "seed": 8})
    assert rel_err(other, ref) > 1e-3
    # float32 default: batch sizes agree to rounding
    a = fprdo.importance(img, tiny_net(), probes=20, batch=3)
    b = fprdo.importance(img, tiny_net(), probes=20, batch=20)
    assert rel_err(a, b) < 1e-5


def test_dict_list_tuple_outputs():
    n1, n2 = tiny_net(1, double=True), tiny_net(2, double=True, out=2)
    img = rand_img(10, 12, seed=5)
    kw = dict(probes=16, stride=4, dtype=torch.float64, **RAW)

    def cat(x):
        return torch.cat([n1(x).reshape(-1), n2(x).reshape(-1)])

    ref = fprdo.importance(img, cat, **kw)
    for model in (lambda x: {"a": n1(x), "b": n2(x)}, lambda x: [n1(x), n2(x)], lambda x: (n1(x), n2(x))):
        for r, g in zip(ref, fprdo.importance(img, model, **kw)):
            np.testing.assert_allclose(g, r, rtol=1e-12)
    # output_weights scale the squared error of each output
    ref_w = fprdo.importance(img, lambda x: torch.cat([2.0 * n1(x).reshape(-1), n2(x).reshape(-1)]), **kw)
    for ow, model in (({"a": 4.0, "b": 1.0}, lambda x: {"a": n1(x), "b": n2(x)}),
                      ([4.0, 1.0], lambda x: [n1(x), n2(x)])):
        for r, g in zip(ref_w, fprdo.importance(img, model, output_weights=ow, **kw)):
            np.testing.assert_allclose(g, r, rtol=1e-12)
    d1 = fprdo.feature_distance(lambda x: {"a": n1(x), "b": n2(x)}, img, img[::-1].copy(), stride=4,
                                output_weights={"a": 4.0, "b": 1.0}, dtype=torch.float64)
    d2 = fprdo.feature_distance(lambda x: torch.cat([2.0 * n1(x).reshape(-1), n2(x).reshape(-1)]), img,
                                img[::-1].copy(), stride=4, dtype=torch.float64)
    assert d1 == pytest.approx(d2, rel=1e-12)


def test_model_untouched_and_no_grad_caller():
    net, img = tiny_net(), rand_img(12, 10)
    net.train()
    ref = fprdo.importance(img, net, probes=8)
    assert net.training
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        a = fprdo.importance(img, net, probes=8)
    with torch.inference_mode():
        b = fprdo.importance(img, net, probes=8)
    assert not net.training
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    for r, x, y in zip(ref, a, b):
        np.testing.assert_array_equal(x, r)
        np.testing.assert_array_equal(y, r)
    frozen = tiny_net()
    for p in frozen.parameters():
        p.requires_grad_(False)
    fprdo.importance(img, frozen, probes=2)
    assert not any(p.requires_grad for p in frozen.parameters())


def test_training_mode_batchnorm_warns():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    with pytest.warns(UserWarning, match="eval"):
        fprdo.importance(rand_img(8, 8), net, probes=2)
    assert net.training


# ----------------------------------------------------------------------------- post-processing and shapes

def test_postprocessing():
    net, img = tiny_net(), rand_img(12, 10)
    raw = fprdo.importance(img, net, probes=32, **RAW)
    one = dict(tau_chroma=None, chroma_gain=1.0)  # one mix for every plane, no chroma gain
    w = fprdo.importance(img, net, probes=32, tau=0.0, **one)  # normalize, clip at 99.5, pure IDSE
    # the defaults mix SSE into luma (tau 5) and keep chroma pure IDSE (chosen by bench/fprdo_experiment.py)
    for a, b in zip(fprdo.importance(img, net, probes=32),
                    fprdo.postprocess(raw, tau=5.0, tau_chroma=0.0, chroma_gain=1.0)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert pooled(w).mean() == pytest.approx(1.0, abs=1e-12)
    assert all(a.dtype == np.float64 and a.flags.c_contiguous for a in w)
    # clipping caps at the percentile (then renormalises)
    cap = np.percentile(pooled(raw), 90)
    clipped = fprdo.importance(img, net, probes=32, normalize=False, clip_percentile=90, tau=0.0, **one)
    assert pooled(clipped).max() == pytest.approx(cap, rel=1e-12)
    np.testing.assert_allclose(pooled(clipped), np.minimum(pooled(raw), cap), rtol=1e-12)
    c_norm = fprdo.importance(img, net, probes=32, clip_percentile=90, tau=0.0, **one)
    np.testing.assert_allclose(pooled(c_norm), pooled(clipped) / pooled(clipped).mean(), rtol=1e-12)
    # tau mixes towards SSE
    big = fprdo.importance(img, net, probes=32, tau=1e9, **one)
    assert np.abs(pooled(big) - 1).max() < 1e-6
    assert np.all(pooled(fprdo.importance(img, net, probes=32, tau=float("inf"), **one)) == 1.0)
    t1 = fprdo.importance(img, net, probes=32, tau=1.0, **one)
    np.testing.assert_allclose(pooled(t1), (pooled(w) + 1) / 2, rtol=1e-12)
    # per-plane mix: luma with tau, chroma with tau_chroma, then times chroma_gain
    pc = fprdo.postprocess(raw, tau=4.0, tau_chroma=0.0, chroma_gain=2.0)
    np.testing.assert_allclose(pc[0], (w[0] + 4) / 5, rtol=1e-12)
    for a, b in zip(pc[1:], w[1:]):
        np.testing.assert_allclose(a, 2 * b, rtol=1e-12)
    pi = fprdo.importance(img, net, probes=32, tau=1.0, tau_chroma=float("inf"), chroma_gain=1.0)
    np.testing.assert_allclose(pi[0], (w[0] + 1) / 2, rtol=1e-12)
    assert all(np.all(a == 1.0) for a in pi[1:])
    for a, b in zip(fprdo.postprocess(raw, tau=0.5, tau_chroma=0.5), fprdo.postprocess(raw, tau=0.5)):
        np.testing.assert_array_equal(a, b)
    # one plane: luma only, tau_chroma and chroma_gain do not apply
    gray = fprdo.postprocess(raw[0], clip_percentile=None, tau=2.0, tau_chroma=0.0, chroma_gain=3.0)
    np.testing.assert_allclose(gray, (raw[0] / raw[0].mean() + 2) / 3, rtol=1e-12)
    # smoothing is per plane and keeps the mean at 1
    sm = fprdo.importance(img, net, probes=32, smooth=1.0, clip_percentile=None, **one)
    assert pooled(sm).mean() == pytest.approx(1.0)
    assert pooled(sm).std() < pooled(fprdo.importance(img, net, probes=32, clip_percentile=None, **one)).std()
    # postprocess() re-processes raw maps the same way importance() does
    for a, b in zip(fprdo.postprocess(raw, tau=0.5), fprdo.importance(img, net, probes=32, tau=0.5, **one)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.warns(RuntimeWarning):
        assert np.all(pooled(fprdo.importance(img, lambda x: x.sum() * 0 + 1.0, probes=2, **one)) == 1.0)
    with pytest.warns(RuntimeWarning):
        assert np.all(pooled(fprdo.importance(img, lambda x: torch.ones(3), probes=2, **one)) == 1.0)
    lin = torch.nn.Linear(2, 2)  # features that depend on parameters only (the input is never used)
    for vec in (False, True):
        with pytest.warns(RuntimeWarning):
            w0 = fprdo.importance(img, lambda x: lin(torch.ones(2)), probes=3, vectorize=vec, **one)
            assert np.all(pooled(w0) == 1.0)


@pytest.mark.parametrize("h,w", [(12, 10), (7, 5), (1, 1), (17, 33)])
def test_shapes_and_encode(h, w):
    net = tiny_net()
    img = rand_img(h, w, seed=h + w)
    wy, wcb, wcr = fprdo.importance(img, net, probes=4)
    assert wy.shape == (h, w)
    assert wcb.shape == wcr.shape == ((h + 1) // 2, (w + 1) // 2)
    enc = minicodec.encode(img, qp=30, weights=(wy, wcb, wcr))
    assert enc.recon.shape == img.shape
    gray = rand_img(h, w, seed=h * w, gray=True)
    wg = fprdo.importance(gray, net, probes=4)
    assert isinstance(wg, np.ndarray) and wg.shape == (h, w)
    assert wg.mean() == pytest.approx(1.0)
    assert minicodec.encode(gray, qp=30, weights=wg).recon.shape == gray.shape
    # plane tuples (what encode also takes) give the same maps as the RGB picture they came from
    planes = mc.rgb_to_yuv420(img)
    for a, b in zip(fprdo.importance(planes, net, probes=4), (wy, wcb, wcr)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_feature_distance_and_psnr():
    net, img = tiny_net(double=True), rand_img(12, 10)
    kw = dict(dtype=torch.float64)
    assert fprdo.feature_distance(net, img, img, **kw) == 0.0
    assert fprdo.feature_psnr(net, img, img, **kw) == np.inf
    noisy = np.clip(img.astype(int) + np.random.default_rng(0).integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    d = fprdo.feature_distance(net, img, noisy, **kw)
    x = torch.tensor(img.transpose(2, 0, 1)[None] / 255.0)
    y = torch.tensor(noisy.transpose(2, 0, 1)[None] / 255.0)
    with torch.no_grad():
        fx, fy = net(_pad(x, 32)), net(_pad(y, 32))
    assert d == pytest.approx(float(((fx - fy) ** 2).sum()), rel=1e-12)
    p = fprdo.feature_psnr(net, img, noisy, **kw)
    assert p == pytest.approx(10 * np.log10(float((fx ** 2).mean()) / float(((fx - fy) ** 2).mean())), rel=1e-12)
    # planes go through the decoder's colour path: decoded planes == decoded RGB up to the rounding of RGB
    enc = minicodec.encode(img, qp=20)
    Y, Cb, Cr = minicodec.decode(enc.data, output="yuv")
    rgb = minicodec.decode(enc.data)
    assert fprdo.feature_distance(net, (Y, Cb, Cr), rgb, **kw) < 1e-2 * fprdo.feature_distance(net, img, rgb, **kw)
    with pytest.raises(ValueError, match="size"):
        fprdo.feature_distance(net, img, img[:8], **kw)


# ----------------------------------------------------------------------------- argument validation

@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(probes=0), ValueError, "probes"),
    (dict(probes=2.5), TypeError, "probes"),
    (dict(probes=True), TypeError, "probes"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(probe="sobol"), ValueError, "probe"),
    (dict(batch=0), ValueError, "batch"),
    (dict(tau=-0.1), ValueError, "tau"),
    (dict(tau_chroma=-1.0), ValueError, "tau_chroma"),
    (dict(tau_chroma="0"), TypeError, "tau_chroma"),
    (dict(chroma_gain=float("inf")), ValueError, "chroma_gain"),
    (dict(chroma_gain=-2.0), ValueError, "chroma_gain"),
    (dict(tau=float("nan")), ValueError, "tau"),
    (dict(clip_percentile=0), ValueError, "clip_percentile"),
    (dict(clip_percentile=100.5), ValueError, "clip_percentile"),
    (dict(smooth=-1), ValueError, "smooth"),
    (dict(stride=0), ValueError, "stride"),
    (dict(normalize="yes"), TypeError, "normalize"),
    (dict(exact=1), TypeError, "exact"),
    (dict(dtype=torch.int32), TypeError, "dtype"),
    (dict(output_weights=[1.0, 2.0]), ValueError, "output_weights"),
    (dict(output_weights=[-1.0]), ValueError, "output_weights"),
    (dict(unknown_option=1), TypeError, "unknown_option"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fprdo.importance(rand_img(8, 8), tiny_net(), **{"probes": 2, **kwargs})


@pytest.mark.parametrize("image,exc,match", [
    (np.zeros((8, 8, 3), np.float32), TypeError, "uint8"),
    (np.zeros((8, 8, 4), np.uint8), ValueError, "shape"),
    (np.zeros((0, 8), np.uint8), ValueError, "shape"),
    (np.zeros((2, 8, 8, 3), np.uint8), ValueError, "shape"),
    ([[1, 2], [3, 4]], ValueError, "items"),
    ("img", TypeError, "image"),
    ((np.zeros((8, 8)), np.zeros((4, 4)), np.zeros((3, 4))), ValueError, "chroma"),
])
def test_bad_images(image, exc, match):
    with pytest.raises(exc, match=match):
        fprdo.importance(image, tiny_net(), probes=2)


def test_bad_models():
    with pytest.raises(TypeError, match="model"):
        fprdo.importance(rand_img(8, 8), "resnet", probes=2)
    with pytest.raises(TypeError, match="model"):
        fprdo.importance(rand_img(8, 8), lambda x: {"a": None}, probes=2)
    with pytest.raises(TypeError, match="floating"):
        fprdo.importance(rand_img(8, 8), lambda x: (x > 0.5).long(), probes=2)


def test_extractors_not_imported_eagerly():
    import subprocess
    from pathlib import Path
    code = "import sys, fprdo; assert 'fprdo.extractors' not in sys.modules; print(sorted(fprdo.__all__))"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("importance", "feature_distance", "feature_psnr", "bd_rate", "bd_metric", "extractors"):
        assert repr(name) in out.stdout
