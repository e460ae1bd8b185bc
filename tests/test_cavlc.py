"""Tests for minicodec.cavlc: CAVLC residual_block (H.264 clause 9.2, 7.3.5.3.2)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicodec import cavlc
from minicodec.bitstream import new_counter, new_reader_state, new_writer
from minicodec.cavlc import MAX_LEVEL, read_residual_block, write_residual_block
from minicodec.errors import BitstreamError

# ----------------------------------------------------------------------------------------------
# helpers


def encode(coeffs, max_num_coeff, nC):
    """Write one block; return (TotalCoeff, bit string, buffer, bit count)."""
    c = np.asarray(coeffs, np.int32)
    buf, ws = new_writer(128)
    tc = write_residual_block(buf, ws, c, max_num_coeff, nC)
    nbits = int(ws[0])
    bits = "".join(format(int(b), "08b") for b in buf[: (nbits + 7) // 8])[:nbits]
    return tc, bits, buf, nbits


def count_bits(coeffs, max_num_coeff, nC):
    buf, ws = new_counter()
    write_residual_block(buf, ws, np.asarray(coeffs, np.int32), max_num_coeff, nC)
    return int(ws[0])


def bits_to_buf(bits, pad=4):
    """Pack a bit string into a byte buffer (zero-padded) and a reader state covering it."""
    nbytes = (len(bits) + 7) // 8
    buf = np.zeros(nbytes + pad, np.uint8)
    for i, ch in enumerate(bits):
        if ch == "1":
            buf[i >> 3] |= 0x80 >> (i & 7)
    rs = np.array([0, len(bits)], np.int64)
    return buf, rs


def decode_bits(bits, max_num_coeff, nC):
    buf, rs = bits_to_buf(bits)
    out = np.full(16, 99, np.int32)
    tc = read_residual_block(buf, rs, out, max_num_coeff, nC)
    return tc, out[:max_num_coeff].tolist(), int(rs[0])


def nc_column(nC):
    return 4 if nC == -1 else 0 if nC < 2 else 1 if nC < 4 else 2 if nC < 8 else 3


def reference_encode(coeffs, max_num_coeff, nC):
    """Independent bit-string model of residual_block_cavlc, written from the spec text.

    Levels are coded by searching (level_prefix, level_suffix) with the *decoding* equations of
    9.2.2.1, so the closed-form encoder in cavlc.py is checked against the standard's definition."""
    coeffs = [int(x) for x in coeffs[:max_num_coeff]]
    nz = [(k, v) for k, v in enumerate(coeffs) if v != 0][::-1]  # highest frequency first
    total = len(nz)
    t1 = 0
    while t1 < min(3, total) and abs(nz[t1][1]) == 1:
        t1 += 1
    col = nc_column(nC)
    token = {(tc, t): row[2 + col] for row in cavlc.COEFF_TOKEN_TABLE for t, tc in [row[:2]]}
    out = [token[(total, t1)]]
    if total == 0:
        return "".join(out)
    out += ["1" if v < 0 else "0" for _, v in nz[:t1]]
    suffix_length = 1 if total > 10 and t1 < 3 else 0
    for i in range(t1, total):
        level = nz[i][1]
        found = None
        for prefix in range(16):
            if prefix == 14 and suffix_length == 0:
                size = 4
            elif prefix == 15:
                size = 12
            else:
                size = suffix_length
            for suffix in range(1 << size):
                code = (min(15, prefix) << suffix_length) + suffix
                if prefix >= 15 and suffix_length == 0:
                    code += 15
                if i == t1 and t1 < 3:
                    code += 2
                val = (code + 2) >> 1 if code % 2 == 0 else (-code - 1) >> 1
                if val == level:
                    found = "0" * prefix + "1" + (format(suffix, "0%db" % size) if size else "")
                    break
            if found:
                break
        assert found is not None
        out.append(found)
        if suffix_length == 0:
            suffix_length = 1
        if abs(level) > (3 << (suffix_length - 1)) and suffix_length < 6:
            suffix_length += 1
    total_zeros = nz[0][0] + 1 - total
    if total < max_num_coeff:
        table = cavlc.TOTAL_ZEROS_CHROMA_DC_TABLE if max_num_coeff == 4 else cavlc.TOTAL_ZEROS_TABLE
        out.append(table[total - 1][total_zeros])
    zeros_left = total_zeros
    for i in range(total - 1):
        if zeros_left == 0:
            break
        run = nz[i][0] - nz[i + 1][0] - 1
        out.append(cavlc.RUN_BEFORE_TABLE[min(zeros_left, 7) - 1][run])
        zeros_left -= run
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# exact known vectors


