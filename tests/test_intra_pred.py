"""Intra prediction (H.264 clause 8.3) against a plain-Python reference written from the standard.

The reference below uses the standard's notation: p[x, y] is the neighbouring sample at column x, row y
relative to the block's top-left sample, so p[x, -1] is the row above, p[-1, y] the column on the left
and p[-1, -1] the corner. Every neighbour access goes through an accessor that *fails the test* if the
sample is "not available for Intra prediction", so the reference also checks which modes are usable with
which neighbours, and the codec is fed garbage in every unavailable position.
"""
import itertools

import numpy as np
import pytest

from minicodec import intra_pred as ip


class Unavailable(Exception):
    pass


def neighbours(plane, y0, x0, left, top, topleft, topright=False, n_top=4, n_left=4, substitute=False):
    """p(x, y) accessor for the block at (y0, x0); raises Unavailable for missing samples.

    ``substitute``: 8.3.1.2, when p[x, -1] for x = 4..7 is not available but p[3, -1] is, those samples
    are replaced by p[3, -1].
    """
    def p(x, y):
        if x == -1 and y == -1:
            if not topleft:
                raise Unavailable("p[-1,-1]")
            return int(plane[y0 - 1, x0 - 1])
        if y == -1:
            assert 0 <= x < 2 * n_top
            if x < n_top:
                if not top:
                    raise Unavailable(f"p[{x},-1]")
                return int(plane[y0 - 1, x0 + x])
            if topright:
                if not top:  # only reached through the top row
                    raise Unavailable(f"p[{x},-1]")
                return int(plane[y0 - 1, x0 + x])
            if substitute and top:
                return int(plane[y0 - 1, x0 + n_top - 1])
            raise Unavailable(f"p[{x},-1]")
        assert x == -1 and 0 <= y < n_left
        if not left:
            raise Unavailable(f"p[-1,{y}]")
        return int(plane[y0 + y, x0 - 1])
    return p


def clip1(v):
    return min(max(v, 0), 255)


# ------------------------------------------------------------------ Intra_4x4 reference (8.3.1.2.x)

