"""Per-macroblock QP maps: from importance weights (FP-RDO's block-wise step variation) and x264's
variance-based adaptive quantisation (aq-mode 1). Vectorised over macroblocks; the one pass over the weights
is a Numba kernel.

Importance: with weights w, ``dQP_b = round(-3 log2(mean_b(w) / mean(w)))``. Since lambda grows as
2^(QP/3), the macroblock's own lambda is then about ``lambda * mean(w) / mean_b(w)``. Rescaling the weights
to ``w * mean(w) / mean_b(w)`` inside the macroblock would keep the objective ``sum w e^2 + lambda R``
(importance is not counted twice); dividing that macroblock's whole cost by the same factor changes none of
its decisions, so the encoder keeps the weights as given and multiplies the macroblock's lambda by
``mean_b(w) / mean(w)`` instead (:func:`importance_qp_offsets`' second result). Only the quantiser step
follows the importance.
"""
import numpy as np
from numba import njit


def _mb_sums(plane, n, mb_h, mb_w):
    """Sum of each n x n macroblock region of a plane (zero beyond its edges); no copy when it is whole."""
    h, w = plane.shape
    p = plane
    if (h, w) != (mb_h * n, mb_w * n):
        p = np.zeros((mb_h * n, mb_w * n), np.float64)
        p[:h, :w] = plane
    return p.reshape(mb_h, n, mb_w, n).sum(axis=(1, 3))


def _mb_counts(h, w, n, mb_h, mb_w):
    """Samples of an (h, w) plane inside each n x n macroblock region."""
    rows = np.minimum(n, h - n * np.arange(mb_h))
    cols = np.minimum(n, w - n * np.arange(mb_w))
    return np.outer(rows, cols).astype(np.float64)


@njit(cache=True)
def _mb_luma_sums(w, mb_h, mb_w):
    """Sum of the weights in each 16x16 macroblock of a luma plane (zero beyond its edges) and in all."""
    h, wd = w.shape
    out = np.zeros((mb_h, mb_w))
    for y in range(h):
        r = out[y >> 4]
        for x in range(wd):
            r[x >> 4] += w[y, x]
    return out, out.sum()


def importance_qp_offsets(wY, mb_h, mb_w, lo=-6, hi=6):
    """(dQP map, per-macroblock lambda multiplier mean_b(w) / mean(w)) from a luma weight map of the image.

    The multiplier is 1 where it does not apply: a macroblock of zero weight (its distortion counts for
    nothing either way, and it codes at QP + hi) or a map that is zero everywhere."""
    h, w = wY.shape
    counts = _mb_counts(h, w, 16, mb_h, mb_w)
    sums, total = _mb_luma_sums(np.ascontiguousarray(wY, np.float64), mb_h, mb_w)
    mean_b = sums / counts
    mean = total / (h * w)
    if not mean > 0:
        return np.zeros((mb_h, mb_w), np.int32), np.ones((mb_h, mb_w))
    ratio = mean_b / mean
    with np.errstate(divide="ignore"):
        dqp = np.where(ratio > 0, np.rint(-3.0 * np.log2(np.where(ratio > 0, ratio, 1.0))), hi)
    return np.clip(dqp, lo, hi).astype(np.int32), np.where(ratio > 0, ratio, 1.0)


def variance_qp_offsets(Y, Cb, Cr, mb_h, mb_w, strength=1.0):
    """x264 aq-mode 1: dQP = 1.0397 * strength * (log2(max(E, 1)) - 14.427), E the AC energy of the
    macroblock's luma 16x16 and both chroma 8x8 blocks (sum x^2 - (sum x)^2 / N), as float offsets."""
    e = np.zeros((mb_h, mb_w))
    for plane, n in ((Y, 16), (Cb, 8), (Cr, 8)):
        p = plane.astype(np.float64)
        s = _mb_sums(p, n, mb_h, mb_w)
        s2 = _mb_sums(p * p, n, mb_h, mb_w)
        e += s2 - s * s / (n * n)
    return 1.0397 * strength * (np.log2(np.maximum(e, 1.0)) - 14.427)
