"""Intra prediction (H.264 clause 8.3): 4x4 luma (9 modes), 16x16 luma (4 modes), chroma 8x8 (4 modes).

Every predictor reads its neighbours from a reconstructed plane and writes the prediction into ``out``
(an int32 array, row-major), so the encoder can try modes without touching the picture and the decoder
uses the same code. Availability flags come from the caller (same slice, inside the picture, already
decoded; see :mod:`minicodec.macroblock`).

Mode numbers are the standard's (note the chroma numbering differs from 16x16):
    Intra4x4PredMode:   0 V, 1 H, 2 DC, 3 diagonal down-left, 4 diagonal down-right,
                        5 vertical-right, 6 horizontal-down, 7 vertical-left, 8 horizontal-up
    Intra16x16PredMode: 0 V, 1 H, 2 DC, 3 plane
    intra_chroma_pred_mode: 0 DC, 1 H, 2 V, 3 plane
"""
import numpy as np
from numba import njit

I4_V, I4_H, I4_DC, I4_DDL, I4_DDR, I4_VR, I4_HD, I4_VL, I4_HU = range(9)
I16_V, I16_H, I16_DC, I16_PLANE = range(4)
CHROMA_DC, CHROMA_H, CHROMA_V, CHROMA_PLANE = range(4)

I4_MODE_NAMES = ("V", "H", "DC", "DDL", "DDR", "VR", "HD", "VL", "HU")
I16_MODE_NAMES = ("V", "H", "DC", "Plane")
CHROMA_MODE_NAMES = ("DC", "H", "V", "Plane")


@njit(cache=True, inline="always")
def i4x4_mode_allowed(mode, left, top, topleft):
    """Whether Intra4x4PredMode ``mode`` only uses available neighbours (8.3.1.2)."""
    if mode == I4_V or mode == I4_DDL or mode == I4_VL:
        return top
    if mode == I4_H or mode == I4_HU:
        return left
    if mode == I4_DC:
        return True
    return left and top and topleft  # DDR, VR, HD


@njit(cache=True, inline="always")
def i16x16_mode_allowed(mode, left, top, topleft):
    """Whether Intra16x16PredMode (or, with chroma numbering mapped by the caller) is usable (8.3.3)."""
    if mode == I16_V:
        return top
    if mode == I16_H:
        return left
    if mode == I16_DC:
        return True
    return left and top and topleft


@njit(cache=True, inline="always")
def chroma_mode_allowed(mode, left, top, topleft):
    """Whether intra_chroma_pred_mode is usable (8.3.4)."""
    if mode == CHROMA_DC:
        return True
    if mode == CHROMA_H:
        return left
    if mode == CHROMA_V:
        return top
    return left and top and topleft


@njit(cache=True, inline="always")
def edges4x4(plane, y0, x0, left, top, topright, topleft):
    """The 13 neighbours of the 4x4 block at (y0, x0) as a tuple e (no heap allocation):
    e[3 - y] = p[-1, y] for y = -1..3 and e[5 + x] = p[x, -1] for x = -1..7, so that both index
    families share p[-1, -1] at e[4]. A missing top-right is filled with p[3, -1] (8.3.1.2)."""
    # gathered into scalars then a tuple: no heap allocation on this hot path
    l0 = l1 = l2 = l3 = tl = t0 = t1 = t2 = t3 = np.int32(0)
    if left:
        l0 = np.int32(plane[y0, x0 - 1])
        l1 = np.int32(plane[y0 + 1, x0 - 1])
        l2 = np.int32(plane[y0 + 2, x0 - 1])
        l3 = np.int32(plane[y0 + 3, x0 - 1])
    if top:
        t0 = np.int32(plane[y0 - 1, x0])
        t1 = np.int32(plane[y0 - 1, x0 + 1])
        t2 = np.int32(plane[y0 - 1, x0 + 2])
        t3 = np.int32(plane[y0 - 1, x0 + 3])
    t4 = t5 = t6 = t7 = t3
    if top and topright:
        t4 = np.int32(plane[y0 - 1, x0 + 4])
        t5 = np.int32(plane[y0 - 1, x0 + 5])
        t6 = np.int32(plane[y0 - 1, x0 + 6])
        t7 = np.int32(plane[y0 - 1, x0 + 7])
    if topleft:
        tl = np.int32(plane[y0 - 1, x0 - 1])
    return (l3, l2, l1, l0, tl, t0, t1, t2, t3, t4, t5, t6, t7)


@njit(cache=True)
def edges4x4_into(plane, y0, x0, left, top, topright, topleft, e):
    """:func:`edges4x4` written into the int32 array ``e[0:13]``. The encoder predicts from an array:
    indexing a tuple with a run-time index compiles to a switch with an IndexError exit, and such an
    exit keeps Numba from pruning the reference counting of :func:`pred4x4_edges`' array arguments."""
    (e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[10], e[11],
     e[12]) = edges4x4(plane, y0, x0, left, top, topright, topleft)


