#!/usr/bin/env python
"""Instructions per encode, counted by callgrind: the weights overhead without the machine's noise.

    python bench/instr_counts.py                                  # six photos, fast/medium/full, QP 27
    python bench/instr_counts.py --photos astronaut --efforts fast --qp 32

Wall-clock ratios on a shared machine swing by +-10 % between runs (hypervisor steal time; see
``bench_codec.py``'s "pairs" column), more than the 3 % the weights may cost. valgrind's callgrind counts
the instructions a program executes: the same count for the same binary and input, whatever else the
machine does (two runs agreed to 0.03 %). This script runs itself under ``valgrind --tool=callgrind --instr-atstart=no`` (start-up,
imports and the JIT warm-up run uninstrumented), and brackets each measured encode with callgrind's
client requests (``CALLGRIND_START_INSTRUMENTATION`` / ``CALLGRIND_DUMP_STATS_AT``), compiled into a tiny
shared library with gcc from ``valgrind/callgrind.h`` in a temporary directory. It prints instructions
per luma pixel of the encode of the YUV planes without and with ``bench_codec``'s importance-like map,
and their ratio. Instructions are not seconds (cache misses and branch mispredictions are not in them),
so the ratio is a proxy for the time ratio, a repeatable one. It is also not quite the native binary:
valgrind reports a CPU without AVX-512, so Numba compiles the kernels for that CPU (vectorised
differently) and keeps them in its cache beside the native ones. The first run compiles them under
valgrind, slowly (about 20 minutes on 2 cores); later runs load them (about 5 minutes for the default
six photos and three efforts).

Needs valgrind, its headers (Debian: valgrind) and gcc; says so and exits 2 when one is missing.
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"   # before numba is imported anywhere: one thread, as the timings

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

import common as c  # noqa: E402

EFFORTS = ("fast", "medium", "full")
SHIM = r"""
#include <valgrind/callgrind.h>
void count_begin(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void count_end(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
int on_valgrind(void) { return RUNNING_ON_VALGRIND; }
"""


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", nargs="+", choices=c.PHOTOS, default=list(c.PHOTOS))
    ap.add_argument("--efforts", nargs="+", choices=EFFORTS, default=list(EFFORTS))
    ap.add_argument("--qp", type=int, default=27)
    ap.add_argument("--json", metavar="PATH", help="also write the counts as JSON")
    ap.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)  # the run under valgrind
    return ap.parse_args(argv)


def dump_totals(text: str) -> tuple[str, int]:
    """(label, instruction count) of one callgrind dump written by ``CALLGRIND_DUMP_STATS_AT(label)``."""
    label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
    totals = re.search(r"^totals: (\d+)", text, re.M)
    if label is None or totals is None:
        raise ValueError("not a callgrind dump of a client request (no 'desc: Trigger' or 'totals' line)")
    return label.group(1).strip(), int(totals.group(1))


def child(args) -> int:
    """Under valgrind: warm up, then encode each (photo, effort, variant) once between the client requests."""
    lib = ctypes.CDLL(str(Path(args.child) / "libcount.so"))
    lib.count_end.argtypes = [ctypes.c_char_p]
    if not lib.on_valgrind():
        print("--child must run under valgrind", file=sys.stderr)
        return 2
    import minicodec
    from minicodec.colour import rgb_to_yuv420
    from bench_codec import importance_like_map
    for name in args.photos:
        planes = c.to_planes(c.load_photo(name), rgb_to_yuv420)
        wmap = importance_like_map(planes[0])
        for effort in args.efforts:
            variants = (("plain", None), ("weights", wmap))
            for _, w in variants:   # warm-up: kernels loaded, scratch allocated
                minicodec.encode(planes, qp=args.qp, effort=effort, weights=w)
            for variant, w in variants:
                lib.count_begin()
                minicodec.encode(planes, qp=args.qp, effort=effort, weights=w)
                lib.count_end(f"{name}/{effort}/{variant}".encode())
            print(f"  {name} {effort}", file=sys.stderr, flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    missing = [t for t in ("valgrind", "gcc") if shutil.which(t) is None]
    if missing:
        print(f"instr_counts needs {' and '.join(missing)} (Debian packages valgrind, gcc)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="instr_counts_") as tmp:
        src = Path(tmp) / "count.c"
        src.write_text(SHIM)
        cc = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(Path(tmp) / "libcount.so"), str(src)],
                            capture_output=True, text=True)
        if cc.returncode != 0:
            print("could not build the callgrind shim (is valgrind/callgrind.h installed?):\n" + cc.stderr,
                  file=sys.stderr)
            return 2
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "-q", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
               sys.executable, str(Path(__file__).resolve()), "--child", tmp, "--qp", str(args.qp),
               "--photos", *args.photos, "--efforts", *args.efforts]
        print(f"QP {args.qp}; running under callgrind (a few minutes) ...", file=sys.stderr, flush=True)
        if subprocess.run(cmd).returncode != 0:   # the child's progress and errors go to our stderr
            return 1
        counts = {}
        for dump in sorted(Path(tmp).glob("callgrind.out.*")):
            text = dump.read_text()
            if "Client Request" in text:
                label, n = dump_totals(text)
                counts[label] = n
    import numpy as np
    from minicodec.colour import rgb_to_yuv420
    rows, records = [], []
    for name in args.photos:
        pixels = c.to_planes(c.load_photo(name), rgb_to_yuv420)[0].size
        for effort in args.efforts:
            plain, weighted = counts[f"{name}/{effort}/plain"], counts[f"{name}/{effort}/weights"]
            records.append(dict(photo=name, effort=effort, qp=args.qp, pixels=pixels, plain=plain,
                                weights=weighted, ratio=weighted / plain))
            rows.append([name, effort, c.f(plain / pixels, 0), c.f(weighted / pixels, 0),
                         c.f(weighted / plain, 3)])
    for effort in args.efforts:
        sel = [r["ratio"] for r in records if r["effort"] == effort]
        rows.append(["MAX", effort, "", "", c.f(float(np.max(sel)), 3)])
    print(f"instructions per luma pixel of one encode (callgrind), QP {args.qp}; ratio = with weights / without")
    print(c.format_table(["photo", "effort", "plain", "weights", "ratio"], rows, "llrrr"))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
