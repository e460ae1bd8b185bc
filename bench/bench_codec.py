#!/usr/bin/env python
"""minicodec against libx264: rate-distortion and speed on the scikit-image sample photos.

    python bench/bench_codec.py            # 6 photos x QP 22/27/32/37, then speed
    python bench/bench_codec.py --quick    # 2 photos x 2 QPs
    python bench/bench_codec.py --json out.json

Rate-distortion: both encoders code the same YUV 4:2:0 planes (minicodec.colour's BT.601 conversion of
the photo, cropped to even sizes; gray photos as Y with neutral chroma) at the same QP: minicodec with its
defaults, libx264 with ``-profile:v baseline -preset veryslow -tune psnr -x264-params
keyint=1:aq-mode=0:threads=1:ipratio=1``. bpp = stream bits / luma pixels (x264's informational SEI is
not counted); PSNR-Y against the input luma, from what a decoder outputs (minicodec's ``enc.planes``,
which the conformance tests hold bit-exact to FFmpeg; x264's decoded by FFmpeg).

Speed: single thread (NUMBA_NUM_THREADS=1, x264 threads=1, FFmpeg -threads 1), wall clock, best of 7,
after a JIT warm-up; MP/s = luma megapixels per second. minicodec is timed in-process. libx264 and
FFmpeg's h264 decoder are timed as FFmpeg processes working on 10 copies of the picture, so their MP/s
include process start-up; the "net" figures remove it, using the time of the same process on 1 copy:
net = 9 pictures / (t(10) - t(1)).

Efforts and weights: encode MP/s of each effort ("fast", "medium", "full") from YUV planes, from the
photo as loaded (RGB in and out, colour conversion included; camera is gray) and with a non-uniform importance map, and the
weights-on / weights-off time ratio (best wall time over best wall time, and the median over ``--pairs``
back-to-back pairs of thread CPU time). The map needs no network: gradient magnitude of the luma, blurred,
mixed with SSE as fprdo does (w' = (w + 0.25) / 1.25) and normalised to mean 1, so it varies about as
much as a feature-importance map. The same again with rank-4 luma block terms (``block_terms=``, the
block-local IDSE; low-frequency DCT vectors under the weights, :func:`block_terms_like`) gives their cost.
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"   # before numba is imported anywhere: single-thread timings

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

import numpy as np  # noqa: E402

import common as c  # noqa: E402

QPS = (22, 27, 32, 37)
QUICK_PHOTOS = ("astronaut", "camera")
QUICK_QPS = (22, 32)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 photos, 2 QPs")
    ap.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    ap.add_argument("--photos", nargs="+", choices=c.PHOTOS, help="photos to use (default: all six)")
    ap.add_argument("--qps", nargs="+", type=int, help="QPs for rate-distortion (default 22 27 32 37)")
    ap.add_argument("--speed-qp", type=int, default=27, help="QP of the speed measurements (default 27)")
    ap.add_argument("--repeat", type=int, default=7, help="timing repetitions, best kept (default 7)")
    ap.add_argument("--copies", type=int, default=10, help="pictures per FFmpeg process in timings (default 10)")
    ap.add_argument("--pairs", type=int, default=21,
                    help="back-to-back encodes with and without weights for the weights' time ratio (default 21)")
    ap.add_argument("--no-speed", action="store_true", help="rate-distortion only")
    ap.add_argument("--no-efforts", action="store_true", help="skip the per-effort / weights speed table")
    return ap.parse_args(argv)


def header(mc, versions, x264_version, args) -> list[str]:
    total, usable = c.core_counts()
    return [
        "minicodec benchmark: minicodec vs libx264 (H.264 Constrained Baseline, intra only)",
        f"machine: {total} logical cores ({usable} usable), {c.cpu_model()}, {os.uname().sysname} {os.uname().machine}",
        f"versions: python {versions['python']}, numpy {versions['numpy']}, numba {versions['numba']}, "
        f"minicodec {getattr(mc, '__version__', versions['minicodec'])}, ffmpeg {c.ffmpeg_version()}, "
        f"x264 {x264_version}, scikit-image {versions['scikit-image']}",
        f"threads: NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}, x264 threads=1, ffmpeg -threads 1; "
        f"timings: wall clock, best of {args.repeat}",
        f"x264 (RD): -profile:v baseline -preset veryslow -tune psnr -x264-params {c.X264_RD_PARAMS}",
    ]


def rate_distortion(mc, photos, qps, log):
    rows = []
    for name, planes in photos.items():
        h, w = planes[0].shape
        for qp in qps:
            enc = mc.encode(planes, qp=qp)
            mc_bpp = enc.bits / (w * h)
            mc_psnr = c.psnr(np.asarray(enc.planes[0])[:h, :w], planes[0])
            data, _ = c.x264_encode(planes, qp, "veryslow")
            dec = c.ffmpeg_decode(data)
            assert len(dec) == 1 and dec[0][0].shape == (h, w), "x264 round trip failed"
            x_bpp = c.coded_bits(data) / (w * h)
            x_psnr = c.psnr(dec[0][0], planes[0])
            rows.append(dict(photo=name, width=w, height=h, qp=qp, minicodec_bpp=mc_bpp, minicodec_psnr_y=mc_psnr,
                             x264_bpp=x_bpp, x264_psnr_y=x_psnr))
            log(f"  rd {name} qp {qp}: minicodec {mc_bpp:.3f} bpp {mc_psnr:.2f} dB, x264 {x_bpp:.3f} bpp {x_psnr:.2f} dB")
    return rows


def bd_rates(rows, photos):
    out = {}
    for name in photos:
        r = [x for x in rows if x["photo"] == name]
        out[name] = c.bd_rate([x["x264_bpp"] for x in r], [x["x264_psnr_y"] for x in r],
                              [x["minicodec_bpp"] for x in r], [x["minicodec_psnr_y"] for x in r])
    return out


def speed(mc, photos, qp, repeat, copies, log):
    rows = []
    for name, planes in photos.items():
        h, w = planes[0].shape
        mp = w * h / 1e6
        enc = mc.encode(planes, qp=qp)          # warm-up (JIT compile or cache load) for this size
        mc.decode(enc.data, output="yuv")
        # encode and decode alternate, so a stall of the machine cannot hit every repetition of one
        t_enc = t_dec = float("inf")
        for _ in range(repeat):
            t_enc = min(t_enc, c.best_of(lambda: mc.encode(planes, qp=qp), 1))
            t_dec = min(t_dec, c.best_of(lambda: mc.decode(enc.data, output="yuv"), 1))
        row = dict(photo=name, width=w, height=h, qp=qp, minicodec_encode_mps=mp / t_enc,
                   minicodec_decode_mps=mp / t_dec)
        for preset in ("veryslow", "medium"):
            t1 = c.best_of(lambda: c.x264_encode(planes, qp, preset, 1), repeat)
            tn = c.best_of(lambda: c.x264_encode(planes, qp, preset, copies), repeat)
            row[f"x264_{preset}_mps"] = copies * mp / tn
            row[f"x264_{preset}_net_mps"] = (copies - 1) * mp / (tn - t1) if tn > t1 else None
        one = enc.data                            # minicodec's stream: SPS, PPS, IDR; repeat it
        t1 = c.best_of(lambda: c.ffmpeg_decode_timed(one), repeat)
        tn = c.best_of(lambda: c.ffmpeg_decode_timed(one * copies), repeat)
        row["ffmpeg_h264_decode_mps"] = copies * mp / tn
        row["ffmpeg_h264_decode_net_mps"] = (copies - 1) * mp / (tn - t1) if tn > t1 else None
        row["ffmpeg_process_overhead_ms"] = 1000 * max(0.0, t1 - (tn - t1) / (copies - 1))
        rows.append(row)
        log(f"  speed {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()
                                             if isinstance(v, float)))
    return rows


def importance_like_map(y: np.ndarray, tau: float = 0.25) -> np.ndarray:
    """A deterministic stand-in for a feature-importance map: blurred luma gradient magnitude, SSE mix,
    mean 1 (see the module docstring)."""
    from scipy.ndimage import gaussian_filter, sobel
    f = y.astype(np.float64)
    g = gaussian_filter(np.hypot(sobel(f, 0), sobel(f, 1)), 4.0)
    g /= g.mean() if g.mean() > 0 else 1.0
    w = (g + tau) / (1.0 + tau)
    return w / w.mean()


def block_terms_like(wmap: np.ndarray, rank: int = 4) -> np.ndarray:
    """Rank-``rank`` luma block terms for ``encode(..., block_terms=)`` from a weight map: in each 4x4 block
    the first orthonormal 2-D DCT basis vectors (DC, then the lowest frequencies), scaled by half the block's
    smallest weight, so their diagonal stays under the weights. What fprdo.block_importance gives for a
    network that sees a downscaled picture, without the network."""
    n = np.arange(4)
    c = np.sqrt(2 / 4) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 8)
    c[0] /= np.sqrt(2)
    freqs = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0)][:rank]
    basis = np.stack([np.outer(c[u], c[v]).ravel() for u, v in freqs])  # (rank, 16), orthonormal
    h, w = wmap.shape
    nby, nbx = -(-h // 4), -(-w // 4)
    wp = np.full((4 * nby, 4 * nbx), np.inf)
    wp[:h, :w] = wmap
    wmin = wp.reshape(nby, 4, nbx, 4).min(axis=(1, 3))
    q = np.sqrt(0.5 * wmin)[:, :, None, None] * basis[None, None]
    if (h | w) & 3:  # nothing outside the picture
        inside = np.zeros((4 * nby, 4 * nbx))
        inside[:h, :w] = 1
        q *= inside.reshape(nby, 4, nbx, 4).transpose(0, 2, 1, 3).reshape(nby, nbx, 1, 16)
    return np.ascontiguousarray(q)


def effort_speed(mc, photos, rgb, qp, repeat, pairs, log):
    """Encode MP/s per effort: YUV planes, RGB input, YUV + importance weights, and those weights with block
    terms; the weights' and the terms' time ratios."""
    rows = []
    for name, planes in photos.items():
        h, w = planes[0].shape
        mp = w * h / 1e6
        wmap = importance_like_map(planes[0])
        terms = block_terms_like(wmap)
        for effort in ("fast", "medium", "full"):
            mc.encode(planes, qp=qp, effort=effort)
            mc.encode(planes, qp=qp, effort=effort, weights=wmap)
            mc.encode(planes, qp=qp, effort=effort, weights=wmap, block_terms=terms)
            mc.encode(rgb[name], qp=qp, effort=effort)
            # alternate the timed variants so machine noise hits all of them alike; wall clock for MP/s
            # (best of repeat), thread CPU time for the back-to-back pairs (steal and other processes'
            # load do not count there)
            t_plain, t_w, t_b, t_rgb, c_plain, c_w, c_b = [], [], [], [], [], [], []
            for k in range(max(repeat, pairs)):
                for t, ct, kw in ((t_plain, c_plain, {}), (t_w, c_w, {"weights": wmap}),
                                  (t_b, c_b, {"weights": wmap, "block_terms": terms})):
                    c0, w0 = time.thread_time(), time.perf_counter()
                    mc.encode(planes, qp=qp, effort=effort, **kw)
                    t.append(time.perf_counter() - w0)
                    ct.append(time.thread_time() - c0)
                if k < repeat:
                    t_rgb.append(c.best_of(lambda: mc.encode(rgb[name], qp=qp, effort=effort), 1))
            row = dict(photo=name, effort=effort, yuv_mps=mp / min(t_plain), rgb_mps=mp / min(t_rgb),
                       weights_mps=mp / min(t_w), weights_time_ratio=min(t_w) / min(t_plain),
                       weights_pair_ratio=float(np.median([a / b for a, b in zip(c_w, c_plain)])),
                       terms_mps=mp / min(t_b),
                       terms_pair_ratio=float(np.median([a / b for a, b in zip(c_b, c_plain)])))
            rows.append(row)
            log(f"  effort {name} {effort}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                          if isinstance(v, float)))
    return rows


def main(argv=None):
    args = parse_args(argv)
    names = list(args.photos or (QUICK_PHOTOS if args.quick else c.PHOTOS))
    qps = list(args.qps or (QUICK_QPS if args.quick else QPS))

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    import minicodec as mc
    from minicodec.colour import rgb_to_yuv420

    rgb = {n: c.load_photo(n) for n in names}
    photos = {n: c.to_planes(rgb[n], rgb_to_yuv420) for n in names}
    t0 = time.perf_counter()
    warm = next(iter(photos.values()))
    mc.decode(mc.encode(warm, qp=qps[0]).data, output="yuv")   # JIT warm-up before anything is timed
    log(f"warm-up (JIT/cache) {time.perf_counter() - t0:.1f} s")
    x264_version = c.x264_version_from_stream(c.x264_encode(warm, 30, "ultrafast")[0])
    versions = c.package_versions()

    rd = rate_distortion(mc, photos, qps, log)
    bd = bd_rates(rd, names)
    sp = [] if args.no_speed else speed(mc, photos, args.speed_qp, args.repeat, args.copies, log)
    ef = [] if args.no_speed or args.no_efforts else effort_speed(mc, photos, rgb, args.speed_qp,
                                                                 max(args.repeat, 5), args.pairs, log)

    out = header(mc, versions, x264_version, args)
    out.append("")
    out.append("Rate-distortion (same YUV 4:2:0 planes; bpp = bits / luma pixel; PSNR-Y in dB)")
    trows = []
    for r in rd:
        trows.append([r["photo"], f"{r['width']}x{r['height']}", r["qp"], c.f(r["minicodec_bpp"], 3),
                      c.f(r["minicodec_psnr_y"]), c.f(r["x264_bpp"], 3), c.f(r["x264_psnr_y"]),
                      c.f(100 * (r["minicodec_bpp"] / r["x264_bpp"] - 1), 1),
                      c.f(r["minicodec_psnr_y"] - r["x264_psnr_y"])])
    out.append(c.format_table(["photo", "WxH", "QP", "minicodec bpp", "PSNR-Y", "x264 bpp", "PSNR-Y",
                               "bpp +%", "dPSNR"], trows, "llrrrrrrr"))
    if any(v is not None for v in bd.values()):
        vals = [v for v in bd.values() if v is not None]
        out.append("")
        out.append("BD-rate of minicodec against x264 veryslow (luma; negative = fewer bits for the same PSNR-Y): "
                   + ", ".join(f"{k} {c.f(v, 1)}%" for k, v in bd.items()) + f"; mean {np.mean(vals):.1f}%")
    if sp:
        out.append("")
        out.append(f"Speed at QP {args.speed_qp}, single thread, MP/s (luma megapixels per second). "
                   f"x264 and ffmpeg-dec: FFmpeg processes on {args.copies} copies of the picture, start-up "
                   f"included; 'net' excludes it (from the time on 1 copy)")
        srows = []
        for r in sp:
            srows.append([r["photo"], f"{r['width']}x{r['height']}", c.f(r["minicodec_encode_mps"]),
                          c.f(r["minicodec_decode_mps"]), c.f(r["x264_veryslow_mps"]),
                          c.f(r["x264_veryslow_net_mps"]), c.f(r["x264_medium_mps"]), c.f(r["x264_medium_net_mps"]),
                          c.f(r["ffmpeg_h264_decode_mps"]), c.f(r["ffmpeg_h264_decode_net_mps"]),
                          c.f(r["ffmpeg_process_overhead_ms"], 0)])
        out.append(c.format_table(["photo", "WxH", "mc enc", "mc dec", "x264 vslow", "net", "x264 medium", "net",
                                   "ffmpeg dec", "net", "proc ms"], srows, "llrrrrrrrrr"))
    if ef:
        out.append("")
        out.append(f"Encode speed per effort at QP {args.speed_qp}, MP/s, best of {max(args.repeat, 5)} "
                   "(yuv: planes in; image: the photo as loaded, RGB in and out with colour conversion, gray for camera; weights: planes + an "
                   "importance-like map; ratio: encode time with weights / without, best / best; pairs: median of the ratio "
                   f"over {args.pairs} back-to-back pairs in thread CPU time, the steadier figure when encodes take tens "
                   "of ms; terms: the same weights with rank-4 luma block terms (block_terms=, the block-local IDSE), MP/s "
                   "and their pairs ratio against no weights)")
        erows = [[r["photo"], r["effort"], c.f(r["yuv_mps"]), c.f(r["rgb_mps"]), c.f(r["weights_mps"]),
                  c.f(r["weights_time_ratio"], 3), c.f(r["weights_pair_ratio"], 3), c.f(r["terms_mps"]),
                  c.f(r["terms_pair_ratio"], 3)] for r in ef]
        for effort in ("fast", "medium", "full"):
            sel = [r for r in ef if r["effort"] == effort]
            erows.append(["MIN", effort, c.f(min(r["yuv_mps"] for r in sel)), c.f(min(r["rgb_mps"] for r in sel)),
                          c.f(min(r["weights_mps"] for r in sel)),
                          c.f(max(r["weights_time_ratio"] for r in sel), 3) + " (max)",
                          c.f(max(r["weights_pair_ratio"] for r in sel), 3) + " (max)",
                          c.f(min(r["terms_mps"] for r in sel)),
                          c.f(max(r["terms_pair_ratio"] for r in sel), 3) + " (max)"])
        out.append(c.format_table(["photo", "effort", "yuv", "image", "weights", "ratio", "pairs", "terms",
                                   "pairs"], erows, "llrrrrrrr"))
    print("\n".join(out))

    if args.json:
        total, usable = c.core_counts()
        doc = dict(machine=dict(cores=total, usable_cores=usable, cpu=c.cpu_model()),
                   versions=dict(versions, ffmpeg=c.ffmpeg_version(), x264=x264_version),
                   settings=dict(qps=qps, photos=names, speed_qp=args.speed_qp, repeat=args.repeat,
                                 copies=args.copies, numba_num_threads=os.environ.get("NUMBA_NUM_THREADS"),
                                 x264_rd=c.X264_RD_PARAMS),
                   rate_distortion=rd, bd_rate_percent=bd, speed=sp, effort_speed=ef)
        Path(args.json).write_text(json.dumps(doc, indent=2))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
