"""Transform, scaling and quantisation (H.264 clause 8.5) and the encoder's forward counterparts.

Decoder side (normative): zig-zag scan (8.5.6, Table 8-13), level scaling (8.5.9, 8.5.12.1), inverse
4x4 core transform (8.5.12.2), luma DC inverse Hadamard (8.5.10), chroma DC 2x2 (8.5.11).
Encoder side (informative, as in the JM and x264): forward core transform, quantisation with dead-zone
rounding, forward Hadamards. Blocks are flat int32 arrays of 16 in raster order (index 4*y + x).
Flat scaling lists only (no scaling matrices in Constrained Baseline), 8-bit samples.
"""
import numpy as np
from numba import njit

#: Frame zig-zag scan: ZIGZAG[k] = raster index of the k-th coefficient in coding order (Table 8-13).
ZIGZAG = np.array([0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15], np.int32)

#: normAdjust4x4 v (8-315): columns for positions (even,even), (odd,odd), other.
_V = np.array([[10, 16, 13], [11, 18, 14], [13, 20, 16], [14, 23, 18], [16, 25, 20], [18, 29, 23]], np.int32)
#: Forward quantisation multipliers MF = 2^15 / (v * Qstep-normalisation), as in the JM.
_MF = np.array([[13107, 5243, 8066], [11916, 4660, 7490], [10082, 4194, 6554],
                [9362, 3647, 5825], [8192, 3355, 5243], [7282, 2893, 4559]], np.int32)


def _per_position(table):
    out = np.zeros((6, 16), np.int32)
    for m in range(6):
        for i in range(16):
            y, x = divmod(i, 4)
            cls = 0 if (x % 2 == 0 and y % 2 == 0) else (1 if (x % 2 == 1 and y % 2 == 1) else 2)
            out[m, i] = table[m, cls]
    return out


#: LevelScale4x4 / 16 per raster position: DEQUANT[qP % 6, i] (flat weights, 8.5.9).
DEQUANT = _per_position(_V)
#: Forward quantisation multiplier per raster position.
QUANT_MF = _per_position(_MF)

#: Table 8-15: QPc as a function of qPI for qPI >= 30.
_QPC_HIGH = np.array([29, 30, 31, 32, 32, 33, 34, 34, 35, 35, 36, 36, 37, 37, 37, 38, 38, 38, 39, 39, 39, 39], np.int32)
CHROMA_QP = np.concatenate([np.arange(30, dtype=np.int32), _QPC_HIGH])


@njit(cache=True)
def chroma_qp(qpy, chroma_qp_index_offset):
    """QPc from QPY (8.5.8, Table 8-15)."""
    qpi = qpy + chroma_qp_index_offset
    qpi = 0 if qpi < 0 else (51 if qpi > 51 else qpi)
    return CHROMA_QP[qpi]


# ----------------------------------------------------------------------------- decoder side

@njit(cache=True, inline="always")
def dequant4x4(levels_scan, qp, first, d):
    """Scan-order levels -> scaled coefficients d (raster), positions first..15 (8.5.6, 8.5.12.1).

    With flat weights, ``(c * LevelScale4x4) << (qP/6 - 4)`` reduces to ``c * v << (qP/6)`` exactly.
    ``first`` = 1 skips the DC (Intra16x16 and chroma AC blocks, whose DC comes from the DC transform).
    """
    m = qp % 6
    s = qp // 6
    for k in range(first, 16):
        i = ZIGZAG[k]
        d[i] = (levels_scan[k] * DEQUANT[m, i]) << s


