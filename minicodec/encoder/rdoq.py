"""Rate-distortion optimised quantisation (RDOQ) for CAVLC 4x4 blocks.

For each coefficient the search considers the level rounded to nearest and one step toward zero (which
is zero for a level of 1); it visits coefficients once from the highest frequency down (as x264's
CAVLC "trellis" does, which is greedy rather than a full trellis) and finally tries dropping the whole
block. Zeroing a larger level in one step won 0.1% of its tries (three photos, QPs 22-37), so it is
not tried.

Costs: R is always exact, the CAVLC bits of the block with its nC context counted by the same writer
that writes the stream. The per-coefficient steps are steered, as in x264, by a transform-domain
distortion estimate: with the forward core transform W = Cf X Cf^T (Cf rows of squared norms
a = 4, 10, 4, 10) and a level l standing for l * 2^qbits / MF in W units, the pixel error is about
``mean_w * sum_ij (|W_ij| - |l_ij| 2^qbits / MF_ij)^2 / (a_i a_j)``. The choices that reach the
stream are made with the exact cost ``J = sum w (x - xhat)^2 + lambda * R`` on the reconstructed
block (the transform is not orthonormal, rounding is not linear and the weights vary per pixel): the
searched levels against the plain quantiser's, then the result against dropping the block. RDOQ
therefore never returns a block whose exact J is above the plain quantiser's.
"""
import numpy as np
from numba import njit

from ..cavlc import MAX_LEVEL, write_residual_block
from ..reconstruct import recon4x4
from ..transform import QUANT_MF, ZIGZAG
from .rdo import terms_diagonal_mean, weighted_sse, weighted_sse_pred4x4

_ZEROS = np.zeros(16, np.int32)
_NORM = np.array([4.0, 10.0, 4.0, 10.0])
#: 1 / (a_i a_j) for raster position 4 i + j: the pixel-domain energy of a unit forward coefficient
INV_NORM2 = np.array([1.0 / (_NORM[i] * _NORM[j]) for i in range(4) for j in range(4)])


@njit(cache=True, inline="always")
def block_cost(src, rec, w, q, y0, x0, pred, lev_row, qp, first, dc, nc, lam, tmp, cbuf, cws):
    """Reconstruct the block with ``lev_row`` and return its exact J (weighted SSE + lambda * bits); the
    bits stay in ``cws[0]``."""
    recon4x4(rec, y0, x0, pred, lev_row, qp, first, dc, tmp)
    d = weighted_sse(src, rec, w, q, y0, x0, 4, 4)
    cws[0] = 0
    if first:
        write_residual_block(cbuf, cws, lev_row[1:], 15, nc)
    else:
        write_residual_block(cbuf, cws, lev_row, 16, nc)
    return d + lam * cws[0]


@njit(cache=True)
def _keep_or_drop(src, rec, w, q, y0, x0, pred, lev_row, qp, first, dc, nc, lam, j_keep, save, tmp, cbuf, cws):
    """RDOQ level 1: the block as quantised (already reconstructed, cost j_keep) against no residual.
    Without a DC from elsewhere, dropping leaves the prediction itself, so its distortion needs no
    reconstruction; with one, the block is rebuilt from the DC alone."""
    nz = False
    for k in range(first, 16):
        if lev_row[k] != 0:
            nz = True
            break
    if not nz:
        return j_keep
    if first == 0 or dc == 0:
        d = weighted_sse_pred4x4(src, pred, w, q, y0, x0)
        cws[0] = 0
        write_residual_block(cbuf, cws, _ZEROS, 16 - first, nc)
        j_drop = d + lam * cws[0]
        if j_drop < j_keep:
            for k in range(first, 16):
                lev_row[k] = 0
            for y in range(4):
                for x in range(4):
                    rec[y0 + y, x0 + x] = pred[4 * y + x]
            return j_drop
        return j_keep
    for k in range(first, 16):
        save[k] = lev_row[k]
        lev_row[k] = 0
    j_drop = block_cost(src, rec, w, q, y0, x0, pred, lev_row, qp, first, dc, nc, lam, tmp, cbuf, cws)
    if j_drop < j_keep:
        return j_drop
    for k in range(first, 16):
        lev_row[k] = save[k]
    recon4x4(rec, y0, x0, pred, lev_row, qp, first, dc, tmp)
    return j_keep


