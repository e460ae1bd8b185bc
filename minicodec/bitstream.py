"""Bit-level I/O and Exp-Golomb codes (H.264 clauses 7.2 and 9.1).

One writer serves two back-ends, chosen by a flag in its state array: it either writes the bits into
a byte buffer or only counts them. The encoder's RD decisions call the very same syntax functions in
counting mode, so the rate they see is exactly the rate that is written.

Writer state ``ws`` (int64 array, see :func:`new_writer` / :func:`new_counter`):
    ws[0]  bit position (= number of bits produced so far)
    ws[1]  1 to write into ``buf``, 0 to count only

Reader state ``rs`` (int64 array, see :func:`new_reader_state`):
    rs[0]  bit position of the next bit to read
    rs[1]  number of readable bits in ``buf``

All readers raise :class:`minicodec.errors.BitstreamError` when asked to read past the end, so
stream-derived lengths can never walk outside the buffer.
"""
import numpy as np
from numba import njit

from .errors import BitstreamError

WS_POS = 0
WS_WRITE = 1


def new_writer(capacity_bytes):
    """A zeroed byte buffer and a writer state in writing mode."""
    return np.zeros(max(int(capacity_bytes), 16), np.uint8), np.array([0, 1], np.int64)


def new_counter():
    """A writer state in counting mode, with a dummy buffer (nothing is ever written to it)."""
    return np.zeros(1, np.uint8), np.array([0, 0], np.int64)


def new_reader_state(nbytes):
    return np.array([0, 8 * int(nbytes)], np.int64)


@njit(cache=True)
def put_bits(buf, ws, value, n):
    """Append the ``n`` (0..32) low bits of ``value``, most significant first (u(n)). The bits after the
    position must be zero (a new buffer is; :func:`rewind` keeps it so)."""
    pos = ws[0]
    ws[0] = pos + n
    if ws[1] == 0:
        return
    if (pos + n + 7) >> 3 > buf.shape[0]:
        raise BitstreamError("bit writer buffer overflow")
    while n > 0:
        byte = pos >> 3
        free = 8 - (pos & 7)
        take = free if free < n else n
        bits = (value >> (n - take)) & ((1 << take) - 1)
        buf[byte] |= np.uint8(bits << (free - take))
        pos += take
        n -= take


@njit(cache=True)
def rewind(buf, ws, pos):
    """Move the writer back to bit ``pos`` (<= the current position), clearing what was written after it.
    The encoder writes a candidate macroblock speculatively and rewinds when another one wins."""
    end = ws[0]
    ws[0] = pos
    if ws[1] == 0 or pos >= end:
        return
    byte = pos >> 3
    if pos & 7:
        buf[byte] &= np.uint8((0xFF00 >> (pos & 7)) & 0xFF)
        byte += 1
    for k in range(byte, (end + 7) >> 3):
        buf[k] = 0


@njit(cache=True)
def put_ue(buf, ws, value):
    """ue(v): unsigned Exp-Golomb code (9.1)."""
    x = value + 1
    length = 0
    t = x
    while t > 0:
        length += 1
        t >>= 1
    # leading zeros, then x itself in `length` bits (its top bit is the separating 1)
    if length > 16:
        put_bits(buf, ws, 0, length - 1)
        put_bits(buf, ws, x, length)
    else:
        put_bits(buf, ws, x, 2 * length - 1)


@njit(cache=True)
def put_se(buf, ws, value):
    """se(v): signed Exp-Golomb code, mapping k > 0 to 2k - 1 and k <= 0 to -2k (9.1.1)."""
    if value > 0:
        put_ue(buf, ws, 2 * value - 1)
    else:
        put_ue(buf, ws, -2 * value)


@njit(cache=True)
def ue_bits(value):
    """Length in bits of ue(value), without writing anything."""
    x = value + 1
    length = 0
    while x > 0:
        length += 1
        x >>= 1
    return 2 * length - 1


@njit(cache=True)
def se_bits(value):
    return ue_bits(2 * value - 1) if value > 0 else ue_bits(-2 * value)


@njit(cache=True)
def put_trailing_bits(buf, ws):
    """rbsp_trailing_bits(): a stop bit 1, then zeros up to the byte boundary (7.3.2.11)."""
    put_bits(buf, ws, 1, 1)
    pad = (8 - (ws[0] & 7)) & 7
    put_bits(buf, ws, 0, pad)


@njit(cache=True)
def get_bits(buf, rs, n):
    """u(n) for n in 0..32; raises BitstreamError past the end."""
    pos = rs[0]
    if n == 0:
        return 0
    if pos + n > rs[1]:
        raise BitstreamError("truncated stream: read past the end of a NAL unit")
    value = 0
    remaining = n
    while remaining > 0:
        byte = pos >> 3
        avail = 8 - (pos & 7)
        take = avail if avail < remaining else remaining
        bits = (np.int64(buf[byte]) >> (avail - take)) & ((1 << take) - 1)
        value = (value << take) | bits
        pos += take
        remaining -= take
    rs[0] = pos
    return value


@njit(cache=True)
def peek_bits(buf, rs, n):
    """The next n bits (zero-padded past the end) without consuming them."""
    pos = rs[0]
    value = 0
    for i in range(n):
        p = pos + i
        bit = 0
        if p < rs[1]:
            bit = (np.int64(buf[p >> 3]) >> (7 - (p & 7))) & 1
        value = (value << 1) | bit
    return value


@njit(cache=True)
def get_ue(buf, rs):
    """ue(v) (9.1); more than 31 leading zeros is an error."""
    zeros = 0
    while get_bits(buf, rs, 1) == 0:
        zeros += 1
        if zeros > 31:
            raise BitstreamError("invalid Exp-Golomb code (more than 31 leading zeros)")
    if zeros == 0:
        return 0
    return (1 << zeros) - 1 + get_bits(buf, rs, zeros)


@njit(cache=True)
def get_se(buf, rs):
    k = get_ue(buf, rs)
    if k & 1:
        return (k + 1) >> 1
    return -(k >> 1)


@njit(cache=True)
def more_rbsp_data(buf, rs, stop_bit):
    """more_rbsp_data() (7.2): true while the read position is before the rbsp_stop_one_bit."""
    return rs[0] < stop_bit


def find_stop_bit(rbsp):
    """Bit position of the rbsp_stop_one_bit: the last 1 bit of the RBSP (-1 if none)."""
    nz = np.flatnonzero(np.asarray(rbsp, np.uint8))
    if nz.size == 0:
        return -1
    last = int(nz[-1])
    byte = int(rbsp[last])
    tz = (byte & -byte).bit_length() - 1
    return last * 8 + (7 - tz)
