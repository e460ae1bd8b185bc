"""Property tests: whatever the input and options, the stream decodes to exactly the encoder's picture.

Random sizes 1..70 x 1..70, RGB / gray / (Y, Cb, Cr) planes, scalar QPs or per-macroblock QP maps,
content from flat to noise to extreme checkerboards, and random options (deblocking and its offsets,
slices, effort, RDOQ, adaptive quantisation, lambda, weights, forced macroblock types and prediction modes). The decoder is
minicodec's own; its bit-exactness with FFmpeg is the conformance tests' job.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from minicodec import decode, decode_frames, encode
from minicodec.colour import rgb_to_yuv420

SETTINGS = dict(max_examples=40, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KINDS = ("noise", "gradient", "flat", "checker", "smooth", "stripes", "mixture", "photo")
TILE_KINDS = [k for k in KINDS if k != "mixture"]


def _photo():
    try:
        from skimage.data import astronaut
    except ImportError:  # content only: fall back to smooth noise
        return None
    return astronaut()


_PHOTO = _photo()


def make_plane(rng, kind, h, w):
    """One uint8 plane of the given kind."""
    if kind == "noise":
        return rng.integers(0, 256, (h, w), np.uint8)
    if kind == "flat":
        return np.full((h, w), rng.integers(0, 256), np.uint8)
    if kind == "gradient":
        a, b, c = rng.uniform(-6, 6, 3)
        y, x = np.mgrid[:h, :w]
        return np.clip(a * y + b * x + c + rng.uniform(0, 255), 0, 255).astype(np.uint8)
    if kind == "checker":  # extreme values: stresses clipping in prediction, transforms and deblocking
        s = int(rng.integers(1, 5))
        y, x = np.mgrid[:h, :w]
        return np.where(((y // s) + (x // s)) % 2 == 0, 0, 255).astype(np.uint8)
    if kind == "smooth":
        n = rng.normal(0, 40, (h // 4 + 2, w // 4 + 2))
        big = np.kron(n, np.ones((4, 4)))[:h, :w]
        return np.clip(128 + big, 0, 255).astype(np.uint8)
    if kind == "stripes":
        period = int(rng.integers(2, 9))
        axis = int(rng.integers(0, 2))
        y, x = np.mgrid[:h, :w]
        t = (y if axis == 0 else x) % period
        return (255 * (t < period // 2)).astype(np.uint8)
    if kind == "photo" and _PHOTO is not None:
        y0 = int(rng.integers(0, _PHOTO.shape[0] - h + 1))
        x0 = int(rng.integers(0, _PHOTO.shape[1] - w + 1))
        return _PHOTO[y0:y0 + h, x0:x0 + w, int(rng.integers(0, 3))].copy()
    if kind == "photo":
        return make_plane(rng, "smooth", h, w)
    # mixture: tiles of the other kinds on an irregular grid
    out = np.empty((h, w), np.uint8)
    ys = sorted({0, h, *rng.integers(0, h + 1, 2).tolist()})
    xs = sorted({0, w, *rng.integers(0, w + 1, 2).tolist()})
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            if y1 > y0 and x1 > x0:
                out[y0:y1, x0:x1] = make_plane(rng, str(rng.choice(TILE_KINDS)), y1 - y0, x1 - x0)
    return out


def make_image(rng, form, kind, h, w):
    if form == "gray":
        return make_plane(rng, kind, h, w)
    if form == "rgb":
        if kind == "photo" and _PHOTO is not None:
            y0 = int(rng.integers(0, _PHOTO.shape[0] - h + 1))
            x0 = int(rng.integers(0, _PHOTO.shape[1] - w + 1))
            return _PHOTO[y0:y0 + h, x0:x0 + w].copy()
        return np.stack([make_plane(rng, kind, h, w) for _ in range(3)], -1)
    ch, cw = (h + 1) // 2, (w + 1) // 2   # 4:2:0 planes of any size: chroma rounded up
    return make_plane(rng, kind, h, w), make_plane(rng, kind, ch, cw), make_plane(rng, kind, ch, cw)


def input_planes(image, form):
    """The (Y, Cb, Cr) planes the encoder codes, before padding to even sizes (chroma rounded up)."""
    if form == "planes":
        return image
    if form == "rgb":
        return rgb_to_yuv420(image)
    h, w = image.shape
    c = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
    return image, c, c


@st.composite
def cases(draw, forced_pcm=False):
    h = draw(st.integers(1, 70))
    w = draw(st.integers(1, 70))
    form = draw(st.sampled_from(["rgb", "gray", "planes"]))
    kind = draw(st.sampled_from(KINDS))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    image = make_image(rng, form, kind, h, w)
    H, W = (image[0] if form == "planes" else image).shape[:2]
    rows, cols = -(-H // 16), -(-W // 16)
    nmb = rows * cols

    qp_kind = draw(st.sampled_from(["int", "int", "map", "map_narrow"]))
    if qp_kind == "int":
        qp = draw(st.integers(0, 51))
    else:
        lo = draw(st.integers(0, 51))
        hi = lo + 3 if qp_kind == "map_narrow" else 52
        qp = rng.integers(lo, min(hi, 52), (rows, cols))

    opts = {}
    if draw(st.booleans()):
        opts["deblock"] = draw(st.booleans())
    if draw(st.booleans()):
        opts["slices"] = draw(st.integers(1, nmb))
    if draw(st.booleans()):
        opts["effort"] = draw(st.sampled_from(["fast", "medium", "full"]))
    if draw(st.booleans()):
        opts["rdoq"] = draw(st.booleans())
    if draw(st.booleans()):
        opts["alpha_offset"] = draw(st.integers(-6, 6))
        opts["beta_offset"] = draw(st.integers(-6, 6))
    if draw(st.booleans()):
        opts["lambda_factor"] = draw(st.sampled_from([0.0, 0.1, 0.85, 2.5, 20.0]))
    if forced_pcm:
        opts["force_mb_type"] = "I_PCM"
    elif draw(st.booleans()):
        opts["force_mb_type"] = draw(st.sampled_from([None, "I4x4", "I16x16", "I_PCM"]))
    for name, n in (("force_i4x4_mode", 9), ("force_i16x16_mode", 4), ("force_chroma_mode", 4)):
        if draw(st.integers(0, 3)) == 0:
            opts[name] = draw(st.integers(0, n - 1))

    wkind = draw(st.sampled_from([None, None, "scalar", "map", "zeros", "tuple"]))
    if wkind == "scalar":
        weights = draw(st.sampled_from([0.0, 0.5, 1.0, 7]))
    elif wkind == "map":
        weights = rng.uniform(0, 4, (H, W)) * (rng.random((H, W)) < 0.8)
    elif wkind == "zeros":
        weights = np.zeros((H, W))
    elif wkind == "tuple":
        ch, cw = (H + 1) // 2, (W + 1) // 2
        weights = (rng.uniform(0, 2, (H, W)), rng.uniform(0, 2, (ch, cw)), rng.uniform(0, 2, (ch, cw)))
    else:
        weights = None
    if draw(st.integers(0, 3)) == 0:
        opts["aq"] = "variance" if weights is None else draw(st.sampled_from(["variance", "weights"]))
        if draw(st.booleans()):
            opts["aq_strength"] = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
        if draw(st.booleans()):
            opts["aq_range"] = (draw(st.integers(-51, 0)), draw(st.integers(0, 51)))
    return form, image, qp, weights, opts


def check_roundtrip(form, image, qp, weights, opts):
    enc = encode(image, qp=qp, weights=weights, **opts)
    H, W = (image[0] if form == "planes" else image).shape[:2]
    H2, W2 = H + H % 2, W + W % 2
    rows, cols = -(-H // 16), -(-W // 16)

    # a standard decoder's output (even sizes: 4:2:0 crops in steps of 2)
    assert [p.shape for p in enc.planes] == [(H2, W2), (H2 // 2, W2 // 2), (H2 // 2, W2 // 2)]
    # minicodec's decoder gives exactly enc.recon, in the input's form and size (the true size is in an SEI)
    output = {"rgb": "rgb", "gray": "gray", "planes": "yuv"}[form]
    dec = decode(enc.data, output)
    frames = list(decode_frames(enc.data, output))
    assert len(frames) == 1
    if form == "planes":
        ch, cw = (H + 1) // 2, (W + 1) // 2
        assert isinstance(enc.recon, tuple) and [p.shape for p in enc.recon] == [(H, W), (ch, cw), (ch, cw)]
        for k in range(3):
            np.testing.assert_array_equal(dec[k], enc.recon[k], err_msg=f"plane {k}")
            np.testing.assert_array_equal(frames[0][k], enc.recon[k], err_msg=f"plane {k}")
    else:
        assert enc.recon.shape == ((H, W, 3) if form == "rgb" else (H, W)) and enc.recon.dtype == np.uint8
        np.testing.assert_array_equal(dec, enc.recon)
        np.testing.assert_array_equal(frames[0], enc.recon)
    # the planes, cut to the input size, are the decoder's
    yuv = decode(enc.data, "yuv")
    for k in range(3):
        h, w = yuv[k].shape
        assert (h, w) == ((H, W) if k == 0 else ((H + 1) // 2, (W + 1) // 2))
        np.testing.assert_array_equal(yuv[k], enc.planes[k][:h, :w], err_msg=f"plane {k}")

    # statistics are consistent with the options
    assert enc.mb_type.shape == (rows, cols)
    assert enc.mb_bits.sum() <= enc.bits == 8 * len(enc.data)
    forced = {"I4x4": 0, "I16x16": 1, "I_PCM": 2}.get(opts.get("force_mb_type"))
    if forced is not None:
        # I_PCM is the documented escape for a macroblock too big to code (so never for forced I_PCM)
        assert np.isin(enc.mb_type, (forced, 2)).all(), enc.mb_type
    assert np.all((enc.mb_qp >= 0) & (enc.mb_qp <= 51))
    if opts.get("aq") is not None:   # AQ adds its own per-MB offsets to the QP map
        return enc
    qmap = np.broadcast_to(np.asarray(qp), (rows, cols)).ravel()
    got = enc.mb_qp.ravel()
    i16 = enc.mb_type.ravel() == 1
    np.testing.assert_array_equal(got[i16], qmap[i16])   # Intra_16x16 always codes mb_qp_delta
    if opts.get("slices", 1) == 1:
        assert got[0] == qmap[0]
        for a in range(1, got.size):
            assert got[a] in (qmap[a], got[a - 1])
    return enc


@settings(**SETTINGS)
@given(cases())
@example(("rgb", np.zeros((1, 1, 3), np.uint8), 28, None, {}))
@example(("gray", np.full((1, 1), 255, np.uint8), 0, None, {"force_mb_type": "I16x16"}))
@example(("rgb", np.random.default_rng(0).integers(0, 256, (17, 33, 3), np.uint8), 0, None,
          {"slices": 6, "effort": "full", "lambda_factor": 0.0}))
@example(("planes", (np.full((70, 70), 255, np.uint8), np.zeros((35, 35), np.uint8),
                     np.full((35, 35), 255, np.uint8)), 51, None, {"alpha_offset": 6, "beta_offset": 6}))
def test_roundtrip(case):
    form, image, qp, weights, opts = case
    check_roundtrip(form, image, qp, weights, opts)


@settings(**SETTINGS)
@given(cases(forced_pcm=True))
@example(("rgb", np.random.default_rng(1).integers(0, 256, (1, 1, 3), np.uint8), 51, None,
          {"force_mb_type": "I_PCM", "deblock": False}))
@example(("gray", np.random.default_rng(2).integers(0, 256, (35, 3), np.uint8), 0, None,
          {"force_mb_type": "I_PCM", "deblock": False, "slices": 3}))
def test_i_pcm_is_lossless(case):
    """I_PCM carries the samples themselves. Even with deblocking on, an all-I_PCM picture is unchanged:
    the filter uses qP = 0 for I_PCM macroblocks (8.7.2.2) and alpha'(indexA <= 12) = 0 (Table 8-16)."""
    form, image, qp, weights, opts = case
    enc = check_roundtrip(form, image, qp, weights, opts)
    assert (enc.mb_type == 2).all()
    src = input_planes(image, form)
    for k in range(3):
        h, w = src[k].shape
        np.testing.assert_array_equal(enc.planes[k][:h, :w], src[k], err_msg=f"plane {k}")
    if form == "gray":
        np.testing.assert_array_equal(enc.recon, image)


@pytest.mark.slow
@settings(**{**SETTINGS, "max_examples": 1000})
@given(cases())
def test_roundtrip_many(case):
    check_roundtrip(*case)
