#!/usr/bin/env python
"""Encode speed of the working tree against a git revision, interleaved in one process.

    python bench/ab_speed.py                      # against HEAD: fast/medium/full on three photos
    python bench/ab_speed.py --ref 3534553 --photos coffee rocket --efforts full --repeat 11 --weights

On a shared machine the speed of the same code drifts by 10-30 % between runs minutes apart, so two
separate runs of ``bench_codec.py`` cannot show a 3 % change. This script exports the package at ``--ref``
(``git archive``) into ``bench/out/ab/<commit>/minicodec_ref`` (kept, so that its compiled kernels are reused
by later runs against the same commit), imports it beside the working tree's
``minicodec``, checks that both write the same stream (or says that they differ), and alternates their
encodes of the same planes, A B B A ..., timing each in thread CPU time. It prints the best time of each
and the median of the per-pair ratios (new / ref): below 1 is faster. Single thread
(NUMBA_NUM_THREADS=1); the first call of each compiles or loads its kernels and is not timed.
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"   # before numba is imported anywhere: single-thread timings

import argparse  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import numpy as np  # noqa: E402

import common as c  # noqa: E402

DEFAULT_PHOTOS = ("coffee", "immunohistochemistry", "rocket")


def _git(*cmd) -> bytes:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, check=True, timeout=120).stdout
    except subprocess.CalledProcessError as e:
        sys.exit(f"ab_speed: git {' '.join(cmd)} failed: {e.stderr.decode('utf-8', 'replace').strip()}")


def export_ref(ref: str) -> Path:
    """The folder holding ``minicodec_ref``, the ``minicodec`` package at git revision ``ref``."""
    sha = _git("rev-parse", "--verify", ref + "^{commit}").decode().strip()
    dest = HERE / "out" / "ab" / sha
    if not (dest / "minicodec_ref" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        part = dest / "minicodec"
        with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", sha, "minicodec"))) as tar:
            tar.extractall(dest, filter="data")
        part.rename(dest / "minicodec_ref")
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--photos", nargs="+", choices=c.PHOTOS, default=list(DEFAULT_PHOTOS))
    ap.add_argument("--efforts", nargs="+", choices=("fast", "medium", "full"), default=["fast", "medium", "full"])
    ap.add_argument("--qp", type=int, default=27)
    ap.add_argument("--repeat", type=int, default=9, help="timed pairs per photo and effort (default 9)")
    ap.add_argument("--weights", action="store_true", help="encode with bench_codec's importance-like map")
    ap.add_argument("--aq", choices=("weights", "variance"), help="adaptive quantisation (aq='weights' needs --weights)")
    args = ap.parse_args(argv)
    if args.aq == "weights" and not args.weights:
        ap.error("--aq weights needs --weights")

    sys.path.insert(0, str(export_ref(args.ref)))
    ref = importlib.import_module("minicodec_ref")
    import minicodec as new
    from minicodec.colour import rgb_to_yuv420
    from bench_codec import importance_like_map
    print(f"ref {args.ref} ({ref.__file__}) against the working tree ({new.__file__}); QP {args.qp}, "
          f"thread time, {args.repeat} interleaved pairs" + (", importance-like weights" if args.weights else "")
          + (f", aq={args.aq!r}" if args.aq else ""))
    rows = []
    for name in args.photos:
        planes = c.to_planes(c.load_photo(name), rgb_to_yuv420)
        w = importance_like_map(planes[0]) if args.weights else None
        for effort in args.efforts:
            kw = dict(qp=args.qp, effort=effort, weights=w, aq=args.aq)
            same = ref.encode(planes, **kw).data == new.encode(planes, **kw).data   # also the warm-up
            t = {"ref": [], "new": []}
            for i in range(args.repeat):
                order = (("ref", ref), ("new", new)) if i % 2 == 0 else (("new", new), ("ref", ref))
                for k, m in order:
                    t0 = time.thread_time()
                    m.encode(planes, **kw)
                    t[k].append(time.thread_time() - t0)
            ratios = sorted(b / a for a, b in zip(t["ref"], t["new"]))
            rows.append([name, effort, f"{1000 * min(t['ref']):.2f}", f"{1000 * min(t['new']):.2f}",
                         f"{ratios[len(ratios) // 2]:.3f}", "same" if same else "DIFFERENT"])
            print(f"  {name} {effort}: ratio {ratios[len(ratios) // 2]:.3f}", file=sys.stderr, flush=True)
    print(c.format_table(["photo", "effort", "ref ms", "new ms", "median new/ref", "stream"], rows, "llrrrl"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