@njit(cache=True, inline="always")
def inverse4x4_add(d, plane, y0, x0, pred):
    """Inverse core transform (8.5.12.2), (r + 32) >> 6, plus prediction, clipped, into plane."""
    t = d  # rows are transformed in place (d is the caller's scratch)
    for y in range(4):
        a = d[4 * y]
        b = d[4 * y + 1]
        c = d[4 * y + 2]
        e = d[4 * y + 3]
        e0 = a + c
        e1 = a - c
        e2 = (b >> 1) - e
        e3 = b + (e >> 1)
        t[4 * y] = e0 + e3
        t[4 * y + 1] = e1 + e2
        t[4 * y + 2] = e1 - e2
        t[4 * y + 3] = e0 - e3
    for x in range(4):
        a = t[x]
        b = t[4 + x]
        c = t[8 + x]
        e = t[12 + x]
        g0 = a + c
        g1 = a - c
        g2 = (b >> 1) - e
        g3 = b + (e >> 1)
        r0 = (g0 + g3 + 32) >> 6
        r1 = (g1 + g2 + 32) >> 6
        r2 = (g1 - g2 + 32) >> 6
        r3 = (g0 - g3 + 32) >> 6
        plane[y0, x0 + x] = clip1(pred[x] + r0)
        plane[y0 + 1, x0 + x] = clip1(pred[4 + x] + r1)
        plane[y0 + 2, x0 + x] = clip1(pred[8 + x] + r2)
        plane[y0 + 3, x0 + x] = clip1(pred[12 + x] + r3)


@njit(cache=True)
def clip1(v):
    """Clip1Y / Clip1C of 5.7 for 8-bit samples: v clipped to 0..255."""
    return 0 if v < 0 else (255 if v > 255 else v)


@njit(cache=True)
def inverse_luma_dc(c_scan, qp, dc):
    """Intra16x16 DC: inverse 4x4 Hadamard then scaling (8.5.10). dc[k] is the DC of luma4x4BlkIdx'
    in raster order of 4x4 blocks (dc index 4*by + bx)."""
    c = np.empty(16, np.int32)
    for k in range(16):
        c[ZIGZAG[k]] = c_scan[k]
    t = np.empty(16, np.int32)
    for y in range(4):
        a = c[4 * y]
        b = c[4 * y + 1]
        cc = c[4 * y + 2]
        e = c[4 * y + 3]
        t[4 * y] = a + b + cc + e
        t[4 * y + 1] = a + b - cc - e
        t[4 * y + 2] = a - b - cc + e
        t[4 * y + 3] = a - b + cc - e
    m = qp % 6
    s = qp // 6
    scale = DEQUANT[m, 0]
    for x in range(4):
        a = t[x]
        b = t[4 + x]
        cc = t[8 + x]
        e = t[12 + x]
        f0 = a + b + cc + e
        f1 = a + b - cc - e
        f2 = a - b - cc + e
        f3 = a - b + cc - e
        dc[x] = _scale_dc(f0, scale, s)
        dc[4 + x] = _scale_dc(f1, scale, s)
        dc[8 + x] = _scale_dc(f2, scale, s)
        dc[12 + x] = _scale_dc(f3, scale, s)


@njit(cache=True)
def _scale_dc(f, scale, s):
    """dcY from the Hadamard output f (8-326, 8-327), LevelScale4x4(qP%6, 0, 0) = 16 * scale."""
    if s >= 6:
        return (f * scale * 16) << (s - 6)
    return (f * scale * 16 + (1 << (5 - s))) >> (6 - s)


@njit(cache=True)
def inverse_chroma_dc(c, qp, dc):
    """Chroma DC 4:2:0: 2x2 transform then scaling dcC = ((f * LevelScale) << (qP/6)) >> 5 (8.5.11).
    c and dc are in raster order of the 2x2 blocks (chroma DC uses raster scan, c[0..3])."""
    f0 = c[0] + c[1] + c[2] + c[3]
    f1 = c[0] - c[1] + c[2] - c[3]
    f2 = c[0] + c[1] - c[2] - c[3]
    f3 = c[0] - c[1] - c[2] + c[3]
    scale = DEQUANT[qp % 6, 0] * 16
    s = qp // 6
    dc[0] = ((f0 * scale) << s) >> 5
    dc[1] = ((f1 * scale) << s) >> 5
    dc[2] = ((f2 * scale) << s) >> 5
    dc[3] = ((f3 * scale) << s) >> 5


# ----------------------------------------------------------------------------- encoder side

