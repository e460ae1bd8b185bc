"""Parameter sets and slice headers (H.264 clauses 7.3.2.1, 7.3.2.2, 7.3.3, E.1), written and parsed.

What minicodec writes: Constrained Baseline (profile_idc 66, constraint_set0/1 flags), 4:2:0 8-bit, frame
pictures, CAVLC, pic_order_cnt_type 2, frame cropping for sizes that are not multiples of 16, and a VUI that
signals BT.601 limited range so that players convert colour the way :mod:`minicodec.colour` does.
What it parses: any SPS/PPS, rejecting (with BitstreamError) what an intra CAVLC 4:2:0 8-bit frame decoder
cannot handle: CABAC, FMO slice groups, interlace, other chroma formats or bit depths, scaling matrices,
the 8x8 transform.
"""
from dataclasses import dataclass, field

import numpy as np

from . import bitstream as bs
from .errors import BitstreamError

PROFILE_BASELINE = 66

#: Level limits (Table A-1): level_idc -> (MaxFS in macroblocks, MaxDpbMbs).
LEVELS = [(10, 99), (11, 396), (12, 396), (13, 396), (20, 396), (21, 792), (22, 1620), (30, 1620),
          (31, 3600), (32, 5120), (40, 8192), (41, 8192), (42, 8704), (50, 22080), (51, 36864),
          (52, 36864), (60, 139264), (61, 139264), (62, 139264)]


def level_for(mb_width, mb_height):
    """Lowest level_idc whose MaxFS holds the frame, with each side <= sqrt(8 * MaxFS) (A.3.1)."""
    fs = mb_width * mb_height
    for level_idc, max_fs in LEVELS:
        if fs <= max_fs and mb_width ** 2 <= 8 * max_fs and mb_height ** 2 <= 8 * max_fs:
            return level_idc
    return 62  # beyond every level: still decodable, labelled with the largest


class BitWriter:
    """Python-side convenience over the Numba writer, for headers (a few dozen fields per slice)."""

    def __init__(self, capacity=256):
        self.buf, self.ws = bs.new_writer(capacity)

    def u(self, n, v):
        bs.put_bits(self.buf, self.ws, int(v), int(n))

    def ue(self, v):
        bs.put_ue(self.buf, self.ws, int(v))

    def se(self, v):
        bs.put_se(self.buf, self.ws, int(v))

    def trailing(self):
        bs.put_trailing_bits(self.buf, self.ws)

    @property
    def nbits(self):
        return int(self.ws[0])

    def bytes(self):
        return self.buf[: (self.nbits + 7) >> 3].copy()


class BitReader:
    """Python-side reader over an RBSP, for headers; raises BitstreamError past the end."""

    def __init__(self, rbsp, pos=0):
        self.buf = np.ascontiguousarray(rbsp, np.uint8)
        self.rs = bs.new_reader_state(self.buf.size)
        self.rs[0] = pos

    def u(self, n):
        return int(bs.get_bits(self.buf, self.rs, n))

    def ue(self, limit=None, name="value"):
        v = int(bs.get_ue(self.buf, self.rs))
        if limit is not None and v > limit:
            raise BitstreamError(f"{name} = {v} exceeds its limit {limit}")
        return v

    def se(self, lo=None, hi=None, name="value"):
        v = int(bs.get_se(self.buf, self.rs))
        if lo is not None and not lo <= v <= hi:
            raise BitstreamError(f"{name} = {v} outside [{lo}, {hi}]")
        return v

    @property
    def pos(self):
        return int(self.rs[0])

    def more_rbsp_data(self):
        stop = bs.find_stop_bit(self.buf)
        return self.pos < stop


