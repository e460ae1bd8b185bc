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
import sys

import numpy as np
from numba import njit

from .borrow import borrowed, keep_alive
from .transform import CHROMA_QP, chroma_qp

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

# Table 8-15 (QPC as a function of qPI) and its lookup are the quantiser's: qPp / qPq of chroma edges
# are the QPC of 8.5.8 (8.7.2.2).
QPC_TABLE = CHROMA_QP


@njit(cache=True, inline="always")
def _clip3(lo, hi, x):
    """Clip3(x, y, z) of clause 5.7."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


# ------------------------------------------------------------------------------------------------
# Filtering a whole edge at once
#
# An edge of a macroblock is 16 lines (luma) or 8 lines (chroma); each line crosses the edge with the
# eight samples p3, p2, p1, p0 | q0, q1, q2, q3. The kernels below filter all lines of an edge in one
# loop without branches inside: they compute the filtered and the unfiltered value of every sample
# and select one, so that LLVM turns the loop into SIMD instructions. They work on a block B of
# 8 rows of 16 samples in which each line is a column:
#
#     B[k]       = p3 of line k        B[64 + k]  = q0 of line k
#     B[16 + k]  = p2                  B[80 + k]  = q1
#     B[32 + k]  = p1                  B[96 + k]  = q2
#     B[48 + k]  = p0                  B[112 + k] = q3
#
# The row stride is the constant 16, so LLVM can see that the rows of B do not overlap. B is a piece
# of a scratch block (below) into which the samples around the edges of one macroblock are copied:
# for horizontal edges the rows of B are rows of the picture, for vertical edges its columns (the
# samples are transposed on the way in and out, as x264 and FFmpeg do). Chroma edges carry the 8 lines
# of Cb in columns 0..7 and the 8 lines of Cr in columns 8..15: both use the same alpha, beta, tC0
# (Cb and Cr share QPC here: the PPS has no second_chroma_qp_index_offset, so it equals the first).
# ------------------------------------------------------------------------------------------------

LINES = 16  # columns of the scratch blocks: 16 luma lines, or 8 Cb + 8 Cr lines


@njit(cache=True, inline="always")
def _edge_params(qpav, offset_a, offset_b, bs):
    """alpha, beta and tC0 of an edge (8.7.2.2): indexA = Clip3(0, 51, qPav + filterOffsetA) (8-462),
    indexB likewise (8-463); alpha, beta from Table 8-16, tC0 from Table 8-17 (bS < 4 only; 8-bit
    video, so no bit-depth scaling). alpha == 0 or beta == 0 means that filterSamplesFlag (8-468) is 0
    for every line: the edge is left alone."""
    index_a = _clip3(0, 51, qpav + offset_a)
    index_b = _clip3(0, 51, qpav + offset_b)
    tc0 = TC0_TABLE[index_a, bs - 1] if bs < 4 else 0
    return ALPHA_TABLE[index_a], BETA_TABLE[index_b], tc0


@njit(cache=True)
def _filter_luma_edge(B, bs, alpha, beta, tc0):
    """Filter the 16 luma lines held in B (layout above): 8.7.2.3 / 8.7.2.4, chromaStyleFilteringFlag 0."""
    if bs < 4:
        for k in range(LINES):
            p2, p1, p0 = np.int32(B[16 + k]), np.int32(B[32 + k]), np.int32(B[48 + k])
            q0, q1, q2 = np.int32(B[64 + k]), np.int32(B[80 + k]), np.int32(B[96 + k])
            # 8-468: filterSamplesFlag
            on = (abs(p0 - q0) < alpha) & (abs(p1 - p0) < beta) & (abs(q1 - q0) < beta)
            p_side = abs(p2 - p0) < beta  # ap < beta (8-471)
            q_side = abs(q2 - q0) < beta  # aq < beta (8-472)
            # 8.7.2.3: tC = tC0 + (ap < beta) + (aq < beta) (8-474)
            tc = tc0 + p_side + q_side
            delta = _clip3(-tc, tc, (((q0 - p0) << 2) + (p1 - q1) + 4) >> 3)                     # 8-475
            p0f = _clip3(0, 255, p0 + delta)                                                       # 8-476
            q0f = _clip3(0, 255, q0 - delta)                                                       # 8-477
            p1f = p1 + _clip3(-tc0, tc0, (p2 + ((p0 + q0 + 1) >> 1) - (p1 << 1)) >> 1)             # 8-478
            q1f = q1 + _clip3(-tc0, tc0, (q2 + ((p0 + q0 + 1) >> 1) - (q1 << 1)) >> 1)             # 8-480
            B[32 + k] = p1f if on & p_side else p1
            B[48 + k] = p0f if on else p0
            B[64 + k] = q0f if on else q0
            B[80 + k] = q1f if on & q_side else q1
    else:
        for k in range(LINES):
            p3, p2, p1, p0 = np.int32(B[k]), np.int32(B[16 + k]), np.int32(B[32 + k]), np.int32(B[48 + k])
            q0, q1, q2, q3 = np.int32(B[64 + k]), np.int32(B[80 + k]), np.int32(B[96 + k]), np.int32(B[112 + k])
            on = (abs(p0 - q0) < alpha) & (abs(p1 - p0) < beta) & (abs(q1 - q0) < beta)         # 8-468
            # 8.7.2.4, bS == 4: the strong filter on a side when ap (aq) < beta and the step is small
            small = abs(p0 - q0) < ((alpha >> 2) + 2)
            strong_p = on & small & (abs(p2 - p0) < beta)                                          # 8-485
            strong_q = on & small & (abs(q2 - q0) < beta)                                          # 8-492
            p0s = (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1 + 4) >> 3                                    # 8-486
            p1s = (p2 + p1 + p0 + q0 + 2) >> 2                                                     # 8-487
            p2s = (2 * p3 + 3 * p2 + p1 + p0 + q0 + 4) >> 3                                        # 8-488
            p0w = (2 * p1 + p0 + q1 + 2) >> 2                                                      # 8-489
            q0s = (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2 + 4) >> 3                                    # 8-493
            q1s = (p0 + q0 + q1 + q2 + 2) >> 2                                                     # 8-494
            q2s = (2 * q3 + 3 * q2 + q1 + q0 + p0 + 4) >> 3                                        # 8-495
            q0w = (2 * q1 + q0 + p1 + 2) >> 2                                                      # 8-496
            B[16 + k] = p2s if strong_p else p2
            B[32 + k] = p1s if strong_p else p1
            B[48 + k] = p0s if strong_p else (p0w if on else p0)
            B[64 + k] = q0s if strong_q else (q0w if on else q0)
            B[80 + k] = q1s if strong_q else q1
            B[96 + k] = q2s if strong_q else q2


@njit(cache=True)
def _filter_chroma_edge(B, bs, alpha, beta, tc0):
    """Filter the 8 Cb and 8 Cr lines held in B (layout above): 8.7.2.3 / 8.7.2.4 with
    chromaStyleFilteringFlag 1, so only p0 and q0 change and bS < 4 uses tC = tC0 + 1 (8-473)."""
    if bs < 4:
        tc = tc0 + 1
        for k in range(LINES):
            p1, p0 = np.int32(B[32 + k]), np.int32(B[48 + k])
            q0, q1 = np.int32(B[64 + k]), np.int32(B[80 + k])
            on = (abs(p0 - q0) < alpha) & (abs(p1 - p0) < beta) & (abs(q1 - q0) < beta)         # 8-468
            delta = _clip3(-tc, tc, (((q0 - p0) << 2) + (p1 - q1) + 4) >> 3)                     # 8-475
            B[48 + k] = _clip3(0, 255, p0 + delta) if on else p0                                   # 8-476
            B[64 + k] = _clip3(0, 255, q0 - delta) if on else q0                                   # 8-477
    else:
        for k in range(LINES):
            p1, p0 = np.int32(B[32 + k]), np.int32(B[48 + k])
            q0, q1 = np.int32(B[64 + k]), np.int32(B[80 + k])
            on = (abs(p0 - q0) < alpha) & (abs(p1 - p0) < beta) & (abs(q1 - q0) < beta)         # 8-468
            B[48 + k] = (2 * p1 + p0 + q1 + 2) >> 2 if on else p0                                  # 8-489
            B[64 + k] = (2 * q1 + q0 + p1 + 2) >> 2 if on else q0                                  # 8-496


# ------------------------------------------------------------------------------------------------
# Moving samples between the planes and the scratch blocks
#
# A scratch block S (uint8, rows of 16 samples) holds one macroblock's samples plus the 8 lines before
# it across its edges: row j of S is the picture's row y0 - 8 + j (horizontal edges) or column
# x0 - 8 + j (vertical edges), so the block B of the edge at offset e in the macroblock (e = 0 for the
# macroblock edge, p3 in row 4 + e) is S[16 (4 + e):16 (4 + e) + 128]. The left or top neighbour's
# samples are moved only when that macroblock edge is filtered (at the picture border they do not
# exist). Samples move 8 at a time, as int64 words of the int64 views of the planes and of S (hence
# planes whose rows are contiguous, with a width that is a multiple of 8, which whole macroblocks
# give): a row of 16 samples is two words; a column is made by transposing 8x8 samples in 8 words.
# ------------------------------------------------------------------------------------------------

if sys.byteorder != "little":  # the transposes read byte i of an int64 word as the sample in column i
    raise ImportError("minicodec.deblock needs a little-endian machine")

M32 = 0x00000000FFFFFFFF  # bytes 0..3 of a word
M16 = 0x0000FFFF0000FFFF  # bytes 0, 1, 4, 5
M8 = 0x00FF00FF00FF00FF   # bytes 0, 2, 4, 6


@njit(cache=True, inline="always")
def _swap(a, b, s, m):
    """Exchange the bits of a in the mask m << s with the bits of b in the mask m (a "delta swap"):
    with (m, s) = (M32, 32) the high half of a and the low half of b trade places. t holds, where they
    differ, the bits to flip in b, and shifted left by s the ones to flip in a."""
    t = ((a >> s) ^ b) & m
    return a ^ (t << s), b ^ t


@njit(cache=True, inline="always")
def _transpose8x8(w0, w1, w2, w3, w4, w5, w6, w7):
    """Transpose the 8x8 bytes whose row r is word wr (byte i = column i, x86 is little-endian):
    swap the off-diagonal 4x4 blocks, then the off-diagonal 2x2 blocks inside each 4x4, then the
    off-diagonal samples inside each 2x2."""
    w0, w4 = _swap(w0, w4, 32, M32)
    w1, w5 = _swap(w1, w5, 32, M32)
    w2, w6 = _swap(w2, w6, 32, M32)
    w3, w7 = _swap(w3, w7, 32, M32)
    w0, w2 = _swap(w0, w2, 16, M16)
    w1, w3 = _swap(w1, w3, 16, M16)
    w4, w6 = _swap(w4, w6, 16, M16)
    w5, w7 = _swap(w5, w7, 16, M16)
    w0, w1 = _swap(w0, w1, 8, M8)
    w2, w3 = _swap(w2, w3, 8, M8)
    w4, w5 = _swap(w4, w5, 8, M8)
    w6, w7 = _swap(w6, w7, 8, M8)
    return w0, w1, w2, w3, w4, w5, w6, w7


@njit(cache=True, inline="always")
def _cols_in(P64, y, c, S64, t):
    """Samples P[y + r, 8 c + i] (r, i = 0..7) to S64[t + 2 i] byte r: eight columns of the plane
    become eight rows (word t or t + 1 of the row: lines 0..7 or 8..15) of the scratch block."""
    w = _transpose8x8(P64[y, c], P64[y + 1, c], P64[y + 2, c], P64[y + 3, c],
                      P64[y + 4, c], P64[y + 5, c], P64[y + 6, c], P64[y + 7, c])
    for i in range(8):
        S64[t + 2 * i] = w[i]


@njit(cache=True, inline="always")
def _cols_out(P64, y, c, S64, t):
    """The inverse of _cols_in (a transpose is its own inverse)."""
    w = _transpose8x8(S64[t], S64[t + 2], S64[t + 4], S64[t + 6],
                      S64[t + 8], S64[t + 10], S64[t + 12], S64[t + 14])
    for r in range(8):
        P64[y + r, c] = w[r]


@njit(cache=True, inline="always")
def _filter_mb_luma(Y64, S, y0, x0, left, top, qpav_left, qpav_top, qp, offset_a, offset_b):
    """All luma edges of the macroblock at (y0, x0), in the order of 8.7: vertical edges left to right
    (the macroblock edge first when filtered, bS 4; then the internal edges 4, 8, 12, bS 3), then the
    horizontal edges top to bottom likewise. S is a scratch block of 24 rows of 16."""
    alpha_l, beta_l, _ = _edge_params(qpav_left, offset_a, offset_b, 4)
    alpha_t, beta_t, _ = _edge_params(qpav_top, offset_a, offset_b, 4)
    alpha_i, beta_i, tc0 = _edge_params(qp, offset_a, offset_b, 3)
    inner = alpha_i != 0 and beta_i != 0
    left = left and alpha_l != 0 and beta_l != 0
    top = top and alpha_t != 0 and beta_t != 0
    S64 = S.view(np.int64)
    c0 = x0 // 8  # the macroblock's first word in a row of Y64
    if left or inner:
        # vertical edges: columns x0 - 8 .. x0 + 15 (words c0 - 1 .. c0 + 1) become rows 0..23 of S
        for h in range(0 if left else 1, 3):
            _cols_in(Y64, y0, c0 - 1 + h, S64, 16 * h)
            _cols_in(Y64, y0 + 8, c0 - 1 + h, S64, 16 * h + 1)
        if left:
            _filter_luma_edge(S[64:192], 4, alpha_l, beta_l, 0)
        if inner:
            for e in range(4, 16, 4):
                _filter_luma_edge(S[16 * (4 + e):16 * (4 + e) + 128], 3, alpha_i, beta_i, tc0)
        for h in range(0 if left else 1, 3):
            _cols_out(Y64, y0, c0 - 1 + h, S64, 16 * h)
            _cols_out(Y64, y0 + 8, c0 - 1 + h, S64, 16 * h + 1)
    if top or inner:
        # horizontal edges: rows y0 - 4 .. y0 + 15 to rows 4..23 of S
        for j in range(4 if top else 8, 24):
            S64[2 * j] = Y64[y0 - 8 + j, c0]
            S64[2 * j + 1] = Y64[y0 - 8 + j, c0 + 1]
        if top:
            _filter_luma_edge(S[64:192], 4, alpha_t, beta_t, 0)
        if inner:
            for e in range(4, 16, 4):
                _filter_luma_edge(S[16 * (4 + e):16 * (4 + e) + 128], 3, alpha_i, beta_i, tc0)
        for j in range(5 if top else 8, 22):  # p2 of the macroblock edge .. q1 of edge 12 change
            Y64[y0 - 8 + j, c0] = S64[2 * j]
            Y64[y0 - 8 + j, c0 + 1] = S64[2 * j + 1]


@njit(cache=True, inline="always")
def _filter_mb_chroma(Cb64, Cr64, S, y0, x0, left, top, qpav_left, qpav_top, qpc, offset_a, offset_b):
    """All chroma edges of the macroblock whose 8x8 chroma blocks start at (y0, x0), Cb and Cr side by
    side in the scratch block S (16 rows of 16): vertical edges (macroblock edge bS 4, internal edge
    4 with the bS of luma edge 8, i.e. 3), then horizontal edges likewise. Only p0 and q0 change."""
    alpha_l, beta_l, _ = _edge_params(qpav_left, offset_a, offset_b, 4)
    alpha_t, beta_t, _ = _edge_params(qpav_top, offset_a, offset_b, 4)
    alpha_i, beta_i, tc0 = _edge_params(qpc, offset_a, offset_b, 3)
    inner = alpha_i != 0 and beta_i != 0
    left = left and alpha_l != 0 and beta_l != 0
    top = top and alpha_t != 0 and beta_t != 0
    S64 = S.view(np.int64)
    c0 = x0 // 8
    if left or inner:
        # vertical edges: columns x0 - 8 .. x0 + 7 become rows 0..15 of S, Cb in word 0 of a row
        for h in range(0 if left else 1, 2):
            _cols_in(Cb64, y0, c0 - 1 + h, S64, 16 * h)
            _cols_in(Cr64, y0, c0 - 1 + h, S64, 16 * h + 1)
        if left:
            _filter_chroma_edge(S[64:192], 4, alpha_l, beta_l, 0)
        if inner:
            _filter_chroma_edge(S[128:256], 3, alpha_i, beta_i, tc0)
        for h in range(0 if left else 1, 2):
            _cols_out(Cb64, y0, c0 - 1 + h, S64, 16 * h)
            _cols_out(Cr64, y0, c0 - 1 + h, S64, 16 * h + 1)
    if top or inner:
        # horizontal edges: rows y0 - 2 .. y0 + 7 to rows 6..15 of S
        for j in range(6 if top else 8, 16):
            S64[2 * j] = Cb64[y0 - 8 + j, c0]
            S64[2 * j + 1] = Cr64[y0 - 8 + j, c0]
        if top:
            _filter_chroma_edge(S[64:192], 4, alpha_t, beta_t, 0)
        if inner:
            _filter_chroma_edge(S[128:256], 3, alpha_i, beta_i, tc0)
        for j in range(7 if top else 8, 13):  # p0 of the macroblock edge .. q0 of edge 4 change
            Cb64[y0 - 8 + j, c0] = S64[2 * j]
            Cr64[y0 - 8 + j, c0] = S64[2 * j + 1]


@njit(cache=True)
def deblock_picture(Y, Cb, Cr, mb_width, mb_height, mb_qp, mb_slice, mb_filter_idc,
                    mb_alpha_offset, mb_beta_offset, chroma_qp_index_offset):
    """Deblock a decoded all-intra progressive 4:2:0 frame in place (clause 8.7).

    Macroblocks are processed in raster order. For the current macroblock q:
    filterLeftMbEdgeFlag / filterTopMbEdgeFlag are 0 at the picture border, when
    disable_deblocking_filter_idc is 1 (then nothing in the macroblock is filtered), or when it is 2
    and the neighbour lies in another slice. Luma, Cb and Cr are filtered independently, each with
    vertical edges first, then horizontal ones, on samples already modified by earlier edges.
    The planes are uint8 of whole macroblocks with contiguous rows (numpy's view as int64 raises
    ValueError otherwise). The loop works on borrowed views of the arguments and of its scratch
    blocks (no atomic refcounts, minicodec.borrow).
    """
    luma_scratch = np.zeros(24 * LINES, np.uint8)
    chroma_scratch = np.zeros(16 * LINES, np.uint8)
    S, C = borrowed(luma_scratch), borrowed(chroma_scratch)
    Y64, Cb64, Cr64 = borrowed(Y).view(np.int64), borrowed(Cb).view(np.int64), borrowed(Cr).view(np.int64)
    mb_qp, mb_slice, mb_filter_idc = borrowed(mb_qp), borrowed(mb_slice), borrowed(mb_filter_idc)
    mb_alpha_offset, mb_beta_offset = borrowed(mb_alpha_offset), borrowed(mb_beta_offset)
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
            _filter_mb_luma(Y64, S, 16 * mby, 16 * mbx, left, top,
                            (qpl + qp + 1) >> 1, (qpt + qp + 1) >> 1, qp, offset_a, offset_b)
            # Chroma: qPp, qPq are the QPC of the respective macroblocks (8.7.2.2).
            qpc = chroma_qp(qp, chroma_qp_index_offset)
            qpcl = chroma_qp(qpl, chroma_qp_index_offset)
            qpct = chroma_qp(qpt, chroma_qp_index_offset)
            _filter_mb_chroma(Cb64, Cr64, C, 8 * mby, 8 * mbx, left, top,
                              (qpcl + qpc + 1) >> 1, (qpct + qpc + 1) >> 1, qpc, offset_a, offset_b)
    keep_alive((luma_scratch, chroma_scratch))
