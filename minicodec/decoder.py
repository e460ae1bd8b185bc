"""Decoder: Annex B stream -> pictures (H.264 clauses 7 and 8 for intra CAVLC 4:2:0 8-bit frames).

Python walks NAL units and headers (a few per picture); one Numba kernel per slice parses and
reconstructs every macroblock (:func:`decode_slice_data`); the deblocking kernel runs per picture.
A picture whose access unit carries minicodec's true-size SEI message (:mod:`minicodec.sei`) is output
at that size (odd widths and heights), every other picture at the SPS's cropped size.
"""
import numpy as np
from numba import njit

from . import bitstream as bs
from .borrow import borrowed, keep_alive
from .colour import yuv420_to_rgb
from .errors import BitstreamError
from .intra_pred import chroma_mode_allowed, i4x4_mode_allowed, i16x16_mode_allowed
from .macroblock import BLK_X, BLK_Y, MB_I4x4, MB_I16x16, block_neighbours, mb_neighbours, parse_macroblock
from .nal import NAL_IDR, NAL_PPS, NAL_SEI, NAL_SLICE, NAL_SPS, split_annexb
from .params import PPS, SPS, SliceHeader
from .picture import Picture
from .reconstruct import recon_macroblock
from .sei import parse_sei_rbsp, true_size
from .transform import chroma_qp


@njit(cache=True)
def decode_slice_data(buf, rs, stop_bit, first_mb, slice_num, slice_qp, cqp_offset, mb_w, mb_h,
                      Y, Cb, Cr, mb_slice, mb_kind, mb_qp, nz_y, nz_c, ipred):
    """slice_data() of an I slice in CAVLC (7.3.4): parse and reconstruct each macroblock until
    more_rbsp_data() is false. Returns the number of macroblocks decoded."""
    nmb = mb_w * mb_h
    lev = np.zeros((27, 16), np.int32)
    i4modes = np.zeros(16, np.int32)
    pcm = np.zeros(384, np.int32)
    owners = (lev, i4modes, pcm)  # the loop works on borrowed views (no atomic refcounts, minicodec.borrow)
    buf, rs, Y, Cb, Cr = borrowed(buf), borrowed(rs), borrowed(Y), borrowed(Cb), borrowed(Cr)
    mb_slice, mb_kind, mb_qp = borrowed(mb_slice), borrowed(mb_kind), borrowed(mb_qp)
    nz_y, nz_c, ipred = borrowed(nz_y), borrowed(nz_c), borrowed(ipred)
    lev, i4modes, pcm = borrowed(lev), borrowed(i4modes), borrowed(pcm)
    addr = first_mb
    qp = slice_qp
    count = 0
    while True:
        if addr >= nmb:
            raise BitstreamError("slice data continues past the last macroblock of the picture")
        if mb_slice[addr] != -1:
            raise BitstreamError("a macroblock is coded twice in one picture")
        mby = addr // mb_w
        mbx = addr - mby * mb_w
        left, top, topright, topleft = mb_neighbours(mb_slice, mb_w, mbx, mby, slice_num)
        mb_slice[addr] = slice_num
        kind, i16mode, cmode, cbp, dq = parse_macroblock(buf, rs, mbx, mby, left, top, lev, i4modes, pcm,
                                                         nz_y, nz_c, ipred)
        qp = (qp + dq + 52) % 52  # 7.4.5, QpBdOffsetY = 0
        if kind == MB_I4x4:
            for blk in range(16):
                a, b, c, d = block_neighbours(BLK_X[blk], BLK_Y[blk], blk, left, top, topright, topleft)
                if not i4x4_mode_allowed(i4modes[blk], a, b, d):
                    raise BitstreamError("Intra4x4PredMode uses unavailable neighbours")
        elif kind == MB_I16x16:
            if not i16x16_mode_allowed(i16mode, left, top, topleft):
                raise BitstreamError("Intra16x16PredMode uses unavailable neighbours")
        if kind != 2 and not chroma_mode_allowed(cmode, left, top, topleft):
            raise BitstreamError("intra_chroma_pred_mode uses unavailable neighbours")
        mb_kind[addr] = kind
        mb_qp[addr] = qp
        recon_macroblock(Y, Cb, Cr, mbx, mby, left, top, topright, topleft, kind, i16mode, cmode,
                         i4modes, qp, chroma_qp(qp, cqp_offset), lev, pcm)
        count += 1
        addr += 1
        if rs[0] >= stop_bit:
            break
    keep_alive(owners)
    if rs[0] != stop_bit:
        raise BitstreamError("slice data overruns the RBSP stop bit")
    return count


def _new_picture(prev, cur):
    """First VCL NAL unit of a new primary picture? (7.4.1.2.4, for frames)."""
    return (cur.frame_num != prev.frame_num or cur.pps_id != prev.pps_id
            or (cur.nal_ref_idc == 0) != (prev.nal_ref_idc == 0)
            or cur.pic_order_cnt_lsb != prev.pic_order_cnt_lsb
            or cur.delta_pic_order_cnt_bottom != prev.delta_pic_order_cnt_bottom
            or cur.delta_pic_order_cnt != prev.delta_pic_order_cnt
            or cur.idr != prev.idr or (cur.idr and cur.idr_pic_id != prev.idr_pic_id))


def _check_true_size(size, sps):
    """The size of minicodec's SEI message must be what the SPS crops to, or one sample less (odd)."""
    if size is None:
        return None
    w, h = size
    if w not in (sps.width - 1, sps.width) or h not in (sps.height - 1, sps.height):
        raise BitstreamError(f"the size SEI message says {w}x{h}, which the SPS's {sps.width}x{sps.height} "
                             "picture cannot hold")
    return size


