"""Tests of the oracles themselves (tests/oracles.py): they must be right before the codec is judged by them.

None of these needs minicodec.
"""
import hashlib

import numpy as np
import pytest

import oracles as o

needs_ffmpeg = o.skip_if_no_ffmpeg
CONF = o.conformance_streams()


# ------------------------------------------------------------------ pure-Python helpers

def test_psnr_identical_is_inf_and_known_values():
    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert o.psnr(a, a.copy()) == float("inf")
    b = a.astype(np.int16) + 1
    b[b > 255] = 254  # keep |diff| == 1 everywhere
    assert o.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2), abs=1e-9)   # MSE 1 -> 48.13 dB
    assert o.psnr(np.zeros((4, 4)), np.full((4, 4), 255.0)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        o.psnr(a, a[:8])


def test_framemd5_is_md5_of_y_then_u_then_v():
    rng = np.random.default_rng(1)
    f = (rng.integers(0, 256, (6, 10), dtype=np.uint8), rng.integers(0, 256, (3, 5), dtype=np.uint8),
         rng.integers(0, 256, (3, 5), dtype=np.uint8))
    want = hashlib.md5(f[0].tobytes() + f[1].tobytes() + f[2].tobytes()).hexdigest()
    assert o.framemd5([f, f]) == [want, want]
    assert o.framemd5(f) == [want]
    # non-contiguous views hash their values, not their memory
    big = np.zeros((12, 20), np.uint8)
    big[::2, ::2] = f[0]
    assert o.frame_md5((big[::2, ::2], f[1], f[2])) == want


def test_read_framemd5_parses_comments_and_entries(tmp_path):
    p = tmp_path / "x.framemd5"
    p.write_text("#format: frame checksums\n#version: 2\n#stream#, dts, pts, duration, size, hash\n"
                 "0,          0,          0,        1,    38016, b46500b37abd2767385fbf80d1222fa3\n"
                 "\n0, 1, 1, 1, 38016, MD5=F6A17DFE91A93CA0B02794A8083A1B8C\n")
    e = o.read_framemd5(p)
    assert [x.md5 for x in e] == ["b46500b37abd2767385fbf80d1222fa3", "f6a17dfe91a93ca0b02794a8083a1b8c"]
    assert (e[1].stream, e[1].dts, e[1].pts, e[1].duration, e[1].size) == (0, 1, 1, 1, 38016)
    p.write_text("0, 0, 0, 1, 10, nothex\n")
    with pytest.raises(ValueError):
        o.read_framemd5(p)


def test_parse_y4m_odd_sizes_and_several_frames():
    h, w = 5, 7
    ch, cw = o.chroma_shape(h, w)
    assert (ch, cw) == (3, 4)
    rng = np.random.default_rng(2)
    frames = [tuple(rng.integers(0, 256, s, dtype=np.uint8) for s in ((h, w), (ch, cw), (ch, cw))) for _ in range(3)]
    buf = b"YUV4MPEG2 W7 H5 F25:1 Ip A0:0 C420jpeg XYSCSS=420JPEG\n" + b"".join(
        b"FRAME\n" + b"".join(p.tobytes() for p in f) for f in frames)
    got = o.parse_y4m(buf)
    o.assert_sequences_equal(got, frames, "y4m")
    with pytest.raises(o.FFmpegError):
        o.parse_y4m(buf[:-1])
    with pytest.raises(o.FFmpegError):
        o.parse_y4m(buf.replace(b"C420jpeg", b"C444"))


def test_describe_mismatch_points_at_the_macroblock():
    y = np.zeros((32, 48), np.uint8)
    u = np.zeros((16, 24), np.uint8)
    a = (y.copy(), u.copy(), u.copy())
    assert o.describe_mismatch(a, (y, u, u)) == ""
    a[0][20, 37] = 9
    msg = o.describe_mismatch(a, (y, u, u))
    assert "Y: 1/1536" in msg and "MB row 1 col 2" in msg and "got 9 expected 0" in msg
    with pytest.raises(AssertionError):
        o.assert_planes_equal(a, (y, u, u))
    assert "shape" in o.describe_mismatch((y[:16], u, u), (y, u, u))


def test_sample_images_load_offline_with_expected_sizes():
    imgs = o.sample_images()
    assert set(o.PHOTOS) <= set(imgs)
    want = {"astronaut": (512, 512, 3), "chelsea": (300, 451, 3), "coffee": (400, 600, 3),
            "rocket": (427, 640, 3), "immunohistochemistry": (512, 512, 3), "camera": (512, 512),
            "astronaut_300x451": (300, 451, 3), "camera_300x451": (300, 451), "coffee_1x1": (1, 1, 3),
            "camera_1x1": (1, 1), "rocket_17x33": (17, 33, 3), "camera_17x33": (17, 33)}
    for name, shape in want.items():
        assert imgs[name].shape == shape, name
        assert imgs[name].dtype == np.uint8 and imgs[name].flags.c_contiguous and imgs[name].flags.writeable
        assert imgs[name].std() > 0 or imgs[name].size <= 3, f"{name} is flat"
    # copies: mutating one must not leak into the next call
    imgs["astronaut"][:] = 0
    assert o.sample_image("astronaut").any()


def test_rgb_to_yuv420_ref_known_colours_and_shapes():
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[:, :3] = 255                      # white block, black rest
    y, u, v = o.rgb_to_yuv420_ref(rgb)
    assert y.shape == (3, 5) and u.shape == v.shape == (2, 3)
    assert (y[:, :3] == 235).all() and (y[:, 3:] == 16).all()
    assert (u == 128).all() and (v == 128).all()   # neutral colours have no chroma
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    y, u, v = o.rgb_to_yuv420_ref(red)
    assert (int(y[0, 0]), int(u[0, 0]), int(v[0, 0])) == (81, 90, 240)   # BT.601 limited range red
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    y, u, v = o.rgb_to_yuv420_ref(g)
    assert (y == g).all() and u.shape == (1, 2) and (u == 128).all()


def test_escape_rbsp_prevents_start_code_emulation():
    assert o.escape_rbsp(b"\x00\x00\x00\x00\x01\x02\x03\x04") == b"\x00\x00\x03\x00\x00\x03\x01\x02\x03\x04"
    assert o.escape_rbsp(b"\x00\x00\x04\x00\x01") == b"\x00\x00\x04\x00\x01"
    rng = np.random.default_rng(3)
    raw = rng.choice(np.array([0, 0, 0, 1, 2, 3, 200], np.uint8), 4000).tobytes()
    esc = o.escape_rbsp(raw)
    for k in range(len(esc) - 2):
        assert not (esc[k] == 0 and esc[k + 1] == 0 and esc[k + 2] <= 2)
    # unescaping gives the input back
    out, zeros = bytearray(), 0
    for b in esc:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    assert bytes(out) == raw


def test_nal_units_split_pcm_stream():
    f = o.synthetic_planes("gradient", 20, 36)
    data = o.pcm_stream([f, f], slices=2)
    types = [t for t, _ in o.nal_units(data)]
    assert types == [7, 8, 5, 5, 5, 5]
    assert all(nal[0] & 0x80 == 0 for _, nal in o.nal_units(data))


def test_conformance_folder_is_found_with_readme():
    d = o.conformance_dir()
    if not d.is_dir():
        pytest.skip(f"conformance streams not present at {d} (set MINICODEC_CONFORMANCE)")
    assert (d / "README.md").is_file()
    assert len(CONF) >= 6, [p.name for p in CONF]


# ------------------------------------------------------------------ FFmpeg-backed helpers

@needs_ffmpeg
def test_ffmpeg_has_the_codecs_the_suite_relies_on():
    assert o.have_decoder("h264")
    assert o.have_encoder("libx264")
    assert o.ffmpeg_version() != "absent"


@needs_ffmpeg
def test_framemd5_matches_ffmpeg_framemd5_muxer():
    """Our framemd5 equals FFmpeg's own on raw input of an odd size (chroma rounded up)."""
    frames = [o.synthetic_planes("noise", 9, 13, seed=s) for s in range(3)]
    out, _ = o.run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "13x9", "-i", "-", "-f", "framemd5", "-"],
                          o.frames_to_bytes(frames))
    theirs = [line.split(",")[-1].strip() for line in out.decode().splitlines() if line and not line.startswith("#")]
    assert theirs == o.framemd5(frames)


