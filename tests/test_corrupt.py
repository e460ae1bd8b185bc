"""Robustness of the decoder against truncated, corrupted and malformed streams.

The decoder's Numba kernels do not bounds-check, so every index that comes from the stream must be
guarded. Whatever the input, ``decode`` / ``decode_frames`` must either return well-formed pictures or
raise ``minicodec.BitstreamError``: never another exception, a crash or a hang.

* the fuzz loops run in the test process (fast, and a failure shows a traceback), and one batch also
  runs in a subprocess so that a segmentation fault or a hang fails a test instead of killing pytest;
* mutations that leave the SPS alone must give a picture of the original size (or, for an odd size, of
  the SPS's even size when the size SEI message was changed into one that is not minicodec's);
* after all that abuse the valid streams still decode exactly (no state leaks between calls);
* ``-m slow`` runs the exhaustive version (every truncation, every single-bit flip, many more mutations).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minicodec
from minicodec import BitstreamError, decode, decode_frames, encode

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
START = b"\x00\x00\x00\x01"
OUTPUTS = ("rgb", "gray", "yuv")
MAX_FRAMES = 8   # decode_frames on garbage: look at this many pictures at most


# ----------------------------------------------------------------------------------------------------
# valid streams to corrupt
# ----------------------------------------------------------------------------------------------------

def _photo():
    try:
        from skimage.data import astronaut
        return astronaut()[96:208, 176:320].copy()          # 112 x 144
    except ImportError:
        rng = np.random.default_rng(0)
        n = rng.normal(0, 50, (30, 38, 3))
        return np.clip(128 + np.kron(n, np.ones((4, 4, 1))), 0, 255).astype(np.uint8)[:112, :144]


def build_streams():
    """name -> (stream bytes, reference planes = what decode(..., "yuv") returns). Small photo crops, several
    QPs, slices, I_PCM, QP maps, odd sizes (with minicodec's size SEI message)."""
    photo = _photo()
    gray = photo[..., 1]
    rng = np.random.default_rng(11)
    specs = {
        "q12": (photo[:32, :48], dict(qp=12)),
        "q30_slices": (photo[:48, :64], dict(qp=30, slices=5)),
        "q45_offsets": (photo[:32, :64], dict(qp=45, alpha_offset=-3, beta_offset=5)),
        "pcm": (photo[:32, :32], dict(force_mb_type="I_PCM")),
        "gray_odd_i16": (gray[:35, :41], dict(qp=20, force_mb_type="I16x16", slices=2)),
        "qpmap_full": (photo[:48, :48], dict(qp=rng.integers(5, 50, (3, 3)), effort="full", deblock=False)),
        "tiny": (photo[:1, :3], dict(qp=0)),
        # zero samples: the NAL payload is full of emulation_prevention_three_bytes
        "pcm_zeros": (np.zeros((16, 32), np.uint8), dict(force_mb_type="I_PCM", slices=2)),
        "aq_medium": (photo[:48, :48], dict(qp=26, aq="variance", effort="medium", slices=2)),
    }
    out = {}
    for name, (img, kw) in specs.items():
        enc = encode(np.ascontiguousarray(img), **kw)
        h, w = img.shape[:2]
        y, cb, cr = enc.planes
        out[name] = (enc.data, (y[:h, :w], cb, cr))   # the true size; chroma is ceil(h / 2) x ceil(w / 2)
    return out


def nal_spans(data):
    """[(start of the start code, end)] of each NAL unit of a minicodec stream (4-byte start codes)."""
    starts = []
    i = data.find(START)
    while i >= 0:
        starts.append(i)
        i = data.find(START, i + 4)
    return [(s, e) for s, e in zip(starts, starts[1:] + [len(data)])]


def sps_end(data):
    """Offset of the first byte after the SPS NAL unit (minicodec streams start with SPS, PPS)."""
    spans = nal_spans(data)
    assert data[spans[0][0] + 4] & 31 == 7
    return spans[1][0]


# ----------------------------------------------------------------------------------------------------
# the outcome contract
# ----------------------------------------------------------------------------------------------------

def check_picture(pic, output, shape=None):
    """A decoded picture is well formed; ``shape`` is the expected (H, W) of its luma when known."""
    if output == "yuv":
        assert isinstance(pic, tuple) and len(pic) == 3
        y, cb, cr = pic
        for p in pic:
            assert isinstance(p, np.ndarray) and p.dtype == np.uint8 and p.ndim == 2
        h, w = y.shape
        assert cb.shape == cr.shape == ((h + 1) // 2, (w + 1) // 2)
    else:
        assert isinstance(pic, np.ndarray) and pic.dtype == np.uint8
        assert pic.ndim == (3 if output == "rgb" else 2)
        if output == "rgb":
            assert pic.shape[2] == 3
        h, w = pic.shape[:2]
    assert h > 0 and w > 0
    if shape is not None:
        # frame cropping is in units of 2 samples (4:2:0); an odd size comes from minicodec's SEI message, and
        # a corrupted one may be skipped (the SPS's even size) or state another size the SPS can hold
        H, W = shape
        odd_ok = (H | W) & 1 and (h + h % 2, w + w % 2) == (H + H % 2, W + W % 2)
        assert (h, w) == shape or odd_ok, f"picture {h}x{w}, expected {H}x{W}"


def try_decode(data, output="yuv", shape=None):
    """decode(): a well-formed picture (returned) or BitstreamError (None). Anything else propagates."""
    try:
        pic = decode(data, output)
    except BitstreamError:
        return None
    check_picture(pic, output, shape)
    return pic


def try_decode_frames(data, output="yuv", shape=None):
    """decode_frames(): each picture well formed (the first of size ``shape``) until BitstreamError or
    the end; returns the number of pictures seen."""
    n = 0
    try:
        for pic in decode_frames(data, output):
            check_picture(pic, output, shape if n == 0 else None)
            n += 1
            if n >= MAX_FRAMES:
                break
    except BitstreamError:
        pass
    return n


# ----------------------------------------------------------------------------------------------------
# mutations
# ----------------------------------------------------------------------------------------------------

def mutate(rng, data, others):
    """One random corruption of ``data``. Returns (bytes, low): ``low`` is the lowest byte offset the
    mutation may have changed the meaning of (0 when NAL units were moved or replaced)."""
    a = bytearray(data)
    n = len(a)
    op = int(rng.integers(0, 10))
    if op <= 2:                                   # flip 1..4 random bits
        pos = rng.integers(0, 8 * n, int(rng.integers(1, 5)))
        for p in pos:
            a[p >> 3] ^= 1 << int(p & 7)
        return bytes(a), int(pos.min() >> 3)
    if op == 3:                                   # overwrite one byte
        i = int(rng.integers(0, n))
        a[i] = int(rng.integers(0, 256))
        return bytes(a), i
    if op == 4:                                   # overwrite a run with zeros / 0xff / noise
        i = int(rng.integers(0, n))
        k = int(rng.integers(1, 17))
        fill = rng.choice([0, 255, -1])
        run = rng.integers(0, 256, k) if fill < 0 else np.full(k, fill)
        a[i:i + k] = bytes(run.astype(np.uint8).tolist())[: n - i]
        return bytes(a), i
    if op == 5:                                   # delete a range
        i = int(rng.integers(0, n))
        del a[i:i + int(rng.integers(1, 33))]
        return bytes(a), i
    if op == 6:                                   # insert noise or a start code with a random header
        i = int(rng.integers(0, n + 1))
        ins = bytes(rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8).tolist())
        if rng.random() < 0.5:   # a new NAL unit: could be a new SPS, so the size may change
            a[i:i] = b"\x00\x00\x01" + ins
            return bytes(a), 0
        a[i:i] = ins
        return bytes(a), i
    # NAL-level surgery: drop / duplicate / swap / replace with a NAL unit of another stream
    units = [data[s:e] for s, e in nal_spans(data)]
    k = int(rng.integers(0, len(units)))
    if op == 7:
        del units[k]
    elif op == 8:
        units.insert(int(rng.integers(0, len(units) + 1)), units[k])
    else:
        other = others[int(rng.integers(0, len(others)))]
        ounits = [other[s:e] for s, e in nal_spans(other)]
        if rng.random() < 0.5:
            units[k] = ounits[int(rng.integers(0, len(ounits)))]
        else:
            j = int(rng.integers(0, len(units)))
            units[k], units[j] = units[j], units[k]
    return b"".join(units), 0


def fuzz(streams, seed, n_per_stream, record_errors=False):
    """Run ``n_per_stream`` random mutations of each stream through decode and decode_frames.

    With record_errors, unexpected exceptions are collected (for the subprocess batch) instead of raised.
    Returns a summary dict."""
    rng = np.random.default_rng(seed)
    names = sorted(streams)
    allbytes = [streams[k][0] for k in names]
    summary = {"cases": 0, "pictures": 0, "bitstream_errors": 0, "unexpected": []}
    for name in names:
        data, planes = streams[name]
        boundary = sps_end(data)
        shape = planes[0].shape
        for i in range(n_per_stream):
            bad, low = mutate(rng, data, allbytes)
            output = OUTPUTS[i % 3]
            want = shape if low >= boundary else None
            try:
                pic = try_decode(bad, output, want)
                try_decode_frames(bad, OUTPUTS[(i + 1) % 3], want)
            except Exception as e:  # noqa: BLE001
                if not record_errors:
                    raise AssertionError(f"{name} mutation {i} (seed {seed}): {type(e).__name__}: {e}\n"
                                         f"stream: {bad.hex()}") from e
                summary["unexpected"].append([name, i, type(e).__name__, str(e)[:200], bad.hex()])
                continue
            summary["cases"] += 1
            summary["pictures" if pic is not None else "bitstream_errors"] += 1
    return summary


# ----------------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def streams():
    s = build_streams()
    for name, (data, planes) in s.items():        # the fixtures themselves are sound
        got = decode(data, "yuv")
        assert all(np.array_equal(g, p) for g, p in zip(got, planes)), name
    return s


def _assert_intact(streams):
    """Valid streams still decode exactly: nothing leaked from the corrupt ones."""
    for name, (data, planes) in streams.items():
        got = decode(data, "yuv")
        assert all(np.array_equal(g, p) for g, p in zip(got, planes)), name


def _truncations(streams, stride_for_long):
    n_pics = 0
    for name, (data, planes) in streams.items():
        step = 1 if len(data) <= 1200 else stride_for_long
        offsets = sorted(set(range(0, len(data), step)) | set(range(max(0, len(data) - 64), len(data))))
        for k, cut in enumerate(offsets):
            # a prefix never changes the SPS it keeps, so any picture has the original size
            pic = try_decode(data[:cut], OUTPUTS[k % 3], planes[0].shape)
            n_pics += pic is not None
            if k % 4 == 0:
                try_decode_frames(data[:cut], "yuv", planes[0].shape)
    return n_pics


def test_truncation(streams):
    """Every byte offset of the short streams, a dense sample (every 7th byte + the last 64) of the others."""
    _truncations(streams, stride_for_long=7)
    _assert_intact(streams)


def test_truncation_inside_trailing_bytes_keeps_picture(streams):
    """Dropping what follows the last stop bit is harmless: the picture is unchanged."""
    data, planes = streams["q30_slices"]
    padded = data + b"\x00" * 5       # trailing_zero_8bits (B.1)
    for cut in range(len(data), len(padded) + 1):
        got = decode(padded[:cut], "yuv")
        assert all(np.array_equal(g, p) for g, p in zip(got, planes))


def test_random_mutations(streams):
    """Bit flips, byte overwrites, deletions, insertions and NAL-unit surgery: ~1000 cases."""
    summary = fuzz(streams, seed=20240601, n_per_stream=150)
    assert summary["cases"] == 150 * len(streams)
    # sanity of the fuzzer itself: some mutations are caught, some survive (e.g. flips in the VUI)
    assert summary["bitstream_errors"] > 0 and summary["pictures"] > 0
    _assert_intact(streams)


def test_single_bit_flips(streams):
    """A seeded sample of single-bit flips over the whole stream (every flip under -m slow)."""
    rng = np.random.default_rng(7)
    for name, (data, planes) in streams.items():
        boundary = sps_end(data)
        for bit in rng.choice(8 * len(data), min(8 * len(data), 120), replace=False):
            a = bytearray(data)
            a[bit >> 3] ^= 1 << (7 - (bit & 7))
            try_decode(bytes(a), "yuv", planes[0].shape if bit >> 3 >= boundary else None)
    _assert_intact(streams)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["q12", "q30_slices", "pcm", "gray_odd_i16"]), at=st.floats(0, 1, exclude_max=True),
       patch=st.binary(min_size=1, max_size=6), insert=st.booleans())
