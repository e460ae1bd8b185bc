"""Macroblock analysis and coding for I slices: chroma mode, Intra_16x16 vs Intra_4x4 vs I_PCM.

One Numba kernel, :func:`encode_slice`, codes every macroblock of a slice: it decides modes, quantises,
reconstructs with :mod:`minicodec.reconstruct` (so the encoder's picture is the decoder's), and writes
the macroblock with :func:`minicodec.macroblock.write_macroblock`. The same writer in counting mode
gives the exact bits of every candidate it compares; the candidate likely to win is written in place
instead and kept if it does (:func:`minicodec.bitstream.rewind` otherwise). Every distortion is
:func:`minicodec.encoder.rdo.weighted_sse` (w = 1 is SSE).

Effort (``opts[OPT_EFFORT]``):
    0 fast:   Intra_4x4, Intra_16x16 and chroma modes ranked by weighted SATD + lambda_sad * mode bits.
    1 medium: as fast, then the best 3 Intra_4x4 modes of each block and the best 2 Intra_16x16 modes
              are coded and compared by exact J = D + lambda * R.
    2 full:   every allowed Intra_4x4 mode of every block, every Intra_16x16 mode and every chroma mode
              is coded and compared by exact J, in coding order with real reconstructed neighbours.
A candidate is left unfinished only when it provably cannot win, so the choice is the exhaustive one:
when all neighbours of a 4x4 block are equal every Intra_4x4 mode predicts the same block (only the
mode bits differ); an Intra_4x4 candidate whose bits alone cost the best J so far is not reconstructed;
Intra_16x16 candidates and the final Intra_16x16 RDOQ stop once a lower bound of their J reaches the
best one; a chroma mode whose Cb part reaches the best J skips Cr. ``bench/stream_digest.py`` checks
that such shortcuts change no stream.
The macroblock type (Intra_16x16 / Intra_4x4 / I_PCM) is chosen by exact J, at fast effort only when the
SATD costs of Intra_4x4 and Intra_16x16 are close (FAST_I16_SKIP, FAST_I4_ABORT; otherwise the clear
winner is the only one coded). An Intra_16x16 macroblock whose luma AC levels are few and all +-1 is
also weighed with them all dropped (coded_block_pattern luma 0, which no per-block decision can reach). With
``opts[OPT_RDOQ]`` the levels of the chosen modes go through :func:`minicodec.encoder.rdoq.rdoq_block`;
without RDOQ, the quantiser's dead zone follows the block's mean weight (:func:`deadzone`), so the
weights move bits at no cost in time.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .. import bitstream as bs
from ..borrow import borrowed, keep_alive
from ..cavlc import MAX_BLOCK_BITS, MAX_LEVEL, write_residual_block
from ..intra_pred import (chroma_mode_allowed, edges4x4_into, i4x4_mode_allowed, i16x16_mode_allowed,
                          pred4x4_edges, pred16x16, pred_chroma)
from ..macroblock import (BLK_X, BLK_Y, MB_I4x4, MB_I16x16, MB_PCM, ROW_CAC, ROW_CDC, ROW_DC, block_neighbours,
                          i16x16_mb_type, mb_neighbours, predicted_intra4x4_mode, total_coeff_context,
                          write_chroma_residual, write_luma_residual_block, write_macroblock)
from ..reconstruct import recon4x4, recon_i16x16_blocks, sub_block
from ..transform import chroma_qp, clip1, forward4x4, forward_chroma_dc, forward_luma_dc, inverse_chroma_dc, \
    inverse_luma_dc, quant4x4
from .rdo import FLAT_BLOCK, FLAT_COLUMNS, FLAT_ROWS, block_terms_pred4x4, satd4x4, satd_flat_block, \
    satd_flat_pred, satd_region, source_hadamards, weighted_sse
from .rdoq import rdoq_block

OPT_FORCE_KIND = 0     # -1 free, else MB_I4x4 / MB_I16x16 / MB_PCM
OPT_FORCE_I4 = 1       # -1 free, else Intra4x4PredMode (falls back to DC where not allowed)
OPT_FORCE_I16 = 2      # -1 free, else Intra16x16PredMode
OPT_FORCE_CHROMA = 3   # -1 free, else intra_chroma_pred_mode
OPT_EFFORT = 4         # 0 fast, 1 medium, 2 full
OPT_RDOQ = 5           # 0 off, 1 whole-block decisions only, 2 full RDOQ
N_OPTS = 6

EFFORT_FAST = 0
EFFORT_MEDIUM = 1
EFFORT_FULL = 2
MEDIUM_I4_CANDIDATES = 3
MEDIUM_I16_CANDIDATES = 2
#: Fast effort compares SATD costs before coding: Intra_4x4 is abandoned once its partial cost exceeds
#: FAST_I4_ABORT x the Intra_16x16 cost, and Intra_16x16 is not coded when Intra_4x4 costs less than
#: FAST_I16_SKIP x it. Between the two, both are coded and compared by exact J. Measured on the six bench
#: photos at QPs 22-37 against the earlier band (0.7, 1.5): (0.8, 1.2) is 4-10 % faster for +0.05 % BD-rate;
#: (0.85, 1.2) 6-9 % for +0.2 %, and it put the weights' time overhead above 3 % on coffee; deciding by SATD
#: alone (1.0, 1.0) 11-18 % faster for +1.5 %. The BD-rate cost is all on the FAST_I16_SKIP side
FAST_I4_ABORT = 1.2
FAST_I16_SKIP = 0.8
I16_MODE_BITS_ESTIMATE = 8
#: The final Intra_16x16 coding stops when a lower bound of its J exceeds Intra_4x4's J by this factor (a margin
#: far above the rounding of the sums, so the stop never changes a decision)
I16_STOP_MARGIN = 1.0 + 1e-9

#: Which predictions are flat in every 4x4 block (their SATD comes from the source's transforms), by mode
I16_FLAT = np.array([FLAT_ROWS, FLAT_COLUMNS, FLAT_BLOCK, -1], np.int64)    # V, H, DC, plane
I4_FLAT = np.array([FLAT_ROWS, FLAT_COLUMNS, FLAT_BLOCK, -1, -1, -1, -1, -1, -1], np.int64)  # V, H, DC
CHROMA_FLAT = np.array([FLAT_BLOCK, FLAT_COLUMNS, FLAT_ROWS, -1], np.int64)  # DC, H, V, plane

#: Dropping every luma AC level of an Intra_16x16 macroblock (cbp luma 15 -> 0) is weighed exactly when
#: they are all +-1 and at most this many. Over the six bench photos at QPs 22-37 this gate kept 99.6% of
#: the macroblocks where dropping won at medium and full (93% at fast) and skipped more than half of the
#: tries; wins with a level above 1 were 0.4% at medium and full, 2% at fast
I16_DROP_MAX_AC = 16

#: Above this many bits a macroblock is coded as I_PCM instead (128 + RawMbBits, A.3.1).
MAX_MB_BITS = 3200
#: Bytes a candidate macroblock may take in the slice's writer before it is rejected: 27 residual blocks
#: at their worst (:data:`minicodec.cavlc.MAX_BLOCK_BITS`) and the few hundred bits of the rest. A slice
#: writer needs this much room beyond what its macroblocks finally take.
MAX_CANDIDATE_BYTES = (27 * MAX_BLOCK_BITS + 512) // 8

#: Which candidate of the current macroblock the slice's writer holds. A candidate that no other follows,
#: and at fast effort the one of Intra_4x4 / Intra_16x16 that SATD favours, is written rather than only
#: counted and kept when it wins (the writer is rewound otherwise). Writing costs about 1.4x counting,
#: so at medium and full, where the last candidate (Intra_16x16) loses ~70% of the time, both are counted.
IN_BUF_NONE = 0
IN_BUF_I4 = 1
IN_BUF_I16 = 2
DEADZONE_INTRA = 1.0 / 3.0
DEADZONE_MIN = -64.0


@njit(cache=True, inline="always")
def _mean_weight(w, y0, x0, n):
    """Mean of the n x n weights at (y0, x0), summed row by row."""
    s = 0.0
    for y in range(y0, y0 + n):
        for x in range(x0, x0 + n):
            s += w[y, x]
    return s / (n * n)


@njit(cache=True)
def deadzone(w, y0, x0, n, ratio):
    """Rounding offset of the quantiser for the n x n block at (y0, x0) when no RDOQ runs
    (:func:`deadzone_of_mean` of its mean weight).

    Lowering a level by one saves some bits dR and adds w * dx^2 of distortion; the level is worth
    keeping above ``1/2 - lambda dR / (2 w Qstep^2)`` steps. H.264's lambda / Qstep^2 is constant, so
    the offset is ``1/2 - (1/2 - 1/3) * ratio / mean(w)`` with ratio = lambda_factor / 0.85: the JM's
    intra dead zone 1/3 for SSE and the default lambda, wider where the weights are low (down to
    DEADZONE_MIN), narrower where they are high. ``ratio < 0``: always 1/3 (RDOQ decides instead)."""
    if ratio < 0:
        return DEADZONE_INTRA
    return deadzone_of_mean(_mean_weight(w, y0, x0, n), ratio)


@njit(cache=True, inline="always")
def deadzone_of_mean(wm, ratio):
    """The dead zone of :func:`deadzone` for a block of mean weight ``wm`` (ratio >= 0)."""
    if wm <= 0.0:
        return DEADZONE_MIN
    r = ratio / wm
    if r == 1.0:
        return DEADZONE_INTRA
    dz = 0.5 - (0.5 - DEADZONE_INTRA) * r
    return dz if dz > DEADZONE_MIN else DEADZONE_MIN


@njit(cache=True, inline="always")
def _clamp_levels(lev_row, n0, n1):
    for k in range(n0, n1):
        if lev_row[k] > MAX_LEVEL:
            lev_row[k] = MAX_LEVEL
        elif lev_row[k] < -MAX_LEVEL:
            lev_row[k] = -MAX_LEVEL


@njit(cache=True, inline="always")
def _count_nonzero(lev_row, n0, n1):
    n = 0
    for k in range(n0, n1):
        if lev_row[k] != 0:
            n += 1
    return n


@njit(cache=True)
def _few_unit_levels(lev, rows, most):
    """True if the AC levels (positions 1..15) of ``lev[0:rows]`` are all 0 or +-1, at most ``most`` non-zero."""
    n = 0
    for r in range(rows):
        for k in range(1, 16):
            v = lev[r, k]
            if v != 0:
                if v != 1 and v != -1:
                    return False
                n += 1
    return n <= most


@njit(cache=True, inline="always")
def _block_means(w, y0, x0, nb, out):
    """Mean weights of the nb x nb 4x4 blocks of the region at (y0, x0) into out[0:nb*nb] (raster order,
    each summed row by row as :func:`deadzone` sums); returns the region's mean, from the blocks' means."""
    t = 0.0
    for k in range(nb * nb):
        m = _mean_weight(w, y0 + 4 * (k // nb), x0 + 4 * (k % nb), 4)
        out[k] = m
        t += m
    return t / (nb * nb)


@njit(cache=True, inline="always")
def mb_weight_means(wY, wCb, wCr, y0, x0, cy0, cx0, wm_y, wm_c):
    """Mean weights of a macroblock's regions: wm_y[k] of luma 4x4 block k (raster order), wm_y[16] of the
    16x16 luma; wm_c[c, b] of chroma 4x4 block b of component c, wm_c[c, 4] of its 8x8 (:func:`_block_means`).
    Their square roots scale SATD (an amplitude) as the weights scale D; they set the dead zones when no
    RDOQ runs. The blocks' sums are independent chains of additions, so they overlap; one row-major sum of
    256 weights would be one long chain."""
    wm_y[16] = _block_means(wY, y0, x0, 4, wm_y)
    wm_c[0, 4] = _block_means(wCb, cy0, cx0, 2, wm_c[0])
    wm_c[1, 4] = _block_means(wCr, cy0, cx0, 2, wm_c[1])


@njit(cache=True, inline="always")
def residual_quant4x4(src, y0, x0, pred, qp, dz, lev_row, res, coef):
    """Transform and quantise the residual of the 4x4 block at (y0, x0) against ``pred``: the
    coefficients in ``coef``, the scan-order levels in ``lev_row``."""
    for y in range(4):
        for x in range(4):
            res[4 * y + x] = np.int32(src[y0 + y, x0 + x]) - pred[4 * y + x]
    forward4x4(res, coef)
    quant4x4(coef, qp, 0, dz, lev_row)
    _clamp_levels(lev_row, 0, 16)


@njit(cache=True, inline="always")
def _flat_edges(e, left, top, topleft):
    """True if every neighbour an allowed Intra_4x4 mode reads (:func:`edges4x4_into`) has the
    same value: then all nine predictors (8.3.1.2) give that value everywhere, their 2- and 3-tap
    filters included."""
    v = e[5] if top else e[3]
    if top:
        for k in range(5, 13):
            if e[k] != v:
                return False
    if left:
        for k in range(4):
            if e[k] != v:
                return False
        if top and topleft and e[4] != v:
            return False
    return True


@njit(cache=True, inline="always")
def code_i4x4_block(src, rec, w, q, y0, x0, edges, mode, a, b, qp, lam, nc, rdoq, dz, lev_row, pred, res, coef, tmp,
                    up, save, cbuf, cws):
    """Predict (from the block's neighbours ``edges``, :func:`edges4x4_into`), transform, quantise (RDOQ
    optional) and reconstruct one Intra_4x4 block in place. Returns TotalCoeff."""
    pred4x4_edges(edges, mode, a, b, pred)
    residual_quant4x4(src, y0, x0, pred, qp, dz, lev_row, res, coef)
    if rdoq:
        rdoq_block(src, rec, w, q, y0, x0, pred, coef, qp, 0, 0, nc, lam, lev_row, up, save, tmp, cbuf, cws, rdoq)
    else:
        recon4x4(rec, y0, x0, pred, lev_row, qp, 0, 0, tmp)
    return _count_nonzero(lev_row, 0, 16)


@njit(cache=True)
def transform_i16x16(src, rec, y0, x0, mode, left, top, topleft, qp, dz_y, lev, pred256, res, coefs, dcs, dc):
    """Intra_16x16 luma up to its residual blocks: prediction, the sixteen forward transforms (kept in
    ``coefs`` for RDOQ), the AC levels, the DC Hadamard, its levels ``lev[ROW_DC]`` and their inverse ``dc``."""
    pred16x16(rec, y0, x0, mode, left, top, topleft, pred256)
    for blk in range(16):
        bx = 4 * BLK_X[blk]
        by = 4 * BLK_Y[blk]
        for y in range(4):
            for x in range(4):
                res[4 * y + x] = np.int32(src[y0 + by + y, x0 + bx + x]) - pred256[16 * (by + y) + bx + x]
        forward4x4(res, coefs[blk])
        dcs[4 * BLK_Y[blk] + BLK_X[blk]] = coefs[blk, 0]
        lev[blk, 0] = 0
        quant4x4(coefs[blk], qp, 1, dz_y[4 * BLK_Y[blk] + BLK_X[blk]], lev[blk])
        _clamp_levels(lev[blk], 1, 16)
    forward_luma_dc(dcs, qp, dz_y[16], lev[ROW_DC])
    _clamp_levels(lev[ROW_DC], 0, 16)
    inverse_luma_dc(lev[ROW_DC], qp, dc)


@njit(cache=True)
def recon_i16x16(src, rec, w, q, y0, x0, qp, lam, rdoq, left, top, nz_y, mbx, mby, lev, pred256, pred16, coefs, dc,
                 tmp, up, save, cbuf, cws, j_stop):
    """Reconstruct the sixteen blocks of a transformed Intra_16x16 macroblock (:func:`transform_i16x16`) in
    place, with RDOQ optional; returns coded_block_pattern luma (0 or 15).

    With RDOQ each block's exact J is known once it is done; their running sum is a lower bound of the
    macroblock's J with its AC levels. Once it reaches ``j_stop`` the rest is not coded and -1 returned."""
    ac = 0
    acc = 0.0
    for blk in range(16):
        bx = BLK_X[blk]
        by = BLK_Y[blk]
        sub_block(pred256, 16, 4 * by, 4 * bx, pred16)
        if rdoq:
            gx = 4 * mbx + bx
            gy = 4 * mby + by
            nc = total_coeff_context(nz_y, gy, gx, bx > 0 or left, by > 0 or top)
            acc += rdoq_block(src, rec, w, q, y0 + 4 * by, x0 + 4 * bx, pred16, coefs[blk], qp, 1, dc[4 * by + bx],
                              nc, lam, lev[blk], up, save, tmp, cbuf, cws, rdoq)
            nz_y[gy, gx] = _count_nonzero(lev[blk], 1, 16)
            if acc >= j_stop:
                return -1
        else:
            recon4x4(rec, y0 + 4 * by, x0 + 4 * bx, pred16, lev[blk], qp, 1, dc[4 * by + bx], tmp)
        ac += _count_nonzero(lev[blk], 1, 16)
    return 15 if ac > 0 else 0