def ref_pred4x4(p, mode, left_avail, top_avail):
    pred = np.zeros((4, 4), np.int64)
    for y in range(4):
        for x in range(4):
            if mode == 0:    # 8.3.1.2.1 Vertical
                v = p(x, -1)
            elif mode == 1:  # 8.3.1.2.2 Horizontal
                v = p(-1, y)
            elif mode == 2:  # 8.3.1.2.3 DC
                if top_avail and left_avail:
                    v = (sum(p(i, -1) for i in range(4)) + sum(p(-1, i) for i in range(4)) + 4) >> 3
                elif left_avail:  # "any p[x,-1] not available and all p[-1,y] available"
                    v = (sum(p(-1, i) for i in range(4)) + 2) >> 2
                elif top_avail:
                    v = (sum(p(i, -1) for i in range(4)) + 2) >> 2
                else:
                    v = 1 << 7  # 1 << (BitDepthY - 1)
            elif mode == 3:  # 8.3.1.2.4 Diagonal_Down_Left
                if x == 3 and y == 3:
                    v = (p(6, -1) + 3 * p(7, -1) + 2) >> 2
                else:
                    v = (p(x + y, -1) + 2 * p(x + y + 1, -1) + p(x + y + 2, -1) + 2) >> 2
            elif mode == 4:  # 8.3.1.2.5 Diagonal_Down_Right
                if x > y:
                    v = (p(x - y - 2, -1) + 2 * p(x - y - 1, -1) + p(x - y, -1) + 2) >> 2
                elif x < y:
                    v = (p(-1, y - x - 2) + 2 * p(-1, y - x - 1) + p(-1, y - x) + 2) >> 2
                else:
                    v = (p(0, -1) + 2 * p(-1, -1) + p(-1, 0) + 2) >> 2
            elif mode == 5:  # 8.3.1.2.6 Vertical_Right, zVR = 2x - y
                z = 2 * x - y
                if z in (0, 2, 4, 6):
                    v = (p(x - (y >> 1) - 1, -1) + p(x - (y >> 1), -1) + 1) >> 1
                elif z in (1, 3, 5):
                    v = (p(x - (y >> 1) - 2, -1) + 2 * p(x - (y >> 1) - 1, -1) + p(x - (y >> 1), -1) + 2) >> 2
                elif z == -1:
                    v = (p(-1, 0) + 2 * p(-1, -1) + p(0, -1) + 2) >> 2
                else:  # z = -2, -3
                    v = (p(-1, y - 1) + 2 * p(-1, y - 2) + p(-1, y - 3) + 2) >> 2
            elif mode == 6:  # 8.3.1.2.7 Horizontal_Down, zHD = 2y - x
                z = 2 * y - x
                if z in (0, 2, 4, 6):
                    v = (p(-1, y - (x >> 1) - 1) + p(-1, y - (x >> 1)) + 1) >> 1
                elif z in (1, 3, 5):
                    v = (p(-1, y - (x >> 1) - 2) + 2 * p(-1, y - (x >> 1) - 1) + p(-1, y - (x >> 1)) + 2) >> 2
                elif z == -1:
                    v = (p(-1, 0) + 2 * p(-1, -1) + p(0, -1) + 2) >> 2
                else:
                    v = (p(x - 1, -1) + 2 * p(x - 2, -1) + p(x - 3, -1) + 2) >> 2
            elif mode == 7:  # 8.3.1.2.8 Vertical_Left
                if y in (0, 2):
                    v = (p(x + (y >> 1), -1) + p(x + (y >> 1) + 1, -1) + 1) >> 1
                else:
                    v = (p(x + (y >> 1), -1) + 2 * p(x + (y >> 1) + 1, -1) + p(x + (y >> 1) + 2, -1) + 2) >> 2
            else:            # 8.3.1.2.9 Horizontal_Up, zHU = x + 2y
                z = x + 2 * y
                if z in (0, 2, 4):
                    v = (p(-1, y + (x >> 1)) + p(-1, y + (x >> 1) + 1) + 1) >> 1
                elif z in (1, 3):
                    v = (p(-1, y + (x >> 1)) + 2 * p(-1, y + (x >> 1) + 1) + p(-1, y + (x >> 1) + 2) + 2) >> 2
                elif z == 5:
                    v = (p(-1, 2) + 3 * p(-1, 3) + 2) >> 2
                else:
                    v = p(-1, 3)
            pred[y, x] = v
    return pred


# ------------------------------------------------------------------ Intra_16x16 reference (8.3.3.x)

def ref_pred16x16(p, mode, left_avail, top_avail):
    pred = np.zeros((16, 16), np.int64)
    if mode == 0:
        for y, x in itertools.product(range(16), range(16)):
            pred[y, x] = p(x, -1)
    elif mode == 1:
        for y, x in itertools.product(range(16), range(16)):
            pred[y, x] = p(-1, y)
    elif mode == 2:
        if top_avail and left_avail:
            v = (sum(p(i, -1) for i in range(16)) + sum(p(-1, i) for i in range(16)) + 16) >> 5
        elif left_avail:
            v = (sum(p(-1, i) for i in range(16)) + 8) >> 4
        elif top_avail:
            v = (sum(p(i, -1) for i in range(16)) + 8) >> 4
        else:
            v = 128
        pred[:] = v
    else:  # 8.3.3.4 Plane
        H = sum((xp + 1) * (p(8 + xp, -1) - p(6 - xp, -1)) for xp in range(8))
        V = sum((yp + 1) * (p(-1, 8 + yp) - p(-1, 6 - yp)) for yp in range(8))
        a = 16 * (p(-1, 15) + p(15, -1))
        b = (5 * H + 32) >> 6
        c = (5 * V + 32) >> 6
        for y, x in itertools.product(range(16), range(16)):
            pred[y, x] = clip1((a + b * (x - 7) + c * (y - 7) + 16) >> 5)
    return pred


