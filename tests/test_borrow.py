"""minicodec.borrow: views without a reference count, and keeping their owners alive."""
import numpy as np
import pytest
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from minicodec.borrow import borrowed, keep_alive


@intrinsic
def _meminfo_address(typingctx, arr):
    """The address of an array's meminfo (0 for an array that holds no reference)."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, value=args[0])
        return builder.ptrtoint(ary.meminfo, context.get_value_type(types.intp))
    return types.intp(arr), codegen


@njit
def _addresses(a):
    v = borrowed(a)
    w = v[1:]            # a slice of a borrowed view is borrowed too
    return _meminfo_address(a), _meminfo_address(v), _meminfo_address(w)


@njit
def _write_through(a):
    v = borrowed(a)
    v[1, 2] = 7
    return v.shape[0], v.shape[1], v.strides[0], v.strides[1], v.sum()


@njit
def _local_owner(n):
    own = np.arange(n)
    v = borrowed(own)
    s = 0
    for _ in range(3):
        s += v.sum()
    keep_alive((own, own))
    keep_alive(own)
    return s


def test_borrowed_view_holds_no_reference():
    a = np.zeros((4, 5), np.int32)
    owner, view, sliced = _addresses(a)
    assert owner != 0 and view == 0 and sliced == 0


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_borrowed_view_is_the_same_array(layout):
    base = np.arange(60, dtype=np.int64).reshape(6, 10)
    a = {"C": base.copy(), "F": np.asfortranarray(base), "strided": base[::2, 1::3]}[layout]
    want = a.copy()
    want[1, 2] = 7
    got = _write_through(a)
    assert got == (a.shape[0], a.shape[1], a.strides[0], a.strides[1], want.sum())
    np.testing.assert_array_equal(a, want)


def test_local_owner_kept_alive():
    assert _local_owner(1000) == 3 * sum(range(1000))


def test_borrowed_rejects_non_arrays():
    @njit
    def bad(x):
        return borrowed(x)
    with pytest.raises(TypingError):
        bad(3)