@needs_ffmpeg
@pytest.mark.parametrize("decoder", o.DECODERS)
@pytest.mark.parametrize("stream", CONF or [None], ids=[p.name for p in CONF] or ["no-streams"])
def test_ffmpeg_decode_conformance_matches_framemd5(stream, decoder):
    if stream is None:
        pytest.skip(f"no conformance streams at {o.conformance_dir()} (set MINICODEC_CONFORMANCE)")
    if decoder == "libopenh264" and not o.have_decoder(decoder):
        pytest.skip("no libopenh264 decoder in this FFmpeg")
    ref = o.read_framemd5(str(stream) + ".framemd5")
    frames = o.ffmpeg_decode(stream.read_bytes(), decoder)
    assert len(frames) == len(ref)
    assert [len(o.frames_to_bytes(f)) for f in frames] == [e.size for e in ref]
    assert o.framemd5(frames) == [e.md5 for e in ref]


@needs_ffmpeg
def test_ffmpeg_decode_checks_given_size_and_frame_count():
    f = o.synthetic_planes("gradient", 32, 48)
    data = o.pcm_stream([f])
    assert len(o.ffmpeg_decode(data, width=48, height=32, expected_frames=1)) == 1
    with pytest.raises(o.FFmpegError):
        o.ffmpeg_decode(data, width=50, height=32)
    with pytest.raises(o.FFmpegError):
        o.ffmpeg_decode(data, expected_frames=2)