# ------------------------------------------------------------------ chroma reference (8.3.4.x), 4:2:0

def ref_pred_chroma(p, mode, left_avail, top_avail):
    """MbWidthC = MbHeightC = 8; chroma_format_idc = 1 so xCF = yCF = 0."""
    pred = np.zeros((8, 8), np.int64)
    if mode == 0:  # DC, per chroma4x4BlkIdx with (xO, yO)
        for yO, xO in ((0, 0), (0, 4), (4, 0), (4, 4)):
            def top_sum():
                return sum(p(xx + xO, -1) for xx in range(4))

            def left_sum():
                return sum(p(-1, yy + yO) for yy in range(4))
            if (xO, yO) == (0, 0) or (xO > 0 and yO > 0):      # 8.3.4.1
                if top_avail and left_avail:
                    v = (top_sum() + left_sum() + 4) >> 3
                elif left_avail:
                    v = (left_sum() + 2) >> 2
                elif top_avail:
                    v = (top_sum() + 2) >> 2
                else:
                    v = 128
            elif xO > 0 and yO == 0:                             # 8.3.4.2
                if top_avail:
                    v = (top_sum() + 2) >> 2
                elif left_avail:
                    v = (left_sum() + 2) >> 2
                else:
                    v = 128
            else:                                                # 8.3.4.3 (xO == 0, yO > 0)
                if left_avail:
                    v = (left_sum() + 2) >> 2
                elif top_avail:
                    v = (top_sum() + 2) >> 2
                else:
                    v = 128
            pred[yO:yO + 4, xO:xO + 4] = v
    elif mode == 1:  # Horizontal (8.3.4.2 numbering: intra_chroma_pred_mode 1)
        for y, x in itertools.product(range(8), range(8)):
            pred[y, x] = p(-1, y)
    elif mode == 2:  # Vertical
        for y, x in itertools.product(range(8), range(8)):
            pred[y, x] = p(x, -1)
    else:  # Plane, xCF = yCF = 0
        xCF = yCF = 0
        a = 16 * (p(-1, 8 - 1) + p(8 - 1, -1))
        H = sum((xp + 1) * (p(4 + xCF + xp, -1) - p(2 + xCF - xp, -1)) for xp in range(4 + xCF))
        V = sum((yp + 1) * (p(-1, 4 + yCF + yp) - p(-1, 2 + yCF - yp)) for yp in range(4 + yCF))
        b = ((34 - 29 * 0) * H + 32) >> 6
        c = ((34 - 29 * 0) * V + 32) >> 6
        for y, x in itertools.product(range(8), range(8)):
            pred[y, x] = clip1((a + b * (x - 3 - xCF) + c * (y - 3 - yCF) + 16) >> 5)
    return pred


# ------------------------------------------------------------------ mode usability from the standard

# 8.3.1.2.x: each mode "shall be used only when" these samples are available
I4_NEEDS = {0: "T", 1: "L", 2: "", 3: "T", 4: "LTC", 5: "LTC", 6: "LTC", 7: "T", 8: "L"}
I16_NEEDS = {0: "T", 1: "L", 2: "", 3: "LTC"}       # 8.3.3.1-8.3.3.4
CHROMA_NEEDS = {0: "", 1: "L", 2: "T", 3: "LTC"}    # 8.3.4.1-8.3.4.4 (0 DC, 1 H, 2 V, 3 plane)


def allowed(needs, left, top, topleft):
    have = {"L": left, "T": top, "C": topleft}
    return all(have[k] for k in needs)


AVAIL = list(itertools.product([False, True], repeat=3))


@pytest.mark.parametrize("left,top,topleft", AVAIL)
def test_mode_allowed_truth_tables(left, top, topleft):
    for m in range(9):
        assert bool(ip.i4x4_mode_allowed(m, left, top, topleft)) == allowed(I4_NEEDS[m], left, top, topleft), m
    for m in range(4):
        assert bool(ip.i16x16_mode_allowed(m, left, top, topleft)) == allowed(I16_NEEDS[m], left, top, topleft), m
        assert bool(ip.chroma_mode_allowed(m, left, top, topleft)) == allowed(CHROMA_NEEDS[m], left, top, topleft), m


