"""Scanning, scaling and transforms (H.264 clause 8.5) against references written from the equations.

Notation follows the standard: c_ij / d_ij with i the row and j the column (8.5.14 places u_ij at
x = xO + j, y = yO + i), so raster index = 4 i + j. Everything is integer arithmetic with Python ints
(arbitrary precision), so the reference cannot overflow where the codec would.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicodec import transform as tf

FAST = settings(max_examples=100, deadline=None)

# ------------------------------------------------------------------ Table 8-13 and 8-15, typed in

#: Table 8-13, zig-zag column: idx -> c_ij (i row, j column)
TABLE_8_13_ZIGZAG = ["00", "01", "10", "20", "11", "02", "03", "12",
                     "21", "30", "31", "22", "13", "23", "32", "33"]

#: Table 8-15: QPc for qPI = 30..51 (QPc = qPI below 30)
TABLE_8_15 = {30: 29, 31: 30, 32: 31, 33: 32, 34: 32, 35: 33, 36: 34, 37: 34, 38: 35, 39: 35, 40: 36,
              41: 36, 42: 37, 43: 37, 44: 37, 45: 38, 46: 38, 47: 38, 48: 39, 49: 39, 50: 39, 51: 39}

#: 8-315: v, rows m = qP % 6, columns for the three position classes
V_TABLE = [[10, 16, 13], [11, 18, 14], [13, 20, 16], [14, 23, 18], [16, 25, 20], [18, 29, 23]]


def zigzag_raster():
    return [4 * int(c[0]) + int(c[1]) for c in TABLE_8_13_ZIGZAG]


def normAdjust4x4(m, i, j):
    """8-315."""
    if i % 2 == 0 and j % 2 == 0:
        return V_TABLE[m][0]
    if i % 2 == 1 and j % 2 == 1:
        return V_TABLE[m][1]
    return V_TABLE[m][2]


def LevelScale4x4(m, i, j):
    """8-317 with flat weightScale4x4 = Flat_4x4_16 (no scaling matrices in Constrained Baseline)."""
    return 16 * normAdjust4x4(m, i, j)


def inverse_scan(levels):
    """8.5.6: 16 levels in coding order -> 4x4 c[i][j] (Python ints)."""
    c = [[0] * 4 for _ in range(4)]
    for k, cij in enumerate(TABLE_8_13_ZIGZAG):
        c[int(cij[0])][int(cij[1])] = int(levels[k])
    return c


def ref_scale4x4(c, qP, skip_dc=False):
    """8.5.12.1 literally: d_ij from c_ij (8-336, 8-337); DC left as c_00 for Intra16x16 / chroma."""
    d = [[0] * 4 for _ in range(4)]
    for i in range(4):
        for j in range(4):
            if skip_dc and i == 0 and j == 0:
                d[i][j] = c[i][j]
            elif qP >= 24:
                d[i][j] = (c[i][j] * LevelScale4x4(qP % 6, i, j)) << (qP // 6 - 4)
            else:
                d[i][j] = (c[i][j] * LevelScale4x4(qP % 6, i, j) + 2 ** (3 - qP // 6)) >> (4 - qP // 6)
    return d


# 8.5.12.2 in matrix form. The 1-D inverse transform of a vector v (a row or a column) is
#   out = A v + B (v >> 1)
# where v >> 1 is the arithmetic shift of every element; B only picks the shifted odd entries:
#   e0 = v0 + v2, e1 = v0 - v2, e2 = (v1 >> 1) - v3, e3 = v1 + (v3 >> 1)
#   out = [e0 + e3, e1 + e2, e1 - e2, e0 - e3]
A_FULL = np.array([[1, 1, 1, 0],
                   [1, 0, -1, -1],
                   [1, 0, -1, 1],
                   [1, -1, 1, 0]], dtype=object)
B_HALF = np.array([[0, 0, 0, 1],
                   [0, 1, 0, 0],
                   [0, -1, 0, 0],
                   [0, 0, 0, -1]], dtype=object)


def ref_inverse_core(d):
    """8.5.12.2: rows (8-338..8-345), then columns (8-346..8-353), then r = (h + 32) >> 6 (8-354)."""
    d = np.array(d, dtype=object)
    f = np.empty((4, 4), dtype=object)
    for i in range(4):  # row transform: vector over j
        f[i, :] = A_FULL.dot(d[i, :]) + B_HALF.dot(d[i, :] >> 1)
    h = np.empty((4, 4), dtype=object)
    for j in range(4):  # column transform: vector over i
        h[:, j] = A_FULL.dot(f[:, j]) + B_HALF.dot(f[:, j] >> 1)
    return [[(int(h[i, j]) + 32) >> 6 for j in range(4)] for i in range(4)]


def clip1(v):
    return min(max(v, 0), 255)


# ------------------------------------------------------------------ zig-zag and chroma QP

def test_zigzag_is_table_8_13():
    assert list(tf.ZIGZAG) == zigzag_raster()
    assert sorted(tf.ZIGZAG) == list(range(16))


def test_zigzag_walks_anti_diagonals():
    # property of a zig-zag: i + j never decreases
    pos = [(int(c[0]), int(c[1])) for c in TABLE_8_13_ZIGZAG]
    diag = [i + j for i, j in pos]
    assert diag == sorted(diag)
    for a, b in zip(pos, pos[1:]):  # every step goes to a neighbouring cell
        assert max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1


@pytest.mark.parametrize("offset", range(-12, 13))
def test_chroma_qp_table_8_15(offset):
    for qpy in range(52):
        qpi = min(max(qpy + offset, 0), 51)  # 8-313 with QpBdOffsetC = 0
        expect = qpi if qpi < 30 else TABLE_8_15[qpi]
        assert tf.chroma_qp(qpy, offset) == expect, (qpy, offset)


# ------------------------------------------------------------------ dequant4x4 (8.5.12.1)

@pytest.mark.parametrize("qp", range(52))
def test_dequant4x4_equals_levelscale_formula_for_every_qp(qp):
    # The codec uses d = c * v << (qP/6). With LevelScale4x4 = 16 v the standard's qP < 24 branch is
    # (16 v c + 2^(3 - qP/6)) >> (4 - qP/6); since 16 v c is a multiple of 2^(4 - qP/6) and the added
    # rounding term is smaller than that, it equals v c 2^(qP/6) exactly, also for negative c.
    rng = np.random.default_rng(qp)
    d = np.empty(16, np.int32)
    for trial in range(40):
        levels = rng.integers(-2048, 2049, 16).astype(np.int32)
        if trial == 0:
            levels[:] = [1, -1] * 8
        for first in (0, 1):
            d[:] = 12345
            tf.dequant4x4(levels, qp, first, d)
            ref = ref_scale4x4(inverse_scan(levels), qp, skip_dc=bool(first))
            got = d.reshape(4, 4)
            for i in range(4):
                for j in range(4):
                    if first and i == 0 and j == 0:
                        assert got[0, 0] == 12345  # DC position untouched (comes from the DC transform)
                    else:
                        assert got[i, j] == ref[i][j], (qp, first, i, j)


def test_dequant4x4_hand_example():
    # qP = 28: m = 4, qP/6 = 4. level 3 at scan 0 (c00, class v_40 = 16): (3*256) << 0 = 768.
    # level -2 at scan 4 (c11, class v_41 = 25): -2 * 400 = -800. level 1 at scan 1 (c01, v_42 = 20): 320.
    levels = np.zeros(16, np.int32)
    levels[0], levels[4], levels[1] = 3, -2, 1
    d = np.zeros(16, np.int32)
    tf.dequant4x4(levels, 28, 0, d)
    expect = np.zeros(16, np.int32)
    expect[0], expect[5], expect[1] = 768, -800, 320
    np.testing.assert_array_equal(d, expect)


# ------------------------------------------------------------------ inverse core transform (8.5.12.2)

def test_inverse_core_hand_examples():
    # DC only, d00 = 64 k: every r = (64 k + 32) >> 6 = k
    plane = np.zeros((4, 4), np.uint8)
    d = np.zeros(16, np.int32)
    d[0] = 64 * 5
    tf.inverse4x4_add(d, plane, 0, 0, np.full(16, 100, np.int32))
    assert (plane == 105).all()
    # d01 = 64 alone: row 0 -> f = [64, 32, -32, -64] (e2 = 64>>1 = 32, e3 = 64), the column transform
    # copies f_0j down every column, so r_ij = (f_j + 32) >> 6 = [1, 1, 0, -1] on every row.
    d[:] = 0
    d[1] = 64
    tf.inverse4x4_add(d, plane, 0, 0, np.full(16, 100, np.int32))
    np.testing.assert_array_equal(plane, np.tile([101, 101, 100, 99], (4, 1)))
    assert ref_inverse_core([[0, 64, 0, 0], [0] * 4, [0] * 4, [0] * 4]) == [[1, 1, 0, -1]] * 4


def test_inverse_core_odd_inputs_use_floor_shift():
    # d00 = 32, d01 = -1 (row 0 only): e0 = e1 = 32, e2 = (-1 >> 1) - 0 = -1 (floor; truncation would
    # give 0), e3 = -1 + 0 = -1 -> f = [31, 31, 33, 33]; the column transform copies row 0 down, so
    # r = (f + 32) >> 6 = [0, 0, 1, 1] on every row (truncating division would give [0, 1, 1, 1]).
    d = [[32, -1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert ref_inverse_core(d) == [[0, 0, 1, 1]] * 4
    plane = np.zeros((4, 4), np.uint8)
    tf.inverse4x4_add(np.array(d, np.int32).ravel(), plane, 0, 0, np.full(16, 128, np.int32))
    np.testing.assert_array_equal(plane.astype(int) - 128, [[0, 0, 1, 1]] * 4)


def _check_inverse(d_raster, pred):
    plane = np.zeros((6, 7), np.uint8)
    plane[:] = 77
    tf.inverse4x4_add(d_raster.astype(np.int32), plane, 1, 2, pred.astype(np.int32))
    r = ref_inverse_core(d_raster.reshape(4, 4).tolist())
    expect = np.array([[clip1(int(pred[4 * i + j]) + r[i][j]) for j in range(4)] for i in range(4)])
    np.testing.assert_array_equal(plane[1:5, 2:6], expect)
    # nothing outside the block is touched
    mask = np.ones_like(plane, bool)
    mask[1:5, 2:6] = False
    assert (plane[mask] == 77).all()


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-(2**15), 2**15 - 1)),
       hnp.arrays(np.int64, 16, elements=st.integers(0, 255)))
def test_inverse4x4_add_matches_8_5_12_2(d, pred):
    # d within the 16-bit range that conforming streams guarantee for the transform input
    _check_inverse(d, pred)


def test_inverse4x4_add_small_coefficients_unclipped():
    rng = np.random.default_rng(1)
    for _ in range(500):
        d = rng.integers(-300, 301, 16)
        _check_inverse(d, np.full(16, 128))


# ------------------------------------------------------------------ luma DC (8.5.10) and chroma DC (8.5.11)

def hadamard4(c):
    H = np.array([[1, 1, 1, 1], [1, 1, -1, -1], [1, -1, -1, 1], [1, -1, 1, -1]], dtype=object)
    return H.dot(np.array(c, dtype=object)).dot(H)  # 8-320


def ref_luma_dc(levels, qP):
    f = hadamard4(inverse_scan(levels))
    out = np.empty((4, 4), dtype=object)
    for i in range(4):
        for j in range(4):
            if qP >= 36:  # 8-326
                out[i, j] = (f[i, j] * LevelScale4x4(qP % 6, 0, 0)) << (qP // 6 - 6)
            else:         # 8-327
                out[i, j] = (f[i, j] * LevelScale4x4(qP % 6, 0, 0) + 2 ** (5 - qP // 6)) >> (6 - qP // 6)
    return out


def ref_chroma_dc(c4, qP):
    c = np.array([[c4[0], c4[1]], [c4[2], c4[3]]], dtype=object)  # 8-328: chroma DC in raster order
    m = np.array([[1, 1], [1, -1]], dtype=object)
    f = m.dot(c).dot(m)                                            # 8-329
    return [((int(f[i, j]) * LevelScale4x4(qP % 6, 0, 0)) << (qP // 6)) >> 5  # 8-330
            for i in range(2) for j in range(2)]


@pytest.mark.parametrize("qp", range(52))
def test_inverse_luma_dc_matches_8_5_10(qp):
    rng = np.random.default_rng(100 + qp)
    dc = np.empty(16, np.int32)
    for trial in range(30):
        levels = rng.integers(-512, 513, 16).astype(np.int32)
        if trial == 0:
            levels[:] = 0
            levels[0] = -1  # negative rounding (>> is floor)
        tf.inverse_luma_dc(levels, qp, dc)
        np.testing.assert_array_equal(dc.reshape(4, 4), ref_luma_dc(levels, qp).astype(np.int64))


def test_inverse_luma_dc_hand_example():
    # single DC level 1 at qP = 24 (m 0, qP/6 = 4): f = all ones (H e00 H), LevelScale 160,
    # dcY = (160 + 2^(5-4)) >> (6-4) = 162 >> 2 = 40 everywhere
    levels = np.zeros(16, np.int32)
    levels[0] = 1
    dc = np.empty(16, np.int32)
    tf.inverse_luma_dc(levels, 24, dc)
    assert (dc == 40).all()
    # qP = 36 (m 0, qP/6 = 6): (1 * 160) << 0 = 160
    tf.inverse_luma_dc(levels, 36, dc)
    assert (dc == 160).all()


@pytest.mark.parametrize("qp", range(52))
def test_inverse_chroma_dc_matches_8_5_11(qp):
    rng = np.random.default_rng(200 + qp)
    dc = np.empty(4, np.int32)
    for trial in range(50):
        c = rng.integers(-512, 513, 4).astype(np.int32)
        tf.inverse_chroma_dc(c, qp, dc)
        assert list(dc) == ref_chroma_dc(c, qp), (qp, c)


def test_inverse_chroma_dc_hand_example():
    # c = [1, 0, 0, 0] at QP'c = 0: f = all ones, dcC = (1 * 160 << 0) >> 5 = 5
    # c = [0, 1, 0, 0]: f = [[1, -1], [1, -1]] -> [5, -5, 5, -5]
    dc = np.empty(4, np.int32)
    tf.inverse_chroma_dc(np.array([1, 0, 0, 0], np.int32), 0, dc)
    assert list(dc) == [5, 5, 5, 5]
    tf.inverse_chroma_dc(np.array([0, 1, 0, 0], np.int32), 0, dc)
    assert list(dc) == [5, -5, 5, -5]
    tf.inverse_chroma_dc(np.array([0, 0, 1, 0], np.int32), 0, dc)
    assert list(dc) == [5, 5, -5, -5]


# ------------------------------------------------------------------ encoder side

CF = np.array([[1, 1, 1, 1], [2, 1, -1, -2], [1, -1, -1, 1], [1, -2, 2, -1]], dtype=np.int64)


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-255, 255)))
def test_forward4x4_is_cf_x_cft(x):
    w = np.empty(16, np.int32)
    tf.forward4x4(x.astype(np.int32), w)
    np.testing.assert_array_equal(w.reshape(4, 4), CF @ x.reshape(4, 4) @ CF.T)


def test_quant4x4_of_zero_is_zero():
    levels = np.full(16, 99, np.int32)
    for qp in (0, 17, 51):
        for dz in (1 / 3, 1 / 6, 0.5):
            levels[:] = 99
            assert tf.quant4x4(np.zeros(16, np.int32), qp, 0, dz, levels) == 0
            assert (levels == 0).all()


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-4080, 4080)), st.integers(0, 51),
       st.sampled_from([1 / 3, 1 / 6, 0.5]), st.integers(0, 1))
def test_quant4x4_count_sign_and_first(w, qp, dz, first):
    w32 = w.astype(np.int32)
    levels = np.full(16, 777, np.int32)
    nz = tf.quant4x4(w32, qp, first, dz, levels)
    neg = np.full(16, 777, np.int32)
    tf.quant4x4(-w32, qp, first, dz, neg)
    if first:
        assert levels[0] == 777  # scan position 0 not written
    body = levels[first:]
    assert nz == int(np.count_nonzero(body))
    np.testing.assert_array_equal(neg[first:], -body)  # odd symmetry
    # sign follows the coefficient, and levels are in scan order
    raster = np.array(zigzag_raster())
    src = w[raster][first:]
    assert ((body == 0) | (np.sign(body) == np.sign(src))).all()


def _roundtrip_residual(x, qp, dz):
    """Forward + quant by the codec, then the standard's scaling and inverse transform (reference)."""
    w = np.empty(16, np.int32)
    tf.forward4x4(x.astype(np.int32), w)
    levels = np.empty(16, np.int32)
    tf.quant4x4(w, qp, 0, dz, levels)
    d = ref_scale4x4(inverse_scan(levels), qp)
    return np.array(ref_inverse_core(d))


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-255, 255)))
def test_forward_quant_inverse_reconstructs_at_qp0(x):
    # QP 0 (Qstep 0.625) with rounding to nearest: every sample within +-1 of the residual
    r = _roundtrip_residual(x, 0, 0.5)
    assert np.abs(r - x.reshape(4, 4)).max() <= 1
    # the JM intra dead zone (1/3) loses at most 2
    r = _roundtrip_residual(x, 0, 1 / 3)
    assert np.abs(r - x.reshape(4, 4)).max() <= 2