class DecodedPicture:
    """One output picture: cropped planes plus what the stream said about it.

    ``size`` is the (width, height) of minicodec's SEI message, or None: output at the planes' size."""

    def __init__(self, planes, sps, pic, size=None):
        self.planes = planes
        self.sps = sps
        self.size = size
        self.mb_kind = pic.mb_kind.reshape(pic.mb_height, pic.mb_width).copy()
        self.mb_qp = pic.mb_qp.reshape(pic.mb_height, pic.mb_width).copy()

    def as_output(self, output):
        """RGB (H, W, 3), gray (H, W) or (Y, Cb, Cr) with chroma (ceil(H/2), ceil(W/2)): the forms
        :func:`minicodec.encode` accepts, and returns as ``recon``."""
        Y, Cb, Cr = self.planes
        if output == "yuv":
            out = (Y, Cb, Cr)
        elif output == "gray":
            out = Y
        else:
            out = yuv420_to_rgb(Y, Cb, Cr, full_range=self.sps.full_range)
        if self.size is None or self.size == (Y.shape[1], Y.shape[0]):
            return out
        w, h = self.size
        if output == "yuv":
            ch, cw = (h + 1) // 2, (w + 1) // 2
            return Y[:h, :w].copy(), Cb[:ch, :cw].copy(), Cr[:ch, :cw].copy()
        return out[:h, :w].copy()


def iter_pictures(data):
    """Yield :class:`DecodedPicture` for every primary picture of an Annex B stream, in decoding order."""
    sps_by_id, pps_by_id = {}, {}
    pic = None
    pic_sps = None
    pic_size = None
    prev = None
    size = None  # from an SEI NAL unit since the last slice: for the next picture (its access unit's)
    for nal_type, ref_idc, rbsp in split_annexb(data):
        if nal_type == NAL_SEI:
            size = true_size(parse_sei_rbsp(rbsp)) or size
        elif nal_type == NAL_SPS:
            sps = SPS.parse(rbsp)
            sps_by_id[sps.sps_id] = sps
        elif nal_type == NAL_PPS:
            pps = PPS.parse(rbsp)
            pps_by_id[pps.pps_id] = pps
        elif nal_type in (NAL_SLICE, NAL_IDR):
            hdr, sps, pps = SliceHeader.parse(rbsp, nal_type, ref_idc, sps_by_id, pps_by_id)
            # SEI belongs to the access unit of the slice after it; one between the slices of a picture
            # (not allowed, 7.4.1.2.3) is dropped
            sei_size, size = size, None
            if hdr.redundant_pic_cnt > 0:
                continue  # redundant coded pictures are for error resilience; the primary one suffices
            if pic is not None and (_new_picture(prev, hdr) or pic.mb_slice[hdr.first_mb_in_slice] != -1
                                    or (pic.mb_width, pic.mb_height) != (sps.mb_width, sps.mb_height)):
                yield _finish(pic, pic_sps, pic_size)
                pic = None
            if pic is None:
                pic = Picture(sps.mb_width, sps.mb_height, pps.chroma_qp_index_offset)
                pic_sps = sps
                pic_size = _check_true_size(sei_size, sps)
            if pps.chroma_qp_index_offset != pic.chroma_qp_index_offset:
                raise BitstreamError("chroma_qp_index_offset changes within a picture")
            stop = bs.find_stop_bit(rbsp)
            if stop < hdr.data_bit_offset:
                raise BitstreamError("slice has no data")
            rs = bs.new_reader_state(rbsp.size)
            rs[0] = hdr.data_bit_offset
            slice_num = pic.slices
            pic.slices += 1
            decode_slice_data(rbsp, rs, stop, hdr.first_mb_in_slice, slice_num, hdr.slice_qp,
                              pps.chroma_qp_index_offset, pic.mb_width, pic.mb_height, pic.Y, pic.Cb,
                              pic.Cr, pic.mb_slice, pic.mb_kind, pic.mb_qp, pic.nz_y, pic.nz_c, pic.ipred)
            pic.set_slice_filter(slice_num, hdr.disable_deblocking_filter_idc,
                                 hdr.slice_alpha_c0_offset_div2, hdr.slice_beta_offset_div2)
            prev = hdr
        elif nal_type in (2, 3, 4):
            raise BitstreamError("data partitioning (NAL types 2-4) is not supported")
    if pic is not None:
        yield _finish(pic, pic_sps, pic_size)


def _finish(pic, sps, size):
    if np.any(pic.mb_slice < 0):
        raise BitstreamError(f"picture incomplete: {int(np.sum(pic.mb_slice < 0))} macroblocks missing")
    pic.deblock()
    return DecodedPicture(pic.cropped(sps), sps, pic, size)


_OUTPUTS = ("rgb", "gray", "yuv")


def _check_output(output):
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")


def _guarded(gen):
    """Turn any low-level failure on a corrupt stream into BitstreamError."""
    try:
        yield from gen
    except BitstreamError:
        raise
    except (IndexError, ValueError, OverflowError, ZeroDivisionError, KeyError) as e:
        raise BitstreamError(f"corrupt stream: {e}") from e


def decode_frames(data, output="rgb"):
    """Yield every picture of an intra-only H.264 Annex B stream as RGB, gray (Y) or (Y, Cb, Cr)."""
    _check_output(output)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    for p in _guarded(iter_pictures(bytes(data))):
        yield p.as_output(output)


def decode(data, output="rgb"):
    """Decode the first picture of an Annex B stream (``output``: "rgb", "gray" or "yuv")."""
    for picture in decode_frames(data, output):
        return picture
    raise BitstreamError("the stream holds no picture")