@needs_ffmpeg
def test_ffmpeg_decode_strict_rejects_a_damaged_stream():
    f = o.photo_frames(1, 64, 64)
    data = bytearray(o.x264_encode(f, 26, "veryslow"))
    t, nal = o.nal_units(bytes(data))[-1]
    assert t == 5
    k = bytes(data).rfind(nal) + len(nal) // 2
    data[k:k + 8] = b"\xff\x00\x00\x03\xfa\x11\x00\x01"[:8]
    with pytest.raises(o.FFmpegError):
        o.ffmpeg_decode(bytes(data), "h264")


@needs_ffmpeg
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (17, 33), (16, 16), (35, 64), (50, 38)])
@pytest.mark.parametrize("slices", [1, 3])
def test_pcm_stream_decodes_losslessly_in_both_decoders(size, slices):
    frames = [o.rgb_to_yuv420_ref(o.crop(o.sample_image("astronaut"), *size, 100, 150)),
              o.synthetic_planes("noise", *size, seed=4), o.synthetic_planes("flat", *size)]
    data = o.pcm_stream(frames, slices=slices)
    s = o.stream_summary(data)
    assert s.constrained_baseline and s.intra_only
    assert (s.height, s.width) == (size[0] + size[0] % 2, size[1] + size[1] % 2)
    want = [o.pad_to_output(f) for f in frames]
    for dec in o.DECODERS:
        if not o.have_decoder(dec):
            continue
        o.assert_sequences_equal(o.ffmpeg_decode(data, dec, expected_frames=3), want, dec)


@needs_ffmpeg
@o.skip_if_no_x264
@pytest.mark.parametrize("preset", ["ultrafast", "veryslow"])
@pytest.mark.parametrize("deblock", [True, False])
def test_x264_encode_is_intra_baseline_and_both_decoders_agree(preset, deblock):
    """x264_encode -> FFmpeg h264 and libopenh264 agree frame by frame; frames come out in order."""
    frames = o.photo_frames(5, 112, 144)
    data = o.x264_encode(frames, 22, preset, deblock)
    s = o.stream_summary(data)
    assert s.constrained_baseline and s.intra_only, s
    assert (s.width, s.height, s.pictures) == (144, 112, 5)
    assert s.slice_qps == [22] * 5
    assert s.disable_deblocking == [0 if deblock else 1] * 5
    a = o.ffmpeg_decode(data, "h264", 144, 112, expected_frames=5)
    if o.have_decoder("libopenh264"):
        b = o.ffmpeg_decode(data, "libopenh264", 144, 112, expected_frames=5)
        o.assert_sequences_equal(a, b, "h264 vs libopenh264")
    # each output frame is by far closest to its own source: nothing dropped, duplicated or reordered
    for i, dec in enumerate(a):
        scores = [o.psnr(dec[0], src[0]) for src in frames]
        assert int(np.argmax(scores)) == i and scores[i] > 35, scores


@needs_ffmpeg
@o.skip_if_no_x264
def test_x264_encode_odd_sizes_and_options():
    with pytest.raises(ValueError):
        o.x264_encode(o.synthetic_planes("noise", 17, 33), 30)
    f = o.mixed_frames(58, 100, 2)
    s = o.stream_summary(o.x264_encode(f, None, crf=24, extra_params="slices=3:deblock=-2,1"))
    assert s.slices_per_picture == [3, 3] and s.deblock_offsets == {(-2, 1)} and s.intra_only
    s = o.stream_summary(o.x264_encode(f, 30, "veryslow", tune="psnr"))
    assert s.chroma_qp_index_offset == 0 and s.slice_qps == [30, 30]