@njit(cache=True)
def pred4x4(plane, y0, x0, mode, left, top, topright, topleft, out):
    """Intra_4x4 prediction of the block at (y0, x0) into out[16] (8.3.1.2.1-8.3.1.2.9)."""
    pred4x4_edges(edges4x4(plane, y0, x0, left, top, topright, topleft), mode, left, top, out)


@njit(cache=True)
def pred4x4_edges(e, mode, left, top, out):
    """Intra_4x4 prediction from the 13 neighbours ``e`` of :func:`edges4x4` (a tuple) or
    :func:`edges4x4_into` (an array: the encoder gathers the neighbours once and tries every mode)."""
    if mode == I4_V:
        for y in range(4):
            for x in range(4):
                out[4 * y + x] = e[5 + x]
    elif mode == I4_H:
        for y in range(4):
            for x in range(4):
                out[4 * y + x] = e[3 - y]
    elif mode == I4_DC:
        if left and top:
            s = (e[0] + e[1] + e[2] + e[3] + e[5] + e[6] + e[7] + e[8] + 4) >> 3
        elif left:
            s = (e[0] + e[1] + e[2] + e[3] + 2) >> 2
        elif top:
            s = (e[5] + e[6] + e[7] + e[8] + 2) >> 2
        else:
            s = 128
        for i in range(16):
            out[i] = s
    elif mode == I4_DDL:
        for y in range(4):
            for x in range(4):
                if x == 3 and y == 3:
                    out[15] = (e[11] + 3 * e[12] + 2) >> 2
                else:
                    k = 5 + x + y
                    out[4 * y + x] = (e[k] + 2 * e[k + 1] + e[k + 2] + 2) >> 2
    elif mode == I4_DDR:
        # along the diagonal the edge runs p[-1,3] .. p[-1,0], p[-1,-1], p[0,-1] .. p[3,-1] = e[0..8]
        for y in range(4):
            for x in range(4):
                k = 4 + x - y
                out[4 * y + x] = (e[k - 1] + 2 * e[k] + e[k + 1] + 2) >> 2
    elif mode == I4_VR:
        for y in range(4):
            for x in range(4):
                z = 2 * x - y
                if z >= 0 and (z & 1) == 0:
                    k = 5 + x - (y >> 1)
                    v = (e[k - 1] + e[k] + 1) >> 1
                elif z >= 0:
                    k = 5 + x - (y >> 1)
                    v = (e[k - 2] + 2 * e[k - 1] + e[k] + 2) >> 2
                elif z == -1:
                    v = (e[3] + 2 * e[4] + e[5] + 2) >> 2
                else:
                    # (p[-1, y-1] + 2 p[-1, y-2] + p[-1, y-3] + 2) >> 2
                    v = (e[4 - y] + 2 * e[5 - y] + e[6 - y] + 2) >> 2
                out[4 * y + x] = v
    elif mode == I4_HD:
        for y in range(4):
            for x in range(4):
                z = 2 * y - x
                if z >= 0 and (z & 1) == 0:
                    k = 3 - (y - (x >> 1))  # p[-1, y - (x>>1)]
                    v = (e[k + 1] + e[k] + 1) >> 1
                elif z >= 0:
                    k = 3 - (y - (x >> 1))
                    v = (e[k + 2] + 2 * e[k + 1] + e[k] + 2) >> 2
                elif z == -1:
                    v = (e[3] + 2 * e[4] + e[5] + 2) >> 2
                else:
                    # (p[x-1, -1] + 2 p[x-2, -1] + p[x-3, -1] + 2) >> 2
                    v = (e[4 + x] + 2 * e[3 + x] + e[2 + x] + 2) >> 2
                out[4 * y + x] = v
    elif mode == I4_VL:
        for y in range(4):
            for x in range(4):
                k = 5 + x + (y >> 1)
                if (y & 1) == 0:
                    v = (e[k] + e[k + 1] + 1) >> 1
                else:
                    v = (e[k] + 2 * e[k + 1] + e[k + 2] + 2) >> 2
                out[4 * y + x] = v
    else:  # I4_HU
        for y in range(4):
            for x in range(4):
                z = x + 2 * y
                k = 3 - (y + (x >> 1))  # p[-1, y + (x>>1)]
                if z > 5:
                    v = e[0]
                elif z == 5:
                    v = (e[1] + 3 * e[0] + 2) >> 2
                elif (z & 1) == 0:
                    v = (e[k] + e[k - 1] + 1) >> 1
                else:
                    v = (e[k] + 2 * e[k - 1] + e[k - 2] + 2) >> 2
                out[4 * y + x] = v
    # Numba releases an array after its last use. Using both arrays here, after the branches, puts the two
    # releases in one block, where its refcount pruning pairs them with the increments on entry; otherwise
    # both stay, as atomic operations, on every call. (Returns 13 + 16.)
    return len(e) + len(out)


