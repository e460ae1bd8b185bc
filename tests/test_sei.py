"""minicodec's true-size SEI message (minicodec/sei.py): syntax, placement, decoding, robustness.

4:2:0 frame cropping works in steps of 2 samples, so an odd width or height is stated in a
user_data_unregistered SEI message (Annex D.1.6) that other decoders skip. The syntax is checked against a
plainly written reference (bit strings, the clause's pseudo-code), the decoder against enc.recon, FFmpeg
against enc.planes, and corrupt or foreign SEI against the decoder's contract (skip or BitstreamError).
"""
import numpy as np
import pytest

import oracles as o
from minicodec import BitstreamError, decode, decode_frames, encode
from minicodec.nal import NAL_SEI, nal_unit, split_annexb
from minicodec.sei import SIZE_UUID, USER_DATA_UNREGISTERED, parse_sei_rbsp, sei_rbsp, size_message, true_size

START = b"\x00\x00\x00\x01"
ODD_SIZES = [(1, 1), (1, 2), (2, 1), (17, 33), (37, 53)]   # (H, W)
FOREIGN_UUID = bytes.fromhex("dc45e9bde6d948b7962cd820d923eeef")   # x264's


# ----------------------------------------------------------------------------- a plain reference

def ref_ue(v):
    """ue(v) as a bit string (9.1): leading zeros, then v + 1 in binary."""
    b = format(v + 1, "b")
    return "0" * (len(b) - 1) + b


def ref_bits_to_bytes(bits):
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def ref_message(payload_type, payload):
    """sei_message() (7.3.2.3.1): ff_byte while the value is >= 255, then last_payload_type/size_byte."""
    out = bytearray()
    for value in (payload_type, len(payload)):
        while value >= 255:
            out.append(0xFF)
            value -= 255
        out.append(value)
    return bytes(out) + payload


def ref_size_payload(width, height):
    """UUID, ue(width), ue(height), a stop bit, zero bits to the byte boundary."""
    return SIZE_UUID + ref_bits_to_bytes(ref_ue(width) + ref_ue(height) + "1")


def ref_sei_rbsp(*messages):
    return b"".join(ref_message(t, p) for t, p in messages) + b"\x80"   # rbsp_trailing_bits


def ref_sei_nal(*messages):
    return START + b"\x06" + o.escape_rbsp(ref_sei_rbsp(*messages))     # nal_ref_idc 0, nal_unit_type 6


def image(form, h, w, seed=0):
    rng = np.random.default_rng(seed + 1000 * h + w)
    if form == "rgb":
        return rng.integers(0, 256, (h, w, 3), np.uint8)
    if form == "gray":
        return rng.integers(0, 256, (h, w), np.uint8)
    ch, cw = (h + 1) // 2, (w + 1) // 2
    return (rng.integers(0, 256, (h, w), np.uint8), rng.integers(0, 256, (ch, cw), np.uint8),
            rng.integers(0, 256, (ch, cw), np.uint8))


def units(data):
    """The NAL units of a minicodec stream (4-byte start codes), start codes included."""
    return [START + u for u in data.split(START)[1:]]


