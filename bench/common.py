"""Helpers for minicodec's benchmarks: machine and version facts, sample photos, FFmpeg (libx264 encoder,
native h264 decoder) driven through pipes, timing, PSNR, BD-rate and plain-text tables.

Self-contained on purpose (no pytest, nothing from tests/), so ``python bench/bench_codec.py`` runs anywhere
the package's dev dependencies are installed.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import time
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")
TIMEOUT = 600.0


# ----------------------------------------------------------------------------- machine and versions

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def core_counts() -> tuple[int, int]:
    """(logical CPUs of the machine, CPUs this process may run on)."""
    total = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    return total, usable


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    exe = os.environ.get("MINICODEC_FFMPEG")
    if exe:
        return exe
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=None)
def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, timeout=60,
                         stdin=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
    m = re.match(r"ffmpeg version (\S+)", out)
    return m.group(1) if m else "unknown"


def x264_version_from_stream(data: bytes) -> str:
    """x264 writes its version into an SEI of every stream: 'x264 - core 165 r3222 b35605a - ...'."""
    m = re.search(rb"x264 - core (\d+)(?: (r\d+)?)?", data)
    if not m:
        return "unknown"
    return "core " + m.group(1).decode() + (" " + m.group(2).decode() if m.group(2) else "")


def package_versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for name in ("numpy", "numba", "minicodec", "imageio-ffmpeg", "scikit-image"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            try:
                mod = __import__(name.replace("-", "_"))
                out[name] = getattr(mod, "__version__", "?")
            except ImportError:
                out[name] = "absent"
    return out


# ----------------------------------------------------------------------------- images

def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample photo (bundled with the wheel), cropped to even sizes (4:2:0 input for both
    codecs on identical planes; libx264 refuses odd sizes)."""
    import skimage.data
    img = np.asarray(getattr(skimage.data, name)())
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[: h - h % 2, : w - w % 2])


def to_planes(img: np.ndarray, rgb_to_yuv420) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB -> (Y, Cb, Cr) with the given conversion; gray -> (gray, 128, 128)."""
    if img.ndim == 2:
        c = np.full((img.shape[0] // 2, img.shape[1] // 2), 128, np.uint8)
        return np.ascontiguousarray(img), c, c.copy()
    return tuple(np.ascontiguousarray(p) for p in rgb_to_yuv420(img))


def planes_bytes(planes, copies: int = 1) -> bytes:
    one = b"".join(np.ascontiguousarray(p).tobytes() for p in planes)
    return one * copies


# ----------------------------------------------------------------------------- FFmpeg

def run_ffmpeg(args, data: bytes = b"", loglevel: str = "error") -> tuple[bytes, float]:
    """Run FFmpeg, return (stdout, wall seconds of the whole process)."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", loglevel, *map(str, args)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=TIMEOUT)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"FFmpeg failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode('utf-8', 'replace')}")
    return p.stdout, dt


X264_RD_PARAMS = "keyint=1:aq-mode=0:threads=1:ipratio=1"


def x264_args(w: int, h: int, qp: int, preset: str, tune: str | None = "psnr",
              params: str = X264_RD_PARAMS) -> list:
    """libx264 Baseline, every picture IDR, one thread. ``ipratio=1``: without it x264's constant-QP mode
    codes I pictures at QP - 3 (QP / ipratio 1.4), so the slice QP would not be the QP in the table."""
    a = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "25", "-i", "-",
         "-c:v", "libx264", "-profile:v", "baseline", "-preset", preset]
    if tune:
        a += ["-tune", tune]
    return a + ["-qp", str(qp), "-threads", "1", "-x264-params", params, "-f", "h264", "-"]


