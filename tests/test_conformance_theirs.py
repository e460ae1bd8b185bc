"""minicodec's decoder on streams made by others, compared bit-exactly with independent references:

(a) the ITU-T/JVT conformance streams in ``shared/conformance`` against their ``.framemd5`` checksums
    (written by FFmpeg; see that folder's README), every picture, and the picture count;
(b) streams from libx264 (Baseline, every picture IDR) over QPs 10..45, presets ultrafast/veryslow,
    deblocking on/off, sizes that are and are not multiples of 16, several pictures per stream, plus
    per-MB QP (crf + AQ), several slices, deblocking offsets, chroma QP offset; streams from libopenh264
    (Constrained Baseline, intra only), and lossless I_PCM streams from tests/oracles.py. All against
    FFmpeg's native h264 decoder output: all three planes, bit-exact.

The exhaustive grids are marked ``slow`` (``pytest -m slow``); the default run takes a covering subset
in which every value of every axis (and every pair of the small axes) occurs at least once.
"""
import numpy as np
import pytest

import oracles as o

pytestmark = o.skip_if_no_ffmpeg

CONF = o.conformance_streams()


def decode_all(codec, data):
    """minicodec.decode_frames(data, output="yuv") as a list of (Y, Cb, Cr), checked for type."""
    frames = list(codec.decode_frames(data, output="yuv"))
    for k, f in enumerate(frames):
        assert len(f) == 3, f"picture {k}: decode_frames(output='yuv') gave {len(f)} items, not (Y, Cb, Cr)"
        for p in f:
            assert isinstance(p, np.ndarray) and p.dtype == np.uint8 and p.ndim == 2, \
                f"picture {k}: planes must be 2-D uint8 arrays, got {type(p)} {getattr(p, 'dtype', '')}"
    return frames


def check_against_ffmpeg(codec, data, what, n_expected=None):
    ref = o.ffmpeg_decode(data, "h264")
    if n_expected is not None:
        assert len(ref) == n_expected, f"oracle problem: FFmpeg decoded {len(ref)} pictures, expected {n_expected}"
    got = decode_all(codec, data)
    o.assert_sequences_equal(got, ref, what)


# ----------------------------------------------------------------------------- (a) conformance streams

def test_conformance_folder_has_streams(conformance_dir):
    assert CONF, f"no streams with .framemd5 in {conformance_dir}"
    assert (conformance_dir / "README.md").is_file()


@pytest.mark.parametrize("stream", CONF or [None], ids=[p.name for p in CONF] or ["no-streams"])
def test_conformance_stream_matches_framemd5(codec, stream):
    if stream is None:
        pytest.skip(f"no conformance streams with .framemd5 at {o.conformance_dir()} "
                    f"(clone the repo with shared/ beside it, or set MINICODEC_CONFORMANCE)")
    ref = o.read_framemd5(str(stream) + ".framemd5")
    assert ref, f"{stream.name}.framemd5 has no entries"
    got = decode_all(codec, stream.read_bytes())
    got_md5 = [o.frame_md5(f) for f in got]
    sizes = [sum(p.size for p in f) for f in got]
    bad = [k for k in range(min(len(got), len(ref))) if got_md5[k] != ref[k].md5 or sizes[k] != ref[k].size]
    detail = ""
    if bad:  # say where the first wrong picture differs, using FFmpeg's decode of the same stream
        k = bad[0]
        try:
            oracle = o.ffmpeg_decode(stream.read_bytes(), "h264")
            if o.frame_md5(oracle[k]) == ref[k].md5:
                detail = " -- first bad picture %d: %s" % (k, o.describe_mismatch(got[k], oracle[k]))
        except Exception as e:  # noqa: BLE001 - diagnostics only
            detail = f" (no FFmpeg detail: {e})"
    assert not bad, f"{stream.name}: pictures {bad} of {len(ref)} differ from the framemd5{detail}"
    assert len(got) == len(ref), f"{stream.name}: decoded {len(got)} pictures, framemd5 lists {len(ref)}"


# ----------------------------------------------------------------------------- (b) libx264 streams

