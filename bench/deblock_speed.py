#!/usr/bin/env python
"""Time ``minicodec.deblock.deblock_picture`` on the real pictures an encode hands to the loop filter.

    python bench/deblock_speed.py --capture cases.npz     # encode photos, keep each picture before 8.7
    python bench/deblock_speed.py cases.npz                # time the current deblock_picture on them
    python bench/deblock_speed.py cases.npz --against REV  # ... and the one of git revision REV, and
                                                           # check both give the same bits

--capture runs the encoder (astronaut and coffee, QP 22 / 27 / 37, plus aq='variance' with 2 slices
for per-macroblock QPs) with Picture.deblock wrapped to copy its planes and per-macroblock arrays
before the filter runs. Timing: time.thread_time around one call on fresh copies of the planes, best
of --runs; only the filter call is inside the timed region.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ARRAYS = ("mb_qp", "mb_slice", "mb_filter_idc", "mb_alpha_offset", "mb_beta_offset")


def capture(path):
    import skimage.data

    import minicodec
    from minicodec.macroblock import MB_PCM
    from minicodec.picture import Picture

    grabbed = []
    original = Picture.deblock

    def grab(self):
        qp = np.where(self.mb_kind == MB_PCM, 0, self.mb_qp).astype(np.int32)
        grabbed.append(dict(Y=self.Y.copy(), Cb=self.Cb.copy(), Cr=self.Cr.copy(), mb_qp=qp,
                            mb_slice=self.mb_slice.copy(), mb_filter_idc=self.mb_filter_idc.copy(),
                            mb_alpha_offset=self.mb_alpha_offset.copy(),
                            mb_beta_offset=self.mb_beta_offset.copy(),
                            dims=np.array([self.mb_width, self.mb_height, self.chroma_qp_index_offset])))
        return original(self)

    Picture.deblock = grab
    names = []
    try:
        for photo in ("astronaut", "coffee"):
            img = getattr(skimage.data, photo)()
            for qp in (22, 27, 37):
                minicodec.encode(img, qp=qp)
                names.append(f"{photo}-qp{qp}")
            minicodec.encode(img, qp=30, aq="variance", slices=2)
            names.append(f"{photo}-qp30-aq-2slices")
    finally:
        Picture.deblock = original
    out = {}
    for name, g in zip(names, grabbed):
        for k, v in g.items():
            out[f"{name}/{k}"] = v
    np.savez_compressed(path, **out)
    print(f"saved {len(names)} pictures to {path}")


def load_cases(path):
    z = np.load(path)
    names = sorted({k.split("/")[0] for k in z.files})
    return [(n, {k.split("/")[1]: z[k] for k in z.files if k.startswith(n + "/")}) for n in names]


def module_at(rev):
    """minicodec/deblock.py of git revision ``rev`` loaded as a standalone module."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:minicodec/deblock.py"], check=True,
                         capture_output=True, text=True).stdout
    src = re.sub(r"^from \.(\w+) import", r"from minicodec.\1 import", src, flags=re.M)  # its imports from the package
    tmp = Path(tempfile.mkdtemp()) / f"deblock_{rev}.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location(tmp.stem, tmp)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def call(fn, c):
    Y, Cb, Cr = c["Y"].copy(), c["Cb"].copy(), c["Cr"].copy()
    mbw, mbh, cqo = (int(v) for v in c["dims"])
    t = time.thread_time()
    fn(Y, Cb, Cr, mbw, mbh, *(c[k] for k in ARRAYS), cqo)
    return time.thread_time() - t, (Y, Cb, Cr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases")
    ap.add_argument("--capture", action="store_true")
    ap.add_argument("--against", metavar="REV")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    if args.capture:
        return capture(args.cases)
    from minicodec.deblock import deblock_picture
    impls = [("new", deblock_picture)]
    if args.against:
        impls.insert(0, (args.against, module_at(args.against).deblock_picture))
    cases = load_cases(args.cases)
    print(f"{'picture':28s} {'size':>9s} " + " ".join(f"{n:>10s}" for n, _ in impls) + "   (ms, best of "
          f"{args.runs})")
    for name, c in cases:
        results, times = [], []
        for _, fn in impls:
            call(fn, c)  # compile / warm up
            best = min(call(fn, c)[0] for _ in range(args.runs))
            times.append(best * 1e3)
            results.append(call(fn, c)[1])
        same = all(np.array_equal(a, b) for r in results[1:] for a, b in zip(results[0], r))
        h, w = c["Y"].shape
        ratio = f"  x{times[0] / times[-1]:.2f}" if len(times) > 1 else ""
        print(f"{name:28s} {w:4d}x{h:<4d} " + " ".join(f"{t:10.3f}" for t in times) + ratio
              + ("" if same else "  DIFFERENT OUTPUT"))


if __name__ == "__main__":
    main()