def nal_units(data: bytes) -> list[tuple[int, bytes]]:
    """(nal_unit_type, NAL bytes) of an Annex B stream."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    out = []
    for i, s in enumerate(starts):
        nal = data[s:starts[i + 1] - 3].rstrip(b"\x00") if i + 1 < len(starts) else data[s:]
        if nal:
            out.append((nal[0] & 0x1F, nal))
    return out


def coded_bits(data: bytes) -> int:
    """Bits of the stream without SEI NAL units (x264 writes a ~700-byte SEI carrying its version and
    settings into every stream; minicodec writes none), start codes included."""
    return 8 * sum(4 + len(nal) for t, nal in nal_units(data) if t != 6)


def x264_encode(planes, qp: int, preset: str = "veryslow", copies: int = 1, tune: str | None = "psnr"):
    """-> (Annex B bytes, wall seconds of the FFmpeg process)."""
    h, w = planes[0].shape
    return run_ffmpeg(x264_args(w, h, qp, preset, tune), planes_bytes(planes, copies))


def ffmpeg_decode_timed(data: bytes, decoder: str = "h264") -> float:
    """Wall seconds for FFmpeg to decode ``data`` single-threaded, output discarded."""
    _, dt = run_ffmpeg(["-threads", "1", "-f", "h264", "-c:v", decoder, "-i", "-", "-f", "null", "-"], data)
    return dt


def ffmpeg_decode(data: bytes, decoder: str = "h264") -> list:
    """Decode to a list of (Y, U, V) (through yuv4mpegpipe, which carries the size)."""
    out, _ = run_ffmpeg(["-threads", "1", "-f", "h264", "-c:v", decoder, "-i", "-", "-fps_mode", "passthrough",
                         "-f", "yuv4mpegpipe", "-"], data)
    nl = out.index(b"\n")
    hdr = {t[:1]: t[1:] for t in out[:nl].split()[1:]}
    w, h = int(hdr[b"W"]), int(hdr[b"H"])
    cw, ch = (w + 1) // 2, (h + 1) // 2
    fsz = w * h + 2 * cw * ch
    frames, pos = [], nl + 1
    while pos < len(out):
        s = out.index(b"\n", pos) + 1
        a = np.frombuffer(out, np.uint8, fsz, s)
        frames.append((a[: w * h].reshape(h, w), a[w * h: w * h + cw * ch].reshape(ch, cw),
                       a[w * h + cw * ch:].reshape(ch, cw)))
        pos = s + fsz
    return frames


# ----------------------------------------------------------------------------- measurements

def psnr(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def best_of(fn, repeat: int = 3) -> float:
    """Smallest wall time of ``repeat`` calls of fn() (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bd_rate(rate_a, psnr_a, rate_b, psnr_b) -> float | None:
    """Bjontegaard delta rate of B against A in percent (negative: B needs fewer bits for the same PSNR).
    Cubic fit of log-rate over PSNR, integrated over the overlapping PSNR range; None with < 4 points or no
    overlap."""
    if min(len(rate_a), len(rate_b)) < 4:
        return None
    la, lb = np.log(np.asarray(rate_a, float)), np.log(np.asarray(rate_b, float))
    pa, pb = np.asarray(psnr_a, float), np.asarray(psnr_b, float)
    if not (np.all(np.isfinite(pa)) and np.all(np.isfinite(pb))):
        return None
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if hi <= lo:
        return None
    fa, fb = np.polyint(np.polyfit(pa, la, 3)), np.polyint(np.polyfit(pb, lb, 3))
    avg = ((np.polyval(fb, hi) - np.polyval(fb, lo)) - (np.polyval(fa, hi) - np.polyval(fa, lo))) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)


# ----------------------------------------------------------------------------- tables

def format_table(headers, rows, aligns=None) -> str:
    """Plain-text table; ``aligns`` is a string of 'l'/'r' per column (default: first left, rest right)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    n = len(headers)
    aligns = aligns or ("l" + "r" * (n - 1))
    widths = [max(len(r[i]) for r in cells) for i in range(n)]

    def fmt(r):
        return "  ".join(r[i].ljust(widths[i]) if aligns[i] == "l" else r[i].rjust(widths[i]) for i in range(n))

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def f(x, nd=2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not np.isfinite(x):
        return "inf"
    return f"{x:.{nd}f}"
