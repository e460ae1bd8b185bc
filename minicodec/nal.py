"""NAL units and the Annex B byte stream (H.264 clauses 7.3.1, 7.4.1 and Annex B).

An RBSP becomes a NAL unit by prefixing the one-byte header and inserting emulation_prevention_three_byte
(0x03) wherever two zero bytes would be followed by a byte <= 3; Annex B puts a start code before each.
"""
import numpy as np
from numba import njit

from .errors import BitstreamError

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9


@njit(cache=True)
def _escape(rbsp, out):
    n = 0
    zeros = 0
    for i in range(rbsp.shape[0]):
        b = rbsp[i]
        if zeros >= 2 and b <= 3:
            out[n] = 3
            n += 1
            zeros = 0
        out[n] = b
        n += 1
        zeros = zeros + 1 if b == 0 else 0
    if n >= 2 and out[n - 1] == 0 and out[n - 2] == 0:
        out[n] = 3  # RBSP ending in cabac_zero_words: a final 0x03 keeps the zeros in the NAL unit (7.4.1)
        n += 1
    return n


@njit(cache=True)
def _unescape(payload, out):
    n = 0
    zeros = 0
    for i in range(payload.shape[0]):
        b = payload[i]
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out[n] = b
        n += 1
        zeros = zeros + 1 if b == 0 else 0
    return n


def escape(rbsp):
    """RBSP bytes -> NAL payload with emulation prevention bytes (7.4.1)."""
    rbsp = np.frombuffer(bytes(rbsp), np.uint8) if not isinstance(rbsp, np.ndarray) else rbsp
    out = np.empty(rbsp.size + rbsp.size // 2 + 3, np.uint8)
    n = _escape(rbsp, out)
    return out[:n].tobytes()


def unescape(payload):
    """NAL payload -> RBSP, dropping each 0x03 that follows two zero bytes (7.4.1)."""
    arr = np.frombuffer(payload, np.uint8)
    out = np.empty(arr.size, np.uint8)
    n = _unescape(arr, out)
    return out[:n]


def nal_unit(nal_unit_type, nal_ref_idc, rbsp):
    """One Annex B NAL unit: start code, header byte, escaped RBSP."""
    header = bytes([((nal_ref_idc & 3) << 5) | (nal_unit_type & 31)])
    return b"\x00\x00\x00\x01" + header + escape(rbsp)


def split_annexb(data):
    """Split an Annex B byte stream into (nal_unit_type, nal_ref_idc, rbsp ndarray) triples (B.2)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    units = []
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    if not starts:
        raise BitstreamError("no Annex B start code found")
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        payload = data[s:e].rstrip(b"\x00")  # trailing_zero_8bits and the next start code's zero
        if not payload:
            continue
        h = payload[0]
        if h & 0x80:
            raise BitstreamError("forbidden_zero_bit is set in a NAL unit header")
        units.append((h & 31, (h >> 5) & 3, unescape(payload[1:])))
    return units