@njit(cache=True)
def _clip255(v):
    return 0 if v < 0 else (255 if v > 255 else v)


@njit(cache=True)
def pred_square(plane, y0, x0, n, mode, left, top, topleft, out):
    """Intra_16x16 (n = 16, 8.3.3) and chroma (n = 8, 8.3.4) V / H / plane prediction into out[n*n].

    ``mode`` uses the 16x16 numbering (0 V, 1 H, 2 DC, 3 plane). DC is handled here for n = 16 only;
    chroma DC is per 4x4 block (see :func:`pred_chroma`).
    """
    if mode == I16_V:
        for y in range(n):
            for x in range(n):
                out[n * y + x] = plane[y0 - 1, x0 + x]
    elif mode == I16_H:
        for y in range(n):
            v = plane[y0 + y, x0 - 1]
            for x in range(n):
                out[n * y + x] = v
    elif mode == I16_DC:
        s = 0
        if left and top:
            for i in range(n):
                s += np.int32(plane[y0 + i, x0 - 1]) + np.int32(plane[y0 - 1, x0 + i])
            s = (s + n) >> 5 if n == 16 else (s + n) >> 4
        elif left:
            for i in range(n):
                s += plane[y0 + i, x0 - 1]
            s = (s + (n >> 1)) >> (4 if n == 16 else 3)
        elif top:
            for i in range(n):
                s += plane[y0 - 1, x0 + i]
            s = (s + (n >> 1)) >> (4 if n == 16 else 3)
        else:
            s = 128
        for i in range(n * n):
            out[i] = s
    else:
        half = n >> 1
        h = 0
        v = 0
        for i in range(half):
            # p[half + i, -1] - p[half - 2 - i, -1], with p[-1, -1] at i = half - 1
            h += (i + 1) * (np.int32(plane[y0 - 1, x0 + half + i]) - np.int32(plane[y0 - 1, x0 + half - 2 - i]))
            v += (i + 1) * (np.int32(plane[y0 + half + i, x0 - 1]) - np.int32(plane[y0 + half - 2 - i, x0 - 1]))
        a = 16 * (np.int32(plane[y0 + n - 1, x0 - 1]) + np.int32(plane[y0 - 1, x0 + n - 1]))
        if n == 16:
            b = (5 * h + 32) >> 6
            c = (5 * v + 32) >> 6
        else:
            b = (34 * h + 32) >> 6
            c = (34 * v + 32) >> 6
        for y in range(n):
            for x in range(n):
                out[n * y + x] = _clip255((a + b * (x - half + 1) + c * (y - half + 1) + 16) >> 5)


@njit(cache=True)
def pred16x16(plane, y0, x0, mode, left, top, topleft, out):
    """Intra_16x16 prediction (8.3.3.1-8.3.3.4) into out[256]."""
    pred_square(plane, y0, x0, 16, mode, left, top, topleft, out)


@njit(cache=True)
def pred_chroma(plane, y0, x0, mode, left, top, topleft, out):
    """Intra chroma prediction of one 8x8 4:2:0 component (8.3.4) into out[64].

    DC is predicted per 4x4 block (8.3.4.1-8.3.4.3): blocks on the diagonal use both edges, the
    top-right block prefers the top edge, the bottom-left block prefers the left edge.
    """
    if mode == CHROMA_DC:
        for by in range(2):
            for bx in range(2):
                st = 0
                sl = 0
                if top:
                    for i in range(4):
                        st += plane[y0 - 1, x0 + 4 * bx + i]
                if left:
                    for i in range(4):
                        sl += plane[y0 + 4 * by + i, x0 - 1]
                if bx == by:
                    if left and top:
                        s = (st + sl + 4) >> 3
                    elif left:
                        s = (sl + 2) >> 2
                    elif top:
                        s = (st + 2) >> 2
                    else:
                        s = 128
                elif bx == 1:  # top-right block
                    if top:
                        s = (st + 2) >> 2
                    elif left:
                        s = (sl + 2) >> 2
                    else:
                        s = 128
                else:  # bottom-left block
                    if left:
                        s = (sl + 2) >> 2
                    elif top:
                        s = (st + 2) >> 2
                    else:
                        s = 128
                for y in range(4):
                    for x in range(4):
                        out[8 * (4 * by + y) + 4 * bx + x] = s
    elif mode == CHROMA_H:
        pred_square(plane, y0, x0, 8, I16_H, left, top, topleft, out)
    elif mode == CHROMA_V:
        pred_square(plane, y0, x0, 8, I16_V, left, top, topleft, out)
    else:
        pred_square(plane, y0, x0, 8, I16_PLANE, left, top, topleft, out)
