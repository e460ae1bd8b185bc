"""Colour conversion between RGB and Y'CbCr 4:2:0 (BT.601), as signalled in the SPS VUI (E.2.1).

* RGB images are coded in BT.601 *limited* range (Y' 16..235, Cb/Cr 16..240), matrix_coefficients 6.
* Grayscale images are coded as *full-range* luma (Y' = the gray value, chroma 128) with
  video_full_range_flag = 1, so a gray picture round-trips without the 219/255 rescaling.
* Chroma is sited at the centre of each 2x2 luma block (chroma_sample_loc_type 1): downsampling is the
  2x2 mean, upsampling is the matching separable bilinear filter (weights 3/4, 1/4, edges clamped).
  :func:`upsample_chroma` is the definition fprdo differentiates through.
"""
import numpy as np

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


def _to_u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def downsample_chroma(c):
    """2x2 mean (centre-sited 4:2:0); odd sizes replicate the last row/column first."""
    h, w = c.shape
    c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2])


def _up1(c, n, axis):
    # luma sample 2k sits at chroma coordinate k - 1/4, luma 2k + 1 at k + 1/4
    c = np.moveaxis(c, axis, 0)
    prev = np.concatenate([c[:1], c[:-1]])
    nxt = np.concatenate([c[1:], c[-1:]])
    out = np.empty((2 * c.shape[0],) + c.shape[1:], np.float64)
    out[0::2] = 0.75 * c + 0.25 * prev
    out[1::2] = 0.75 * c + 0.25 * nxt
    return np.moveaxis(out[:n], 0, axis)


def upsample_chroma(c, height, width):
    """Centre-sited bilinear 4:2:0 -> 4:4:4 upsampling to (height, width), as float64."""
    return _up1(_up1(np.asarray(c, np.float64), height, 0), width, 1)


def rgb_to_yuv420(rgb):
    """(H, W, 3) uint8 RGB -> (Y, Cb, Cr) uint8 planes, BT.601 limited range, chroma ceil(H/2) x ceil(W/2)."""
    x = np.asarray(rgb, np.float64)
    ycc = x @ RGB_TO_YCBCR.T + YCBCR_OFFSET
    return _to_u8(ycc[..., 0]), _to_u8(downsample_chroma(ycc[..., 1])), _to_u8(downsample_chroma(ycc[..., 2]))


def yuv420_to_rgb(y, cb, cr, full_range=False):
    """(Y, Cb, Cr) uint8 planes -> (H, W, 3) uint8 RGB (BT.601; limited range unless full_range)."""
    h, w = y.shape
    ycc = np.stack([np.asarray(y, np.float64), upsample_chroma(cb, h, w), upsample_chroma(cr, h, w)], -1)
    if full_range:
        ycc[..., 1:] -= 128.0
        return _to_u8(ycc @ YCBCR_TO_RGB_FULL.T)
    return _to_u8((ycc - YCBCR_OFFSET) @ YCBCR_TO_RGB.T)