def test_patches_hypothesis(streams, name, at, patch, insert):
    """Hypothesis-driven byte patches (overwrite or insert) anywhere in a stream; shrinks to a minimal case."""
    data, planes = streams[name]
    i = int(at * len(data))
    bad = data[:i] + patch + data[i + (0 if insert else len(patch)):]
    keeps_sps = i >= sps_end(data) and b"\x00\x00\x01" not in data[max(0, i - 2):i] + patch + data[i:i + 2]
    try_decode(bad, "yuv", planes[0].shape if keeps_sps else None)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes(seed):
    rng = np.random.default_rng(seed)
    for n in (1, 3, 4, 5, 16, 100, 1000):
        raw = rng.integers(0, 256, n).astype(np.uint8).tobytes()
        for data in (raw, START + raw, START + b"\x67" + raw, START + b"\x65" + raw):
            try_decode(data)
            try_decode_frames(data)


def _units(data):
    return [data[s:e] for s, e in nal_spans(data)]


def test_malformed_structure_raises(streams):
    """Inputs that cannot hold a picture raise BitstreamError (not a picture, not another error)."""
    data, _ = streams["q30_slices"]
    sps, pps, *slices = _units(data)
    small, _ = streams["q12"]          # 2 x 3 macroblocks; q30_slices is 3 x 4
    cases = {
        "empty": b"",
        "one zero": b"\x00",
        "zeros": b"\x00" * 1000,
        "start code only": b"\x00\x00\x01",
        "start codes only": START * 10,
        "no start code": data.replace(START, b""),
        "text": b"this is not an H.264 stream",
        "sps only": sps,
        "sps and pps": sps + pps,
        "pps only": pps + slices[0],
        "slice before any sps": slices[0] + sps + pps,
        "slices before parameter sets": b"".join(slices) + sps + pps,
        "slices only": b"".join(slices),
        "missing a slice": sps + pps + b"".join(slices[:2] + slices[3:]),
        "missing the last slice": sps + pps + b"".join(slices[:-1]),
        "header-only slice": sps + pps + slices[0][:9],
        "forbidden_zero_bit": sps + pps + slices[0][:4] + bytes([slices[0][4] | 0x80]) + slices[0][5:]
        + b"".join(slices[1:]),
        "data partition A": sps + pps + b"".join(s[:4] + bytes([(s[4] & 0xE0) | 2]) + s[5:] for s in slices),
        # non-IDR slice: first_mb_in_slice 0, slice_type 0 (P), pps 0, ...
        "P slice": sps + pps + START + b"\x41\xe0\x80",
        "B slice": sps + pps + START + b"\x41\xa6\x80",   # slice_type 1 (B)
        "slices of a smaller picture": sps + pps + b"".join(_units(small)[2:]),
        "sps of a smaller picture": _units(small)[0] + pps + b"".join(slices),
    }
    for name, bad in cases.items():
        with pytest.raises(BitstreamError):
            decode(bad)
        # decode_frames may also just end without a picture (e.g. parameter sets only)
        try:
            frames = list(decode_frames(bad, "yuv"))
        except BitstreamError:
            frames = []
        assert frames == [], name


