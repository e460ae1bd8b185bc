"""Shared pytest fixtures for minicodec's tests.

* ``codec``: the ``minicodec`` module, checked to have the API the conformance tests drive (encode, decode,
  decode_frames, BitstreamError, colour.rgb_to_yuv420). A missing API is a failure, never a skip.
* ``ffmpeg``: the FFmpeg executable of imageio-ffmpeg (skips when absent).
* ``conformance_dir``: the folder of the H.264 conformance streams (skips with the path when absent).
"""
import importlib
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# The tests folder is not a package: make ``import oracles`` and ``import minicodec`` work however pytest
# is started (``pytest`` or ``python -m pytest``, from any directory). Appended, so an installed or
# PYTHONPATH copy of minicodec still takes precedence.
for p in (str(TESTS), str(ROOT)):
    if p not in sys.path:
        sys.path.append(p)

import oracles  # noqa: E402

CODEC_API = ("encode", "decode", "decode_frames", "BitstreamError")


def _load_codec():
    """(module, None) or (None, reason)."""
    try:
        mc = importlib.import_module("minicodec")
    except Exception as e:  # noqa: BLE001 - any import failure is reported as the reason
        return None, f"cannot import minicodec: {type(e).__name__}: {e}"
    missing = [name for name in CODEC_API if not hasattr(mc, name)]
    try:
        colour = importlib.import_module("minicodec.colour")
        if not hasattr(colour, "rgb_to_yuv420"):
            missing.append("colour.rgb_to_yuv420")
    except Exception:  # noqa: BLE001
        missing.append("colour")
    if missing:
        return None, "minicodec does not provide " + ", ".join(missing) + " yet"
    return mc, None


def pytest_report_header(config):
    mc, why = _load_codec()
    conf = oracles.conformance_dir()
    return [
        f"ffmpeg: {oracles.ffmpeg_exe() or 'absent'} ({oracles.ffmpeg_version()})",
        f"minicodec: {'API present' if mc else why}",
        f"conformance streams: {conf} ({'present' if conf.is_dir() else 'absent'})",
    ]


@pytest.fixture(scope="session")
def codec():
    mc, why = _load_codec()
    if mc is None:
        pytest.fail(why)
    return mc


@pytest.fixture(scope="session")
def ffmpeg():
    exe = oracles.ffmpeg_exe()
    if exe is None:
        pytest.skip("FFmpeg (imageio-ffmpeg) not available")
    return exe


@pytest.fixture(scope="session")
def conformance_dir():
    d = oracles.conformance_dir()
    if not d.is_dir():
        pytest.skip(f"conformance streams not found at {d} (clone the repo with shared/ beside it, "
                    f"or set MINICODEC_CONFORMANCE)")
    return d
