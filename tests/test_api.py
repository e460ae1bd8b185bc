"""API-level tests of minicodec.encode / decode / decode_frames / Encoded.

* argument validation: every bad input raises ValueError or TypeError naming the offending argument;
* semantics of the options and of the statistics in :class:`minicodec.Encoded`, checked against rules
  written here from the H.264 standard (neighbour availability of 6.4.11, mb_qp_delta of 7.3.5, I_PCM
  syntax of 7.3.5, the I_PCM qP = 0 rule of 8.7.2.2) or from the documented API, never against recorded
  codec output.
"""
import math
import os

import numpy as np
import pytest

import minicodec
from minicodec import BitstreamError, decode, decode_frames, encode

# ----------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------


def _photo():
    skd = pytest.importorskip("skimage.data")
    return skd.astronaut()


@pytest.fixture(scope="module")
def photo():
    """A 64x80 RGB crop of a photograph (face and helmet: edges, texture and smooth areas)."""
    return np.ascontiguousarray(_photo()[100:164, 200:280])


@pytest.fixture(scope="module")
def photo_gray():
    skd = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skd.camera()[200:264, 200:280])


@pytest.fixture(scope="module")
def small():
    """20x30 RGB noise: 2x2 macroblocks, the last row and column partial."""
    return np.random.default_rng(1).integers(0, 256, (20, 30, 3), np.uint8)


def _planes_of(rgb):
    from minicodec.colour import rgb_to_yuv420
    return rgb_to_yuv420(rgb)