@njit(cache=True, inline="always")
def _rate(cbuf, cws, lev_row, first, nc):
    """Exact CAVLC bits of the block (counting back-end of the writer)."""
    cws[0] = 0
    if first:
        write_residual_block(cbuf, cws, lev_row[1:], 15, nc)
    else:
        write_residual_block(cbuf, cws, lev_row, 16, nc)
    return cws[0]


@njit(cache=True)
def rdoq_block(src, rec, w, q, y0, x0, pred, coef, qp, first, dc, nc, lam, lev_row, up, save, tmp, cbuf, cws,
               level=2, j_known=-1.0, r_known=-1):
    """Improve the quantised levels ``lev_row`` (scan order) of one block in place; leaves the block
    reconstructed in ``rec`` with the chosen levels and returns its exact J. ``coef`` is the forward
    transform (raster), ``first`` = 1 for blocks whose DC is coded elsewhere (value ``dc``).

    ``level`` 2 searches every coefficient, level 1 only weighs the whole block against dropping it
    (the cheap part of RDOQ that lets weights act in the fast effort). A caller that has already
    reconstructed the block with ``lev_row`` and counted it passes its exact cost ``j_known`` and bits
    ``r_known`` (the encoder's Intra_4x4 mode search does)."""
    m = qp % 6
    qbits = 15 + qp // 6
    half = np.int64(1) << (qbits - 1)
    any_up = False
    for k in range(first, 16):
        i = ZIGZAG[k]
        a = np.int64(abs(coef[i]))
        u = (a * QUANT_MF[m, i] + half) >> qbits
        if u > MAX_LEVEL:
            u = MAX_LEVEL
        up[k] = u if coef[i] >= 0 else -u
        if u != 0:
            any_up = True
    if r_known >= 0:
        j_plain = j_known
        r_cur = r_known
    else:
        j_plain = block_cost(src, rec, w, q, y0, x0, pred, lev_row, qp, first, dc, nc, lam, tmp, cbuf, cws)
        r_cur = cws[0]  # bits of the levels as they stand, kept exact through the search
    if not any_up:
        return j_plain
    if level >= 2:
        # greedy search on the estimate (transform-domain distortion, exact rate)
        wsum = 0.0
        for y in range(4):
            for x in range(4):
                wsum += w[y0 + y, x0 + x]
        wmean = wsum / 16.0 + terms_diagonal_mean(q, y0 >> 2, x0 >> 2)  # + the block terms' diagonal
        step = np.float64(np.int64(1) << qbits)
        for k in range(first, 16):
            save[k] = lev_row[k]
        changed = False
        for k in range(15, first - 1, -1):
            u = up[k]
            if u == 0:
                continue
            i = ZIGZAG[k]
            a = np.float64(abs(coef[i]))
            qs = step / QUANT_MF[m, i]
            scale = wmean * INV_NORM2[i]
            cur = lev_row[k]
            e = a - abs(cur) * qs
            d_cur = scale * e * e
            best_delta = 0.0
            bestv = cur
            best_r = r_cur
            s = 1 if u > 0 else -1
            for t in range(2):
                v = u if t == 0 else u - s
                if v == cur:
                    continue
                lev_row[k] = v
                r = _rate(cbuf, cws, lev_row, first, nc)
                e = a - abs(v) * qs
                delta = scale * e * e - d_cur + lam * (r - r_cur)
                if delta < best_delta:
                    best_delta = delta
                    bestv = v
                    best_r = r
            lev_row[k] = bestv
            if bestv != cur:
                changed = True
                r_cur = best_r
        if changed:
            # the exact cost decides between the searched levels and the plain quantiser's
            recon4x4(rec, y0, x0, pred, lev_row, qp, first, dc, tmp)
            j_search = weighted_sse(src, rec, w, q, y0, x0, 4, 4) + lam * r_cur
            if j_search < j_plain:
                j_plain = j_search
            else:
                for k in range(first, 16):
                    lev_row[k] = save[k]
                recon4x4(rec, y0, x0, pred, lev_row, qp, first, dc, tmp)
    return _keep_or_drop(src, rec, w, q, y0, x0, pred, lev_row, qp, first, dc, nc, lam, j_plain, save, tmp, cbuf,
                         cws)
