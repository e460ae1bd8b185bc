"""CAVLC residual_block syntax (H.264 clause 9.2, syntax 7.3.5.3.2 residual_block_cavlc).

A residual block is coded as, in this order:

    coeff_token              TotalCoeff and TrailingOnes, VLC from Table 9-5 (column chosen by nC, 9.2.1)
    trailing_ones_sign_flag  one bit per trailing +-1 (1 = negative), highest frequency first
    level_prefix/level_suffix  the other non-zero levels, highest frequency first (9.2.2.1)
    total_zeros              zeros before the last non-zero coefficient (Tables 9-7, 9-8, 9-9a)
    run_before               zeros between consecutive non-zero coefficients (Table 9-10)

All tables are written below as the bit strings of the standard, in one place. At import they are
turned into (code, length) arrays for the writer and into two-level lookup tables for the reader.

Coefficient arrays hold levels in coding (scan) order: index 0 is the first coded coefficient, i.e.
exactly the coeffLevel list of residual_block(coeffLevel, 0, maxNumCoeff - 1, maxNumCoeff).
"""
import numpy as np
from numba import njit

from .bitstream import put_bits
from .errors import BitstreamError

# ---------------------------------------------------------------------------------------------
# Tables (bit strings as printed in ITU-T H.264; None = no such code)
# Cross-checked entry by entry against FFmpeg libavcodec/h264_cavlc.c and x264 common/tables.c.
# ---------------------------------------------------------------------------------------------

