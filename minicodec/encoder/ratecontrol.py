"""Per-macroblock QP maps: from importance weights (FP-RDO's block-wise step variation) and x264's
variance-based adaptive quantisation (aq-mode 1). One Numba pass takes the per-macroblock sums
(:func:`_mb_sums`); the rest is vectorised over macroblocks.

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


def _mb_counts(h, w, n, mb_h, mb_w):
    """Samples of an (h, w) plane inside each n x n macroblock region."""
    rows = np.minimum(n, h - n * np.arange(mb_h))
    cols = np.minimum(n, w - n * np.arange(mb_w))
    return np.outer(rows, cols).astype(np.float64)


@njit(cache=True)
def _mb_sums(plane, log2n, mb_h, mb_w, squares):
    """Per-macroblock sums of a plane in n x n regions (n = 2^log2n; zero beyond the plane's edges): the
    samples' sums, their total, and with ``squares`` the sums of their squares (zeros otherwise)."""
    h, wd = plane.shape
    s = np.zeros((mb_h, mb_w))
    s2 = np.zeros((mb_h, mb_w))
    for y in range(h):
        r = s[y >> log2n]
        r2 = s2[y >> log2n]
        for x in range(wd):
            v = np.float64(plane[y, x])
            r[x >> log2n] += v
            if squares:
                r2[x >> log2n] += v * v
    return s, s.sum(), s2


def importance_qp_offsets(wY, mb_h, mb_w, lo=-6, hi=6):
    """(dQP map, per-macroblock lambda multiplier mean_b(w) / mean(w)) from a luma weight map of the image.

    The multiplier is 1 where it does not apply: a macroblock of zero weight (its distortion counts for
    nothing either way, and it codes at QP + hi) or a map that is zero everywhere."""
    h, w = wY.shape
    counts = _mb_counts(h, w, 16, mb_h, mb_w)
    sums, total, _ = _mb_sums(np.ascontiguousarray(wY, np.float64), 4, mb_h, mb_w, False)
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
    for plane, log2n in ((Y, 4), (Cb, 3), (Cr, 3)):
        s, _, s2 = _mb_sums(plane, log2n, mb_h, mb_w, True)  # integers: exact in float64, in any order
        e += s2 - s * s / (1 << 2 * log2n)
    return 1.0397 * strength * (np.log2(np.maximum(e, 1.0)) - 14.427)
