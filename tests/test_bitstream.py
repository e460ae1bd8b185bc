"""Bit writer / counter / reader and Exp-Golomb codes (H.264 clauses 7.2 and 9.1).

References are written here from the standard, not taken from minicodec:

* 9.1: a ue(v) code is ``leadingZeroBits`` zeros, a one, then ``leadingZeroBits`` bits ``b`` with
  codeNum = 2**leadingZeroBits - 1 + b. So codeNum k is coded with L = floor(log2(k + 1)) zeros, then
  k + 1 in L + 1 bits (its top bit is the separating one).
* 9.1.1 (Table 9-3): se(v) maps codeNum k to (-1)**(k + 1) * Ceil(k / 2): 0, 1, -1, 2, -2, 3, -3, ...
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicodec import BitstreamError
from minicodec import bitstream as bs

FAST = settings(max_examples=100, deadline=None)


# ------------------------------------------------------------------ references from clause 9.1

def ref_ue(k):
    """Bit string of ue(v) = k, from 9.1 (codeNum = 2^L - 1 + read_bits(L))."""
    assert k >= 0
    L = (k + 1).bit_length() - 1
    info = k + 1 - (1 << L)
    return "0" * L + "1" + (format(info, f"0{L}b") if L else "")


def ref_se_to_codenum(v):
    """Inverse of Table 9-3: the codeNum that se(v) = v is coded with."""
    return 2 * v - 1 if v > 0 else -2 * v


def ref_codenum_to_se(k):
    """Table 9-3 / equation 9-3: (-1)^(k+1) * Ceil(k / 2)."""
    return (-1) ** (k + 1) * ((k + 1) // 2)


def bits_of(buf, nbits):
    """The first nbits bits of a byte buffer as a '0'/'1' string."""
    return "".join(format(int(b), "08b") for b in buf[: (nbits + 7) // 8])[:nbits]


def bytes_from_bits(s):
    s = s + "0" * (-len(s) % 8)
    return np.array([int(s[i:i + 8], 2) for i in range(0, len(s), 8)], np.uint8)


def reader(bitstring):
    """A reader over exactly len(bitstring) bits rounded up to bytes (zero padded)."""
    buf = bytes_from_bits(bitstring)
    return buf, bs.new_reader_state(buf.size)


# ------------------------------------------------------------------ Exp-Golomb tables

# Table 9-2 worked out by hand: bit string -> codeNum range
UE_TABLE = {
    0: "1",
    1: "010", 2: "011",
    3: "00100", 4: "00101", 5: "00110", 6: "00111",
    7: "0001000", 8: "0001001", 14: "0001111",
    15: "000010000", 30: "000011111",
    31: "00000100000",
}
# Table 9-3: codeNum -> syntax element value
SE_TABLE = {0: 0, 1: 1, 2: -1, 3: 2, 4: -2, 5: 3, 6: -3, 7: 4}


def test_reference_ue_matches_table_9_2():
    # guards the reference itself against the hand-written table
    for k, code in UE_TABLE.items():
        assert ref_ue(k) == code


@pytest.mark.parametrize("k", sorted(UE_TABLE))
def test_put_ue_small_values_equal_table_9_2(k):
    buf, ws = bs.new_writer(16)
    bs.put_ue(buf, ws, k)
    assert int(ws[0]) == len(UE_TABLE[k])
    assert bits_of(buf, int(ws[0])) == UE_TABLE[k]
    assert bs.ue_bits(k) == len(UE_TABLE[k])


@pytest.mark.parametrize("code_num,value", sorted(SE_TABLE.items()))
def test_put_se_small_values_follow_table_9_3(code_num, value):
    buf, ws = bs.new_writer(16)
    bs.put_se(buf, ws, value)
    assert bits_of(buf, int(ws[0])) == UE_TABLE.get(code_num, ref_ue(code_num))
    assert bs.se_bits(value) == len(ref_ue(code_num))
    # and the reader maps the code back
    b, rs = reader(ref_ue(code_num))
    assert bs.get_se(b, rs) == value


@FAST
@given(st.integers(0, 2**32 - 2))
def test_ue_write_read_matches_reference_code(k):
    buf, ws = bs.new_writer(16)
    bs.put_ue(buf, ws, k)
    code = ref_ue(k)
    assert bits_of(buf, int(ws[0])) == code
    assert bs.ue_bits(k) == len(code)
    b, rs = reader(code)
    assert bs.get_ue(b, rs) == k
    assert int(rs[0]) == len(code)


@FAST
@given(st.integers(-(2**31) + 1, 2**31 - 1))
def test_se_write_read_matches_reference_code(v):
    k = ref_se_to_codenum(v)
    assert ref_codenum_to_se(k) == v
    buf, ws = bs.new_writer(16)
    bs.put_se(buf, ws, v)
    assert bits_of(buf, int(ws[0])) == ref_ue(k)
    assert bs.se_bits(v) == len(ref_ue(k))
    b, rs = reader(ref_ue(k))
    assert bs.get_se(b, rs) == v


def test_largest_ue_has_31_leading_zeros():
    # codeNum 2^32 - 2 = 2^31 - 1 + (2^31 - 1): 31 zeros, a one, 31 ones
    k = 2**32 - 2
    code = "0" * 31 + "1" + "1" * 31
    assert ref_ue(k) == code
    b, rs = reader(code)
    assert bs.get_ue(b, rs) == k


def test_more_than_31_leading_zeros_raises():
    b, rs = reader("0" * 32 + "1" + "0" * 32)
    with pytest.raises(BitstreamError):
        bs.get_ue(b, rs)
    b, rs = reader("0" * 40 + "1" + "0" * 40)
    with pytest.raises(BitstreamError):
        bs.get_se(b, rs)


# ------------------------------------------------------------------ u(n) writer and reader

def test_put_bits_hand_example():
    # u(3)=5 '101', u(1)=0 '0', u(6)=0b110011 '110011', u(2)=3 '11' -> 10101100 1111.... = 0xAC 0xF0
    buf, ws = bs.new_writer(16)
    for v, n in ((5, 3), (0, 1), (0b110011, 6), (3, 2)):
        bs.put_bits(buf, ws, v, n)
    assert int(ws[0]) == 12
    assert list(buf[:2]) == [0xAC, 0xF0]
    assert not buf[2:].any()


def test_put_bits_uses_only_the_low_n_bits():
    buf, ws = bs.new_writer(16)
    bs.put_bits(buf, ws, 0xFFF5, 4)  # low 4 bits 0101
    bs.put_bits(buf, ws, 0, 0)       # u(0) writes nothing
    assert bits_of(buf, int(ws[0])) == "0101"


fields = st.lists(
    st.integers(0, 32).flatmap(lambda n: st.tuples(st.integers(0, (1 << n) - 1), st.just(n))),
    min_size=0, max_size=40)


@FAST
@given(fields)
def test_put_bits_concatenates_msb_first_and_get_bits_reads_back(items):
    buf, ws = bs.new_writer(1024)
    expect = ""
    for v, n in items:
        bs.put_bits(buf, ws, v, n)
        expect += format(v, f"0{n}b") if n else ""
    assert int(ws[0]) == len(expect)
    assert bits_of(buf, len(expect)) == expect
    # the unused part of the last byte stays zero
    assert bits_of(buf, 8 * ((len(expect) + 7) // 8))[len(expect):] == "0" * (-len(expect) % 8)
    rs = bs.new_reader_state(buf.size)
    for v, n in items:
        assert bs.get_bits(buf, rs, n) == v
    assert int(rs[0]) == len(expect)



@FAST
@given(fields, fields, fields)
def test_rewind_leaves_no_trace_of_what_it_discards(kept, dropped, after):
    """A candidate written then rewound leaves no trace: kept + dropped, rewound to the end of kept, then
    after, gives the bytes of kept + after written fresh, and zeros beyond (put_bits relies on them)."""
    buf, ws = bs.new_writer(1024)
    for v, n in kept:
        bs.put_bits(buf, ws, v, n)
    mark = int(ws[0])
    for v, n in dropped:
        bs.put_bits(buf, ws, v, n)
    bs.rewind(buf, ws, mark)
    for v, n in after:
        bs.put_bits(buf, ws, v, n)
    fresh, fws = bs.new_writer(1024)
    for v, n in kept + after:
        bs.put_bits(fresh, fws, v, n)
    assert int(ws[0]) == int(fws[0])
    assert bytes(buf) == bytes(fresh)


ops = st.lists(st.one_of(
    st.tuples(st.just("u"), st.integers(0, 32).flatmap(
        lambda n: st.tuples(st.integers(0, (1 << n) - 1), st.just(n)))),
    st.tuples(st.just("ue"), st.integers(0, 2**32 - 2)),
    st.tuples(st.just("ue"), st.integers(0, 40)),
    st.tuples(st.just("se"), st.integers(-(2**31) + 1, 2**31 - 1)),
    st.tuples(st.just("se"), st.integers(-20, 20)),
    st.tuples(st.just("trailing"), st.none()),
), max_size=50)


def _apply(buf, ws, items):
    for op, arg in items:
        if op == "u":
            bs.put_bits(buf, ws, arg[0], arg[1])
        elif op == "ue":
            bs.put_ue(buf, ws, arg)
        elif op == "se":
            bs.put_se(buf, ws, arg)
        else:
            bs.put_trailing_bits(buf, ws)


@FAST
@given(ops)
def test_counter_counts_exactly_what_the_writer_writes(items):
    wbuf, wws = bs.new_writer(4096)
    cbuf, cws = bs.new_counter()
    expect = 0
    for item in items:
        _apply(wbuf, wws, [item])
        _apply(cbuf, cws, [item])
        assert int(cws[0]) == int(wws[0])
        op, arg = item
        # and the standalone length functions agree with the reference codes
        if op == "ue":
            assert bs.ue_bits(arg) == len(ref_ue(arg))
            expect += len(ref_ue(arg))
        elif op == "se":
            assert bs.se_bits(arg) == len(ref_ue(ref_se_to_codenum(arg)))
            expect += len(ref_ue(ref_se_to_codenum(arg)))
        elif op == "u":
            expect += arg[1]
        else:
            expect += 1 + (-(expect + 1) % 8)
        assert int(wws[0]) == expect
    assert not cbuf.any()  # the counter's dummy buffer is never written
    assert int(cws[1]) == 0 and int(wws[1]) == 1


@FAST
@given(ops)
def test_writer_output_parses_back(items):
    buf, ws = bs.new_writer(4096)
    _apply(buf, ws, items)
    rs = bs.new_reader_state((int(ws[0]) + 7) // 8)
    for op, arg in items:
        if op == "u":
            assert bs.get_bits(buf, rs, arg[1]) == arg[0]
        elif op == "ue":
            assert bs.get_ue(buf, rs) == arg
        elif op == "se":
            assert bs.get_se(buf, rs) == arg
        else:
            assert bs.get_bits(buf, rs, 1) == 1
            pad = -int(rs[0]) % 8
            assert bs.get_bits(buf, rs, pad) == 0
    assert int(rs[0]) == int(ws[0])


def test_writer_overflow_raises():
    buf, ws = bs.new_writer(16)  # 128 bits
    bs.put_bits(buf, ws, 0xFFFFFFFF, 32)
    bs.put_bits(buf, ws, 0xFFFFFFFF, 32)
    bs.put_bits(buf, ws, 0xFFFFFFFF, 32)
    bs.put_bits(buf, ws, 0x7FFFFFFF, 31)  # 127 bits: still fits
    bs.put_bits(buf, ws, 1, 1)            # exactly 128
    with pytest.raises(BitstreamError):
        bs.put_bits(buf, ws, 1, 1)


# ------------------------------------------------------------------ trailing bits

@pytest.mark.parametrize("k", range(0, 17))
def test_trailing_bits_stop_bit_then_zeros_to_byte_boundary(k):
    # 7.3.2.11: rbsp_stop_one_bit (1) then rbsp_alignment_zero_bit until aligned
    buf, ws = bs.new_writer(16)
    bs.put_bits(buf, ws, (1 << k) - 1, k)  # k ones
    bs.put_trailing_bits(buf, ws)
    n = int(ws[0])
    assert n % 8 == 0 and k < n <= k + 8
    assert bits_of(buf, n) == "1" * k + "1" + "0" * (n - k - 1)
    assert bs.find_stop_bit(buf[: n // 8]) == k


# ------------------------------------------------------------------ reading past the end

def test_get_bits_past_end_raises_and_does_not_move():
    buf = np.array([0xA5], np.uint8)
    rs = bs.new_reader_state(1)
    assert bs.get_bits(buf, rs, 3) == 0b101
    with pytest.raises(BitstreamError):
        bs.get_bits(buf, rs, 6)
    assert int(rs[0]) == 3
    assert bs.get_bits(buf, rs, 5) == 0b00101
    assert bs.get_bits(buf, rs, 0) == 0  # u(0) at the very end is fine
    with pytest.raises(BitstreamError):
        bs.get_bits(buf, rs, 1)


def test_reader_limit_is_the_state_not_the_buffer():
    # rs[1] bounds the readable bits even if the array is longer
    buf = np.array([0xFF, 0xFF], np.uint8)
    rs = bs.new_reader_state(1)
    assert bs.get_bits(buf, rs, 8) == 0xFF
    with pytest.raises(BitstreamError):
        bs.get_bits(buf, rs, 1)


@pytest.mark.parametrize("code", ["0", "00", "0001", "000100", "01", "00000000"])
def test_truncated_exp_golomb_raises(code):
    # each is a strict prefix of a ue code; the reader sees only len(code) bits
    buf = bytes_from_bits(code)
    rs = np.array([0, len(code)], np.int64)
    with pytest.raises(BitstreamError):
        bs.get_ue(buf, rs)
    rs = np.array([0, len(code)], np.int64)
    with pytest.raises(BitstreamError):
        bs.get_se(buf, rs)


def test_empty_buffer_raises():
    buf = np.zeros(0, np.uint8)
    with pytest.raises(BitstreamError):
        bs.get_ue(buf, bs.new_reader_state(0))


# ------------------------------------------------------------------ peek, stop bit, more_rbsp_data

def test_peek_bits_does_not_consume_and_pads_with_zeros():
    buf = np.array([0b10110011], np.uint8)
    rs = bs.new_reader_state(1)
    assert bs.peek_bits(buf, rs, 4) == 0b1011
    assert int(rs[0]) == 0
    bs.get_bits(buf, rs, 6)
    assert bs.peek_bits(buf, rs, 5) == 0b11000  # '11' then three zero pads
    assert int(rs[0]) == 6


@pytest.mark.parametrize("data,pos", [
    (b"\x80", 0),
    (b"\x01", 7),
    (b"\x00\x00", -1),
    (b"", -1),
    (b"\x12\x40\x00", 9),      # 0x40 = 0100 0000: bit 1 of byte 1
    (b"\xff\x03\x00\x00", 15),  # 0x03: last one at bit 7 of byte 1
])
def test_find_stop_bit_hand_examples(data, pos):
    assert bs.find_stop_bit(np.frombuffer(data, np.uint8)) == pos


@FAST
@given(st.binary(max_size=20))
def test_find_stop_bit_is_the_last_one_bit(data):
    s = "".join(format(b, "08b") for b in data)
    assert bs.find_stop_bit(np.frombuffer(data, np.uint8)) == s.rfind("1")


def test_more_rbsp_data_stops_at_the_stop_bit():
    # payload '1011' (4 bits) then rbsp_trailing_bits: 1011 1000
    buf = np.array([0b10111000], np.uint8)
    stop = bs.find_stop_bit(buf)
    assert stop == 4
    rs = bs.new_reader_state(1)
    seen = 0
    while bs.more_rbsp_data(buf, rs, stop):
        bs.get_bits(buf, rs, 1)
        seen += 1
    assert seen == 4