@njit(cache=True)
def cost_i16x16(src, rec, w, q, y0, x0, mode, cbp_c, qp, lam, left, top, nz_y, mbx, mby, lev, pred256, pred16, dc,
                tmp, cbuf, cws, j_stop):
    """Exact J of a transformed Intra_16x16 candidate (:func:`transform_i16x16`, no RDOQ) in the bits that
    differ between modes: weighted SSE + lambda * (ue(mb_type) + the luma residual). Reconstructs and
    counts block by block; returns (J, coded_block_pattern luma), or (inf, -1) once a lower bound of J
    reaches ``j_stop``: the blocks' distortion so far, the DC block and the mb_type of cbp luma 0 or, once
    an AC level is non-zero (cbp luma 15 then), that of cbp luma 15 and every AC block's bits so far."""
    cws[0] = 0
    write_residual_block(cbuf, cws, lev[ROW_DC], 16, total_coeff_context(nz_y, 4 * mby, 4 * mbx, left, top))
    r_dc = cws[0]
    r_fixed = r_dc + bs.ue_bits(i16x16_mb_type(mode, cbp_c << 4))
    r_with_ac = r_dc + bs.ue_bits(i16x16_mb_type(mode, 15 | (cbp_c << 4)))
    r_ac = 0
    any_ac = False
    d = 0.0
    for blk in range(16):
        bx = BLK_X[blk]
        by = BLK_Y[blk]
        sub_block(pred256, 16, 4 * by, 4 * bx, pred16)
        recon4x4(rec, y0 + 4 * by, x0 + 4 * bx, pred16, lev[blk], qp, 1, dc[4 * by + bx], tmp)
        d += weighted_sse(src, rec, w, q, y0 + 4 * by, x0 + 4 * bx, 4, 4)
        cws[0] = 0
        if write_luma_residual_block(cbuf, cws, lev, blk, MB_I16x16, nz_y, 4 * mbx + bx, 4 * mby + by,
                                     bx > 0 or left, by > 0 or top) > 0:
            any_ac = True
        r_ac += cws[0]
        if d + lam * (r_with_ac + r_ac if any_ac else r_fixed) >= j_stop:
            return np.inf, -1
    if not any_ac:
        return d + lam * r_fixed, 0
    return d + lam * (r_with_ac + r_ac), 15