def test_mode_constants_are_the_standards_numbers():
    assert (ip.I4_V, ip.I4_H, ip.I4_DC, ip.I4_DDL, ip.I4_DDR, ip.I4_VR, ip.I4_HD, ip.I4_VL, ip.I4_HU) == tuple(range(9))
    assert (ip.I16_V, ip.I16_H, ip.I16_DC, ip.I16_PLANE) == (0, 1, 2, 3)
    assert (ip.CHROMA_DC, ip.CHROMA_H, ip.CHROMA_V, ip.CHROMA_PLANE) == (0, 1, 2, 3)


# ------------------------------------------------------------------ random comparisons

def garbage_plane(rng, h, w, y0, x0, n, left, top, topleft, topright, n_tr=0):
    """Random plane whose unavailable neighbours get fresh random data of their own (the caller copies
    only the available ones from the structured plane), so a predictor that reads them disagrees with
    the reference."""
    plane = rng.integers(0, 256, (h, w), dtype=np.uint8)
    g = lambda shape: rng.integers(0, 256, shape, dtype=np.uint8)  # noqa: E731
    if not left:
        plane[y0:y0 + n, x0 - 1] = g(n)
    if not top:
        plane[y0 - 1, x0:x0 + n] = g(n)
    if not topleft:
        plane[y0 - 1, x0 - 1] = g(())
    if n_tr and not topright:
        plane[y0 - 1, x0 + n:x0 + n + n_tr] = g(n_tr)
    return plane


def edge_case_plane(rng, kind, h, w):
    if kind == "random":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "extreme":  # only 0 and 255: drives the plane predictor into Clip1
        return (rng.integers(0, 2, (h, w)) * 255).astype(np.uint8)
    if kind == "smooth":
        yy, xx = np.mgrid[0:h, 0:w]
        return np.clip(40 + 3 * xx + 5 * yy + rng.integers(-2, 3, (h, w)), 0, 255).astype(np.uint8)
    raise ValueError(kind)


KINDS = ["random", "extreme", "smooth"]


@pytest.mark.parametrize("kind", KINDS)
def test_pred4x4_matches_reference(kind):
    rng = np.random.default_rng(4 + KINDS.index(kind))
    out = np.empty(16, np.int32)
    edges = np.empty(13, np.int32)
    checked = 0
    for trial in range(60):
        for left, top, topleft, topright in itertools.product([False, True], repeat=4):
            h, w = 12, 16
            y0, x0 = 4, 4
            plane = edge_case_plane(rng, kind, h, w)
            base = garbage_plane(rng, h, w, y0, x0, 4, left, top, topleft, topright, n_tr=4)
            # copy the available neighbours from the structured plane, garbage elsewhere
            if left:
                base[y0:y0 + 4, x0 - 1] = plane[y0:y0 + 4, x0 - 1]
            if top:
                base[y0 - 1, x0:x0 + 4] = plane[y0 - 1, x0:x0 + 4]
                if topright:
                    base[y0 - 1, x0 + 4:x0 + 8] = plane[y0 - 1, x0 + 4:x0 + 8]
            if topleft:
                base[y0 - 1, x0 - 1] = plane[y0 - 1, x0 - 1]
            p = neighbours(base, y0, x0, left, top, topleft, topright, substitute=True)
            for mode in range(9):
                if not allowed(I4_NEEDS[mode], left, top, topleft):
                    continue
                ref = ref_pred4x4(p, mode, left, top)
                out[:] = -999
                ip.pred4x4(base, y0, x0, mode, left, top, topright, topleft, out)
                np.testing.assert_array_equal(out.reshape(4, 4), ref,
                                              err_msg=f"mode {mode} L{left} T{top} TR{topright} TL{topleft}")
                # the encoder's path: neighbours gathered into an array, then the same predictor
                edges[:] = -999
                ip.edges4x4_into(base, y0, x0, left, top, topright, topleft, edges)
                out[:] = -999
                ip.pred4x4_edges(edges, mode, left, top, out)
                np.testing.assert_array_equal(out.reshape(4, 4), ref,
                                              err_msg=f"array: mode {mode} L{left} T{top} TR{topright} TL{topleft}")
                checked += 1
    assert checked > 1000