ZIGZAG_4X4 = [0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15]


def test_richardson_example():
    # Richardson, "H.264 and MPEG-4 Video Compression", CAVLC example 1, nC = 0. The 4x4 block
    #     0  3 -1  0
    #     0 -1  1  0
    #     1  0  0  0
    #     0  0  0  0
    # (raster order) reads 0,3,0,1,-1,-1,0,1,0,... in zigzag (coding) order:
    # coeff_token(TotalCoeff 5, T1 3) 0000100 | signs + - - 011 | level +1: 1 | level +3: 0010 |
    # total_zeros 3: 111 | run_before 1,0,0,1: 10 1 1 01
    raster = [0, 3, -1, 0, 0, -1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    scan = [raster[k] for k in ZIGZAG_4X4]
    assert scan[:9] == [0, 3, 0, 1, -1, -1, 0, 1, 0]
    expected = "000010001110010111101101"
    tc, bits, _, _ = encode(scan, 16, 0)
    assert (tc, bits) == (5, expected)
    assert decode_bits(expected, 16, 0) == (5, scan, len(expected))
    # nC = 1 selects the same column
    assert encode(scan, 16, 1)[1] == expected


def test_hand_vector_level_prefix_14():
    # coding order [9, 0, 0, -1, 0 ...], maxNumCoeff 16, nC 0:
    #   TotalCoeff 2, TrailingOnes 1 (the -1)  -> Table 9-5 col 0 row (1,2): 000100
    #   sign of -1                               -> 1
    #   level 9: levelCode 2*9-2 = 16, -2 (first level after < 3 trailing ones) = 14;
    #            suffixLength 0 and 14 <= levelCode < 30 -> level_prefix 14, 4-bit suffix 0
    #                                            -> 000000000000001 0000
    #   total_zeros: last at 3, 4 - 2 = 2; tzVlcIndex 2 -> Table 9-7: 101
    #   run_before for the -1: 2 zeros, zerosLeft 2 -> Table 9-10: 00; zerosLeft 0, stop
    v = [9, 0, 0, -1] + [0] * 12
    expected = "000100" + "1" + "000000000000001" + "0000" + "101" + "00"
    tc, bits, _, _ = encode(v, 16, 0)
    assert (tc, bits) == (2, expected)
    assert decode_bits(expected, 16, 0) == (2, v, len(expected))


def test_hand_vector_many_coeffs_escape():
    # coding order (maxNumCoeff 15, nC 5 -> column 4 <= nC < 8):
    #   pos: 0    1  2  3  4  5  6  7  8  9 10 11 12 13 14
    #        1500 2 -2  3  0  1 -1  4  0  2  0 -3  1 -1  0
    # TotalCoeff 11, TrailingOnes 2 (-1 at 13, +1 at 12; -3 stops) -> 00001001; signs -, + -> 10
    # suffixLength starts at 1 (TotalCoeff > 10 and TrailingOnes < 3). Levels, high to low:
    #   -3: levelCode 5 - 2 = 3, sL 1: prefix 1 suffix 1 -> 01 1          (3 > 3? no, sL 1)
    #    2: levelCode 2, sL 1: prefix 1 suffix 0        -> 01 0
    #    4: levelCode 6, sL 1: prefix 3 suffix 0        -> 0001 0         (4 > 3: sL 2)
    #   -1: levelCode 1, sL 2: prefix 0 suffix 01       -> 1 01
    #    1: levelCode 0, sL 2: prefix 0 suffix 00       -> 1 00
    #    3: levelCode 4, sL 2: prefix 1 suffix 00       -> 01 00
    #   -2: levelCode 3, sL 2: prefix 0 suffix 11       -> 1 11
    #    2: levelCode 2, sL 2: prefix 0 suffix 10       -> 1 10
    # 1500: levelCode 2998 >= 15 << 2 = 60: prefix 15, 12-bit suffix 2998 - 60 = 2938
    #                                                   -> 0000000000000001 101101111010
    # total_zeros: last at 13, 14 - 11 = 3, tzVlcIndex 11 (Table 9-8) -> 010
    # run_before: 13->12 run 0 (zL 3): 11 | 12->11 run 0 (zL 3): 11 | 11->9 run 1 (zL 3): 10 |
    #             9->7 run 1 (zL 2): 01 | 7->6 run 0 (zL 1): 1 | 6->5 run 0 (zL 1): 1 |
    #             5->3 run 1 (zL 1): 0 | zerosLeft 0: stop
    v = [1500, 2, -2, 3, 0, 1, -1, 4, 0, 2, 0, -3, 1, -1, 0]
    expected = ("00001001" + "10"
                + "011" + "010" + "00010" + "101" + "100" + "0100" + "111" + "110"
                + "0000000000000001" + "101101111010"
                + "010"
                + "11" + "11" + "10" + "01" + "1" + "1" + "0")
    tc, bits, _, _ = encode(v, 15, 5)
    assert (tc, bits) == (11, expected)
    assert decode_bits(expected, 15, 5) == (11, v, len(expected))


def test_hand_vector_chroma_dc():
    # chroma DC [-2, 0, 1, 0], nC -1: TotalCoeff 2, T1 1 -> 000110; sign + -> 0;
    # -2: levelCode 3 - 2 = 1, sL 0 -> prefix 1 -> 01; total_zeros 1 (Table 9-9a, tzVlcIndex 2) -> 01;
    # run_before of the +1: 1 zero, zerosLeft 1 -> 0
    v = [-2, 0, 1, 0]
    expected = "000110" + "0" + "01" + "01" + "0"
    assert encode(v, 4, -1)[:2] == (2, expected)
    assert decode_bits(expected, 4, -1) == (2, v, len(expected))


def test_hand_vector_long_run():
    # [1, 0 x 14, -1], nC 0: TotalCoeff 2, T1 2 -> 001; signs -, + -> 10; total_zeros 14,
    # tzVlcIndex 2 -> 000000; run_before 14 with zerosLeft 14 (> 6 column) -> 00000000001
    v = [1] + [0] * 14 + [-1]
    expected = "001" + "10" + "000000" + "00000000001"
    assert encode(v, 16, 0)[:2] == (2, expected)
    assert decode_bits(expected, 16, 0) == (2, v, len(expected))


@pytest.mark.parametrize("max_n,nC", [(16, 0), (16, 3), (16, 7), (16, 8), (15, 16), (4, -1)])
def test_empty_block(max_n, nC):
    expected = {0: "1", 3: "11", 7: "1111", 8: "000011", 16: "000011", -1: "01"}[nC]
    assert encode([0] * max_n, max_n, nC)[:2] == (0, expected)
    assert decode_bits(expected, max_n, nC) == (0, [0] * max_n, len(expected))


def test_full_block_has_no_total_zeros():
    v = list(range(1, 17))
    tc, bits, _, n = encode(v, 16, 9)
    assert tc == 16
    assert bits == reference_encode(v, 16, 9)
    assert decode_bits(bits, 16, 9) == (16, v, n)
    v15 = [-3] * 15
    tc, bits, _, n = encode(v15, 15, 2)
    assert bits == reference_encode(v15, 15, 2)
    assert decode_bits(bits, 15, 2) == (15, v15, n)


# ----------------------------------------------------------------------------------------------
# table structure


def _all_tables():
    for col in range(5):
        codes = [(row[2 + col], (row[1], row[0])) for row in cavlc.COEFF_TOKEN_TABLE if row[2 + col]]
        yield "coeff_token col %d" % col, int(cavlc._CT_ROOT[col]), codes
    for i, row in enumerate(cavlc.TOTAL_ZEROS_TABLE):
        yield "total_zeros %d" % (i + 1), int(cavlc._TZ_ROOT[i + 1]), [(s, tz) for tz, s in enumerate(row)]
    for i, row in enumerate(cavlc.TOTAL_ZEROS_CHROMA_DC_TABLE):
        yield "total_zeros DC %d" % (i + 1), int(cavlc._TZDC_ROOT[i + 1]), [(s, tz) for tz, s in enumerate(row)]
    for i, row in enumerate(cavlc.RUN_BEFORE_TABLE):
        yield "run_before %d" % (i + 1), int(cavlc._RB_ROOT[i + 1]), [(s, r) for r, s in enumerate(row)]


def test_table_shapes():
    rows = {(r[1], r[0]) for r in cavlc.COEFF_TOKEN_TABLE}
    assert rows == {(tc, t1) for tc in range(17) for t1 in range(min(tc, 3) + 1)}
    for tc, t1 in rows:
        for col in range(4):
            assert cavlc.COEFF_TOKEN_LEN[col, tc, t1] > 0
        assert (cavlc.COEFF_TOKEN_LEN[4, tc, t1] > 0) == (tc <= 4)
    # 8 <= nC is a 6-bit FLC: xxxxyy = (TotalCoeff - 1, TrailingOnes), with 000011 for no coefficient
    for tc, t1 in rows:
        assert cavlc.COEFF_TOKEN_LEN[3, tc, t1] == 6
        assert cavlc.COEFF_TOKEN_CODE[3, tc, t1] == (3 if tc == 0 else ((tc - 1) << 2) | t1)
    assert [len(r) for r in cavlc.TOTAL_ZEROS_TABLE] == [17 - i for i in range(1, 16)]
    assert [len(r) for r in cavlc.TOTAL_ZEROS_CHROMA_DC_TABLE] == [4, 3, 2]
    assert [len(r) for r in cavlc.RUN_BEFORE_TABLE] == [2, 3, 4, 5, 6, 7, 15]


@pytest.mark.parametrize("name,root,codes", list(_all_tables()), ids=[t[0] for t in _all_tables()])
def test_table_prefix_free_and_lookup_inverts(name, root, codes):
    strings = [s for s, _ in codes]
    assert len(set(strings)) == len(strings)
    for a in strings:
        for b in strings:
            assert a == b or not b.startswith(a), (name, a, b)
    kraft = sum(2.0 ** -len(s) for s in strings)
    # Every table is a complete prefix code except for a few all-zero escapes that the standard
    # leaves unused (and the two unused 6-bit FLC values 000010 = (1, 2) and 000111 = (2, 3)).
    unused = {"coeff_token col 0": 2.0 ** -15, "coeff_token col 1": 2.0 ** -13,
              "coeff_token col 2": 2.0 ** -10, "coeff_token col 3": 2 * 2.0 ** -6,
              "total_zeros 1": 2.0 ** -9, "run_before 7": 2.0 ** -11}
    assert kraft == 1.0 - unused.get(name, 0.0)
    # Exhaustive: every maxlen-bit pattern decodes through the njit lookup exactly to the unique
    # code that prefixes it, or to 0 when none does; the decoded fraction equals the Kraft sum.
    maxlen = max(len(s) for s in strings)
    by_code = {s: sym for s, sym in codes}
    decoded = 0
    for v in range(1 << maxlen):
        pattern = format(v, "0%db" % maxlen)
        e = int(cavlc._vlc(np.int64(v << (32 - maxlen)), root))
        match = [s for s in strings if pattern.startswith(s)]
        if not match:
            assert e == 0, (name, pattern)
            continue
        (s,) = match
        assert e & 31 == len(s), (name, pattern)
        sym = e >> 5
        if name.startswith("coeff_token"):
            sym = (sym >> 2, sym & 3)
        assert sym == by_code[s], (name, pattern)
        decoded += 1
    assert decoded == kraft * (1 << maxlen)


def test_writer_arrays_match_strings():
    for t1, tc, *cols in cavlc.COEFF_TOKEN_TABLE:
        for col, s in enumerate(cols):
            if s:
                n = int(cavlc.COEFF_TOKEN_LEN[col, tc, t1])
                assert format(int(cavlc.COEFF_TOKEN_CODE[col, tc, t1]), "0%db" % n) == s


# ----------------------------------------------------------------------------------------------
# round trips

small_level = st.integers(-3, 3)
level = st.one_of(
    st.just(0), st.just(0), st.just(0), small_level, small_level,
    st.integers(-40, 40), st.integers(-MAX_LEVEL, MAX_LEVEL),
    st.sampled_from([MAX_LEVEL, -MAX_LEVEL, MAX_LEVEL - 1, -MAX_LEVEL + 1]),
)


@st.composite
def blocks(draw):
    max_n = draw(st.sampled_from([16, 15, 4]))
    nC = -1 if max_n == 4 else draw(st.integers(0, 16))
    kind = draw(st.sampled_from(["dense", "sparse", "any"]))
    if kind == "sparse":
        v = [0] * max_n
        for k in draw(st.lists(st.integers(0, max_n - 1), max_size=4)):
            v[k] = draw(level.filter(lambda x: x != 0))
    else:
        v = draw(st.lists(level if kind == "any" else small_level, min_size=max_n, max_size=max_n))
    # sometimes pass a longer array (callers may hand a 16-entry buffer for a 15-coefficient block)
    extra = draw(st.sampled_from([0, 0, 1])) * (16 - max_n)
    return v, max_n, nC, extra


def _roundtrip(v, max_n, nC, extra=0):
    arr = np.array(v + [7] * extra, np.int32)
    buf, ws = new_writer(128)
    tc = write_residual_block(buf, ws, arr, max_n, nC)
    nbits = int(ws[0])
    assert tc == sum(1 for x in v if x != 0)
    assert count_bits(arr, max_n, nC) == nbits
    # reader limited to exactly the written bits: it must consume all of them and no more
    rs = np.array([0, nbits], np.int64)
    out = np.full(16, 55, np.int32)
    assert read_residual_block(buf, rs, out, max_n, nC) == tc
    assert out[:max_n].tolist() == v
    assert int(rs[0]) == nbits
    return nbits


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks())
def test_roundtrip_property(case):
    v, max_n, nC, extra = case
    _roundtrip(v, max_n, nC, extra)
    bits = encode(v, max_n, nC)[1]
    assert bits == reference_encode(v, max_n, nC)


