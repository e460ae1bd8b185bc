"""minicodec: a real H.264 intra image codec (Constrained Baseline, I slices, CAVLC) in Python + Numba.

    enc = minicodec.encode(img, qp=28, weights=None)   # -> Encoded (.data, .recon, .bits, stats)
    img2 = minicodec.decode(enc.data)                    # any H.264 decoder gives the same picture
"""
from .decoder import decode, decode_frames
from .encoder.encode import Encoded, encode
from .errors import BitstreamError

__all__ = ["encode", "decode", "decode_frames", "Encoded", "BitstreamError"]
__version__ = "0.1.0"
