"""In-loop deblocking filter (H.264 clause 8.7) for progressive frames whose macroblocks are all intra.

Every macroblock of the pictures this codec handles is intra (I_NxN with the 4x4 transform, I_16x16
or I_PCM) and frames are progressive without MBAFF, so the boundary-strength derivation of 8.7.2.1
collapses to two cases:

* bS = 4 on a macroblock edge (p0 and q0 lie in different macroblocks, one of them intra);
* bS = 3 on an internal edge (luma edges 4, 8, 12; the 4:2:0 chroma internal edge 4 takes the bS of
  luma edge 8, i.e. 3).

Picture borders are never filtered (filterLeftMbEdgeFlag / filterTopMbEdgeFlag, 8.7).

Per-macroblock side information (all int32, raster order, one entry per macroblock):

``mb_qp``            QPY of the macroblock; 0 for I_PCM (8.7.2.2: qPp = 0 for I_PCM).
``mb_slice``         slice number; two macroblocks are "available" to each other only in the same slice.
``mb_filter_idc``    disable_deblocking_filter_idc of the macroblock's slice (0, 1 or 2).
``mb_alpha_offset``  FilterOffsetA = slice_alpha_c0_offset_div2 << 1 of the macroblock's slice.
``mb_beta_offset``   FilterOffsetB = slice_beta_offset_div2 << 1 of the macroblock's slice.

The edge is always filtered with the parameters of the slice containing the current macroblock q, and
with qPav = (qPp + qPq + 1) >> 1 (8-461), qPp/qPq being QPY for luma and QPC (Table 8-15) for chroma.
"""
import numpy as np
from numba import njit

from .borrow import borrowed

# Table 8-16: alpha' indexed by indexA (0..51).
ALPHA_TABLE = np.array([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          # 0..15
    4, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 17, 20, 22, 25, 28,  # 16..31
    32, 36, 40, 45, 50, 56, 63, 71, 80, 90,                   # 32..41
    101, 113, 127, 144, 162, 182, 203, 226, 255, 255,         # 42..51
], np.int32)

# Table 8-16: beta' indexed by indexB (0..51).
BETA_TABLE = np.array([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          # 0..15
    2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 6, 6, 7, 7, 8, 8,          # 16..31
    9, 9, 10, 10, 11, 11, 12, 12, 13, 13,                     # 32..41
    14, 14, 15, 15, 16, 16, 17, 17, 18, 18,                   # 42..51
], np.int32)

# Table 8-17: tC0' indexed by [indexA, bS - 1] for bS = 1, 2, 3.
TC0_TABLE = np.array([
    [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0],      # 0..5
    [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0],      # 6..11
    [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1],      # 12..17
    [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1],      # 18..23
    [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 2], [1, 1, 2], [1, 1, 2],      # 24..29
    [1, 1, 2], [1, 2, 3], [1, 2, 3], [2, 2, 3], [2, 2, 4], [2, 3, 4],      # 30..35
    [2, 3, 4], [3, 3, 5], [3, 4, 6], [3, 4, 6], [4, 5, 7], [4, 5, 8],      # 36..41
    [4, 6, 9], [5, 7, 10], [6, 8, 11], [6, 8, 13], [7, 10, 14], [8, 11, 16],  # 42..47
    [9, 12, 18], [10, 13, 20], [11, 15, 23], [13, 17, 25],                 # 48..51
], np.int32)

# Table 8-15: QPC as a function of qPI (0..51).
QPC_TABLE = np.array(
    list(range(30)) + [29, 30, 31, 32, 32, 33, 34, 34, 35, 35, 36, 36, 37, 37, 37,
                       38, 38, 38, 39, 39, 39, 39], np.int32)


