#!/usr/bin/env python
"""Byte-identity check for encoder refactors: the md5 of every stream of a fixed grid of encodes.

    python bench/stream_digest.py                      # print one md5 per case and the md5 of them all
    python bench/stream_digest.py --save before.json   # keep them ...
    python bench/stream_digest.py --check before.json  # ... and after a change, list the cases that differ

The grid: three photo crops (one not a multiple of 16) x every effort x QPs 12, 27, 40 x four settings
(SSE; an importance-like map; keep-or-drop RDOQ; the map with aq="weights"), 108 encodes in all. A change
meant to be a pure speed-up or a refactor must leave every digest as it was; one that changes decisions
shows which settings it touches. Exit status 1 when --check finds a difference.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

import common as c  # noqa: E402
from bench_codec import importance_like_map  # noqa: E402

CROPS = (("astronaut", 0, 0, 160, 192), ("coffee", 100, 150, 144, 176), ("immunohistochemistry", 40, 60, 120, 150))
EFFORTS = ("fast", "medium", "full")
QPS = (12, 27, 40)


def cases():
    """(name, image planes, options) of every encode in the grid."""
    import minicodec.colour as colour
    for photo, y, x, h, w in CROPS:
        planes = c.to_planes(c.load_photo(photo)[y:y + h, x:x + w], colour.rgb_to_yuv420)
        wmap = importance_like_map(planes[0])
        settings = (("sse", {}), ("weights", {"weights": wmap}), ("rdoq-block", {"rdoq": "block"}),
                    ("weights-aq", {"weights": wmap, "aq": "weights"}))
        for effort in EFFORTS:
            for qp in QPS:
                for label, opts in settings:
                    yield f"{photo}/{effort}/qp{qp}/{label}", planes, dict(opts, qp=qp, effort=effort)


def digests() -> dict[str, str]:
    import minicodec as mc
    out = {}
    for name, planes, opts in cases():
        out[name] = hashlib.md5(mc.encode(planes, **opts).data).hexdigest()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", metavar="PATH", help="write the digests as JSON")
    ap.add_argument("--check", metavar="PATH", help="compare with digests saved earlier")
    args = ap.parse_args(argv)
    d = digests()
    total = hashlib.md5("".join(f"{k} {v}\n" for k, v in sorted(d.items())).encode()).hexdigest()
    if args.save:
        Path(args.save).write_text(json.dumps(d, indent=1, sort_keys=True))
    if args.check:
        ref = json.loads(Path(args.check).read_text())
        diff = sorted(k for k in set(ref) | set(d) if ref.get(k) != d.get(k))
        for k in diff:
            print(f"differs: {k}")
        print(f"{len(d)} encodes, {len(diff)} differ from {args.check}; all: {total}")
        return 1 if diff else 0
    for k, v in d.items():
        print(f"{v}  {k}")
    print(f"{total}  all {len(d)} encodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