#: Table 9-5, coeff_token. One row per (TrailingOnes, TotalCoeff); the five columns are
#: 0 <= nC < 2, 2 <= nC < 4, 4 <= nC < 8, 8 <= nC (6-bit FLC), nC == -1 (chroma DC, 4:2:0).
COEFF_TOKEN_TABLE = (
    # T1 TC   0<=nC<2             2<=nC<4           4<=nC<8        8<=nC     nC==-1
    (0,  0, "1",                "11",             "1111",        "000011", "01"),
    (0,  1, "000101",           "001011",         "001111",      "000000", "000111"),
    (1,  1, "01",               "10",             "1110",        "000001", "1"),
    (0,  2, "00000111",         "000111",         "001011",      "000100", "000100"),
    (1,  2, "000100",           "00111",          "01111",       "000101", "000110"),
    (2,  2, "001",              "011",            "1101",        "000110", "001"),
    (0,  3, "000000111",        "0000111",        "001000",      "001000", "000011"),
    (1,  3, "00000110",         "001010",         "01100",       "001001", "0000011"),
    (2,  3, "0000101",          "001001",         "01110",       "001010", "0000010"),
    (3,  3, "00011",            "0101",           "1100",        "001011", "000101"),
    (0,  4, "0000000111",       "00000111",       "0001111",     "001100", "000010"),
    (1,  4, "000000110",        "000110",         "01010",       "001101", "00000011"),
    (2,  4, "00000101",         "000101",         "01011",       "001110", "00000010"),
    (3,  4, "000011",           "0100",           "1011",        "001111", "0000000"),
    (0,  5, "00000000111",      "00000100",       "0001011",     "010000", None),
    (1,  5, "0000000110",       "0000110",        "01000",       "010001", None),
    (2,  5, "000000101",        "0000101",        "01001",       "010010", None),
    (3,  5, "0000100",          "00110",          "1010",        "010011", None),
    (0,  6, "0000000001111",    "000000111",      "0001001",     "010100", None),
    (1,  6, "00000000110",      "00000110",       "001110",      "010101", None),
    (2,  6, "0000000101",       "00000101",       "001101",      "010110", None),
    (3,  6, "00000100",         "001000",         "1001",        "010111", None),
    (0,  7, "0000000001011",    "00000001111",    "0001000",     "011000", None),
    (1,  7, "0000000001110",    "000000110",      "001010",      "011001", None),
    (2,  7, "00000000101",      "000000101",      "001001",      "011010", None),
    (3,  7, "000000100",        "000100",         "1000",        "011011", None),
    (0,  8, "0000000001000",    "00000001011",    "00001111",    "011100", None),
    (1,  8, "0000000001010",    "00000001110",    "0001110",     "011101", None),
    (2,  8, "0000000001101",    "00000001101",    "0001101",     "011110", None),
    (3,  8, "0000000100",       "0000100",        "01101",       "011111", None),
    (0,  9, "00000000001111",   "000000001111",   "00001011",    "100000", None),
    (1,  9, "00000000001110",   "00000001010",    "00001110",    "100001", None),
    (2,  9, "0000000001001",    "00000001001",    "0001010",     "100010", None),
    (3,  9, "00000000100",      "000000100",      "001100",      "100011", None),
    (0, 10, "00000000001011",   "000000001011",   "000001111",   "100100", None),
    (1, 10, "00000000001010",   "000000001110",   "00001010",    "100101", None),
    (2, 10, "00000000001101",   "000000001101",   "00001101",    "100110", None),
    (3, 10, "0000000001100",    "00000001100",    "0001100",     "100111", None),
    (0, 11, "000000000001111",  "000000001000",   "000001011",   "101000", None),
    (1, 11, "000000000001110",  "000000001010",   "000001110",   "101001", None),
    (2, 11, "00000000001001",   "000000001001",   "00001001",    "101010", None),
    (3, 11, "00000000001100",   "00000001000",    "00001100",    "101011", None),
    (0, 12, "000000000001011",  "0000000001111",  "000001000",   "101100", None),
    (1, 12, "000000000001010",  "0000000001110",  "000001010",   "101101", None),
    (2, 12, "000000000001101",  "0000000001101",  "000001101",   "101110", None),
    (3, 12, "00000000001000",   "000000001100",   "00001000",    "101111", None),
    (0, 13, "0000000000001111", "0000000001011",  "0000001101",  "110000", None),
    (1, 13, "000000000000001",  "0000000001010",  "000000111",   "110001", None),
    (2, 13, "000000000001001",  "0000000001001",  "000001001",   "110010", None),
    (3, 13, "000000000001100",  "0000000001100",  "000001100",   "110011", None),
    (0, 14, "0000000000001011", "0000000000111",  "0000001001",  "110100", None),
    (1, 14, "0000000000001110", "00000000001011", "0000001100",  "110101", None),
    (2, 14, "0000000000001101", "0000000000110",  "0000001011",  "110110", None),
    (3, 14, "000000000001000",  "0000000001000",  "0000001010",  "110111", None),
    (0, 15, "0000000000000111", "00000000001001", "0000000101",  "111000", None),
    (1, 15, "0000000000001010", "00000000001000", "0000001000",  "111001", None),
    (2, 15, "0000000000001001", "00000000001010", "0000000111",  "111010", None),
    (3, 15, "0000000000001100", "0000000000001",  "0000000110",  "111011", None),
    (0, 16, "0000000000000100", "00000000000111", "0000000001",  "111100", None),
    (1, 16, "0000000000000110", "00000000000110", "0000000100",  "111101", None),
    (2, 16, "0000000000000101", "00000000000101", "0000000011",  "111110", None),
    (3, 16, "0000000000001000", "00000000000100", "0000000010",  "111111", None),
)