@pytest.mark.parametrize("qp", [12, 24, 36])
def test_forward_quant_inverse_error_scales_with_qstep(qp):
    # Qstep doubles every 6 QP (0.625 at QP 0); the mean absolute error stays a fraction of Qstep
    rng = np.random.default_rng(qp)
    qstep = 0.625 * 2 ** (qp / 6)
    errs = []
    for _ in range(200):
        x = rng.integers(-255, 256, 16)
        errs.append(np.abs(_roundtrip_residual(x, qp, 0.5) - x.reshape(4, 4)).mean())
    assert np.mean(errs) < 0.5 * qstep


def _block_dcs(resid_per_block):
    """W_00 of each 4x4 block of a 16x16 (or 8x8) residual with one constant value per block."""
    out = []
    w = np.empty(16, np.int32)
    for v in resid_per_block:
        tf.forward4x4(np.full(16, v, np.int32), w)
        assert w[0] == 16 * v and not w[1:].any()
        out.append(int(w[0]))
    return np.array(out, np.int32)


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-255, 255)))
def test_forward_luma_dc_roundtrip_through_standard_inverse(vals):
    # constant residual v_b in each 4x4 block b: W00 = 16 v_b. After the codec's forward Hadamard and
    # quantisation, the standard's 8.5.10 gives dcY, and a DC-only 4x4 block reconstructs
    # r = (dcY + 32) >> 6 in every sample (8.5.12.2 with only d00), which must be close to v_b.
    qp = 0
    levels = np.empty(16, np.int32)
    tf.forward_luma_dc(_block_dcs(vals), qp, 0.5, levels)
    dcy = ref_luma_dc(levels, qp)
    r = np.array([[(int(dcy[i, j]) + 32) >> 6 for j in range(4)] for i in range(4)])
    assert np.abs(r - vals.reshape(4, 4)).max() <= 1