@njit(cache=True, inline="always")
def _clip3(lo, hi, x):
    """Clip3(x, y, z) of clause 5.7."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@njit(cache=True)
def chroma_qp(qpy, chroma_qp_index_offset):
    """QPC of Table 8-15 from qPI = Clip3(0, 51, QPY + chroma_qp_index_offset) (8.5.8, 8-313)."""
    return QPC_TABLE[_clip3(0, 51, qpy + chroma_qp_index_offset)]


@njit(cache=True, inline="always")
def _filter_luma_line(P, r, c, dr, dc, bs, alpha, beta, tc0):
    """Filter one line of luma samples across an edge (8.7.2.3, 8.7.2.4 with chromaStyleFilteringFlag 0).

    q0 is P[r, c]; pi = P[r - (i+1)*dr, c - (i+1)*dc] and qi = P[r + i*dr, c + i*dc].
    """
    p0 = np.int32(P[r - dr, c - dc])
    p1 = np.int32(P[r - 2 * dr, c - 2 * dc])
    q0 = np.int32(P[r, c])
    q1 = np.int32(P[r + dr, c + dc])
    # 8-468: filterSamplesFlag
    if not (abs(p0 - q0) < alpha and abs(p1 - p0) < beta and abs(q1 - q0) < beta):
        return
    p2 = np.int32(P[r - 3 * dr, c - 3 * dc])
    q2 = np.int32(P[r + 2 * dr, c + 2 * dc])
    ap = abs(p2 - p0)  # 8-471
    aq = abs(q2 - q0)  # 8-472
    if bs < 4:
        # 8.7.2.3: tC = tC0 + (ap < beta) + (aq < beta) (8-474)
        tc = tc0
        if ap < beta:
            tc += 1
        if aq < beta:
            tc += 1
        delta = _clip3(-tc, tc, (((q0 - p0) << 2) + (p1 - q1) + 4) >> 3)  # 8-475
        P[r - dr, c - dc] = _clip3(0, 255, p0 + delta)                     # 8-476
        P[r, c] = _clip3(0, 255, q0 - delta)                               # 8-477
        if ap < beta:  # 8-478
            P[r - 2 * dr, c - 2 * dc] = p1 + _clip3(-tc0, tc0, (p2 + ((p0 + q0 + 1) >> 1) - (p1 << 1)) >> 1)
        if aq < beta:  # 8-480
            P[r + dr, c + dc] = q1 + _clip3(-tc0, tc0, (q2 + ((p0 + q0 + 1) >> 1) - (q1 << 1)) >> 1)
    else:
        # 8.7.2.4, bS == 4
        small = abs(p0 - q0) < ((alpha >> 2) + 2)
        if ap < beta and small:  # 8-485
            p3 = np.int32(P[r - 4 * dr, c - 4 * dc])
            P[r - dr, c - dc] = (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3          # 8-486
            P[r - 2 * dr, c - 2 * dc] = (p2 + p1 + p0 + q0 + 2) >> 2                   # 8-487
            P[r - 3 * dr, c - 3 * dc] = (2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3      # 8-488
        else:
            P[r - dr, c - dc] = (2 * p1 + p0 + q1 + 2) >> 2                            # 8-489
        if aq < beta and small:  # 8-492
            q3 = np.int32(P[r + 3 * dr, c + 3 * dc])
            P[r, c] = (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3                    # 8-493
            P[r + dr, c + dc] = (p0 + q0 + q1 + q2 + 2) >> 2                           # 8-494
            P[r + 2 * dr, c + 2 * dc] = (2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3      # 8-495
        else:
            P[r, c] = (2 * q1 + q0 + p1 + 2) >> 2                                      # 8-496


@njit(cache=True, inline="always")
def _filter_chroma_line(P, r, c, dr, dc, bs, alpha, beta, tc0):
    """Filter one line of chroma samples across an edge (8.7.2.3, 8.7.2.4 with chromaStyleFilteringFlag 1).

    Only p0 and q0 are modified; bS < 4 uses tC = tC0 + 1 (8-473).
    """
    p0 = np.int32(P[r - dr, c - dc])
    p1 = np.int32(P[r - 2 * dr, c - 2 * dc])
    q0 = np.int32(P[r, c])
    q1 = np.int32(P[r + dr, c + dc])
    if not (abs(p0 - q0) < alpha and abs(p1 - p0) < beta and abs(q1 - q0) < beta):  # 8-468
        return
    if bs < 4:
        tc = tc0 + 1
        delta = _clip3(-tc, tc, (((q0 - p0) << 2) + (p1 - q1) + 4) >> 3)  # 8-475
        P[r - dr, c - dc] = _clip3(0, 255, p0 + delta)                     # 8-476
        P[r, c] = _clip3(0, 255, q0 - delta)                               # 8-477
    else:
        P[r - dr, c - dc] = (2 * p1 + p0 + q1 + 2) >> 2                    # 8-489
        P[r, c] = (2 * q1 + q0 + p1 + 2) >> 2                              # 8-496


@njit(cache=True)
def _filter_edge(P, r0, c0, vertical, length, chroma, bs, qpav, offset_a, offset_b):
    """Filter one whole edge of ``length`` lines whose first q0 sample is P[r0, c0] (8.7.1, 8.7.2).

    ``vertical`` edges are crossed horizontally (p samples to the left), horizontal edges vertically.
    indexA = Clip3(0, 51, qPav + filterOffsetA) (8-462), indexB likewise (8-463); alpha, beta from
    Table 8-16 and tC0 from Table 8-17 (8-bit video, so no bit-depth scaling).
    """
    index_a = _clip3(0, 51, qpav + offset_a)
    index_b = _clip3(0, 51, qpav + offset_b)
    alpha = ALPHA_TABLE[index_a]
    beta = BETA_TABLE[index_b]
    if alpha == 0 or beta == 0:
        return  # filterSamplesFlag (8-468) can never be 1
    tc0 = TC0_TABLE[index_a, bs - 1] if bs < 4 else 0
    if vertical:
        dr, dc, er, ec = 0, 1, 1, 0
    else:
        dr, dc, er, ec = 1, 0, 0, 1
    for k in range(length):
        if chroma:
            _filter_chroma_line(P, r0 + k * er, c0 + k * ec, dr, dc, bs, alpha, beta, tc0)
        else:
            _filter_luma_line(P, r0 + k * er, c0 + k * ec, dr, dc, bs, alpha, beta, tc0)


@njit(cache=True)
def _filter_mb_plane(P, size, chroma, y0, x0, left, top, qpav_left, qpav_top, qp, offset_a, offset_b):
    """All edges of one macroblock in one colour plane, in the order of 8.7: vertical edges left to
    right (the macroblock edge first when filtered, bS 4), then horizontal edges top to bottom.

    ``size`` is 16 (luma) or 8 (4:2:0 chroma); internal edges lie every 4 samples (bS 3).
    """
    if left:
        _filter_edge(P, y0, x0, True, size, chroma, 4, qpav_left, offset_a, offset_b)
    for e in range(4, size, 4):
        _filter_edge(P, y0, x0 + e, True, size, chroma, 3, qp, offset_a, offset_b)
    if top:
        _filter_edge(P, y0, x0, False, size, chroma, 4, qpav_top, offset_a, offset_b)
    for e in range(4, size, 4):
        _filter_edge(P, y0 + e, x0, False, size, chroma, 3, qp, offset_a, offset_b)


@njit(cache=True)
def deblock_picture(Y, Cb, Cr, mb_width, mb_height, mb_qp, mb_slice, mb_filter_idc,
                    mb_alpha_offset, mb_beta_offset, chroma_qp_index_offset):
    """Deblock a decoded all-intra progressive 4:2:0 frame in place (clause 8.7).

    Macroblocks are processed in raster order. For the current macroblock q:
    filterLeftMbEdgeFlag / filterTopMbEdgeFlag are 0 at the picture border, when
    disable_deblocking_filter_idc is 1 (then nothing in the macroblock is filtered), or when it is 2
    and the neighbour lies in another slice. Luma, Cb and Cr are filtered independently, each with
    vertical edges first, then horizontal ones, on samples already modified by earlier edges.
    The loop works on borrowed views of the arguments (no atomic refcounts, minicodec.borrow).
    """
    Y, Cb, Cr, mb_qp, mb_slice = borrowed(Y), borrowed(Cb), borrowed(Cr), borrowed(mb_qp), borrowed(mb_slice)
    mb_filter_idc, mb_alpha_offset, mb_beta_offset = (borrowed(mb_filter_idc), borrowed(mb_alpha_offset),
                                                      borrowed(mb_beta_offset))
    for mby in range(mb_height):
        for mbx in range(mb_width):
            a = mby * mb_width + mbx
            idc = mb_filter_idc[a]
            if idc == 1:
                continue
            left = mbx > 0
            top = mby > 0
            if idc == 2:
                if left and mb_slice[a - 1] != mb_slice[a]:
                    left = False
                if top and mb_slice[a - mb_width] != mb_slice[a]:
                    top = False
            offset_a = mb_alpha_offset[a]
            offset_b = mb_beta_offset[a]
            qp = mb_qp[a]
            qpl = mb_qp[a - 1] if left else qp
            qpt = mb_qp[a - mb_width] if top else qp
            # Luma: qPav from QPY of p and q macroblocks (8-461).
            _filter_mb_plane(Y, 16, False, 16 * mby, 16 * mbx, left, top,
                             (qpl + qp + 1) >> 1, (qpt + qp + 1) >> 1, qp, offset_a, offset_b)
            # Chroma: qPp, qPq are the QPC of the respective macroblocks (8.7.2.2).
            qpc = chroma_qp(qp, chroma_qp_index_offset)
            qpcl = chroma_qp(qpl, chroma_qp_index_offset)
            qpct = chroma_qp(qpt, chroma_qp_index_offset)
            _filter_mb_plane(Cb, 8, True, 8 * mby, 8 * mbx, left, top,
                             (qpcl + qpc + 1) >> 1, (qpct + qpc + 1) >> 1, qpc, offset_a, offset_b)
            _filter_mb_plane(Cr, 8, True, 8 * mby, 8 * mbx, left, top,
                             (qpcl + qpc + 1) >> 1, (qpct + qpc + 1) >> 1, qpc, offset_a, offset_b)