X264_QPS = [10, 14, 18, 22, 26, 30, 34, 38, 42, 45]
X264_PRESETS = ["ultrafast", "veryslow"]
X264_DEBLOCK = [True, False]
# (height, width): multiples of 16 and not, tiny and CIF-ish; x264 needs even sizes
X264_SIZES = [(16, 16), (48, 64), (58, 100), (38, 50), (2, 2), (144, 176), (18, 34), (96, 160)]
X264_FRAMES = 3

X264_AXES = {"qp": X264_QPS, "preset": X264_PRESETS, "deblock": X264_DEBLOCK, "size": X264_SIZES}
X264_DEFAULT = o.covering("qp", {"qp": [10, 22, 33, 45], "preset": X264_PRESETS, "deblock": X264_DEBLOCK,
                                 "size": [(16, 16), (58, 100), (38, 50), (144, 176), (2, 2)]})
X264_SLOW = [c for c in o.full_product(X264_AXES) if c not in X264_DEFAULT]


def _x264_id(c):
    return f"qp{c['qp']}-{c['preset']}-{'db' if c['deblock'] else 'nodb'}-{c['size'][1]}x{c['size'][0]}"


def _x264_case(codec, qp, preset, deblock, size, nframes=X264_FRAMES, extra="", **kw):
    h, w = size
    frames = o.mixed_frames(h, w, nframes, seed=qp)
    data = o.x264_encode(frames, qp, preset, deblock, extra, **kw)
    s = o.stream_summary(data)
    assert s.intra_only and s.constrained_baseline and s.pictures == nframes, f"oracle stream is not what we asked: {s}"
    check_against_ffmpeg(codec, data, f"x264 qp={qp} {preset} deblock={deblock} {w}x{h} {extra} {kw}", nframes)


@pytest.mark.parametrize("case", X264_DEFAULT, ids=_x264_id)
def test_x264_stream(codec, case):
    _x264_case(codec, **case)


@pytest.mark.slow
@pytest.mark.parametrize("case", X264_SLOW, ids=_x264_id)
def test_x264_stream_exhaustive(codec, case):
    _x264_case(codec, **case)


# Stream features beyond the plain grid: each is one stream kind minicodec must decode.
X264_FEATURES = {
    "crf-aq-mb_qp_delta": dict(qp=None, crf=20, preset="veryslow", deblock=True, size=(96, 160)),
    "crf-aq-high-qp": dict(qp=None, crf=40, preset="medium", deblock=True, size=(58, 100)),
    "slices4": dict(qp=26, preset="veryslow", deblock=True, size=(96, 160), extra="slices=4"),
    "slices-max-mbs3-nodb": dict(qp=30, preset="veryslow", deblock=False, size=(48, 64), extra="slice-max-mbs=3"),
    "deblock-offsets-neg": dict(qp=34, preset="veryslow", deblock=True, size=(58, 100), extra="deblock=-3,-2"),
    "deblock-offsets-pos": dict(qp=38, preset="veryslow", deblock=True, size=(58, 100), extra="deblock=4,3"),
    "tune-psnr-chroma-qp-offset-0": dict(qp=24, preset="veryslow", deblock=True, size=(48, 64), tune="psnr"),
    "chroma-qp-offset+6": dict(qp=28, preset="veryslow", deblock=True, size=(48, 64), extra="chroma-qp-offset=6"),
    "chroma-qp-offset-12": dict(qp=40, preset="veryslow", deblock=True, size=(48, 64),
                                extra="chroma-qp-offset=-12:psy=0"),
    "qp-min-max-extremes": dict(qp=None, crf=10, preset="veryslow", deblock=True, size=(38, 50),
                                extra="qpmin=1:qpmax=51"),
    "many-frames": dict(qp=27, preset="fast", deblock=True, size=(32, 48), nframes=12),
    # keyint 250: only the first picture is IDR; x264 codes the scene cuts as non-IDR I pictures
    # (nal_unit_type 1, frame_num > 0), which are I slices all the same.
    "non-idr-i-pictures": dict(qp=25, preset="veryslow", deblock=True, size=(48, 64), nframes=5, keyint=250,
                               extra="scenecut=100"),
}


