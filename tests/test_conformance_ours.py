"""minicodec's encoder judged by independent decoders.

Every stream minicodec.encode writes must decode, in FFmpeg's native h264 decoder AND in libopenh264, to
exactly ``enc.planes`` (all three planes, bit-exact), and minicodec.decode must agree too (cut to the input
size: an odd width or height is stated in minicodec's SEI message, which other decoders skip). The stream's
syntax is read back with FFmpeg's own parser (Constrained Baseline, one IDR picture, the requested number
of slices, deblocking on/off as asked) and, where a macroblock type is forced, FFmpeg's per-macroblock
type dump must show it everywhere.

Axes: scikit-image photos as RGB, gray and (Y, Cb, Cr) input, full size and cropped to 300x451, 37x53,
17x33, 1x1; QP 0, 10, 22, 30, 40, 51 and three per-macroblock QP maps (ramp, random, 0/51 checkerboard,
which needs mb_qp_delta to wrap); every forced I4x4 mode 0..8, every I16x16 mode 0..3, every chroma mode
0..3 (each luma choice crossed with each chroma choice), I_PCM; deblocking on/off; 1, 2, 3 and 5 slices.
Forced modes use small crops so that the full grids stay affordable. (Y, Cb, Cr) input of odd sizes (chroma
ceil(H/2) x ceil(W/2), as the API specifies) has its own test, test_odd_size_yuv_input.

The full cross products are ``slow`` (``pytest -m slow``); the default run uses pairwise covering designs
(every value of every axis, and every pair of values of any two axes, occurs at least once).

A libopenh264-only mismatch is asserted like any other: it is a codec bug to report, not to hide.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import oracles as o

pytestmark = o.skip_if_no_ffmpeg

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ffmpeg-oracle")   # runs FFmpeg processes

# ----------------------------------------------------------------------------- axes

PHOTO_IMAGES = [
    "astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera",    # full size photos
    "astronaut_300x451", "camera_300x451", "astronaut_37x53",
    "rocket_17x33", "camera_17x33", "coffee_1x1", "camera_1x1",
    "yuv:coffee_64x80", "yuv:camera_64x80",                                          # (Y, Cb, Cr) input
]
MODE_IMAGES = ["chelsea_48x64", "camera_64x80", "yuv:coffee_64x80", "astronaut_37x53", "rocket_17x33"]
QPS = [0, 10, 22, 30, 40, 51, "map:ramp", "map:random", "map:extremes"]
DEBLOCK = [True, False]
PHOTO_SLICES = [1, 2, 5]
MODE_SLICES = [1, 3]

LUMA_MODES = ([None, ("I4x4", None)] + [("I4x4", m) for m in range(9)] + [("I16x16", None)]
              + [("I16x16", m) for m in range(4)] + [("I_PCM", None)])
CHROMA_MODES = [None, 0, 1, 2, 3]
MB_TYPE_CHAR = {"I4x4": "i", "I16x16": "I", "I_PCM": "P"}   # FFmpeg's -debug mb_type letters


def load_input(name):
    """'yuv:<sample>' -> (Y, Cb, Cr) planes of that sample; anything else -> the sample image itself."""
    if name.startswith("yuv:"):
        return o.rgb_to_yuv420_ref(o.sample_image(name[4:]))
    return o.sample_image(name)


def input_size(image):
    return image[0].shape if isinstance(image, tuple) else image.shape[:2]


def qp_value(spec, h, w, seed=0):
    if isinstance(spec, int):
        return spec
    mbh, mbw = -(-h // 16), -(-w // 16)
    r, c = np.mgrid[0:mbh, 0:mbw]
    if spec == "map:ramp":
        return ((7 * r + 5 * c) % 52).astype(np.int64)
    if spec == "map:random":
        return np.random.default_rng(seed).integers(0, 52, (mbh, mbw)).astype(np.int32)
    if spec == "map:extremes":   # 0 next to 51: mb_qp_delta must wrap (-26..25, modulo 52)
        return np.where((r + c) % 2 == 1, 51, 0).astype(np.int64)
    raise ValueError(spec)


def mode_options(luma, chroma):
    opts = {}
    if luma is not None:
        kind, m = luma
        opts["force_mb_type"] = kind
        if m is not None:
            opts["force_i4x4_mode" if kind == "I4x4" else "force_i16x16_mode"] = m
    if chroma is not None:
        opts["force_chroma_mode"] = chroma
    return opts


def _qp_id(q):
    return f"qp{q}" if isinstance(q, int) else q.replace("map:", "qpmap-")


def _luma_id(luma):
    if luma is None:
        return "auto"
    return luma[0] + ("" if luma[1] is None else f"m{luma[1]}")


def case_id(c):
    parts = [c["image"].replace(":", "-"), _qp_id(c["qp"]), "db" if c["deblock"] else "nodb", f"s{c['slices']}"]
    if "luma" in c:
        parts += [_luma_id(c["luma"]), "cauto" if c["chroma"] is None else f"c{c['chroma']}"]
    return "-".join(parts)


# ----------------------------------------------------------------------------- the check

def input_yuv(codec, image):
    """The 4:2:0 picture the encoder is meant to code, from the codec's own colour conversion (checked
    against an independent one in test_colour_conversion_matches_reference)."""
    if isinstance(image, tuple):
        return image
    if image.ndim == 2:   # gray is coded as (full-range) luma with neutral chroma
        return o.rgb_to_yuv420_ref(image)
    return codec.colour.rgb_to_yuv420(image)


def psnr_floor(qp):
    """A deliberately loose lower bound on luma PSNR for photos at a QP (about 6 dB below what any sane
    H.264 intra encoder reaches): catches an encoder that writes valid streams of the wrong picture."""
    return 48.0 - 0.75 * qp


def encode_and_check(codec, name, qp_spec, deblock, slices, luma=None, chroma=None, **extra):
    image = load_input(name)
    h, w = input_size(image)
    n_mbs = -(-h // 16) * -(-w // 16)
    slices = min(slices, n_mbs)        # the codec accepts 1..number of macroblocks
    qp = qp_value(qp_spec, h, w, seed=h * 1000 + w)
    opts = mode_options(luma, chroma)
    what = (f"{name} ({w}x{h}) qp={_qp_id(qp_spec)} deblock={deblock} slices={slices} "
            f"luma={_luma_id(luma)} chroma={chroma} {extra or ''}")
    enc = codec.encode(image, qp=qp, deblock=deblock, slices=slices, **opts, **extra)

    # --- API shape
    oh, ow = h + (h & 1), w + (w & 1)
    planes = tuple(enc.planes)
    assert len(planes) == 3, what
    want_shapes = [(oh, ow), o.chroma_shape(oh, ow), o.chroma_shape(oh, ow)]
    assert [p.shape for p in planes] == want_shapes, f"{what}: planes {[p.shape for p in planes]}"
    assert all(p.dtype == np.uint8 for p in planes), what
    assert (enc.width, enc.height) == (w, h), what
    assert isinstance(enc.data, bytes) and 0 < enc.bits <= 8 * len(enc.data), what

    # --- the stream's syntax, read by FFmpeg's parser
    # FFmpeg's parser, its two decoders and its macroblock-type dump run as parallel processes while
    # minicodec decodes in this thread
    jobs = {"syntax": (o.stream_summary, enc.data)}
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            jobs[dec] = (o.ffmpeg_decode, enc.data, dec)
    if luma is not None:
        jobs["mb_types"] = (o.ffmpeg_mb_types, enc.data)
    futures = {k: _POOL.submit(*job) for k, job in jobs.items()}
    problems = []
    decoded = {}
    try:
        decoded["minicodec.decode"] = tuple(codec.decode(enc.data, output="yuv"))
    except Exception as e:  # noqa: BLE001 - reported with the rest
        problems.append(f"minicodec.decode raised {type(e).__name__}: {e}")
    results = {}
    for k, fut in futures.items():
        try:
            results[k] = fut.result()
        except o.FFmpegError as e:
            problems.append(f"FFmpeg {k} failed: {e}")

    # --- the stream's syntax, read by FFmpeg's parser
    s = results.get("syntax")
    if s is not None:
        if not (s.constrained_baseline and s.intra_only and 5 in s.nal_types):
            problems.append(f"not a Constrained Baseline intra IDR stream: {s}")
        if (s.width, s.height) != (ow, oh):
            problems.append(f"SPS says {s.width}x{s.height}, expected {ow}x{oh}")
        if s.pictures != 1 or s.slices_per_picture != [slices]:
            problems.append(f"{s.pictures} pictures with {s.slices_per_picture} slices, expected 1 with {slices}")
        if deblock and 1 in s.disable_deblocking or not deblock and set(s.disable_deblocking) != {1}:
            problems.append(f"disable_deblocking_filter_idc {s.disable_deblocking} with deblock={deblock}")
        if (6 in s.nal_types) != bool((h | w) & 1):
            problems.append(f"NAL unit types {sorted(s.nal_types)}: an SEI NAL unit is for odd sizes only")

    # --- independent decoders and minicodec's own, all against enc.planes
    for dec in o.DECODERS:
        if dec in results:
            if len(results[dec]) != 1:
                problems.append(f"FFmpeg {dec} output {len(results[dec])} pictures")
            else:
                decoded[dec] = results[dec][0]
    for dec, pic in decoded.items():
        ours = dec == "minicodec.decode"
        msg = o.describe_mismatch(pic, o.crop_planes(planes, h, w) if ours else planes)
        if msg:
            problems.append(f"{dec} output != enc.planes{' cut to the input size' if ours else ''}: {msg}")

    # --- forced macroblock types, as FFmpeg parsed them
    if "mb_types" in results:
        types = results["mb_types"]
        want = MB_TYPE_CHAR[luma[0]]
        if len(types) != 1 or types[0].shape != (-(-oh // 16), -(-ow // 16)):
            problems.append(f"FFmpeg's mb_type dump: {types}")
        elif not (types[0] == want).all():
            problems.append(f"forced {luma[0]} but FFmpeg parsed macroblock types\n{types[0]}")
    assert not problems, what + "\n  " + "\n  ".join(problems)
    check_forced_modes_took_effect(enc, what, slices, luma, chroma)

    # --- recon in the input's form
    src = input_yuv(codec, image)
    if isinstance(image, tuple):
        o.assert_planes_equal(tuple(enc.recon), o.crop_planes(planes, h, w), f"{what}: recon")
    elif image.ndim == 2:
        np.testing.assert_array_equal(enc.recon, planes[0][:h, :w], f"{what}: gray recon is not the luma")
    else:
        assert enc.recon.shape == image.shape and enc.recon.dtype == np.uint8, what

    # --- I_PCM is lossless; otherwise the picture must resemble the input
    if luma is not None and luma[0] == "I_PCM":
        o.assert_planes_equal(o.crop_planes(planes, h, w), src, f"{what}: I_PCM is not lossless")
    elif luma is None and chroma is None and not extra and h * w >= 256:
        # (not for tiny pictures: with padding weighing nothing, leaving a lone pixel uncoded at a high QP
        # is a sound RD decision)
        qmax = int(np.max(qp))
        got = o.psnr(planes[0][:h, :w], src[0])
        assert got >= psnr_floor(qmax), f"{what}: PSNR-Y {got:.2f} dB < {psnr_floor(qmax):.2f} dB at QP {qmax}"
    return enc


def check_forced_modes_took_effect(enc, what, slices, luma, chroma):
    """Macroblock (1, 1) of a one-slice picture has every neighbour available, so a forced prediction
    mode cannot fall back to DC there. Read from the per-macroblock statistics Encoded reports (when it
    has them): this checks that the forcing axis really exercises each mode."""
    if slices != 1 or min(enc.planes[0].shape) <= 16:
        return
    if luma is not None and luma[1] is not None:
        attr = "mb_i4x4_modes" if luma[0] == "I4x4" else "mb_i16x16_mode"
        if hasattr(enc, attr):
            got = np.asarray(getattr(enc, attr))[1, 1]
            assert np.all(got == luma[1]), f"{what}: {attr}[1, 1] = {got}, forced {luma[1]}"
    if chroma is not None and (luma is None or luma[0] != "I_PCM") and hasattr(enc, "mb_chroma_mode"):
        got = np.asarray(enc.mb_chroma_mode)[1, 1]
        assert got == chroma, f"{what}: mb_chroma_mode[1, 1] = {got}, forced {chroma}"


# ----------------------------------------------------------------------------- photos x QPs x deblock x slices

PHOTO_AXES = {"image": PHOTO_IMAGES, "qp": QPS, "deblock": DEBLOCK, "slices": PHOTO_SLICES}
PHOTO_DEFAULT = o.pairwise(PHOTO_AXES)
_PHOTO_DEFAULT_IDS = {case_id(c) for c in PHOTO_DEFAULT}
PHOTO_SLOW = [c for c in o.full_product(PHOTO_AXES) if case_id(c) not in _PHOTO_DEFAULT_IDS]


@pytest.mark.parametrize("case", PHOTO_DEFAULT, ids=case_id)
def test_photo(codec, case):
    encode_and_check(codec, case["image"], case["qp"], case["deblock"], case["slices"])


@pytest.mark.slow
@pytest.mark.parametrize("case", PHOTO_SLOW, ids=case_id)
def test_photo_exhaustive(codec, case):
    encode_and_check(codec, case["image"], case["qp"], case["deblock"], case["slices"])


# ----------------------------------------------------------------------------- forced modes

MODE_AXES = {"luma": LUMA_MODES, "chroma": CHROMA_MODES, "image": MODE_IMAGES, "qp": QPS, "deblock": DEBLOCK,
             "slices": MODE_SLICES}


def _valid_mode_case(c):   # chroma prediction does not exist in I_PCM macroblocks
    return not (c["luma"] is not None and c["luma"][0] == "I_PCM" and c["chroma"] is not None)


MODE_DEFAULT = [c if _valid_mode_case(c) else {**c, "chroma": None} for c in o.pairwise(MODE_AXES)]
_MODE_DEFAULT_IDS = {case_id(c) for c in MODE_DEFAULT}
MODE_SLOW = [c for c in o.full_product(MODE_AXES) if _valid_mode_case(c) and case_id(c) not in _MODE_DEFAULT_IDS]


@pytest.mark.parametrize("case", MODE_DEFAULT, ids=case_id)
def test_forced_mode(codec, case):
    encode_and_check(codec, case["image"], case["qp"], case["deblock"], case["slices"], case["luma"], case["chroma"])


@pytest.mark.slow
@pytest.mark.parametrize("case", MODE_SLOW, ids=case_id)
def test_forced_mode_exhaustive(codec, case):
    encode_and_check(codec, case["image"], case["qp"], case["deblock"], case["slices"], case["luma"], case["chroma"])


def test_default_subsets_cover_every_axis_value():
    """The default (non-slow) cases touch every value of every axis at least once."""
    for rows, axes in ((PHOTO_DEFAULT, PHOTO_AXES), (MODE_DEFAULT, MODE_AXES)):
        for axis, values in axes.items():
            for v in values:
                assert any(r[axis] == v for r in rows), (axis, v)
    pairs = {(_luma_id(c["luma"]), c["chroma"]) for c in MODE_DEFAULT}
    for luma in LUMA_MODES:
        for chroma in CHROMA_MODES:
            if _valid_mode_case({"luma": luma, "chroma": chroma}):
                assert (_luma_id(luma), chroma) in pairs, (luma, chroma)


# ----------------------------------------------------------------------------- other properties

@pytest.mark.parametrize("name", ["astronaut_37x53", "rocket_17x33", "coffee_1x1"])
def test_odd_size_yuv_input(codec, name):
    """(Y, Cb, Cr) input of an odd size, chroma ceil(H/2) x ceil(W/2) as the API specifies."""
    for luma in (None, ("I_PCM", None)):
        encode_and_check(codec, "yuv:" + name, 26, True, 1, luma)


def test_colour_conversion_matches_reference(codec):
    """minicodec.colour.rgb_to_yuv420 against an independent BT.601 limited-range conversion: luma to
    rounding (+-1), chroma closely on average (the 2x2 downsampling filter may legitimately differ)."""
    for name in ["astronaut", "coffee", "chelsea", "rocket_17x33", "astronaut_37x53", "coffee_1x1"]:
        img = o.sample_image(name)
        got = codec.colour.rgb_to_yuv420(img)
        ref = o.rgb_to_yuv420_ref(img)
        assert [p.shape for p in got] == [p.shape for p in ref], name
        assert all(p.dtype == np.uint8 for p in got), name
        d = [np.abs(a.astype(np.int32) - b.astype(np.int32)) for a, b in zip(got, ref)]
        assert d[0].max() <= 1, f"{name}: luma differs by up to {d[0].max()}"
        for k in (1, 2):
            assert d[k].mean() <= 1.0 and d[k].max() <= 24, f"{name}: chroma {k} mean {d[k].mean():.2f} max {d[k].max()}"


def test_encode_is_deterministic_and_save_writes_the_stream(codec, tmp_path):
    img = o.sample_image("chelsea_48x64")
    a = codec.encode(img, qp=27, slices=2)
    b = codec.encode(img.copy(), qp=27, slices=2)
    assert a.data == b.data
    o.assert_planes_equal(tuple(a.planes), tuple(b.planes))
    p = tmp_path / "x.264"
    a.save(p)
    assert p.read_bytes() == a.data
    assert o.ffmpeg_decode(p.read_bytes(), "h264", a.width, a.height, expected_frames=1)


def test_encode_does_not_modify_its_input(codec):
    img = o.sample_image("coffee_64x80")
    keep = img.copy()
    planes = o.rgb_to_yuv420_ref(img)
    keep_planes = tuple(p.copy() for p in planes)
    codec.encode(img, qp=20)
    codec.encode(planes, qp=20, force_mb_type="I_PCM")
    np.testing.assert_array_equal(img, keep)
    o.assert_planes_equal(planes, keep_planes)


@pytest.mark.parametrize("aq", [None, "weights"])
@pytest.mark.parametrize("image", ["chelsea_48x64", "camera_64x80"])
def test_importance_weights(codec, image, aq):
    """An (H, W) importance map changes the RD decisions, never the conformance; with aq='weights' it also
    sets each macroblock's QP (here QP - 3 and QP + 6 in a checkerboard: mb_qp_delta of both signs)."""
    img = o.sample_image(image)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    weights = np.where((yy // 16 + xx // 16) % 2 == 0, 8.0, 0.125)
    enc = codec.encode(img, qp=30, weights=weights, aq=aq)
    if aq:
        assert set(np.unique(enc.mb_qp)) <= {27, 30, 36} and enc.mb_qp.min() == 27 and enc.mb_qp.max() == 36
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            o.assert_planes_equal(o.ffmpeg_decode(enc.data, dec, expected_frames=1)[0], tuple(enc.planes), dec)
    o.assert_planes_equal(tuple(codec.decode(enc.data, output="yuv")), tuple(enc.planes), "minicodec.decode")


@pytest.mark.parametrize("qp", [0, 51])
@pytest.mark.parametrize("effort", ["fast", "medium"])
def test_extreme_importance_weights(codec, effort, qp):
    """Weights from 0 to 1e4 (fast effort: dead zones from DEADZONE_MIN to nearly 1/2; medium: RDOQ) stay
    conformant at both ends of the QP range."""
    img = o.sample_image("chelsea_48x64")
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    weights = np.choose((yy // 8 + 3 * (xx // 8)) % 4, [0.0, 1e-6, 1.0, 1e4])
    enc = codec.encode(img, qp=qp, weights=weights, effort=effort)
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            o.assert_planes_equal(o.ffmpeg_decode(enc.data, dec, expected_frames=1)[0], tuple(enc.planes), dec)
    o.assert_planes_equal(tuple(codec.decode(enc.data, output="yuv")), tuple(enc.planes), "minicodec.decode")


EXTRA_OPTIONS = [
    dict(effort="full"),
    dict(effort="medium", rdoq=False),
    dict(effort="fast", rdoq=True, aq="variance"),
    dict(effort="medium", aq="variance", aq_strength=2.0),
    dict(effort="full", force_mb_type="I4x4"),
    dict(alpha_offset=6, beta_offset=6),
    dict(alpha_offset=-6, beta_offset=-3),
    dict(alpha_offset=3, beta_offset=-6, slices=3),
]


@pytest.mark.parametrize("options", EXTRA_OPTIONS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
@pytest.mark.parametrize("qp", [16, 36])
def test_extra_encoder_options(codec, options, qp):
    """Options beyond the core API (encoder effort, RDOQ, AQ, deblocking filter offsets)."""
    options = dict(options)
    slices = options.pop("slices", 1)
    luma = (options.pop("force_mb_type"), None) if "force_mb_type" in options else None
    codec.encode(o.sample_image("camera_17x33"), qp=qp, **options)
    enc = encode_and_check(codec, "chelsea_48x64", qp, True, slices, luma, None, **options)
    if "alpha_offset" in options:
        s = o.stream_summary(enc.data)
        assert s.deblock_offsets == {(options["alpha_offset"], options["beta_offset"])}, s