#: Tables 9-7 and 9-8, total_zeros for 4x4 blocks: TOTAL_ZEROS_TABLE[tzVlcIndex - 1][total_zeros].
#: (tzVlcIndex = TotalCoeff; the standard prints tzVlcIndex as columns, here they are rows.)
TOTAL_ZEROS_TABLE = (
    ("1", "011", "010", "0011", "0010", "00011", "00010", "000011", "000010",
     "0000011", "0000010", "00000011", "00000010", "000000011", "000000010", "000000001"),  # 1
    ("111", "110", "101", "100", "011", "0101", "0100", "0011", "0010",
     "00011", "00010", "000011", "000010", "000001", "000000"),                              # 2
    ("0101", "111", "110", "101", "0100", "0011", "100", "011", "0010",
     "00011", "00010", "000001", "00001", "000000"),                                         # 3
    ("00011", "111", "0101", "0100", "110", "101", "100", "0011", "011",
     "0010", "00010", "00001", "00000"),                                                     # 4
    ("0101", "0100", "0011", "111", "110", "101", "100", "011", "0010",
     "00001", "0001", "00000"),                                                              # 5
    ("000001", "00001", "111", "110", "101", "100", "011", "010", "0001", "001", "000000"),  # 6
    ("000001", "00001", "101", "100", "011", "11", "010", "0001", "001", "000000"),          # 7
    ("000001", "0001", "00001", "011", "11", "10", "010", "001", "000000"),                  # 8
    ("000001", "000000", "0001", "11", "10", "001", "01", "00001"),                          # 9
    ("00001", "00000", "001", "11", "10", "01", "0001"),                                     # 10
    ("0000", "0001", "001", "010", "1", "011"),                                              # 11
    ("0000", "0001", "01", "1", "001"),                                                      # 12
    ("000", "001", "1", "01"),                                                               # 13
    ("00", "01", "1"),                                                                       # 14
    ("0", "1"),                                                                              # 15
)

#: Table 9-9a, total_zeros for chroma DC 2x2 (4:2:0): [tzVlcIndex - 1][total_zeros].
TOTAL_ZEROS_CHROMA_DC_TABLE = (
    ("1", "01", "001", "000"),  # 1
    ("1", "01", "00"),          # 2
    ("1", "0"),                 # 3
)

#: Table 9-10, run_before: RUN_BEFORE_TABLE[min(zerosLeft, 7) - 1][run_before].
RUN_BEFORE_TABLE = (
    ("1", "0"),                                                              # zerosLeft 1
    ("1", "01", "00"),                                                       # 2
    ("11", "10", "01", "00"),                                                # 3
    ("11", "10", "01", "001", "000"),                                        # 4
    ("11", "10", "011", "010", "001", "000"),                                # 5
    ("11", "000", "001", "011", "010", "101", "100"),                        # 6
    ("111", "110", "101", "100", "011", "010", "001", "0001", "00001",       # > 6
     "000001", "0000001", "00000001", "000000001", "0000000001", "00000000001"),
)

#: Largest |level| codable with level_prefix <= 15 in every decoder state (9.2.2.1). The worst
#: state is suffixLength 0/1 without the +2 adjustment: levelCode <= 30 + 4095 = 4125, and
#: levelCode = 2*level - 2 (level > 0) or -2*level - 1 (level < 0).
MAX_LEVEL = 2063

# ---------------------------------------------------------------------------------------------
# Writer arrays: *_CODE holds the code value, *_LEN its length in bits (0 = no code).
# ---------------------------------------------------------------------------------------------


def _code_arrays(shape):
    return np.zeros(shape, np.int32), np.zeros(shape, np.int32)


#: [column, TotalCoeff, TrailingOnes]; column 0..3 as in Table 9-5, 4 for nC == -1.
COEFF_TOKEN_CODE, COEFF_TOKEN_LEN = _code_arrays((5, 17, 4))
for _t1, _tc, *_cols in COEFF_TOKEN_TABLE:
    for _c, _s in enumerate(_cols):
        if _s is not None:
            COEFF_TOKEN_CODE[_c, _tc, _t1] = int(_s, 2)
            COEFF_TOKEN_LEN[_c, _tc, _t1] = len(_s)

#: [tzVlcIndex, total_zeros] (row 0 unused).
TOTAL_ZEROS_CODE, TOTAL_ZEROS_LEN = _code_arrays((16, 16))
for _i, _row in enumerate(TOTAL_ZEROS_TABLE):
    for _tz, _s in enumerate(_row):
        TOTAL_ZEROS_CODE[_i + 1, _tz] = int(_s, 2)
        TOTAL_ZEROS_LEN[_i + 1, _tz] = len(_s)

#: [tzVlcIndex, total_zeros] for chroma DC (row 0 unused).
TOTAL_ZEROS_DC_CODE, TOTAL_ZEROS_DC_LEN = _code_arrays((4, 4))
for _i, _row in enumerate(TOTAL_ZEROS_CHROMA_DC_TABLE):
    for _tz, _s in enumerate(_row):
        TOTAL_ZEROS_DC_CODE[_i + 1, _tz] = int(_s, 2)
        TOTAL_ZEROS_DC_LEN[_i + 1, _tz] = len(_s)