# what each feature stream must show in its headers (checked with FFmpeg's parser, so a changed x264 default
# cannot silently turn a feature test into a duplicate of the plain grid)
X264_FEATURE_EXPECT = {
    "crf-aq-mb_qp_delta": lambda s: len(set(s.slice_qps)) > 1,
    "slices4": lambda s: set(s.slices_per_picture) == {4},
    "slices-max-mbs3-nodb": lambda s: min(s.slices_per_picture) > 1 and set(s.disable_deblocking) == {1},
    "deblock-offsets-neg": lambda s: s.deblock_offsets == {(-3, -2)},
    "deblock-offsets-pos": lambda s: s.deblock_offsets == {(4, 3)},
    "tune-psnr-chroma-qp-offset-0": lambda s: s.chroma_qp_index_offset == 0,
    "chroma-qp-offset+6": lambda s: s.chroma_qp_index_offset > 2,
    "chroma-qp-offset-12": lambda s: s.chroma_qp_index_offset == -12,
    "qp-min-max-extremes": lambda s: min(s.slice_qps) < 10,
    "non-idr-i-pictures": lambda s: 1 in s.nal_types,
}


@pytest.mark.parametrize("name", list(X264_FEATURES))
def test_x264_feature_stream(codec, name):
    c = dict(X264_FEATURES[name])
    h, w = c.pop("size")
    nframes = c.pop("nframes", X264_FRAMES)
    frames = o.mixed_frames(h, w, nframes, seed=len(name))
    qp = c.pop("qp")
    data = o.x264_encode(frames, qp, c.pop("preset"), c.pop("deblock"), c.pop("extra", ""), **c)
    s = o.stream_summary(data)
    assert s.intra_only and s.constrained_baseline and s.pictures == nframes, s
    assert X264_FEATURE_EXPECT.get(name, lambda s: True)(s), f"oracle stream lacks the feature {name}: {s}"
    check_against_ffmpeg(codec, data, f"x264 {name}", nframes)


def test_x264_single_picture_decode(codec):
    """decode() (one picture) agrees with FFmpeg on a one-picture stream; "gray" is its luma plane."""
    frames = o.photo_frames(1, 58, 100)
    data = o.x264_encode(frames, 24, "veryslow")
    ref = o.ffmpeg_decode(data, "h264", expected_frames=1)[0]
    got = codec.decode(data, output="yuv")
    o.assert_planes_equal(tuple(got), ref, "decode(output='yuv')")
    gray = codec.decode(data, output="gray")
    assert isinstance(gray, np.ndarray) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, ref[0], "decode(output='gray') is not the luma plane")


def test_x264_single_picture_decode_rgb_shape(codec):
    data = o.x264_encode(o.photo_frames(1, 58, 100), 24, "veryslow")
    rgb = codec.decode(data, output="rgb")
    assert isinstance(rgb, np.ndarray) and rgb.shape == (58, 100, 3) and rgb.dtype == np.uint8
    frames = list(codec.decode_frames(o.x264_encode(o.photo_frames(2, 58, 100), 24, "veryslow"), output="rgb"))
    assert len(frames) == 2 and all(f.shape == (58, 100, 3) for f in frames)


# ----------------------------------------------------------------------------- libopenh264 streams

OH264_QPS = [20, 26, 32, 38, 44, 51]
OH264_AXES = {"qp": OH264_QPS, "deblock": [True, False], "max_nal_size": [None, 500],
              "size": [(48, 64), (58, 100), (144, 176)]}
OH264_DEFAULT = o.covering("qp", {"qp": [20, 32, 51], "deblock": [True, False], "max_nal_size": [None, 500],
                                  "size": [(58, 100), (144, 176)]})[:4]
OH264_SLOW = [c for c in o.full_product(OH264_AXES) if c not in OH264_DEFAULT]


def _oh_id(c):
    return (f"qp{c['qp']}-{'db' if c['deblock'] else 'nodb'}-{'multislice' if c['max_nal_size'] else '1slice'}"
            f"-{c['size'][1]}x{c['size'][0]}")


def _openh264_case(codec, qp, deblock, max_nal_size, size):
    h, w = size
    # photos and a gradient: libopenh264 refuses to code a single slice bigger than its size limit,
    # which noise reaches at low QPs (the x264 streams cover noise)
    frames = o.photo_frames(X264_FRAMES - 1, h, w) + [o.synthetic_planes("gradient", h, w)]
    data = o.openh264_encode(frames, qp, deblock, max_nal_size=max_nal_size)
    s = o.stream_summary(data)
    assert s.intra_only and s.constrained_baseline and s.pictures == X264_FRAMES, s
    check_against_ffmpeg(codec, data, f"openh264 qp={qp} deblock={deblock} nal<={max_nal_size} {w}x{h}", X264_FRAMES)