@FAST
@given(hnp.arrays(np.int64, 4, elements=st.integers(-255, 255)))
def test_forward_chroma_dc_roundtrip_through_standard_inverse(vals):
    qp = 0
    levels = np.empty(4, np.int32)
    nz = tf.forward_chroma_dc(_block_dcs(vals), qp, 0.5, levels)
    assert nz == np.count_nonzero(levels)
    dcc = ref_chroma_dc(levels, qp)
    r = np.array([(v + 32) >> 6 for v in dcc])
    assert np.abs(r - vals).max() <= 1


def test_forward_dc_of_zero_is_zero():
    lv = np.full(16, 5, np.int32)
    assert tf.forward_luma_dc(np.zeros(16, np.int32), 30, 1 / 3, lv) == 0 and not lv.any()
    lv4 = np.full(4, 5, np.int32)
    assert tf.forward_chroma_dc(np.zeros(4, np.int32), 30, 1 / 3, lv4) == 0 and not lv4.any()


@FAST
@given(hnp.arrays(np.int64, 16, elements=st.integers(-4080, 4080)), st.integers(0, 51),
       st.sampled_from([0.0, 0.25, 0.5]), st.integers(1, 3))
def test_quant4x4_dead_zone_wider_than_a_step(w, qp, dz, steps):
    """deadzone - k (k whole steps) gives the levels of deadzone, k nearer zero and never past it:
    floor(|W| MF / 2^q + dz - k) clipped at 0 (dz * 2^q is exact for these dz)."""
    w32 = w.astype(np.int32)
    narrow = np.empty(16, np.int32)
    wide = np.empty(16, np.int32)
    tf.quant4x4(w32, qp, 0, dz, narrow)
    nz = tf.quant4x4(w32, qp, 0, dz - steps, wide)
    expect = np.sign(narrow) * np.maximum(np.abs(narrow) - steps, 0)
    np.testing.assert_array_equal(wide, expect)
    assert nz == int(np.count_nonzero(expect))