#: [min(zerosLeft, 7), run_before] (row 0 unused).
RUN_BEFORE_CODE, RUN_BEFORE_LEN = _code_arrays((8, 15))
for _i, _row in enumerate(RUN_BEFORE_TABLE):
    for _r, _s in enumerate(_row):
        RUN_BEFORE_CODE[_i + 1, _r] = int(_s, 2)
        RUN_BEFORE_LEN[_i + 1, _r] = len(_s)

# ---------------------------------------------------------------------------------------------
# Reader lookup tables. All VLC tables live in one flat int32 array _LUT. Decoding peeks a 32-bit
# window w; the root of a table is indexed by its first _ROOT_BITS bits. An entry is
#     0                        no code starts with these bits (invalid)
#     (symbol << 5) | length   > 0: a complete code of `length` bits (1..16)
#     -((offset << 5) | sub)   < 0: longer codes; index _LUT[offset + next `sub` bits]
# Short codes are replicated over all the entries they prefix, so one or two loads decode any code.
# ---------------------------------------------------------------------------------------------

_ROOT_BITS = 8


def _add_vlc_table(lut, codes):
    """Append the lookup table of ``codes`` [(bit string, symbol)] to ``lut``; return its root."""
    rb = _ROOT_BITS
    root = len(lut)
    lut.extend([0] * (1 << rb))
    long_codes = {}
    for s, sym in codes:
        n = len(s)
        if n <= rb:
            base = root + (int(s, 2) << (rb - n))
            for k in range(1 << (rb - n)):
                assert lut[base + k] == 0, "code table is not prefix-free"
                lut[base + k] = (sym << 5) | n
        else:
            long_codes.setdefault(int(s[:rb], 2), []).append((s, sym))
    for prefix, group in sorted(long_codes.items()):
        sub = max(len(s) for s, _ in group) - rb
        offset = len(lut)
        lut.extend([0] * (1 << sub))
        assert lut[root + prefix] == 0, "code table is not prefix-free"
        lut[root + prefix] = -((offset << 5) | sub)
        for s, sym in group:
            rest = len(s) - rb
            base = offset + (int(s[rb:], 2) << (sub - rest))
            for k in range(1 << (sub - rest)):
                assert lut[base + k] == 0, "code table is not prefix-free"
                lut[base + k] = (sym << 5) | len(s)
    return root


def _build_luts():
    lut = []
    ct_root = np.zeros(5, np.int32)
    for c in range(5):
        ct_root[c] = _add_vlc_table(
            lut, [(row[2 + c], 4 * row[1] + row[0]) for row in COEFF_TOKEN_TABLE if row[2 + c]])
    tz_root = np.full(16, -1, np.int32)
    for i, row in enumerate(TOTAL_ZEROS_TABLE):
        tz_root[i + 1] = _add_vlc_table(lut, [(s, tz) for tz, s in enumerate(row)])
    tzdc_root = np.full(4, -1, np.int32)
    for i, row in enumerate(TOTAL_ZEROS_CHROMA_DC_TABLE):
        tzdc_root[i + 1] = _add_vlc_table(lut, [(s, tz) for tz, s in enumerate(row)])
    rb_root = np.full(8, -1, np.int32)
    for i, row in enumerate(RUN_BEFORE_TABLE):
        rb_root[i + 1] = _add_vlc_table(lut, [(s, r) for r, s in enumerate(row)])
    return np.array(lut, np.int32), ct_root, tz_root, tzdc_root, rb_root


_LUT, _CT_ROOT, _TZ_ROOT, _TZDC_ROOT, _RB_ROOT = _build_luts()

