"""Macroblock layer syntax for I slices (H.264 clause 7.3.5), written and parsed by the same tables.

* mb_type (Table 7-11): 0 = I_NxN (Intra_4x4), 1..24 = I_16x16_<mode>_<cbp chroma>_<cbp luma>, 25 = I_PCM
* prev_intra4x4_pred_mode_flag / rem_intra4x4_pred_mode with the predicted mode of 8.3.1.1
* intra_chroma_pred_mode, coded_block_pattern me(v) (Table 9-4), mb_qp_delta
* residual() in CAVLC (7.3.5.3) with the nC context of 9.2.1

Picture-wide context arrays shared by encoder and decoder (see :class:`minicodec.picture.Picture`):
    mb_slice[addr]     slice number of each decoded macroblock, -1 before it is decoded
    nz_y[gy, gx]       TotalCoeff of each luma 4x4 block (AC count for Intra_16x16; 16 for I_PCM)
    nz_c[c, gy, gx]    TotalCoeff of each chroma AC 4x4 block (16 for I_PCM)
    ipred[gy, gx]      Intra4x4PredMode of each luma 4x4 block, 2 (DC) in non-I_NxN macroblocks

One macroblock's syntax elements travel in plain arrays:
    lev[27, 16]        levels in coding order: rows 0..15 luma 4x4 blocks by luma4x4BlkIdx (Intra_16x16 AC
                       in columns 1..15), row 16 Intra16x16DCLevel, rows 17/18 Cb/Cr DC (4 levels),
                       rows 19..22 Cb AC and 23..26 Cr AC blocks (columns 1..15)
    i4modes[16]        Intra4x4PredMode by luma4x4BlkIdx
    pcm[384]           I_PCM samples: 256 luma, 64 Cb, 64 Cr, raster order
"""
import numpy as np
from numba import njit

from . import bitstream as bs
from .cavlc import read_residual_block, write_residual_block
from .errors import BitstreamError

MB_I4x4 = 0
MB_I16x16 = 1
MB_PCM = 2
MB_KIND_NAMES = ("I4x4", "I16x16", "I_PCM")

ROW_DC = 16
ROW_CDC = 17
ROW_CAC = 19

#: luma4x4BlkIdx -> position in 4x4-block units inside the macroblock (6.4.3).
BLK_X = np.array([0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3], np.int32)
BLK_Y = np.array([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3], np.int32)
#: raster position 4*by + bx -> luma4x4BlkIdx
BLK_OF_POS = np.zeros(16, np.int32)
BLK_OF_POS[4 * BLK_Y + BLK_X] = np.arange(16, dtype=np.int32)

#: Table 9-4 (Intra_4x4 column, 4:2:0): codeNum -> coded_block_pattern, and its inverse.
CODE_TO_CBP = np.array([47, 31, 15, 0, 23, 27, 29, 30, 7, 11, 13, 14, 39, 43, 45, 46,
                        16, 3, 5, 10, 12, 19, 21, 26, 28, 35, 37, 42, 44, 1, 2, 4,
                        8, 17, 18, 20, 24, 6, 9, 22, 25, 32, 33, 34, 36, 40, 38, 41], np.int32)
CBP_TO_CODE = np.zeros(48, np.int32)
CBP_TO_CODE[CODE_TO_CBP] = np.arange(48, dtype=np.int32)


@njit(cache=True)
def mb_neighbours(mb_slice, mb_w, mbx, mby, cur_slice):
    """Availability of macroblocks A (left), B (top), C (top-right), D (top-left) (6.4.5):
    inside the picture and in the current slice (hence already decoded)."""
    addr = mby * mb_w + mbx
    left = mbx > 0 and mb_slice[addr - 1] == cur_slice
    top = mby > 0 and mb_slice[addr - mb_w] == cur_slice
    topright = mby > 0 and mbx < mb_w - 1 and mb_slice[addr - mb_w + 1] == cur_slice
    topleft = mby > 0 and mbx > 0 and mb_slice[addr - mb_w - 1] == cur_slice
    return left, top, topright, topleft


