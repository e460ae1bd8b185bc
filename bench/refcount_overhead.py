"""What Numba's reference counting costs the encoder: encode time with atomic and with plain refcounts.

    python bench/refcount_overhead.py                     # coffee and immunohistochemistry, fast and full
    python bench/refcount_overhead.py --photos rocket --efforts medium

Numba keeps a reference count on every array and changes it with atomic instructions wherever its
refcount-pruning pass cannot show the change to be unnecessary: in this code base at the entry and exits
of many small helpers that take arrays (seen in the machine code of ``cavlc.write_residual_block``: three
increments on entry, one per array argument) and wherever a row view such as ``lev[blk]`` is made. Since the slice loops work on ``minicodec.borrow``
views (no meminfo, so no atomic operation) the two variants should time alike; a gap that opens again
means refcounts crept back in. Numba has a switch for measuring exactly this
cost (``numba.core.runtime.nrtdynmod._disable_atomicity``, "to measure the overhead of atomic refcounts
compared to non-atomic"). This script runs the encoder twice in child processes, each compiling into its
own fresh cache directory, once as shipped and once with that switch on, then times each from its
cache in alternating child processes and prints the best encode times (thread time). Plain refcounts are not thread-safe: the switch is for this
measurement only, never for use.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import os, sys, time
os.environ["NUMBA_NUM_THREADS"] = "1"
import numba.core.runtime.nrtdynmod as nd
nd._disable_atomicity = int(sys.argv[1])
sys.path.insert(0, sys.argv[2]); sys.path.insert(1, os.path.dirname(sys.argv[2]))
import common as c, minicodec
from minicodec.colour import rgb_to_yuv420
qp, repeat = int(sys.argv[3]), int(sys.argv[4])  # repeat 0: only compile into the cache
for item in sys.argv[5:]:
    name, effort = item.split(":")
    planes = c.to_planes(c.load_photo(name), rgb_to_yuv420)
    minicodec.encode(planes, qp=qp, effort=effort)
    if repeat == 0:
        continue
    ts = []
    for _ in range(repeat):
        t = time.thread_time()
        minicodec.encode(planes, qp=qp, effort=effort)
        ts.append(time.thread_time() - t)
    print(name, effort, min(ts) * 1e3, flush=True)
"""


def run(plain, items, qp, repeat, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, str(int(plain)), str(HERE), str(qp), str(repeat), *items],
                         env=env, capture_output=True, text=True, check=True).stdout
    return {(ln.split()[0], ln.split()[1]): float(ln.split()[2]) for ln in out.splitlines() if ln.strip()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", nargs="+", default=["coffee", "immunohistochemistry"])
    ap.add_argument("--efforts", nargs="+", default=["fast", "full"], choices=["fast", "medium", "full"])
    ap.add_argument("--qp", type=int, default=27)
    ap.add_argument("--repeat", type=int, default=7, help="encodes per process (default 7)")
    ap.add_argument("--rounds", type=int, default=2, help="timed processes per variant, alternating (default 2)")
    args = ap.parse_args(argv)
    items = [f"{p}:{e}" for p in args.photos for e in args.efforts]
    with tempfile.TemporaryDirectory() as tmp:
        caches = {v: os.path.join(tmp, v) for v in ("atomic", "plain")}
        for v, cache in caches.items():  # compile each into its own cache first
            run(v == "plain", items, args.qp, 0, cache)
        # then time them from their caches in fresh processes, alternating, one at a time
        best = {"atomic": {}, "plain": {}}
        for _ in range(args.rounds):
            for v, cache in caches.items():
                for k, ms in run(v == "plain", items, args.qp, args.repeat, cache).items():
                    best[v][k] = min(ms, best[v].get(k, ms))
    atomic, plain = best["atomic"], best["plain"]
    print(f"encode ms at QP {args.qp}, best of {args.rounds} x {args.repeat}, thread time; each variant compiled "
          f"into its own fresh cache, timed in alternating processes")
    print(f"{'photo':22s} {'effort':6s} {'atomic':>8s} {'plain':>8s} {'plain/atomic':>12s}")
    for k in atomic:
        print(f"{k[0]:22s} {k[1]:6s} {atomic[k]:8.2f} {plain[k]:8.2f} {plain[k] / atomic[k]:12.3f}")


if __name__ == "__main__":
    main()
