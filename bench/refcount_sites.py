"""Where Numba's reference counting happens: refcount operations per compiled function during one encode.

    python bench/refcount_sites.py                                # fast effort, coffee, QP 27
    python bench/refcount_sites.py --effort full --photo rocket --sites 30

Numba increments and decrements an array's reference count with a call to ``NRT_incref`` /
``NRT_decref`` (an atomic add each) wherever its refcount-pruning pass cannot show the pair to be
unnecessary; ``bench/refcount_overhead.py`` measured that this cost about 20 % of the encode time
(1.48 M operations per fast coffee encode) before the slice loops moved to ``minicodec.borrow`` views,
whose NULL meminfo returns before the atomic add and before this script's counter (8 k left).
This script finds the call sites. It compiles the encoder afresh (into a temporary cache, the real
one is not touched) with those two runtime functions extended by one call to a Python counter that
records the return address, encodes the photo once after a warm-up, and prints the operations per
compiled function (the function whose machine code holds the return address) and the busiest call
sites (function + byte offset). The counter is slow (about a microsecond per operation): the figures
are counts, not times.

What keeps the pruning from pairing an increment with its decrement (see llvmlite's
``ffi/custom_passes.cpp``): the decrement is not in one block that every path from the increment
reaches (an early return, a ``raise``, a call to a function that is not inlined: its error status is
another exit), or other decrements lie between them.
"""
import argparse
import bisect
import collections
import ctypes
import gc
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _install_counter(counts):
    """Redefine NRT_incref / NRT_decref (numba.core.runtime.nrtdynmod) to call ``counts`` first."""
    import llvmlite.binding as ll
    from llvmlite import ir
    from numba.core import cgutils
    from numba.core.runtime import nrtdynmod as nd

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)
    def hook(ret_addr, kind):
        counts[(ret_addr, kind)] += 1

    ll.add_symbol("refcount_sites_hook", ctypes.cast(hook, ctypes.c_void_p).value)
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)

    def begin(module, name, kind):
        fn = cgutils.get_or_insert_function(module, nd.incref_decref_ty, name)
        fn.attributes.add("noinline")  # as Numba's own: the pruning pass looks for these calls by name
        b = ir.IRBuilder(fn.append_basic_block())
        [ptr] = fn.args
        with cgutils.if_unlikely(b, b.icmp_unsigned("==", ptr, cgutils.get_null_value(ptr.type))):
            b.ret_void()
        ra = b.call(module.declare_intrinsic("llvm.returnaddress", fnty=ir.FunctionType(i8p, [i32])),
                    [ir.Constant(i32, 0)])
        counter = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VoidType(), [i8p, i32]),
                                                 "refcount_sites_hook")
        b.call(counter, [ra, ir.Constant(i32, kind)])
        return b, ptr

    def incref(module, atomic_incr):
        b, ptr = begin(module, "NRT_incref", 0)
        b.call(atomic_incr, [b.bitcast(ptr, atomic_incr.args[0].type)])
        b.ret_void()

    def decref(module, atomic_decr):
        calldtor = ir.Function(module, ir.FunctionType(ir.VoidType(), [nd._pointer_type]),
                               name="NRT_MemInfo_call_dtor")
        b, ptr = begin(module, "NRT_decref", 1)
        b.fence("release")
        left = b.call(atomic_decr, [b.bitcast(ptr, atomic_decr.args[0].type)])
        with cgutils.if_unlikely(b, b.icmp_unsigned("==", left, ir.Constant(left.type, 0))):
            b.fence("acquire")
            b.call(calldtor, [ptr])
        b.ret_void()

    nd._define_nrt_incref = incref
    nd._define_nrt_decref = decref
    return hook  # keep the callback alive


def _short_name(mangled):
    """module.function#version from a Numba symbol such as _ZN9minicodec5cavlc20write_residual_blockB4v145..."""
    s, parts = mangled[3:] if mangled.startswith("_ZN") else mangled, []
    while s and s[0].isdigit():
        k = re.match(r"\d+", s).group()
        s = s[len(k):]
        parts.append(s[:int(k)])
        s = s[int(k):]
    version = re.match(r"B\d+v(\d+)", s)
    return ".".join(parts[-2:]) + (f"#{version.group(1)}" if version else "") if parts else mangled[:60]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", default="coffee")
    ap.add_argument("--effort", default="fast", choices=["fast", "medium", "full"])
    ap.add_argument("--qp", type=int, default=27)
    ap.add_argument("--functions", type=int, default=20, help="functions to list (default 20)")
    ap.add_argument("--sites", type=int, default=15, help="call sites to list (default 15)")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory()
    os.environ["NUMBA_CACHE_DIR"] = tmp.name  # before numba is imported: compile afresh, leave the cache alone
    os.environ["NUMBA_NUM_THREADS"] = "1"
    counts = collections.Counter()
    hook = _install_counter(counts)  # noqa: F841 (the callback must outlive the encodes)
    sys.path.insert(0, str(HERE))
    sys.path.insert(1, str(HERE.parent))
    import common as c
    import minicodec
    from minicodec.colour import rgb_to_yuv420
    from numba.core.registry import CPUDispatcher

    planes = c.to_planes(c.load_photo(args.photo), rgb_to_yuv420)
    print(f"compiling the encoder afresh with counting refcount operations ({args.effort}) ...", flush=True)
    minicodec.encode(planes, qp=args.qp, effort=args.effort)
    starts = {}
    for obj in gc.get_objects():
        if isinstance(obj, CPUDispatcher):
            for cres in obj.overloads.values():
                lib = cres.library
                for fn in lib._final_module.functions:
                    if not fn.is_declaration:
                        addr = lib.get_pointer_to_function(fn.name)
                        if addr:
                            starts[addr] = fn.name
    addrs = sorted(starts)
    counts.clear()
    minicodec.encode(planes, qp=args.qp, effort=args.effort)
    per_fn = collections.Counter()
    per_site = collections.Counter()
    total = [0, 0]
    for (ra, kind), n in counts.items():
        total[kind] += n
        k = bisect.bisect_right(addrs, ra) - 1
        name = _short_name(starts[addrs[k]]) if k >= 0 else "?"
        per_fn[name, kind] += n
        per_site[name, ra - addrs[k] if k >= 0 else ra, kind] += n
    ops = total[0] + total[1]
    h, w = planes[0].shape
    print(f"{args.photo} {w}x{h}, effort {args.effort}, QP {args.qp}: {total[0]} increments and {total[1]} "
          f"decrements in one encode ({ops / ((h // 16) * (w // 16)):.0f} per macroblock)")
    names = collections.Counter()
    for (name, _kind), n in per_fn.items():
        names[name] += n
    print(f"{'function (module.name#overload)':48s} {'incref':>9s} {'decref':>9s} {'share':>6s}")
    for name, n in names.most_common(args.functions):
        print(f"{name:48s} {per_fn[name, 0]:9d} {per_fn[name, 1]:9d} {100 * n / ops:5.1f}%")
    print(f"\nbusiest call sites\n{'function':48s} {'offset':>8s} {'op':>6s} {'count':>9s}")
    for (name, off, kind), n in per_site.most_common(args.sites):
        print(f"{name:48s} {off:#8x} {('incref', 'decref')[kind]:>6s} {n:9d}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
