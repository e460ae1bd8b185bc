"""The transpose of the decoder's colour path, for the importance sketch (Numba).

:mod:`fprdo.colour_torch` maps the coded planes to the network's input, ``x = pad(M (Y, up(Cb), up(Cr)) / 255)``
(chroma upsampling ``up``, the BT.601 matrix M, replicate padding to the model's stride). That map is linear
and the same for every probe, so :func:`fprdo.importance` back-propagates each probe through the network only,
to ``g = J_x^T v`` on the model input, and this module applies the transpose of the prefix,

    g_Y = P^T (M[:, 0] . g) / 255,    g_Cb = up^T P^T (M[:, 1] . g) / 255,    g_Cr likewise with M[:, 2]

(P^T folds the padding back onto the edge samples; ``up^T`` is the transpose of the centre-sited 3/4, 1/4
filter with clamped edges), and adds the squares to the running sums in one pass. Doing this with autograd,
one probe at a time, took a third of the sketch's time on a 512x512 photo (temporaries, float64 copies).
Tested against torch's own backward through :mod:`fprdo.colour_torch` (``tests/test_fprdo_importance.py``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from minicodec import colour as _mc

__all__ = ["accumulate_squared_grads", "accumulate_block_forms", "colour_matrix"]


def colour_matrix(gray: bool) -> np.ndarray:
    """The 3x3 Y'CbCr -> R'G'B' matrix the decoder path uses (full range for gray pictures)."""
    return np.ascontiguousarray(_mc.YCBCR_TO_RGB_FULL if gray else _mc.YCBCR_TO_RGB, np.float64)


@njit(cache=True)
def _up_transpose_rows(t, out):
    """out (ch, cw) += up^T along rows of t (H, cw): the transpose of doubling the rows and keeping H."""
    H = t.shape[0]
    ch = out.shape[0]
    for y in range(H):
        k = y >> 1
        other = max(k - 1, 0) if (y & 1) == 0 else min(k + 1, ch - 1)
        for x in range(t.shape[1]):
            v = t[y, x]
            out[k, x] += 0.75 * v
            out[other, x] += 0.25 * v


@njit(cache=True)
def _up_transpose_cols(t, out):
    """out (H, cw) = up^T along the columns of t (H, W). Column 2k + 1 (k + 1/4) and 2k (k - 1/4) give 3/4
    to chroma column k; column 2k + 2 gives it 1/4, and so does 2k - 1; edges clamp, columns >= W are absent."""
    W = t.shape[1]
    cw = out.shape[1]
    for y in range(t.shape[0]):
        row = t[y]
        o = out[y]
        for k in range(cw):
            v = 0.75 * row[2 * k]
            if 2 * k + 1 < W:
                v += 0.75 * row[2 * k + 1]
            if 2 * k + 2 < W:
                v += 0.25 * row[2 * k + 2]
            if k > 0:
                v += 0.25 * row[2 * k - 1]
            o[k] = v
        o[0] += 0.25 * row[0]  # sample 0 at -1/4: its left neighbour clamps to chroma column 0
        if 2 * cw - 1 < W:
            o[cw - 1] += 0.25 * row[2 * cw - 1]  # the last odd sample's right neighbour clamps


@njit(cache=True, inline="always")
def _input_to_planes(m, s, g, y, x):
    """(Y, Cb, Cr) parts of the model-input gradient g[:, y, x]: s * M^T g (M maps Y'CbCr to R'G'B')."""
    g0, g1, g2 = g[0, y, x], g[1, y, x], g[2, y, x]
    return (s * (m[0, 0] * g0 + m[1, 0] * g1 + m[2, 0] * g2),
            s * (m[0, 1] * g0 + m[1, 1] * g1 + m[2, 1] * g2),
            s * (m[0, 2] * g0 + m[1, 2] * g1 + m[2, 2] * g2))


@njit(cache=True, inline="always")
def _plane_grads(g, m, gray, ty, tc, tcol, tch):
    """The gradients on the planes from the model-input gradient g (3, Hp, Wp): luma into ty (H, W), Cb and Cr
    into tch[0], tch[1] (ceil(H/2), ceil(W/2)) unless gray. tc (2, H, W) and tcol (H, cw) are scratch."""
    H, W = ty.shape
    Hp, Wp = g.shape[1], g.shape[2]
    s = 1.0 / 255.0
    for y in range(H):  # the picture itself
        for x in range(W):
            gy, gcb, gcr = _input_to_planes(m, s, g, y, x)
            ty[y, x] = gy
            if not gray:
                tc[0, y, x] = gcb
                tc[1, y, x] = gcr
    for y in range(Hp):  # the padding, below and right of the picture, folds back onto the edge samples
        yy = min(y, H - 1)
        for x in range(W if y < H else 0, Wp):
            xx = min(x, W - 1)
            gy, gcb, gcr = _input_to_planes(m, s, g, y, x)
            ty[yy, xx] += gy
            if not gray:
                tc[0, yy, xx] += gcb
                tc[1, yy, xx] += gcr
    if not gray:
        for p in range(2):
            _up_transpose_cols(tc[p], tcol)
            tch[p, :, :] = 0.0
            _up_transpose_rows(tcol, tch[p])


@njit(cache=True, inline="always")
def _scratch(H, W):
    """The scratch planes of :func:`_plane_grads` for an H x W picture: ty, tc, tcol, tch."""
    ch, cw = (H + 1) // 2, (W + 1) // 2
    return np.empty((H, W)), np.empty((2, H, W)), np.empty((H, cw)), np.empty((2, ch, cw))


@njit(cache=True)
def accumulate_squared_grads(G, m, gray, acc_y, acc_cb, acc_cr):
    """For each probe b: the gradients on the planes from G[b] (3, Hp, Wp), the gradient on the padded model
    input, and acc_* += their squares. acc_y (H, W); acc_cb, acc_cr (ceil(H/2), ceil(W/2)), unused if gray."""
    H, W = acc_y.shape
    ch, cw = (H + 1) // 2, (W + 1) // 2
    ty, tc, tcol, tch = _scratch(H, W)
    for b in range(G.shape[0]):
        _plane_grads(G[b], m, gray, ty, tc, tcol, tch)
        for y in range(H):
            for x in range(W):
                acc_y[y, x] += ty[y, x] * ty[y, x]
        if gray:
            continue
        for p in range(2):
            acc = acc_cb if p == 0 else acc_cr
            for y in range(ch):
                for x in range(cw):
                    acc[y, x] += tch[p, y, x] * tch[p, y, x]


@njit(cache=True, inline="always")
def _add_block_forms(t, forms):
    """forms[by, bx] (16 x 16) += g_b g_b^T for each 4x4 block b of the plane gradient t (raster order in the
    block; samples beyond the plane's edge count as 0)."""
    H, W = t.shape
    g = np.zeros(16)
    for by in range(forms.shape[0]):
        for bx in range(forms.shape[1]):
            for k in range(16):
                y = 4 * by + (k >> 2)
                x = 4 * bx + (k & 3)
                g[k] = t[y, x] if y < H and x < W else 0.0
            f = forms[by, bx]
            for i in range(16):
                gi = g[i]
                for j in range(16):
                    f[i, j] += gi * g[j]


@njit(cache=True)
def accumulate_block_forms(G, m, gray, forms_y, forms_cb, forms_cr, H, W):
    """For each probe b: the plane gradients from G[b] as in :func:`accumulate_squared_grads`, and per 4x4
    block the outer product of the block's gradient with itself added to forms_* (blocks down, blocks
    across, 16, 16): the sketch of the block-diagonal of J^T J (the paper's IDSE). Chroma unused if gray."""
    ty, tc, tcol, tch = _scratch(H, W)
    for b in range(G.shape[0]):
        _plane_grads(G[b], m, gray, ty, tc, tcol, tch)
        _add_block_forms(ty, forms_y)
        if not gray:
            _add_block_forms(tch[0], forms_cb)
            _add_block_forms(tch[1], forms_cr)
