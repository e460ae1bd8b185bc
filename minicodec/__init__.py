"""minicodec: a real H.264 intra image codec (Constrained Baseline, I slices, CAVLC) in Python + Numba.

    enc = minicodec.encode(img, qp=28, weights=None)   # -> Encoded (.data, .recon, .bits, stats)
    img2 = minicodec.decode(enc.data)                    # any H.264 decoder gives the same picture
"""
from . import _jitcache

_jitcache.refresh()  # before any kernel is loaded: drop cached kernels compiled from older sources

from .decoder import decode, decode_frames  # noqa: E402
from .encoder.encode import Encoded, encode  # noqa: E402
from .errors import BitstreamError  # noqa: E402

__all__ = ["encode", "decode", "decode_frames", "Encoded", "BitstreamError"]
__version__ = "0.1.0"
