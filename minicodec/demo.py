"""Demo: encode the bundled photo, print bits and PSNR, write the .264 and the decoded picture.

    python -m minicodec.demo [--input photo.png] [--qp 28] [--effort fast|medium|full] [--out out/]
"""
import argparse
import os
import time
from importlib import resources

import imageio.v3 as iio
import numpy as np

import minicodec
from minicodec.colour import rgb_to_yuv420


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="an RGB or gray image file (default: the bundled astronaut photo)")
    ap.add_argument("--qp", type=int, default=28)
    ap.add_argument("--effort", default="fast", choices=("fast", "medium", "full"))
    ap.add_argument("--out", default="out", help="output folder (default: out/)")
    args = ap.parse_args(argv)
    if args.input:
        img = iio.imread(args.input)
        name = os.path.splitext(os.path.basename(args.input))[0]
    else:
        with resources.files("minicodec").joinpath("data/astronaut.png").open("rb") as f:
            img = iio.imread(f)
        name = "astronaut"
    if img.ndim == 3:
        img = img[..., :3]
    img = np.ascontiguousarray(img.astype(np.uint8))
    os.makedirs(args.out, exist_ok=True)

    t0 = time.perf_counter()
    enc = minicodec.encode(img, qp=args.qp, effort=args.effort)
    t1 = time.perf_counter()
    dec = minicodec.decode(enc.data, output="rgb" if img.ndim == 3 else "gray")
    t2 = time.perf_counter()
    h, w = img.shape[:2]
    if not np.array_equal(dec[:h, :w], enc.recon):  # a real check: an assert vanishes under python -O
        raise RuntimeError("decoder and encoder disagree: please report this image and QP")
    y_in = rgb_to_yuv420(img)[0] if img.ndim == 3 else img
    stream_path = os.path.join(args.out, f"{name}_qp{args.qp}.264")
    png_path = os.path.join(args.out, f"{name}_qp{args.qp}_decoded.png")
    enc.save(stream_path)
    iio.imwrite(png_path, enc.recon)
    kinds = np.bincount(enc.mb_type.ravel(), minlength=3)
    print(f"image        {name}  {w}x{h}  QP {args.qp}  effort {args.effort}")
    print(f"stream       {len(enc.data)} bytes = {enc.bits} bits, {enc.bpp:.3f} bits/pixel")
    print(f"PSNR-Y       {psnr(enc.planes[0][:h, :w], y_in):.2f} dB   PSNR-RGB {psnr(enc.recon, img):.2f} dB")
    print(f"macroblocks  I4x4 {kinds[0]}, I16x16 {kinds[1]}, I_PCM {kinds[2]}")
    print(f"time         encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s (first run includes Numba compilation)")
    print(f"wrote        {stream_path}  (plays in any H.264 player: ffplay {stream_path})")
    print(f"wrote        {png_path}")


if __name__ == "__main__":
    main()
