"""minicodec.encode(..., block_terms=q): the block-local IDSE e_b^T M_b e_b, M_b = diag(w_b) + Q_b^T Q_b -
diag(Q_b^T Q_b), in every RD decision. The reported distortion against numpy, the effect on the decisions,
conformance of the streams (FFmpeg and OpenH264 when present) and the argument checks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracles as o
from minicodec import decode, encode


def blocks(plane, nby, nbx):
    """(h, w) -> (nby, nbx, 16) raster 4x4 blocks, zero beyond the plane."""
    p = np.zeros((4 * nby, 4 * nbx))
    p[:plane.shape[0], :plane.shape[1]] = plane
    return p.reshape(nby, 4, nbx, 4).transpose(0, 2, 1, 3).reshape(nby, nbx, 16)


def random_terms(rng, w, rank, scale=1.0):
    """Block terms whose diagonal stays within w (M_b positive semi-definite): random directions, each block
    scaled so that sum_i q_ip^2 <= w_p."""
    nby, nbx = -(-w.shape[0] // 4), -(-w.shape[1] // 4)
    q = rng.standard_normal((nby, nbx, rank, 16))
    inside = blocks(np.ones_like(w), nby, nbx) > 0
    wb = np.where(inside, blocks(w, nby, nbx), np.inf)  # samples outside the picture: no constraint (ignored)
    c = (q * q).sum(2)
    f = np.where(c > 0, wb / np.where(c > 0, c, 1), np.inf).min(-1)
    return q * np.sqrt(np.minimum(f, 1e6) * scale * (1 - 1e-9))[..., None, None]


def block_distortion(src, rec, w, q):
    """Numpy reference: per sample w e^2, per block sum_i (q_bi . e_b)^2 - sum_p (sum_i q_bip^2) e_p^2."""
    e = src.astype(np.float64) - rec.astype(np.float64)
    nby, nbx = q.shape[:2]
    eb = blocks(e, nby, nbx)
    cross = (np.einsum("yxri,yxi->yxr", q, eb) ** 2).sum(-1) - ((q * q).sum(2) * eb * eb).sum(-1)
    d = w * e * e
    out = blocks(d, nby, nbx).sum(-1) + cross  # per block
    return out


def mb_sums(per_block, mb):
    """Per-4x4-block values -> per macroblock (mb = 4 for luma, 2 for chroma blocks per MB side)."""
    nby, nbx = per_block.shape
    rows, cols = -(-nby // mb), -(-nbx // mb)
    p = np.zeros((rows * mb, cols * mb))
    p[:nby, :nbx] = per_block
    return p.reshape(rows, mb, cols, mb).sum((1, 3))


def random_planes(rng, h, w):
    ch, cw = (h + 1) // 2, (w + 1) // 2
    smooth = lambda a: np.clip(a, 0, 255).astype(np.uint8)  # noqa: E731
    yy, xx = np.mgrid[:h, :w]
    Y = smooth(128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 12, (h, w)))
    return Y, smooth(rng.normal(128, 20, (ch, cw))), smooth(rng.normal(128, 20, (ch, cw)))


def assert_decodes(enc):
    """minicodec.decode gives the encoder's picture (cropped to the true size, which odd sizes round up)."""
    got = tuple(decode(enc.data, output="yuv"))
    o.assert_planes_equal(got, tuple(p[:g.shape[0], :g.shape[1]] for p, g in zip(enc.planes, got)),
                          "minicodec.decode")