def same(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.fixture(scope="module")
def odd():
    """A 17x33 RGB picture coded in 2 slices: (Encoded, its NAL units)."""
    enc = encode(image("rgb", 17, 33), qp=26, slices=2)
    return enc, units(enc.data)


# ----------------------------------------------------------------------------- syntax

@pytest.mark.parametrize("width, height", [(1, 1), (2, 1), (33, 17), (53, 37), (1919, 1081), (16383, 1),
                                           (70001, 65537)])
def test_size_message_matches_reference(width, height):
    rbsp = sei_rbsp([size_message(width, height)])
    assert rbsp == ref_sei_rbsp((5, ref_size_payload(width, height)))
    assert true_size(parse_sei_rbsp(rbsp)) == (width, height)
    assert true_size(parse_sei_rbsp(np.frombuffer(rbsp, np.uint8))) == (width, height)


@pytest.mark.parametrize("payload_type, size", [(0, 0), (5, 16), (254, 254), (255, 255), (256, 256),
                                                (509, 510), (600, 1000)])
def test_message_header_ff_coding(payload_type, size):
    """payloadType and payloadSize of any value, 0xFF-extended, written and parsed as the reference."""
    payload = bytes(np.random.default_rng(size).integers(0, 256, size, np.uint8))
    messages = [(payload_type, payload), (USER_DATA_UNREGISTERED, FOREIGN_UUID + b"x264 - core")]
    rbsp = sei_rbsp(messages)
    assert rbsp == ref_sei_rbsp(*messages)
    assert parse_sei_rbsp(rbsp) == messages
    assert true_size(messages) is None


def test_sizes_in_the_stream():
    """17x33 costs one SEI NAL unit of 27 bytes between the PPS and the slice, nal_ref_idc 0."""
    enc = encode(image("gray", 17, 33), qp=30)
    nals = units(enc.data)
    assert [u[4] for u in nals][:3] == [0x67, 0x68, 0x06] and nals[3][4] & 31 == 5
    assert nals[2] == ref_sei_nal((5, ref_size_payload(33, 17)))
    assert len(nals[2]) == 27


@pytest.mark.parametrize("h, w", [(16, 16), (2, 2), (18, 34), (64, 80)])
def test_even_sizes_have_no_sei(h, w):
    for form in ("rgb", "gray", "yuv"):
        enc = encode(image(form, h, w), qp=30)
        types = [t for t, _, _ in split_annexb(enc.data)]
        assert types == [7, 8, 5], (form, types)


# ----------------------------------------------------------------------------- decoding

@pytest.mark.parametrize("h, w", ODD_SIZES)
@pytest.mark.parametrize("form", ["rgb", "gray", "yuv"])
def test_odd_sizes_decode_to_recon(form, h, w):
    enc = encode(image(form, h, w), qp=24)
    assert sum(t == NAL_SEI for t, _, _ in split_annexb(enc.data)) == 1
    got = decode(enc.data, form)
    assert same(got, enc.recon)
    frames = list(decode_frames(enc.data, form))
    assert len(frames) == 1 and same(frames[0], got)
    ch, cw = (h + 1) // 2, (w + 1) // 2
    y, cb, cr = decode(enc.data, "yuv")
    assert y.shape == (h, w) and cb.shape == cr.shape == (ch, cw)
    assert same((y, cb, cr), (enc.planes[0][:h, :w], enc.planes[1][:ch, :cw], enc.planes[2][:ch, :cw]))
    assert decode(enc.data, "gray").shape == (h, w) and decode(enc.data).shape == (h, w, 3)


@o.skip_if_no_ffmpeg
@pytest.mark.parametrize("h, w", [(1, 1), (17, 33)])
def test_ffmpeg_skips_the_message(h, w):
    """Standard decoders ignore our SEI message: they output exactly enc.planes (the even size)."""
    enc = encode(image("rgb", h, w), qp=22)
    for dec in o.DECODERS:
        if o.have_decoder(dec):
            o.assert_planes_equal(o.ffmpeg_decode(enc.data, dec, expected_frames=1)[0], tuple(enc.planes), dec)


def test_foreign_and_other_messages_are_skipped(odd):
    enc, (sps, pps, sei, *slices) = odd
    foreign = (USER_DATA_UNREGISTERED, FOREIGN_UUID + b"x264 - core 165 - H.264/MPEG-4 AVC codec" * 8)
    short = (USER_DATA_UNREGISTERED, b"\x01\x02")                    # no room for a UUID: not ours
    recovery_point = (6, bytes([0b10000100]))                       # recovery_frame_cnt 0, flags
    big_type = (300, b"\x00\x00\x00\x00\x01")                        # reserved payloadType, start-code-like
    ours = (USER_DATA_UNREGISTERED, ref_size_payload(33, 17))
    variants = {
        "foreign NAL first": sps + pps + ref_sei_nal(foreign) + sei + b"".join(slices),
        "foreign NAL after": sps + pps + sei + ref_sei_nal(foreign, recovery_point) + b"".join(slices),
        "one NAL, several messages": sps + pps + ref_sei_nal(recovery_point, foreign, short, ours, big_type)
        + b"".join(slices),
    }
    for name, data in variants.items():
        assert same(decode(data), enc.recon), name
    # without our message the picture has the SPS's even size
    plain = sps + pps + ref_sei_nal(foreign, recovery_point, short, big_type) + b"".join(slices)
    assert same(decode(plain, "yuv"), tuple(enc.planes))
    assert same(decode(sps + pps + b"".join(slices), "yuv"), tuple(enc.planes))


def test_message_applies_to_its_own_picture(odd):
    """decode_frames: each picture has its own access unit, and only its own SEI counts."""
    a = odd[0]
    b = encode(image("gray", 16, 32), qp=30)           # even: no SEI
    c = encode(image("yuv", 37, 53), qp=30)
    frames = list(decode_frames(a.data + b.data + a.data + c.data + b.data, "yuv"))
    shapes = [f[0].shape for f in frames]
    assert shapes == [(17, 33), (16, 32), (17, 33), (37, 53), (16, 32)]
    assert same(frames[3], c.recon)
    # the same picture twice without parameter sets in between: the second has no SEI of its own
    sps, pps, sei, *slices = odd[1]
    frames = list(decode_frames(sps + pps + sei + b"".join(slices) + b"".join(slices), "yuv"))
    assert [f[0].shape for f in frames] == [(17, 33), (18, 34)]
    # an SEI after the last picture belongs to no picture
    assert decode(b.data + sei, "gray").shape == (16, 32)


def test_size_must_fit_the_sps(odd):
    enc, (sps, pps, sei, *slices) = odd
    for w, h in [(33, 17), (34, 18), (34, 17), (33, 18)]:      # what the SPS's 34x18 can hold
        data = sps + pps + ref_sei_nal((5, ref_size_payload(w, h))) + b"".join(slices)
        assert decode(data, "gray").shape == (h, w)
    for w, h in [(32, 17), (35, 17), (33, 16), (33, 19), (0, 0), (1, 1), (34, 36), (10 ** 6, 17)]:
        data = sps + pps + ref_sei_nal((5, ref_size_payload(w, h))) + b"".join(slices)
        with pytest.raises(BitstreamError):
            decode(data)
        with pytest.raises(BitstreamError):
            list(decode_frames(data, "yuv"))


def test_malformed_sei_raises(odd):
    enc, (sps, pps, sei, *slices) = odd
    rest = b"".join(slices)
    ours = ref_size_payload(33, 17)
    bad_rbsps = {
        "empty": b"",
        "no stop bit": b"\x05\x01\x00",
        "stop bit not aligned": b"\x05\x00\x40",
        "payloadSize past the end": b"\x05\x20" + ours[:10] + b"\x80",
        "ff bytes to the end": b"\xff\xff\xff\x80",
        "size missing": b"\x05\x80",
        "only trailing bits": b"\x80",
        "our message without its stop bit": ref_sei_rbsp((5, ours[:-1] + bytes([ours[-1] & 0xF0]))),
        "our message with extra bytes": ref_sei_rbsp((5, ours + b"\x00")),
        "our message without its size": ref_sei_rbsp((5, SIZE_UUID)),
        "our message cut in its ue(v)": ref_sei_rbsp((5, SIZE_UUID + b"\x00")),
    }
    for name, rbsp in bad_rbsps.items():
        data = sps + pps + START + b"\x06" + o.escape_rbsp(rbsp) + rest
        for output in ("rgb", "gray", "yuv"):
            with pytest.raises(BitstreamError) as e:
                decode(data, output)
            assert e.value.__cause__ is None, f"{name}: {e.value!r} was converted from another exception"
        with pytest.raises(BitstreamError):
            list(decode_frames(data))
        with pytest.raises(BitstreamError):
            true_size(parse_sei_rbsp(rbsp))


def test_truncated_and_corrupted_sei(odd):
    """Every truncation of the SEI NAL unit and every byte value at every position of it: a picture
    (of the true or the SPS's size) or BitstreamError, nothing else."""
    enc, (sps, pps, sei, *slices) = odd
    rest = b"".join(slices)
    rng = np.random.default_rng(3)
    bad_nals = [sei[:cut] for cut in range(5, len(sei))]
    for pos in range(5, len(sei)):
        for value in rng.choice(256, 24, replace=False):
            bad = bytearray(sei)
            bad[pos] = int(value)
            bad_nals.append(bytes(bad))
    outcomes = set()
    for bad in bad_nals:
        try:
            shape = decode(sps + pps + bad + rest, "gray").shape
        except BitstreamError as e:
            assert e.__cause__ is None, f"{bad.hex()}: {e!r} was converted from another exception"
            shape = "error"
        assert shape in ("error", (17, 33), (18, 34), (17, 34), (18, 33)), (bad.hex(), shape)
        outcomes.add(shape)
    assert {"error", (17, 33), (18, 34)} <= outcomes


def test_nal_unit_helper_escapes_the_message():
    """The NAL unit the encoder writes is the reference's: escaped by nal.py (no 00 00 0x inside)."""
    rbsp = sei_rbsp([(5, SIZE_UUID + b"\x00\x00\x00\x01")])
    nal = nal_unit(NAL_SEI, 0, rbsp)
    assert nal == START + b"\x06" + o.escape_rbsp(rbsp)
    assert b"\x00\x00\x01" not in nal[4:] and b"\x00\x00\x00" not in nal[4:]
    ((t, ref_idc, back),) = split_annexb(nal)
    assert (t, ref_idc) == (6, 0) and parse_sei_rbsp(back) == [(5, SIZE_UUID + b"\x00\x00\x00\x01")]