@needs_ffmpeg
@o.skip_if_no_openh264_enc
@pytest.mark.parametrize("deblock", [True, False])
def test_openh264_encode_intra_and_both_decoders_agree(deblock):
    frames = o.mixed_frames(58, 100, 4)
    data = o.openh264_encode(frames, 30, deblock, max_nal_size=700)
    s = o.stream_summary(data)
    assert s.constrained_baseline and s.intra_only and s.pictures == 4
    assert set(s.slice_qps) == {30}
    assert max(s.slices_per_picture) > 1
    assert set(s.disable_deblocking) == ({2} if deblock else {1})   # multi-slice: idc 2 when filtering
    a = o.ffmpeg_decode(data, "h264", 100, 58, expected_frames=4)
    if o.have_decoder("libopenh264"):
        o.assert_sequences_equal(a, o.ffmpeg_decode(data, "libopenh264", expected_frames=4), "h264 vs libopenh264")
    assert o.psnr(a[0][0], frames[0][0]) > 30


@needs_ffmpeg
def test_trace_syntax_reads_conformance_headers():
    if not CONF:
        pytest.skip("no conformance streams")
    by_name = {p.name: p for p in CONF}
    p = by_name.get("BASQP1_Sony_C.jsv", CONF[0])
    s = o.stream_summary(p.read_bytes())
    ref = o.read_framemd5(str(p) + ".framemd5")
    assert s.pictures == len(ref)
    assert s.width * s.height * 3 // 2 == ref[0].size
    assert s.intra_only and s.entropy_coding_mode_flag == 0


def test_pairwise_covers_every_pair():
    import itertools
    axes = {"a": list(range(7)), "b": ["x", "y"], "c": [0, 1, 2], "d": [{"m": 1}, {"m": 2}, None, 5]}
    rows = o.pairwise(axes)
    for p, q in itertools.combinations(axes, 2):
        for vp, vq in itertools.product(axes[p], axes[q]):
            assert any(r[p] == vp and r[q] == vq for r in rows), (p, vp, q, vq)
    assert len(rows) < len(o.full_product(axes)) // 3
    cov = o.covering("a", {"a": list(range(30)), "b": [1, 2], "c": [1, 2, 3]})
    assert len(cov) == 30 and {r["a"] for r in cov} == set(range(30))
    assert {(r["b"], r["c"]) for r in cov} == {(b, c) for b in (1, 2) for c in (1, 2, 3)}


@needs_ffmpeg
def test_pcm_stream_with_deblocking_enabled_is_still_lossless():
    frames = [o.synthetic_planes("stripes", 40, 56), o.synthetic_planes("noise", 40, 56, seed=9)]
    data = o.pcm_stream(frames, slices=2, deblock=True)
    assert set(o.stream_summary(data).disable_deblocking) == {0}
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            o.assert_sequences_equal(o.ffmpeg_decode(data, dec), frames, dec)


@needs_ffmpeg
@pytest.mark.parametrize("attempt", range(3))   # the debug log is multi-threaded: parse it repeatedly
def test_ffmpeg_mb_types(attempt):
    frames = o.mixed_frames(58, 100, 3)
    want_shape = (4, 7)
    pcm = o.ffmpeg_mb_types(o.pcm_stream(frames, slices=2))
    assert len(pcm) == 3 and all(t.shape == want_shape and (t == "P").all() for t in pcm)
    if o.have_encoder("libx264"):
        fast = o.ffmpeg_mb_types(o.x264_encode(frames, 22, "ultrafast"))   # ultrafast: no I4x4 analysis
        assert len(fast) == 3 and all(t.shape == want_shape and (t == "I").all() for t in fast)
        slow = o.ffmpeg_mb_types(o.x264_encode(frames, 22, "veryslow"))
        assert len(slow) == 3 and all(t.shape == want_shape and set(t.ravel()) <= {"i", "I"} for t in slow)
        assert "i" in np.concatenate([t.ravel() for t in slow])
    one = o.ffmpeg_mb_types(o.pcm_stream(o.synthetic_planes("noise", 1, 1)))
    assert len(one) == 1 and one[0].shape == (1, 1) and one[0][0, 0] == "P"