#: Leading zeros of an 8-bit value (8 for 0).
_CLZ8 = np.array([8 - x.bit_length() for x in range(256)], np.int64)

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _check_args(length, max_num_coeff, nC):
    """Caller contract: (maxNumCoeff, nC) is (4, -1) or (15|16, >= 0); the array is long enough."""
    if max_num_coeff == 4:
        if nC != -1:
            raise ValueError("CAVLC: chroma DC blocks (max_num_coeff 4) need nC == -1")
    elif max_num_coeff == 15 or max_num_coeff == 16:
        if nC < 0:
            raise ValueError("CAVLC: nC must be >= 0 for 4x4 blocks")
    else:
        raise ValueError("CAVLC: max_num_coeff must be 4, 15 or 16")
    if length < max_num_coeff:
        raise ValueError("CAVLC: coefficient array shorter than max_num_coeff")


@njit(cache=True)
def _nc_column(nC):
    """Column of Table 9-5 for nC (9.2.1): 0..3 for nC ranges [0,2), [2,4), [4,8), [8,...), 4 for -1."""
    if nC < 0:
        return 4
    if nC < 2:
        return 0
    if nC < 4:
        return 1
    if nC < 8:
        return 2
    return 3


@njit(cache=True, inline="always")
def _window(buf, pos, end, fast):
    """The 32 bits starting at bit ``pos``, zero-filled at and after bit ``end`` or the buffer end.

    ``fast``: the caller guarantees 5 readable bytes at pos >> 3 and pos + 32 <= end."""
    b = pos >> 3
    if fast:
        w = ((np.int64(buf[b]) << 32) | (np.int64(buf[b + 1]) << 24) | (np.int64(buf[b + 2]) << 16)
             | (np.int64(buf[b + 3]) << 8) | np.int64(buf[b + 4]))
        return (w >> (8 - (pos & 7))) & 0xFFFFFFFF
    n = buf.shape[0]
    w = np.int64(0)
    for k in range(5):
        w <<= 8
        if 0 <= b + k < n:
            w |= np.int64(buf[b + k])
    w = (w >> (8 - (pos & 7))) & 0xFFFFFFFF
    rem = end - pos
    if rem < 32:
        if rem <= 0:
            return np.int64(0)
        w &= (np.int64(0xFFFFFFFF) << (32 - rem)) & 0xFFFFFFFF
    return w


#: Upper bound on the bits one residual block can consume whatever the data: coeff_token 16 + signs 3
#: + 16 levels x 28 (level_prefix <= 15) + total_zeros 9 + 15 run_before x 11 = 641.
MAX_BLOCK_BITS = 641