def _mb_shape(h, w):
    return (-(-h // 16), -(-w // 16))


def _psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _same_planes(a, b):
    return len(a) == len(b) == 3 and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------

IMG = np.random.default_rng(2).integers(0, 256, (20, 30, 3), np.uint8)   # 2 x 2 macroblocks
GRAY = IMG[..., 0].copy()
Y4, C2 = np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8)

BAD_ENCODE = [
    # id, args, kwargs, accepted exception types, word the message must contain
    ("float image", (IMG.astype(np.float64),), {}, (TypeError, ValueError), "image"),
    ("float32 image", (IMG.astype(np.float32) / 255,), {}, (TypeError, ValueError), "image"),
    ("int16 image", (IMG.astype(np.int16),), {}, (TypeError, ValueError), "image"),
    ("int16 gray", (GRAY.astype(np.int16),), {}, (TypeError, ValueError), "image"),
    ("bool gray", (GRAY > 128,), {}, (TypeError, ValueError), "image"),
    ("HxWx4", (np.zeros((20, 30, 4), np.uint8),), {}, (TypeError, ValueError), "image"),
    ("HxWx3x1", (IMG[..., None],), {}, (TypeError, ValueError), "image"),
    ("HxWx1", (IMG[..., :1],), {}, (TypeError, ValueError), "image"),
    ("1-D", (np.zeros(30, np.uint8),), {}, (TypeError, ValueError), "image"),
    ("0-D", (np.uint8(7),), {}, (TypeError, ValueError), "image"),
    ("list image", (IMG.tolist(),), {}, (TypeError, ValueError), "image"),
    ("None image", (None,), {}, (TypeError, ValueError), "image"),
    ("empty 0xW gray", (np.zeros((0, 30), np.uint8),), {}, (TypeError, ValueError), "image"),
    ("empty Hx0 gray", (np.zeros((20, 0), np.uint8),), {}, (TypeError, ValueError), "image"),
    ("empty 0xWx3", (np.zeros((0, 30, 3), np.uint8),), {}, (TypeError, ValueError), "image"),
    ("empty Hx0x3", (np.zeros((20, 0, 3), np.uint8),), {}, (TypeError, ValueError), "image"),
    ("planes chroma too big", ((Y4, np.zeros((4, 4), np.uint8), C2),), {}, (TypeError, ValueError), "image"),
    ("planes chroma too small", ((Y4, C2, np.zeros((1, 2), np.uint8)),), {}, (TypeError, ValueError), "image"),
    ("planes odd height, chroma not rounded up", ((np.zeros((5, 4), np.uint8), C2, C2),), {}, (TypeError, ValueError), "image"),
    ("planes odd width, chroma not rounded up", ((np.zeros((4, 5), np.uint8), C2, C2),), {}, (TypeError, ValueError), "image"),
    ("planes two items", ((Y4, C2),), {}, (TypeError, ValueError), "image"),
    ("planes int16 chroma", ((Y4, C2, C2.astype(np.int16)),), {}, (TypeError, ValueError), "image"),
    ("planes empty", ((np.zeros((0, 4), np.uint8), np.zeros((0, 2), np.uint8), np.zeros((0, 2), np.uint8)),),
     {}, (TypeError, ValueError), "image"),
    ("weights NaN", (IMG,), {"weights": np.where(np.eye(20, 30) > 0, np.nan, 1.0)}, (ValueError,), "weights"),
    ("weights +inf", (IMG,), {"weights": np.full((20, 30), np.inf)}, (ValueError,), "weights"),
    ("weights -inf", (IMG,), {"weights": np.full((20, 30), -np.inf)}, (ValueError,), "weights"),
    ("weights negative", (IMG,), {"weights": -np.eye(20, 30)}, (ValueError,), "weights"),
    ("weights scalar NaN", (IMG,), {"weights": float("nan")}, (ValueError,), "weights"),
    ("weights scalar negative", (IMG,), {"weights": -1.0}, (ValueError,), "weights"),
    ("weights transposed", (IMG,), {"weights": np.ones((30, 20))}, (ValueError,), "weights"),
    ("weights chroma-sized", (IMG,), {"weights": np.ones((10, 15))}, (ValueError,), "weights"),
    ("weights 3-D", (IMG,), {"weights": np.ones((20, 30, 3))}, (ValueError,), "weights"),
    ("weights tuple of 2", (IMG,), {"weights": (np.ones((20, 30)), np.ones((10, 15)))}, (ValueError,), "weights"),
    ("weights tuple bad Cb shape", (IMG,), {"weights": (np.ones((20, 30)), np.ones((20, 30)), np.ones((10, 15)))},
     (ValueError,), "weights"),
    ("weights tuple NaN Cr", (IMG,), {"weights": (np.ones((20, 30)), np.ones((10, 15)), np.full((10, 15), np.nan))},
     (ValueError,), "weights"),
    ("weights string", (IMG,), {"weights": "uniform"}, (TypeError, ValueError), "weights"),
    ("weights complex", (IMG,), {"weights": np.ones((20, 30), complex)}, (TypeError, ValueError), "weights"),
    ("qp -1", (IMG,), {"qp": -1}, (ValueError,), "qp"),
    ("qp 52", (IMG,), {"qp": 52}, (ValueError,), "qp"),
    ("qp huge", (IMG,), {"qp": 10 ** 20}, (ValueError,), "qp"),
    ("qp float", (IMG,), {"qp": 28.0}, (TypeError, ValueError), "qp"),
    ("qp numpy float", (IMG,), {"qp": np.float64(28)}, (TypeError, ValueError), "qp"),
    ("qp str", (IMG,), {"qp": "28"}, (TypeError, ValueError), "qp"),
    ("qp None", (IMG,), {"qp": None}, (TypeError, ValueError), "qp"),
    ("qp bool", (IMG,), {"qp": True}, (TypeError, ValueError), "qp"),
    ("qp map wrong shape", (IMG,), {"qp": np.full((2, 3), 28)}, (ValueError,), "qp"),
    ("qp map transposed", (np.zeros((20, 40, 3), np.uint8),), {"qp": np.full((3, 2), 28)}, (ValueError,), "qp"),
    ("qp map flat", (IMG,), {"qp": np.full(4, 28)}, (ValueError,), "qp"),
    ("qp map 52", (IMG,), {"qp": np.array([[28, 28], [52, 28]])}, (ValueError,), "qp"),
    ("qp map -1", (IMG,), {"qp": np.array([[28, -1], [28, 28]])}, (ValueError,), "qp"),
    ("qp map int8 -1", (IMG,), {"qp": np.full((2, 2), -1, np.int8)}, (ValueError,), "qp"),
    ("qp map huge", (IMG,), {"qp": np.array([[28, 28], [28, 2 ** 40]])}, (ValueError,), "qp"),
    ("qp map float", (IMG,), {"qp": np.full((2, 2), 28.0)}, (TypeError, ValueError), "qp"),
    ("unknown option", (IMG,), {"qualty": 5}, (TypeError, ValueError), "qualty"),
    ("unknown option 2", (IMG,), {"deblocking": False}, (TypeError, ValueError), "deblocking"),
    ("slices 0", (IMG,), {"slices": 0}, (ValueError,), "slices"),
    ("slices -1", (IMG,), {"slices": -1}, (ValueError,), "slices"),
    ("slices > MBs", (IMG,), {"slices": 5}, (ValueError,), "slices"),
    ("slices float", (IMG,), {"slices": 2.0}, (TypeError, ValueError), "slices"),
    ("effort x", (IMG,), {"effort": "x"}, (ValueError,), "effort"),
    ("effort None", (IMG,), {"effort": None}, (TypeError, ValueError), "effort"),
    ("force_i4x4_mode 9", (IMG,), {"force_i4x4_mode": 9}, (ValueError,), "force_i4x4_mode"),
    ("force_i4x4_mode -1", (IMG,), {"force_i4x4_mode": -1}, (ValueError,), "force_i4x4_mode"),
    ("force_i4x4_mode float", (IMG,), {"force_i4x4_mode": 1.0}, (TypeError, ValueError), "force_i4x4_mode"),
    ("force_i16x16_mode 4", (IMG,), {"force_i16x16_mode": 4}, (ValueError,), "force_i16x16_mode"),
    ("force_chroma_mode 4", (IMG,), {"force_chroma_mode": 4}, (ValueError,), "force_chroma_mode"),
    ("force_chroma_mode str", (IMG,), {"force_chroma_mode": "DC"}, (TypeError, ValueError), "force_chroma_mode"),
    ("force_mb_type foo", (IMG,), {"force_mb_type": "foo"}, (ValueError,), "force_mb_type"),
    ("force_mb_type int", (IMG,), {"force_mb_type": 1}, (TypeError, ValueError), "force_mb_type"),
    ("alpha_offset 7", (IMG,), {"alpha_offset": 7}, (ValueError,), "alpha_offset"),
    ("alpha_offset -7", (IMG,), {"alpha_offset": -7}, (ValueError,), "alpha_offset"),
    ("beta_offset 7", (IMG,), {"beta_offset": 7}, (ValueError,), "beta_offset"),
    ("beta_offset float", (IMG,), {"beta_offset": 1.5}, (TypeError, ValueError), "beta_offset"),
    ("lambda_factor negative", (IMG,), {"lambda_factor": -0.1}, (ValueError,), "lambda_factor"),
    ("lambda_factor nan", (IMG,), {"lambda_factor": float("nan")}, (ValueError,), "lambda_factor"),
    ("lambda_factor inf", (IMG,), {"lambda_factor": float("inf")}, (ValueError,), "lambda_factor"),
    ("lambda_factor str", (IMG,), {"lambda_factor": "0.85"}, (TypeError, ValueError), "lambda_factor"),
    ("deblock str", (IMG,), {"deblock": "yes"}, (TypeError, ValueError), "deblock"),
    ("rdoq str", (IMG,), {"rdoq": "yes"}, (TypeError, ValueError), "rdoq"),
    ("rdoq int", (IMG,), {"rdoq": 1}, (TypeError, ValueError), "rdoq"),
    ("aq x", (IMG,), {"aq": "x"}, (ValueError,), "aq"),
    ("aq weights without weights", (IMG,), {"aq": "weights"}, (ValueError,), "weights"),
    ("aq_strength negative", (IMG,), {"aq": "variance", "aq_strength": -1.0}, (ValueError,), "aq_strength"),
    ("aq_strength nan", (IMG,), {"aq": "variance", "aq_strength": float("nan")}, (ValueError,), "aq_strength"),
    ("aq_range positive lo", (IMG,), {"aq": "variance", "aq_range": (1, 6)}, (ValueError,), "aq_range"),
    ("aq_range negative hi", (IMG,), {"aq": "variance", "aq_range": (-6, -1)}, (ValueError,), "aq_range"),
    ("aq_range one value", (IMG,), {"aq": "variance", "aq_range": (-6,)}, (ValueError,), "aq_range"),
    ("aq_range floats", (IMG,), {"aq": "variance", "aq_range": (-6.0, 6.0)}, (ValueError,), "aq_range"),
    ("aq_range too wide", (IMG,), {"aq": "variance", "aq_range": (-52, 6)}, (ValueError,), "aq_range"),
    ("deblock None", (IMG,), {"deblock": None}, (TypeError, ValueError), "deblock"),
]


@pytest.mark.parametrize("args, kwargs, exc, word", [c[1:] for c in BAD_ENCODE], ids=[c[0] for c in BAD_ENCODE])
def test_encode_rejects_bad_input(args, kwargs, exc, word):
    with pytest.raises(exc) as info:
        encode(*args, **kwargs)
    assert word in str(info.value), f"message does not name {word!r}: {info.value}"


# Unhashable values of string-valued options reach `value in dict` and raise Python's own
# "unhashable type" TypeError, which does not say which argument was wrong.
UNHASHABLE = [
    ("effort list", {"effort": ["full"]}, "effort"),
    ("force_mb_type list", {"force_mb_type": ["I4x4"]}, "force_mb_type"),
    ("force_mb_type dict", {"force_mb_type": {}}, "force_mb_type"),
]


@pytest.mark.parametrize("kwargs, word", [c[1:] for c in UNHASHABLE], ids=[c[0] for c in UNHASHABLE])
def test_encode_unhashable_option_value_names_argument(kwargs, word):
    with pytest.raises((TypeError, ValueError)) as info:
        encode(IMG, **kwargs)
    assert word in str(info.value), f"message does not name {word!r}: {info.value}"


@pytest.mark.parametrize("value", [np.float32(0.5), np.int64(1)], ids=["float32", "int64"])
@pytest.mark.parametrize("name, extra", [("lambda_factor", {}), ("aq_strength", {"aq": "variance"})])
def test_encode_accepts_numpy_real_options(value, name, extra, small):
    a = encode(small, **extra, **{name: value})
    assert a.data == encode(small, **extra, **{name: float(value)}).data


def test_encode_accepts_numpy_scalar_options(small):
    """numpy integers / bools are accepted wherever Python ints / bools are, with the same result."""
    a = encode(small, qp=30, slices=2, force_i4x4_mode=3, alpha_offset=2, deblock=False, force_mb_type="I4x4")
    b = encode(small, qp=np.int64(30), slices=np.int32(2), force_i4x4_mode=np.uint8(3), alpha_offset=np.int16(2),
               deblock=np.bool_(False), force_mb_type="I4x4")
    assert a.data == b.data


@pytest.mark.parametrize("output", ["bgr", "RGB", "", None, 1])
def test_decode_rejects_bad_output(output, small):
    data = encode(small).data
    with pytest.raises(ValueError, match="output"):
        decode(data, output=output)
    with pytest.raises(ValueError, match="output"):
        list(decode_frames(data, output=output))


@pytest.mark.parametrize("data", ["\x00\x00\x00\x01", None, 123, [0, 0, 1, 0x67], np.zeros(16, np.uint8)],
                         ids=["str", "None", "int", "list", "ndarray"])
def test_decode_rejects_non_bytes(data):
    with pytest.raises(TypeError, match="data"):
        decode(data)
    with pytest.raises(TypeError, match="data"):
        list(decode_frames(data))


def test_decode_accepts_bytes_like(small):
    enc = encode(small)
    ref = decode(enc.data, "yuv")
    for data in (bytearray(enc.data), memoryview(enc.data)):
        assert _same_planes(decode(data, "yuv"), ref)


def test_bitstream_error_is_value_error():
    assert issubclass(BitstreamError, ValueError)
    with pytest.raises(BitstreamError):
        decode(b"")


# ----------------------------------------------------------------------------------------------------
# the Encoded result
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h, w", [(1, 1), (16, 16), (17, 15), (20, 30), (33, 48), (64, 80)])
def test_encoded_shapes_and_sizes(h, w):
    img = np.random.default_rng(h * 100 + w).integers(0, 256, (h, w, 3), np.uint8)
    enc = encode(img, qp=30)
    shape = _mb_shape(h, w)
    for name in ("mb_type", "mb_qp", "mb_bits", "mb_distortion", "mb_i16x16_mode", "mb_chroma_mode"):
        assert getattr(enc, name).shape == shape, name
    assert enc.mb_i4x4_modes.shape == shape + (16,)
    assert (enc.width, enc.height) == (w, h)
    assert enc.bits == 8 * len(enc.data)
    assert enc.bpp == pytest.approx(enc.bits / (w * h))
    assert enc.recon.shape == (h, w, 3) and enc.recon.dtype == np.uint8
    h2, w2 = h + h % 2, w + w % 2
    assert [p.shape for p in enc.planes] == [(h2, w2), (h2 // 2, w2 // 2), (h2 // 2, w2 // 2)]
    assert all(p.dtype == np.uint8 for p in enc.planes)
    assert isinstance(enc.data, bytes) and enc.data.startswith(b"\x00\x00\x00\x01")
    assert np.isin(enc.mb_type, (0, 1, 2)).all()
    assert np.all((enc.mb_qp >= 0) & (enc.mb_qp <= 51))
    assert np.all(enc.mb_bits > 0)
    assert np.all(enc.mb_distortion >= 0)
    # per-MB mode arrays are filled exactly for the MBs of the matching type
    i16, i4, pcm = enc.mb_type == 1, enc.mb_type == 0, enc.mb_type == 2
    assert np.all((enc.mb_i16x16_mode >= 0) == i16) and np.all(enc.mb_i16x16_mode <= 3)
    assert np.all((enc.mb_i4x4_modes >= 0).all(-1) == i4) and np.all((enc.mb_i4x4_modes < 0).all(-1) == ~i4)
    assert np.all((enc.mb_chroma_mode >= 0) == ~pcm) and np.all(enc.mb_chroma_mode <= 3)


@pytest.mark.parametrize("slices", [1, 3])
def test_mb_bits_sum_at_most_stream_bits(photo, slices):
    for qp in (5, 28, 51):
        enc = encode(photo, qp=qp, slices=slices)
        assert enc.mb_bits.sum() <= enc.bits
        # what is left is headers: SPS, PPS, start codes, slice headers, trailing bits (a few bytes each)
        overhead = 40 + 16 * slices + enc.data.count(b"\x00\x00\x03")   # + emulation prevention bytes
        assert enc.bits - enc.mb_bits.sum() < 8 * overhead


def test_i_pcm_macroblock_bits():
    """I_PCM macroblock_layer(): ue(25) = 9 bits, pcm_alignment_zero_bits (0..7), 384 bytes (7.3.5)."""
    img = np.random.default_rng(3).integers(0, 256, (40, 56, 3), np.uint8)
    enc = encode(img, force_mb_type="I_PCM")
    assert (enc.mb_type == 2).all()
    assert np.all((enc.mb_bits >= 9 + 3072) & (enc.mb_bits <= 9 + 7 + 3072))
    assert np.all(enc.mb_distortion == 0)


def test_mb_distortion_is_weighted_sse():
    """With deblocking off, mb_distortion is sum w * (source - recon)^2 over each MB's luma and chroma.

    With aq='weights' the macroblock's lambda changes, not the weights, so the report is still in the
    caller's units."""
    rng = np.random.default_rng(4)
    planes = (rng.integers(0, 256, (36, 50), np.uint8), rng.integers(0, 256, (18, 25), np.uint8),
              rng.integers(0, 256, (18, 25), np.uint8))
    weights = (rng.uniform(0, 3, (36, 50)), rng.uniform(0, 3, (18, 25)), rng.uniform(0, 3, (18, 25)))
    for kw in ({}, {"weights": weights}, {"weights": weights, "aq": "weights"}):
        enc = encode(planes, qp=30, deblock=False, **kw)
        w = kw.get("weights", (np.ones((36, 50)), np.ones((18, 25)), np.ones((18, 25))))
        err = [wk * (s.astype(np.float64) - r) ** 2 for wk, s, r in zip(w, planes, enc.planes)]
        rows, cols = _mb_shape(36, 50)
        for r in range(rows):
            for c in range(cols):
                want = (err[0][16 * r:16 * r + 16, 16 * c:16 * c + 16].sum()
                        + err[1][8 * r:8 * r + 8, 8 * c:8 * c + 8].sum()
                        + err[2][8 * r:8 * r + 8, 8 * c:8 * c + 8].sum())
                assert enc.mb_distortion[r, c] == pytest.approx(want, rel=1e-9, abs=1e-9), (r, c, kw.keys())


# ----------------------------------------------------------------------------------------------------
# forced macroblock types and prediction modes
# ----------------------------------------------------------------------------------------------------

MB_CODE = {"I4x4": 0, "I16x16": 1, "I_PCM": 2}


@pytest.mark.parametrize("kind", ["I4x4", "I16x16", "I_PCM"])
@pytest.mark.parametrize("slices", [1, 4])
def test_force_mb_type(photo, kind, slices):
    for qp in (12, 30, 48):
        enc = encode(photo, qp=qp, force_mb_type=kind, slices=slices)
        assert (enc.mb_type == MB_CODE[kind]).all(), (qp, enc.mb_type)
        assert enc.MB_TYPE_NAMES[MB_CODE[kind]] == kind
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_free_choice_uses_both_intra_types(photo):
    """Textured areas go Intra_4x4, a smooth gradient Intra_16x16: the RD choice is not stuck on one type."""
    img = photo.copy()
    img[:, 48:] = np.linspace(50, 200, 32)[None, :, None].astype(np.uint8)   # MB columns 3 and 4
    for effort in ("fast", "full"):
        enc = encode(img, qp=28, effort=effort)
        assert (enc.mb_type[:, :2] == 0).any(), enc.mb_type
        assert (enc.mb_type[:, 3:] == 1).any(), enc.mb_type


# luma4x4BlkIdx -> (x, y) in 4x4-block units inside the macroblock (6.4.3, Figure 6-10)
_BLK_XY = [((i // 4) % 2 * 2 + (i % 4) % 2, (i // 4) // 2 * 2 + (i % 4) // 2) for i in range(16)]
# which neighbours each mode reads (8.3.1.2, 8.3.3, 8.3.4): "L" left, "T" top, "D" top-left
_I4_NEEDS = ["T", "L", "", "T", "LTD", "LTD", "LTD", "T", "L"]   # V H DC DDL DDR VR HD VL HU
_I16_NEEDS = ["T", "L", "", "LTD"]                                # V H DC Plane
_CHROMA_NEEDS = ["", "L", "T", "LTD"]                             # DC H V Plane


def _mb_avail(r, c, own_slice_per_mb):
    """(left, top, topleft) MB availability: inside the picture and (for one slice per MB) never."""
    if own_slice_per_mb:
        return False, False, False
    return c > 0, r > 0, r > 0 and c > 0


def _allowed(needs, left, top, topleft):
    return all({"L": left, "T": top, "D": topleft}[k] for k in needs)


@pytest.mark.parametrize("one_slice_per_mb", [False, True], ids=["1slice", "slice-per-MB"])
@pytest.mark.parametrize("mode", range(9))
def test_force_i4x4_mode(photo, mode, one_slice_per_mb):
    img = photo[:40, :56]
    rows, cols = _mb_shape(40, 56)
    enc = encode(img, qp=26, force_mb_type="I4x4", force_i4x4_mode=mode,
                 slices=rows * cols if one_slice_per_mb else 1)
    assert (enc.mb_type == 0).all()
    n_forced = 0
    for r in range(rows):
        for c in range(cols):
            left, top, topleft = _mb_avail(r, c, one_slice_per_mb)
            for blk, (bx, by) in enumerate(_BLK_XY):
                a = bx > 0 or left
                b = by > 0 or top
                d = (bx > 0 and by > 0) or (bx > 0 and by == 0 and top) or (bx == 0 and by > 0 and left) \
                    or (bx == 0 and by == 0 and topleft)
                want = mode if _allowed(_I4_NEEDS[mode], a, b, d) else 2   # documented fallback: DC
                n_forced += want == mode
                assert enc.mb_i4x4_modes[r, c, blk] == want, (r, c, blk)
    assert n_forced > 0
    assert _same_planes(decode(enc.data, "yuv"), enc.planes)


@pytest.mark.parametrize("one_slice_per_mb", [False, True], ids=["1slice", "slice-per-MB"])
@pytest.mark.parametrize("mode", range(4))
def test_force_i16x16_and_chroma_mode(photo, mode, one_slice_per_mb):
    img = photo[:40, :56]
    rows, cols = _mb_shape(40, 56)
    enc = encode(img, qp=26, force_mb_type="I16x16", force_i16x16_mode=mode, force_chroma_mode=mode,
                 slices=rows * cols if one_slice_per_mb else 1)
    assert (enc.mb_type == 1).all()
    for r in range(rows):
        for c in range(cols):
            avail = _mb_avail(r, c, one_slice_per_mb)
            assert enc.mb_i16x16_mode[r, c] == (mode if _allowed(_I16_NEEDS[mode], *avail) else 2), (r, c)
            assert enc.mb_chroma_mode[r, c] == (mode if _allowed(_CHROMA_NEEDS[mode], *avail) else 0), (r, c)
    assert _same_planes(decode(enc.data, "yuv"), enc.planes)


# ----------------------------------------------------------------------------------------------------
# QP
# ----------------------------------------------------------------------------------------------------

def _qp_map(rng, shape):
    return rng.integers(0, 52, shape)


def test_qp_map_forced_i16x16(photo):
    """Every I_16x16 macroblock codes mb_qp_delta, so each one gets exactly its QP from the map."""
    rng = np.random.default_rng(5)
    for slices in (1, 3):
        qp = _qp_map(rng, _mb_shape(*photo.shape[:2]))
        enc = encode(photo, qp=qp, force_mb_type="I16x16", slices=slices)
        # I_PCM is the documented escape for a macroblock too big to code (possible near QP 0)
        i16 = enc.mb_type == 1
        assert np.isin(enc.mb_type, (1, 2)).all() and i16.mean() > 0.8
        np.testing.assert_array_equal(enc.mb_qp[i16], qp[i16])
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_qp_map_free_choice(photo):
    """Whatever the types: I_16x16 MBs have their map QP, any other MB has its map QP or (no
    mb_qp_delta coded) the QP of the previous MB; the first MB has the map's first value (SliceQPY)."""
    rng = np.random.default_rng(6)
    shape = _mb_shape(*photo.shape[:2])
    n_from_map = 0
    for trial in range(4):
        qp = _qp_map(rng, shape)
        enc = encode(photo, qp=qp, effort=("fast", "full")[trial % 2])
        got, want, kind = enc.mb_qp.ravel(), qp.ravel(), enc.mb_type.ravel()
        assert got[0] == want[0]
        for a in range(1, got.size):
            assert got[a] in (want[a], got[a - 1]), a
            if kind[a] == 1:
                assert got[a] == want[a], a
        n_from_map += int(np.sum(got == want))
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)
    assert n_from_map > 0.5 * 4 * qp.size


def test_constant_qp_map_equals_scalar_qp(small):
    for q in (0, 17, 51):
        assert encode(small, qp=np.full((2, 2), q, np.uint8)).data == encode(small, qp=q).data


def test_higher_qp_fewer_bits(photo):
    bits = [encode(photo, qp=q).bits for q in (4, 12, 20, 28, 36, 44, 51)]
    assert all(a > b for a, b in zip(bits, bits[1:])), bits


def test_higher_qp_lower_psnr(photo):
    ys = _planes_of(photo)[0]
    psnr = [_psnr(encode(photo, qp=q).planes[0], ys) for q in (6, 18, 30, 42)]
    assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr


def test_psnr_at_qp22(photo, photo_gray):
    enc = encode(photo, qp=22)
    assert _psnr(enc.planes[0], _planes_of(photo)[0]) > 35
    assert _psnr(enc.recon, photo) > 30   # RGB includes the 4:2:0 chroma loss
    assert _psnr(encode(photo_gray, qp=22).recon, photo_gray) > 35


def test_qp0_is_near_lossless(photo_gray):
    enc = encode(photo_gray, qp=0)
    assert np.abs(enc.recon.astype(int) - photo_gray).max() <= 2


# ----------------------------------------------------------------------------------------------------
# deblocking
# ----------------------------------------------------------------------------------------------------

def test_deblock_changes_recon_and_both_decode(photo):
    on = encode(photo, qp=38, deblock=True)
    off = encode(photo, qp=38, deblock=False)
    assert not np.array_equal(on.planes[0], off.planes[0])
    assert _same_planes(decode(on.data, "yuv"), on.planes)
    assert _same_planes(decode(off.data, "yuv"), off.planes)
    np.testing.assert_array_equal(decode(on.data), on.recon)
    np.testing.assert_array_equal(decode(off.data), off.recon)


def test_deblock_offsets(photo):
    """alpha/beta offsets change the filtering, and stronger offsets smooth more across MB edges."""
    encs = {a: encode(photo, qp=34, alpha_offset=a, beta_offset=a) for a in (-6, 0, 6)}
    for e in encs.values():
        assert _same_planes(decode(e.data, "yuv"), e.planes)
    assert not np.array_equal(encs[-6].planes[0], encs[6].planes[0])

    def edge_step(y):  # mean |step| across vertical macroblock edges
        y = y.astype(int)
        return np.mean(np.abs(y[:, 16::16] - y[:, 15:-1:16]))
    assert edge_step(encs[6].planes[0]) < edge_step(encs[-6].planes[0])


def test_i_pcm_is_lossless_even_with_deblocking(photo):
    """I_PCM samples are the source; deblocking uses qP = 0 for I_PCM (8.7.2.2), where alpha' = 0 for any
    FilterOffsetA <= 12 (Table 8-16), so an all-I_PCM picture is not filtered."""
    planes = _planes_of(photo)
    for kw in ({"deblock": False}, {"deblock": True}, {"deblock": True, "alpha_offset": 6, "beta_offset": 6}):
        enc = encode(planes, force_mb_type="I_PCM", **kw)
        assert _same_planes(enc.planes, planes), kw
        assert _same_planes(decode(enc.data, "yuv"), planes), kw


# ----------------------------------------------------------------------------------------------------
# weights, effort, lambda
# ----------------------------------------------------------------------------------------------------

def test_unit_weights_equal_no_weights(photo):
    h, w = photo.shape[:2]
    ref = encode(photo, qp=30).data
    for weights in (np.ones((h, w)), np.ones((h, w), np.float32), np.ones((h, w), np.int64), 1.0, 1,
                    (np.ones((h, w)), np.ones((h // 2, w // 2)), np.ones((h // 2, w // 2))), (1.0, 1.0, 1.0)):
        assert encode(photo, qp=30, weights=weights).data == ref, type(weights)


def test_weights_change_decisions(photo):
    """A map that only cares about the left half must spend fewer bits on the right half."""
    h, w = photo.shape[:2]
    wmap = np.zeros((h, w))
    wmap[:, : w // 2] = 1.0
    plain = encode(photo, qp=26, effort="full")
    left = encode(photo, qp=26, effort="full", weights=wmap)
    assert _same_planes(decode(left.data, "yuv"), left.planes)
    half = _mb_shape(h, w)[1] // 2
    assert left.mb_bits[:, half:].sum() < plain.mb_bits[:, half:].sum()
    # distortion only counts weighted samples: zero in MBs entirely inside the zero-weight half
    assert np.all(left.mb_distortion[:, half + 1:] == 0)


def test_weight_scale_equals_lambda_scale(photo):
    """With effort='full' every decision compares sum w e^2 + lambda R; scaling w by 4 is exactly scaling
    lambda by 1/4 (powers of two are exact in floating point), except for the SATD-ranked chroma mode,
    which does not depend on either, so the streams are identical."""
    h, w = photo.shape[:2]
    wmap = np.random.default_rng(7).uniform(0.5, 2, (h, w))
    a = encode(photo, qp=30, effort="full", weights=4 * wmap, lambda_factor=0.8)
    b = encode(photo, qp=30, effort="full", weights=wmap, lambda_factor=0.2)
    assert a.data == b.data


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("value", [1e30, 1e200, 1e308])
def test_huge_finite_weights_rejected_or_finite(small, value):
    """Finite but huge weights must not overflow into NaN costs: either refused naming the argument or
    coded with finite distortions (once a bug: 1e308 passed validation and gave NaN mb_distortion)."""
    h, w = small.shape[:2]
    for weights in (np.full((h, w), value), (np.full((h, w), value), np.ones((10, 15)), np.ones((10, 15)))):
        try:
            enc = encode(small, weights=weights)
        except ValueError as e:
            assert "weights" in str(e)
            continue
        assert np.all(np.isfinite(enc.mb_distortion))
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_zero_weights_still_decode(photo):
    enc = encode(photo, qp=20, weights=0.0)
    assert np.all(enc.mb_distortion == 0)
    assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_effort_full_not_worse_in_rd(photo):
    """'full' codes every candidate with the exact cost; its total J should not lose to 'fast' (1 % slack:
    decisions are greedy per block). lambda is the documented lambda_factor (0.85) * 2^((QP - 12) / 3)."""
    for qp in (22, 34):
        lam = 0.85 * 2.0 ** ((qp - 12) / 3.0)
        j = {}
        for effort in ("fast", "medium", "full"):
            enc = encode(photo, qp=qp, effort=effort)
            j[effort] = enc.mb_distortion.sum() + lam * enc.mb_bits.sum()
        assert j["full"] <= j["fast"] * 1.01, (qp, j)
        assert j["medium"] <= j["fast"] * 1.01, (qp, j)


@pytest.mark.parametrize("effort", ["fast", "medium", "full"])
@pytest.mark.parametrize("rdoq", [False, True])
def test_effort_and_rdoq_decode_exactly(photo, effort, rdoq):
    enc = encode(photo, qp=27, effort=effort, rdoq=rdoq, slices=2)
    assert _same_planes(decode(enc.data, "yuv"), enc.planes)
    np.testing.assert_array_equal(decode(enc.data), enc.recon)


def test_rdoq_changes_stream_and_does_not_lose_in_rd(photo):
    lam = 0.85 * 2.0 ** ((30 - 12) / 3.0)
    off = encode(photo, qp=30, rdoq=False, effort="full")
    on = encode(photo, qp=30, rdoq=True, effort="full")
    assert on.data != off.data
    j = [e.mb_distortion.sum() + lam * e.mb_bits.sum() for e in (off, on)]
    assert j[1] <= j[0] * 1.01, j


def _aq_shape_planes(rng, rows, cols):
    """MB-aligned planes: half flat, half noise, so both AQ modes have something to react to."""
    y = np.full((16 * rows, 16 * cols), 120, np.uint8)
    y[:, 8 * cols:] = rng.integers(0, 256, (16 * rows, 8 * cols))
    c = np.full((8 * rows, 8 * cols), 128, np.uint8)
    return y, c, c.copy()


def test_aq_weights_follows_documented_formula():
    """aq='weights': dQP_b = round(-3 log2(mean_b(w) / mean(w))) clipped to aq_range, added to qp. Forcing
    Intra_16x16 makes every MB code mb_qp_delta, so mb_qp is exactly that map."""
    rng = np.random.default_rng(9)
    rows, cols = 3, 4
    planes = _aq_shape_planes(rng, rows, cols)
    wb = rng.choice([0.3, 1.0, 2.2, 7.0, 20.0], (rows, cols))
    wmap = np.kron(wb, np.ones((16, 16)))
    for qp, lo, hi in ((28, -6, 6), (3, -6, 6), (49, -6, 6), (30, -2, 3), (30, 0, 0)):
        enc = encode(planes, qp=qp, weights=wmap, aq="weights", aq_range=(lo, hi), force_mb_type="I16x16")
        dqp = np.clip(np.rint(-3 * np.log2(wb / wb.mean())), lo, hi)
        # near QP 0 a noise MB may be too big to code and escape to I_PCM (no mb_qp_delta): skip those
        i16 = enc.mb_type == 1
        assert np.isin(enc.mb_type, (1, 2)).all() and i16.sum() >= rows * cols // 2
        np.testing.assert_array_equal(enc.mb_qp[i16], np.clip(qp + dqp, 0, 51)[i16],
                                      err_msg=f"qp={qp} range={lo, hi}")
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_aq_weights_uniform_is_no_aq(photo):
    h, w = photo.shape[:2]
    assert encode(photo, qp=30, weights=np.full((h, w), 3.0), aq="weights").data == \
        encode(photo, qp=30, weights=np.full((h, w), 3.0)).data


@pytest.mark.parametrize("effort", ["fast", "full"])
def test_aq_weights_counts_importance_once(effort):
    """aq='weights' keeps the objective sum w e^2 + lambda R: it equals the same QP map given as qp= with
    each macroblock's weights divided by mean_b(w) / mean(w) (the objective the map's own lambdas imply)."""
    rng = np.random.default_rng(21)
    rows, cols = 3, 4
    planes = _aq_shape_planes(rng, rows, cols)
    wb = rng.choice([0.25, 1.0, 4.0, 16.0], (rows, cols))
    wy = np.kron(wb, np.ones((16, 16))) * rng.uniform(0.5, 1.5, (16 * rows, 16 * cols))
    ratio = np.array([[wy[16 * r:16 * r + 16, 16 * c:16 * c + 16].mean() for c in range(cols)]
                      for r in range(rows)]) / wy.mean()
    wc = np.kron(wb, np.ones((8, 8)))
    weights = (wy, wc, wc * 0.5)
    dqp = np.clip(np.rint(-3 * np.log2(ratio)), -6, 6).astype(int)
    scaled = (wy / np.kron(ratio, np.ones((16, 16))), wc / np.kron(ratio, np.ones((8, 8))),
              wc * 0.5 / np.kron(ratio, np.ones((8, 8))))
    aq = encode(planes, qp=30, weights=weights, aq="weights", effort=effort)
    explicit = encode(planes, qp=30 + dqp, weights=scaled, effort=effort)
    np.testing.assert_array_equal(aq.mb_qp, 30 + dqp)
    assert aq.data == explicit.data
    # and it is not the double count: raw weights with the map's lambdas decide differently
    assert encode(planes, qp=30 + dqp, weights=weights, effort=effort).data != aq.data


def test_aq_variance(photo):
    """x264 aq-mode 1: flat macroblocks get a lower QP than textured ones; strength 0 is no AQ; the offsets
    are unclipped by default (a flat macroblock: 1.0397 * (log2(1) - 14.427) = -15) and aq_range clips them."""
    rng = np.random.default_rng(10)
    planes = _aq_shape_planes(rng, 2, 4)
    enc = encode(planes, qp=30, aq="variance", force_mb_type="I16x16")
    assert enc.mb_qp[:, :2].max() < enc.mb_qp[:, 2:].min(), enc.mb_qp
    assert (enc.mb_qp[:, :2] == 15).all(), enc.mb_qp
    assert _same_planes(decode(enc.data, "yuv"), enc.planes)
    assert encode(photo, qp=30, aq="variance", aq_strength=0.0).data == encode(photo, qp=30).data
    strong = encode(planes, qp=30, aq="variance", aq_strength=2.0, force_mb_type="I16x16")
    spread = [np.ptp(e.mb_qp) for e in (enc, strong)]
    assert spread[1] > spread[0], spread
    narrow = encode(planes, qp=30, aq="variance", aq_strength=2.0, aq_range=(-1, 1), force_mb_type="I16x16")
    assert (narrow.mb_qp[:, :2] == 29).all() and (narrow.mb_qp[:, 2:] == 31).all(), narrow.mb_qp
    assert _same_planes(decode(narrow.data, "yuv"), narrow.planes)


def test_aq_with_qp_map_stays_in_range():
    rng = np.random.default_rng(12)
    planes = _aq_shape_planes(rng, 2, 3)
    qp = np.array([[0, 1, 2], [49, 50, 51]])
    for kw in ({"aq": "variance", "aq_strength": 3.0}, {"aq": "weights", "weights": rng.uniform(0.01, 50, (32, 48))}):
        enc = encode(planes, qp=qp, force_mb_type="I16x16", **kw)
        assert np.all((enc.mb_qp >= 0) & (enc.mb_qp <= 51))
        assert _same_planes(decode(enc.data, "yuv"), enc.planes)


def test_lambda_factor_trades_rate(photo):
    bits = [encode(photo, qp=28, lambda_factor=f, effort="full").bits for f in (0.0, 0.85, 8.0)]
    assert bits[0] > bits[1] > bits[2], bits


def test_encode_is_deterministic_and_does_not_modify_input(photo):
    img = photo.copy()
    wmap = np.random.default_rng(8).uniform(0, 1, img.shape[:2])
    w0 = wmap.copy()
    a = encode(img, qp=27, weights=wmap, slices=2)
    b = encode(img, qp=27, weights=wmap, slices=2)
    assert a.data == b.data
    np.testing.assert_array_equal(img, photo)
    np.testing.assert_array_equal(wmap, w0)


def test_strided_and_readonly_inputs(photo):
    """Views (negative strides, Fortran order, read-only buffers) encode like their contiguous copies."""
    views = [photo[::-1, ::2], np.asfortranarray(photo), photo[:, :, ::-1]]
    ro = photo.copy()
    ro.setflags(write=False)
    views.append(ro)
    for v in views:
        assert encode(v, qp=30).data == encode(np.ascontiguousarray(v), qp=30).data
    y, cb, cr = _planes_of(photo)
    assert encode((y[:, ::-1], cb[:, ::-1], cr[:, ::-1])).data == \
        encode((np.ascontiguousarray(y[:, ::-1]), np.ascontiguousarray(cb[:, ::-1]),
                np.ascontiguousarray(cr[:, ::-1]))).data


# ----------------------------------------------------------------------------------------------------
# forms: gray, planes, RGB
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h, w", [(64, 80), (33, 47), (1, 1)])
def test_gray_image(photo_gray, h, w):
    img = photo_gray[:h, :w]
    enc = encode(img, qp=24)
    assert enc.recon.ndim == 2 and enc.recon.shape == (h, w) and enc.recon.dtype == np.uint8
    gray = decode(enc.data, output="gray")
    assert gray.ndim == 2
    np.testing.assert_array_equal(gray, enc.recon)   # odd sizes too: the true size is in an SEI message
    np.testing.assert_array_equal(decode(enc.data, "yuv")[0], gray)
    # documented: gray is coded as full-range luma with neutral chroma, so RGB output is gray too
    assert (enc.planes[1] == 128).all() and (enc.planes[2] == 128).all()
    rgb = decode(enc.data)
    assert rgb.shape == (h, w, 3)
    for ch in range(3):
        np.testing.assert_array_equal(rgb[..., ch], enc.recon)


def test_gray_full_range_extremes():
    """Full range: 0 and 255 survive (a limited-range detour would clip them to 16/235)."""
    img = np.zeros((32, 32), np.uint8)
    img[:, 16:] = 255
    enc = encode(img, qp=0)
    assert enc.recon.min() == 0 and enc.recon.max() == 255


def test_planes_input(photo):
    planes = _planes_of(photo)
    enc = encode(planes, qp=26)
    assert isinstance(enc.recon, tuple) and len(enc.recon) == 3
    assert _same_planes(enc.recon, enc.planes)
    assert [p.shape for p in enc.recon] == [p.shape for p in planes]
    assert _same_planes(decode(enc.data, "yuv"), enc.recon)
    # the RGB path goes through the same planes: equal streams
    assert enc.data == encode(photo, qp=26).data


def test_planes_list_accepted(photo):
    planes = _planes_of(photo)
    assert encode(list(planes), qp=30).data == encode(tuple(planes), qp=30).data


@pytest.mark.parametrize("h, w", [(64, 80), (17, 31), (2, 3)])
def test_rgb_decode_matches_recon(photo, h, w):
    img = photo[:h, :w]
    enc = encode(img, qp=30)
    out = decode(enc.data)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, enc.recon)
    # enc.planes is a standard decoder's even-size output; minicodec's is cut to the true size
    assert [p.shape for p in enc.planes] == [(h + h % 2, w + w % 2)] + 2 * [((h + 1) // 2, (w + 1) // 2)]
    ch, cw = (h + 1) // 2, (w + 1) // 2
    assert _same_planes(decode(enc.data, "yuv"), (enc.planes[0][:h, :w], enc.planes[1][:ch, :cw],
                                                  enc.planes[2][:ch, :cw]))
    np.testing.assert_array_equal(decode(enc.data, "gray"), enc.planes[0][:h, :w])


# ----------------------------------------------------------------------------------------------------
# decode_frames
# ----------------------------------------------------------------------------------------------------

def test_decode_frames_single_and_concatenated(photo, photo_gray):
    a = encode(photo, qp=30)
    b = encode(photo_gray[:40, :56], qp=20, slices=3)
    frames = list(decode_frames(a.data, "yuv"))
    assert len(frames) == 1 and _same_planes(frames[0], a.planes)
    frames = list(decode_frames(a.data + b.data, "yuv"))
    assert len(frames) == 2
    assert _same_planes(frames[0], a.planes) and _same_planes(frames[1], b.planes)
    assert _same_planes(decode(a.data + b.data, "yuv"), a.planes)
    gray = list(decode_frames(b.data + b.data, "gray"))
    assert len(gray) == 2 and all(np.array_equal(g[:40, :56], b.recon) for g in gray)


def test_decode_frames_is_a_lazy_iterator(small):
    it = decode_frames(encode(small).data)
    assert iter(it) is it
    first = next(it)
    assert first.shape == (20, 30, 3)
    with pytest.raises(StopIteration):
        next(it)


# ----------------------------------------------------------------------------------------------------
# save()
# ----------------------------------------------------------------------------------------------------

def test_save_writes_exactly_data(tmp_path, small):
    enc = encode(small)
    p = tmp_path / "out.264"
    enc.save(p)
    assert p.read_bytes() == enc.data
    assert sorted(os.listdir(tmp_path)) == ["out.264"]
    # overwrite with a different stream, given as str
    enc2 = encode(small, qp=45)
    enc2.save(str(p))
    assert p.read_bytes() == enc2.data
    assert sorted(os.listdir(tmp_path)) == ["out.264"]
    assert _same_planes(decode(p.read_bytes(), "yuv"), enc2.planes)


def test_save_failure_leaves_no_temp_file(tmp_path, small):
    enc = encode(small)
    target = tmp_path / "a_directory"
    target.mkdir()
    with pytest.raises(OSError):
        enc.save(target)          # cannot replace a directory with a file
    assert sorted(os.listdir(tmp_path)) == ["a_directory"]
    assert os.listdir(target) == []
    with pytest.raises(OSError):
        enc.save(tmp_path / "missing" / "x.264")
    assert sorted(os.listdir(tmp_path)) == ["a_directory"]


def test_public_api():
    for name in ("encode", "decode", "decode_frames", "Encoded", "BitstreamError"):
        assert hasattr(minicodec, name)
    assert set(minicodec.__all__) >= {"encode", "decode", "decode_frames", "Encoded", "BitstreamError"}


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (5, 3), (16, 16), (32, 48), (17, 33), (20, 30), (31, 2)])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf, -1e-300, -0.0, 1e31])
def test_luma_weight_maps_are_the_padded_map_and_its_chroma_means(h, w, bad):
    """The one-pass preparation of a luma weight map gives what the plain steps give: the checks of the
    values, the map zero-padded to whole macroblocks, colour.downsample_chroma's 2x2 means zero-padded."""
    from minicodec.colour import downsample_chroma
    from minicodec.encoder.encode import _luma_weight_maps, _pad
    rng = np.random.default_rng(h * 100 + w)
    wm = rng.gamma(0.7, 1.0, (h, w))
    if bad is not None:
        wm[rng.integers(h), rng.integers(w)] = bad
    hp, wp = 16 * ((h + 15) // 16), 16 * ((w + 15) // 16)
    nonfinite, negative, top, wy, wc = _luma_weight_maps(wm, hp, wp)
    assert nonfinite == (not np.isfinite(wm).all())
    assert negative == bool((wm < 0).any())
    if np.isfinite(wm).all() and not (wm < 0).any():  # otherwise encode refuses the map
        assert top == wm.max()
    assert np.array_equal(wy, _pad(wm, hp, wp, 0.0), equal_nan=True)
    assert np.array_equal(wc, _pad(downsample_chroma(wm), hp // 2, wp // 2, 0.0), equal_nan=True)
