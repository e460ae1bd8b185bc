"""Compression efficiency and encode speed of minicodec against libx264 and OpenH264 (issue: RD encoding).

Same YUV 4:2:0 planes into every encoder, QPs 22/27/32/37, scikit-image photos. Prints per-image and mean
Bjontegaard BD-rate (cubic, log-rate vs PSNR) of each minicodec setting against libx264 veryslow, on PSNR-Y
and on YUV PSNR (6:1:1 weighted), plus x264 medium and OpenH264 against the same anchor, and encode times
measured in the same run (one thread each; NUMBA_NUM_THREADS=1).

    python bench/rd_vs_x264.py [--quick] [--efforts fast,medium,full] [--json out.json]

Bits count the whole stream except SEI NAL units (x264 writes a ~700-byte settings SEI; minicodec none).
x264 runs with ipratio=1 so the I-slice QP equals the table's QP (x264 -qp otherwise subtracts ~3);
BD-rate compares curves, so this changes the QP labels, not the comparison.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common as c  # noqa: E402

QPS = (22, 27, 32, 37)


def openh264_encode(planes, qp):
    h, w = planes[0].shape
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "25", "-i", "-",
            "-c:v", "libopenh264", "-profile:v", "constrained_baseline", "-coder", "cavlc", "-g", "1",
            "-rc_mode", "quality", "-qmin", str(qp), "-qmax", str(qp), "-allow_skip_frames", "0",
            "-threads", "1", "-f", "h264", "-"]
    return c.run_ffmpeg(args, c.planes_bytes(planes))


def yuv_psnr(dec, ref):
    """(6 PSNR-Y + PSNR-Cb + PSNR-Cr) / 8, with each PSNR capped at 100 dB (a gray photo's flat chroma is
    coded losslessly, which would make the YUV figure infinite)."""
    p = [min(c.psnr(a, b), 100.0) for a, b in zip(dec, ref)]
    return (6 * p[0] + p[1] + p[2]) / 8


def _pct(v):
    return "n/a" if v is None else f"{v:+.2f}%"


def _mean(vals):
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two photos")
    ap.add_argument("--efforts", default="fast,medium,full")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    import minicodec
    from minicodec.colour import rgb_to_yuv420
    photos = ("astronaut", "coffee") if args.quick else c.PHOTOS
    efforts = args.efforts.split(",")
    anchors = [("x264 veryslow", lambda p, q: c.x264_encode(p, q, "veryslow")),
               ("x264 medium", lambda p, q: c.x264_encode(p, q, "medium")),
               ("OpenH264", openh264_encode)]
    setups = [(f"minicodec {e}", dict(effort=e)) for e in efforts]
    results = {}
    for name in photos:
        planes = c.to_planes(c.load_photo(name), rgb_to_yuv420)
        h, w = planes[0].shape
        res = results[name] = {"size": [w, h]}
        for label, fn in anchors:
            curve = res[label] = {"bits": [], "psnr_y": [], "psnr_yuv": [], "seconds": 0.0}
            for qp in QPS:
                data, dt = fn(planes, qp)
                dec = c.ffmpeg_decode(data)[0]
                curve["bits"].append(c.coded_bits(data))
                curve["psnr_y"].append(c.psnr(dec[0], planes[0]))
                curve["psnr_yuv"].append(yuv_psnr(dec, planes))
                curve["seconds"] += dt
        for label, kw in setups:
            minicodec.encode(planes, qp=QPS[0], **kw)  # JIT warm-up / cache load
            curve = res[label] = {"bits": [], "psnr_y": [], "psnr_yuv": [], "seconds": 0.0}
            for qp in QPS:
                t0 = time.perf_counter()
                enc = minicodec.encode(planes, qp=qp, **kw)
                curve["seconds"] += time.perf_counter() - t0
                curve["bits"].append(enc.bits)
                curve["psnr_y"].append(c.psnr(enc.planes[0], planes[0]))
                curve["psnr_yuv"].append(yuv_psnr(enc.planes, planes))
        print(f"  done {name} ({w}x{h})", file=sys.stderr)

    labels = [lab for lab, _ in anchors[1:]] + [lab for lab, _ in setups]
    ref = "x264 veryslow"
    total_mp = {name: results[name]["size"][0] * results[name]["size"][1] * len(QPS) / 1e6 for name in photos}
    rows = []
    means = {lab: ([], []) for lab in labels}
    for name in photos:
        r = results[name]
        for lab in labels:
            by = c.bd_rate(r[ref]["bits"], r[ref]["psnr_y"], r[lab]["bits"], r[lab]["psnr_y"])
            bu = c.bd_rate(r[ref]["bits"], r[ref]["psnr_yuv"], r[lab]["bits"], r[lab]["psnr_yuv"])
            means[lab][0].append(by)
            means[lab][1].append(bu)
            rows.append([name, lab, _pct(by), _pct(bu), f"{total_mp[name] / r[lab]['seconds']:.2f}",
                         f"{r[lab]['seconds'] / r[ref]['seconds']:.2f}"])
    for lab in labels:
        ty = sum(total_mp.values()) / sum(results[n][lab]["seconds"] for n in photos)
        tr = sum(results[n][lab]["seconds"] for n in photos) / sum(results[n][ref]["seconds"] for n in photos)
        rows.append(["MEAN", lab, _pct(_mean(means[lab][0])), _pct(_mean(means[lab][1])),
                     f"{ty:.2f}", f"{tr:.2f}"])
    cores = c.core_counts()
    print(f"# minicodec vs libx264 veryslow (anchor), {c.cpu_model()}, {cores[0]} cores, FFmpeg {c.ffmpeg_version()}")
    print(f"# QPs {QPS}; x264: -profile:v baseline -preset P -tune psnr -x264-params {c.X264_RD_PARAMS}")
    print("# BD-rate: negative = fewer bits than x264 veryslow at equal PSNR. MP/s: encode, one thread, "
          "incl. FFmpeg process start for x264/OpenH264. time/x264vs: encode time relative to x264 veryslow.")
    print(c.format_table(["photo", "encoder", "BD PSNR-Y", "BD YUV 6:1:1", "MP/s", "time/x264vs"], rows, "llrrrr"))
    for name in photos:
        r = results[name]
        line = [f"{lab}: " + " ".join(f"{b / 1000:.0f}k/{p:.2f}" for b, p in zip(r[lab]["bits"], r[lab]["psnr_y"]))
                for lab in [ref] + labels]
        print(f"# {name} kbits/PSNR-Y per QP: " + " | ".join(line))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"qps": QPS, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