def test_pred4x4_topright_substitution_is_exactly_p3():
    # top-right missing: DDL and VL must behave as if p[4..7, -1] = p[3, -1]
    rng = np.random.default_rng(7)
    out = np.empty(16, np.int32)
    for _ in range(200):
        plane = rng.integers(0, 256, (8, 12), dtype=np.uint8)
        filled = plane.copy()
        filled[3, 5:9] = plane[3, 4]  # p[3,-1] of the block at (4, 1)
        for mode in (ip.I4_DDL, ip.I4_VL):
            ip.pred4x4(plane, 4, 1, mode, True, True, False, True, out)
            a = out.copy()
            ip.pred4x4(filled, 4, 1, mode, True, True, True, True, out)
            np.testing.assert_array_equal(a, out)


def test_pred4x4_hand_examples():
    # neighbours: corner M = p[-1,-1] = 50, top A..H = p[0..7,-1], left I..L = p[-1,0..3]
    plane = np.zeros((8, 12), np.uint8)
    plane[3, 0] = 50
    plane[3, 1:9] = [10, 20, 30, 40, 50, 60, 70, 80]
    plane[4:8, 0] = [100, 110, 120, 130]
    out = np.empty(16, np.int32)

    # DC: (10+20+30+40 + 100+110+120+130 + 4) >> 3 = 564 >> 3 = 70
    ip.pred4x4(plane, 4, 1, ip.I4_DC, True, True, True, True, out)
    assert (out == 70).all()
    # DC with only the left column: (460 + 2) >> 2 = 115
    ip.pred4x4(plane, 4, 1, ip.I4_DC, True, False, False, False, out)
    assert (out == 115).all()

    # DDL: the top row is linear, so every 3-tap (a + 2b + c + 2) >> 2 returns the middle sample:
    # pred[x,y] = p[x+y+1,-1] = 10 (x+y+2); at (3,3): (70 + 3*80 + 2) >> 2 = 312 >> 2 = 78
    ip.pred4x4(plane, 4, 1, ip.I4_DDL, True, True, True, True, out)
    expect = [[10 * (x + y + 2) for x in range(4)] for y in range(4)]
    expect[3][3] = 78
    np.testing.assert_array_equal(out.reshape(4, 4), expect)

    # HU: zHU > 5 gives p[-1,3] = 130; zHU = 5 (x=1,y=2): (120 + 3*130 + 2) >> 2 = 512 >> 2 = 128;
    # (0,0): (100 + 110 + 1) >> 1 = 105; (1,0): (100 + 220 + 120 + 2) >> 2 = 110
    ip.pred4x4(plane, 4, 1, ip.I4_HU, True, False, False, False, out)
    got = out.reshape(4, 4)
    assert got[0, 0] == 105 and got[0, 1] == 110 and got[2, 1] == 128
    assert got[3, 0] == got[3, 3] == got[2, 3] == 130

    # VR at zVR = -1 (x=0,y=1): (p[-1,0] + 2 p[-1,-1] + p[0,-1] + 2) >> 2 = (100 + 100 + 10 + 2) >> 2 = 53
    ip.pred4x4(plane, 4, 1, ip.I4_VR, True, True, True, True, out)
    assert out[4] == 53
    # VR (0,0): (p[-1,-1] + p[0,-1] + 1) >> 1 = (50 + 10 + 1) >> 1 = 30
    assert out[0] == 30