@njit(cache=True, inline="always")
def forward4x4(res, w):
    """Forward core transform W = Cf X Cf^T of a raster 4x4 residual (encoder, as in the JM)."""
    t = w  # rows into w, then columns in place
    for y in range(4):
        s03 = res[4 * y] + res[4 * y + 3]
        d03 = res[4 * y] - res[4 * y + 3]
        s12 = res[4 * y + 1] + res[4 * y + 2]
        d12 = res[4 * y + 1] - res[4 * y + 2]
        t[4 * y] = s03 + s12
        t[4 * y + 1] = 2 * d03 + d12
        t[4 * y + 2] = s03 - s12
        t[4 * y + 3] = d03 - 2 * d12
    for x in range(4):
        s03 = t[x] + t[12 + x]
        d03 = t[x] - t[12 + x]
        s12 = t[4 + x] + t[8 + x]
        d12 = t[4 + x] - t[8 + x]
        w[x] = s03 + s12
        w[4 + x] = 2 * d03 + d12
        w[8 + x] = s03 - s12
        w[12 + x] = d03 - 2 * d12


@njit(cache=True, inline="always")
def quant4x4(w, qp, first, deadzone, levels_scan):
    """Quantise raster coefficients into scan-order levels (positions first..15).

    level = (|W| * MF + f) >> (15 + qP/6) with f = deadzone * 2^(15 + qP/6) (1/3 for intra in the JM;
    a negative deadzone zeroes levels below 1 - deadzone steps).
    Returns the number of non-zero levels.
    """
    m = qp % 6
    qbits = 15 + qp // 6
    f = np.int64(deadzone * (1 << qbits))
    nz = 0
    for k in range(first, 16):
        i = ZIGZAG[k]
        a = np.int64(abs(w[i]))
        lv = (a * QUANT_MF[m, i] + f) >> qbits
        if lv < 0:  # a dead zone wider than one step (deadzone < 0)
            lv = 0
        if lv != 0:
            nz += 1
        levels_scan[k] = lv if w[i] >= 0 else -lv
    return nz


@njit(cache=True)
def forward_luma_dc(dc_raster, qp, deadzone, levels_scan):
    """Intra16x16 DC: forward 4x4 Hadamard (halved) and quantisation into scan-order levels."""
    t = np.empty(16, np.int32)
    for y in range(4):
        a = dc_raster[4 * y]
        b = dc_raster[4 * y + 1]
        c = dc_raster[4 * y + 2]
        e = dc_raster[4 * y + 3]
        t[4 * y] = a + b + c + e
        t[4 * y + 1] = a + b - c - e
        t[4 * y + 2] = a - b - c + e
        t[4 * y + 3] = a - b + c - e
    f = np.empty(16, np.int32)
    for x in range(4):
        a = t[x]
        b = t[4 + x]
        c = t[8 + x]
        e = t[12 + x]
        f[x] = (a + b + c + e) >> 1
        f[4 + x] = (a + b - c - e) >> 1
        f[8 + x] = (a - b - c + e) >> 1
        f[12 + x] = (a - b + c - e) >> 1
    m = qp % 6
    qbits = 16 + qp // 6
    r = np.int64(deadzone * (1 << qbits))
    nz = 0
    for k in range(16):
        i = ZIGZAG[k]
        a = np.int64(abs(f[i]))
        lv = (a * QUANT_MF[m, 0] + r) >> qbits
        if lv < 0:
            lv = 0
        if lv != 0:
            nz += 1
        levels_scan[k] = lv if f[i] >= 0 else -lv
    return nz


@njit(cache=True)
def forward_chroma_dc(dc, qp, deadzone, levels):
    """Chroma DC 4:2:0: forward 2x2 Hadamard and quantisation (raster order of the 4 blocks)."""
    f0 = dc[0] + dc[1] + dc[2] + dc[3]
    f1 = dc[0] - dc[1] + dc[2] - dc[3]
    f2 = dc[0] + dc[1] - dc[2] - dc[3]
    f3 = dc[0] - dc[1] - dc[2] + dc[3]
    m = qp % 6
    qbits = 16 + qp // 6
    r = np.int64(deadzone * (1 << qbits))
    nz = 0
    for k in range(4):
        v = f0 if k == 0 else (f1 if k == 1 else (f2 if k == 2 else f3))
        a = np.int64(abs(v))
        lv = (a * QUANT_MF[m, 0] + r) >> qbits
        if lv < 0:
            lv = 0
        if lv != 0:
            nz += 1
        levels[k] = lv if v >= 0 else -lv
    return nz
