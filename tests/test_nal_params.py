"""NAL units / Annex B (7.3.1, 7.4.1, B.2) and parameter sets / slice headers (7.3.2.1, 7.3.2.2, 7.3.3),
plus level selection (Annex A, Table A-1).

Hand-built headers use minicodec's BitWriter only as a bit packer (its u/ue/se are checked bit-exactly
against clause 9.1 in test_bitstream.py); the field order is typed here from the syntax tables.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicodec import BitstreamError
from minicodec import nal
from minicodec.params import PPS, SPS, BitWriter, SliceHeader, level_for

FAST = settings(max_examples=100, deadline=None)

# bytes biased towards the interesting values 0..3
rbsp_bytes = st.lists(st.one_of(st.sampled_from([0, 0, 0, 1, 2, 3]), st.integers(0, 255)),
                      max_size=60).map(bytes)


# ------------------------------------------------------------------ reference emulation prevention

def ref_escape(rbsp, final=True):
    """7.4.1 / 7.3.1: walk the RBSP; whenever the next byte would complete 0x00 0x00 0x0[0-3], insert
    emulation_prevention_three_byte first. A valid RBSP ending in 0x00 ends in cabac_zero_words (00 00
    pairs); 7.4.1 then appends a final 0x03, which a decoder removes as an ordinary emulation byte, so it is
    appended whenever the escaped data ends in 00 00 (``final=False`` leaves it out)."""
    out = bytearray()
    for b in rbsp:
        if len(out) >= 2 and out[-1] == 0 and out[-2] == 0 and b <= 3:
            out.append(3)
        out.append(b)
    if final and out[-2:] == b"\x00\x00":
        out.append(3)
    return bytes(out)


def ref_unescape(payload):
    """7.3.1: a 0x03 following 0x00 0x00 (counted in the NAL payload, after earlier removals) is dropped."""
    out = bytearray()
    zeros = 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


@pytest.mark.parametrize("rbsp,escaped", [
    (b"\x00\x00\x00", b"\x00\x00\x03\x00"),
    (b"\x00\x00\x01", b"\x00\x00\x03\x01"),
    (b"\x00\x00\x02", b"\x00\x00\x03\x02"),
    (b"\x00\x00\x03", b"\x00\x00\x03\x03"),
    (b"\x00\x00\x04", b"\x00\x00\x04"),
    (b"\x00\x01\x00\x00\x01", b"\x00\x01\x00\x00\x03\x01"),
    # four zeros then 1: after the inserted 03 the zero count restarts, so the 5th byte needs no escape
    # 00 00 | 03 00 00 | 03 01
    (b"\x00\x00\x00\x00\x01", b"\x00\x00\x03\x00\x00\x03\x01"),
    (b"\x00\x00\x00\x00\x00\x00", b"\x00\x00\x03\x00\x00\x03\x00\x00\x03"),
    (b"\x80\x00\x00", b"\x80\x00\x00\x03"),
    (b"\x00\x00\x05\x00\x00\x01", b"\x00\x00\x05\x00\x00\x03\x01"),
    (b"", b""),
])
def test_escape_hand_examples(rbsp, escaped):
    assert nal.escape(rbsp) == escaped
    assert ref_escape(rbsp) == escaped
    assert bytes(nal.unescape(escaped)) == rbsp


def test_escape_accepts_numpy_arrays():
    arr = np.array([0, 0, 1, 7], np.uint8)
    assert nal.escape(arr) == b"\x00\x00\x03\x01\x07"


@FAST
@given(rbsp_bytes)
def test_escape_matches_reference_and_round_trips(rbsp):
    esc = nal.escape(rbsp)
    assert esc == ref_escape(rbsp)
    assert bytes(nal.unescape(esc)) == rbsp
    assert bytes(nal.unescape(esc)) == ref_unescape(esc)


@FAST
@given(rbsp_bytes)
def test_escaped_payload_never_contains_a_start_code_prefix(rbsp):
    esc = nal.escape(rbsp)
    for bad in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02"):
        assert bad not in esc
    # 7.4.1: a four-byte sequence starting 0x000003 may only be 0x00000300..0x00000303, so every
    # 00 00 03 is an emulation prevention byte followed by a byte <= 3, and those are all the bytes added
    # (the one exception: the 0x03 appended after an RBSP that ends in 0x00)
    trailing = len(esc) - len(ref_escape(rbsp, final=False))
    epb = [i for i in range(len(esc) - 2 - trailing) if esc[i:i + 3] == b"\x00\x00\x03"]
    for i in epb:
        assert i + 3 < len(esc) and esc[i + 3] <= 3
    assert len(esc) - len(rbsp) == len(epb) + trailing


@FAST
@given(rbsp_bytes)
def test_unescape_of_arbitrary_payload_matches_reference(payload):
    assert bytes(nal.unescape(payload)) == ref_unescape(payload)


def test_escape_appends_03_after_a_trailing_zero_byte():
    assert nal.escape(b"\x80\x00\x00") == b"\x80\x00\x00\x03"
    units = nal.split_annexb(nal.nal_unit(5, 3, b"\x80\x00\x00"))
    assert bytes(units[0][2]) == b"\x80\x00\x00"


# ------------------------------------------------------------------ NAL units and Annex B

def test_nal_unit_header_and_start_code():
    # forbidden_zero_bit 0, nal_ref_idc 3 (2 bits), nal_unit_type 7 (5 bits): 0 11 00111 = 0x67
    assert nal.nal_unit(nal.NAL_SPS, 3, b"\x42\x00\x00\x01") == b"\x00\x00\x00\x01\x67\x42\x00\x00\x03\x01"
    # nal_ref_idc 0, type 6 (SEI): 0x06; nal_ref_idc 2, type 5: 0 10 00101 = 0x45
    assert nal.nal_unit(nal.NAL_SEI, 0, b"\x80")[4] == 0x06
    assert nal.nal_unit(nal.NAL_IDR, 2, b"\x80")[4] == 0x45


def test_nal_type_constants():
    # Table 7-1
    assert (nal.NAL_SLICE, nal.NAL_IDR, nal.NAL_SEI, nal.NAL_SPS, nal.NAL_PPS, nal.NAL_AUD) == (1, 5, 6, 7, 8, 9)


def test_split_annexb_three_and_four_byte_start_codes_and_trailing_zeros():
    stream = (b"\x00\x00\x00\x01\x67\xAA\xBB"          # zero_byte + 3-byte start code
              b"\x00\x00\x01\x68\xCC"                  # 3-byte start code
              b"\x00\x00\x00\x00\x00\x01\x65\x00\x00\x03\x01\x80"  # trailing_zero_8bits before the next
              b"\x00\x00\x00")                          # trailing zeros at the end of the stream
    units = nal.split_annexb(stream)
    assert [(t, r) for t, r, _ in units] == [(7, 3), (8, 3), (5, 3)]
    assert [bytes(p) for _, _, p in units] == [b"\xAA\xBB", b"\xCC", b"\x00\x00\x01\x80"]


def test_split_annexb_leading_junk_and_empty_units():
    units = nal.split_annexb(b"\x00\x00\x00\x00\x01\x09\xF0\x00\x00\x01\x00\x00\x01\x41\x9A")
    # the empty unit between two start codes is skipped
    assert [(t, r, bytes(p)) for t, r, p in units] == [(9, 0, b"\xF0"), (1, 2, b"\x9A")]


def test_split_annexb_errors():
    with pytest.raises(BitstreamError):
        nal.split_annexb(b"\x67\x42\x00\x1e")  # no start code
    with pytest.raises(BitstreamError):
        nal.split_annexb(b"\x00\x00\x01\xE7\x42")  # forbidden_zero_bit set
    with pytest.raises(TypeError):
        nal.split_annexb("00 00 01 67")


nal_units = st.lists(st.tuples(
    st.sampled_from([1, 5, 6, 7, 8, 9]), st.integers(0, 3),
    # an RBSP never ends in 0x00 without cabac_zero_words: force a non-zero last byte
    st.tuples(rbsp_bytes, st.integers(1, 255)).map(lambda t: t[0] + bytes([t[1]])),
    st.booleans(), st.integers(0, 3)), min_size=1, max_size=6)


@FAST
@given(nal_units)
def test_annexb_round_trip(units):
    stream = b""
    for t, ref, rbsp, four_byte, trailing in units:
        unit = nal.nal_unit(t, ref, rbsp)
        assert unit.startswith(b"\x00\x00\x00\x01")
        stream += (unit if four_byte else unit[1:]) + b"\x00" * trailing
    got = nal.split_annexb(stream)
    assert [(t, r, bytes(p)) for t, r, p in got] == [(t, r, rbsp) for t, r, rbsp, _, _ in units]


# ------------------------------------------------------------------ level_for (Table A-1, A.3.1)

# Table A-1 MaxFS (macroblocks), in level order; level 1b (which Baseline signals as level_idc 11 with
# constraint_set3_flag) is not a distinct level_idc and is skipped.
TABLE_A1_MAXFS = [(10, 99), (11, 396), (12, 396), (13, 396), (20, 396), (21, 792), (22, 1620),
                  (30, 1620), (31, 3600), (32, 5120), (40, 8192), (41, 8192), (42, 8704),
                  (50, 22080), (51, 36864), (52, 36864), (60, 139264), (61, 139264), (62, 139264)]


def ref_level(w, h):
    """A.3.1 items: PicWidthInMbs * FrameHeightInMbs <= MaxFS, each side <= Sqrt(MaxFS * 8)."""
    for idc, maxfs in TABLE_A1_MAXFS:
        if w * h <= maxfs and w <= (maxfs * 8) ** 0.5 and h <= (maxfs * 8) ** 0.5:
            return idc
    return None


@pytest.mark.parametrize("width,height,level", [
    (176, 144, 10),    # QCIF: 11 x 9 = 99 MBs -> level 1
    (352, 288, 11),    # CIF: 396 MBs -> level 1.1
    (720, 576, 22),    # 45 x 36 = 1620 -> level 2.2
    (1280, 720, 31),   # 80 x 45 = 3600 -> level 3.1
    (1920, 1088, 40),  # 120 x 68 = 8160 -> level 4
    (2048, 1088, 42),  # 128 x 68 = 8704 -> level 4.2
    (3840, 2160, 51),  # 240 x 135 = 32400 -> level 5.1
    (16, 16, 10),
])
def test_level_for_known_sizes(width, height, level):
    assert level_for(-(-width // 16), -(-height // 16)) == level


def test_level_for_aspect_limit():
    # 1 x 28 MBs: 28 <= 99 and 28^2 = 784 <= 8 * 99 = 792 -> level 1;
    # 1 x 29: 841 > 792 though 29 <= 99 -> level 1.1 (sqrt(8 * 396) = 56.3)
    assert level_for(1, 28) == 10
    assert level_for(29, 1) == 11
    assert level_for(1, 29) == 11


@pytest.mark.parametrize("w", [1, 2, 3, 5, 8, 11, 22, 40, 45, 80, 120, 128, 200, 256])
def test_level_for_matches_table_a1(w):
    for h in (1, 2, 3, 9, 18, 36, 45, 68, 90, 135, 200):
        expect = ref_level(w, h)
        assert level_for(w, h) == (62 if expect is None else expect), (w, h)


# ------------------------------------------------------------------ SPS

def test_sps_bytes_hand_worked():
    # 7.3.2.1.1 for QCIF, no VUI:
    # profile_idc 66 = 0x42 | constraint flags 0xC0 | level_idc 10 = 0x0A
    # sps_id ue(0) '1' | log2_max_frame_num_minus4 ue(0) '1' | pic_order_cnt_type ue(2) '011'
    # max_num_ref_frames ue(1) '010' | gaps '0' | width-1 ue(10) '0001011' | height-1 ue(8) '0001001'
    # frame_mbs_only '1' | direct_8x8 '1' | cropping '0' | vui '0' | stop '1' + '0000'
    # -> 11011010 00001011 00010011 10010000 = DA 0B 13 90
    assert bytes(SPS(mb_width=11, mb_height=9, vui=False).write()) == bytes.fromhex("42c00ada0b1390")


SPS_CASES = [
    dict(mb_width=11, mb_height=9),
    dict(mb_width=1, mb_height=1, crop_right=2, crop_bottom=14),
    dict(mb_width=120, mb_height=68, crop_bottom=8),
    dict(mb_width=40, mb_height=30, crop_left=4, crop_right=6, crop_top=2, crop_bottom=10, full_range=True),
    dict(mb_width=7, mb_height=300, sps_id=31, log2_max_frame_num=16, level_idc=51),
    dict(mb_width=13, mb_height=5, pic_order_cnt_type=0, log2_max_poc_lsb=9, max_num_ref_frames=0),
    dict(mb_width=1024, mb_height=1, vui=False),
]


@pytest.mark.parametrize("kw", SPS_CASES)
def test_sps_write_parse_round_trip(kw):
    sps = SPS(**kw)
    got = SPS.parse(sps.write())
    for name in ("mb_width", "mb_height", "profile_idc", "constraint_flags", "sps_id", "log2_max_frame_num",
                 "pic_order_cnt_type", "max_num_ref_frames", "crop_left", "crop_right", "crop_top",
                 "crop_bottom"):
        assert getattr(got, name) == getattr(sps, name), name
    assert got.level_idc == (sps.level_idc or ref_level(sps.mb_width, sps.mb_height))
    if sps.pic_order_cnt_type == 0:
        assert got.log2_max_poc_lsb == sps.log2_max_poc_lsb
    assert got.full_range == (sps.full_range and sps.vui)
    assert (got.width, got.height) == (sps.width, sps.height)


@FAST
@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 7), st.integers(0, 7), st.integers(0, 7),
       st.integers(0, 7), st.booleans(), st.booleans())
def test_sps_round_trip_property(mbw, mbh, cl, cr, ct, cb, vui, full):
    cl, cr = min(cl, 8 * mbw - 1), min(cr, 8 * mbw - 1 - min(cl, 8 * mbw - 1))
    ct, cb = min(ct, 8 * mbh - 1), min(cb, 8 * mbh - 1 - min(ct, 8 * mbh - 1))
    sps = SPS(mb_width=mbw, mb_height=mbh, crop_left=2 * cl, crop_right=2 * cr, crop_top=2 * ct,
              crop_bottom=2 * cb, vui=vui, full_range=full)
    got = SPS.parse(sps.write())
    assert (got.mb_width, got.mb_height) == (mbw, mbh)
    assert (got.crop_left, got.crop_right, got.crop_top, got.crop_bottom) == (2 * cl, 2 * cr, 2 * ct, 2 * cb)
    assert got.full_range == (full and vui)


def _sps_prefix(w, profile_idc=66):
    w.u(8, profile_idc)
    w.u(8, 0xC0)
    w.u(8, 30)
    w.ue(0)  # seq_parameter_set_id


def _sps_tail(w, frame_mbs_only=1, crop=None):
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(2)  # pic_order_cnt_type
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)
    w.ue(9)  # pic_width_in_mbs_minus1 -> 10
    w.ue(4)  # pic_height_in_map_units_minus1 -> 5
    w.u(1, frame_mbs_only)
    if not frame_mbs_only:
        w.u(1, 0)  # mb_adaptive_frame_field_flag
    w.u(1, 1)  # direct_8x8_inference_flag
    if crop is None:
        w.u(1, 0)
    else:
        w.u(1, 1)
        for c in crop:
            w.ue(c)
    w.u(1, 0)  # vui_parameters_present_flag
    w.trailing()
    return w.bytes()


def test_sps_parse_rejects_interlace():
    w = BitWriter()
    _sps_prefix(w)
    with pytest.raises(BitstreamError, match="interlace|field"):
        SPS.parse(_sps_tail(w, frame_mbs_only=0))


def _high_sps(chroma_format_idc=1, depth_minus8=0, scaling=0):
    w = BitWriter()
    _sps_prefix(w, profile_idc=100)
    w.ue(chroma_format_idc)
    if chroma_format_idc == 3:
        w.u(1, 0)  # separate_colour_plane_flag
    w.ue(depth_minus8)  # bit_depth_luma_minus8
    w.ue(depth_minus8)  # bit_depth_chroma_minus8
    w.u(1, 0)  # qpprime_y_zero_transform_bypass_flag
    w.u(1, scaling)  # seq_scaling_matrix_present_flag
    if scaling:
        for _ in range(8):
            w.u(1, 0)
    return _sps_tail(w)


def test_sps_parse_high_profile_fields():
    sps = SPS.parse(_high_sps())
    assert (sps.profile_idc, sps.mb_width, sps.mb_height) == (100, 10, 5)
    for bad in (dict(chroma_format_idc=0), dict(chroma_format_idc=2), dict(chroma_format_idc=3),
                dict(depth_minus8=2), dict(scaling=1)):
        with pytest.raises(BitstreamError):
            SPS.parse(_high_sps(**bad))


def test_sps_parse_crop_limits():
    w = BitWriter()
    _sps_prefix(w)
    sps = SPS.parse(_sps_tail(w, crop=(3, 2, 1, 0)))
    assert (sps.crop_left, sps.crop_right, sps.crop_top, sps.crop_bottom) == (6, 4, 2, 0)
    assert (sps.width, sps.height) == (150, 78)
    w = BitWriter()
    _sps_prefix(w)
    with pytest.raises(BitstreamError):
        SPS.parse(_sps_tail(w, crop=(40, 40, 0, 0)))  # 2 * 80 = 160 = the whole width
    # truncated before the VUI's video_full_range_flag (the last field the parser reads)
    full = SPS(mb_width=11, mb_height=9).write()
    for n in (1, 3, 5, 7):
        with pytest.raises(BitstreamError):
            SPS.parse(full[:n])


def test_sps_poc_type_1_round_trip():
    sps = SPS(mb_width=11, mb_height=9, pic_order_cnt_type=1, delta_pic_order_always_zero_flag=1)
    got = SPS.parse(sps.write())
    assert (got.pic_order_cnt_type, got.delta_pic_order_always_zero_flag, got.max_num_ref_frames,
            got.mb_width, got.mb_height) == (1, 1, 1, 11, 9)


# ------------------------------------------------------------------ PPS

def test_pps_bytes_hand_worked():
    # 7.3.2.2: pps_id ue(0) '1', sps_id ue(0) '1', entropy_coding_mode '0', bottom_field_pic_order '0',
    # num_slice_groups_minus1 '1', num_ref_idx_l0/l1 '1' '1', weighted_pred '0', weighted_bipred '00',
    # pic_init_qp_minus26 se(0) '1', pic_init_qs '1', chroma_qp_index_offset '1', deblocking ctrl '1',
    # constrained_intra '0', redundant_pic_cnt '0', stop '1' -> 11001110 00111100 1(0000000) = CE 3C 80
    assert bytes(PPS().write()) == bytes.fromhex("ce3c80")


@pytest.mark.parametrize("kw", [
    dict(),
    dict(pps_id=255, sps_id=31, pic_init_qp=0, chroma_qp_index_offset=-12),
    dict(pic_init_qp=51, chroma_qp_index_offset=12, deblocking_filter_control_present_flag=0,
         constrained_intra_pred_flag=1, redundant_pic_cnt_present_flag=1,
         bottom_field_pic_order_in_frame_present_flag=1),
    dict(pic_init_qp=17, chroma_qp_index_offset=3),
])
def test_pps_write_parse_round_trip(kw):
    pps = PPS(**kw)
    assert PPS.parse(pps.write()) == pps


def _pps(entropy=0, slice_groups=0, extension=None, qp_minus26=0):
    w = BitWriter()
    w.ue(0)
    w.ue(0)
    w.u(1, entropy)
    w.u(1, 0)
    w.ue(slice_groups)
    if slice_groups:
        w.ue(0)  # slice_group_map_type 0 (interleaved)
        for _ in range(slice_groups + 1):
            w.ue(0)  # run_length_minus1
    w.ue(0)
    w.ue(0)
    w.u(1, 0)
    w.u(2, 0)
    w.se(qp_minus26)
    w.se(0)
    w.se(2)  # chroma_qp_index_offset
    w.u(1, 1)
    w.u(1, 0)
    w.u(1, 0)
    if extension is not None:
        t8x8, scaling, second = extension
        w.u(1, t8x8)
        w.u(1, scaling)
        w.se(second)
    w.trailing()
    return w.bytes()


def test_pps_parse_rejects_cabac_and_fmo():
    assert PPS.parse(_pps()).chroma_qp_index_offset == 2
    with pytest.raises(BitstreamError, match="CABAC"):
        PPS.parse(_pps(entropy=1))
    with pytest.raises(BitstreamError, match="FMO|slice group"):
        PPS.parse(_pps(slice_groups=1))
    with pytest.raises(BitstreamError):
        PPS.parse(_pps(qp_minus26=26))  # pic_init_qp_minus26 outside -26..25


def test_pps_parse_high_profile_extension():
    # more_rbsp_data(): transform_8x8_mode_flag, pic_scaling_matrix_present_flag, second offset
    pps = PPS.parse(_pps(extension=(0, 0, 2)))
    assert pps.chroma_qp_index_offset == 2 and pps.pic_init_qp == 26
    for ext in ((1, 0, 2), (0, 1, 2), (0, 0, 3)):
        with pytest.raises(BitstreamError):
            PPS.parse(_pps(extension=ext))


# ------------------------------------------------------------------ slice header

def _write_header(hdr, sps, pps):
    w = BitWriter()
    hdr.write(sps, pps, w)
    n = w.nbits
    w.u(7, 0x55)  # some slice data after the header
    w.trailing()
    return w.bytes(), n


SLICE_CASES = list(itertools.product(
    [dict(mb_width=11, mb_height=9), dict(mb_width=120, mb_height=68, log2_max_frame_num=10,
                                          pic_order_cnt_type=0, log2_max_poc_lsb=7)],
    [dict(pic_init_qp=26), dict(pic_init_qp=0, deblocking_filter_control_present_flag=0),
     dict(pic_init_qp=51, chroma_qp_index_offset=-3)],
    [dict(slice_qp=0), dict(slice_qp=51, disable_deblocking_filter_idc=1),
     dict(slice_qp=30, disable_deblocking_filter_idc=2, slice_alpha_c0_offset_div2=-6, slice_beta_offset_div2=6),
     dict(slice_qp=22, slice_alpha_c0_offset_div2=3, slice_beta_offset_div2=-2, first_mb_in_slice=50,
          idr_pic_id=65535, frame_num=5, pic_order_cnt_lsb=9)],
    [(True, 3), (False, 2), (False, 0)],
))


@pytest.mark.parametrize("skw,pkw,hkw,kind", SLICE_CASES)
def test_slice_header_round_trip(skw, pkw, hkw, kind):
    idr, ref = kind
    sps, pps = SPS(**skw), PPS(**pkw)
    hdr = SliceHeader(idr=idr, nal_ref_idc=ref, **hkw)
    rbsp, nbits = _write_header(hdr, sps, pps)
    got, s2, p2 = SliceHeader.parse(rbsp, 5 if idr else 1, ref, {0: sps}, {0: pps})
    assert s2 is sps and p2 is pps
    assert got.data_bit_offset == nbits
    fields = ["first_mb_in_slice", "slice_type", "pps_id", "frame_num", "idr", "nal_ref_idc", "slice_qp"]
    if idr:
        fields.append("idr_pic_id")
    if sps.pic_order_cnt_type == 0:
        fields.append("pic_order_cnt_lsb")
    if pps.deblocking_filter_control_present_flag:
        fields.append("disable_deblocking_filter_idc")
        if hdr.disable_deblocking_filter_idc != 1:
            fields += ["slice_alpha_c0_offset_div2", "slice_beta_offset_div2"]
    for name in fields:
        assert getattr(got, name) == getattr(hdr, name), name
    if not pps.deblocking_filter_control_present_flag:
        assert got.disable_deblocking_filter_idc == 0  # inferred 0 when not present (7.4.3)


def test_slice_header_bits_hand_worked():
    # I slice, IDR, QCIF SPS (log2_max_frame_num 4, poc type 2), default PPS, slice_qp 28:
    # first_mb ue(0) '1' | slice_type ue(7) '0001000' | pps_id ue(0) '1' | frame_num u(4) '0000' |
    # idr_pic_id ue(0) '1' | no_output_of_prior_pics '0' | long_term_reference '0' |
    # slice_qp_delta se(2) = ue(3) '00100' | disable_deblocking ue(0) '1' | alpha se(0) '1' | beta se(0) '1'
    # = 1000 1000 1000 0100 0010 0111 -> 27 bits: 10001000 10000010 00010011 1
    w = BitWriter()
    SliceHeader(slice_qp=28).write(SPS(mb_width=11, mb_height=9), PPS(), w)
    bits = "".join(format(int(b), "08b") for b in w.bytes())[: w.nbits]
    assert bits == "1" + "0001000" + "1" + "0000" + "1" + "0" + "0" + "00100" + "1" + "1" + "1"


def _slice(sps_log2_fn=4, first_mb=0, slice_type=7, pps_id=0, mmco=None, qp_delta=0, dfi=0, alpha=0):
    """Hand-built slice header for the QCIF SPS / default PPS (poc type 2), non-IDR if mmco is given."""
    w = BitWriter()
    w.ue(first_mb)
    w.ue(slice_type)
    w.ue(pps_id)
    w.u(sps_log2_fn, 1)  # frame_num
    if mmco is None:
        w.ue(0)          # idr_pic_id
        w.u(1, 0)
        w.u(1, 0)
    else:
        w.u(1, 1)        # adaptive_ref_pic_marking_mode_flag
        for op in mmco:
            for v in op:
                w.ue(v)
        w.ue(0)          # end of MMCOs
    w.se(qp_delta)
    w.ue(dfi)
    if dfi != 1:
        w.se(alpha)
        w.se(0)
    n = w.nbits
    w.u(5, 0b10101)
    w.trailing()
    return w.bytes(), n


SPS_Q, PPS_D = SPS(mb_width=11, mb_height=9), PPS()


def test_slice_header_parse_skips_mmco_operations():
    # 7.3.3.3: op 1 difference_of_pic_nums_minus1; 2 long_term_pic_num; 3 both diff and long_term_frame_idx;
    # 4 max_long_term_frame_idx_plus1; 5 nothing; 6 long_term_frame_idx
    # argument values >= 7 are not valid operation numbers, so a parser that skips the wrong number of
    # arguments reads one of them as an operation and fails (or misreads slice_qp_delta) instead of
    # re-synchronising by accident
    ops = [(1, 17), (2, 13), (3, 11, 12), (4, 9), (5,), (6, 8)]
    rbsp, n = _slice(mmco=ops, qp_delta=-4, dfi=2, alpha=-3)
    h, _, _ = SliceHeader.parse(rbsp, 1, 2, {0: SPS_Q}, {0: PPS_D})
    assert (h.idr, h.frame_num, h.slice_qp, h.disable_deblocking_filter_idc, h.slice_alpha_c0_offset_div2) \
        == (False, 1, 22, 2, -3)
    assert h.data_bit_offset == n


@pytest.mark.parametrize("kw,nal_type", [
    (dict(slice_type=0), 1),             # P
    (dict(slice_type=5), 1),             # P (all slices)
    (dict(slice_type=1), 1),             # B
    (dict(slice_type=4), 5),             # SI
    (dict(slice_type=10), 5),            # out of range
    (dict(pps_id=1), 5),                 # missing PPS
    (dict(first_mb=99), 5),              # QCIF has 99 macroblocks: 0..98
    (dict(qp_delta=26), 5),              # SliceQPY 52
    (dict(qp_delta=-27), 5),             # SliceQPY -1
    (dict(dfi=3), 5),                    # disable_deblocking_filter_idc 0..2
    (dict(alpha=7), 5),                  # slice_alpha_c0_offset_div2 -6..6
])
def test_slice_header_parse_rejects(kw, nal_type):
    rbsp, _ = _slice(**kw)
    with pytest.raises(BitstreamError):
        SliceHeader.parse(rbsp, nal_type, 3, {0: SPS_Q}, {0: PPS_D})


def test_slice_header_parse_accepts_type_2_and_7():
    for st_ in (2, 7):
        rbsp, n = _slice(slice_type=st_, first_mb=98, qp_delta=25)
        h, _, _ = SliceHeader.parse(rbsp, 5, 3, {0: SPS_Q}, {0: PPS_D})
        assert (h.slice_type, h.first_mb_in_slice, h.slice_qp, h.data_bit_offset) == (st_, 98, 51, n)


def test_slice_header_parse_missing_sps():
    rbsp, _ = _slice()
    with pytest.raises(BitstreamError):
        SliceHeader.parse(rbsp, 5, 3, {1: SPS_Q}, {0: PPS_D})


def test_slice_header_round_trip_with_redundant_pic_cnt():
    pps = PPS(redundant_pic_cnt_present_flag=1)
    hdr = SliceHeader(slice_qp=33, redundant_pic_cnt=0, slice_alpha_c0_offset_div2=2)
    rbsp, n = _write_header(hdr, SPS_Q, pps)
    got, _, _ = SliceHeader.parse(rbsp, 5, 3, {0: SPS_Q}, {0: pps})
    assert (got.slice_qp, got.slice_alpha_c0_offset_div2, got.data_bit_offset) == (33, 2, n)


def test_slice_header_round_trip_with_delta_pic_order_cnt_bottom():
    sps = SPS(mb_width=11, mb_height=9, pic_order_cnt_type=0, log2_max_poc_lsb=6)
    pps = PPS(bottom_field_pic_order_in_frame_present_flag=1)
    hdr = SliceHeader(slice_qp=33, pic_order_cnt_lsb=5, delta_pic_order_cnt_bottom=0, slice_beta_offset_div2=-1)
    rbsp, n = _write_header(hdr, sps, pps)
    got, _, _ = SliceHeader.parse(rbsp, 5, 3, {0: sps}, {0: pps})
    assert (got.slice_qp, got.slice_beta_offset_div2, got.data_bit_offset) == (33, -1, n)