def with_dc_terms(d, src, q, y0, x0, pred256, dc):
    """``d`` plus the block terms of :func:`dc_only_sse`'s macroblock (q None: d itself). Jitted code only."""
    raise NotImplementedError("with_dc_terms is for Numba-compiled code")


@overload(with_dc_terms)
def _with_dc_terms(d, src, q, y0, x0, pred256, dc):
    if isinstance(q, types.NoneType):
        return lambda d, src, q, y0, x0, pred256, dc: d
    return lambda d, src, q, y0, x0, pred256, dc: d + dc_only_terms(src, q, y0, x0, pred256, dc)


@njit(cache=True)
def dc_only_terms(src, q, y0, x0, pred256, dc):
    """The block terms of :func:`dc_only_sse`'s macroblock: each 4x4 block is its prediction plus
    ``(dc + 32) >> 6``, rebuilt in a scratch block for :func:`minicodec.encoder.rdo.block_terms_pred4x4`."""
    d = 0.0
    blk = np.empty(16, np.int32)
    for b in range(16):
        by = b >> 2
        bx = b & 3
        add = (dc[b] + 32) >> 6
        for k in range(16):
            blk[k] = clip1(pred256[16 * (4 * by + (k >> 2)) + 4 * bx + (k & 3)] + add)
        d += block_terms_pred4x4(src, blk, q, y0 + 4 * by, x0 + 4 * bx)
    return d