def test_roundtrip_every_level_in_every_suffix_length_state():
    # The level under test is coded after `ramp` levels of magnitude 100, which leave suffixLength
    # at min(ramp + 1, 6) (0 if ramp == 0, then with the +-2 adjustment). It is also coded with
    # suffixLength 1 (after a 2, or with TotalCoeff > 10) and 0 (after 1 or 3 trailing ones: the
    # adjustment applies only for fewer than 3). suffixLength 0/1 without adjustment is the state
    # that bounds MAX_LEVEL.
    levels = [x for x in range(-MAX_LEVEL, MAX_LEVEL + 1) if x != 0]
    for x in levels:
        for ramp in range(0, 7):
            v = [0] * 16
            v[0] = x
            for k in range(ramp):
                v[1 + k] = 100
            _roundtrip(v, 16, 0)
        for t1 in (1, 3):
            v = [x] + [0] * 15
            for k in range(t1):
                v[5 + k] = -1
            _roundtrip(v, 16, 2)
        _roundtrip([x, 2] + [0] * 13, 15, 1)
        _roundtrip([x] + [2] * 11 + [0] * 4, 16, 4)  # TotalCoeff 12, suffixLength starts at 1
        _roundtrip([0, 0, x, 1], 4, -1)


def test_writer_rejects_too_large_levels():
    for bad in (MAX_LEVEL + 1, -MAX_LEVEL - 1, 100000):
        for v, max_n, nC in (([bad] + [0] * 15, 16, 0), ([1, 2, bad] + [0] * 12, 15, 9),
                             ([bad, 0, 0, 0], 4, -1)):
            buf, ws = new_counter()
            with pytest.raises(ValueError):
                write_residual_block(buf, ws, np.array(v, np.int32), max_n, nC)