def test_ignorable_additions_keep_picture(streams):
    """What a decoder must skip (access unit delimiters, SEI, filler data, zero stuffing, 3-byte start
    codes, an unused second PPS id) does not change the picture."""
    data, planes = streams["q30_slices"]
    sps, pps, *slices = _units(data)
    aud = START + b"\x09\xf0"                 # access_unit_delimiter, primary_pic_type 7
    sei = START + b"\x06\x05\x10" + b"\x11" * 16 + b"\x80"   # user_data_unregistered: a UUID, no data
    filler = START + b"\x0c" + b"\xff" * 10 + b"\x80"
    variants = {
        "aud": aud + data,
        "sei": sps + pps + sei + b"".join(slices),
        "filler": data + filler,
        "zero stuffing": b"\x00" * 7 + b"\x00\x00".join(_units(data)) + b"\x00" * 3,
        "3-byte start codes": data.replace(START, START[1:]),
        "repeated parameter sets": sps + pps + sps + pps + b"".join(slices),
    }
    for name, v in variants.items():
        got = decode(v, "yuv")
        assert all(np.array_equal(g, p) for g, p in zip(got, planes)), name
        assert len(list(decode_frames(v, "yuv"))) == 1, name


_SUBPROCESS = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import test_corrupt as t
    streams = t.build_streams()
    summary = t.fuzz(streams, seed={seed}, n_per_stream={n}, record_errors=True)
    summary["truncation_pictures"] = t._truncations(streams, stride_for_long={stride})
    t._assert_intact(streams)
    summary["streams"] = len(streams)
    print("SUMMARY " + json.dumps(summary))
