"""The RD cost pieces every encoder decision shares: one weighted distortion, SATD, lambdas.

Distortion is ``D = sum_p w_p (x_p - xhat_p)^2`` (FP-RDO paper, IDSE diagonal); w = 1 is plain SSE. With
block terms ``q`` (``minicodec.encode(..., block_terms=...)``) each 4x4 block b also adds
``sum_i (q_bi . e_b)^2``: the FP-RDO paper's block-local IDSE ``e_b^T M_b e_b`` with
``M_b = diag(w_b) + Q_b^T Q_b`` (the diagonal of Q_b^T Q_b already taken out of w by the caller).
The RD cost is ``J = D + lambda * R`` with R in exact CAVLC bits from the counting bit writer.

Without block terms the encoder passes ``q = None``: the functions that add them (:func:`with_terms` and
its kin) are chosen by the type of q when Numba compiles the caller, so the plain weighted SSE compiles to
exactly the code it was before terms existed (merely carrying the terms' code, never run, cost 2-7 % of
the encode time at medium effort).
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload


def lambda_ssd(qp, factor=0.85):
    """JM mode-decision lambda for I slices against SSD: factor * 2^((QP - 12) / 3)."""
    return factor * 2.0 ** ((qp - 12) / 3.0)


@njit(cache=True)
def lambda_ssd_nb(qp, factor):
    return factor * 2.0 ** ((qp - 12) / 3.0)


def with_terms(d, src, rec, q, y0, x0, h, wd):
    """``d`` plus the :func:`block_terms` of the region (q None: d itself). Jitted code only."""
    raise NotImplementedError("with_terms is for Numba-compiled code")


@overload(with_terms)
def _with_terms(d, src, rec, q, y0, x0, h, wd):
    if isinstance(q, types.NoneType):
        return lambda d, src, rec, q, y0, x0, h, wd: d

    def impl(d, src, rec, q, y0, x0, h, wd):
        if q.shape[2] == 0:
            return d
        return d + block_terms(src, rec, q, y0, x0, h, wd)
    return impl


def with_terms_pred4x4(d, src, pred, q, y0, x0):
    """``d`` plus the :func:`block_terms_pred4x4` of the block (q None: d itself). Jitted code only."""
    raise NotImplementedError("with_terms_pred4x4 is for Numba-compiled code")


@overload(with_terms_pred4x4)
def _with_terms_pred4x4(d, src, pred, q, y0, x0):
    if isinstance(q, types.NoneType):
        return lambda d, src, pred, q, y0, x0: d

    def impl(d, src, pred, q, y0, x0):
        if q.shape[2] == 0:
            return d
        return d + block_terms_pred4x4(src, pred, q, y0, x0)
    return impl


def terms_diagonal_mean(q, by, bx):
    """Mean over block (by, bx)'s 16 samples of the terms' diagonal sum_i q_ip^2 (0 without terms). Jitted
    code only."""
    raise NotImplementedError("terms_diagonal_mean is for Numba-compiled code")


@overload(terms_diagonal_mean)
def _terms_diagonal_mean(q, by, bx):
    if isinstance(q, types.NoneType):
        return lambda q, by, bx: 0.0

    def impl(q, by, bx):
        t = 0.0
        if has_terms(q, by, bx):
            for i in range(q.shape[2]):
                for k in range(16):
                    t += q[by, bx, i, k] * q[by, bx, i, k]
        return t / 16.0
    return impl


@njit(cache=True, inline="always")
def has_terms(q, by, bx):
    """Whether 4x4 block (by, bx) has block terms: q covers the picture's blocks, not the padding's."""
    return q.shape[2] > 0 and by < q.shape[0] and bx < q.shape[1]


@njit(cache=True, inline="always")
def row_products(q, by, bx, i, y, e0, e1, e2, e3):
    """Vectors i .. i + 3 of block (by, bx) times the errors e0..e3 of the block's row y: four partial dot
    products, each summed as a tree (the four vectors' chains stay four short ones)."""
    k = 4 * y
    return ((q[by, bx, i, k] * e0 + q[by, bx, i, k + 1] * e1) + (q[by, bx, i, k + 2] * e2 + q[by, bx, i, k + 3] * e3),
            (q[by, bx, i + 1, k] * e0 + q[by, bx, i + 1, k + 1] * e1)
            + (q[by, bx, i + 1, k + 2] * e2 + q[by, bx, i + 1, k + 3] * e3),
            (q[by, bx, i + 2, k] * e0 + q[by, bx, i + 2, k + 1] * e1)
            + (q[by, bx, i + 2, k + 2] * e2 + q[by, bx, i + 2, k + 3] * e3),
            (q[by, bx, i + 3, k] * e0 + q[by, bx, i + 3, k + 1] * e1)
            + (q[by, bx, i + 3, k + 2] * e2 + q[by, bx, i + 3, k + 3] * e3))


@njit(cache=True, inline="always")
def _terms_of_block(src, rec, q, by, bx, ry, rx):
    """sum_i (q_bi . e)^2 of 4x4 block (by, bx): e = src[4 by + y, 4 bx + x] - rec[ry + y, rx + x], four
    vectors at a time, row by row (:func:`row_products`)."""
    d = 0.0
    if not has_terms(q, by, bx):
        return d
    sy = 4 * by
    sx = 4 * bx
    for i in range(0, q.shape[2], 4):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for y in range(4):
            a0, a1, a2, a3 = row_products(
                q, by, bx, i, y,
                np.float64(src[sy + y, sx]) - np.float64(rec[ry + y, rx]),
                np.float64(src[sy + y, sx + 1]) - np.float64(rec[ry + y, rx + 1]),
                np.float64(src[sy + y, sx + 2]) - np.float64(rec[ry + y, rx + 2]),
                np.float64(src[sy + y, sx + 3]) - np.float64(rec[ry + y, rx + 3]))
            s0 += a0
            s1 += a1
            s2 += a2
            s3 += a3
        d += (s0 * s0 + s1 * s1) + (s2 * s2 + s3 * s3)
    return d


@njit(cache=True, inline="always")
def block_terms(src, rec, q, y0, x0, h, wd):
    """The block-local part of the distortion: over the 4x4 blocks of the h x wd region at (y0, x0) (both
    multiples of 4, aligned on 4), ``sum_i (q_bi . e)^2`` with e = src - rec in raster order. q is
    (blocks down, blocks across, rank, 16), the rank a multiple of 4 (the encoder pads it)."""
    d = 0.0
    for by in range(y0 >> 2, (y0 + h) >> 2):
        for bx in range(x0 >> 2, (x0 + wd) >> 2):
            d += _terms_of_block(src, rec, q, by, bx, 4 * by, 4 * bx)
    return d


@njit(cache=True, inline="always")
def block_terms_pred4x4(src, pred, q, y0, x0):
    """:func:`block_terms` of the 4x4 block at (y0, x0) reconstructed as ``pred[16]`` (row-major)."""
    return _terms_of_block(src, pred.reshape(4, 4), q, y0 >> 2, x0 >> 2, 0, 0)


@njit(cache=True, inline="always")
def weighted_sse(src, rec, w, q, y0, x0, h, wd):
    """The one distortion: sum of w * (src - rec)^2 over the h x wd region at (y0, x0) (wd a multiple of 4),
    plus the :func:`block_terms` of ``q`` (none when q is None or its rank 0).

    Summed in four lanes, one per column x0 + j (mod 4), each row by row, then (d0 + d1) + (d2 + d3): four
    independent chains of additions instead of one, so regions of 64 or 256 samples do not wait on each
    addition in turn. With integer weights (SSE) every order gives the same exact sum."""
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    for y in range(y0, y0 + h):
        for x in range(x0, x0 + wd, 4):
            e0 = np.float64(src[y, x]) - np.float64(rec[y, x])
            e1 = np.float64(src[y, x + 1]) - np.float64(rec[y, x + 1])
            e2 = np.float64(src[y, x + 2]) - np.float64(rec[y, x + 2])
            e3 = np.float64(src[y, x + 3]) - np.float64(rec[y, x + 3])
            d0 += w[y, x] * e0 * e0
            d1 += w[y, x + 1] * e1 * e1
            d2 += w[y, x + 2] * e2 * e2
            d3 += w[y, x + 3] * e3 * e3
    return with_terms((d0 + d1) + (d2 + d3), src, rec, q, y0, x0, h, wd)


@njit(cache=True, inline="always")
def weighted_sse_pred4x4(src, pred, w, q, y0, x0):
    """:func:`weighted_sse` of the 4x4 block at (y0, x0) reconstructed as ``pred[16]`` (row-major), summed
    in the same lanes and order, so both give the same number for the same samples."""
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    for y in range(4):
        e0 = np.float64(src[y0 + y, x0]) - np.float64(pred[4 * y])
        e1 = np.float64(src[y0 + y, x0 + 1]) - np.float64(pred[4 * y + 1])
        e2 = np.float64(src[y0 + y, x0 + 2]) - np.float64(pred[4 * y + 2])
        e3 = np.float64(src[y0 + y, x0 + 3]) - np.float64(pred[4 * y + 3])
        d0 += w[y0 + y, x0] * e0 * e0
        d1 += w[y0 + y, x0 + 1] * e1 * e1
        d2 += w[y0 + y, x0 + 2] * e2 * e2
        d3 += w[y0 + y, x0 + 3] * e3 * e3
    return with_terms_pred4x4((d0 + d1) + (d2 + d3), src, pred, q, y0, x0)


@njit(cache=True)
def satd4x4(res):
    """Sum of absolute 4x4 Hadamard-transformed differences, halved (as in the JM and x264)."""
    s = 0
    # rows first, kept in registers; then columns
    a0 = res[0] + res[1]; b0 = res[0] - res[1]; c0 = res[2] + res[3]; d0 = res[2] - res[3]  # noqa: E702
    a1 = res[4] + res[5]; b1 = res[4] - res[5]; c1 = res[6] + res[7]; d1 = res[6] - res[7]  # noqa: E702
    a2 = res[8] + res[9]; b2 = res[8] - res[9]; c2 = res[10] + res[11]; d2 = res[10] - res[11]  # noqa: E702
    a3 = res[12] + res[13]; b3 = res[12] - res[13]; c3 = res[14] + res[15]; d3 = res[14] - res[15]  # noqa: E702
    r0 = (a0 + c0, b0 + d0, a0 - c0, b0 - d0)
    r1 = (a1 + c1, b1 + d1, a1 - c1, b1 - d1)
    r2 = (a2 + c2, b2 + d2, a2 - c2, b2 - d2)
    r3 = (a3 + c3, b3 + d3, a3 - c3, b3 - d3)
    for x in range(4):
        a = r0[x] + r1[x]
        b = r0[x] - r1[x]
        c = r2[x] + r3[x]
        d = r2[x] - r3[x]
        s += abs(a + c) + abs(b + d) + abs(a - c) + abs(b - d)
    return s >> 1


@njit(cache=True)
def satd_region(src, y0, x0, pred, n, res):
    """SATD of src[y0:y0+n, x0:x0+n] - pred (flat n*n), summed over its 4x4 blocks."""
    s = 0
    for by in range(0, n, 4):
        for bx in range(0, n, 4):
            for y in range(4):
                for x in range(4):
                    res[4 * y + x] = np.int32(src[y0 + by + y, x0 + bx + x]) - pred[n * (by + y) + bx + x]
            s += satd4x4(res)
    return s


@njit(cache=True)
def hadamard4x4(res, h):
    """The 4x4 Hadamard transform that :func:`satd4x4` sums: h[4 i + j], i vertical and j horizontal
    frequency, each 1-D pass T(r) = (r0+r1+r2+r3, r0-r1+r2-r3, r0+r1-r2-r3, r0-r1-r2+r3), DC at h[0].
    sum |h| >> 1 == satd4x4(res)."""
    for y in range(4):
        a = res[4 * y] + res[4 * y + 1]
        b = res[4 * y] - res[4 * y + 1]
        c = res[4 * y + 2] + res[4 * y + 3]
        d = res[4 * y + 2] - res[4 * y + 3]
        h[4 * y] = a + c
        h[4 * y + 1] = b + d
        h[4 * y + 2] = a - c
        h[4 * y + 3] = b - d
    for x in range(4):
        a = h[x] + h[4 + x]
        b = h[x] - h[4 + x]
        c = h[8 + x] + h[12 + x]
        d = h[8 + x] - h[12 + x]
        h[x] = a + c
        h[4 + x] = b + d
        h[8 + x] = a - c
        h[12 + x] = b - d


@njit(cache=True)
def source_hadamards(src, y0, x0, n, res, hs, habs):
    """Hadamard transforms of the n x n source region's 4x4 blocks (raster order) and their sums of |.|,
    computed once so that flat predictions need no transform of their own (:func:`satd_flat_pred`)."""
    k = 0
    for by in range(0, n, 4):
        for bx in range(0, n, 4):
            for y in range(4):
                for x in range(4):
                    res[4 * y + x] = src[y0 + by + y, x0 + bx + x]
            hadamard4x4(res, hs[k])
            t = 0
            for i in range(16):
                t += abs(hs[k, i])
            habs[k] = t
            k += 1


FLAT_ROWS = 0     # every row of each 4x4 block the same (vertical prediction)
FLAT_COLUMNS = 1  # every column the same (horizontal prediction)
FLAT_BLOCK = 2    # one value per 4x4 block (DC prediction)


@njit(cache=True, inline="always")
def satd_flat_block(h, habs, pred, o, n, kind):
    """SATD of one 4x4 block, source minus a prediction flat in it, from the source's Hadamard transform
    ``h`` (:func:`hadamard4x4`) and ``habs = sum |h|``. The block's prediction starts at ``pred[o]`` in rows
    of ``n``; ``kind`` FLAT_ROWS (V: every row is the first), FLAT_COLUMNS (H: every column is the first)
    or FLAT_BLOCK (DC: one value). By linearity H(s - p) = H(s) - H(p), and H(p) is non-zero only in its
    first row (4 T(row)), first column (4 T(column)) or DC (16 p), so only those entries change."""
    acc = habs
    if kind == FLAT_BLOCK:
        acc += abs(h[0] - 16 * pred[o]) - abs(h[0])
    else:
        step = 1 if kind == FLAT_ROWS else 4
        d = 1 if kind == FLAT_ROWS else n  # along the prediction's first row, or down its first column
        p0 = pred[o]
        p1 = pred[o + d]
        p2 = pred[o + 2 * d]
        p3 = pred[o + 3 * d]
        t0 = 4 * (p0 + p1 + p2 + p3)
        t1 = 4 * (p0 - p1 + p2 - p3)
        t2 = 4 * (p0 + p1 - p2 - p3)
        t3 = 4 * (p0 - p1 - p2 + p3)
        acc += (abs(h[0] - t0) - abs(h[0]) + abs(h[step] - t1) - abs(h[step])
                + abs(h[2 * step] - t2) - abs(h[2 * step]) + abs(h[3 * step] - t3) - abs(h[3 * step]))
    return acc >> 1


@njit(cache=True)
def satd_flat_pred(hs, habs, pred, n, kind):
    """SATD of (source - pred) over an n x n region, equal to :func:`satd_region`, for a prediction that
    is flat in each 4x4 block (:func:`satd_flat_block`), from the source's transforms
    (:func:`source_hadamards`)."""
    s = 0
    k = 0
    for by in range(0, n, 4):
        for bx in range(0, n, 4):
            s += satd_flat_block(hs[k], habs[k], pred, n * by + bx, n, kind)
            k += 1
    return s


def lambda_sad(qp, factor=0.85):
    return math.sqrt(lambda_ssd(qp, factor))