@njit(cache=True, inline="always")
def block_neighbours(bx, by, blk, left, top, topright, topleft):
    """Availability of the left / top / top-right / top-left samples of luma 4x4 block ``blk`` at
    (bx, by) inside a macroblock whose neighbours are as given (6.4.11.4; top-right inside the
    macroblock is available only if that block precedes ``blk`` in decoding order)."""
    a = bx > 0 or left
    b = by > 0 or top
    if by == 0:
        c = top if bx < 3 else topright
    elif bx < 3:
        c = BLK_OF_POS[4 * (by - 1) + bx + 1] < blk
    else:
        c = False
    if bx > 0 and by > 0:
        d = True
    elif bx > 0:
        d = top
    elif by > 0:
        d = left
    else:
        d = topleft
    return a, b, c, d


@njit(cache=True, inline="always")
def total_coeff_context(nz, gy, gx, avail_a, avail_b):
    """nC from the TotalCoeff of the left (A) and upper (B) blocks (9.2.1)."""
    if avail_a and avail_b:
        return (np.int32(nz[gy, gx - 1]) + np.int32(nz[gy - 1, gx]) + 1) >> 1
    if avail_a:
        return np.int32(nz[gy, gx - 1])
    if avail_b:
        return np.int32(nz[gy - 1, gx])
    return 0


@njit(cache=True, inline="always")
def predicted_intra4x4_mode(ipred, gy, gx, avail_a, avail_b):
    """predIntra4x4PredMode (8.3.1.1): DC if A or B is unavailable, else the smaller of their modes."""
    if not (avail_a and avail_b):
        return 2
    ma = ipred[gy, gx - 1]
    mb = ipred[gy - 1, gx]
    return ma if ma < mb else mb


@njit(cache=True)
def _mark_pcm(nz_y, nz_c, ipred, mbx, mby):
    """An I_PCM macroblock counts as TotalCoeff 16 for nC (9.2.1) and as DC for mode prediction (8.3.1.1)."""
    for y in range(4):
        for x in range(4):
            nz_y[4 * mby + y, 4 * mbx + x] = 16
            ipred[4 * mby + y, 4 * mbx + x] = 2
    for c in range(2):
        for y in range(2):
            for x in range(2):
                nz_c[c, 2 * mby + y, 2 * mbx + x] = 16


@njit(cache=True)
def i16x16_mb_type(i16mode, cbp):
    """mb_type of an I_16x16 macroblock (Table 7-11)."""
    return 1 + i16mode + 4 * (cbp >> 4) + (12 if (cbp & 15) != 0 else 0)


@njit(cache=True, inline="always")
def write_intra4x4_mode(buf, ws, mode, predicted):
    """prev_intra4x4_pred_mode_flag and rem_intra4x4_pred_mode (7.3.5.1, 8.3.1.1)."""
    if mode == predicted:
        bs.put_bits(buf, ws, 1, 1)
    else:
        bs.put_bits(buf, ws, mode if mode < predicted else mode - 1, 4)


@njit(cache=True, inline="always")
def write_luma_residual_block(buf, ws, lev, blk, kind, nz_y, gx, gy, avail_a, avail_b):
    """One luma 4x4 block's residual_block(): 16 levels, or 15 AC levels for Intra_16x16."""
    nc = total_coeff_context(nz_y, gy, gx, avail_a, avail_b)
    if kind == MB_I16x16:
        tc = write_residual_block(buf, ws, lev[blk, 1:], 15, nc)
    else:
        tc = write_residual_block(buf, ws, lev[blk], 16, nc)
    nz_y[gy, gx] = tc
    return tc


@njit(cache=True, inline="always")
def _write_luma_blocks(buf, ws, lev, kind, cbp, gx0, gy0, left, top, nz_y):
    for blk in range(16):
        gx = gx0 + BLK_X[blk]
        gy = gy0 + BLK_Y[blk]
        if cbp & (1 << (blk >> 2)):
            write_luma_residual_block(buf, ws, lev, blk, kind, nz_y, gx, gy,
                                      BLK_X[blk] > 0 or left, BLK_Y[blk] > 0 or top)
        else:
            nz_y[gy, gx] = 0