def test_bad_arguments_rejected():
    buf, ws = new_writer(64)
    with pytest.raises(ValueError):
        write_residual_block(buf, ws, np.zeros(16, np.int32), 16, -1)
    with pytest.raises(ValueError):
        write_residual_block(buf, ws, np.zeros(16, np.int32), 4, 0)
    with pytest.raises(ValueError):
        write_residual_block(buf, ws, np.zeros(8, np.int32), 8, 0)
    with pytest.raises(ValueError):
        write_residual_block(buf, ws, np.zeros(15, np.int32), 16, 0)
    rs = new_reader_state(buf.shape[0])
    with pytest.raises(ValueError):
        read_residual_block(buf, rs, np.zeros(3, np.int32), 4, -1)


def test_consecutive_blocks_share_a_stream():
    blocks_ = [([0, 3, 0, 1, -1, -1, 0, 1] + [0] * 8, 16, 0), ([5, -1, 0, 0], 4, -1),
               ([0] * 15, 15, 3), ([1] * 15, 15, 12), ([-20, 7] + [0] * 14, 16, 5)]
    buf, ws = new_writer(256)
    for v, max_n, nC in blocks_:
        write_residual_block(buf, ws, np.array(v, np.int32), max_n, nC)
    rs = np.array([0, ws[0]], np.int64)
    out = np.zeros(16, np.int32)
    for v, max_n, nC in blocks_:
        read_residual_block(buf, rs, out, max_n, nC)
        assert out[:max_n].tolist() == v
    assert rs[0] == ws[0]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(blocks(), min_size=1, max_size=60))
