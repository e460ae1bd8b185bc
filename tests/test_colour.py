"""RGB <-> Y'CbCr 4:2:0 (BT.601) conversion.

References: ITU-R BT.601 with Kr = 0.299, Kb = 0.114, 8-bit limited range
    Y' = 16 + 219 E'Y,  Cb = 128 + 224 E'Pb,  Cr = 128 + 224 E'Pr   (E' in [0, 1])
    E'Pb = (E'B - E'Y) / (2 (1 - Kb)),  E'Pr = (E'R - E'Y) / (2 (1 - Kr))
written below as the widely published coefficient form (Y' = 16 + (65.481 R + 128.553 G + 24.966 B)/255
etc.), and for the inverse solved by hand rather than by matrix inversion. Chroma is sited at the centre
of each 2x2 luma block (4:2:0, chroma_sample_loc_type 1): downsampling is the 2x2 mean.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicodec import colour

FAST = settings(max_examples=60, deadline=None)
KR, KB = 0.299, 0.114
KG = 1 - KR - KB


def ref_ycbcr(rgb):
    """Per-pixel float Y'CbCr (BT.601 limited range, the published 3-decimal coefficients)."""
    r, g, b = (np.asarray(rgb, np.float64)[..., k] for k in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return y, cb, cr


def ref_rgb(y, cb, cr):
    """Inverse, solved from the definitions: E'Y = (Y'-16)/219, E'Pb = (Cb-128)/224, E'Pr = (Cr-128)/224;
    R = Y + 2(1-Kr) Pr, B = Y + 2(1-Kb) Pb, G = (Y - Kr R - Kb B) / Kg; times 255."""
    ey = (np.asarray(y, np.float64) - 16) / 219
    pb = (np.asarray(cb, np.float64) - 128) / 224
    pr = (np.asarray(cr, np.float64) - 128) / 224
    r = ey + 2 * (1 - KR) * pr
    b = ey + 2 * (1 - KB) * pb
    g = (ey - KR * r - KB * b) / KG
    return 255 * np.stack([r, g, b], -1)


def mean2x2_edge(c):
    """Centre-sited 4:2:0 subsampling: mean of each 2x2 block; an odd last row/column is repeated."""
    h, w = c.shape
    out = np.empty(((h + 1) // 2, (w + 1) // 2))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            rows = [min(2 * i, h - 1), min(2 * i + 1, h - 1)]
            cols = [min(2 * j, w - 1), min(2 * j + 1, w - 1)]
            out[i, j] = np.mean([c[r, k] for r in rows for k in cols])
    return out


# Coefficient rounding in the 3-decimal form is < 0.0005 * 255 * 3 / 255 ~ 0.0015 code values, so a
# correctly rounded result is within 0.5 + 0.002 of the float reference.
ROUND_TOL = 0.502


@pytest.mark.parametrize("rgb,ycbcr", [
    ((0, 0, 0), (16, 128, 128)),        # black
    ((255, 255, 255), (235, 128, 128)),  # white
    ((255, 0, 0), (81, 90, 240)),       # red:   16 + 65.481 = 81.48; 128 - 37.80 = 90.2; 128 + 112
    ((0, 255, 0), (145, 54, 34)),       # green: 16 + 128.553 = 144.55; 128 - 74.20; 128 - 93.79
    ((0, 0, 255), (41, 240, 110)),      # blue:  16 + 24.966 = 40.97; 128 + 112; 128 - 18.21
    ((128, 128, 128), (126, 128, 128)),  # gray:  16 + 219 * 128 / 255 = 125.93
])
def test_known_colours(rgb, ycbcr):
    img = np.empty((4, 6, 3), np.uint8)
    img[:] = rgb
    y, cb, cr = colour.rgb_to_yuv420(img)
    assert y.dtype == cb.dtype == cr.dtype == np.uint8
    assert (y == ycbcr[0]).all() and (cb == ycbcr[1]).all() and (cr == ycbcr[2]).all()
    # and the formula reference agrees with the hand values
    ry, rcb, rcr = ref_ycbcr(np.array(rgb))
    assert np.rint([ry, rcb, rcr]).tolist() == list(ycbcr)


def test_neutral_chroma_for_every_gray():
    img = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    y, cb, cr = colour.rgb_to_yuv420(img)
    assert (cb == 128).all() and (cr == 128).all()
    np.testing.assert_array_equal(y.ravel(), np.rint(16 + 219 * np.arange(256) / 255))
    assert y.min() == 16 and y.max() == 235


@FAST
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_rgb_to_yuv420_matches_bt601_and_2x2_mean(h, w, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    y, cb, cr = colour.rgb_to_yuv420(img)
    ry, rcb, rcr = ref_ycbcr(img)
    assert y.shape == (h, w)
    assert cb.shape == cr.shape == ((h + 1) // 2, (w + 1) // 2)
    assert np.abs(y - ry).max() <= ROUND_TOL
    assert np.abs(cb - mean2x2_edge(rcb)).max() <= ROUND_TOL
    assert np.abs(cr - mean2x2_edge(rcr)).max() <= ROUND_TOL


@pytest.mark.parametrize("h,w", [(1, 1), (1, 5), (3, 2), (7, 9), (16, 17), (33, 48)])
def test_odd_sizes_give_ceil_half_chroma(h, w):
    img = np.zeros((h, w, 3), np.uint8)
    y, cb, cr = colour.rgb_to_yuv420(img)
    assert y.shape == (h, w)
    assert cb.shape == cr.shape == (-(-h // 2), -(-w // 2))
    back = colour.yuv420_to_rgb(y, cb, cr)
    assert back.shape == (h, w, 3) and back.dtype == np.uint8


def test_downsample_hand_example():
    # 2x2 mean: (0 + 4 + 8 + 12) / 4 = 6; odd 3x3: last row/column repeated
    np.testing.assert_array_equal(colour.downsample_chroma(np.array([[0., 4.], [8., 12.]])), [[6.]])
    c = np.array([[0., 0., 4.], [0., 0., 4.], [8., 8., 12.]])
    np.testing.assert_array_equal(colour.downsample_chroma(c), [[0., 4.], [8., 12.]])


def test_yuv_to_rgb_known_values():
    def one(y, cb, cr, **kw):
        return colour.yuv420_to_rgb(np.full((2, 2), y, np.uint8), np.full((1, 1), cb, np.uint8),
                                    np.full((1, 1), cr, np.uint8), **kw)[0, 0].tolist()
    assert one(16, 128, 128) == [0, 0, 0]
    assert one(235, 128, 128) == [255, 255, 255]
    assert one(0, 128, 128) == [0, 0, 0]        # below black clips
    assert one(255, 128, 128) == [255, 255, 255]
    # full range (grayscale pictures): Y is the gray value itself
    for v in (0, 1, 77, 254, 255):
        assert one(v, 128, 128, full_range=True) == [v, v, v]


@FAST
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_yuv_to_rgb_constant_chroma_matches_inverse_formula(y, cb, cr):
    # constant chroma planes: upsampling is exact, so this checks the matrix alone
    got = colour.yuv420_to_rgb(np.full((3, 5), y, np.uint8), np.full((2, 3), cb, np.uint8),
                               np.full((2, 3), cr, np.uint8))
    ref = np.clip(ref_rgb(y, cb, cr), 0, 255)
    # the inverse is computed independently; its float error is far below 0.01
    assert np.abs(got - ref).max() <= 0.51


def test_primaries_round_trip():
    for rgb in ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)):
        img = np.empty((2, 2, 3), np.uint8)
        img[:] = rgb
        back = colour.yuv420_to_rgb(*colour.rgb_to_yuv420(img))
        assert np.abs(back.astype(int) - rgb).max() <= 3, rgb


def test_gray_round_trip_within_one_level():
    img = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    back = colour.yuv420_to_rgb(*colour.rgb_to_yuv420(img))
    assert np.abs(back.astype(int) - img).max() <= 1
    assert (back[..., 0] == back[..., 1]).all() and (back[..., 1] == back[..., 2]).all()


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_smooth_images(seed):
    rng = np.random.default_rng(seed)
    h, w = 63, 81
    yy, xx = np.mgrid[0:h, 0:w]
    a, ph = rng.uniform(0.5, 2, 3), rng.uniform(0, 6, 3)
    img = np.stack([128 + 90 * np.sin(xx / (20 * a[c]) + yy / (27 * a[c]) + ph[c]) for c in range(3)], -1)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    back = colour.yuv420_to_rgb(*colour.rgb_to_yuv420(img))
    err = np.abs(back.astype(int) - img)
    assert err.mean() < 0.8
    assert err.max() <= 8


def test_upsample_constant_is_constant():
    for (ch, cw), (h, w) in [((1, 1), (1, 1)), ((1, 1), (2, 2)), ((3, 4), (5, 8)), ((8, 8), (16, 16)),
                             ((9, 5), (17, 9))]:
        up = colour.upsample_chroma(np.full((ch, cw), 77, np.uint8), h, w)
        assert up.shape == (h, w) and up.dtype == np.float64
        assert (up == 77).all()


def test_upsample_hand_example():
    # luma 2k sits at chroma coordinate k - 1/4, luma 2k+1 at k + 1/4; edges clamp:
    # c = [0, 4] -> [0.75*0 + 0.25*0, 0.75*0 + 0.25*4, 0.75*4 + 0.25*0, 0.75*4 + 0.25*4] = [0, 1, 3, 4]
    np.testing.assert_array_equal(colour.upsample_chroma(np.array([[0, 4]]), 1, 4), [[0, 1, 3, 4]])
    np.testing.assert_array_equal(colour.upsample_chroma(np.array([[0, 4]]), 1, 3), [[0, 1, 3]])
    np.testing.assert_array_equal(colour.upsample_chroma(np.array([[0], [4]]), 4, 1), [[0], [1], [3], [4]])


def test_upsample_reproduces_planes_inside():
    # bilinear at offsets -1/4, +1/4 reproduces an affine function away from the clamped border:
    # c[i, j] = 3 i - 2 j + 50  ->  up[y, x] = 3 (y/2 - 1/4) - 2 (x/2 - 1/4) + 50
    ii, jj = np.mgrid[0:6, 0:7]
    c = 3 * ii - 2 * jj + 50.0
    up = colour.upsample_chroma(c, 12, 14)
    yy, xx = np.mgrid[0:12, 0:14]
    ref = 3 * (yy / 2 - 0.25) - 2 * (xx / 2 - 0.25) + 50
    np.testing.assert_allclose(up[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-12)


@FAST
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
                  elements=st.floats(0, 255)))
def test_upsample_is_a_convex_combination(c):
    # weights are non-negative and sum to 1: output within [min, max], and up(c + k) = up(c) + k
    h, w = 2 * c.shape[0], 2 * c.shape[1]
    up = colour.upsample_chroma(c, h, w)
    assert up.min() >= c.min() - 1e-9 and up.max() <= c.max() + 1e-9
    np.testing.assert_allclose(colour.upsample_chroma(c + 10, h, w), up + 10, atol=1e-9)


def bilinear_centre(c, h, w):
    """Independent 4:2:0 -> 4:4:4 reference: luma x sits at chroma coordinate x/2 - 1/4 (likewise y);
    separable linear interpolation between the two nearest chroma samples, indices clamped to the plane."""
    c = np.asarray(c, np.float64)

    def taps(n, size):
        p = np.arange(n) / 2 - 0.25
        k0 = np.floor(p).astype(int)
        t = p - k0
        return np.clip(k0, 0, size - 1), np.clip(k0 + 1, 0, size - 1), t

    r0, r1, ty = taps(h, c.shape[0])
    c0, c1, tx = taps(w, c.shape[1])
    rows = (1 - ty)[:, None] * c[r0] + ty[:, None] * c[r1]
    return (1 - tx) * rows[:, c0] + tx * rows[:, c1]


def _views(img):
    """Non-contiguous views of an image: strided, flipped, transposed, and the RGB of an RGBA array."""
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], -1)
    return {"rows ::2": img[::2], "cols ::3": img[:, ::3], "flipped": img[::-1, ::-1],
            "transposed": img.transpose(1, 0, 2), "rgba[..., :3]": rgba[..., :3]}


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (7, 1), (2, 1), (17, 33), (37, 53), (64, 48)])
def test_kernels_odd_sizes_and_non_contiguous_input(h, w):
    rng = np.random.default_rng(h * 1000 + w)
    base = rng.integers(0, 256, (2 * h + 1, 3 * w + 2, 3), dtype=np.uint8)
    base[0, 0], base[-1, -1] = 0, 255
    for name, img in {"contiguous": base[:h, :w].copy(), **_views(base)}.items():
        assert name == "contiguous" or not img.flags.c_contiguous
        hh, ww = img.shape[:2]
        y, cb, cr = colour.rgb_to_yuv420(img)
        for a in (y, cb, cr):
            assert a.dtype == np.uint8 and a.flags.c_contiguous
        assert y.shape == (hh, ww) and cb.shape == cr.shape == ((hh + 1) // 2, (ww + 1) // 2)
        for a, b in zip((y, cb, cr), colour.rgb_to_yuv420(np.ascontiguousarray(img))):
            np.testing.assert_array_equal(a, b)
        ry, rcb, rcr = ref_ycbcr(img)
        assert np.abs(y - ry).max() <= ROUND_TOL, name
        assert np.abs(cb - mean2x2_edge(rcb)).max() <= ROUND_TOL, name
        assert np.abs(cr - mean2x2_edge(rcr)).max() <= ROUND_TOL, name

        # the inverse on non-contiguous planes (views into larger planes), both ranges
        Y = rng.integers(0, 256, (2 * hh, 2 * ww), dtype=np.uint8)
        C = rng.integers(0, 256, (2, hh + 1, 2 * ww + 2), dtype=np.uint8)
        yv, cbv, crv = Y[::2, ::2], C[0, :cb.shape[0], 1::2][:, :cb.shape[1]], C[1, ::-1][:cb.shape[0], :cb.shape[1]]
        if min(cb.shape) > 1:  # (numpy flags single rows/columns as contiguous whatever their strides)
            assert not (yv.flags.c_contiguous or cbv.flags.c_contiguous or crv.flags.c_contiguous)
        for full in (False, True):
            rgb = colour.yuv420_to_rgb(yv, cbv, crv, full_range=full)
            assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous and rgb.shape == (hh, ww, 3)
            np.testing.assert_array_equal(
                rgb, colour.yuv420_to_rgb(*(np.ascontiguousarray(a) for a in (yv, cbv, crv)), full_range=full))
        up = colour.upsample_chroma(cbv, hh, ww)
        np.testing.assert_array_equal(up, colour.upsample_chroma(np.ascontiguousarray(cbv), hh, ww))
        np.testing.assert_allclose(up, bilinear_centre(cbv, hh, ww), rtol=0, atol=1e-12)
        ref = np.clip(ref_rgb(yv, bilinear_centre(cbv, hh, ww), bilinear_centre(crv, hh, ww)), 0, 255)
        assert np.abs(colour.yuv420_to_rgb(yv, cbv, crv) - ref).max() <= 0.51, name


def _u8(v):
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _matrix_rows(a, b, c, m, off):
    """``m @ (a, b, c) + off`` per sample, each row summed left to right as the module docstring states."""
    return [((a * m[k, 0] + b * m[k, 1]) + c * m[k, 2]) + off[k] for k in range(3)]


def _clamped_neighbours(n, step):
    """Index of each sample's other bilinear tap along an axis of n chroma samples: k - 1 for even output
    positions, k + 1 for odd ones, clamped (``step`` = output positions per chroma sample, 2)."""
    out = np.arange(step * n) // step
    other = np.where(np.arange(step * n) % 2 == 0, out - 1, out + 1)
    return out, np.clip(other, 0, n - 1)


@FAST
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.booleans())
def test_kernels_equal_the_documented_arithmetic_to_the_bit(h, w, seed, as_float):
    """The Numba kernels (written for vectorisation, row buffers and all) against the same arithmetic in
    plain numpy, elementwise: the same float operations in the same order give the same bits."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    x = img.astype(np.float64) + (rng.uniform(-0.6, 0.6, img.shape) if as_float else 0.0)
    src = x if as_float else img
    yv, vb, vr = _matrix_rows(x[..., 0], x[..., 1], x[..., 2], colour.RGB_TO_YCBCR, colour.YCBCR_OFFSET)

    def mean2x2(c):  # odd sizes: the last row / column repeated; sum order (2i,2j) (2i+1,2j) (2i,2j+1) (2i+1,2j+1)
        c = np.pad(c, ((0, h & 1), (0, w & 1)), mode="edge")
        return _u8(0.25 * (((c[0::2, 0::2] + c[1::2, 0::2]) + c[0::2, 1::2]) + c[1::2, 1::2]))

    y, cb, cr = colour.rgb_to_yuv420(src)
    np.testing.assert_array_equal(y, _u8(yv))
    np.testing.assert_array_equal(cb, mean2x2(vb))
    np.testing.assert_array_equal(cr, mean2x2(vr))

    planes = [rng.integers(0, 256, s, dtype=np.uint8) for s in ((h, w), cb.shape, cb.shape)]
    if as_float:
        planes = [p + rng.uniform(-3, 3, p.shape) for p in planes]
    k, k2 = _clamped_neighbours(cb.shape[0], 2)
    j, j2 = _clamped_neighbours(cb.shape[1], 2)
    ups = []
    for c in planes[1:]:
        c = np.asarray(c, np.float64)
        rows = 0.75 * c[k] + 0.25 * c[k2]
        ups.append((0.75 * rows[:, j] + 0.25 * rows[:, j2])[:h, :w])
        np.testing.assert_array_equal(colour.upsample_chroma(c, h, w), ups[-1])
    for full, m, off in ((False, colour.YCBCR_TO_RGB, colour.YCBCR_OFFSET),
                         (True, colour.YCBCR_TO_RGB_FULL, np.array([0.0, 128.0, 128.0]))):
        a = np.asarray(planes[0], np.float64) - off[0]
        ref = np.stack([_u8(v) for v in _matrix_rows(a, ups[0] - off[1], ups[1] - off[2], m, np.zeros(3))], -1)
        np.testing.assert_array_equal(colour.yuv420_to_rgb(*planes, full_range=full), ref)