@o.skip_if_no_openh264_enc
@pytest.mark.parametrize("case", OH264_DEFAULT, ids=_oh_id)
def test_openh264_stream(codec, case):
    _openh264_case(codec, **case)


@pytest.mark.slow
@o.skip_if_no_openh264_enc
@pytest.mark.parametrize("case", OH264_SLOW, ids=_oh_id)
def test_openh264_stream_exhaustive(codec, case):
    _openh264_case(codec, **case)


# ----------------------------------------------------------------------------- lossless I_PCM streams

@pytest.mark.parametrize("size,slices,deblock", [((1, 1), 1, False), ((17, 33), 3, True), ((64, 80), 2, False)])
def test_pcm_stream(codec, size, slices, deblock):
    frames = [o.rgb_to_yuv420_ref(o.crop(o.sample_image("coffee"), *size, 100, 200)),
              o.synthetic_planes("noise", *size, seed=5)]
    data = o.pcm_stream(frames, slices=slices, deblock=deblock)
    want = [o.pad_to_output(f) for f in frames]
    o.assert_sequences_equal(o.ffmpeg_decode(data, "h264"), want, "oracle self-check")
    o.assert_sequences_equal(decode_all(codec, data), want, "minicodec on I_PCM stream")


# ----------------------------------------------------------------------------- corrupt / unsupported streams

def _expect_bitstream_error(codec, data, what):
    with pytest.raises(codec.BitstreamError):
        list(codec.decode_frames(data, output="yuv"))
    with pytest.raises(codec.BitstreamError):
        codec.decode(data, output="yuv")


def test_rejects_truncated_stream(codec):
    data = o.x264_encode(o.photo_frames(1, 64, 96), 20, "veryslow")
    _expect_bitstream_error(codec, data[: len(data) * 2 // 3], "truncated slice")


def _expect_no_picture(codec, data, what):
    """A stream without any decodable picture: decode() must raise BitstreamError; decode_frames() must
    raise it too or yield nothing (never a made-up picture)."""
    with pytest.raises(codec.BitstreamError):
        codec.decode(data, output="yuv")
    try:
        got = list(codec.decode_frames(data, output="yuv"))
    except codec.BitstreamError:
        return
    assert got == [], f"{what}: decode_frames yielded {len(got)} pictures from a stream without any"


def test_rejects_empty_and_garbage(codec):
    _expect_no_picture(codec, b"", "empty")
    rng = np.random.default_rng(0)
    garbage = rng.integers(1, 256, 2000, dtype=np.uint8).tobytes()
    _expect_no_picture(codec, garbage, "no start code")
    _expect_no_picture(codec, b"\x00\x00\x00\x01\x67" + garbage[:50], "garbage SPS alone")


def test_rejects_garbage_slice(codec):
    """Valid SPS and PPS followed by an IDR slice of random bytes."""
    data = o.x264_encode(o.photo_frames(1, 48, 64), 26, "veryslow")
    nals = o.nal_units(data)
    head = b"".join(b"\x00\x00\x00\x01" + n for t, n in nals if t in (7, 8))
    rng = np.random.default_rng(1)
    body = o.escape_rbsp(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    _expect_bitstream_error(codec, head + b"\x00\x00\x00\x01\x65" + body, "random slice data")


@o.skip_if_no_x264
def test_rejects_p_slices(codec):
    f = o.photo_frames(1, 48, 64)[0]
    data = o.x264_encode([f, f, f], 26, "veryslow", "scenecut=0", keyint=250)
    assert not o.stream_summary(data).intra_only
    with pytest.raises(codec.BitstreamError):
        list(codec.decode_frames(data, output="yuv"))


@o.skip_if_no_x264
def test_rejects_cabac(codec):
    data = o.x264_encode(o.photo_frames(1, 48, 64), 26, "veryslow", profile="main")
    assert o.stream_summary(data).entropy_coding_mode_flag == 1
    _expect_bitstream_error(codec, data, "CABAC")