@pytest.mark.parametrize("effort", ["fast", "medium", "full"])
@pytest.mark.parametrize("h, w", [(48, 64), (37, 50)])
def test_mb_distortion_is_the_block_form(effort, h, w):
    """With deblocking off, each macroblock's reported distortion is sum_b e_b^T M_b e_b over its luma and
    chroma 4x4 blocks, computed here in numpy from the decoded picture (odd sizes: samples outside the
    picture carry nothing). At medium and full the terms change the stream (exact-J decisions and RDOQ use
    them); fast decides by SATD and its dead zone, which see only the diagonal, and compares Intra_16x16 with
    Intra_4x4 by exact J only when their SATD costs are close. The stream decodes to the encoder's picture."""
    rng = np.random.default_rng(h * 100 + w)
    planes = random_planes(rng, h, w)
    ws = tuple(rng.uniform(0.2, 3.0, p.shape) for p in planes)
    qs = tuple(random_terms(rng, wk, r) for wk, r in zip(ws, (4, 2, 1)))  # rank 4: used in place
    enc = encode(planes, qp=30, weights=ws, block_terms=qs, deblock=False, effort=effort)
    plain = encode(planes, qp=30, weights=ws, deblock=False, effort=effort)
    if effort != "fast":
        assert enc.data != plain.data
    per_mb = sum(mb_sums(block_distortion(s, r[:s.shape[0], :s.shape[1]], wk, q), 4 if k == 0 else 2)
                 for k, (s, r, wk, q) in enumerate(zip(planes, enc.planes, ws, qs)))
    np.testing.assert_allclose(enc.mb_distortion, per_mb, rtol=1e-9, atol=1e-9)
    assert_decodes(enc)


def test_diagonal_terms_are_the_weights_alone():
    """Block terms whose Q^T Q is diagonal add no cross terms: M_b = diag(w), so the decisions are those of
    the weights alone (up to the rounding of w - c + c, checked on the distortion totals)."""
    rng = np.random.default_rng(1)
    planes = random_planes(rng, 32, 48)
    w = rng.uniform(0.5, 2.0, (32, 48))
    nby, nbx = 8, 12
    c = blocks(w, nby, nbx) * rng.uniform(0, 1, (nby, nbx, 16))  # diag(Q^T Q) <= w
    q = np.zeros((nby, nbx, 16, 16))
    for p in range(16):
        q[:, :, p, p] = np.sqrt(c[:, :, p])
    a = encode(planes, qp=28, weights=w, block_terms=(q, None, None), deblock=False, effort="medium")
    b = encode(planes, qp=28, weights=w, deblock=False, effort="medium")
    np.testing.assert_allclose(a.mb_distortion.sum(), b.mb_distortion.sum(), rtol=1e-6)
    assert abs(len(a.data) - len(b.data)) <= 0.01 * len(b.data)