""")


def run_batch_in_subprocess(seed, n, stride, timeout):
    code = _SUBPROCESS.format(root=str(ROOT), tests=str(TESTS), seed=seed, n=n, stride=stride)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"decoder fuzz batch (seed {seed}) did not finish in {timeout} s: a hang")
    assert proc.returncode == 0, (f"fuzz subprocess died with return code {proc.returncode} "
                                  f"(negative = killed by that signal, e.g. -11 = SIGSEGV)\n"
                                  f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")][-1]
    summary = json.loads(line[len("SUMMARY "):])
    assert summary["unexpected"] == [], "non-BitstreamError exceptions:\n" + "\n".join(
        f"{u[0]} #{u[1]}: {u[2]}: {u[3]}\n  stream {u[4]}" for u in summary["unexpected"][:10])
    assert summary["cases"] == n * summary["streams"]
    return summary


def test_fuzz_batch_in_subprocess():
    """The same contract in a child process: a segfault or a hang in a Numba kernel fails this test."""
    summary = run_batch_in_subprocess(seed=99, n=120, stride=11, timeout=240)
    assert summary["bitstream_errors"] > 0


_BOUNDSCHECK = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import test_corrupt as t
    with open({path!r}) as f:
        streams = {{k: (bytes.fromhex(v), None) for k, v in json.load(f).items()}}
    print("SUMMARY " + json.dumps(t.boundscheck_fuzz(streams, seed={seed}, n_per_stream={n})))
""")

