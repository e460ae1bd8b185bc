"""Colour conversion between RGB and Y'CbCr 4:2:0 (BT.601), as signalled in the SPS VUI (E.2.1).

* RGB images are coded in BT.601 *limited* range (Y' 16..235, Cb/Cr 16..240), matrix_coefficients 6.
* Grayscale images are coded as *full-range* luma (Y' = the gray value, chroma 128) with
  video_full_range_flag = 1, so a gray picture round-trips without the 219/255 rescaling.
* Chroma is sited at the centre of each 2x2 luma block (chroma_sample_loc_type 1): downsampling is the
  2x2 mean, upsampling is the matching separable bilinear filter (weights 3/4, 1/4, edges clamped).
  :func:`upsample_chroma` is the definition fprdo differentiates through.

The per-pixel work is done by Numba kernels on contiguous arrays; the wrappers only check shapes and make
inputs contiguous. Each sample is computed in float64 as written in the kernels (matrix rows summed left to
right, R then G then B / Y then Cb then Cr, with no fused multiply-add), then rounded half to even
(``np.rint``) and clipped to 0..255.
"""
import numpy as np
from numba import njit

#: BT.601 limited range, R'G'B' in [0, 255] -> Y'CbCr (ITU-R BT.601-7, 8-bit quantisation)
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB
RGB_TO_YCBCR = np.array([
    [219 * _KR, 219 * _KG, 219 * _KB],
    [-112 * _KR / (1 - _KB), -112 * _KG / (1 - _KB), 112.0],
    [112.0, -112 * _KG / (1 - _KR), -112 * _KB / (1 - _KR)],
]) / 255.0
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)
#: Full-range variant (used when the VUI says video_full_range_flag = 1)
RGB_TO_YCBCR_FULL = np.array([
    [_KR, _KG, _KB],
    [-0.5 * _KR / (1 - _KB), -0.5 * _KG / (1 - _KB), 0.5],
    [0.5, -0.5 * _KG / (1 - _KR), -0.5 * _KB / (1 - _KR)],
])
YCBCR_TO_RGB_FULL = np.linalg.inv(RGB_TO_YCBCR_FULL)


#: Offsets subtracted before the inverse matrix: limited range (Y' 16, Cb/Cr 128) and full range (chroma only).
_INV_OFFSET = YCBCR_OFFSET
_INV_OFFSET_FULL = np.array([0.0, 128.0, 128.0])


@njit(cache=True, inline="always")
def _to_u8(v):
    """rint (half to even) and clip to 0..255, as np.clip(np.rint(v), 0, 255).astype(np.uint8). Branch-free,
    so that the pixel loops around it vectorise."""
    return np.uint8(min(max(np.rint(v), 0.0), 255.0))


@njit(cache=True)
def _rgb_to_yuv420_kernel(rgb, m, off, y, cb, cr):
    """(H, W, 3) C-contiguous RGB -> Y (H, W), Cb/Cr (ceil(H/2), ceil(W/2)) through the matrix ``m`` and
    offsets ``off``.

    Chroma is the 2x2 mean ``0.25 * (((c[2i, 2j] + c[2i+1, 2j]) + c[2i, 2j+1]) + c[2i+1, 2j+1])`` of the float
    per-pixel chroma, an odd last row/column standing in for its missing neighbour. Each row is first split
    into planar float rows: the interleaved R, G, B bytes keep LLVM from vectorising the matrix product,
    the planar rows let it (about 4x faster)."""
    h, w = rgb.shape[0], rgb.shape[1]
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    o0, o1, o2 = off[0], off[1], off[2]
    r = np.empty(w, np.float64)
    g = np.empty(w, np.float64)
    b = np.empty(w, np.float64)
    vb = np.empty((2, w + 1), np.float64)  # per-pixel float Cb / Cr of rows 2i and 2i + 1, and a spare column
    vr = np.empty((2, w + 1), np.float64)
    for i in range(cb.shape[0]):
        for dy in range(2):
            yy = min(2 * i + dy, h - 1)
            src = rgb[yy].reshape(3 * w)
            for x in range(w):
                r[x] = src[3 * x]
                g[x] = src[3 * x + 1]
                b[x] = src[3 * x + 2]
            yrow = y[yy]
            brow = vb[dy]
            rrow = vr[dy]
            for x in range(w):
                yrow[x] = _to_u8(r[x] * m00 + g[x] * m01 + b[x] * m02 + o0)
                brow[x] = r[x] * m10 + g[x] * m11 + b[x] * m12 + o1
                rrow[x] = r[x] * m20 + g[x] * m21 + b[x] * m22 + o2
            brow[w] = brow[w - 1]  # an odd last column stands in for its missing neighbour
            rrow[w] = rrow[w - 1]
        b0, b1, r0, r1 = vb[0], vb[1], vr[0], vr[1]
        cbrow = cb[i]
        crrow = cr[i]
        for j in range(cb.shape[1]):
            cbrow[j] = _to_u8(0.25 * (((b0[2 * j] + b1[2 * j]) + b0[2 * j + 1]) + b1[2 * j + 1]))
            crrow[j] = _to_u8(0.25 * (((r0[2 * j] + r1[2 * j]) + r0[2 * j + 1]) + r1[2 * j + 1]))