@pytest.mark.parametrize("kind", KINDS)
def test_pred16x16_matches_reference(kind):
    rng = np.random.default_rng(16 + KINDS.index(kind))
    out = np.empty(256, np.int32)
    clipped = 0
    for trial in range(12):
        for left, top, topleft in AVAIL:
            y0, x0 = 16, 16
            src = edge_case_plane(rng, kind, 48, 48)
            plane = garbage_plane(rng, 48, 48, y0, x0, 16, left, top, topleft, False)
            if left:
                plane[y0:y0 + 16, x0 - 1] = src[y0:y0 + 16, x0 - 1]
            if top:
                plane[y0 - 1, x0:x0 + 16] = src[y0 - 1, x0:x0 + 16]
            if topleft:
                plane[y0 - 1, x0 - 1] = src[y0 - 1, x0 - 1]
            p = neighbours(plane, y0, x0, left, top, topleft, n_top=16, n_left=16)
            for mode in range(4):
                if not allowed(I16_NEEDS[mode], left, top, topleft):
                    continue
                ref = ref_pred16x16(p, mode, left, top)
                out[:] = -999
                ip.pred16x16(plane, y0, x0, mode, left, top, topleft, out)
                np.testing.assert_array_equal(out.reshape(16, 16), ref, err_msg=f"mode {mode} {left, top, topleft}")
                if mode == 3:
                    clipped += int(((ref == 0) | (ref == 255)).any())
    if kind == "extreme":
        assert clipped > 0  # the Clip1 branch was exercised


def test_pred16x16_plane_hand_example():
    # top p[x,-1] = 100 + 2x (x = 0..15), corner and left all 98.
    # H = sum_{x'=0..7} (x'+1)(p[8+x',-1] - p[6-x',-1]) = sum (x'+1) * 4(x'+1) = 4 * 204 = 816
    #   (x' = 7 uses p[-1,-1] = 98 = 100 + 2*(-1), consistent with the ramp); V = 0
    # b = (5*816 + 32) >> 6 = 4112 >> 6 = 64, c = 0, a = 16 * (98 + 130) = 3648
    # pred = (3648 + 64 (x - 7) + 16) >> 5 = (3216 + 64 x) >> 5 = 100 + 2x  (3216 = 32*100 + 16)
    plane = np.zeros((17, 17), np.uint8)
    plane[0, 1:] = 100 + 2 * np.arange(16)
    plane[0, 0] = 98
    plane[1:, 0] = 98
    out = np.empty(256, np.int32)
    ip.pred16x16(plane, 1, 1, ip.I16_PLANE, True, True, True, out)
    np.testing.assert_array_equal(out.reshape(16, 16), np.tile(100 + 2 * np.arange(16), (16, 1)))


def test_pred16x16_plane_clips():
    # top row 0 .. 0 then 255 at the right end; left all 0: H > 0, the far right saturates at 255
    # and the bottom-left corner of the unclipped plane is negative -> 0
    plane = np.zeros((17, 17), np.uint8)
    plane[0, 9:] = 255
    out = np.empty(256, np.int32)
    ip.pred16x16(plane, 1, 1, ip.I16_PLANE, True, True, True, out)
    p = neighbours(plane, 1, 1, True, True, True, n_top=16, n_left=16)
    ref = ref_pred16x16(p, 3, True, True)
    np.testing.assert_array_equal(out.reshape(16, 16), ref)
    assert ref.min() == 0 and ref.max() == 255


def test_pred16x16_dc_variants_hand():
    plane = np.zeros((17, 17), np.uint8)
    plane[0, 1:] = 10    # top
    plane[1:, 0] = 21    # left
    out = np.empty(256, np.int32)
    ip.pred16x16(plane, 1, 1, ip.I16_DC, True, True, True, out)
    assert (out == (160 + 336 + 16) >> 5).all()   # 512 >> 5 = 16
    ip.pred16x16(plane, 1, 1, ip.I16_DC, True, False, False, out)
    assert (out == 21).all()
    ip.pred16x16(plane, 1, 1, ip.I16_DC, False, True, False, out)
    assert (out == 10).all()
    ip.pred16x16(plane, 1, 1, ip.I16_DC, False, False, True, out)
    assert (out == 128).all()