@njit(cache=True)
def write_luma_residual(buf, ws, lev, kind, cbp, mbx, mby, left, top, nz_y):
    """Luma part of residual() (7.3.5.3): the Intra16x16DCLevel block for Intra_16x16, then the 4x4 blocks
    of the 8x8 quadrants that coded_block_pattern marks. Updates nz_y for the macroblock. (One loop per
    macroblock kind, so that each writes its blocks with a constant number of coefficients.)"""
    gx0 = 4 * mbx
    gy0 = 4 * mby
    if kind == MB_I16x16:
        nc = total_coeff_context(nz_y, gy0, gx0, left, top)
        write_residual_block(buf, ws, lev[ROW_DC], 16, nc)
        _write_luma_blocks(buf, ws, lev, MB_I16x16, cbp, gx0, gy0, left, top, nz_y)
    else:
        _write_luma_blocks(buf, ws, lev, MB_I4x4, cbp, gx0, gy0, left, top, nz_y)


@njit(cache=True)
def write_chroma_residual(buf, ws, lev, cbp, mbx, mby, left, top, nz_c):
    """Chroma part of residual() (7.3.5.3): both DC blocks, then the AC blocks when cbp chroma is 2."""
    cc = cbp >> 4
    if cc != 0:
        for c in range(2):
            write_residual_block(buf, ws, lev[ROW_CDC + c], 4, -1)
    for c in range(2):
        for b in range(4):
            bx = b & 1
            by = b >> 1
            gx = 2 * mbx + bx
            gy = 2 * mby + by
            if cc == 2:
                nc = total_coeff_context(nz_c[c], gy, gx, bx > 0 or left, by > 0 or top)
                nz_c[c, gy, gx] = write_residual_block(buf, ws, lev[ROW_CAC + 4 * c + b, 1:], 15, nc)
            else:
                nz_c[c, gy, gx] = 0


@njit(cache=True)
def write_macroblock(buf, ws, mbx, mby, left, top, kind, i16mode, cmode, i4modes, cbp, qp_delta,
                     lev, pcm, nz_y, nz_c, ipred):
    """macroblock_layer() for an I slice (7.3.5). Updates nz_y / nz_c / ipred for this macroblock.

    Works with either back-end of the bit writer: in counting mode it returns the exact number of bits
    that writing would produce, which is what the encoder's RD decisions use.
    """
    start = ws[0]
    gx0 = 4 * mbx
    gy0 = 4 * mby
    if kind == MB_PCM:
        bs.put_ue(buf, ws, 25)
        bs.put_bits(buf, ws, 0, (8 - (ws[0] & 7)) & 7)  # pcm_alignment_zero_bit
        for i in range(384):
            bs.put_bits(buf, ws, pcm[i], 8)
        _mark_pcm(nz_y, nz_c, ipred, mbx, mby)
        return ws[0] - start
    if kind == MB_I4x4:
        bs.put_ue(buf, ws, 0)
        for blk in range(16):
            gx = gx0 + BLK_X[blk]
            gy = gy0 + BLK_Y[blk]
            pm = predicted_intra4x4_mode(ipred, gy, gx, BLK_X[blk] > 0 or left, BLK_Y[blk] > 0 or top)
            write_intra4x4_mode(buf, ws, i4modes[blk], pm)
            ipred[gy, gx] = i4modes[blk]
    else:
        bs.put_ue(buf, ws, i16x16_mb_type(i16mode, cbp))
        for y in range(4):
            for x in range(4):
                ipred[gy0 + y, gx0 + x] = 2
    bs.put_ue(buf, ws, cmode)
    if kind == MB_I4x4:
        bs.put_ue(buf, ws, CBP_TO_CODE[cbp])
    if kind == MB_I16x16 or cbp != 0:
        bs.put_se(buf, ws, qp_delta)
    write_luma_residual(buf, ws, lev, kind, cbp, mbx, mby, left, top, nz_y)
    write_chroma_residual(buf, ws, lev, cbp, mbx, mby, left, top, nz_c)
    return ws[0] - start