@njit(cache=True)
def _upsample_row(c, yy, row):
    """Vertical pass of :func:`upsample_chroma`: luma row ``yy`` from the chroma plane ``c`` into ``row``.
    Luma row 2k sits at chroma coordinate k - 1/4, row 2k + 1 at k + 1/4; the plane's edges are clamped."""
    k = yy >> 1
    k2 = max(k - 1, 0) if (yy & 1) == 0 else min(k + 1, c.shape[0] - 1)
    for j in range(c.shape[1]):
        row[j] = 0.75 * np.float64(c[k, j]) + 0.25 * np.float64(c[k2, j])


@njit(cache=True, inline="always")
def _upsample_cols(row, out):
    """Horizontal pass of :func:`upsample_chroma` on one vertically upsampled row: out[0:2 len(row)], luma
    column 2k at chroma k - 1/4 and 2k + 1 at k + 1/4, the row's ends clamped."""
    last = row.shape[0] - 1
    for k in range(row.shape[0]):
        km = k - 1 if k > 0 else 0
        kp = k + 1 if k < last else last
        out[2 * k] = 0.75 * row[k] + 0.25 * row[km]
        out[2 * k + 1] = 0.75 * row[k] + 0.25 * row[kp]


@njit(cache=True)
def _upsample_kernel(c, out):
    row = np.empty(c.shape[1], np.float64)
    up = np.empty(2 * c.shape[1], np.float64)
    for yy in range(out.shape[0]):
        _upsample_row(c, yy, row)
        _upsample_cols(row, up)
        out[yy, :] = up[:out.shape[1]]


@njit(cache=True)
def _yuv420_to_rgb_kernel(y, cb, cr, m, off, rgb):
    """Y (H, W), Cb/Cr chroma planes -> (H, W, 3) C-contiguous RGB: upsample chroma
    (:func:`upsample_chroma`), subtract ``off`` and apply the matrix ``m``. R, G and B are computed into
    planar rows (vectorised) and interleaved afterwards."""
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    o0, o1, o2 = off[0], off[1], off[2]
    w = y.shape[1]
    row_b = np.empty(cb.shape[1], np.float64)
    row_r = np.empty(cr.shape[1], np.float64)
    up_b = np.empty(2 * cb.shape[1], np.float64)
    up_r = np.empty(2 * cr.shape[1], np.float64)
    r = np.empty(w, np.uint8)
    g = np.empty(w, np.uint8)
    b = np.empty(w, np.uint8)
    for yy in range(y.shape[0]):
        _upsample_row(cb, yy, row_b)
        _upsample_row(cr, yy, row_r)
        _upsample_cols(row_b, up_b)
        _upsample_cols(row_r, up_r)
        yrow = y[yy]
        for xx in range(w):
            p = np.float64(yrow[xx]) - o0
            q = up_b[xx] - o1
            s = up_r[xx] - o2
            r[xx] = _to_u8(p * m00 + q * m01 + s * m02)
            g[xx] = _to_u8(p * m10 + q * m11 + s * m12)
            b[xx] = _to_u8(p * m20 + q * m21 + s * m22)
        out = rgb[yy].reshape(3 * w)
        for xx in range(w):
            out[3 * xx] = r[xx]
            out[3 * xx + 1] = g[xx]
            out[3 * xx + 2] = b[xx]