@njit(cache=True, inline="always")
def _vlc(w, root):
    """Look up the code at the top of the 32-bit window ``w`` in the table at ``root`` of _LUT.

    Returns (symbol << 5) | length, or 0 if no code matches."""
    e = _LUT[root + (w >> (32 - _ROOT_BITS))]
    if e < 0:
        e = -e
        sub = e & 31
        e = _LUT[(e >> 5) + ((w >> (32 - _ROOT_BITS - sub)) & ((1 << sub) - 1))]
    return e


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def write_residual_block(buf, ws, coeffs, max_num_coeff, nC):
    """Write residual_block_cavlc() (7.3.5.3.2, 9.2) for ``coeffs[0:max_num_coeff]`` (scan order).

    Works in counting mode too (it only calls put_bits). Returns TotalCoeff. Raises ValueError
    if some |level| > MAX_LEVEL (level_prefix would exceed 15, not allowed in Baseline)."""
    _check_args(coeffs.shape[0], max_num_coeff, nC)
    col = _nc_column(nC)

    # Scan positions of the non-zero coefficients, highest frequency first, packed 4 bits each
    # (slot i = bits 4i..4i+3). Branch-free: every position is written to the next free slot,
    # which only advances past a non-zero coefficient.
    total = 0
    packed = np.int64(0)
    for k in range(max_num_coeff - 1, -1, -1):
        sh = 4 * total
        packed = (packed & ~(np.int64(15) << sh)) | (np.int64(k) << sh)
        total += coeffs[k] != 0
    if total == 0:
        put_bits(buf, ws, COEFF_TOKEN_CODE[col, 0, 0], COEFF_TOKEN_LEN[col, 0, 0])
        return 0

    # TrailingOnes: up to 3 consecutive +-1 from the highest frequency, and their sign flags
    t1 = 0
    signs = 0
    while t1 < 3 and t1 < total:
        c = coeffs[(packed >> (4 * t1)) & 15]
        if c != 1 and c != -1:
            break
        signs = (signs << 1) | (1 if c < 0 else 0)
        t1 += 1

    # coeff_token followed by the trailing_ones_sign_flags, in one put
    put_bits(buf, ws, (np.int64(COEFF_TOKEN_CODE[col, total, t1]) << t1) | signs,
             COEFF_TOKEN_LEN[col, total, t1] + t1)

    # levels (9.2.2.1), highest frequency first, after the trailing ones
    suffix_length = 1 if (total > 10 and t1 < 3) else 0
    for i in range(t1, total):
        c = np.int64(coeffs[(packed >> (4 * i)) & 15])
        a = c if c > 0 else -c
        if a > MAX_LEVEL:
            raise ValueError("CAVLC: |level| > MAX_LEVEL (level_prefix > 15 is not Baseline)")
        level_code = 2 * c - 2 if c > 0 else -2 * c - 1
        if i == t1 and t1 < 3:
            level_code -= 2  # the first level after < 3 trailing ones cannot be +-1
        if suffix_length == 0:
            if level_code < 14:  # level_prefix = levelCode, no suffix
                put_bits(buf, ws, 1, level_code + 1)
            elif level_code < 30:  # level_prefix 14, 4-bit suffix
                put_bits(buf, ws, 16 | (level_code - 14), 19)
            else:  # level_prefix 15, 12-bit suffix: levelCode = 30 + suffix
                put_bits(buf, ws, 4096 | (level_code - 30), 28)
            suffix_length = 1
        elif level_code < (15 << suffix_length):  # level_prefix = levelCode >> suffixLength
            put_bits(buf, ws, (1 << suffix_length) | (level_code & ((1 << suffix_length) - 1)),
                     (level_code >> suffix_length) + 1 + suffix_length)
        else:  # level_prefix 15, 12-bit suffix: levelCode = (15 << suffixLength) + suffix
            put_bits(buf, ws, 4096 | (level_code - (15 << suffix_length)), 28)
        if a > (3 << (suffix_length - 1)) and suffix_length < 6:
            suffix_length += 1

    # total_zeros (absent when every position holds a non-zero coefficient)
    prev = packed & 15  # highest non-zero position
    zeros_left = prev + 1 - total
    if total < max_num_coeff:
        if max_num_coeff == 4:
            put_bits(buf, ws, TOTAL_ZEROS_DC_CODE[total, zeros_left], TOTAL_ZEROS_DC_LEN[total, zeros_left])
        else:
            put_bits(buf, ws, TOTAL_ZEROS_CODE[total, zeros_left], TOTAL_ZEROS_LEN[total, zeros_left])

    # run_before for every coefficient but the lowest, while zeros remain
    i = 1
    while zeros_left > 0 and i < total:
        k = (packed >> (4 * i)) & 15
        run = prev - k - 1
        zl = zeros_left if zeros_left < 7 else 7
        put_bits(buf, ws, RUN_BEFORE_CODE[zl, run], RUN_BEFORE_LEN[zl, run])
        zeros_left -= run
        prev = k
        i += 1
    return total


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def read_residual_block(buf, rs, out, max_num_coeff, nC):
    """Parse residual_block_cavlc() (7.3.5.3.2, 9.2) into ``out[0:max_num_coeff]`` (scan order).

    Returns TotalCoeff. Raises BitstreamError on any invalid or truncated syntax, including
    level_prefix > 15 (not allowed in Baseline/Main/Extended)."""
    _check_args(out.shape[0], max_num_coeff, nC)
    for k in range(max_num_coeff):
        out[k] = 0
    pos = rs[0]
    end = rs[1]
    # Whole block certainly inside the buffer and the readable range: skip per-read edge checks.
    fast = pos >= 0 and (pos >> 3) + (MAX_BLOCK_BITS + 32) // 8 + 6 <= buf.shape[0] \
        and pos + MAX_BLOCK_BITS + 32 <= end

    # coeff_token (9.2.1) and trailing_ones_sign_flags
    w = _window(buf, pos, end, fast)
    e = _vlc(w, _CT_ROOT[_nc_column(nC)])
    if e == 0:
        raise BitstreamError("CAVLC: invalid coeff_token")
    n = e & 31
    total = e >> 7
    t1 = (e >> 5) & 3
    if total == 0:
        pos += n
        if pos > end:
            raise BitstreamError("truncated stream: read past the end of a NAL unit")
        rs[0] = pos
        return 0
    if total > max_num_coeff:
        raise BitstreamError("CAVLC: TotalCoeff exceeds maxNumCoeff")
    signs = (w >> (32 - n - t1)) & ((1 << t1) - 1)
    pos += n + t1

    # Levels (9.2.2). levelVal[i] (i = 0 is the highest frequency) is parked in out[total - 1 - i]
    # until the runs give its final position, which is always >= that slot.
    for i in range(t1):
        out[total - 1 - i] = 1 - 2 * ((signs >> (t1 - 1 - i)) & 1)
    suffix_length = 1 if (total > 10 and t1 < 3) else 0
    for i in range(t1, total):
        w = _window(buf, pos, end, fast)
        hi = w >> 16
        if hi == 0:
            raise BitstreamError("CAVLC: level_prefix > 15")
        level_prefix = _CLZ8[hi >> 8] if hi >= 256 else 8 + _CLZ8[hi]
        if level_prefix == 15:  # 12-bit level_suffix
            level_code = ((w >> 4) & 4095) + (30 if suffix_length == 0 else (15 << suffix_length))
            pos += 28
        elif suffix_length == 0:
            if level_prefix == 14:  # 4-bit level_suffix
                level_code = 14 + ((w >> 13) & 15)
                pos += 19
            else:
                level_code = level_prefix
                pos += level_prefix + 1
        else:
            n = level_prefix + 1 + suffix_length
            level_code = (level_prefix << suffix_length) + ((w >> (32 - n)) & ((1 << suffix_length) - 1))
            pos += n
        if i == t1 and t1 < 3:
            level_code += 2
        if level_code & 1:
            level = (-level_code - 1) >> 1
        else:
            level = (level_code + 2) >> 1
        out[total - 1 - i] = level
        if suffix_length == 0:
            suffix_length = 1
        a = level if level > 0 else -level
        if a > (3 << (suffix_length - 1)) and suffix_length < 6:
            suffix_length += 1

    # total_zeros (9.2.3)
    zeros_left = 0
    if total < max_num_coeff:
        w = _window(buf, pos, end, fast)
        if max_num_coeff == 4:
            e = _vlc(w, _TZDC_ROOT[total])
        else:
            e = _vlc(w, _TZ_ROOT[total])
        if e == 0:
            raise BitstreamError("CAVLC: invalid total_zeros")
        zeros_left = e >> 5
        pos += e & 31
        if zeros_left > max_num_coeff - total:
            raise BitstreamError("CAVLC: total_zeros exceeds maxNumCoeff - TotalCoeff")

    # run_before (9.2.3) and placement: coefficient i sits at p, the next one at p - run - 1
    p = total - 1 + zeros_left
    for i in range(total):
        j = total - 1 - i
        if p < j or p >= max_num_coeff:
            raise BitstreamError("CAVLC: coefficient index out of range")
        v = out[j]
        out[j] = 0
        out[p] = v
        if i < total - 1:
            run = 0
            if zeros_left > 0:
                w = _window(buf, pos, end, fast)
                e = _vlc(w, _RB_ROOT[zeros_left if zeros_left < 7 else 7])
                if e == 0:
                    raise BitstreamError("CAVLC: invalid run_before")
                run = e >> 5
                pos += e & 31
                if run > zeros_left:
                    raise BitstreamError("CAVLC: run_before exceeds zerosLeft")
                zeros_left -= run
            p -= run + 1

    if pos > end:
        raise BitstreamError("truncated stream: read past the end of a NAL unit")
    rs[0] = pos
    return total
