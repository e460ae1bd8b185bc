"""Array views that hold no reference: the encoder's loop passes arrays around without refcounting.

Numba counts references to every array (NRT meminfo) and changes the count with an atomic
instruction, through a call it may not inline, wherever its pruning pass cannot prove the change
useless: at the argument copies of every inlined helper and around most calls. In the encoder's
macroblock loop that is about 1600 operations per macroblock and, measured with perf, 20-40 % of the
encode time (``bench/refcount_overhead.py``, ``bench/refcount_sites.py``).

``borrowed(a)`` returns a view of ``a`` whose meminfo pointer is NULL, like the arrays Numba makes with
``numba.carray`` from a raw pointer. Numba still emits its increments and decrements on the view and
everything sliced from it, but ``NRT_incref`` / ``NRT_decref`` return at once on NULL: no atomic
operation. The price is the usual one of a borrowed pointer: **the owner must outlive the view**. Arguments
of a jitted function live until it returns; a local array must be used again after the last use of
its views, which :func:`keep_alive` does without generating any code. A borrowed view must never be
returned, stored in a container that outlives the owner, or handed back to Python.
"""
from numba import types
from numba.extending import intrinsic


@intrinsic
def borrowed(typingctx, arr):
    """A view of the array ``arr`` (same data, shape, strides) that owns no reference to it; None stays None
    (an optional array the caller left out, such as the encoder's block terms)."""
    if isinstance(arr, types.NoneType):
        return arr(arr), lambda context, builder, sig, args: args[0]
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, value=args[0])
        view = context.make_array(sig.return_type)(context, builder)
        context.populate_array(view, data=src.data, shape=src.shape, strides=src.strides,
                               itemsize=src.itemsize, meminfo=None, parent=None)
        return view._getvalue()

    return arr(arr), codegen


@intrinsic
def keep_alive(typingctx, owners):
    """Use ``owners`` (an array or a tuple of arrays) here, so that Numba releases them no earlier.
    Generates no code."""
    def codegen(context, builder, sig, args):
        return context.get_dummy_value()

    return types.none(owners), codegen