# Numba's message for a failed bounds check (NUMBA_BOUNDSCHECK=1); numpy's own IndexError says "... for axis"
NUMBA_OOB = "index is out of bounds"


def boundscheck_fuzz(streams, seed, n_per_stream):
    """For a process running with NUMBA_BOUNDSCHECK=1: decode truncations, single-bit flips and random
    mutations, and collect every BitstreamError that the decoder only produced by converting an
    out-of-bounds IndexError of a Numba kernel, i.e. an index that the decoder did not guard (without
    bounds checking that access silently reads or writes outside the array)."""
    rng = np.random.default_rng(seed)
    names = sorted(streams)
    allbytes = [streams[k][0] for k in names]
    found, cases = [], 0
    for name in names:
        data = streams[name][0]
        bad_streams = [data[:cut] for cut in range(len(data))]
        for bit in range(8 * len(data)):
            a = bytearray(data)
            a[bit >> 3] ^= 1 << (7 - (bit & 7))
            bad_streams.append(bytes(a))
        bad_streams += [mutate(rng, data, allbytes)[0] for _ in range(n_per_stream)]
        for bad in bad_streams:
            cases += 1
            try:
                decode(bad, "yuv")
            except BitstreamError as e:
                c = e.__cause__
                if isinstance(c, IndexError) and str(c) == NUMBA_OOB:
                    found.append([name, bad.hex()])
    return {"cases": cases, "unguarded": found[:20], "n_unguarded": len(found)}


@pytest.mark.slow
def test_no_unguarded_index_with_numba_boundscheck(streams, tmp_path):
    """Recompile the decoder with Numba bounds checking (in a private cache, ~1-2 min) and fuzz it: the
    decoder must reject corrupt streams by its own checks, never by running off an array."""
    path = tmp_path / "streams.json"
    path.write_text(json.dumps({k: v[0].hex() for k, v in streams.items()}))
    code = _BOUNDSCHECK.format(root=str(ROOT), tests=str(TESTS), path=str(path), seed=5, n=1500)
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"return code {proc.returncode}\n{proc.stderr[-4000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")][-1]
    summary = json.loads(line[len("SUMMARY "):])
    assert summary["cases"] > 0
    assert summary["n_unguarded"] == 0, (
        f"{summary['n_unguarded']} corrupt streams were only caught by an out-of-bounds access in a Numba "
        "kernel, e.g.:\n" + "\n".join(f"{n}: {h[:400]}" for n, h in summary["unguarded"][:3]))


def test_api_still_consistent_after_fuzzing(streams):
    """Encoding after all the decoding failures still round-trips (no global state was damaged)."""
    img = _photo()[:40, :40]
    enc = encode(img, qp=25, slices=3)
    assert all(np.array_equal(g, p) for g, p in zip(decode(enc.data, "yuv"), enc.planes))
    assert minicodec.decode(enc.data).shape == (40, 40, 3)


# ----------------------------------------------------------------------------------------------------
# exhaustive (-m slow)
# ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_every_truncation(streams):
    _truncations(streams, stride_for_long=1)
    _assert_intact(streams)


@pytest.mark.slow
def test_every_single_bit_flip(streams):
    for name, (data, planes) in streams.items():
        boundary = sps_end(data)
        for bit in range(8 * len(data)):
            a = bytearray(data)
            a[bit >> 3] ^= 1 << (7 - (bit & 7))
            try_decode(bytes(a), ("yuv", "rgb")[bit & 1], planes[0].shape if bit >> 3 >= boundary else None)
    _assert_intact(streams)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_many_random_mutations(streams, seed):
    fuzz(streams, seed=1000 + seed, n_per_stream=2000)
    _assert_intact(streams)


@pytest.mark.slow
def test_big_fuzz_batch_in_subprocess():
    run_batch_in_subprocess(seed=4242, n=3000, stride=1, timeout=1800)
