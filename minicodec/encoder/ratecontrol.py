"""Per-macroblock QP maps: from importance weights (FP-RDO's block-wise step variation) and x264's
variance-based adaptive quantisation (aq-mode 1). Vectorised over macroblocks (numpy), no pixel loops.

Importance: with weights w, ``dQP_b = round(-3 log2(mean_b(w) / mean(w)))``. Since lambda grows as
2^(QP/3), the macroblock's own lambda is then about ``lambda * mean(w) / mean_b(w)``, so the distortion
weights are rescaled to ``w * mean(w) / mean_b(w)`` inside each macroblock: the objective stays the one
``sum w e^2 + lambda R`` (importance is not counted twice), only the quantiser step follows it.
"""
import numpy as np


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


def importance_qp_offsets(wY, mb_h, mb_w, lo=-6, hi=6):
    """(dQP map, per-macroblock weight scale mean(w) / mean_b(w)) from a luma weight map of the image."""
    h, w = wY.shape
    counts = _mb_counts(h, w, 16, mb_h, mb_w)
    mean_b = _mb_sums(wY, 16, mb_h, mb_w) / counts
    mean = float(wY.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean_b / mean if mean > 0 else np.ones_like(mean_b)
        dqp = np.where(ratio > 0, np.rint(-3.0 * np.log2(np.where(ratio > 0, ratio, 1.0))), hi)
        scale = np.where(mean_b > 0, mean / mean_b, 0.0) if mean > 0 else np.ones_like(mean_b)
    return np.clip(dqp, lo, hi).astype(np.int32), scale


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


def scale_weights(w, scale, n):
    """Multiply each n x n macroblock region of a (padded) weight plane by its scale (one pass, broadcast:
    the Kronecker-product version built a full-size temporary and took ~2 ms per 512x512 plane)."""
    mb_h, mb_w = scale.shape
    return (w.reshape(mb_h, n, mb_w, n) * scale[:, None, :, None]).reshape(w.shape)