def test_roundtrip_stream_of_blocks(cases):
    # Long streams: blocks far from the end are read on the reader's fast path (no edge checks),
    # the last ones on the checked path; both must agree with the writer bit for bit.
    buf, ws = new_writer(64 * len(cases) + 16)
    cb, cw = new_counter()
    for v, max_n, nC, _ in cases:
        arr = np.array(v, np.int32)
        write_residual_block(buf, ws, arr, max_n, nC)
        write_residual_block(cb, cw, arr, max_n, nC)
    assert cw[0] == ws[0]
    rs = np.array([0, ws[0]], np.int64)
    out = np.zeros(16, np.int32)
    for v, max_n, nC, _ in cases:
        read_residual_block(buf, rs, out, max_n, nC)
        assert out[:max_n].tolist() == v
    assert rs[0] == ws[0]


# ----------------------------------------------------------------------------------------------
# corrupt / truncated input


def test_truncated_stream_raises():
    v = [1500, 2, -2, 3, 0, 1, -1, 4, 0, 2, 0, -3, 1, -1, 0]
    _, bits, buf, n = encode(v, 15, 5)
    for cut in range(n):
        rs = np.array([0, cut], np.int64)
        with pytest.raises(BitstreamError):
            read_residual_block(buf, rs, np.zeros(16, np.int32), 15, 5)
    # bits past the readable end are never looked at, whatever they hold
    buf2, rs2 = bits_to_buf(bits)
    buf2[n >> 3] |= (0xFF >> (n & 7)) if n & 7 else 0
    buf2[(n >> 3) + 1:] = 0xFF
    out = np.zeros(16, np.int32)
    assert read_residual_block(buf2, rs2, out, 15, 5) == 11
    assert out[:15].tolist() == v