@pytest.mark.parametrize("kind", KINDS)
def test_pred_chroma_matches_reference(kind):
    rng = np.random.default_rng(8 + KINDS.index(kind))
    out = np.empty(64, np.int32)
    clipped = 0
    for trial in range(25):
        for left, top, topleft in AVAIL:
            y0, x0 = 8, 8
            src = edge_case_plane(rng, kind, 24, 24)
            plane = garbage_plane(rng, 24, 24, y0, x0, 8, left, top, topleft, False)
            if left:
                plane[y0:y0 + 8, x0 - 1] = src[y0:y0 + 8, x0 - 1]
            if top:
                plane[y0 - 1, x0:x0 + 8] = src[y0 - 1, x0:x0 + 8]
            if topleft:
                plane[y0 - 1, x0 - 1] = src[y0 - 1, x0 - 1]
            p = neighbours(plane, y0, x0, left, top, topleft, n_top=8, n_left=8)
            for mode in range(4):
                if not allowed(CHROMA_NEEDS[mode], left, top, topleft):
                    continue
                ref = ref_pred_chroma(p, mode, left, top)
                out[:] = -999
                ip.pred_chroma(plane, y0, x0, mode, left, top, topleft, out)
                np.testing.assert_array_equal(out.reshape(8, 8), ref, err_msg=f"mode {mode} {left, top, topleft}")
                if mode == 3:
                    clipped += int(((ref == 0) | (ref == 255)).any())
    if kind == "extreme":
        assert clipped > 0


def test_pred_chroma_dc_per_block_hand():
    # top = [10]*4 + [30]*4, left = [50]*4 + [70]*4
    plane = np.zeros((9, 9), np.uint8)
    plane[0, 1:5], plane[0, 5:9] = 10, 30
    plane[1:5, 0], plane[5:9, 0] = 50, 70
    out = np.empty(64, np.int32)

    def blocks():
        o = out.reshape(8, 8)
        return [int(o[0, 0]), int(o[0, 4]), int(o[4, 0]), int(o[4, 4])]

    ip.pred_chroma(plane, 1, 1, ip.CHROMA_DC, True, True, True, out)
    # (0,0): (40 + 200 + 4) >> 3 = 30; (4,0) top-right: top only = 30; (0,4) bottom-left: left only = 70;
    # (4,4): (120 + 280 + 4) >> 3 = 50
    assert blocks() == [30, 30, 70, 50]
    ip.pred_chroma(plane, 1, 1, ip.CHROMA_DC, False, True, False, out)
    assert blocks() == [10, 30, 10, 30]
    ip.pred_chroma(plane, 1, 1, ip.CHROMA_DC, True, False, False, out)
    assert blocks() == [50, 50, 70, 70]
    ip.pred_chroma(plane, 1, 1, ip.CHROMA_DC, False, False, False, out)
    assert blocks() == [128] * 4


def test_pred_chroma_plane_hand_example():
    # top p[x,-1] = 60 + 4x (x = 0..7), corner 56, left p[-1,y] = 56 - 0 (flat 56)
    # H = sum_{x'=0..3} (x'+1)(p[4+x',-1] - p[2-x',-1]) = sum (x'+1) * 4 (2 + 2x') = 8 * (1+4+9+16) = 240
    # b = (34*240 + 32) >> 6 = 8192 >> 6 = 128, c = 0, a = 16 * (56 + 88) = 2304
    # pred = (2304 + 128 (x - 3) + 16) >> 5 = (1936 + 128 x) >> 5 = 60 + 4x  (1936 = 32*60 + 16)
    plane = np.zeros((9, 9), np.uint8)
    plane[0, 1:] = 60 + 4 * np.arange(8)
    plane[0, 0] = 56
    plane[1:, 0] = 56
    out = np.empty(64, np.int32)
    ip.pred_chroma(plane, 1, 1, ip.CHROMA_PLANE, True, True, True, out)
    np.testing.assert_array_equal(out.reshape(8, 8), np.tile(60 + 4 * np.arange(8), (8, 1)))
