"""Tests of minicodec.deblock (H.264 clause 8.7, all-intra progressive frames).

The reference below is written directly from the standard, one set of eight samples at a time, with
its own copy of Tables 8-15/8-16/8-17 (transcribed in the JM reference decoder's layout, CLIP_TAB with
columns bS = 0..4), its own bS derivation (8.7.2.1: "p0 and q0 in different macroblocks" -> 4, else 3)
and its own qPp lookup from the macroblock containing p0.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from minicodec.deblock import (
    ALPHA_TABLE, BETA_TABLE, TC0_TABLE, QPC_TABLE, deblock_picture,
)

# --------------------------------------------------------------------------------------------------
# Independent reference
# --------------------------------------------------------------------------------------------------

# Table 8-16 (alpha', beta') and Table 8-17 (tC0' for bS = 0..4; the bS = 0 and 4 columns are unused).
REF_ALPHA = [0] * 16 + [4, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 17, 20, 22, 25, 28, 32, 36, 40, 45,
                        50, 56, 63, 71, 80, 90, 101, 113, 127, 144, 162, 182, 203, 226, 255, 255]
REF_BETA = [0] * 16 + [2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                       11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18]
REF_CLIP_TAB = [[0, 0, 0, 0, 0]] * 17 + [
    [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 1, 1, 1],
    [0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1],
    [0, 1, 1, 2, 2], [0, 1, 1, 2, 2], [0, 1, 1, 2, 2], [0, 1, 1, 2, 2], [0, 1, 2, 3, 3],
    [0, 1, 2, 3, 3], [0, 2, 2, 3, 3], [0, 2, 2, 4, 4], [0, 2, 3, 4, 4], [0, 2, 3, 4, 4],
    [0, 3, 3, 5, 5], [0, 3, 4, 6, 6], [0, 3, 4, 6, 6], [0, 4, 5, 7, 7], [0, 4, 5, 8, 8],
    [0, 4, 6, 9, 9], [0, 5, 7, 10, 10], [0, 6, 8, 11, 11], [0, 6, 8, 13, 13], [0, 7, 10, 14, 14],
    [0, 8, 11, 16, 16], [0, 9, 12, 18, 18], [0, 10, 13, 20, 20], [0, 11, 15, 23, 23],
    [0, 13, 17, 25, 25]]


def ref_qpc(qpy, offset):
    """Table 8-15 with qPI = Clip3(0, 51, QPY + chroma_qp_index_offset)."""
    qpi = min(51, max(0, qpy + offset))
    if qpi < 30:
        return qpi
    return [29, 30, 31, 32, 32, 33, 34, 34, 35, 35, 36, 36, 37, 37, 37, 38, 38, 38, 39, 39, 39, 39][qpi - 30]


def clip3(x, y, z):
    return x if z < x else (y if z > y else z)


def ref_filter_set(plane, pp, qq, chroma, bs, qpp, qpq, off_a, off_b, stats):
    """8.7.2.2 - 8.7.2.4 for one set of samples; pp[i] / qq[i] are the (row, col) of p_i / q_i."""
    p = [plane[r][c] for r, c in pp]
    q = [plane[r][c] for r, c in qq]
    qpav = (qpp + qpq + 1) >> 1                      # 8-461
    index_a = clip3(0, 51, qpav + off_a)             # 8-462
    index_b = clip3(0, 51, qpav + off_b)             # 8-463
    alpha = REF_ALPHA[index_a]
    beta = REF_BETA[index_b]
    # 8-468
    if not (bs != 0 and abs(p[0] - q[0]) < alpha and abs(p[1] - p[0]) < beta and abs(q[1] - q[0]) < beta):
        return
    chroma_style = chroma  # ChromaArrayType != 3
    ap = abs(p[2] - p[0])
    aq = abs(q[2] - q[0])
    pn, qn = list(p), list(q)
    if bs < 4:
        tc0 = REF_CLIP_TAB[index_a][bs]
        tc = tc0 + 1 if chroma_style else tc0 + (1 if ap < beta else 0) + (1 if aq < beta else 0)
        raw = (((q[0] - p[0]) << 2) + (p[1] - q[1]) + 4) >> 3
        delta = clip3(-tc, tc, raw)
        pn[0] = clip3(0, 255, p[0] + delta)
        qn[0] = clip3(0, 255, q[0] - delta)
        stats["bs3_chroma" if chroma else "bs3_luma"] += 1
        if raw != delta:
            stats["bs3_delta_clipped"] += 1
        if p[0] + delta != pn[0] or q[0] - delta != qn[0]:
            stats["bs3_clip1"] += 1
        if not chroma_style:
            if ap < beta:
                pn[1] = p[1] + clip3(-tc0, tc0, (p[2] + ((p[0] + q[0] + 1) >> 1) - (p[1] << 1)) >> 1)
                stats["bs3_p1"] += 1
            if aq < beta:
                qn[1] = q[1] + clip3(-tc0, tc0, (q[2] + ((p[0] + q[0] + 1) >> 1) - (q[1] << 1)) >> 1)
                stats["bs3_q1"] += 1
    else:
        small = abs(p[0] - q[0]) < ((alpha >> 2) + 2)
        if not chroma_style and ap < beta and small:
            pn[0] = (p[2] + 2 * p[1] + 2 * p[0] + 2 * q[0] + q[1] + 4) >> 3
            pn[1] = (p[2] + p[1] + p[0] + q[0] + 2) >> 2
            pn[2] = (2 * p[3] + 3 * p[2] + p[1] + p[0] + q[0] + 4) >> 3
            stats["bs4_strong"] += 1
        else:
            pn[0] = (2 * p[1] + p[0] + q[1] + 2) >> 2
            stats["bs4_chroma" if chroma else "bs4_weak"] += 1
        if not chroma_style and aq < beta and small:
            qn[0] = (p[1] + 2 * p[0] + 2 * q[0] + 2 * q[1] + q[2] + 4) >> 3
            qn[1] = (p[0] + q[0] + q[1] + q[2] + 2) >> 2
            qn[2] = (2 * q[3] + 3 * q[2] + q[1] + q[0] + p[0] + 4) >> 3
            stats["bs4_strong"] += 1
        else:
            qn[0] = (2 * q[1] + q[0] + p[1] + 2) >> 2
            stats["bs4_chroma" if chroma else "bs4_weak"] += 1
    for i in range(3):
        plane[pp[i][0]][pp[i][1]] = pn[i]
        plane[qq[i][0]][qq[i][1]] = qn[i]


def ref_deblock(Y, Cb, Cr, mbw, mbh, mb_qp, mb_slice, mb_idc, mb_off_a, mb_off_b, cqo, stats=None):
    """Clause 8.7 for a progressive all-intra 4:2:0 frame, returning filtered copies of the planes."""
    if stats is None:
        stats = _new_stats()
    planes = [Y.astype(int).tolist(), Cb.astype(int).tolist(), Cr.astype(int).tolist()]
    for addr in range(mbw * mbh):
        mbx, mby = addr % mbw, addr // mbw
        if mb_idc[addr] == 1:
            continue
        # 8.7: filterLeftMbEdgeFlag / filterTopMbEdgeFlag ("available" = exists and in the same slice)
        left_avail = mbx > 0 and mb_slice[addr - 1] == mb_slice[addr]
        top_avail = mby > 0 and mb_slice[addr - mbw] == mb_slice[addr]
        filter_left = mbx > 0 and not (mb_idc[addr] == 2 and not left_avail)
        filter_top = mby > 0 and not (mb_idc[addr] == 2 and not top_avail)
        for ci, plane in enumerate(planes):
            chroma = ci > 0
            n = 8 if chroma else 16

            def mb_of(r, c):
                return (r // n) * mbw + (c // n)

            def qp_of(r, c):
                qpy = int(mb_qp[mb_of(r, c)])
                return ref_qpc(qpy, cqo) if chroma else qpy

            x0, y0 = n * mbx, n * mby
            # transform_size_8x8_flag = 0: every 4th sample is an edge, for luma and for 4:2:0 chroma
            for vertical in (True, False):
                for e in range(0, n, 4):
                    if e == 0 and not (filter_left if vertical else filter_top):
                        continue
                    for k in range(n):
                        if vertical:
                            qq = [(y0 + k, x0 + e + i) for i in range(4)]
                            pp = [(y0 + k, x0 + e - 1 - i) for i in range(4)]
                        else:
                            qq = [(y0 + e + i, x0 + k) for i in range(4)]
                            pp = [(y0 + e - 1 - i, x0 + k) for i in range(4)]
                        # 8.7.2.1, intra frame macroblocks: MB edge -> 4, otherwise 3
                        bs = 4 if mb_of(*pp[0]) != mb_of(*qq[0]) else 3
                        ref_filter_set(plane, pp, qq, chroma, bs, qp_of(*pp[0]), qp_of(*qq[0]),
                                       int(mb_off_a[addr]), int(mb_off_b[addr]), stats)
    return tuple(np.array(p, np.uint8) for p in planes)


STAT_KEYS = ("bs3_luma", "bs3_chroma", "bs3_p1", "bs3_q1", "bs3_delta_clipped", "bs3_clip1",
             "bs4_strong", "bs4_weak", "bs4_chroma")


def _new_stats():
    return {k: 0 for k in STAT_KEYS}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

def run(Y, Cb, Cr, mbw, mbh, qp, sl=None, idc=None, off_a=None, off_b=None, cqo=0):
    n = mbw * mbh

    def arr(v, default):
        if v is None:
            v = default
        v = np.asarray(v, np.int32)
        return np.full(n, v, np.int32) if v.ndim == 0 else v.astype(np.int32)

    args = (arr(qp, 0), arr(sl, 0), arr(idc, 0), arr(off_a, 0), arr(off_b, 0))
    Y2, Cb2, Cr2 = Y.copy(), Cb.copy(), Cr.copy()
    deblock_picture(Y2, Cb2, Cr2, mbw, mbh, *args, cqo)
    return (Y2, Cb2, Cr2), args


def flat(mbw, mbh, y=100, c=128):
    return (np.full((16 * mbh, 16 * mbw), y, np.uint8), np.full((8 * mbh, 8 * mbw), c, np.uint8),
            np.full((8 * mbh, 8 * mbw), c, np.uint8))


def make_content(rng, h, w, kind, block):
    """A uint8 plane: 'noise', 'smooth', 'blocky' (constant blocks with small steps), 'extreme'."""
    if kind == "noise":
        amp = int(rng.choice([4, 16, 255]))
        base = int(rng.integers(0, 256 - min(amp, 255)))
        return (base + rng.integers(0, amp + 1, (h, w))).clip(0, 255).astype(np.uint8)
    if kind == "smooth":
        yy, xx = np.mgrid[0:h, 0:w]
        g = 128 + rng.uniform(-3, 3) * xx + rng.uniform(-3, 3) * yy + rng.integers(-2, 3, (h, w))
        return g.clip(0, 255).astype(np.uint8)
    if kind in ("blocky", "extreme"):
        bh, bw = -(-h // block), -(-w // block)
        step = int(rng.choice([3, 6, 12, 30]))
        lv = np.cumsum(rng.integers(-step, step + 1, (bh, bw)), axis=1)
        lv = lv + np.cumsum(rng.integers(-step, step + 1, (bh, 1)), axis=0)
        centre = 128 if kind == "blocky" else int(rng.choice([3, 252]))
        lv = lv - lv.mean() + centre
        pic = np.kron(lv, np.ones((block, block)))[:h, :w]
        pic = pic + rng.integers(-1, 2, (h, w)) * int(rng.integers(0, 2))
        return pic.clip(0, 255).astype(np.uint8)
    raise ValueError(kind)


def random_case(rng, mbw, mbh):
    n = mbw * mbh
    kind = str(rng.choice(["noise", "smooth", "blocky", "blocky", "extreme"]))
    lblock = int(rng.choice([4, 8, 16]))
    Y = make_content(rng, 16 * mbh, 16 * mbw, kind, lblock)
    Cb = make_content(rng, 8 * mbh, 8 * mbw, kind, max(4, lblock // 2))
    Cr = make_content(rng, 8 * mbh, 8 * mbw, kind, 4)
    return (Y, Cb, Cr), *random_mb_params(rng, n, 4, 0.1)


def random_mb_params(rng, n, max_slices, p51):
    """Per-macroblock parameters of n macroblocks: QPs mostly in the range where the filter acts (20..51),
    I_PCM's 0 for 10 % of them, 51 for a share p51, anything for the rest up to 30 %; 1..max_slices slices,
    contiguous runs in raster order, each with its own disable_deblocking_filter_idc (0, 1 or 2) and
    FilterOffsetA/B; a chroma_qp_index_offset in -12..12. -> (qp, slice, idc, offset A, offset B), cqo."""
    qp = rng.integers(20, 52, n)
    special = rng.random(n)
    qp[special < 0.1] = 0
    qp[(special >= 0.1) & (special < 0.1 + p51)] = 51
    anything = (special >= 0.1 + p51) & (special < 0.3)
    qp[anything] = rng.integers(0, 52, n)[anything]
    nslices = int(rng.integers(1, min(n, max_slices) + 1))
    cuts = np.sort(rng.choice(np.arange(1, n), nslices - 1, replace=False)) if nslices > 1 else []
    sl = np.zeros(n, np.int32)
    for c in cuts:
        sl[c:] += 1
    s_idc = rng.choice([0, 0, 1, 2, 2], nslices)
    s_a = 2 * rng.integers(-6, 7, nslices)
    s_b = 2 * rng.integers(-6, 7, nslices)
    cqo = int(rng.integers(-12, 13))
    return (qp.astype(np.int32), sl, s_idc[sl].astype(np.int32),
            s_a[sl].astype(np.int32), s_b[sl].astype(np.int32)), cqo


def check_against_reference(planes, mbw, mbh, params, cqo, stats):
    out, _ = run(*planes, mbw, mbh, *params, cqo=cqo)
    ref = ref_deblock(*planes, mbw, mbh, *params, cqo, stats=stats)
    for name, a, b in zip(("Y", "Cb", "Cr"), out, ref):
        if not np.array_equal(a, b):
            idx = np.argwhere(a != b)[:5]
            raise AssertionError(f"{name} differs at {idx.tolist()}: got {a[tuple(idx.T)]}, want {b[tuple(idx.T)]}")


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------

def test_tables_match_independent_transcription():
    assert ALPHA_TABLE.tolist() == REF_ALPHA
    assert BETA_TABLE.tolist() == REF_BETA
    assert TC0_TABLE.tolist() == [row[1:4] for row in REF_CLIP_TAB]
    assert QPC_TABLE.tolist() == [ref_qpc(i, 0) for i in range(52)]
    assert len(REF_ALPHA) == len(REF_BETA) == len(REF_CLIP_TAB) == 52


# --------------------------------------------------------------------------------------------------
# Hand-worked single edges
# --------------------------------------------------------------------------------------------------

def test_mb_edge_bs4_weak_luma_and_chroma():
    # 2x1 MBs, QPY 30 everywhere, offsets 0. Luma left MB 100, right MB 110.
    # indexA = indexB = 30: alpha = 25, beta = 8. |p0-q0| = 10 < 25, flat sides -> filtered.
    # 10 < (25 >> 2) + 2 = 8 is false -> 8-489 / 8-496:
    #   p0' = (2*100 + 100 + 110 + 2) >> 2 = 412 >> 2 = 103
    #   q0' = (2*110 + 110 + 100 + 2) >> 2 = 432 >> 2 = 108
    # Chroma (offset 0): QPC(30) = 29 -> alpha 22, beta 7. Cb 50 | 60 (|10| < 22):
    #   p0' = (2*50 + 50 + 60 + 2) >> 2 = 53, q0' = (2*60 + 60 + 50 + 2) >> 2 = 58.
    # All internal edges are flat (delta 0) and the columns constant, so nothing else changes.
    Y, Cb, Cr = flat(2, 1)
    Y[:, 16:] = 110
    Cb[:, :8] = 50
    Cb[:, 8:] = 60
    (Y2, Cb2, Cr2), _ = run(Y, Cb, Cr, 2, 1, 30)
    row = [100] * 15 + [103, 108] + [110] * 15
    assert (Y2 == np.array(row, np.uint8)).all()
    assert (Cb2 == np.array([50] * 7 + [53, 58] + [60] * 7, np.uint8)).all()
    assert (Cr2 == 128).all()


def test_mb_edge_bs4_strong_luma():
    # As above with a step of 4: 4 < 8 and ap = aq = 0 < 8 -> strong filter on both sides:
    #   p0' = (100 + 2*100 + 2*100 + 2*104 + 104 + 4) >> 3 = 816 >> 3 = 102   (8-486)
    #   p1' = (100 + 100 + 100 + 104 + 2) >> 2 = 406 >> 2 = 101              (8-487)
    #   p2' = (2*100 + 3*100 + 100 + 100 + 104 + 4) >> 3 = 808 >> 3 = 101    (8-488)
    #   q0' = (100 + 2*100 + 2*104 + 2*104 + 104 + 4) >> 3 = 824 >> 3 = 103  (8-493)
    #   q1' = (100 + 104 + 104 + 104 + 2) >> 2 = 414 >> 2 = 103              (8-494)
    #   q2' = (2*104 + 3*104 + 104 + 104 + 100 + 4) >> 3 = 832 >> 3 = 104    (8-495)
    # The next edge (x = 20, bS 3, tC0'(30, 3) = 2) sees p2, p1, p0 = 103, 104, 104 | 104, 104, 104:
    #   delta = (0 + 0 + 4) >> 3 = 0, but ap = 1 < 8 so
    #   p1' = 104 + Clip3(-2, 2, (103 + ((104 + 104 + 1) >> 1) - 208) >> 1 = -1 >> 1 = -1) = 103 (x = 18).
    Y, Cb, Cr = flat(2, 1)
    Y[:, 16:] = 104
    (Y2, Cb2, Cr2), _ = run(Y, Cb, Cr, 2, 1, 30)
    row = [100] * 13 + [101, 101, 102, 103, 103, 103] + [104] * 13
    assert (Y2 == np.array(row, np.uint8)).all()


def test_mb_edge_bs4_mixed_strong_p_weak_q():
    # QP 30 (alpha 25, beta 8). p side flat 100; q side 104, 104, 120, 120, ...
    # |p0-q0| = 4 < 8; ap = 0 < 8 -> strong on p: 102, 101, 101 (as in the previous test).
    # aq = |120 - 104| = 16 >= 8 -> q0' = (2*104 + 104 + 100 + 2) >> 2 = 414 >> 2 = 103, q1, q2 kept.
    # Edge x = 20: p2, p1, p0 = 104, 120, 120 | 120...: ap = 16 >= 8 so p1 kept, delta = 0.
    Y, Cb, Cr = flat(2, 1)
    Y[:, 16:18] = 104
    Y[:, 18:] = 120
    (Y2, _, _), _ = run(Y, Cb, Cr, 2, 1, 30)
    row = [100] * 13 + [101, 101, 102, 103, 104] + [120] * 14
    assert (Y2 == np.array(row, np.uint8)).all()


def test_internal_edge_bs3_luma_and_chroma():
    # One MB, QPY 36, offsets 0: indexA = indexB = 36, alpha = 50, beta = 11, tC0'(36, bS 3) = 4.
    # Luma columns 0..3 = 100, 4..15 = 106. Edge x = 4: ap = aq = 0 < 11, tC = 4 + 2 = 6,
    #   delta = Clip3(-6, 6, ((6 << 2) + (100 - 106) + 4) >> 3 = 22 >> 3 = 2) = 2: p0' = 102, q0' = 104
    #   p1' = 100 + Clip3(-4, 4, (100 + ((100 + 106 + 1) >> 1) - 200) >> 1 = 3 >> 1 = 1) = 101
    #   q1' = 106 + Clip3(-4, 4, (106 + 103 - 212) >> 1 = -3 >> 1 = -2) = 104
    # Edge x = 8 works on the filtered samples: p2, p1, p0 = 104, 106, 106 | 106, 106, 106:
    #   delta = 0, ap = 2 < 11: p1' = 106 + Clip3(-4, 4, (104 + 106 - 212) >> 1 = -1) = 105.
    # Edge x = 12 is flat. Columns are constant, so the horizontal edges change nothing.
    # Chroma offset 0: QPC(36) = 34: alpha 40, beta 10, tC0'(34, bS 3) = 4, tC = 5.
    # Cb columns 0..3 = 80, 4..7 = 84: delta = Clip3(-5, 5, (16 - 4 + 4) >> 3 = 2) -> 82 | 82.
    Y, Cb, Cr = flat(1, 1)
    Y[:, 4:] = 106
    Cb[:, :4] = 80
    Cb[:, 4:] = 84
    (Y2, Cb2, Cr2), _ = run(Y, Cb, Cr, 1, 1, 36)
    assert (Y2 == np.array([100, 100, 101, 102, 104, 104, 105] + [106] * 9, np.uint8)).all()
    assert (Cb2 == np.array([80, 80, 80, 82, 82, 84, 84, 84], np.uint8)).all()
    assert (Cr2 == 128).all()


def test_internal_edge_bs3_delta_clipped_horizontal():
    # Same as above with a step 100 | 130 across the horizontal edge y = 4 (so it runs along rows).
    # Edge y = 4: tC = 6, delta = Clip3(-6, 6, (120 - 30 + 4) >> 3 = 11) = 6 -> p0' = 106, q0' = 124;
    #   p1' = 100 + Clip3(-4, 4, (100 + 115 - 200) >> 1 = 7) = 104
    #   q1' = 130 + Clip3(-4, 4, (130 + 115 - 260) >> 1 = -8) = 126
    # Edge y = 8: p2, p1, p0 = 126, 130, 130 | 130..: delta 0, p1' = 130 + ((126 + 130 - 260) >> 1) = 128.
    Y, Cb, Cr = flat(1, 1)
    Y[4:, :] = 130
    (Y2, _, _), _ = run(Y, Cb, Cr, 1, 1, 36)
    col = np.array([100, 100, 104, 106, 124, 126, 128] + [130] * 9, np.uint8)
    assert (Y2 == col[:, None]).all()


def test_chroma_qp_offset_and_pcm_qp():
    # MB edge between an I_PCM MB (QPY 0) and an MB with QPY 51, chroma_qp_index_offset = -12:
    # chroma qPp = QPC(Clip3(0, 51, 0 - 12)) = 0, qPq = QPC(39) = 35, qPav = (0 + 35 + 1) >> 1 = 18
    # -> alpha' = 5, beta' = 2. Cb 60 | 64 (|4| < 5, flat sides): p0' = (2*60 + 60 + 64 + 2) >> 2 = 61,
    # q0' = (2*64 + 64 + 60 + 2) >> 2 = 63. With offset +12: qPp = QPC(12) = 12, qPq = QPC(51) = 39,
    # qPav = 26 -> alpha' 15: still filtered, same values. With offset -12 and FilterOffsetA = -6 on
    # the q MB: indexA = 12 -> alpha' 0 -> untouched.
    # Luma qPav = (0 + 51 + 1) >> 1 = 26 (alpha 15, beta 6); luma flat, so unchanged.
    for cqo, off_a, expect in ((-12, 0, (61, 63)), (12, 0, (61, 63)), (-12, -6, (60, 64))):
        Y, Cb, Cr = flat(2, 1)
        Cb[:, :8] = 60
        Cb[:, 8:] = 64
        (Y2, Cb2, _), _ = run(Y, Cb, Cr, 2, 1, [0, 51], off_a=[0, off_a], cqo=cqo)
        assert (Y2 == 100).all()
        assert Cb2[0, 7] == expect[0] and Cb2[0, 8] == expect[1], (cqo, off_a, Cb2[0])
        assert (Cb2[:, :7] == 60).all() and (Cb2[:, 9:] == 64).all()


# --------------------------------------------------------------------------------------------------
# Slices, disable_deblocking_filter_idc and per-slice offsets on a vertical MB edge
# --------------------------------------------------------------------------------------------------

FILTERED_ROW = [100] * 15 + [103, 108] + [110] * 15   # from test_mb_edge_bs4_weak_luma_and_chroma


@pytest.mark.parametrize("sl,idc,off_a,filtered", [
    ([0, 0], [0, 0], [0, 0], True),
    ([0, 0], [2, 2], [0, 0], True),      # idc 2 only skips edges that are slice boundaries
    ([0, 1], [0, 0], [0, 0], True),      # idc 0 filters slice boundaries
    ([0, 1], [2, 2], [0, 0], False),     # idc 2: left neighbour in another slice
    ([0, 1], [0, 2], [0, 0], False),
    ([0, 1], [2, 0], [0, 0], True),      # only the q macroblock's slice matters
    ([0, 1], [0, 1], [0, 0], False),     # q macroblock disabled
    ([0, 1], [1, 0], [0, 0], True),      # p macroblock's slice disabled, yet its samples get filtered
    ([0, 1], [0, 0], [0, -12], False),   # q's FilterOffsetA: indexA 18 -> alpha 5 <= 10
    ([0, 1], [0, 0], [-12, 0], True),    # p's offset is irrelevant
])
def test_slice_boundary_rules(sl, idc, off_a, filtered):
    Y, Cb, Cr = flat(2, 1)
    Y[:, 16:] = 110
    (Y2, _, _), _ = run(Y, Cb, Cr, 2, 1, 30, sl=sl, idc=idc, off_a=off_a)
    want = np.array(FILTERED_ROW if filtered else [100] * 16 + [110] * 16, np.uint8)
    assert (Y2 == want).all()


def test_top_edge_slice_idc2():
    # 1x2 MBs, horizontal MB edge between slices: idc 2 keeps it, idc 0 filters it.
    for idc, filtered in ((2, False), (0, True)):
        Y, Cb, Cr = flat(1, 2)
        Y[16:, :] = 110
        (Y2, _, _), _ = run(Y, Cb, Cr, 1, 2, 30, sl=[0, 1], idc=idc)
        want = np.array(FILTERED_ROW if filtered else [100] * 16 + [110] * 16, np.uint8)
        assert (Y2 == want[:, None]).all()


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

def test_all_disabled_leaves_picture_unchanged():
    rng = np.random.default_rng(1)
    for mbw, mbh in ((1, 1), (3, 2), (5, 4)):
        planes = tuple(rng.integers(0, 256, s).astype(np.uint8)
                       for s in ((16 * mbh, 16 * mbw), (8 * mbh, 8 * mbw), (8 * mbh, 8 * mbw)))
        out, _ = run(*planes, mbw, mbh, rng.integers(0, 52, mbw * mbh), idc=1, off_a=12, off_b=12, cqo=12)
        for a, b in zip(out, planes):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("which", ["alpha", "beta"])
def test_low_index_leaves_picture_unchanged(which):
    # indexA < 16 -> alpha' = 0, or indexB < 16 -> beta' = 0: filterSamplesFlag is always 0.
    rng = np.random.default_rng(2)
    for trial in range(20):
        mbw, mbh = 3, 2
        (Y, Cb, Cr), _, _ = random_case(rng, mbw, mbh)
        off = 2 * int(rng.integers(-6, 7))
        cqo = int(rng.integers(-12, 13))
        qmax = 15 - off - max(cqo, 0)
        if qmax < 0:
            continue
        qp = rng.integers(0, qmax + 1, mbw * mbh)
        other = 2 * int(rng.integers(-6, 7))
        kw = dict(off_a=off, off_b=other) if which == "alpha" else dict(off_a=other, off_b=off)
        out, _ = run(Y, Cb, Cr, mbw, mbh, qp, cqo=cqo, **kw)
        for a, b in zip(out, (Y, Cb, Cr)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("mbw,mbh", [(1, 1), (2, 2), (3, 1)])
def test_picture_border_not_filtered(mbw, mbh):
    # Every internal edge is a no-op here (flat), but the last column / row differ from the first:
    # a filter wrongly applied at the left or top picture border (e.g. reading index -1, which wraps
    # to the last column) would change samples. Values keep the bS 3 edges x = W-4 / y = H-4 no-ops
    # (they touch only q0, q1), and the picture is otherwise flat.
    H, W = 16 * mbh, 16 * mbw
    Y, Cb, Cr = flat(mbw, mbh)
    Y[:, W - 1] += 4
    Y[H - 1, :] += 4
    Cb[:, 8 * mbw - 1] += 3
    Cr[8 * mbh - 1, :] += 3
    out, _ = run(Y, Cb, Cr, mbw, mbh, 45)   # alpha 144, beta 15: the steps would be filtered
    for a, b in zip(out, (Y, Cb, Cr)):
        assert np.array_equal(a, b)


def test_top_left_corner_never_modified():
    # Vertical edges change columns >= 2 (luma) / >= 3 (chroma), horizontal edges likewise rows:
    # so the top-left 2x2 luma and 3x3 chroma samples can only change by picture-border filtering.
    rng = np.random.default_rng(3)
    for _ in range(30):
        planes, params, cqo = random_case(rng, 2, 2)
        params = (np.full(4, 51, np.int32), params[1], np.zeros(4, np.int32),
                  np.full(4, 12, np.int32), np.full(4, 12, np.int32))
        out, _ = run(*planes, 2, 2, *params, cqo=cqo)
        assert np.array_equal(out[0][:2, :2], planes[0][:2, :2])
        assert np.array_equal(out[1][:3, :3], planes[1][:3, :3])
        assert np.array_equal(out[2][:3, :3], planes[2][:3, :3])


# --------------------------------------------------------------------------------------------------
# Bit-exact comparison with the reference
# --------------------------------------------------------------------------------------------------

SIZES = [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3)]


def test_random_pictures_match_reference_and_cover_all_branches():
    rng = np.random.default_rng(20240601)
    stats = _new_stats()
    for i in range(150):
        mbw, mbh = SIZES[i % len(SIZES)]
        planes, params, cqo = random_case(rng, mbw, mbh)
        check_against_reference(planes, mbw, mbh, params, cqo, stats)
    # every filter branch of 8.7.2.3 / 8.7.2.4 was exercised
    for k in STAT_KEYS:
        assert stats[k] > 0, (k, stats)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from(SIZES),
       qp_lo=st.integers(0, 51), cqo=st.integers(-12, 12),
       off=st.tuples(st.integers(-6, 6), st.integers(-6, 6)),
       idc=st.sampled_from([0, 2]))
def test_hypothesis_matches_reference(seed, size, qp_lo, cqo, off, idc):
    rng = np.random.default_rng(seed)
    mbw, mbh = size
    n = mbw * mbh
    planes, params, _ = random_case(rng, mbw, mbh)
    qp = rng.integers(qp_lo, 52, n).astype(np.int32)
    sl = params[1]
    params = (qp, sl, np.full(n, idc, np.int32), np.full(n, 2 * off[0], np.int32),
              np.full(n, 2 * off[1], np.int32))
    check_against_reference(planes, mbw, mbh, params, cqo, _new_stats())


# --------------------------------------------------------------------------------------------------
# Larger pictures: every macroblock position, per-macroblock QPs, up to 6 slices, all three idc values
# --------------------------------------------------------------------------------------------------

BIG_SIZES = [(4, 3), (5, 4), (7, 2), (2, 6), (6, 5), (3, 7)]


def big_content(rng, h, w, kind, block):
    """make_content, plus 'zigzag' next to 0 or 255, where the bS < 4 filter can push p0 + delta or
    q0 - delta out of range (the Clip1 of 8-476 / 8-477): with q0, q1, p1, p0 at positions 0, 1, 2, 3
    mod 4 of a line, (0, a, 0, 1) gives p0 + delta < 0 and (1, 0, a, 0) gives q0 - delta < 0 once
    a >= 9 and beta > a (pairs of lines alternate between the two); 255 minus them the same at 255.
    Along rows, columns or both, with or without a little noise."""
    if kind == "zigzag":
        a = int(rng.integers(9, 18))
        pattern = np.array([[0, a, 0, 1], [1, 0, a, 0]])
        yy, xx = np.mgrid[0:h, 0:w]
        along_x = pattern[(yy // 2) % 2, xx % 4]  # lines of vertical edges, both patterns
        along_y = pattern[(xx // 2) % 2, yy % 4]
        axis = int(rng.integers(0, 3))
        z = along_x if axis == 0 else along_y if axis == 1 else np.maximum(along_x, along_y)
        z = z + rng.integers(0, 2, (h, w)) * int(rng.integers(0, 2))
        return (z if rng.random() < 0.5 else 255 - z).astype(np.uint8)
    return make_content(rng, h, w, kind, block)


def random_big_case(rng, mbw, mbh):
    """A larger picture than random_case: a base content with rectangles of other kinds over it, QPs
    per macroblock (I_PCM's 0, 51, anything, mostly 20..51), 1..6 slices each with its own
    disable_deblocking_filter_idc (0, 1 or 2) and FilterOffsetA/B, chroma_qp_index_offset -12..12."""
    n = mbw * mbh
    kinds = ["noise", "smooth", "blocky", "blocky", "extreme", "extreme", "zigzag", "zigzag"]
    planes = []
    for h, w, sub in ((16 * mbh, 16 * mbw, 1), (8 * mbh, 8 * mbw, 2), (8 * mbh, 8 * mbw, 2)):
        plane = big_content(rng, h, w, str(rng.choice(kinds)), max(4, int(rng.choice([4, 8, 16])) // sub))
        for _ in range(int(rng.integers(0, 4))):
            y0, x0 = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
            y1, x1 = int(rng.integers(y0 + 4, h + 1)), int(rng.integers(x0 + 4, w + 1))
            plane[y0:y1, x0:x1] = big_content(rng, y1 - y0, x1 - x0, str(rng.choice(kinds)),
                                              int(rng.choice([4, 8])))
        planes.append(plane)
    return tuple(planes), *random_mb_params(rng, n, 6, 0.05)


def classify_set(plane, pp, qq, chroma, bs, qpp, qpq, off_a, off_b, seen):
    """Record which branch of 8.7.2 one set of samples takes, before the reference filters it."""
    p = [plane[r][c] for r, c in pp]
    q = [plane[r][c] for r, c in qq]
    qpav = (qpp + qpq + 1) >> 1
    index_a = clip3(0, 51, qpav + off_a)
    alpha = REF_ALPHA[index_a]
    beta = REF_BETA[clip3(0, 51, qpav + off_b)]
    edge = ("chroma" if chroma else "luma", "vertical" if pp[0][0] == qq[0][0] else "horizontal", bs)
    if alpha == 0 or beta == 0:
        seen.add(edge + ("alpha 0" if alpha == 0 else "beta 0",))
        return
    if not (abs(p[0] - q[0]) < alpha and abs(p[1] - p[0]) < beta and abs(q[1] - q[0]) < beta):
        seen.add(edge + ("not filtered",))
        return
    ap, aq = abs(p[2] - p[0]) < beta, abs(q[2] - q[0]) < beta
    if bs == 4:
        if not chroma:
            small = abs(p[0] - q[0]) < ((alpha >> 2) + 2)
            seen.add(edge + ("p strong" if ap and small else "p weak",))
            seen.add(edge + ("q strong" if aq and small else "q weak",))
            if ap and small and not aq:
                seen.add(edge + ("p strong, q weak",))
            if aq and small and not ap:
                seen.add(edge + ("p weak, q strong",))
        else:
            seen.add(edge + ("filtered",))
        return
    tc0 = REF_CLIP_TAB[index_a][bs]
    tc = tc0 + 1 if chroma else tc0 + ap + aq
    raw = (((q[0] - p[0]) << 2) + (p[1] - q[1]) + 4) >> 3
    delta = clip3(-tc, tc, raw)
    seen.add(edge + ("filtered",))
    if not chroma:
        seen.add(edge + ("ap < beta" if ap else "ap >= beta",))
        seen.add(edge + ("aq < beta" if aq else "aq >= beta",))
    if delta != raw:
        seen.add(edge + ("delta clipped to tC",))
    for name, v in (("p0", p[0] + delta), ("q0", q[0] - delta)):
        if v < 0 or v > 255:
            seen.add(edge + (f"{name} clipped to {0 if v < 0 else 255}",))


def ref_deblock_classified(planes, mbw, mbh, params, cqo, seen):
    """ref_deblock, with every set of samples classified by classify_set on its way."""
    global ref_filter_set
    plain = ref_filter_set

    def classifying(plane, pp, qq, chroma, bs, qpp, qpq, off_a, off_b, stats):
        classify_set(plane, pp, qq, chroma, bs, qpp, qpq, off_a, off_b, seen)
        plain(plane, pp, qq, chroma, bs, qpp, qpq, off_a, off_b, stats)

    ref_filter_set = classifying
    try:
        return ref_deblock(*planes, mbw, mbh, *params, cqo)
    finally:
        ref_filter_set = plain


def expected_branches():
    """Every branch in both directions: luma bS 4 strong/weak on each side (also mixed), bS 3 with
    ap/aq below beta or not, tC clipping and the Clip1 to 0 and 255 of 8-476 / 8-477, chroma bS 4 and
    bS 3, unfiltered sets, and alpha' or beta' 0."""
    want = set()
    for d in ("vertical", "horizontal"):
        for plane in ("luma", "chroma"):
            for bs in (3, 4):
                want |= {(plane, d, bs, "alpha 0"), (plane, d, bs, "beta 0"), (plane, d, bs, "not filtered")}
        want |= {("luma", d, 4, k) for k in ("p strong", "p weak", "q strong", "q weak",
                                              "p strong, q weak", "p weak, q strong")}
        want |= {("luma", d, 3, k) for k in ("filtered", "ap < beta", "ap >= beta", "aq < beta", "aq >= beta",
                                              "delta clipped to tC", "p0 clipped to 0", "p0 clipped to 255",
                                              "q0 clipped to 0", "q0 clipped to 255")}
        want |= {("chroma", d, 4, "filtered"), ("chroma", d, 3, "filtered"), ("chroma", d, 3, "delta clipped to tC")}
    return want


def test_big_random_pictures_match_reference_and_cover_every_branch():
    rng = np.random.default_rng(20250214)
    seen = set()
    idcs = set()
    for i in range(48):
        mbw, mbh = BIG_SIZES[i % len(BIG_SIZES)]
        planes, params, cqo = random_big_case(rng, mbw, mbh)
        idcs |= set(params[2].tolist())
        out, _ = run(*planes, mbw, mbh, *params, cqo=cqo)
        ref = ref_deblock_classified(planes, mbw, mbh, params, cqo, seen)
        for name, a, b in zip(("Y", "Cb", "Cr"), out, ref):
            assert np.array_equal(a, b), (i, name, np.argwhere(a != b)[:5].tolist())
    assert idcs == {0, 1, 2}
    missing = expected_branches() - seen
    assert not missing, sorted(missing)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from(BIG_SIZES))
def test_hypothesis_big_pictures_match_reference(seed, size):
    rng = np.random.default_rng(seed)
    mbw, mbh = size
    planes, params, cqo = random_big_case(rng, mbw, mbh)
    check_against_reference(planes, mbw, mbh, params, cqo, _new_stats())


def test_planes_with_padded_rows_match_reference():
    # Planes that are views into wider arrays (rows contiguous, row stride larger than the width).
    rng = np.random.default_rng(7)
    for i in range(6):
        mbw, mbh = BIG_SIZES[i]
        planes, params, cqo = random_big_case(rng, mbw, mbh)
        views = []
        for p in planes:
            wide = rng.integers(0, 256, (p.shape[0], p.shape[1] + 24)).astype(np.uint8)
            wide[:, 8:8 + p.shape[1]] = p
            views.append(wide[:, 8:8 + p.shape[1]])
        outside = [w.base.copy() for w in views]
        deblock_picture(*views, mbw, mbh, *params, cqo)
        ref = ref_deblock(*planes, mbw, mbh, *params, cqo)
        for v, r, before in zip(views, ref, outside):
            assert np.array_equal(v, r)
            after = v.base
            assert np.array_equal(after[:, :8], before[:, :8]) and np.array_equal(after[:, 8 + v.shape[1]:],
                                                                                  before[:, 8 + v.shape[1]:])