@dataclass
class SPS:
    """seq_parameter_set_rbsp() (7.3.2.1.1), the fields minicodec uses."""
    mb_width: int
    mb_height: int
    profile_idc: int = PROFILE_BASELINE
    constraint_flags: int = 0xC0  # constraint_set0_flag and constraint_set1_flag: Constrained Baseline
    level_idc: int = 0
    sps_id: int = 0
    log2_max_frame_num: int = 4
    pic_order_cnt_type: int = 2
    log2_max_poc_lsb: int = 4
    delta_pic_order_always_zero_flag: int = 0
    max_num_ref_frames: int = 1
    frame_mbs_only_flag: int = 1
    crop_left: int = 0   # in luma samples
    crop_right: int = 0
    crop_top: int = 0
    crop_bottom: int = 0
    vui: bool = True
    full_range: bool = False  # VUI video_full_range_flag (gray pictures are coded full range)

    @property
    def width(self):
        """Width of the cropped (output) picture in luma samples."""
        return 16 * self.mb_width - self.crop_left - self.crop_right

    @property
    def height(self):
        return 16 * self.mb_height - self.crop_top - self.crop_bottom

    def write(self):
        w = BitWriter()
        w.u(8, self.profile_idc)
        w.u(8, self.constraint_flags)
        w.u(8, self.level_idc or level_for(self.mb_width, self.mb_height))
        w.ue(self.sps_id)
        w.ue(self.log2_max_frame_num - 4)
        w.ue(self.pic_order_cnt_type)
        if self.pic_order_cnt_type == 0:
            w.ue(self.log2_max_poc_lsb - 4)
        elif self.pic_order_cnt_type == 1:
            w.u(1, self.delta_pic_order_always_zero_flag)
            w.se(0)  # offset_for_non_ref_pic
            w.se(0)  # offset_for_top_to_bottom_field
            w.ue(0)  # num_ref_frames_in_pic_order_cnt_cycle
        w.ue(self.max_num_ref_frames)
        w.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
        w.ue(self.mb_width - 1)
        w.ue(self.mb_height - 1)
        w.u(1, 1)  # frame_mbs_only_flag
        w.u(1, 1)  # direct_8x8_inference_flag
        crop = (self.crop_left, self.crop_right, self.crop_top, self.crop_bottom)
        w.u(1, int(any(crop)))
        if any(crop):
            for c in crop:  # CropUnitX = CropUnitY = 2 for 4:2:0 frames (7.4.2.1.1)
                w.ue(c // 2)
        w.u(1, int(self.vui))
        if self.vui:
            _write_vui(w, self.full_range)
        w.trailing()
        return w.bytes()

    @classmethod
    def parse(cls, rbsp):
        r = BitReader(rbsp)
        profile_idc = r.u(8)
        constraint_flags = r.u(8)
        level_idc = r.u(8)
        sps_id = r.ue(31, "seq_parameter_set_id")
        if profile_idc in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma_format_idc = r.ue(3, "chroma_format_idc")
            if chroma_format_idc == 3:
                r.u(1)
            bit_depth_luma = r.ue(6) + 8
            bit_depth_chroma = r.ue(6) + 8
            r.u(1)  # qpprime_y_zero_transform_bypass_flag
            if r.u(1):
                raise BitstreamError("SPS scaling matrices are not supported")
            if chroma_format_idc != 1 or bit_depth_luma != 8 or bit_depth_chroma != 8:
                raise BitstreamError("only 4:2:0 8-bit streams are supported")
        log2_max_frame_num = r.ue(12, "log2_max_frame_num_minus4") + 4
        poc_type = r.ue(2, "pic_order_cnt_type")
        log2_max_poc_lsb = 4
        dpo_zero = 0
        if poc_type == 0:
            log2_max_poc_lsb = r.ue(12, "log2_max_pic_order_cnt_lsb_minus4") + 4
        elif poc_type == 1:
            dpo_zero = r.u(1)
            r.se()
            r.se()
            n = r.ue(255, "num_ref_frames_in_pic_order_cnt_cycle")
            for _ in range(n):
                r.se()
        max_num_ref_frames = r.ue(16, "max_num_ref_frames")
        r.u(1)
        mb_width = r.ue(1023, "pic_width_in_mbs_minus1") + 1
        mb_height = r.ue(1023, "pic_height_in_map_units_minus1") + 1
        frame_mbs_only = r.u(1)
        if not frame_mbs_only:
            raise BitstreamError("field/interlaced coding is not supported (frame_mbs_only_flag = 0)")
        r.u(1)
        crop = [0, 0, 0, 0]
        if r.u(1):
            crop = [2 * r.ue(8 * mb_width, "frame_crop_offset") for _ in range(4)]
            if crop[0] + crop[1] >= 16 * mb_width or crop[2] + crop[3] >= 16 * mb_height:
                raise BitstreamError("frame cropping leaves no picture")
        full_range = False
        if r.u(1):  # vui_parameters_present_flag: read up to video_full_range_flag (E.1.1)
            if r.u(1) and r.u(8) == 255:
                r.u(16)
                r.u(16)
            if r.u(1):
                r.u(1)
            if r.u(1):
                r.u(3)
                full_range = bool(r.u(1))
        return cls(mb_width=mb_width, mb_height=mb_height, profile_idc=profile_idc,
                   constraint_flags=constraint_flags, level_idc=level_idc, sps_id=sps_id,
                   log2_max_frame_num=log2_max_frame_num, pic_order_cnt_type=poc_type,
                   log2_max_poc_lsb=log2_max_poc_lsb, delta_pic_order_always_zero_flag=dpo_zero,
                   max_num_ref_frames=max_num_ref_frames, crop_left=crop[0], crop_right=crop[1],
                   crop_top=crop[2], crop_bottom=crop[3], vui=False, full_range=full_range)


def _write_vui(w, full_range):
    """vui_parameters() (E.1.1): BT.601 limited range, chroma sited at the centre of each 2x2 block."""
    w.u(1, 0)  # aspect_ratio_info_present_flag
    w.u(1, 0)  # overscan_info_present_flag
    w.u(1, 1)  # video_signal_type_present_flag
    w.u(3, 5)  # video_format: unspecified
    w.u(1, int(full_range))  # video_full_range_flag: 0 = limited range (16..235 / 16..240)
    w.u(1, 1)  # colour_description_present_flag
    w.u(8, 6)  # colour_primaries: SMPTE 170M (BT.601)
    w.u(8, 6)  # transfer_characteristics: SMPTE 170M
    w.u(8, 6)  # matrix_coefficients: SMPTE 170M (BT.601 Y'CbCr)
    w.u(1, 1)  # chroma_loc_info_present_flag
    w.ue(1)    # chroma_sample_loc_type_top_field: 1 = centre
    w.ue(1)    # chroma_sample_loc_type_bottom_field
    w.u(1, 0)  # timing_info_present_flag
    w.u(1, 0)  # nal_hrd_parameters_present_flag
    w.u(1, 0)  # vcl_hrd_parameters_present_flag
    w.u(1, 0)  # pic_struct_present_flag
    w.u(1, 1)  # bitstream_restriction_flag: no reordering, no frame buffering needed for output
    w.u(1, 1)  # motion_vectors_over_pic_boundaries_flag
    w.ue(2)    # max_bytes_per_pic_denom
    w.ue(1)    # max_bits_per_mb_denom
    w.ue(16)   # log2_max_mv_length_horizontal
    w.ue(16)   # log2_max_mv_length_vertical
    w.ue(0)    # max_num_reorder_frames
    w.ue(1)    # max_dec_frame_buffering


@dataclass
class PPS:
    """pic_parameter_set_rbsp() (7.3.2.2), the fields minicodec uses."""
    pps_id: int = 0
    sps_id: int = 0
    bottom_field_pic_order_in_frame_present_flag: int = 0
    pic_init_qp: int = 26
    chroma_qp_index_offset: int = 0
    deblocking_filter_control_present_flag: int = 1
    constrained_intra_pred_flag: int = 0
    redundant_pic_cnt_present_flag: int = 0

    def write(self):
        w = BitWriter()
        w.ue(self.pps_id)
        w.ue(self.sps_id)
        w.u(1, 0)  # entropy_coding_mode_flag: CAVLC
        w.u(1, self.bottom_field_pic_order_in_frame_present_flag)
        w.ue(0)    # num_slice_groups_minus1
        w.ue(0)    # num_ref_idx_l0_default_active_minus1
        w.ue(0)    # num_ref_idx_l1_default_active_minus1
        w.u(1, 0)  # weighted_pred_flag
        w.u(2, 0)  # weighted_bipred_idc
        w.se(self.pic_init_qp - 26)
        w.se(0)    # pic_init_qs_minus26
        w.se(self.chroma_qp_index_offset)
        w.u(1, self.deblocking_filter_control_present_flag)
        w.u(1, self.constrained_intra_pred_flag)
        w.u(1, self.redundant_pic_cnt_present_flag)
        w.trailing()
        return w.bytes()

    @classmethod
    def parse(cls, rbsp):
        r = BitReader(rbsp)
        pps_id = r.ue(255, "pic_parameter_set_id")
        sps_id = r.ue(31, "seq_parameter_set_id")
        if r.u(1):
            raise BitstreamError("CABAC (entropy_coding_mode_flag = 1) is not supported")
        bfpo = r.u(1)
        if r.ue(7, "num_slice_groups_minus1") > 0:
            raise BitstreamError("slice groups (FMO) are not supported")
        r.ue(31)
        r.ue(31)
        r.u(1)
        r.u(2)
        pic_init_qp = 26 + r.se(-26, 25, "pic_init_qp_minus26")
        r.se(-26, 25, "pic_init_qs_minus26")
        cqo = r.se(-12, 12, "chroma_qp_index_offset")
        dfc = r.u(1)
        cip = r.u(1)
        rpc = r.u(1)
        if r.more_rbsp_data():
            if r.u(1):
                raise BitstreamError("the 8x8 transform (transform_8x8_mode_flag) is not supported")
            if r.u(1):
                raise BitstreamError("PPS scaling matrices are not supported")
            if r.se(-12, 12, "second_chroma_qp_index_offset") != cqo:
                raise BitstreamError("second_chroma_qp_index_offset differing from the first is not supported")
        return cls(pps_id=pps_id, sps_id=sps_id, bottom_field_pic_order_in_frame_present_flag=bfpo,
                   pic_init_qp=pic_init_qp, chroma_qp_index_offset=cqo,
                   deblocking_filter_control_present_flag=dfc, constrained_intra_pred_flag=cip,
                   redundant_pic_cnt_present_flag=rpc)


@dataclass
class SliceHeader:
    """slice_header() (7.3.3) for I slices."""
    first_mb_in_slice: int = 0
    slice_type: int = 7  # I, and every slice of the picture is I
    pps_id: int = 0
    frame_num: int = 0
    idr: bool = True
    nal_ref_idc: int = 3
    idr_pic_id: int = 0
    pic_order_cnt_lsb: int = 0
    delta_pic_order_cnt_bottom: int = 0
    delta_pic_order_cnt: tuple = (0, 0)
    redundant_pic_cnt: int = 0
    slice_qp: int = 26
    disable_deblocking_filter_idc: int = 0
    slice_alpha_c0_offset_div2: int = 0
    slice_beta_offset_div2: int = 0
    data_bit_offset: int = field(default=0, repr=False)  # where slice_data() starts, when parsed

    def write(self, sps, pps, w):
        w.ue(self.first_mb_in_slice)
        w.ue(self.slice_type)
        w.ue(self.pps_id)
        w.u(sps.log2_max_frame_num, self.frame_num)
        if self.idr:
            w.ue(self.idr_pic_id)
        if sps.pic_order_cnt_type == 0:
            w.u(sps.log2_max_poc_lsb, self.pic_order_cnt_lsb)
            if pps.bottom_field_pic_order_in_frame_present_flag:
                w.se(self.delta_pic_order_cnt_bottom)
        elif sps.pic_order_cnt_type == 1 and not sps.delta_pic_order_always_zero_flag:
            w.se(self.delta_pic_order_cnt[0])
            if pps.bottom_field_pic_order_in_frame_present_flag:
                w.se(self.delta_pic_order_cnt[1])
        if pps.redundant_pic_cnt_present_flag:
            w.ue(self.redundant_pic_cnt)
        if self.nal_ref_idc:
            if self.idr:
                w.u(1, 0)  # no_output_of_prior_pics_flag
                w.u(1, 0)  # long_term_reference_flag
            else:
                w.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
        w.se(self.slice_qp - pps.pic_init_qp)
        if pps.deblocking_filter_control_present_flag:
            w.ue(self.disable_deblocking_filter_idc)
            if self.disable_deblocking_filter_idc != 1:
                w.se(self.slice_alpha_c0_offset_div2)
                w.se(self.slice_beta_offset_div2)

    @classmethod
    def parse(cls, rbsp, nal_unit_type, nal_ref_idc, sps_by_id, pps_by_id):
        """Parse the header; returns (header, sps, pps). Raises BitstreamError for non-I slices."""
        r = BitReader(rbsp)
        first_mb = r.ue(139264, "first_mb_in_slice")
        slice_type = r.ue(9, "slice_type")
        if slice_type % 5 not in (2, 4):
            raise BitstreamError(f"slice_type {slice_type} is not intra: only I slices are supported")
        if slice_type % 5 == 4:
            raise BitstreamError("SI slices are not supported")
        pps_id = r.ue(255, "pic_parameter_set_id")
        if pps_id not in pps_by_id:
            raise BitstreamError(f"slice refers to a missing PPS {pps_id}")
        pps = pps_by_id[pps_id]
        if pps.sps_id not in sps_by_id:
            raise BitstreamError(f"PPS refers to a missing SPS {pps.sps_id}")
        sps = sps_by_id[pps.sps_id]
        h = cls(first_mb_in_slice=first_mb, slice_type=slice_type, pps_id=pps_id,
                idr=(nal_unit_type == 5), nal_ref_idc=nal_ref_idc)
        h.frame_num = r.u(sps.log2_max_frame_num)
        if h.idr:
            h.idr_pic_id = r.ue(65535, "idr_pic_id")
        if sps.pic_order_cnt_type == 0:
            h.pic_order_cnt_lsb = r.u(sps.log2_max_poc_lsb)
            if pps.bottom_field_pic_order_in_frame_present_flag:
                h.delta_pic_order_cnt_bottom = r.se()
        elif sps.pic_order_cnt_type == 1 and not sps.delta_pic_order_always_zero_flag:
            d0 = r.se()
            d1 = r.se() if pps.bottom_field_pic_order_in_frame_present_flag else 0
            h.delta_pic_order_cnt = (d0, d1)
        if pps.redundant_pic_cnt_present_flag:
            h.redundant_pic_cnt = r.ue(127, "redundant_pic_cnt")
        if nal_ref_idc:
            if h.idr:
                r.u(1)
                r.u(1)
            elif r.u(1):  # adaptive_ref_pic_marking_mode_flag: read and ignore the MMCOs
                for _ in range(64):
                    op = r.ue(6, "memory_management_control_operation")
                    if op == 0:
                        break
                    if op in (1, 3):
                        r.ue()
                    if op in (2,):
                        r.ue()
                    if op in (3, 6):
                        r.ue()
                    if op == 4:
                        r.ue()
                else:
                    raise BitstreamError("too many memory_management_control_operation entries")
        h.slice_qp = pps.pic_init_qp + r.se(-87, 77, "slice_qp_delta")
        if not 0 <= h.slice_qp <= 51:
            raise BitstreamError(f"SliceQPY {h.slice_qp} outside 0..51")
        if pps.deblocking_filter_control_present_flag:
            h.disable_deblocking_filter_idc = r.ue(2, "disable_deblocking_filter_idc")
            if h.disable_deblocking_filter_idc != 1:
                h.slice_alpha_c0_offset_div2 = r.se(-6, 6, "slice_alpha_c0_offset_div2")
                h.slice_beta_offset_div2 = r.se(-6, 6, "slice_beta_offset_div2")
        if first_mb >= sps.mb_width * sps.mb_height:
            raise BitstreamError("first_mb_in_slice is outside the picture")
        h.data_bit_offset = r.pos
        return h, sps, pps
