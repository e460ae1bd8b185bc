"""The RD cost pieces every encoder decision shares: one weighted distortion, SATD, lambdas.

Distortion is ``D = sum_p w_p (x_p - xhat_p)^2`` (FP-RDO paper, IDSE diagonal); w = 1 is plain SSE.
The RD cost is ``J = D + lambda * R`` with R in exact CAVLC bits from the counting bit writer.
"""
import math

import numpy as np
from numba import njit


def lambda_ssd(qp, factor=0.85):
    """JM mode-decision lambda for I slices against SSD: factor * 2^((QP - 12) / 3)."""
    return factor * 2.0 ** ((qp - 12) / 3.0)


@njit(cache=True)
def lambda_ssd_nb(qp, factor):
    return factor * 2.0 ** ((qp - 12) / 3.0)


@njit(cache=True, inline="always")
def weighted_sse(src, rec, w, y0, x0, h, wd):
    """The one distortion: sum of w * (src - rec)^2 over the h x wd region at (y0, x0)."""
    d = 0.0
    for y in range(y0, y0 + h):
        for x in range(x0, x0 + wd):
            e = np.float64(src[y, x]) - np.float64(rec[y, x])
            d += w[y, x] * e * e
    return d


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


def lambda_sad(qp, factor=0.85):
    return math.sqrt(lambda_ssd(qp, factor))