@njit(cache=True)
def parse_macroblock(buf, rs, mbx, mby, left, top, lev, i4modes, pcm, nz_y, nz_c, ipred):
    """Parse macroblock_layer() of an I slice (7.3.5). Returns (kind, i16mode, cmode, cbp, qp_delta).

    Fills lev / i4modes / pcm and this macroblock's entries of nz_y / nz_c / ipred. Every value read
    from the stream is range-checked before it is used as an index (BitstreamError otherwise).
    """
    gx0 = 4 * mbx
    gy0 = 4 * mby
    mb_type = bs.get_ue(buf, rs)
    i16mode = 0
    cmode = 0
    cbp = 0
    qp_delta = 0
    if mb_type > 25:
        raise BitstreamError("mb_type out of range for an I slice")
    if mb_type == 25:
        bs.get_bits(buf, rs, (8 - (rs[0] & 7)) & 7)
        for i in range(384):
            pcm[i] = bs.get_bits(buf, rs, 8)
        _mark_pcm(nz_y, nz_c, ipred, mbx, mby)
        return MB_PCM, 0, 0, 0, 0
    lev[:, :] = 0
    if mb_type == 0:
        kind = MB_I4x4
        for blk in range(16):
            gx = gx0 + BLK_X[blk]
            gy = gy0 + BLK_Y[blk]
            pm = predicted_intra4x4_mode(ipred, gy, gx, BLK_X[blk] > 0 or left, BLK_Y[blk] > 0 or top)
            if bs.get_bits(buf, rs, 1):
                m = pm
            else:
                rem = bs.get_bits(buf, rs, 3)
                m = rem if rem < pm else rem + 1
            i4modes[blk] = m
            ipred[gy, gx] = m
    else:
        kind = MB_I16x16
        t = mb_type - 1
        i16mode = t % 4
        cbp = ((t // 4) % 3) << 4
        if t >= 12:
            cbp |= 15
        for y in range(4):
            for x in range(4):
                ipred[gy0 + y, gx0 + x] = 2
    cmode = bs.get_ue(buf, rs)
    if cmode > 3:
        raise BitstreamError("intra_chroma_pred_mode out of range")
    if kind == MB_I4x4:
        code = bs.get_ue(buf, rs)
        if code > 47:
            raise BitstreamError("coded_block_pattern out of range")
        cbp = CODE_TO_CBP[code]
    if kind == MB_I16x16 or cbp != 0:
        qp_delta = bs.get_se(buf, rs)
        if qp_delta < -26 or qp_delta > 25:
            raise BitstreamError("mb_qp_delta out of range")
    if kind == MB_I16x16:
        nc = total_coeff_context(nz_y, gy0, gx0, left, top)
        read_residual_block(buf, rs, lev[ROW_DC], 16, nc)
    for blk in range(16):
        gx = gx0 + BLK_X[blk]
        gy = gy0 + BLK_Y[blk]
        if cbp & (1 << (blk >> 2)):
            nc = total_coeff_context(nz_y, gy, gx, BLK_X[blk] > 0 or left, BLK_Y[blk] > 0 or top)
            if kind == MB_I16x16:
                nz_y[gy, gx] = read_residual_block(buf, rs, lev[blk, 1:], 15, nc)
            else:
                nz_y[gy, gx] = read_residual_block(buf, rs, lev[blk], 16, nc)
        else:
            nz_y[gy, gx] = 0
    cc = cbp >> 4
    if cc != 0:
        for c in range(2):
            read_residual_block(buf, rs, lev[ROW_CDC + c], 4, -1)
    for c in range(2):
        for b in range(4):
            bx = b & 1
            by = b >> 1
            gx = 2 * mbx + bx
            gy = 2 * mby + by
            if cc == 2:
                nc = total_coeff_context(nz_c[c], gy, gx, bx > 0 or left, by > 0 or top)
                nz_c[c, gy, gx] = read_residual_block(buf, rs, lev[ROW_CAC + 4 * c + b, 1:], 15, nc)
            else:
                nz_c[c, gy, gx] = 0
    return kind, i16mode, cmode, cbp, qp_delta
