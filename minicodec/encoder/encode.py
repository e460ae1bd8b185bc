"""The encoder's top level: validate inputs, convert colour, build parameter sets, code each slice.

Per-macroblock work happens in :func:`minicodec.encoder.analyse.encode_slice` (Numba); this layer only
checks arguments, prepares planes and weights, and assembles NAL units.
"""
import functools
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .. import bitstream as bs
from ..colour import rgb_to_yuv420, yuv420_to_rgb
from ..macroblock import MB_KIND_NAMES
from ..nal import NAL_IDR, NAL_PPS, NAL_SEI, NAL_SPS, nal_unit
from ..params import PPS, SPS, BitWriter, SliceHeader
from ..picture import Picture
from ..sei import sei_rbsp, size_message
from .ratecontrol import importance_qp_offsets, variance_qp_offsets
from .analyse import (MAX_CANDIDATE_BYTES, N_OPTS, OPT_EFFORT, OPT_FORCE_CHROMA, OPT_FORCE_I4, OPT_FORCE_I16,
                      OPT_FORCE_KIND, OPT_RDOQ, encode_slice)

MAX_WEIGHT = 1e30
RDOQ_LEVELS = {False: 0, "block": 1, True: 2}
EFFORTS = {"fast": 0, "medium": 1, "full": 2}
_KINDS = {None: -1, "I4x4": 0, "I_NxN": 0, "I16x16": 1, "I_16x16": 1, "I_PCM": 2, "PCM": 2}
_OPTIONS = {"deblock", "slices", "force_mb_type", "force_i4x4_mode", "force_i16x16_mode", "force_chroma_mode",
            "effort", "lambda_factor", "alpha_offset", "beta_offset", "rdoq", "aq", "aq_strength",
            "aq_range"}


@dataclass
class Encoded:
    """An encoded picture: the Annex B stream, what any decoder reconstructs from it, and statistics.

    ``planes`` is exactly a standard decoder's output (Y, Cb, Cr after SPS cropping, which rounds odd
    sizes up to even); ``recon`` is the same picture in the input's form and size, which is what
    :func:`minicodec.decode` returns (odd sizes are stated in an SEI message, :mod:`minicodec.sei`).
    Per-macroblock arrays have shape (macroblock rows, macroblock columns).
    """
    data: bytes
    recon: object
    planes: tuple
    width: int
    height: int
    mb_type: np.ndarray       # 0 I4x4, 1 I16x16, 2 I_PCM (names in MB_TYPE_NAMES)
    mb_qp: np.ndarray         # QPY of each macroblock as coded
    mb_bits: np.ndarray       # bits of each macroblock_layer()
    mb_distortion: np.ndarray  # weighted SSE of each macroblock (luma + chroma)
    mb_i16x16_mode: np.ndarray
    mb_chroma_mode: np.ndarray
    mb_i4x4_modes: np.ndarray  # (rows, cols, 16) by luma4x4BlkIdx, -1 where not I4x4
    MB_TYPE_NAMES: tuple = field(default=MB_KIND_NAMES, repr=False)

    @property
    def bits(self):
        """Size of the whole stream in bits (headers included)."""
        return 8 * len(self.data)

    @property
    def bpp(self):
        return self.bits / (self.width * self.height)

    def save(self, path):
        """Write the .264 stream atomically (a temporary file renamed into place)."""
        path = os.fspath(path)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".minicodec-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


# ----------------------------------------------------------------------------- validation

def _check_plane(a, name):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")