@njit(cache=True)
def dc_only_sse(src, w, q, y0, x0, pred256, dc):
    """Weighted SSE of an Intra_16x16 macroblock reconstructed from its DC alone (every AC level zero):
    each 4x4 block is its prediction plus ``(dc + 32) >> 6`` (8.5.12 with one non-zero coefficient).
    Sums in :func:`weighted_sse`'s order (four column lanes), so it equals that of the reconstruction to
    the last bit."""
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    for y in range(16):
        for x in range(0, 16, 4):
            add = (dc[4 * (y >> 2) + (x >> 2)] + 32) >> 6
            e0 = np.float64(src[y0 + y, x0 + x]) - np.float64(clip1(pred256[16 * y + x] + add))
            e1 = np.float64(src[y0 + y, x0 + x + 1]) - np.float64(clip1(pred256[16 * y + x + 1] + add))
            e2 = np.float64(src[y0 + y, x0 + x + 2]) - np.float64(clip1(pred256[16 * y + x + 2] + add))
            e3 = np.float64(src[y0 + y, x0 + x + 3]) - np.float64(clip1(pred256[16 * y + x + 3] + add))
            d0 += w[y0 + y, x0 + x] * e0 * e0
            d1 += w[y0 + y, x0 + x + 1] * e1 * e1
            d2 += w[y0 + y, x0 + x + 2] * e2 * e2
            d3 += w[y0 + y, x0 + x + 3] * e3 * e3
    d = (d0 + d1) + (d2 + d3)
    return with_dc_terms(d, src, q, y0, x0, pred256, dc)


@njit(cache=True)
def code_chroma(srcC, recC, w, q, c, y0, x0, cmode, left, top, topleft, cqp, lam, rdoq, dz_c, nz_c, mbx, mby, lev,
                pred64, pred16, res, coefs, dcc, dcv, tmp, up, save, cbuf, cws):
    """Code one chroma component (prediction, 2x2 DC, AC; RDOQ on AC optional) and reconstruct it in place.
    Returns (DC non-zeros, AC non-zeros)."""
    pred_chroma(recC, y0, x0, cmode, left, top, topleft, pred64)
    for b in range(4):
        bx = 4 * (b & 1)
        by = 4 * (b >> 1)
        for y in range(4):
            for x in range(4):
                res[4 * y + x] = np.int32(srcC[y0 + by + y, x0 + bx + x]) - pred64[8 * (by + y) + bx + x]
        forward4x4(res, coefs[b])
        dcc[b] = coefs[b, 0]
        row = lev[ROW_CAC + 4 * c + b]
        row[0] = 0
        quant4x4(coefs[b], cqp, 1, dz_c[b], row)
        _clamp_levels(row, 1, 16)
    forward_chroma_dc(dcc, cqp, dz_c[4], lev[ROW_CDC + c])
    _clamp_levels(lev[ROW_CDC + c], 0, 4)
    inverse_chroma_dc(lev[ROW_CDC + c], cqp, dcv)
    ac = 0
    for b in range(4):
        bx = 4 * (b & 1)
        by = 4 * (b >> 1)
        sub_block(pred64, 8, by, bx, pred16)
        row = lev[ROW_CAC + 4 * c + b]
        if rdoq:
            gx = 2 * mbx + (b & 1)
            gy = 2 * mby + (b >> 1)
            nc = total_coeff_context(nz_c[c], gy, gx, (b & 1) > 0 or left, (b >> 1) > 0 or top)
            rdoq_block(srcC, recC, w, q, y0 + by, x0 + bx, pred16, coefs[b], cqp, 1, dcv[b], nc, lam, row, up, save,
                       tmp, cbuf, cws, rdoq)
            nz_c[c, gy, gx] = _count_nonzero(row, 1, 16)
        else:
            recon4x4(recC, y0 + by, x0 + bx, pred16, row, cqp, 1, dcv[b], tmp)
        ac += _count_nonzero(row, 1, 16)
    return _count_nonzero(lev[ROW_CDC + c], 0, 4), ac


@njit(cache=True, inline="always")
def _finite(x):
    """Rank NaN (weights so large the cost overflowed) after every real cost, before disallowed modes."""
    return x if x == x and x < 1e300 else 1e300


@njit(cache=True)
def _sort_small(costs, order, n):
    """Indices of the n costs in increasing order (insertion sort; n <= 9)."""
    for i in range(n):
        order[i] = i
    for i in range(1, n):
        k = order[i]
        j = i - 1
        while j >= 0 and costs[order[j]] > costs[k]:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = k


