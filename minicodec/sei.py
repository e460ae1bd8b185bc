"""Supplemental enhancement information (H.264 clauses 7.3.2.3, 7.4.2.3 and Annex D), written and parsed.

4:2:0 frame cropping works in steps of 2 samples (CropUnitX = CropUnitY = 2, 7.4.2.1.1), so the SPS cannot
say that a picture is 17 samples wide: every decoder outputs 18. minicodec states the true size in a
user_data_unregistered SEI message (payloadType 5, D.1.6 / D.2.6) of its own, which other decoders skip:

    uuid_iso_iec_11578   16 bytes, :data:`SIZE_UUID` (uuid5 of NAMESPACE_URL, "minicodec:true-picture-size")
    width                ue(v), luma samples
    height               ue(v)
    then a 1 bit and 0 bits up to the end of the byte (the layout of rbsp_trailing_bits)

The encoder writes it only for odd sizes (between the PPS and the first slice, 7.4.1.2.3); 17x33 costs 27
bytes of stream. The message applies to the picture of its own access unit.
"""
import numpy as np

from . import bitstream as bs
from .errors import BitstreamError
from .params import BitReader, BitWriter

USER_DATA_UNREGISTERED = 5

#: uuid_iso_iec_11578 of minicodec's true-size message: uuid.uuid5(uuid.NAMESPACE_URL,
#: "minicodec:true-picture-size") = 006f1323-408d-5746-ba17-09901c09ccef.
SIZE_UUID = bytes.fromhex("006f1323408d5746ba1709901c09ccef")


def _ff_coded(value):
    """payloadType / payloadSize: 0xFF bytes while the value is at least 255, then the rest (7.3.2.3.1)."""
    return b"\xff" * (value // 255) + bytes([value % 255])


def sei_rbsp(messages):
    """sei_rbsp() (7.3.2.3): each (payloadType, payload bytes) as an sei_message(), then rbsp_trailing_bits."""
    if not messages:
        raise ValueError("an SEI NAL unit holds at least one message")
    out = bytearray()
    for payload_type, payload in messages:
        out += _ff_coded(int(payload_type)) + _ff_coded(len(payload)) + bytes(payload)
    return bytes(out + b"\x80")


def parse_sei_rbsp(rbsp):
    """sei_rbsp() -> [(payloadType, payload bytes)]; BitstreamError if the messages do not fit the RBSP."""
    data = bytes(rbsp)
    stop = bs.find_stop_bit(np.frombuffer(data, np.uint8))
    if stop < 0 or stop % 8:
        raise BitstreamError("SEI RBSP does not end with rbsp_trailing_bits")
    end = stop // 8  # the byte holding rbsp_stop_one_bit: sei_message()s are byte-aligned (7.3.2.3.1)
    messages = []
    pos = 0
    while pos < end:  # more_rbsp_data()
        values = []
        for _ in range(2):  # payloadType, then payloadSize
            value = 0
            while pos < end and data[pos] == 0xFF:
                value += 255
                pos += 1
            if pos >= end:
                raise BitstreamError("SEI message header runs into rbsp_trailing_bits")
            values.append(value + data[pos])
            pos += 1
        payload_type, size = values
        if pos + size > end:
            raise BitstreamError(f"SEI message of payloadType {payload_type}: payloadSize {size} runs past "
                                 "the end of the RBSP")
        messages.append((payload_type, data[pos:pos + size]))
        pos += size
    if not messages:
        raise BitstreamError("SEI NAL unit holds no sei_message()")
    return messages


def size_message(width, height):
    """minicodec's true-size message as (payloadType, payload bytes)."""
    w = BitWriter(16)
    w.ue(width)
    w.ue(height)
    w.trailing()
    return USER_DATA_UNREGISTERED, SIZE_UUID + w.bytes().tobytes()


def true_size(messages):
    """(width, height) from minicodec's message among ``messages`` (the last one wins), or None.

    user_data_unregistered messages with any other UUID and all other payload types are skipped (D.2.6)."""
    size = None
    for payload_type, payload in messages:
        if payload_type != USER_DATA_UNREGISTERED or payload[:16] != SIZE_UUID:
            continue
        body = np.frombuffer(payload[16:], np.uint8)
        r = BitReader(body)
        width = r.ue(1 << 20, "true width")
        height = r.ue(1 << 20, "true height")
        if bs.find_stop_bit(body) != r.pos or r.pos // 8 != body.size - 1:
            raise BitstreamError("minicodec's size SEI message does not end with a stop bit and alignment")
        size = (width, height)
    return size