def _image_planes(image):
    """-> (Y, Cb, Cr, form, full_range)."""
    if isinstance(image, (tuple, list)):
        if len(image) != 3:
            raise ValueError(f"image as planes must be a tuple (Y, Cb, Cr), got {len(image)} items")
        Y, Cb, Cr = image
        for a, n in ((Y, "image[0] (Y)"), (Cb, "image[1] (Cb)"), (Cr, "image[2] (Cr)")):
            _check_plane(a, n)
        H, W = Y.shape
        cshape = ((H + 1) // 2, (W + 1) // 2)  # 4:2:0; odd sizes round up, as rgb_to_yuv420 does
        if Cb.shape != cshape or Cr.shape != cshape:
            raise ValueError(f"image chroma planes must be {cshape} for luma {Y.shape}, "
                             f"got {Cb.shape} and {Cr.shape}")
        return Y, Cb, Cr, "yuv", False
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array or a (Y, Cb, Cr) tuple, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"image is empty (shape {image.shape})")
        Y, Cb, Cr = rgb_to_yuv420(image)
        return Y, Cb, Cr, "rgb", False
    if image.ndim == 2:
        if image.size == 0:
            raise ValueError(f"image is empty (shape {image.shape})")
        H, W = image.shape
        c = np.full(((H + 1) // 2, (W + 1) // 2), 128, np.uint8)
        return image, c, c.copy(), "gray", True
    raise ValueError(f"image must be (H, W, 3) RGB or (H, W) gray, got shape {image.shape}")


def _qp_map(qp, mb_h, mb_w):
    if isinstance(qp, (bool, np.bool_)):
        raise TypeError("qp must be an int or an integer array, got bool")
    if isinstance(qp, (int, np.integer)):
        if not 0 <= int(qp) <= 51:
            raise ValueError(f"qp must be in 0..51, got {qp}")
        return np.full(mb_h * mb_w, int(qp), np.int32)
    if isinstance(qp, np.ndarray):
        if not np.issubdtype(qp.dtype, np.integer):
            raise TypeError(f"qp array must have an integer dtype, got {qp.dtype}")
        if qp.shape != (mb_h, mb_w):
            raise ValueError(f"qp array must have shape (ceil(H/16), ceil(W/16)) = {(mb_h, mb_w)}, got {qp.shape}")
        if qp.min() < 0 or qp.max() > 51:
            raise ValueError(f"qp values must be in 0..51, got {qp.min()}..{qp.max()}")
        return qp.astype(np.int32).ravel()
    raise TypeError(f"qp must be an int or an integer array, got {type(qp).__name__}")


_EXPONENT_BITS = np.int64(0x7FF0000000000000)  # all ones in a float64's exponent: NaN or infinity
_MINUS_ZERO_BITS = np.int64(-2 ** 63)           # -0.0: the sign bit alone


@njit(cache=True, inline="always")
def _scan_row(row, bad, negative, top):
    """Fold a contiguous 1-D run of float64 weights into the checks, on their bit patterns read as int64:
    ``bad`` 1 after a NaN or an infinity (exponent bits all ones), ``negative`` 1 after a value below 0 (sign
    bit set, -0.0 excepted), ``top`` the largest pattern. For finite maps with no negative value (the only
    ones encode accepts) the order of the patterns is the order of the values, so ``top`` is the pattern of
    the maximum. Integer reductions only: they vectorise, where a float max or sum must run in order."""
    bits = row.view(np.int64)
    for x in range(row.shape[0]):
        b = bits[x]
        bad |= (b & _EXPONENT_BITS) == _EXPONENT_BITS
        negative |= (b < 0) & (b != _MINUS_ZERO_BITS)
        top = max(top, b)
    return bad, negative, top


@njit(cache=True, inline="always")
def _top_value(top):
    """The float64 whose bit pattern is ``top``."""
    return np.array([top]).view(np.float64)[0]


@njit(cache=True)
def _scan_weights(w):
    """One pass over a weight map (1-D, contiguous): (any NaN/inf, any negative, max; the max is meaningful
    only when neither of the first two holds)."""
    bad, negative, top = _scan_row(w, 0, 0, np.int64(0))
    return bad != 0, negative != 0, _top_value(top)


@njit(cache=True)
def _luma_weight_maps(w, hp, wp):
    """One pass over a luma weight map (H, W): the checks of :func:`_scan_weights` and the kernels' maps,
    zero-padded: the map itself to (hp, wp) and its 2x2 mean to (hp / 2, wp / 2), computed exactly as
    :func:`minicodec.colour.downsample_chroma` does (odd sizes replicate the last row / column). Each pair of
    rows is read once, while it is in cache. A map of whole macroblocks is used as it is (not copied: the
    kernels only read weights)."""
    h, wd = w.shape
    aligned = h == hp and wd == wp
    wy = w if aligned else np.zeros((hp, wp))
    wc = np.zeros((hp // 2, wp // 2))
    bad = negative = 0
    top = np.int64(0)
    for y in range(h):
        row = w[y]
        bad, negative, top = _scan_row(row, bad, negative, top)
        if not aligned:
            wy[y, :wd] = row
        if y & 1 or y == h - 1:
            i = y >> 1
            r0 = w[2 * i]
            r1 = w[min(2 * i + 1, h - 1)]
            out = wc[i]
            for j in range(wd >> 1):  # interior pairs of columns: no clamping, so the loop vectorises
                out[j] = 0.25 * (r0[2 * j] + r1[2 * j] + r0[2 * j + 1] + r1[2 * j + 1])
            if wd & 1:
                j = wd >> 1
                out[j] = 0.25 * (r0[2 * j] + r1[2 * j] + r0[2 * j] + r1[2 * j])
    return bad != 0, negative != 0, _top_value(top), wy, wc


def _weight_array(w, shape, name):
    """Type and shape checks; a float64 C-contiguous view or copy (no copy for float64 maps)."""
    if isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, (bool, np.bool_)):
        w = np.full(shape, float(w))
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{name} must be a float array, got {type(w).__name__}")
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)) or w.dtype == np.bool_:
        raise TypeError(f"{name} must be a real array, got dtype {w.dtype}")
    if w.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {w.shape}")
    return np.ascontiguousarray(w, np.float64)


def _check_values(bad_value, negative, w_max, name):
    if bad_value:
        raise ValueError(f"{name} contains NaN or infinity")
    if negative:
        raise ValueError(f"{name} contains negative values")
    if w_max > MAX_WEIGHT:
        raise ValueError(f"{name} has values above {MAX_WEIGHT:g}: costs would overflow; rescale the map "
                         "(only ratios to lambda matter)")


def _weight_plane(w, shape, name):
    w = _weight_array(w, shape, name)  # the kernels only read weights
    _check_values(*_scan_weights(w.ravel()), name)
    return w


@functools.lru_cache(maxsize=4)
def _uniform_weights(h, w, hp, wp):
    """w = 1 on the picture, 0 on the padding, already padded to (hp, wp) luma samples. Cached (the kernels
    only read weights): allocating and filling megabytes of ones took about 4% of a fast 512x512 encode."""
    planes = []
    for (a, b, c, d) in ((h, w, hp, wp), ((h + 1) // 2, (w + 1) // 2, hp // 2, wp // 2)):
        p = np.zeros((c, d))
        p[:a, :b] = 1.0
        planes.append(p)
    return planes[0], planes[1], planes[1]


def _weights(weights, Y, Cb, mb_h, mb_w):
    """Checked weight maps zero-padded to whole macroblocks (Y, Cb, Cr) and the luma map as given. A luma
    map alone gives one chroma map (2x2 means) for both chroma planes: the kernels only read weights."""
    hp, wp = 16 * mb_h, 16 * mb_w
    if isinstance(weights, (tuple, list)):
        if len(weights) != 3:
            raise ValueError(f"weights as a tuple must hold three per-plane maps, got {len(weights)}")
        wy = _weight_plane(weights[0], Y.shape, "weights[0] (Y)")
        wcb = _weight_plane(weights[1], Cb.shape, "weights[1] (Cb)")
        wcr = _weight_plane(weights[2], Cb.shape, "weights[2] (Cr)")
        return (_pad(wy, hp, wp, 0.0), _pad(wcb, hp // 2, wp // 2, 0.0), _pad(wcr, hp // 2, wp // 2, 0.0)), wy
    wy = _weight_array(weights, Y.shape, "weights")
    bad_value, negative, w_max, wy_padded, wc_padded = _luma_weight_maps(wy, hp, wp)
    _check_values(bad_value, negative, w_max, "weights")
    return (wy_padded, wc_padded, wc_padded), wy


_NO_TERMS = np.zeros((1, 1, 0, 16))  # rank 0: a plane without terms when another plane has some


@njit(cache=True)
def _terms_residual(q, w, h, wd, wres):
    """One pass over the block terms q (nby, nbx, rank, 16) of a plane of h x wd samples and its padded weights
    w: ``wres`` = w - sum_i q_ip^2, the diagonal the kernels add the terms to. Returns 1 if q holds a NaN, an
    infinity or a value whose square overflows, 2 if a residual is negative beyond rounding (M_b not positive
    semi-definite), else 0. Indexed, not sliced: a view per block costs more than the block's work."""
    nby, nbx, r = q.shape[0], q.shape[1], q.shape[2]
    wres[:, :] = w
    c = np.zeros(16)
    for by in range(nby):
        for bx in range(nbx):
            for k in range(16):
                c[k] = 0.0
            for i in range(r):
                for k in range(16):
                    c[k] += q[by, bx, i, k] * q[by, bx, i, k]
            ok = True
            for k in range(16):
                ok &= c[k] < np.inf  # false after a NaN, an infinity or an overflow
            if not ok:
                return 1
            for k in range(16):
                y = 4 * by + (k >> 2)
                x = 4 * bx + (k & 3)
                if y < h and x < wd:
                    res = w[y, x] - c[k]
                    if res < 0.0:
                        if res < -1e-9 * max(w[y, x], 1.0):
                            return 2
                        res = 0.0
                    wres[y, x] = res
    return 0


def _block_terms_plane(q, shape, w, name):
    """Checked block terms of one plane (``shape`` its samples, ``w`` its padded weights) -> (the kernels'
    terms, w - diag(Q^T Q)). The kernels read (blocks, blocks, rank, 16) with the rank a multiple of 4 and
    nothing on samples outside the picture; q is used as it is when it already has that form (no copy)."""
    nby, nbx = -(-shape[0] // 4), -(-shape[1] // 4)
    if not isinstance(q, np.ndarray):
        raise TypeError(f"{name} must be a float array, got {type(q).__name__}")
    if not (np.issubdtype(q.dtype, np.floating) or np.issubdtype(q.dtype, np.integer)) or q.dtype == np.bool_:
        raise TypeError(f"{name} must be a real array, got dtype {q.dtype}")
    if q.ndim != 4 or q.shape[:2] != (nby, nbx) or q.shape[3] != 16 or not 1 <= q.shape[2] <= 16:
        raise ValueError(f"{name} must have shape (ceil(H/4), ceil(W/4), rank, 16) = ({nby}, {nbx}, rank, 16) "
                         f"with rank 1..16, got {q.shape}")
    r = q.shape[2]
    q = np.ascontiguousarray(q, np.float64)
    # samples beyond the picture's bottom / right edge (in the last row / column of blocks) carry nothing
    rows, cols = shape[0] - 4 * (nby - 1), shape[1] - 4 * (nbx - 1)  # 1..4 samples of the last blocks
    out_rows, out_cols = np.zeros(16, bool), np.zeros(16, bool)
    out_rows.reshape(4, 4)[rows:, :] = True
    out_cols.reshape(4, 4)[:, cols:] = True
    dirty = (rows < 4 and q[-1, :, :, out_rows].any()) or (cols < 4 and q[:, -1, :, out_cols].any())
    if r % 4 or dirty:
        padded = np.zeros((nby, nbx, -(-r // 4) * 4, 16))
        padded[:, :, :r] = q
        q = padded
        q[-1, :, :, out_rows] = 0.0
        q[:, -1, :, out_cols] = 0.0
    wres = np.empty_like(w)
    status = _terms_residual(q, w, shape[0], shape[1], wres)
    if status == 1:
        raise ValueError(f"{name} contains NaN, infinity or values whose squares overflow")
    if status == 2:
        raise ValueError(f"{name}: the diagonal of a block's Q^T Q exceeds the weights (sum_i q_ip^2 > w_p "
                         "at some sample); the block form would not be positive semi-definite")
    return q, wres


def _block_terms(block_terms, w_padded, shapes):
    """-> (terms per plane, the weights the distortion kernels read per plane): M_b = diag(w) + Q^T Q -
    diag(Q^T Q), so the kernels get w - diag(Q^T Q), which must not be negative (M_b positive semi-definite)."""
    if isinstance(block_terms, np.ndarray):
        terms = [block_terms, None, None]
    elif isinstance(block_terms, (tuple, list)) and len(block_terms) == 3:
        terms = list(block_terms)
    else:
        raise TypeError("block_terms must be an array (luma) or a tuple of three arrays (Y, Cb, Cr, None for "
                        f"none), got {type(block_terms).__name__}")
    qs, ws = [], []
    for k, (q, w, shape) in enumerate(zip(terms, w_padded, shapes)):
        if q is None:
            qs.append(_NO_TERMS)
            ws.append(w)
            continue
        name = "block_terms" if isinstance(block_terms, np.ndarray) else f"block_terms[{k}]"
        qk, wk = _block_terms_plane(q, shape, w, name)
        qs.append(qk)
        ws.append(wk)
    return qs, ws


def _pad(a, h, w, value=None):
    ph, pw = h - a.shape[0], w - a.shape[1]
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(a)  # no copy when already contiguous (the kernels only read it)
    if value is None:
        return np.ascontiguousarray(np.pad(a, ((0, ph), (0, pw)), mode="edge"))
    out = np.full((h, w), value, a.dtype)
    out[:a.shape[0], :a.shape[1]] = a
    return out


def _is_real(v):
    """A Python or numpy real number (not a bool)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _mode_option(v, name, n):
    if v is None:
        return -1
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not 0 <= v < n:
        raise ValueError(f"{name} must be None or an int in 0..{n - 1}, got {v!r}")
    return int(v)


# ----------------------------------------------------------------------------- encode

def encode(image, qp=28, weights=None, block_terms=None, **options):
    """Encode one picture as a Constrained Baseline H.264 stream (SPS, PPS, IDR I slices; for an odd width
    or height an SEI message with the true size between the PPS and the slices, see :mod:`minicodec.sei`).

    image    (H, W, 3) uint8 RGB, (H, W) uint8 gray, or a (Y, Cb, Cr) tuple of uint8 4:2:0 planes.
    qp       0..51, or an int array (ceil(H/16), ceil(W/16)) of per-macroblock QPs (mb_qp_delta).
    weights  None (SSE), a non-negative (H, W) luma importance map (chroma maps by 2x2 averaging),
             or a tuple of three per-plane maps; every RD decision minimises sum w (x - xhat)^2 + lambda R.
    block_terms  None, or the FP-RDO paper's block-local IDSE beyond the diagonal: per plane an array
             (ceil(h/4), ceil(w/4), rank, 16) of vectors q_bi (raster order in the 4x4 block b); the distortion
             of block b becomes e^T M_b e with M_b = diag(w_b) + Q_b^T Q_b - diag(Q_b^T Q_b), i.e. the weights
             stay its diagonal and the vectors add the cross terms. One array (luma) or a tuple (Y, Cb, Cr),
             None for a plane without. Needs weights with w_p >= sum_i q_ip^2 (M_b positive semi-definite).
    options  deblock=True, slices=1, effort="fast"|"medium"|"full", rdoq=None|True|False|"block" (default: full RDOQ for medium
             and full, none for fast; "block": only the keep-or-drop decision per block), lambda_factor=0.85,
             alpha_offset=0, beta_offset=0 (slice_alpha_c0_offset_div2 / slice_beta_offset_div2, -6..6),
             force_mb_type=None|"I4x4"|"I16x16"|"I_PCM", force_i4x4_mode=None|0..8,
             force_i16x16_mode=None|0..3, force_chroma_mode=None|0..3 (a forced mode that needs
             unavailable neighbours falls back to DC),
             aq=None|"weights"|"variance": a per-macroblock QP map added to qp, from the weights
             (dQP = round(-3 log2(mean_b(w) / mean(w))), each macroblock's lambda times mean_b(w) / mean(w)
             so the objective is unchanged) or from x264's variance AQ (aq_strength=1.0); aq_range=(lo, hi)
             clips the offsets (default (-6, 6) for weights, none for variance, as x264).
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    Y, Cb, Cr, form, full_range = _image_planes(image)
    H, W = Y.shape
    mb_w, mb_h = (W + 15) // 16, (H + 15) // 16
    nmb = mb_w * mb_h
    qp_map = _qp_map(qp, mb_h, mb_w)
    if weights is not None:
        (wY, wCb, wCr), w_luma = _weights(weights, Y, Cb, mb_h, mb_w)

    deblock = options.get("deblock", True)
    if not isinstance(deblock, (bool, np.bool_)):
        raise TypeError(f"deblock must be a bool, got {type(deblock).__name__}")
    slices = options.get("slices", 1)
    if isinstance(slices, bool) or not isinstance(slices, (int, np.integer)) or not 1 <= slices <= nmb:
        raise ValueError(f"slices must be an int in 1..{nmb} (the number of macroblocks), got {slices!r}")
    effort = options.get("effort", "fast")
    if not isinstance(effort, str) or effort not in EFFORTS:
        raise ValueError(f"effort must be one of {tuple(EFFORTS)}, got {effort!r}")
    lam_factor = options.get("lambda_factor", 0.85)
    if not _is_real(lam_factor) or not np.isfinite(lam_factor) or lam_factor < 0:
        raise ValueError(f"lambda_factor must be a finite non-negative number, got {lam_factor!r}")
    alpha = options.get("alpha_offset", 0)
    beta = options.get("beta_offset", 0)
    for v, n in ((alpha, "alpha_offset"), (beta, "beta_offset")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not -6 <= v <= 6:
            raise ValueError(f"{n} must be an int in -6..6, got {v!r}")
    kind = options.get("force_mb_type")
    if not (kind is None or isinstance(kind, str)) or kind not in _KINDS:
        raise ValueError(f"force_mb_type must be None, 'I4x4', 'I16x16' or 'I_PCM', got {kind!r}")
    opts = np.zeros(N_OPTS, np.int64)
    opts[OPT_FORCE_KIND] = _KINDS[kind]
    opts[OPT_FORCE_I4] = _mode_option(options.get("force_i4x4_mode"), "force_i4x4_mode", 9)
    opts[OPT_FORCE_I16] = _mode_option(options.get("force_i16x16_mode"), "force_i16x16_mode", 4)
    opts[OPT_FORCE_CHROMA] = _mode_option(options.get("force_chroma_mode"), "force_chroma_mode", 4)
    opts[OPT_EFFORT] = EFFORTS[effort]
    rdoq = options.get("rdoq")
    if rdoq is None:
        # RDOQ costs the fast path half its speed (even keep-or-drop alone costs a third), so fast leaves
        # quantisation to the dead zone, with or without weights: weights then cost no time there
        rdoq = effort != "fast"
    if not isinstance(rdoq, (bool, np.bool_, str)) or rdoq not in RDOQ_LEVELS:
        raise ValueError(f"rdoq must be None, True, False or 'block', got {rdoq!r}")
    opts[OPT_RDOQ] = RDOQ_LEVELS[bool(rdoq) if not isinstance(rdoq, str) else rdoq]

    # planes padded to whole macroblocks; padding carries no weight
    srcY = _pad(Y, 16 * mb_h, 16 * mb_w)
    srcCb = _pad(Cb, 8 * mb_h, 8 * mb_w)
    srcCr = _pad(Cr, 8 * mb_h, 8 * mb_w)
    if isinstance(block_terms, (tuple, list)) and len(block_terms) == 3 and all(q is None for q in block_terms):
        block_terms = None  # no plane has terms: the plain kernels
    if weights is None:
        if block_terms is not None:
            raise ValueError("block_terms needs weights (their diagonal)")
        wY, wCb, wCr = _uniform_weights(H, W, 16 * mb_h, 16 * mb_w)
    if block_terms is None:  # None: the kernels compile without the terms' code (rdo.with_terms)
        qY = qCb = qCr = None
        dY, dCb, dCr = wY, wCb, wCr
    else:
        (qY, qCb, qCr), (dY, dCb, dCr) = _block_terms(block_terms, (wY, wCb, wCr), (Y.shape, Cb.shape, Cb.shape))

    # ---- adaptive quantisation: a per-macroblock QP map on top of qp
    aq = options.get("aq")
    lam_mult = np.ones(nmb)  # per-macroblock lambda multiplier (aq='weights')
    if aq not in (None, "weights", "variance"):
        raise ValueError(f"aq must be None, 'weights' or 'variance', got {aq!r}")
    strength = options.get("aq_strength", 1.0)
    if not _is_real(strength) or not np.isfinite(strength) \
            or strength < 0:
        raise ValueError(f"aq_strength must be a finite non-negative number, got {strength!r}")
    aq_range = options.get("aq_range")
    if aq_range is None:  # weights: +-6; variance: x264's offsets, unclipped
        aq_range = (-6, 6) if aq != "variance" else (-51, 51)
    if (not isinstance(aq_range, (tuple, list)) or len(aq_range) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in aq_range)
            or not -51 <= aq_range[0] <= 0 <= aq_range[1] <= 51):
        raise ValueError(f"aq_range must be a pair (lo, hi) of ints with -51 <= lo <= 0 <= hi <= 51, got {aq_range!r}")
    if aq == "weights":
        if weights is None:
            raise ValueError("aq='weights' needs weights")
        dqp, mult = importance_qp_offsets(w_luma, mb_h, mb_w, *aq_range)
        qp_map = np.clip(qp_map + dqp.ravel(), 0, 51).astype(np.int32)
        lam_mult = mult.ravel()
    elif aq == "variance":
        off = np.clip(variance_qp_offsets(srcY, srcCb, srcCr, mb_h, mb_w, float(strength)), *aq_range)
        qp_map = np.clip(np.rint(qp_map + off.ravel()), 0, 51).astype(np.int32)

    W2, H2 = W + (W & 1), H + (H & 1)
    sps = SPS(mb_width=mb_w, mb_height=mb_h, crop_right=16 * mb_w - W2, crop_bottom=16 * mb_h - H2,
              full_range=full_range)
    base_qp = int(qp_map[0])
    pps = PPS(pic_init_qp=base_qp)
    pic = Picture(mb_w, mb_h, pps.chroma_qp_index_offset)
    mb_bits = np.zeros(nmb, np.int64)
    mb_dist = np.zeros(nmb, np.float64)
    mb_i16 = np.full(nmb, -1, np.int32)
    mb_c = np.full(nmb, -1, np.int32)
    mb_i4 = np.full((nmb, 16), -1, np.int32)

    out = [nal_unit(NAL_SPS, 3, sps.write()), nal_unit(NAL_PPS, 3, pps.write())]
    if (W | H) & 1:  # cropping can only say W2 x H2; SEI precedes the slices of its access unit (7.4.1.2.3)
        out.append(nal_unit(NAL_SEI, 0, sei_rbsp([size_message(W, H)])))
    bounds = [nmb * k // slices for k in range(slices + 1)]
    idc = 0 if deblock else 1
    for s in range(slices):
        first, last = bounds[s], bounds[s + 1]
        slice_qp = int(qp_map[first])
        hdr = SliceHeader(first_mb_in_slice=first, idr=True, idr_pic_id=0, slice_qp=slice_qp,
                          disable_deblocking_filter_idc=idc, slice_alpha_c0_offset_div2=int(alpha),
                          slice_beta_offset_div2=int(beta))
        # 400 bytes per macroblock at most (MAX_MB_BITS, or I_PCM) + room for one speculative candidate
        w = BitWriter(64 + 420 * (last - first) + MAX_CANDIDATE_BYTES)
        hdr.write(sps, pps, w)
        encode_slice(srcY, srcCb, srcCr, dY, dCb, dCr, wY, wCb, wCr, qY, qCb, qCr, qp_map, lam_mult, first, last, s,
                     slice_qp, pps.chroma_qp_index_offset, mb_w, float(lam_factor), opts,
                     pic.Y, pic.Cb, pic.Cr, pic.mb_slice, pic.mb_kind, pic.mb_qp, pic.nz_y, pic.nz_c, pic.ipred,
                     w.buf, w.ws, mb_bits, mb_dist, mb_i16, mb_c, mb_i4)
        w.trailing()
        pic.set_slice_filter(s, idc, int(alpha), int(beta))
        out.append(nal_unit(NAL_IDR, 3, w.bytes()))
    pic.slices = slices
    pic.deblock()
    planes = pic.cropped(sps)
    if form == "rgb":
        recon = yuv420_to_rgb(*planes)[:H, :W]
    elif form == "gray":
        recon = planes[0][:H, :W]
    else:
        ch, cw = (H + 1) // 2, (W + 1) // 2
        recon = (planes[0][:H, :W], planes[1][:ch, :cw], planes[2][:ch, :cw])
    shape = (mb_h, mb_w)
    return Encoded(data=b"".join(out), recon=recon, planes=planes, width=W, height=H,
                   mb_type=pic.mb_kind.reshape(shape).copy(), mb_qp=pic.mb_qp.reshape(shape).copy(),
                   mb_bits=mb_bits.reshape(shape), mb_distortion=mb_dist.reshape(shape),
                   mb_i16x16_mode=mb_i16.reshape(shape), mb_chroma_mode=mb_c.reshape(shape),
                   mb_i4x4_modes=mb_i4.reshape(shape + (16,)))