@njit(cache=True)
def encode_slice(srcY, srcCb, srcCr, wY, wCb, wCr, mY, mCb, mCr, qY, qCb, qCr, qp_map, lam_mult, first_mb, last_mb,
                 slice_num, slice_qp, cqp_offset, mb_w, lam_factor, opts,
                 Y, Cb, Cr, mb_slice, mb_kind, mb_qp, nz_y, nz_c, ipred,
                 buf, ws, mb_bits, mb_dist, mb_i16mode, mb_cmode, mb_i4modes):
    """Decide, code, reconstruct and write macroblocks first_mb .. last_mb - 1 of one slice.

    The distortion of every decision is ``weighted_sse`` with the weights w* and the block terms q*
    (:mod:`minicodec.encoder.rdo`); m* is the whole diagonal of the distortion (w* plus the terms' diagonal:
    the weights as the caller gave them), whose means scale SATD and set the dead zones. Without block terms
    m* is w*.

    Macroblock ``addr`` codes at QP ``qp_map[addr]`` with lambda ``lam_factor * 2^((QP - 12) / 3) *
    lam_mult[addr]`` (the multiplier is 1 but for aq='weights', :mod:`minicodec.encoder.ratecontrol`)."""
    lev = np.zeros((27, 16), np.int32)
    lev16 = np.zeros((27, 16), np.int32)
    i4modes = np.zeros(16, np.int32)
    pcm = np.zeros(384, np.int32)
    pred = np.empty(16, np.int32)
    edges = np.empty(13, np.int32)  # the neighbours of the current 4x4 block (edges4x4_into)
    pred256 = np.empty(256, np.int32)
    pred64 = np.empty(64, np.int32)
    res = np.empty(16, np.int32)
    coef = np.empty(16, np.int32)
    coefs = np.empty((16, 16), np.int32)
    tmp = np.empty(16, np.int32)
    up = np.empty(16, np.int32)
    save = np.empty(16, np.int32)
    dcs = np.empty(16, np.int32)
    dc = np.empty(16, np.int32)
    dcc = np.empty(4, np.int32)
    dcv = np.empty(4, np.int32)
    rec16 = np.empty((16, 16), np.uint8)
    rec_ac = np.empty((16, 16), np.uint8)
    lev_ac = np.zeros((16, 16), np.int32)
    pred_b = np.empty(16, np.int32)  # the best Intra_4x4 candidate so far: prediction, transform, levels
    coef_b = np.empty(16, np.int32)
    lev_b = np.empty(16, np.int32)
    best_d = 0.0
    best_r = 0
    ncand = 0
    nz_ac = np.zeros((4, 4), nz_y.dtype)
    nz16 = np.zeros((4, 4), nz_y.dtype)
    ipred16 = np.zeros((4, 4), ipred.dtype)
    costs = np.empty(9, np.float64)
    hs16 = np.empty((16, 16), np.int32)  # source Hadamards for the flat-prediction SATDs
    habs16 = np.empty(16, np.int64)
    hs_c = np.empty((2, 4, 16), np.int32)
    habs_c = np.empty((2, 4), np.int64)
    order = np.empty(9, np.int64)
    rank = np.empty(9, np.int64)
    ranked = np.empty(9, np.int64)
    i16cost = np.empty(4, np.float64)
    i16order = np.empty(4, np.int64)
    lev_k16 = np.empty((ROW_DC + 1, 16), np.int32)  # the best Intra_16x16 mode so far (medium, full)
    coefs_k16 = np.empty((16, 16), np.int32)
    pred256_k16 = np.empty(256, np.int32)
    dc_k16 = np.empty(16, np.int32)
    cbuf = np.zeros(1, np.uint8)
    cws = np.zeros(2, np.int64)  # counting back-end of the bit writer
    force_kind = opts[OPT_FORCE_KIND]
    force_i4 = opts[OPT_FORCE_I4]
    force_i16 = opts[OPT_FORCE_I16]
    force_c = opts[OPT_FORCE_CHROMA]
    effort = opts[OPT_EFFORT]
    rdoq = opts[OPT_RDOQ]  # 0 off, 1 drop-block only, 2 full
    dzr0 = -1.0 if rdoq else lam_factor / 0.85  # without RDOQ the dead zone follows the weights
    wm_y = np.ones(17)  # mean weights of the macroblock's regions (mb_weight_means) and their dead zones
    wm_c = np.ones((2, 5))
    dz_y = np.full(17, DEADZONE_INTRA)
    dz_c = np.full((2, 5), DEADZONE_INTRA)
    need_means = effort != EFFORT_FULL or dzr0 >= 0  # SATD scales, or dead zones that follow the weights
    # every array of the loop as a borrowed view: no atomic refcounts (see minicodec.borrow); the
    # scratch arrays' owners stay in `owners` until the end
    owners = (lev, lev16, i4modes, pcm, pred, edges, pred256, pred64, res, coef, coefs, tmp, up, save, dcs, dc,
              dcc, dcv, rec16, rec_ac, lev_ac, pred_b, coef_b, lev_b, nz_ac, nz16, ipred16, costs, hs16, habs16,
              hs_c, habs_c, order, rank, ranked, i16cost, i16order, lev_k16, coefs_k16, pred256_k16, dc_k16, cbuf,
              cws, wm_y, wm_c, dz_y, dz_c)
    srcY, srcCb, srcCr, wY, wCb = borrowed(srcY), borrowed(srcCb), borrowed(srcCr), borrowed(wY), borrowed(wCb)
    qY, qCb, qCr = borrowed(qY), borrowed(qCb), borrowed(qCr)
    mY, mCb, mCr = borrowed(mY), borrowed(mCb), borrowed(mCr)
    wCr, qp_map, Y, Cb, Cr = borrowed(wCr), borrowed(qp_map), borrowed(Y), borrowed(Cb), borrowed(Cr)
    lam_mult = borrowed(lam_mult)
    mb_slice, mb_kind, mb_qp, nz_y = borrowed(mb_slice), borrowed(mb_kind), borrowed(mb_qp), borrowed(nz_y)
    nz_c, ipred, buf, ws = borrowed(nz_c), borrowed(ipred), borrowed(buf), borrowed(ws)
    mb_bits, mb_dist, mb_i16mode = borrowed(mb_bits), borrowed(mb_dist), borrowed(mb_i16mode)
    mb_cmode, mb_i4modes = borrowed(mb_cmode), borrowed(mb_i4modes)
    lev, lev16, i4modes, pcm = borrowed(lev), borrowed(lev16), borrowed(i4modes), borrowed(pcm)
    pred, edges, pred256, pred64 = borrowed(pred), borrowed(edges), borrowed(pred256), borrowed(pred64)
    res, coef, coefs, tmp, up = borrowed(res), borrowed(coef), borrowed(coefs), borrowed(tmp), borrowed(up)
    save, dcs, dc, dcc, dcv = borrowed(save), borrowed(dcs), borrowed(dc), borrowed(dcc), borrowed(dcv)
    rec16, rec_ac, lev_ac, pred_b = borrowed(rec16), borrowed(rec_ac), borrowed(lev_ac), borrowed(pred_b)
    coef_b, lev_b, nz_ac, nz16 = borrowed(coef_b), borrowed(lev_b), borrowed(nz_ac), borrowed(nz16)
    ipred16, costs, hs16, habs16 = borrowed(ipred16), borrowed(costs), borrowed(hs16), borrowed(habs16)
    hs_c, habs_c, order, rank = borrowed(hs_c), borrowed(habs_c), borrowed(order), borrowed(rank)
    ranked, i16cost, i16order = borrowed(ranked), borrowed(i16cost), borrowed(i16order)
    lev_k16, coefs_k16, pred256_k16 = borrowed(lev_k16), borrowed(coefs_k16), borrowed(pred256_k16)
    dc_k16, cbuf, cws, wm_y = borrowed(dc_k16), borrowed(cbuf), borrowed(cws), borrowed(wm_y)
    wm_c, dz_y, dz_c = borrowed(wm_c), borrowed(dz_y), borrowed(dz_c)
    prev_qp = slice_qp
    for addr in range(first_mb, last_mb):
        mby = addr // mb_w
        mbx = addr - mby * mb_w
        y0 = 16 * mby
        x0 = 16 * mbx
        cy0 = 8 * mby
        cx0 = 8 * mbx
        left, top, topright, topleft = mb_neighbours(mb_slice, mb_w, mbx, mby, slice_num)
        mb_slice[addr] = slice_num
        qp = qp_map[addr]
        cqp = chroma_qp(qp, cqp_offset)
        lam = lam_factor * 2.0 ** ((qp - 12) / 3.0) * lam_mult[addr]
        lam_sad = np.sqrt(lam)
        dzr = dzr0 * lam_mult[addr] if dzr0 >= 0 else dzr0
        dq = qp - prev_qp
        if dq > 25:
            dq -= 52
        elif dq < -26:
            dq += 52
        lev[:, :] = 0
        if need_means:
            mb_weight_means(mY, mCb, mCr, y0, x0, cy0, cx0, wm_y, wm_c)
            if dzr >= 0:
                for k in range(17):
                    dz_y[k] = deadzone_of_mean(wm_y[k], dzr)
                for k in range(5):
                    dz_c[0, k] = deadzone_of_mean(wm_c[0, k], dzr)
                    dz_c[1, k] = deadzone_of_mean(wm_c[1, k], dzr)
        mb_start = ws[0]
        in_buf = IN_BUF_NONE  # which candidate the slice's writer holds after mb_start

        # ---- chroma (shared by both luma candidates)
        if force_c >= 0:
            cmode = force_c if chroma_mode_allowed(force_c, left, top, topleft) else 0
        elif effort == EFFORT_FULL:
            cmode = 0
            best_cj = np.inf
            for m in range(4):
                if not chroma_mode_allowed(m, left, top, topleft):
                    continue
                dn0, an0 = code_chroma(srcCb, Cb, wCb, qCb, 0, cy0, cx0, m, left, top, topleft, cqp, lam, 0, dz_c[0],
                                       nz_c, mbx, mby, lev, pred64, pred, res, coefs, dcc, dcv, tmp, up, save, cbuf,
                                       cws)
                d_cb = weighted_sse(srcCb, Cb, wCb, qCb, cy0, cx0, 8, 8)
                if d_cb + lam * bs.ue_bits(m) >= best_cj:
                    continue  # Cb and the mode's bits alone cost as much as the best mode so far
                dn1, an1 = code_chroma(srcCr, Cr, wCr, qCr, 1, cy0, cx0, m, left, top, topleft, cqp, lam, 0, dz_c[1],
                                       nz_c, mbx, mby, lev, pred64, pred, res, coefs, dcc, dcv, tmp, up, save, cbuf,
                                       cws)
                cc = 2 if an0 + an1 > 0 else (1 if dn0 + dn1 > 0 else 0)
                # exact chroma bits: intra_chroma_pred_mode + the chroma residual with its cbp
                cws[0] = 0
                write_chroma_residual(cbuf, cws, lev, cc << 4, mbx, mby, left, top, nz_c)
                jc = d_cb + weighted_sse(srcCr, Cr, wCr, qCr, cy0, cx0, 8, 8) + lam * (cws[0] + bs.ue_bits(m))
                if jc < best_cj:
                    best_cj = jc
                    cmode = m
        else:
            cmode = 0
            best_s = np.inf
            sc_b = np.sqrt(wm_c[0, 4])
            sc_r = np.sqrt(wm_c[1, 4])
            source_hadamards(srcCb, cy0, cx0, 8, res, hs_c[0], habs_c[0])
            source_hadamards(srcCr, cy0, cx0, 8, res, hs_c[1], habs_c[1])
            for m in range(4):
                if not chroma_mode_allowed(m, left, top, topleft):
                    continue
                kind = CHROMA_FLAT[m]
                pred_chroma(Cb, cy0, cx0, m, left, top, topleft, pred64)
                if kind >= 0:
                    s = sc_b * satd_flat_pred(hs_c[0], habs_c[0], pred64, 8, kind)
                else:
                    s = sc_b * satd_region(srcCb, cy0, cx0, pred64, 8, res)
                pred_chroma(Cr, cy0, cx0, m, left, top, topleft, pred64)
                if kind >= 0:
                    s += sc_r * satd_flat_pred(hs_c[1], habs_c[1], pred64, 8, kind)
                else:
                    s += sc_r * satd_region(srcCr, cy0, cx0, pred64, 8, res)
                s += lam_sad * bs.ue_bits(m)
                if s < best_s:
                    best_s = s
                    cmode = m
        dcn0, acn0 = code_chroma(srcCb, Cb, wCb, qCb, 0, cy0, cx0, cmode, left, top, topleft, cqp, lam, rdoq, dz_c[0],
                                 nz_c, mbx, mby, lev, pred64, pred, res, coefs, dcc, dcv, tmp, up, save, cbuf, cws)
        dcn1, acn1 = code_chroma(srcCr, Cr, wCr, qCr, 1, cy0, cx0, cmode, left, top, topleft, cqp, lam, rdoq, dz_c[1],
                                 nz_c, mbx, mby, lev, pred64, pred, res, coefs, dcc, dcv, tmp, up, save, cbuf, cws)
        cbp_c = 2 if acn0 + acn1 > 0 else (1 if dcn0 + dcn1 > 0 else 0)
        dist_c = (weighted_sse(srcCb, Cb, wCb, qCb, cy0, cx0, 8, 8) + weighted_sse(srcCr, Cr, wCr, qCr, cy0, cx0, 8, 8))

        try16 = force_kind == -1 or force_kind == MB_I16x16
        try4 = force_kind == -1 or force_kind == MB_I4x4
        best_kind = -1
        best_j = np.inf
        best_bits = 0
        best_dist = 0.0
        i16mode = 0
        cbp16 = 0
        cbp4 = 0

        # ---- Intra_16x16 mode ranking (SATD), before Intra_4x4 so fast effort can stop early
        n16 = 0
        sat16 = np.inf
        have_hs = False  # hs16 / habs16 hold the source's 4x4 Hadamards (raster blocks) of this macroblock
        if try16:
            if force_i16 >= 0:
                i16mode = force_i16 if i16x16_mode_allowed(force_i16, left, top, topleft) else 2
            else:
                sc = np.sqrt(wm_y[16])
                if effort != EFFORT_FULL:
                    source_hadamards(srcY, y0, x0, 16, res, hs16, habs16)
                    have_hs = True
                for m in range(4):
                    i16cost[m] = np.inf
                    if i16x16_mode_allowed(m, left, top, topleft):
                        n16 += 1
                        if effort != EFFORT_FULL:
                            pred16x16(Y, y0, x0, m, left, top, topleft, pred256)
                            if I16_FLAT[m] >= 0:
                                st = satd_flat_pred(hs16, habs16, pred256, 16, I16_FLAT[m])
                            else:
                                st = satd_region(srcY, y0, x0, pred256, 16, res)
                            i16cost[m] = _finite(sc * st)
                        else:
                            i16cost[m] = 0.0
                _sort_small(i16cost, i16order, 4)
                i16mode = i16order[0]
                if effort == EFFORT_FAST:
                    sat16 = i16cost[i16mode] + lam_sad * I16_MODE_BITS_ESTIMATE

        # ---- Intra_4x4, block by block in decoding order
        if try4:
            cbp_l = 0
            sat4 = 0.0
            aborted = False
            if not have_hs and effort != EFFORT_FULL and force_i4 < 0:
                source_hadamards(srcY, y0, x0, 16, res, hs16, habs16)
            for blk in range(16):
                bx = BLK_X[blk]
                by = BLK_Y[blk]
                gx = 4 * mbx + bx
                gy = 4 * mby + by
                a, b, c, d = block_neighbours(bx, by, blk, left, top, topright, topleft)
                pm = predicted_intra4x4_mode(ipred, gy, gx, a, b)
                by0 = y0 + 4 * by
                bx0 = x0 + 4 * bx
                kb = 4 * by + bx  # raster index: the block's source Hadamard, mean weight, dead zone
                nc = total_coeff_context(nz_y, gy, gx, a, b)
                edges4x4_into(Y, by0, bx0, a, b, c, d, edges)  # every candidate predicts from these
                searched = False  # candidates coded and compared by exact J (medium, full)
                if force_i4 >= 0:
                    m_best = force_i4 if i4x4_mode_allowed(force_i4, a, b, d) else 2
                else:
                    n = 0
                    for m in range(9):
                        if i4x4_mode_allowed(m, a, b, d):
                            order[n] = m  # the allowed modes in increasing order
                            n += 1
                    # with all neighbours equal, every allowed mode predicts the same block and only the
                    # mode bits differ: the predicted mode wins (the first allowed one when lambda is 0)
                    flat = n > 1 and _flat_edges(edges, a, b, d)
                    if flat and lam > 0 and i4x4_mode_allowed(pm, a, b, d):
                        order[0] = pm
                    if effort != EFFORT_FULL:  # rank by weighted SATD + lambda_sad * mode bits
                        sc = np.sqrt(wm_y[kb])
                        for ci in range(1 if flat else n):
                            m = order[ci]
                            pred4x4_edges(edges, m, a, b, pred)
                            if I4_FLAT[m] >= 0:
                                st = satd_flat_block(hs16[kb], habs16[kb], pred, 0, 4, I4_FLAT[m])
                            else:
                                for y in range(4):
                                    for x in range(4):
                                        res[4 * y + x] = np.int32(srcY[by0 + y, bx0 + x]) - pred[4 * y + x]
                                st = satd4x4(res)
                            costs[ci] = _finite(sc * st + lam_sad * (1 if m == pm else 4))
                        if effort == EFFORT_FAST or flat:  # the least cost, the first of equals
                            k = 0
                            for ci in range(1, 1 if flat else n):
                                if costs[ci] < costs[k]:
                                    k = ci
                            m_best = order[k]
                            order[0] = m_best
                            costs[0] = costs[k]
                        else:
                            _sort_small(costs, rank, n)
                            for ci in range(n):
                                ranked[ci] = order[rank[ci]]
                            order[:n] = ranked[:n]
                    m_best = order[0]
                    if effort == EFFORT_FAST:
                        sat4 += costs[0]
                        if force_kind == -1 and sat4 > FAST_I4_ABORT * sat16:
                            aborted = True  # x264-style early termination: Intra_16x16 is clearly better
                            break
                    if effort != EFFORT_FAST and n > 1:
                        ncand = 1 if flat else (n if effort == EFFORT_FULL else min(n, MEDIUM_I4_CANDIDATES))
                        best_s = np.inf
                        m_rec = -1  # the candidate whose reconstruction the picture holds
                        for ci in range(ncand):
                            m = order[ci]
                            pred4x4_edges(edges, m, a, b, pred)
                            residual_quant4x4(srcY, by0, bx0, pred, qp, dz_y[kb], lev[blk], res, coef)
                            cws[0] = 0
                            write_residual_block(cbuf, cws, lev[blk], 16, nc)
                            r = cws[0] + (1 if m == pm else 4)
                            if lam * r >= best_s:
                                continue  # its bits alone cost as much as the best so far (D >= 0)
                            recon4x4(Y, by0, bx0, pred, lev[blk], qp, 0, 0, tmp)
                            m_rec = m
                            dm = weighted_sse(srcY, Y, wY, qY, by0, bx0, 4, 4)
                            s = dm + lam * r
                            if s < best_s:
                                best_s = s
                                m_best = m
                                best_d = dm
                                best_r = cws[0]
                                pred_b[:] = pred
                                coef_b[:] = coef
                                lev_b[:] = lev[blk]
                        searched = best_s < np.inf  # a winner was kept (costs are finite for checked weights)
                if searched:  # the winner is coded already: restore it, then RDOQ from its known cost
                    pred[:] = pred_b
                    coef[:] = coef_b
                    lev[blk, :] = lev_b
                    if m_best != m_rec:  # the picture holds another candidate's reconstruction
                        recon4x4(Y, by0, bx0, pred, lev[blk], qp, 0, 0, tmp)
                    if rdoq:
                        rdoq_block(srcY, Y, wY, qY, by0, bx0, pred, coef, qp, 0, 0, nc, lam, lev[blk], up, save, tmp,
                                   cbuf, cws, rdoq, best_d + lam * best_r, best_r)
                    tc = _count_nonzero(lev[blk], 0, 16)
                else:
                    tc = code_i4x4_block(srcY, Y, wY, qY, by0, bx0, edges, m_best, a, b, qp, lam, nc, rdoq, dz_y[kb],
                                         lev[blk], pred, res, coef, tmp, up, save, cbuf, cws)
                i4modes[blk] = m_best
                ipred[gy, gx] = m_best
                nz_y[gy, gx] = tc
                if tc > 0:
                    cbp_l |= 1 << (blk >> 2)
            if not aborted:
                cbp4 = cbp_l | (cbp_c << 4)
                if try16 and effort == EFFORT_FAST and force_kind == -1 and sat4 < FAST_I16_SKIP * sat16:
                    try16 = False  # Intra_4x4 is clearly better: do not code Intra_16x16 at all
                if try16 and not (effort == EFFORT_FAST and sat4 <= sat16):
                    cws[0] = 0
                    bits = write_macroblock(cbuf, cws, mbx, mby, left, top, MB_I4x4, 0, cmode, i4modes, cbp4, dq,
                                            lev, pcm, nz_y, nz_c, ipred)
                else:  # the last candidate, or at fast the likely winner: written in place
                    bits = write_macroblock(buf, ws, mbx, mby, left, top, MB_I4x4, 0, cmode, i4modes, cbp4, dq,
                                            lev, pcm, nz_y, nz_c, ipred)
                    in_buf = IN_BUF_I4
                d4 = weighted_sse(srcY, Y, wY, qY, y0, x0, 16, 16) + dist_c
                best_kind = MB_I4x4
                best_j = d4 + lam * bits
                best_bits = bits
                best_dist = d4
                if try16:
                    for y in range(16):
                        for x in range(16):
                            rec16[y, x] = Y[y0 + y, x0 + x]
                    for r in range(16):
                        for k in range(16):
                            lev16[r, k] = lev[r, k]
                    nz16[:, :] = nz_y[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4]
                    ipred16[:, :] = ipred[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4]
            else:
                for r in range(16):
                    for k in range(16):
                        lev[r, k] = 0


        # ---- Intra_16x16 coding and the exact comparison with Intra_4x4
        if try16:
            kept16 = False  # the chosen mode's transform and levels are in lev, coefs, pred256, dc already
            if force_i16 < 0 and effort != EFFORT_FAST and n16 > 1:
                ncand = n16 if effort == EFFORT_FULL else min(n16, MEDIUM_I16_CANDIDATES)
                best_m_j = np.inf
                for ci in range(ncand):
                    m = i16order[ci]
                    transform_i16x16(srcY, Y, y0, x0, m, left, top, topleft, qp, dz_y, lev, pred256, res,
                                     coefs, dcs, dc)
                    # compared on the bits that differ between the modes (mb_type and the luma residual;
                    # the chroma mode, mb_qp_delta and chroma residual are the same for all)
                    # a mode stops as soon as it cannot beat the best one so far
                    jm, cl = cost_i16x16(srcY, Y, wY, qY, y0, x0, m, cbp_c, qp, lam, left, top, nz_y, mbx, mby, lev,
                                         pred256, pred, dc, tmp, cbuf, cws, best_m_j)
                    if jm < best_m_j:
                        best_m_j = jm
                        i16mode = m
                        kept16 = True
                        if ci < ncand - 1:  # a later candidate overwrites the working arrays
                            lev_k16[:, :] = lev[:ROW_DC + 1]
                            coefs_k16[:, :] = coefs
                            pred256_k16[:] = pred256
                            dc_k16[:] = dc
                if kept16 and i16mode != i16order[ncand - 1]:
                    lev[:ROW_DC + 1] = lev_k16
                    coefs[:, :] = coefs_k16
                    pred256[:] = pred256_k16
                    dc[:] = dc_k16
            if not kept16:
                transform_i16x16(srcY, Y, y0, x0, i16mode, left, top, topleft, qp, dz_y, lev, pred256, res,
                                 coefs, dcs, dc)
            j_stop = np.inf
            if rdoq and best_kind == MB_I4x4:
                # Intra_16x16 replaces Intra_4x4 only below best_j. With AC levels its J is at least that of the
                # macroblock without them (cbp luma 0: the same header but a shorter mb_type, the same DC and
                # chroma) plus the exact J of each AC block as RDOQ finishes it. If the macroblock without AC
                # levels is itself no cheaper than Intra_4x4, coding stops once that bound reaches best_j.
                cws[0] = 0
                bits0 = write_macroblock(cbuf, cws, mbx, mby, left, top, MB_I16x16, i16mode, cmode, i4modes,
                                         cbp_c << 4, dq, lev, pcm, nz_y, nz_c, ipred)
                j_limit = best_j * I16_STOP_MARGIN
                if dc_only_sse(srcY, wY, qY, y0, x0, pred256, dc) + dist_c + lam * bits0 >= j_limit:
                    j_stop = j_limit - (dist_c + lam * bits0)
            cl = -1
            if j_stop > 0:
                cl = recon_i16x16(srcY, Y, wY, qY, y0, x0, qp, lam, rdoq, left, top, nz_y, mbx, mby, lev, pred256, pred,
                                  coefs, dc, tmp, up, save, cbuf, cws, j_stop)
            j16 = np.inf  # stopped: Intra_16x16 costs at least best_j
            if cl >= 0:
                cbp16 = cl | (cbp_c << 4)
                if effort == EFFORT_FAST and in_buf == IN_BUF_NONE:  # SATD put it near Intra_4x4 or below
                    bits = write_macroblock(buf, ws, mbx, mby, left, top, MB_I16x16, i16mode, cmode, i4modes, cbp16,
                                            dq, lev, pcm, nz_y, nz_c, ipred)
                    in_buf = IN_BUF_I16
                else:  # medium, full: Intra_4x4 wins about 70% of macroblocks, so writing here cost more (A/B)
                    cws[0] = 0
                    bits = write_macroblock(cbuf, cws, mbx, mby, left, top, MB_I16x16, i16mode, cmode, i4modes, cbp16,
                                            dq, lev, pcm, nz_y, nz_c, ipred)
                d16 = weighted_sse(srcY, Y, wY, qY, y0, x0, 16, 16) + dist_c
                j16 = d16 + lam * bits
                if cl and _few_unit_levels(lev, 16, I16_DROP_MAX_AC):
                    # the same macroblock with every luma AC level dropped (coded_block_pattern luma 0): the
                    # blocks are weighed one by one elsewhere, but cbp 0 saves all sixteen AC coeff_tokens at once
                    rec_ac[:, :] = Y[y0:y0 + 16, x0:x0 + 16]
                    lev_ac[:, :] = lev[:16]
                    nz_ac[:, :] = nz_y[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4]
                    lev[:16, 1:] = 0
                    recon_i16x16_blocks(Y, y0, x0, pred256, lev, qp, dc, pred, tmp)
                    cws[0] = 0
                    bits0 = write_macroblock(cbuf, cws, mbx, mby, left, top, MB_I16x16, i16mode, cmode, i4modes,
                                             cbp_c << 4, dq, lev, pcm, nz_y, nz_c, ipred)
                    d0 = weighted_sse(srcY, Y, wY, qY, y0, x0, 16, 16) + dist_c
                    if d0 + lam * bits0 < j16:
                        j16 = d0 + lam * bits0
                        d16 = d0
                        bits = bits0
                        cbp16 = cbp_c << 4
                        if in_buf == IN_BUF_I16:
                            in_buf = IN_BUF_NONE  # the writer holds the macroblock with its AC levels
                    else:
                        Y[y0:y0 + 16, x0:x0 + 16] = rec_ac
                        lev[:16] = lev_ac
                        nz_y[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4] = nz_ac  # as the writer left them
            if best_kind == -1 or j16 < best_j:
                best_kind = MB_I16x16
                best_j = j16
                best_bits = bits
                best_dist = d16
            else:  # Intra_4x4 stays: put its reconstruction, levels and neighbour contexts back
                for y in range(16):
                    for x in range(16):
                        Y[y0 + y, x0 + x] = rec16[y, x]
                for r in range(16):
                    for k in range(16):
                        lev[r, k] = lev16[r, k]
                nz_y[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4] = nz16
                ipred[4 * mby:4 * mby + 4, 4 * mbx:4 * mbx + 4] = ipred16

        # ---- I_PCM: lossless, 384 bytes; chosen when forced, when cheaper, or when the MB is too big
        pcm_bits = bs.ue_bits(25) + 384 * 8 + 7
        if force_kind == MB_PCM or best_bits > MAX_MB_BITS or (force_kind == -1 and lam * pcm_bits < best_j):
            best_kind = MB_PCM
            best_dist = 0.0
            for i in range(256):
                v = srcY[y0 + (i >> 4), x0 + (i & 15)]
                pcm[i] = v
                Y[y0 + (i >> 4), x0 + (i & 15)] = v
            for i in range(64):
                v = srcCb[cy0 + (i >> 3), cx0 + (i & 7)]
                pcm[256 + i] = v
                Cb[cy0 + (i >> 3), cx0 + (i & 7)] = v
                v = srcCr[cy0 + (i >> 3), cx0 + (i & 7)]
                pcm[320 + i] = v
                Cr[cy0 + (i >> 3), cx0 + (i & 7)] = v

        # ---- write it (unless the winner is the candidate last written, speculatively, in its place)
        cbp = cbp16 if best_kind == MB_I16x16 else (cbp4 if best_kind == MB_I4x4 else 0)
        codes_qp = best_kind == MB_I16x16 or (best_kind == MB_I4x4 and cbp != 0)
        coded_qp = qp if codes_qp else prev_qp
        chosen = IN_BUF_I4 if best_kind == MB_I4x4 else (IN_BUF_I16 if best_kind == MB_I16x16 else IN_BUF_NONE)
        if chosen == IN_BUF_NONE or chosen != in_buf:
            bs.rewind(buf, ws, mb_start)
            write_macroblock(buf, ws, mbx, mby, left, top, best_kind, i16mode, cmode, i4modes, cbp,
                             dq if codes_qp else 0, lev, pcm, nz_y, nz_c, ipred)
        written = ws[0] - mb_start
        mb_kind[addr] = best_kind
        mb_qp[addr] = coded_qp
        prev_qp = coded_qp
        mb_bits[addr] = written
        mb_dist[addr] = best_dist
        mb_i16mode[addr] = i16mode if best_kind == MB_I16x16 else -1
        mb_cmode[addr] = cmode if best_kind != MB_PCM else -1
        for blk in range(16):
            mb_i4modes[addr, blk] = i4modes[blk] if best_kind == MB_I4x4 else -1
    keep_alive(owners)
