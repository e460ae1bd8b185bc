"""Independent oracles for minicodec's tests: FFmpeg (native h264 and libopenh264 decoders, libx264 and
libopenh264 encoders), FFmpeg's own syntax tracer, framemd5 checksums, PSNR, sample photos, and a tiny
lossless I_PCM H.264 writer.

Nothing here imports minicodec: every helper is an oracle that the codec is compared against.

FFmpeg is the static binary shipped inside the ``imageio-ffmpeg`` wheel (``$MINICODEC_FFMPEG`` overrides
it). It is always run with ``-nostdin -hide_banner`` and ``-loglevel error`` (``info``/``debug`` only where
a log is the product: the syntax tracer and the macroblock-type dump), data goes through stdin/stdout
pipes (no temp files), and every call has a timeout.

Decoded pictures come back through the yuv4mpegpipe muxer rather than headerless rawvideo: its header
names the width, height and chroma format of what the decoder actually produced (i.e. after the SPS
frame cropping), so no size has to be guessed; a size given by the caller is checked against it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:  # pytest is only needed for the markers; the helpers themselves also work without it.
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

DEFAULT_TIMEOUT = 120.0
FFMPEG_BASE = ("-nostdin", "-hide_banner", "-loglevel", "error")


# --------------------------------------------------------------------------------------------------
# Locating FFmpeg and what it can do
# --------------------------------------------------------------------------------------------------

class FFmpegError(RuntimeError):
    """FFmpeg failed, timed out, or (in strict mode) reported an error while decoding."""


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str | None:
    """Path of the FFmpeg binary (``$MINICODEC_FFMPEG`` overrides imageio-ffmpeg's), or None."""
    exe = os.environ.get("MINICODEC_FFMPEG")
    if exe:
        return exe if Path(exe).exists() else None
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return None
    return exe if exe and Path(exe).exists() else None


def have_ffmpeg() -> bool:
    return ffmpeg_exe() is not None


@functools.lru_cache(maxsize=None)
def _codec_list(kind: str) -> frozenset:
    exe = ffmpeg_exe()
    if exe is None:
        return frozenset()
    try:
        out = subprocess.run([exe, *FFMPEG_BASE, f"-{kind}"], capture_output=True, timeout=60,
                             stdin=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # " V....D h264   H.264 / AVC ..." -- capability flags then the name
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


def have_decoder(name: str) -> bool:
    return name in _codec_list("decoders")


def have_encoder(name: str) -> bool:
    return name in _codec_list("encoders")


@functools.lru_cache(maxsize=None)
def ffmpeg_version() -> str:
    exe = ffmpeg_exe()
    if exe is None:
        return "absent"
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, timeout=60,
                         stdin=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
    first = out.splitlines()[0] if out else ""
    m = re.match(r"ffmpeg version (\S+)", first)
    return m.group(1) if m else first


if pytest is not None:
    skip_if_no_ffmpeg = pytest.mark.skipif(not have_ffmpeg(), reason="FFmpeg (imageio-ffmpeg) not available")
    skip_if_no_x264 = pytest.mark.skipif(not have_encoder("libx264"),
                                         reason="this FFmpeg build has no libx264 encoder")
    skip_if_no_openh264_dec = pytest.mark.skipif(not have_decoder("libopenh264"),
                                                 reason="this FFmpeg build has no libopenh264 decoder")
    skip_if_no_openh264_enc = pytest.mark.skipif(not have_encoder("libopenh264"),
                                                 reason="this FFmpeg build has no libopenh264 encoder")


def run_ffmpeg(args, data: bytes = b"", timeout: float | None = DEFAULT_TIMEOUT, loglevel="error"):
    """Run FFmpeg with ``args`` (after the fixed prefix), ``data`` on stdin; return (stdout, stderr).

    Raises FFmpegError on a non-zero exit or a timeout, with FFmpeg's own messages.
    """
    exe = ffmpeg_exe()
    if exe is None:
        raise FFmpegError("FFmpeg is not available")
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", loglevel, *[str(a) for a in args]]
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise FFmpegError(f"FFmpeg timed out after {timeout}s: {' '.join(cmd)}") from e
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise FFmpegError(f"FFmpeg exited with {proc.returncode}: {' '.join(cmd)}\n{err}")
    return proc.stdout, err


# --------------------------------------------------------------------------------------------------
# Planes and frames
# --------------------------------------------------------------------------------------------------

def chroma_shape(h: int, w: int) -> tuple[int, int]:
    """4:2:0 chroma plane size for an (h, w) luma plane (FFmpeg's and minicodec's rounding: ceil)."""
    return (h + 1) // 2, (w + 1) // 2


def check_planes(planes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one (Y, U, V) 4:2:0 picture and return it as C-contiguous uint8 arrays."""
    if len(planes) != 3:
        raise ValueError(f"expected a (Y, U, V) tuple, got {len(planes)} items")
    y, u, v = (np.ascontiguousarray(p) for p in planes)
    for p in (y, u, v):
        if p.dtype != np.uint8 or p.ndim != 2:
            raise ValueError(f"planes must be 2-D uint8, got {p.dtype} {p.shape}")
    if u.shape != chroma_shape(*y.shape) or v.shape != u.shape:
        raise ValueError(f"chroma {u.shape}/{v.shape} does not fit luma {y.shape} in 4:2:0")
    return y, u, v


def as_frames(frames) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One (Y, U, V) picture or a sequence of them -> list of validated pictures of one size."""
    if len(frames) == 3 and isinstance(frames[0], np.ndarray) and frames[0].ndim == 2:
        frames = [frames]
    out = [check_planes(f) for f in frames]
    if not out:
        raise ValueError("no frames")
    if any(f[0].shape != out[0][0].shape for f in out):
        raise ValueError("all frames of a stream must have the same size")
    return out


def frames_to_bytes(frames) -> bytes:
    """Raw yuv420p: Y then U then V of each frame, as FFmpeg's rawvideo demuxer and framemd5 expect."""
    return b"".join(p.tobytes() for f in as_frames(frames) for p in f)


def rgb_to_yuv420_ref(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference BT.601 limited-range RGB -> YUV 4:2:0 (float maths, 2x2 box chroma, edges replicated).

    Only used to feed the oracle encoders and as a loose cross-check; it is deliberately written
    independently of minicodec.colour. A 2-D (gray) image becomes Y = image, U = V = 128.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        h, w = image.shape
        ch, cw = chroma_shape(h, w)
        return (np.ascontiguousarray(image, np.uint8), np.full((ch, cw), 128, np.uint8),
                np.full((ch, cw), 128, np.uint8))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB, got {image.shape}")
    rgb = image.astype(np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape
    ph, pw = h + (h & 1), w + (w & 1)

    def down(c):
        c = np.pad(c, ((0, ph - h), (0, pw - w)), mode="edge")
        return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) / 4.0

    def q(x):
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)

    return q(y), q(down(cb)), q(down(cr))


def crop(image: np.ndarray, h: int, w: int, y0: int | None = None, x0: int | None = None) -> np.ndarray:
    """An (h, w) window of ``image`` (default: centred), copied and C-contiguous."""
    H, W = image.shape[:2]
    if h > H or w > W:
        raise ValueError(f"cannot crop {h}x{w} out of {H}x{W}")
    y0 = (H - h) // 2 if y0 is None else y0
    x0 = (W - w) // 2 if x0 is None else x0
    return np.array(image[y0:y0 + h, x0:x0 + w], order="C", copy=True)


def crop_planes(planes, h: int, w: int):
    """The top-left (h, w) luma window of a 4:2:0 picture and the matching chroma."""
    y, u, v = planes
    ch, cw = chroma_shape(h, w)
    return y[:h, :w], u[:ch, :cw], v[:ch, :cw]


def synthetic_planes(kind: str, h: int, w: int, seed: int = 0):
    """Test pictures that stress particular paths: "noise" (large coefficients, CAVLC escapes),
    "flat" (all-zero residual), "gradient" (smooth, DC/plane prediction), "stripes" (high frequency)."""
    ch, cw = chroma_shape(h, w)
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return (rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (ch, cw), dtype=np.uint8),
                rng.integers(0, 256, (ch, cw), dtype=np.uint8))
    if kind == "flat":
        return (np.full((h, w), 16 + seed % 220, np.uint8), np.full((ch, cw), 128, np.uint8),
                np.full((ch, cw), 90, np.uint8))
    if kind == "gradient":
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx = np.mgrid[0:ch, 0:cw]
        return ((16 + (yy * 3 + xx * 2) % 220).astype(np.uint8), (64 + (cx * 4) % 128).astype(np.uint8),
                (64 + (cy * 4) % 128).astype(np.uint8))
    if kind == "stripes":
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx = np.mgrid[0:ch, 0:cw]
        return (np.where((xx // 1 + yy // 3) % 2, 235, 16).astype(np.uint8),
                np.where(cx % 2, 240, 16).astype(np.uint8), np.where(cy % 2, 16, 240).astype(np.uint8))
    raise ValueError(kind)


def photo_frames(n: int, h: int, w: int, names=None, step=(7, 11)) -> list:
    """``n`` distinct (Y, U, V) pictures of size (h, w), cut from the sample photos at shifting offsets
    (so a dropped, duplicated or reordered frame cannot go unnoticed). h and w may be any size that
    fits in the photos."""
    imgs = sample_images()
    names = list(names or ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera"])
    out = []
    for k in range(n):
        img = imgs[names[k % len(names)]]
        H, W = img.shape[:2]
        y0 = min(H - h, (k * step[0] * 5) % max(1, H - h + 1))
        x0 = min(W - w, (k * step[1] * 3) % max(1, W - w + 1))
        out.append(rgb_to_yuv420_ref(crop(img, h, w, y0, x0)))
    return out


def mixed_frames(h: int, w: int, n: int = 4, seed: int = 0) -> list:
    """A short sequence mixing photos and synthetic pictures: photo, noise, photo, gradient, ..."""
    photos = photo_frames(max(1, (n + 1) // 2), h, w)
    kinds = ["noise", "gradient", "stripes", "flat"]
    out = []
    for k in range(n):
        out.append(photos[k // 2] if k % 2 == 0 else synthetic_planes(kinds[(k // 2) % len(kinds)], h, w, seed + k))
    return out


# --------------------------------------------------------------------------------------------------
# YUV4MPEG2 parsing
# --------------------------------------------------------------------------------------------------

_Y4M_420 = {None, "420", "420jpeg", "420mpeg2", "420paldv"}


def parse_y4m(buf: bytes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split a yuv4mpegpipe stream of 8-bit 4:2:0 pictures into (Y, U, V) arrays (copies)."""
    nl = buf.find(b"\n")
    if not buf.startswith(b"YUV4MPEG2 ") or nl < 0:
        raise FFmpegError(f"not a YUV4MPEG2 stream: {buf[:40]!r}")
    params = {}
    for tok in buf[10:nl].decode("ascii").split():
        params.setdefault(tok[0], tok[1:])
    w, h = int(params["W"]), int(params["H"])
    cs = params.get("C")
    if cs not in _Y4M_420:
        raise FFmpegError(f"decoder produced colourspace C{cs}, not 8-bit 4:2:0")
    ch, cw = chroma_shape(h, w)
    ysz, csz = h * w, ch * cw
    fsz = ysz + 2 * csz
    frames = []
    pos = nl + 1
    while pos < len(buf):
        if not buf.startswith(b"FRAME", pos):
            raise FFmpegError(f"bad YUV4MPEG2 frame header at byte {pos}")
        e = buf.find(b"\n", pos)
        if e < 0:
            raise FFmpegError("truncated YUV4MPEG2 frame header")
        s = e + 1
        if s + fsz > len(buf):
            raise FFmpegError("truncated YUV4MPEG2 frame")
        a = np.frombuffer(buf, np.uint8, fsz, s)
        frames.append((a[:ysz].reshape(h, w).copy(), a[ysz:ysz + csz].reshape(ch, cw).copy(),
                       a[ysz + csz:].reshape(ch, cw).copy()))
        pos = s + fsz
    return frames


# --------------------------------------------------------------------------------------------------
# Decoding with FFmpeg
# --------------------------------------------------------------------------------------------------

DECODERS = ("h264", "libopenh264")


def ffmpeg_decode(data: bytes, decoder: str = "h264", width: int | None = None, height: int | None = None,
                  *, strict: bool = True, expected_frames: int | None = None,
                  timeout: float | None = DEFAULT_TIMEOUT) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Decode an Annex B H.264 stream with FFmpeg's ``decoder`` ("h264" = FFmpeg's native decoder, or
    "libopenh264"); return every output picture in output order as (Y, U, V) uint8 arrays.

    * The picture size is read from the decoder's output (yuv4mpegpipe header), i.e. after the SPS
      cropping; ``width``/``height``, when given, must match it.
    * ``-threads 1`` (no frame threading), ``-fps_mode passthrough`` (no frame dropped or duplicated to
      fit a frame rate), ``-flags unaligned`` (cropping never rounded to alignment), no pixel format
      conversion (a non-4:2:0 output is an error, never silently converted).
    * ``strict``: anything the decoder logs at level "error" (concealment, corrupt slices, ...) raises
      FFmpegError, so error concealment cannot make a broken stream look right.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    args = ["-threads", "1", "-flags", "unaligned", "-f", "h264", "-c:v", decoder, "-i", "-",
            "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "yuv4mpegpipe", "-"]
    out, err = run_ffmpeg(args, bytes(data), timeout)
    if strict and err.strip():
        raise FFmpegError(f"{decoder} reported errors while decoding:\n{err}")
    frames = parse_y4m(out) if out else []
    if frames:
        h, w = frames[0][0].shape
        if (width is not None and width != w) or (height is not None and height != h):
            raise FFmpegError(f"{decoder} output is {w}x{h}, expected {width}x{height}")
    if expected_frames is not None and len(frames) != expected_frames:
        raise FFmpegError(f"{decoder} output {len(frames)} pictures, expected {expected_frames}")
    return frames


_MB_ROW = re.compile(r"^\[h264 @ (0x[0-9a-fA-F]+)\] (.*)$")
_MB_TABLE_ROW = re.compile(r"^\s*(\d+) (\S.*)$")   # "  16 I  i  P  " (the column header row has no letter)
MB_TYPES_ATTEMPTS = 4


class GarbledLogError(FFmpegError):
    """FFmpeg's ``-debug mb_type`` log could not be read back: a message from another thread landed inside
    a table (FFmpeg prints each macroblock of a row with its own av_log call)."""


def ffmpeg_mb_types(data: bytes, timeout: float | None = DEFAULT_TIMEOUT,
                    attempts: int = MB_TYPES_ATTEMPTS) -> list[np.ndarray]:
    """Macroblock types as FFmpeg's native decoder parsed them (``-debug mb_type``), one (mb rows, mb cols)
    array of single characters per picture: 'i' Intra4x4, 'I' Intra16x16, 'P' I_PCM (other letters for
    inter types). Only the last decoder instance is read (FFmpeg also decodes while probing), and of it only
    as many pictures as FFmpeg output: the main decoder can be allocated where the probing one was, and
    then both print under one address.

    FFmpeg's other threads log while the decoder prints, and a table row is many av_log calls, so a row can
    come out cut or with foreign text inside; :func:`parse_mb_types` detects that and FFmpeg is run again,
    up to ``attempts`` times, before GarbledLogError is raised."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(attempts):
        _, err = run_ffmpeg(["-threads", "1", "-debug", "mb_type", "-f", "h264", "-i", "-", "-map", "0:v:0",
                             "-f", "null", "-"], bytes(data), timeout, loglevel="repeat+debug")
        try:
            return parse_mb_types(err)
        except GarbledLogError:
            if attempt == attempts - 1:
                raise


def _check_row(content: str, addr: str, y: int) -> None:
    """A table row is one "%c%c%c" per macroblock: type letter, segmentation ('+', '-', '|' or ' '),
    interlace ('=' or ' ')."""
    if len(content) % 3 or any(content[k] == " " or content[k + 1] not in "+-| " or content[k + 2] not in "= "
                               for k in range(0, len(content), 3)):
        raise GarbledLogError(f"mb_type row {y} of decoder {addr} is garbled: {content!r}")


def parse_mb_types(err: str) -> list[np.ndarray]:
    """The tables of :func:`ffmpeg_mb_types` from FFmpeg's log ``err``.

    A table is the run of rows 0, 16, 32, ... printed under one decoder address; a row numbered 0 starts
    the next picture, so a lost "New frame" line costs nothing. Raises GarbledLogError when the log cannot
    be trusted: a row cut or mixed with other text, rows out of sequence, tables of different sizes, or
    fewer tables than the pictures FFmpeg reported."""
    tables: list[tuple[str, list[str]]] = []   # (decoder address, row contents)
    open_table: dict[str, list[str]] = {}      # address -> its table being filled
    for line in err.splitlines():
        m = _MB_ROW.match(line)
        if not m:
            continue
        addr, body = m.groups()
        row = _MB_TABLE_ROW.match(body)
        if not row:
            continue   # "New frame", the column header, or the decoder's other messages
        y, content = int(row.group(1)), row.group(2)
        _check_row(content, addr, y)
        if y == 0:
            open_table[addr] = []
            tables.append((addr, open_table[addr]))
        rows = open_table.get(addr)
        if rows is None or y != 16 * len(rows):
            raise GarbledLogError(f"mb_type row {y} of decoder {addr} is out of sequence")
        rows.append(content)
    if not tables:
        return []
    last = tables[-1][0]
    mine = [rows for addr, rows in tables if addr == last]
    if len({len(rows) for rows in mine}) != 1 or len({len(r) for rows in mine for r in rows}) != 1:
        raise GarbledLogError(f"decoder {last} printed tables or rows of different sizes (some were cut)")
    out = [np.array([[r[k] for k in range(0, len(r), 3)] for r in rows]) for rows in mine]
    counts = re.findall(r"frame=\s*(\d+)", err)   # the final progress line: pictures output
    if counts:
        n = int(counts[-1])
        if n > len(out):
            raise GarbledLogError(f"FFmpeg output {n} pictures but only {len(out)} tables were read")
        if 0 < n < len(out):
            out = out[-n:]
    return out


# --------------------------------------------------------------------------------------------------
# Encoding with FFmpeg (libx264, libopenh264)
# --------------------------------------------------------------------------------------------------

def _raw_input_args(frames):
    h, w = frames[0][0].shape
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "25", "-i", "-"]


def x264_encode(planes, qp: int | None = 28, preset: str = "veryslow", deblock: bool = True,
                extra_params: str = "", *, tune: str | None = None, crf: float | None = None,
                profile: str = "baseline", keyint: int = 1, timeout: float | None = DEFAULT_TIMEOUT) -> bytes:
    """libx264 Annex B stream of one picture or a list of pictures ((Y, U, V) yuv420p, even sizes only:
    x264 refuses odd ones). Baseline profile, every picture an IDR (keyint=1), single thread.

    qp: constant QP (``-qp``, with ipratio=1 so that the I slices really use it); or qp=None and ``crf`` for rate control with per-MB QP changes
    (mb_qp_delta, via adaptive quantisation). ``extra_params`` is appended to -x264-params
    (e.g. "slices=4", "deblock=-2,1"; a "deblock=a,b" given here enables the filter with offsets).
    """
    frames = as_frames(planes)
    h, w = frames[0][0].shape
    if h % 2 or w % 2:
        raise ValueError(f"libx264 needs even sizes for yuv420p, got {w}x{h}")
    params = [f"keyint={keyint}", "threads=1"]
    if qp is not None:
        params.append("ipratio=1")  # else x264's CQP codes I pictures at qp - 6*log2(1.4), i.e. qp - 3
    params.append("deblock=1" if deblock else "no-deblock=1")   # explicit: ultrafast turns it off
    if extra_params:
        params.append(extra_params.strip(":"))
    args = _raw_input_args(frames) + ["-c:v", "libx264", "-profile:v", profile, "-preset", preset]
    if tune:
        args += ["-tune", tune]
    if qp is not None:
        args += ["-qp", str(int(qp))]
    elif crf is not None:
        args += ["-crf", str(crf)]
    else:
        raise ValueError("give qp or crf")
    args += ["-threads", "1", "-x264-params", ":".join(params), "-f", "h264", "-"]
    out, _ = run_ffmpeg(args, frames_to_bytes(frames), timeout)
    if not out:
        raise FFmpegError("libx264 produced no output")
    return out


def openh264_encode(planes, qp: int = 26, deblock: bool = True, *, max_nal_size: int | None = None,
                    timeout: float | None = DEFAULT_TIMEOUT) -> bytes:
    """libopenh264 (Constrained Baseline, CAVLC) Annex B stream, every picture an IDR (``-g 1``).

    qp pins the slice QP (qmin = qmax, quality rate-control mode); libopenh264 only accepts about
    20..51 this way. ``max_nal_size`` (bytes) makes it cut pictures into several slices. libopenh264
    silently rounds odd sizes down, so only even sizes are accepted here.
    """
    frames = as_frames(planes)
    h, w = frames[0][0].shape
    if h % 2 or w % 2:
        raise ValueError(f"libopenh264 is only used with even sizes here, got {w}x{h}")
    if not 20 <= qp <= 51:
        raise ValueError("libopenh264 only pins QPs in 20..51")
    args = _raw_input_args(frames) + ["-c:v", "libopenh264", "-profile:v", "constrained_baseline",
                                      "-coder", "cavlc", "-g", "1", "-rc_mode", "quality",
                                      "-qmin", str(qp), "-qmax", str(qp), "-allow_skip_frames", "0",
                                      "-loopfilter", "1" if deblock else "0"]
    if max_nal_size:
        args += ["-max_nal_size", str(int(max_nal_size))]
    args += ["-f", "h264", "-"]
    out, _ = run_ffmpeg(args, frames_to_bytes(frames), timeout)
    if not out:
        raise FFmpegError("libopenh264 produced no output")
    return out


# --------------------------------------------------------------------------------------------------
# Stream structure: NAL units and FFmpeg's syntax tracer
# --------------------------------------------------------------------------------------------------

def nal_units(data: bytes) -> list[tuple[int, bytes]]:
    """Split an Annex B byte stream into (nal_unit_type, NAL bytes incl. header, escaped)."""
    data = bytes(data)
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    out = []
    for i, s in enumerate(starts):
        e = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[s:e]
        if i + 1 < len(starts):
            nal = nal.rstrip(b"\x00")  # the zero_byte of the next 4-byte start code / trailing zeros
        if nal:
            out.append((nal[0] & 0x1F, nal))
    return out


@dataclass
class SyntaxUnit:
    """One NAL unit as FFmpeg's trace_headers bitstream filter reports it."""
    kind: str                       # "Sequence Parameter Set", "Slice Header", ...
    packet: int                     # index of the access unit (picture) it belongs to
    fields: list = field(default_factory=list)   # [(name, value), ...] in bitstream order

    def get(self, name, default=None):
        for n, v in self.fields:
            if n == name:
                return v
        return default


_TRACE_FIELD = re.compile(r"^\[trace_headers @ [^\]]*\]\s+\d+\s+(\S+)\s+[01]*\s*=\s*(-?\d+)\s*$")
_TRACE_KIND = re.compile(r"^\[trace_headers @ [^\]]*\]\s+([A-Za-z][A-Za-z0-9 ,/()-]*?)\s*$")


def trace_syntax(data: bytes, timeout: float | None = DEFAULT_TIMEOUT) -> list[SyntaxUnit]:
    """Parse the stream's parameter sets and slice headers with FFmpeg's own (CBS) syntax reader."""
    _, err = run_ffmpeg(["-f", "h264", "-i", "-", "-map", "0:v:0", "-c", "copy", "-bsf:v", "trace_headers",
                         "-f", "null", "-"], bytes(data), timeout, loglevel="info")
    units: list[SyntaxUnit] = []
    packet = -1
    for line in err.splitlines():
        if not line.startswith("[trace_headers"):
            continue
        body = line.split("]", 1)[1].strip()
        if body.startswith("Packet:"):
            packet += 1
            continue
        if packet < 0:  # extradata copy of the parameter sets
            continue
        m = _TRACE_FIELD.match(line)
        if m:
            if units:
                units[-1].fields.append((m.group(1), int(m.group(2))))
            continue
        m = _TRACE_KIND.match(line)
        if m:
            units.append(SyntaxUnit(m.group(1), packet))
    return units


@dataclass
class StreamSummary:
    width: int
    height: int
    profile_idc: int
    constraint_set_flags: tuple
    entropy_coding_mode_flag: int
    num_slice_groups_minus1: int
    chroma_qp_index_offset: int
    pictures: int
    slices_per_picture: list
    slice_types: set
    nal_types: set
    slice_qps: list                  # 26 + pic_init_qp_minus26 + slice_qp_delta, per slice
    disable_deblocking: list         # disable_deblocking_filter_idc per slice (0 when not sent)
    deblock_offsets: set             # {(alpha_c0_offset_div2, beta_offset_div2)}

    @property
    def intra_only(self) -> bool:
        return self.slice_types <= {2, 7} and self.nal_types <= {1, 5, 6, 7, 8, 9, 10, 11, 12}

    @property
    def constrained_baseline(self) -> bool:
        return (self.profile_idc == 66 and self.constraint_set_flags[1] == 1 and self.entropy_coding_mode_flag == 0
                and self.num_slice_groups_minus1 == 0)


def stream_summary(data: bytes) -> StreamSummary:
    """Facts about a stream from FFmpeg's syntax tracer (independent of any decoder under test)."""
    units = trace_syntax(data)
    sps = next((u for u in units if u.kind == "Sequence Parameter Set"), None)
    pps = next((u for u in units if u.kind == "Picture Parameter Set"), None)
    if sps is None or pps is None:
        raise FFmpegError("no SPS/PPS found in stream")
    wmb, hmb = sps.get("pic_width_in_mbs_minus1") + 1, sps.get("pic_height_in_map_units_minus1") + 1
    w, h = 16 * wmb, 16 * hmb
    if sps.get("frame_cropping_flag"):
        w -= 2 * (sps.get("frame_crop_left_offset") + sps.get("frame_crop_right_offset"))
        h -= 2 * (sps.get("frame_crop_top_offset") + sps.get("frame_crop_bottom_offset"))
    slices = [u for u in units if u.kind == "Slice Header"]
    per_pic: dict[int, int] = {}
    for s in slices:
        per_pic[s.packet] = per_pic.get(s.packet, 0) + 1
    init_qp = 26 + pps.get("pic_init_qp_minus26", 0)
    return StreamSummary(
        width=w, height=h, profile_idc=sps.get("profile_idc"),
        constraint_set_flags=tuple(sps.get(f"constraint_set{i}_flag", 0) for i in range(6)),
        entropy_coding_mode_flag=pps.get("entropy_coding_mode_flag"),
        num_slice_groups_minus1=pps.get("num_slice_groups_minus1"),
        chroma_qp_index_offset=pps.get("chroma_qp_index_offset"),
        pictures=len(per_pic), slices_per_picture=[per_pic[k] for k in sorted(per_pic)],
        slice_types={s.get("slice_type") for s in slices},
        nal_types={t for t, _ in nal_units(data)},
        slice_qps=[init_qp + s.get("slice_qp_delta", 0) for s in slices],
        disable_deblocking=[s.get("disable_deblocking_filter_idc", 0) for s in slices],
        deblock_offsets={(s.get("slice_alpha_c0_offset_div2", 0), s.get("slice_beta_offset_div2", 0))
                         for s in slices},
    )


# --------------------------------------------------------------------------------------------------
# A tiny lossless H.264 writer (every macroblock I_PCM)
# --------------------------------------------------------------------------------------------------

class _Bits:
    def __init__(self):
        self.bits: list[int] = []

    def u(self, n, v):
        self.bits.extend((v >> (n - 1 - i)) & 1 for i in range(n))

    def ue(self, v):
        v += 1
        n = v.bit_length()
        self.u(n - 1, 0)
        self.u(n, v)

    def se(self, v):
        self.ue(2 * v - 1 if v > 0 else -2 * v)

    def align_zero(self):
        while len(self.bits) % 8:
            self.bits.append(0)

    def raw_bytes(self, b: bytes):
        assert len(self.bits) % 8 == 0
        for byte in b:
            self.u(8, byte)

    def trailing(self):
        self.bits.append(1)
        self.align_zero()

    def rbsp(self) -> bytes:
        a = np.packbits(np.array(self.bits, np.uint8)) if self.bits else np.zeros(0, np.uint8)
        return a.tobytes()


def escape_rbsp(rbsp: bytes) -> bytes:
    """Insert emulation_prevention_three_byte (7.4.1): never 00 00 0x (x <= 3) inside a NAL unit."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _nal(ref_idc, nal_type, rbsp: bytes) -> bytes:
    return b"\x00\x00\x00\x01" + bytes([(ref_idc << 5) | nal_type]) + escape_rbsp(rbsp)


def pcm_stream(frames, slices: int = 1, deblock: bool = False) -> bytes:
    """A Constrained Baseline stream coding each picture losslessly with I_PCM macroblocks only.

    Any size (odd ones are padded by edge replication to a multiple of 16 and cropped by the SPS to the
    next even size, which is what any decoder then outputs). ``slices`` slices per picture. ``deblock``
    only sets disable_deblocking_filter_idc to 0: I_PCM macroblocks filter with QP 0, where alpha is 0, so
    the output must still be the input exactly. Used to test
    the FFmpeg helpers (decoding must return the input exactly) and as one more independent stream.
    """
    frames = as_frames(frames)
    h, w = frames[0][0].shape
    wmb, hmb = -(-w // 16), -(-h // 16)
    oh, ow = h + (h & 1), w + (w & 1)
    sps = _Bits()
    sps.u(8, 66)
    sps.u(8, 0b11000000)  # constraint_set0 and 1: Constrained Baseline
    sps.u(8, 40)
    sps.ue(0)             # seq_parameter_set_id
    sps.ue(0)             # log2_max_frame_num_minus4
    sps.ue(2)             # pic_order_cnt_type
    sps.ue(1)             # max_num_ref_frames
    sps.u(1, 0)           # gaps_in_frame_num_value_allowed_flag
    sps.ue(wmb - 1)
    sps.ue(hmb - 1)
    sps.u(1, 1)           # frame_mbs_only_flag
    sps.u(1, 1)           # direct_8x8_inference_flag
    crop_r, crop_b = (16 * wmb - ow) // 2, (16 * hmb - oh) // 2
    if crop_r or crop_b:
        sps.u(1, 1)
        for v in (0, crop_r, 0, crop_b):
            sps.ue(v)
    else:
        sps.u(1, 0)
    sps.u(1, 0)           # vui_parameters_present_flag
    sps.trailing()
    pps = _Bits()
    pps.ue(0)
    pps.ue(0)
    pps.u(1, 0)           # entropy_coding_mode_flag: CAVLC
    pps.u(1, 0)
    pps.ue(0)             # num_slice_groups_minus1
    pps.ue(0)
    pps.ue(0)
    pps.u(1, 0)
    pps.u(2, 0)
    pps.se(0)             # pic_init_qp_minus26
    pps.se(0)
    pps.se(0)             # chroma_qp_index_offset
    pps.u(1, 1)           # deblocking_filter_control_present_flag
    pps.u(1, 0)
    pps.u(1, 0)
    pps.trailing()
    out = [_nal(3, 7, sps.rbsp()), _nal(3, 8, pps.rbsp())]
    n_mbs = wmb * hmb
    slices = max(1, min(int(slices), n_mbs))
    bounds = [n_mbs * k // slices for k in range(slices + 1)]
    for idx, planes in enumerate(frames):
        y, u, v = (np.pad(p, ((0, 16 * hmb // d - p.shape[0]), (0, 16 * wmb // d - p.shape[1])), mode="edge")
                   for p, d in zip(planes, (1, 2, 2)))
        for s in range(slices):
            b = _Bits()
            b.ue(bounds[s])   # first_mb_in_slice
            b.ue(7)           # slice_type: I (all slices of the picture)
            b.ue(0)           # pic_parameter_set_id
            b.u(4, 0)         # frame_num
            b.ue(idx % 2)     # idr_pic_id: differs between consecutive IDR pictures
            b.u(1, 0)         # no_output_of_prior_pics_flag
            b.u(1, 0)         # long_term_reference_flag
            b.se(0)           # slice_qp_delta
            b.ue(0 if deblock else 1)   # disable_deblocking_filter_idc
            if deblock:
                b.se(0)       # slice_alpha_c0_offset_div2
                b.se(0)       # slice_beta_offset_div2
            for mb in range(bounds[s], bounds[s + 1]):
                my, mx = divmod(mb, wmb)
                b.ue(25)      # mb_type I_PCM
                b.align_zero()
                b.raw_bytes(y[16 * my:16 * my + 16, 16 * mx:16 * mx + 16].tobytes())
                b.raw_bytes(u[8 * my:8 * my + 8, 8 * mx:8 * mx + 8].tobytes())
                b.raw_bytes(v[8 * my:8 * my + 8, 8 * mx:8 * mx + 8].tobytes())
            b.trailing()
            out.append(_nal(3, 5, b.rbsp()))
    return b"".join(out)


def pad_to_output(planes):
    """What a decoder outputs for a picture coded from ``planes``: sizes rounded up to even by edge
    replication (the SPS crops in units of 2 in 4:2:0)."""
    y, u, v = check_planes(planes)
    h, w = y.shape
    oh, ow = h + (h & 1), w + (w & 1)
    ch, cw = chroma_shape(oh, ow)
    return (np.pad(y, ((0, oh - h), (0, ow - w)), mode="edge"),
            np.pad(u, ((0, ch - u.shape[0]), (0, cw - u.shape[1])), mode="edge"),
            np.pad(v, ((0, ch - v.shape[0]), (0, cw - v.shape[1])), mode="edge"))


# --------------------------------------------------------------------------------------------------
# Checksums, comparisons, metrics
# --------------------------------------------------------------------------------------------------

def frame_md5(planes) -> str:
    """MD5 of one picture as FFmpeg's framemd5 muxer computes it for yuv420p: Y, then U, then V bytes."""
    h = hashlib.md5()
    for p in check_planes(planes):
        h.update(p.tobytes())
    return h.hexdigest()


def framemd5(frames) -> list[str]:
    """framemd5 hashes of a sequence of (Y, U, V) pictures (one (Y, U, V) tuple is also accepted)."""
    return [frame_md5(f) for f in as_frames(frames)]


@dataclass(frozen=True)
class FrameMD5Entry:
    stream: int
    dts: int
    pts: int
    duration: int
    size: int
    md5: str


def read_framemd5(path) -> list[FrameMD5Entry]:
    """Parse an FFmpeg ``.framemd5`` file: '#' lines are comments; data lines are
    ``stream, dts, pts, duration, size, hash`` (the hash may carry an ``MD5=`` prefix in old versions)."""
    entries = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 6:
            raise ValueError(f"{path}:{lineno}: expected 6 comma-separated fields, got {line!r}")
        md5 = parts[5].lower().removeprefix("md5=")
        if not re.fullmatch(r"[0-9a-f]{32}", md5):
            raise ValueError(f"{path}:{lineno}: bad MD5 {parts[5]!r}")
        entries.append(FrameMD5Entry(int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]),
                                     int(parts[4]), md5))
    return entries


def psnr(a, b, peak: float = 255.0) -> float:
    """PSNR in dB between two same-shaped arrays; inf when identical."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2)) if a.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def describe_mismatch(actual, expected, names=("Y", "U", "V")) -> str:
    """Human-readable difference between two (Y, U, V) pictures ('' when bit-exact): which planes, how
    many samples, the first differing sample and its macroblock, so a failure points at the bug."""
    if len(actual) != len(expected):
        return f"{len(actual)} planes vs {len(expected)}"
    msgs = []
    for name, a, e, mbs in zip(names, actual, expected, (16, 8, 8)):
        a = np.asarray(a)
        e = np.asarray(e)
        if a.shape != e.shape:
            msgs.append(f"{name}: shape {a.shape} != expected {e.shape}")
            continue
        if a.dtype != e.dtype and not np.array_equal(a, e):
            msgs.append(f"{name}: dtype {a.dtype} vs {e.dtype}")
        diff = a.astype(np.int32) - e.astype(np.int32)
        bad = np.argwhere(diff != 0)
        if len(bad):
            r, c = bad[0]
            bad_mbs = {(int(y) // mbs, int(x) // mbs) for y, x in bad}
            msgs.append(f"{name}: {len(bad)}/{a.size} samples differ in {len(bad_mbs)} MBs, max |d|="
                        f"{int(np.abs(diff).max())}; first at row {r} col {c} (MB row {r // mbs} col {c // mbs}):"
                        f" got {int(a[r, c])} expected {int(e[r, c])}")
    return "; ".join(msgs)


def assert_planes_equal(actual, expected, what: str = ""):
    msg = describe_mismatch(actual, expected)
    assert not msg, f"{what}: {msg}" if what else msg


def assert_sequences_equal(actual, expected, what: str = ""):
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} pictures, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_planes_equal(a, e, f"{what} picture {i}")


# --------------------------------------------------------------------------------------------------
# Sample photos and conformance streams
# --------------------------------------------------------------------------------------------------

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")

# name -> (source photo, height, width, top, left); top/left None = centred
CROPS = {
    "astronaut_300x451": ("astronaut", 300, 451, None, None),
    "camera_300x451": ("camera", 300, 451, None, None),
    "coffee_1x1": ("coffee", 1, 1, 200, 300),
    "camera_1x1": ("camera", 1, 1, 100, 250),
    "rocket_17x33": ("rocket", 17, 33, 200, 300),
    "camera_17x33": ("camera", 17, 33, 150, 200),
    "astronaut_37x53": ("astronaut", 37, 53, 60, 190),
    "chelsea_48x64": ("chelsea", 48, 64, 110, 200),
    "coffee_64x80": ("coffee", 64, 80, 140, 250),
    "immunohistochemistry_48x64": ("immunohistochemistry", 48, 64, 200, 200),
    "camera_64x80": ("camera", 64, 80, 60, 220),
}


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import skimage.data
    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype != np.uint8:
        raise TypeError(f"skimage.data.{name} is {img.dtype}")
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


def sample_image(name: str) -> np.ndarray:
    """One sample picture (a fresh writable copy): a photo name from PHOTOS or a crop from CROPS."""
    if name in CROPS:
        src, h, w, y0, x0 = CROPS[name]
        return crop(_photo(src), h, w, y0, x0)
    if name in PHOTOS:
        return _photo(name).copy()
    raise KeyError(name)


def sample_images(names=None) -> dict[str, np.ndarray]:
    """Named photos bundled with scikit-image (no download): astronaut 512x512, chelsea 300x451,
    coffee 400x600, rocket 427x640, immunohistochemistry 512x512 (RGB), camera 512x512 (gray), plus crops
    to awkward sizes (300x451, 1x1, 17x33, 37x53) and small crops for mode-forcing tests."""
    names = list(PHOTOS) + list(CROPS) if names is None else list(names)
    return {n: sample_image(n) for n in names}


def conformance_dir() -> Path:
    """Folder of the conformance streams: $MINICODEC_CONFORMANCE, else ``shared/conformance`` beside the
    repository (``<repo>/../shared/conformance``)."""
    env = os.environ.get("MINICODEC_CONFORMANCE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "conformance"


def conformance_streams() -> list[Path]:
    """Every stream in the conformance folder that has a ``.framemd5`` beside it, sorted by name."""
    d = conformance_dir()
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix != ".framemd5" and p.suffix != ".md"
                  and Path(str(p) + ".framemd5").is_file())


# --------------------------------------------------------------------------------------------------
# Covering designs for parameter grids
# --------------------------------------------------------------------------------------------------

def pairwise(axes: dict) -> list[dict]:
    """A deterministic strength-2 covering array: every pair of values of any two axes appears in at
    least one row (greedy, AETG-style). Values need not be hashable."""
    names = list(axes)
    sizes = [len(axes[n]) for n in names]
    if any(s == 0 for s in sizes):
        raise ValueError("empty axis")
    k = len(names)
    if k == 1:
        return [{names[0]: v} for v in axes[names[0]]]
    uncovered = {(a, i, b, j) for a in range(k) for b in range(a + 1, k)
                 for i in range(sizes[a]) for j in range(sizes[b])}
    use = [[0] * s for s in sizes]
    rows = []
    while uncovered:
        a, i, b, j = min(uncovered)
        row = [None] * k
        row[a], row[b] = i, j
        for c in range(k):
            if row[c] is not None:
                continue
            best, best_key = 0, None
            for v in range(sizes[c]):
                gain = sum(1 for d in range(k) if row[d] is not None and
                           ((min(c, d), v if c < d else row[d], max(c, d), row[d] if c < d else v) in uncovered))
                key = (-gain, use[c][v], v)
                if best_key is None or key < best_key:
                    best, best_key = v, key
            row[c] = best
        for x in range(k):
            use[x][row[x]] += 1
            for y in range(x + 1, k):
                uncovered.discard((x, row[x], y, row[y]))
        rows.append(row)
    return [{names[c]: axes[names[c]][r[c]] for c in range(k)} for r in rows]


def covering(primary: str, axes: dict) -> list[dict]:
    """Rows in which every value of axis ``primary`` appears at least once and every pair of values of
    the other axes appears at least once: pairwise rows of the other axes, cycled to the length needed,
    with the primary values dealt out in turn."""
    others = {n: v for n, v in axes.items() if n != primary}
    base = pairwise(others) if others else [{}]
    n = max(len(base), len(axes[primary]))
    prim = list(axes[primary])
    return [{primary: prim[r % len(prim)], **base[r % len(base)]} for r in range(n)]


def full_product(axes: dict) -> list[dict]:
    import itertools
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]