def test_specific_invalid_syntax():
    # coeff_token col 0 has no code 0000000000000000 / 0000000000000001 (Kraft sum < 1)
    with pytest.raises(BitstreamError):
        decode_bits("0" * 24, 16, 0)
    # 8 <= nC FLC: 000010 would be TotalCoeff 1, TrailingOnes 2
    with pytest.raises(BitstreamError):
        decode_bits("000010" + "0" * 20, 16, 8)
    # TotalCoeff 16 (col 0, T1 0: 0000000000000100) is not allowed in a 15-coefficient block
    with pytest.raises(BitstreamError):
        decode_bits("0000000000000100" + "1" * 40, 15, 0)
    # level_prefix 16: coeff_token (T1 0, TC 1) = 000101, then 16 zeros and a 1
    with pytest.raises(BitstreamError):
        decode_bits("000101" + "0" * 16 + "1" + "0" * 16, 16, 0)
    # level_prefix 15 is fine: levelCode = 30 + 0, +2 adjustment -> 32 -> level 17
    tc, out, _ = decode_bits("000101" + "0" * 15 + "1" + "0" * 12 + "1", 16, 0)
    assert out[0] == 17
    # total_zeros 15 with TotalCoeff 1 in a 15-coefficient block (tzVlcIndex 1: 000000001)
    with pytest.raises(BitstreamError):
        decode_bits("01" + "0" + "000000001", 15, 0)
    # same code is valid for maxNumCoeff 16
    assert decode_bits("01" + "0" + "000000001", 16, 0)[1][15] == 1
    # run_before with zerosLeft > 6 and 11 zeros: no code
    with pytest.raises(BitstreamError):
        decode_bits("001" + "00" + "000000" + "0" * 12, 16, 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.sampled_from([(16, 0), (16, 2), (16, 5), (15, 9), (15, 1), (4, -1)]),
       st.integers(0, 7))
