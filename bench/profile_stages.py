"""Where the encoder's time goes: CPU cycles per stage of the macroblock loop, per effort.

    python bench/profile_stages.py                    # coffee, QP 27, fast / medium / full
    python bench/profile_stages.py --photo astronaut --qp 32 --efforts full

perf cannot see inside Numba's JIT code and timing a stage by switching it off changes the decisions,
so this script compiles an instrumented copy of ``minicodec.encoder.analyse.encode_slice``: it reads
the module's source, adds a cycle-counter read (``llvm.readcyclecounter``, the TSC on x86) at the start
of each stage listed in ``STAGES`` and accumulates the differences. The copy is compiled without the
cache and swapped in for ``minicodec.encoder.encode.encode_slice`` for the run only; the streams are
the encoder's own. Counter reads cost a few tens of cycles each, a few per cent in all.

A stage's anchor is a line of analyse.py; if the source changes so that an anchor is gone, the script
stops and names it (update ``STAGES``).
"""
import os

os.environ["NUMBA_NUM_THREADS"] = "1"   # before numba is imported anywhere: single-thread timings

import argparse  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

import numpy as np  # noqa: E402

import common as c  # noqa: E402
import minicodec  # noqa: E402
import minicodec.encoder.analyse as analyse  # noqa: E402
import minicodec.encoder.encode as encode_mod  # noqa: E402
from minicodec.colour import rgb_to_yuv420  # noqa: E402

#: (name, first characters of the line that starts the stage, stripped of indentation). A stage runs
#: until the next one starts; the last runs to the end of the macroblock loop.
STAGES = (
    ("chroma mode search", "# ---- chroma (shared by both luma candidates)"),
    ("chroma coding", "dcn0, acn0 = code_chroma("),
    ("Intra_16x16 SATD ranking", "# ---- Intra_16x16 mode ranking"),
    ("Intra_4x4 search + coding", "# ---- Intra_4x4, block by block"),
    ("Intra_4x4 macroblock count", "if not aborted:"),
    ("Intra_16x16 coding + compare", "# ---- Intra_16x16 coding and the exact"),
    ("I_PCM check", "# ---- I_PCM: lossless"),
    ("write the macroblock", "# ---- write it"),
)
LOOP_START = "lev[:, :] = 0"

_COUNTER = '''
from numba import types as _nb_types
from numba.extending import intrinsic as _intrinsic
from numba.core import cgutils as _cgutils
from llvmlite import ir as _ir


@_intrinsic
def _cycles(typingctx):
    def codegen(context, builder, signature, args):
        fnty = _ir.FunctionType(_ir.IntType(64), [])
        return builder.call(_cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter"), [])
    return _nb_types.int64(), codegen
'''


def instrumented_encode_slice():
    """Compile the instrumented copy; returns (function taking encode_slice's arguments + T, T size)."""
    src = inspect.getsource(analyse)
    src = src.replace("from .. import ", "from minicodec import ").replace("from ..", "from minicodec.")
    src = src.replace("from .", "from minicodec.encoder.").replace("@njit(cache=True", "@njit(cache=False")
    head = "mb_i16mode, mb_cmode, mb_i4modes):"
    if head not in src:
        raise SystemExit(f"profile_stages: encode_slice's signature changed (looked for {head!r})")
    src = src.replace(head, "mb_i16mode, mb_cmode, mb_i4modes, T):", 1)
    lines = src.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith("def encode_slice(")), None)
    out, marks = lines[:start], 0
    for ln in lines[start:]:
        body = ln.lstrip()
        ind = ln[:len(ln) - len(body)]
        k = next((j for j, (_, anchor) in enumerate(STAGES) if body.startswith(anchor)), None)
        if k is not None:
            out.append(f"{ind}_t = _cycles(); T[_stage] += _t - _t0; _t0 = _t; _stage = {k}")
            marks |= 1 << k
        out.append(ln)
        if body == LOOP_START:
            out.append(f"{ind}_t0 = _cycles(); _stage = {len(STAGES)}")
    missing = [name for j, (name, _) in enumerate(STAGES) if not marks >> j & 1]
    if missing:
        raise SystemExit(f"profile_stages: anchors not found in analyse.py for {missing}; update STAGES")
    # close the last stage at the end of the macroblock loop (the function's last line)
    last = max(i for i, ln in enumerate(out) if ln.startswith("        "))
    out.insert(last + 1, "        T[_stage] += _cycles() - _t0")
    module = types.ModuleType("minicodec.encoder._analyse_profiled")
    module.__dict__["__name__"] = module.__name__
    exec(compile(_COUNTER + "\n".join(out), "<analyse instrumented>", "exec"), module.__dict__)
    return module.encode_slice, len(STAGES) + 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", default="coffee", choices=c.PHOTOS)
    ap.add_argument("--qp", type=int, default=27)
    ap.add_argument("--efforts", nargs="+", default=["fast", "medium", "full"], choices=["fast", "medium", "full"])
    ap.add_argument("--repeat", type=int, default=5, help="encodes per effort, cycles averaged (default 5)")
    args = ap.parse_args(argv)

    planes = c.to_planes(c.load_photo(args.photo), rgb_to_yuv420)
    fn, n = instrumented_encode_slice()
    T = np.zeros(n, np.int64)
    original = encode_mod.encode_slice
    encode_mod.encode_slice = lambda *a: fn(*a, T)
    names = [name for name, _ in STAGES] + ["(before the first stage)"]
    order = list(range(len(STAGES))) + [len(STAGES)]
    try:
        print(f"cycles per stage of encode_slice: {args.photo} {planes[0].shape[1]}x{planes[0].shape[0]}, "
              f"QP {args.qp}, mean of {args.repeat} encodes (llvm.readcyclecounter)")
        print(f"command: python bench/profile_stages.py {' '.join(argv if argv is not None else sys.argv[1:])}")
        for effort in args.efforts:
            minicodec.encode(planes, qp=args.qp, effort=effort)  # compile
            T[:] = 0
            t0 = time.thread_time()
            for _ in range(args.repeat):
                minicodec.encode(planes, qp=args.qp, effort=effort)
            ms = (time.thread_time() - t0) / args.repeat * 1e3
            total = T.sum() / args.repeat
            print(f"\n{effort}: {ms:.1f} ms per encode (thread time, whole encode), "
                  f"{total / 1e6:.1f} Mcycles in the macroblock loop")
            print(f"  {'stage':30s} {'Mcycles':>8s} {'share':>6s}")
            for k in order:
                v = T[k] / args.repeat
                if k == len(STAGES) and v == 0:
                    continue
                print(f"  {names[k]:30s} {v / 1e6:8.2f} {100 * v / total:5.1f}%")
    finally:
        encode_mod.encode_slice = original


if __name__ == "__main__":
    main()