@njit(cache=True)
def _downsample_kernel(c, out):
    h, w = c.shape
    for i in range(out.shape[0]):
        y0 = 2 * i
        y1 = min(y0 + 1, h - 1)
        for j in range(out.shape[1]):
            x0 = 2 * j
            x1 = min(x0 + 1, w - 1)
            out[i, j] = 0.25 * (c[y0, x0] + c[y1, x0] + c[y0, x1] + c[y1, x1])


def downsample_chroma(c):
    """2x2 mean (centre-sited 4:2:0) as float64; odd sizes replicate the last row/column first."""
    c = np.ascontiguousarray(c, np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"plane must be a non-empty 2-D array, got shape {c.shape}")
    out = np.empty(((c.shape[0] + 1) // 2, (c.shape[1] + 1) // 2), np.float64)
    _downsample_kernel(c, out)
    return out


def upsample_chroma(c, height, width):
    """Centre-sited bilinear 4:2:0 -> 4:4:4 upsampling to (height, width), as float64.

    Separable, rows first: luma sample 2k sits at chroma coordinate k - 1/4 and 2k + 1 at k + 1/4, so
    ``up[2k] = 0.75 c[k] + 0.25 c[k - 1]`` and ``up[2k + 1] = 0.75 c[k] + 0.25 c[k + 1]`` with the plane's edges
    clamped. At most twice the chroma size is produced."""
    c = np.ascontiguousarray(c, np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"chroma plane must be a non-empty 2-D array, got shape {c.shape}")
    out = np.empty((min(height, 2 * c.shape[0]), min(width, 2 * c.shape[1])), np.float64)
    _upsample_kernel(c, out)
    return out


def _plane(a, name):
    a = np.ascontiguousarray(a)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D plane, got shape {a.shape}")
    return a


def rgb_to_yuv420(rgb):
    """(H, W, 3) uint8 RGB -> (Y, Cb, Cr) uint8 planes, BT.601 limited range, chroma ceil(H/2) x ceil(W/2)."""
    x = np.ascontiguousarray(rgb)
    if x.dtype != np.uint8:
        x = x.astype(np.float64)
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"rgb must be a non-empty (H, W, 3) array, got shape {x.shape}")
    h, w = x.shape[:2]
    y = np.empty((h, w), np.uint8)
    cb = np.empty(((h + 1) // 2, (w + 1) // 2), np.uint8)
    cr = np.empty_like(cb)
    _rgb_to_yuv420_kernel(x, RGB_TO_YCBCR, YCBCR_OFFSET, y, cb, cr)
    return y, cb, cr


def yuv420_to_rgb(y, cb, cr, full_range=False):
    """(Y, Cb, Cr) uint8 planes -> (H, W, 3) uint8 RGB (BT.601; limited range unless full_range)."""
    y, cb, cr = _plane(y, "y"), _plane(cb, "cb"), _plane(cr, "cr")
    h, w = y.shape
    for c, name in ((cb, "cb"), (cr, "cr")):
        if 2 * c.shape[0] < h or 2 * c.shape[1] < w:
            raise ValueError(f"{name} of shape {c.shape} is too small for luma {y.shape}")
    rgb = np.empty((h, w, 3), np.uint8)
    if full_range:
        _yuv420_to_rgb_kernel(y, cb, cr, YCBCR_TO_RGB_FULL, _INV_OFFSET_FULL, rgb)
    else:
        _yuv420_to_rgb_kernel(y, cb, cr, YCBCR_TO_RGB, _INV_OFFSET, rgb)
    return rgb
