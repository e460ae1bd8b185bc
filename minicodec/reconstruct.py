"""Macroblock reconstruction: intra prediction plus scaled, inverse-transformed residual (8.3, 8.5).

Shared by the decoder (whole macroblocks) and the encoder (block by block, in decision order). The
encoder only ever writes what this module reconstructs, so its picture is the decoder's picture.
"""
import numpy as np
from numba import njit

from .intra_pred import pred4x4, pred16x16, pred_chroma
from .macroblock import BLK_X, BLK_Y, MB_I4x4, MB_PCM, ROW_CAC, ROW_CDC, ROW_DC
from .macroblock import block_neighbours
from .transform import dequant4x4, inverse4x4_add, inverse_chroma_dc, inverse_luma_dc


@njit(cache=True)
def sub_block(pred, n, y0, x0, out):
    """Copy the 4x4 block at sample (y0, x0) of an n x n prediction (flat) into out[16]."""
    for y in range(4):
        for x in range(4):
            out[4 * y + x] = pred[n * (y0 + y) + x0 + x]


@njit(cache=True, inline="always")
def recon4x4(plane, y0, x0, pred, lev_row, qp, first, dc, d):
    """Reconstruct one 4x4 block: prediction ``pred[16]`` + residual from scan-order ``lev_row``.

    ``first`` = 1 for blocks whose DC comes from a DC transform (value ``dc``), else 0."""
    d[:] = 0
    if first:
        d[0] = dc
    nz = dc != 0 if first else False
    for k in range(first, 16):
        if lev_row[k] != 0:
            nz = True
            break
    if not nz:
        for y in range(4):
            for x in range(4):
                plane[y0 + y, x0 + x] = pred[4 * y + x]
        return
    dequant4x4(lev_row, qp, first, d)
    inverse4x4_add(d, plane, y0, x0, pred)


@njit(cache=True)
def recon_i16x16_blocks(plane, y0, x0, pred256, lev, qp, dc, pred16, d):
    """The sixteen 4x4 blocks of an Intra_16x16 macroblock (8.5.2): the prediction ``pred256`` plus the AC
    levels ``lev[0:16]`` (scan order) and the inverse-transformed DC values ``dc`` (raster, 4x4)."""
    for blk in range(16):
        bx = BLK_X[blk]
        by = BLK_Y[blk]
        sub_block(pred256, 16, 4 * by, 4 * bx, pred16)
        recon4x4(plane, y0 + 4 * by, x0 + 4 * bx, pred16, lev[blk], qp, 1, dc[4 * by + bx], d)


@njit(cache=True)
def recon_chroma(plane, y0, x0, cmode, left, top, topleft, lev, c, cqp, pred64, pred16, dcc, d):
    """One chroma component of a macroblock: prediction, 2x2 DC, four AC blocks (8.3.4, 8.5.11)."""
    pred_chroma(plane, y0, x0, cmode, left, top, topleft, pred64)
    inverse_chroma_dc(lev[ROW_CDC + c], cqp, dcc)
    for b in range(4):
        bx = 4 * (b & 1)
        by = 4 * (b >> 1)
        sub_block(pred64, 8, by, bx, pred16)
        recon4x4(plane, y0 + by, x0 + bx, pred16, lev[ROW_CAC + 4 * c + b], cqp, 1, dcc[b], d)


@njit(cache=True)
def recon_macroblock(Y, Cb, Cr, mbx, mby, left, top, topright, topleft, kind, i16mode, cmode,
                     i4modes, qp, cqp, lev, pcm):
    """Reconstruct a whole parsed macroblock in place (the decoder's path)."""
    y0 = 16 * mby
    x0 = 16 * mbx
    if kind == MB_PCM:
        for i in range(256):
            Y[y0 + (i >> 4), x0 + (i & 15)] = pcm[i]
        for i in range(64):
            Cb[8 * mby + (i >> 3), 8 * mbx + (i & 7)] = pcm[256 + i]
            Cr[8 * mby + (i >> 3), 8 * mbx + (i & 7)] = pcm[320 + i]
        return
    pred16 = np.empty(16, np.int32)
    d = np.empty(16, np.int32)
    if kind == MB_I4x4:
        for blk in range(16):
            bx = BLK_X[blk]
            by = BLK_Y[blk]
            a, b, c, dd = block_neighbours(bx, by, blk, left, top, topright, topleft)
            pred4x4(Y, y0 + 4 * by, x0 + 4 * bx, i4modes[blk], a, b, c, dd, pred16)
            recon4x4(Y, y0 + 4 * by, x0 + 4 * bx, pred16, lev[blk], qp, 0, 0, d)
    else:
        pred256 = np.empty(256, np.int32)
        pred16x16(Y, y0, x0, i16mode, left, top, topleft, pred256)
        dc = np.empty(16, np.int32)
        inverse_luma_dc(lev[ROW_DC], qp, dc)
        recon_i16x16_blocks(Y, y0, x0, pred256, lev, qp, dc, pred16, d)
    pred64 = np.empty(64, np.int32)
    dcc = np.empty(4, np.int32)
    recon_chroma(Cb, 8 * mby, 8 * mbx, cmode, left, top, topleft, lev, 0, cqp, pred64, pred16, dcc, d)
    recon_chroma(Cr, 8 * mby, 8 * mbx, cmode, left, top, topleft, lev, 1, cqp, pred64, pred16, dcc, d)