def test_random_bytes_decode_or_raise(data, cfg, start):
    max_n, nC = cfg
    buf = np.frombuffer(data, np.uint8).copy()
    nbits = 8 * len(data)
    rs = np.array([min(start, nbits), nbits], np.int64)
    out = np.full(16, 1234, np.int32)
    try:
        tc = read_residual_block(buf, rs, out, max_n, nC)
    except BitstreamError:
        return
    assert 0 <= tc <= max_n
    assert rs[0] <= nbits
    assert np.count_nonzero(out[:max_n]) == tc
    assert (out[max_n:] == 1234).all()
    # whatever decoded is a legal block: it re-encodes and decodes to the same levels
    levels = out[:max_n].tolist()
    if max(abs(x) for x in levels + [0]) <= MAX_LEVEL:
        _roundtrip(levels, max_n, nC)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=100, max_size=400), st.integers(0, 2 ** 32 - 1))
def test_random_long_stream_decode_or_raise(data, seed):
    # Garbage long enough for the fast path: parse blocks back to back until an error.
    rng = np.random.default_rng(seed)
    buf = np.frombuffer(data, np.uint8).copy()
    rs = new_reader_state(len(data))
    out = np.zeros(16, np.int32)
    for _ in range(200):
        max_n = int(rng.choice([16, 15, 4]))
        nC = -1 if max_n == 4 else int(rng.integers(0, 17))
        before = int(rs[0])
        try:
            tc = read_residual_block(buf, rs, out, max_n, nC)
        except BitstreamError:
            return
        assert 0 <= tc <= max_n and np.count_nonzero(out[:max_n]) == tc
        assert before < rs[0] <= rs[1]