def test_zero_terms_give_the_weights_stream():
    """Terms that are all zero, or no plane's terms at all, decide exactly as the weights alone."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 56, 3), np.uint8)
    w = rng.uniform(0.5, 2.0, (40, 56))
    for effort in ("fast", "medium"):
        plain = encode(img, qp=30, weights=w, effort=effort).data
        assert encode(img, qp=30, weights=w, block_terms=np.zeros((10, 14, 2, 16)), effort=effort).data == plain
        assert encode(img, qp=30, weights=w, block_terms=(None, None, None), effort=effort).data == plain


def test_block_mean_terms_keep_block_means():
    """A rank-1 term on the block mean (q = s * 1/4: a network that sees a 4x-downscaled picture) makes the
    encoder keep each block's mean where it is strong: the mean absolute error of the 4x4 block means in that
    half drops against the same diagonal without cross terms, by a fifth at least (by 31 % here), while SSE
    there rises."""
    rng = np.random.default_rng(3)
    h, w = 64, 64
    yy, xx = np.mgrid[:h, :w]
    Y = np.clip(128 + 50 * np.sin(xx / 3.1 + yy / 4.3) + rng.normal(0, 25, (h, w)), 0, 255).astype(np.uint8)
    c = np.full((h, w), 128, np.uint8)[: h // 2, : w // 2]
    planes = (Y, c, c.copy())
    nb = h // 4
    s = np.zeros((nb, nb))
    s[:, nb // 2:] = 3.5  # right half: the block mean weighs 3.5^2 / 16 per sample more than its pattern
    q = np.zeros((nb, nb, 1, 16))
    q[:, :, 0, :] = s[:, :, None] * 0.25
    wdiag = np.ones((h, w)) + np.kron(s * s / 16.0, np.ones((4, 4)))  # the same diagonal in both encodes
    errs = {}
    for name, terms in (("diag", None), ("block", (q, None, None))):
        enc = encode(planes, qp=34, weights=(wdiag, np.ones_like(c, float), np.ones_like(c, float)),
                     block_terms=terms, effort="medium")
        e = enc.planes[0].astype(float) - Y
        means = e.reshape(nb, 4, nb, 4).mean((1, 3))
        errs[name] = (np.abs(means[:, nb // 2:]).mean(), (e[:, w // 2:] ** 2).mean())
    assert errs["block"][0] < 0.8 * errs["diag"][0], errs
    assert errs["block"][1] > errs["diag"][1], errs


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), h=st.integers(1, 40), w=st.integers(1, 40),
       rank=st.integers(1, 16), effort=st.sampled_from(["fast", "medium", "full"]), qp=st.integers(0, 51))
def test_any_terms_decode_bit_exactly(seed, h, w, rank, effort, qp):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), np.uint8)
    ws = (rng.uniform(0, 5, (h, w)), rng.uniform(0, 5, ((h + 1) // 2, (w + 1) // 2)),
          rng.uniform(0, 5, ((h + 1) // 2, (w + 1) // 2)))
    qs = tuple(random_terms(rng, wk, rank) for wk in ws)
    enc = encode(img, qp=qp, weights=ws, block_terms=qs, effort=effort, aq="weights")
    assert_decodes(enc)


@o.skip_if_no_ffmpeg
@pytest.mark.parametrize("effort", ["fast", "medium", "full"])
def test_foreign_decoders_read_block_term_streams(effort):
    img = o.sample_image("chelsea_48x64")
    rng = np.random.default_rng(5)
    ws = tuple(rng.uniform(0, 4, s) for s in ((48, 64), (24, 32), (24, 32)))
    qs = tuple(random_terms(rng, wk, 4) for wk in ws)
    enc = encode(img, qp=27, weights=ws, block_terms=qs, effort=effort, aq="weights")
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            o.assert_planes_equal(o.ffmpeg_decode(enc.data, dec, expected_frames=1)[0], tuple(enc.planes), dec)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(block_terms=np.zeros((3, 4, 1, 16))), ValueError, "block_terms needs weights"),
    (dict(weights=np.ones((12, 16)), block_terms=[np.zeros((3, 4, 1, 16))]), TypeError, "block_terms must be"),
    (dict(weights=np.ones((12, 16)), block_terms="x"), TypeError, "block_terms must be"),
    (dict(weights=np.ones((12, 16)), block_terms=np.zeros((3, 4, 1, 15))), ValueError, r"block_terms must have shape"),
    (dict(weights=np.ones((12, 16)), block_terms=np.zeros((4, 4, 1, 16))), ValueError, r"\(3, 4, rank, 16\)"),
    (dict(weights=np.ones((12, 16)), block_terms=np.zeros((3, 4, 0, 16))), ValueError, "rank 1..16"),
    (dict(weights=np.ones((12, 16)), block_terms=np.zeros((3, 4, 17, 16))), ValueError, "rank 1..16"),
    (dict(weights=np.ones((12, 16)), block_terms=np.zeros((3, 4, 1, 16), bool)), TypeError, "real array"),
    (dict(weights=np.ones((12, 16)), block_terms=np.full((3, 4, 1, 16), np.nan)), ValueError, "NaN"),
    (dict(weights=np.ones((12, 16)), block_terms=np.full((3, 4, 1, 16), 1.01)), ValueError,
     "positive semi-definite"),
    (dict(weights=(np.ones((12, 16)), np.ones((6, 8)), np.ones((6, 8))),
      block_terms=(None, np.zeros((2, 3, 1, 16)), None)), ValueError, r"block_terms\[1\] must have shape"),
])
def test_bad_block_terms(kwargs, exc, match):
    img = np.zeros((12, 16, 3), np.uint8)
    with pytest.raises(exc, match=match):
        encode(img, qp=30, **kwargs)