def test_mb_type_tables_when_the_probing_decoder_address_is_reused():
    """FFmpeg decodes while probing; when its main decoder lands at the probing one's address, both print
    under one address: only the pictures FFmpeg output (the progress line's frame count) are kept."""
    def table(addr, letter):
        return [f"[h264 @ {addr}] New frame, type: I", f"[h264 @ {addr}]     0  ",
                f"[h264 @ {addr}]   0 {letter}  {letter}  ", f"[h264 @ {addr}]  16 {letter}  {letter}  ",
                "[out#0/null @ 0x1] some other message"]
    probe = table("0xa", "I") + table("0xa", "I")
    main = table("0xa", "i") + table("0xa", "P")
    log = "\n".join(probe + main + ["frame=    2 fps=0.0 q=-0.0 Lsize=N/A"])
    got = o.parse_mb_types(log)
    assert [t.tolist() for t in got] == [[["i", "i"], ["i", "i"]], [["P", "P"], ["P", "P"]]]
    # distinct addresses: the last decoder's tables, whatever the count says
    log2 = "\n".join(table("0xa", "I") + table("0xb", "i") + ["frame=    1 fps=0.0"])
    assert [t.tolist() for t in o.parse_mb_types(log2)] == [[["i", "i"], ["i", "i"]]]


def _mb_log(addr, tables, frames=None):
    """A -debug mb_type log: each table a list of row strings of letters."""
    lines = []
    for rows in tables:
        lines += [f"[h264 @ {addr}] New frame, type: I", f"[h264 @ {addr}]     0  "]
        lines += [f"[h264 @ {addr}] {16 * y:3d} " + "".join(f"{c}  " for c in r) for y, r in enumerate(rows)]
    if frames is not None:
        lines.append(f"frame=    {frames} fps=0.0")
    return "\n".join(lines)


def test_mb_type_tables_do_not_need_the_new_frame_lines():
    """A row numbered 0 starts a picture: a "New frame" line swallowed by another thread's message costs
    nothing."""
    log = _mb_log("0xa", [["iI", "Ii"], ["PP", "iI"]], frames=2).replace("] New frame, type: I", "] x", 1)
    log = log.replace("[h264 @ 0xa] New frame", "    Pixel formats: yuv420pNew frame")
    assert [t.tolist() for t in o.parse_mb_types(log)] == [[["i", "I"], ["I", "i"]], [["P", "P"], ["i", "I"]]]


@pytest.mark.parametrize("damage", ["cut row", "foreign text in a row", "lost row", "lost last row",
                                    "lost table"])
def test_garbled_mb_type_logs_are_rejected(damage):
    good = _mb_log("0xa", [["iI", "Ii"], ["PP", "iI"]], frames=2)
    lines = good.split("\n")
    row16 = next(i for i, l in enumerate(lines) if l.startswith("[h264 @ 0xa]  16 "))
    if damage == "cut row":        # another thread's message ended the line after one macroblock
        lines[row16:row16 + 1] = [lines[row16][:-3], "[dec:h264 @ 0xb] Starting thread...", "[h264 @ 0xa] i  "]
    elif damage == "foreign text in a row":
        lines[row16] = lines[row16][:-3] + "Filter 'out' formats:"
    elif damage == "lost row":     # the row's first call followed another thread's unfinished line
        lines[row16 - 1] = "    Color ranges: unknown tv pc" + lines[row16 - 1][len("[h264 @ 0xa]"):]
    elif damage == "lost last row":
        del lines[len(lines) - 2]
    else:
        lines = lines[:len(lines) // 2] + [lines[-1]]
    with pytest.raises(o.GarbledLogError):
        o.parse_mb_types("\n".join(lines))
    assert len(o.parse_mb_types(good)) == 2


def test_ffmpeg_mb_types_runs_ffmpeg_again_on_a_garbled_log(monkeypatch):
    good = _mb_log("0xa", [["iI"]], frames=1)
    garbled = good.replace("i  I  ", "i  Filter")
    logs = [garbled, garbled, good]
    monkeypatch.setattr(o, "run_ffmpeg", lambda *a, **k: (b"", logs.pop(0)))
    assert [t.tolist() for t in o.ffmpeg_mb_types(b"stream")] == [[["i", "I"]]]
    assert not logs
    logs[:] = [garbled] * 2
    with pytest.raises(o.GarbledLogError):
        o.ffmpeg_mb_types(b"stream", attempts=2)
