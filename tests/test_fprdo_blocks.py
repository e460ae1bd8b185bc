"""fprdo.block_importance: the sketched 4x4 block forms of J^T J (the paper's block-local IDSE) against the exact
Jacobian, the colour path's transpose, the low-rank terms and their post-processing, and a feature distance the
block form predicts where the diagonal cannot."""
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minicodec  # noqa: E402
from minicodec import colour as mc  # noqa: E402

import fprdo  # noqa: E402
from fprdo_nets import RAW, one_thread, rand_img, rel_err, tiny_net  # noqa: E402, F401 (one_thread: autouse)
from fprdo import colour_torch as ct  # noqa: E402

imp = sys.modules["fprdo.importance"]


def forms_of(q):
    """Block terms (nby, nbx, rank, 16) -> Q^T Q per block."""
    return np.einsum("yxri,yxrj->yxij", q, q)


def blocks_of(jac, h, w):
    """Jacobian rows (n, h, w) of one plane -> per 4x4 block the 16 x 16 J_b^T J_b (zero beyond the edge)."""
    n = jac.shape[0]
    nby, nbx = -(-h // 4), -(-w // 4)
    p = np.zeros((n, 4 * nby, 4 * nbx))
    p[:, :h, :w] = jac
    g = p.reshape(n, nby, 4, nbx, 4).transpose(1, 3, 0, 2, 4).reshape(nby, nbx, n, 16)
    return np.einsum("yxki,yxkj->yxij", g, g)


def rel_err(a, b):
    a = np.concatenate([np.ravel(x) for x in a])
    b = np.concatenate([np.ravel(x) for x in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("h, w, stride, gray", [(7, 9, 4, False), (12, 10, 1, False), (5, 6, 8, False),
                                                  (9, 7, 4, True), (1, 1, 1, False), (8, 8, 2, False)])
def test_colour_adjoint_block_forms_match_autograd(h, w, stride, gray):
    """accumulate_block_forms: per probe the plane gradients (torch's own backward through the colour path
    and the padding here) and per 4x4 block the sum of their outer products; the diagonals are what
    accumulate_squared_grads adds."""
    from fprdo.colour_adjoint import accumulate_block_forms, accumulate_squared_grads, colour_matrix
    rng = np.random.default_rng(h * 100 + w)
    shapes = [(h, w)] if gray else [(h, w), ((h + 1) // 2, (w + 1) // 2), ((h + 1) // 2, (w + 1) // 2)]
    planes = [torch.tensor(rng.uniform(0, 255, s), requires_grad=True) for s in shapes]
    x = imp._pad_to_stride(imp._planes_to_input(planes, gray), stride)
    G = rng.standard_normal((3,) + tuple(x.shape[1:]))
    grads = [[], [], []]
    for g in G:
        for k, gi in enumerate(torch.autograd.grad(x, planes, torch.tensor(g[None]), retain_graph=True)):
            grads[k].append(gi.numpy())
    nb = [(-(-s[0] // 4), -(-s[1] // 4)) for s in shapes]
    got = [np.zeros(b + (16, 16)) for b in nb] + ([np.zeros((1, 1, 16, 16))] * 2 if gray else [])
    accumulate_block_forms(G, colour_matrix(gray), gray, *got[:3], h, w)
    sq = [np.zeros(s) for s in shapes] + ([np.zeros((1, 1))] * 2 if gray else [])
    accumulate_squared_grads(G, colour_matrix(gray), gray, *sq[:3])
    for k, s in enumerate(shapes):
        want = blocks_of(np.array(grads[k]), *s)
        np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-18)
        diag = np.diagonal(got[k], axis1=2, axis2=3).reshape(nb[k] + (4, 4)).transpose(0, 2, 1, 3)
        np.testing.assert_allclose(diag.reshape(4 * nb[k][0], 4 * nb[k][1])[:s[0], :s[1]], sq[k], rtol=1e-12)


def test_exact_block_forms_match_independent_jacobian():
    """exact=True, rank 16: Q^T Q of each block is J_b^T J_b from torch's full Jacobian (chained by hand with
    the linear colour conversion), and the weights are its diagonal."""
    net, img = tiny_net(double=True), rand_img(6, 10, seed=3)
    w, q = fprdo.block_importance(img, net, exact=True, rank=16, stride=1, dtype=torch.float64, **RAW)
    planes = [torch.tensor(p, dtype=torch.float64) for p in mc.rgb_to_yuv420(img)]
    x = ct.yuv420_to_rgb(*planes).unsqueeze(0) / 255.0
    j_rgb = torch.autograd.functional.jacobian(lambda t: net(t).reshape(-1), x).reshape(-1, x.numel())
    j_col = torch.autograd.functional.jacobian(lambda *p: (ct.yuv420_to_rgb(*p) / 255.0).reshape(-1), tuple(planes))
    for wk, qk, jc, p in zip(w, q, j_col, planes):
        j = (j_rgb @ jc.reshape(x.numel(), -1)).numpy().reshape((-1,) + tuple(p.shape))
        want = blocks_of(j, *p.shape)
        np.testing.assert_allclose(forms_of(qk), want, rtol=1e-8, atol=1e-12 * np.abs(want).max())
        np.testing.assert_allclose(wk, (j ** 2).sum(0), rtol=1e-10)


def test_sketch_converges_to_exact_block_forms():
    net, img = tiny_net(), rand_img(12, 10)
    _, exact = fprdo.block_importance(img, net, exact=True, rank=16, stride=1, **RAW)
    exact = [forms_of(q) for q in exact]
    errs = [rel_err([forms_of(q) for q in fprdo.block_importance(img, net, probes=k, rank=16, stride=1,
                                                                  batch=256, **RAW)[1]], exact)
            for k in (16, 256, 4096)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.06  # off-diagonal entries are noisier than the diagonal's (< 5 % there at 4096)


def test_weights_are_importance_and_terms_fit_them():
    """The weights are exactly importance()'s with the same options and probes; the terms' diagonal never
    exceeds them (the encoder's form stays positive semi-definite), for the defaults and for clipping that
    cuts the diagonal under the terms."""
    net, img = tiny_net(), rand_img(20, 14, seed=1)
    for opts in ({}, dict(clip_percentile=50.0, tau=0.0), dict(smooth=1.5, tau=1.0, tau_chroma=None)):
        w, q = fprdo.block_importance(img, net, probes=32, **opts)
        for a, b in zip(w, fprdo.importance(
                img, net, probes=32, **{**dict(tau=imp.BLOCK_TAU, chroma_gain=imp.BLOCK_CHROMA_GAIN), **opts})):
            np.testing.assert_array_equal(a, b)
        for wk, qk in zip(w, q):
            assert qk.shape == (-(-wk.shape[0] // 4), -(-wk.shape[1] // 4), imp.BLOCK_RANK, 16)
            c = (qk * qk).sum(2).reshape(qk.shape[0], qk.shape[1], 4, 4).transpose(0, 2, 1, 3)
            c = c.reshape(4 * qk.shape[0], 4 * qk.shape[1])
            assert np.all(c[:wk.shape[0], :wk.shape[1]] <= wk * (1 + 1e-9))
        minicodec.encode(img, qp=30, weights=w, block_terms=q, effort="medium", aq="weights")


def test_block_terms_from_forms_is_the_best_low_rank_part():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((3, 2, 40, 16)) * rng.uniform(0.1, 3, 16)
    M = np.einsum("yxki,yxkj->yxij", g, g) / 40
    for r in (1, 4, 16):
        q = imp.block_terms_from_forms(M, r)
        assert q.shape == (3, 2, r, 16)
        F = forms_of(q)
        lam = np.linalg.eigvalsh(M)[..., ::-1]
        # Eckart-Young: the error of the best rank-r approximation is the (r+1)-th eigenvalue (spectral norm)
        err = np.linalg.norm(M - F, ord=2, axis=(2, 3))
        np.testing.assert_allclose(err, lam[..., r] if r < 16 else 0.0, atol=1e-9 * lam[..., 0].max())
        # the remainder is positive semi-definite, so the diagonal of Q^T Q never exceeds M's
        assert np.linalg.eigvalsh(M - F).min() > -1e-9 * lam.max()
        assert np.all(np.diagonal(F, axis1=2, axis2=3) <= np.diagonal(M, axis1=2, axis2=3) * (1 + 1e-12))
    for bad, exc in ((0, ValueError), (17, ValueError), (2.0, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="rank"):
            imp.block_terms_from_forms(M, bad)


def test_postprocess_blocks_scales_terms_with_their_plane():
    rng = np.random.default_rng(1)
    maps = (rng.uniform(1, 4, (8, 12)), rng.uniform(0, 2, (4, 6)), rng.uniform(0, 2, (4, 6)))
    terms = tuple(rng.uniform(-0.2, 0.2, (m.shape[0] // 4 + (m.shape[0] % 4 > 0), -(-m.shape[1] // 4), 2, 16))
                  for m in maps)
    s = sum(m.size for m in maps) / sum(m.sum() for m in maps)  # normalisation to mean 1
    w, q = fprdo.postprocess_blocks(maps, terms, clip_percentile=None, tau=3.0, tau_chroma=0.0, chroma_gain=2.0)
    for a, b in zip(w, fprdo.postprocess(maps, clip_percentile=None, tau=3.0, tau_chroma=0.0, chroma_gain=2.0)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(q[0], terms[0] * np.sqrt(s / 4.0), rtol=1e-12)  # 8 x 12: whole blocks
    for a, b in zip(q[1:], terms[1:]):  # 4 x 6: the second block's last two columns lie outside: zeroed
        inside = np.tile(np.arange(16) % 4 < 2, (1, 1, 1, 1))
        np.testing.assert_allclose(a[:, :1], b[:, :1] * np.sqrt(2 * s), rtol=1e-12)
        np.testing.assert_allclose(a[:, 1:], np.where(inside, b[:, 1:] * np.sqrt(2 * s), 0.0), rtol=1e-12)
    # tau = inf: plain SSE, no terms
    w, q = fprdo.postprocess_blocks(maps, terms, tau=float("inf"), tau_chroma=float("inf"))
    assert all(np.all(x == 0) for x in q) and all(np.all(x == 1) for x in w)
    # terms above a clipped diagonal are shrunk per block until they fit
    big = tuple(t * 50 for t in terms)
    w, q = fprdo.postprocess_blocks(maps, big, clip_percentile=30.0)
    for wk, qk in zip(w, q):
        c = (qk * qk).sum(2).reshape(qk.shape[0], qk.shape[1], 4, 4).transpose(0, 2, 1, 3)
        assert np.all(c.reshape(4 * qk.shape[0], -1)[:wk.shape[0], :wk.shape[1]] <= wk * (1 + 1e-9))
    # one plane (gray)
    wg, qg = fprdo.postprocess_blocks(maps[0], terms[0], clip_percentile=None, tau=1.0)
    np.testing.assert_allclose(qg, terms[0] * np.sqrt(maps[0].size / maps[0].sum() / 2), rtol=1e-12)
    with pytest.raises(ValueError, match="structure"):
        fprdo.postprocess_blocks(maps, terms[0])
    with pytest.raises(ValueError, match="shape"):
        fprdo.postprocess_blocks(maps, (terms[0], terms[0], terms[0]))


def test_block_idse_predicts_a_pooled_networks_feature_distance():
    """A network that sees the picture averaged over 4x4 blocks (like a detector's downscaled pyramid) does
    not see an error's pattern inside a block, only its mean. The diagonal counts every error sample alike;
    the block form sees the mean. Over random perturbations mixing block means and in-block patterns, the
    block IDSE tracks the true feature distance far better than the diagonal IDSE."""
    g = torch.Generator().manual_seed(2)
    conv = torch.nn.Conv2d(3, 4, 1).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g, dtype=torch.float64))

    def net(x):
        return torch.tanh(conv(torch.nn.functional.avg_pool2d(x, 4)))

    img = rand_img(16, 16, seed=6)
    kw = dict(stride=16, dtype=torch.float64, tau=0.0, chroma_gain=1.0, clip_percentile=None)
    w, q = fprdo.block_importance(img, net, probes=256, rank=4, batch=64, **kw)
    planes = [p.astype(np.float64) for p in mc.rgb_to_yuv420(img)]
    rng = np.random.default_rng(0)
    true, diag, block = [], [], []
    for _ in range(40):
        e = []
        for p in planes:
            nby, nbx = p.shape[0] // 4, p.shape[1] // 4
            mean = np.kron(rng.normal(0, 1, (nby, nbx)) * rng.uniform(0, 2), np.ones((4, 4)))
            pattern = rng.normal(0, 1, p.shape) * rng.uniform(0, 6)
            e.append(mean + pattern)
        true.append(fprdo.feature_distance(net, tuple(planes), tuple(p + d for p, d in zip(planes, e)),
                                           stride=16, dtype=torch.float64))
        diag.append(sum((wk * d * d).sum() for wk, d in zip(w, e)))
        blk = 0.0
        for wk, qk, d in zip(w, q, e):
            eb = d.reshape(qk.shape[0], 4, qk.shape[1], 4).transpose(0, 2, 1, 3).reshape(qk.shape[0], qk.shape[1], 16)
            c = (qk * qk).sum(2)
            blk += (wk.reshape(eb.shape[0], 4, eb.shape[1], 4).transpose(0, 2, 1, 3).reshape(eb.shape) * eb * eb
                    ).sum() - (c * eb * eb).sum() + (np.einsum("yxri,yxi->yxr", qk, eb) ** 2).sum()
        block.append(blk)
    r_diag = np.corrcoef(diag, true)[0, 1]
    r_block = np.corrcoef(block, true)[0, 1]
    assert r_block > 0.95 and r_block > r_diag + 0.1, (r_block, r_diag)  # 0.995 and 0.83 with these seeds


@pytest.mark.parametrize("h, w, gray", [(12, 10, False), (7, 5, False), (1, 1, False), (9, 13, True)])
def test_shapes_and_encode(h, w, gray):
    net, img = tiny_net(), rand_img(h, w, gray=gray)
    wq = fprdo.block_importance(img, net, probes=4, rank=2)
    wts, q = wq
    if gray:
        assert wts.shape == (h, w) and q.shape == (-(-h // 4), -(-w // 4), 2, 16)
    else:
        assert [x.shape for x in q] == ([(-(-h // 4), -(-w // 4), 2, 16)]
                                        + [(-(-((h + 1) // 2) // 4), -(-((w + 1) // 2) // 4), 2, 16)] * 2)
    enc = minicodec.encode(img, qp=28, weights=wts, block_terms=q, effort="full")
    assert enc.recon.shape == img.shape


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(rank=0), ValueError, "rank"), (dict(rank=17), ValueError, "rank"), (dict(rank=2.5), TypeError, "rank"),
    (dict(probes=0), ValueError, "probes"), (dict(tau=-1.0), ValueError, "tau"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fprdo.block_importance(rand_img(8, 8), tiny_net(), **kwargs)
