"""Differentiable torch twin of :mod:`minicodec.colour`'s decoding path (Y'CbCr 4:2:0 -> RGB).

fprdo takes gradients with respect to the planes the codec codes (Y full size, Cb/Cr ceil(H/2) x ceil(W/2), in
the 0..255 sample scale), so the network must see exactly the picture a decoder would show for those planes:

* chroma upsampling: centre-sited separable bilinear filter (taps 3/4, 1/4, edges clamped), the
  definition of :func:`minicodec.colour.upsample_chroma`;
* BT.601 matrices taken from :mod:`minicodec.colour` itself (limited range for RGB pictures, full range with
  neutral chroma for gray pictures).

Unlike :func:`minicodec.colour.yuv420_to_rgb` nothing is rounded or clipped: the functions here equal minicodec's
float result *before* ``_to_u8`` and are differentiable everywhere. All functions accept leading batch
dimensions (``(..., h, w)`` planes), which is what ``torch.func.vmap`` / batched VJPs need.
"""
from __future__ import annotations

import torch

from minicodec import colour as _mc

__all__ = ["upsample_chroma", "yuv420_to_rgb", "planes_to_model_input", "gray_to_rgb"]


def _up1(c: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Double ``dim`` with the centre-sited bilinear filter and keep the first ``n`` samples."""
    c = c.movedim(dim, 0)
    prev = torch.cat([c[:1], c[:-1]], 0)
    nxt = torch.cat([c[1:], c[-1:]], 0)
    # luma sample 2k sits at chroma coordinate k - 1/4, luma 2k + 1 at k + 1/4
    even = 0.75 * c + 0.25 * prev
    odd = 0.75 * c + 0.25 * nxt
    out = torch.stack([even, odd], 1).reshape((2 * c.shape[0],) + tuple(c.shape[1:]))
    return out[:n].movedim(0, dim)


def upsample_chroma(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Centre-sited bilinear 4:2:0 -> 4:4:4 upsampling of ``(..., h, w)`` to ``(..., height, width)``.

    Same as :func:`minicodec.colour.upsample_chroma` (which needs ``h = ceil(height / 2)``,
    ``w = ceil(width / 2)``)."""
    if c.dim() < 2:
        raise ValueError(f"chroma plane must have at least 2 dimensions, got shape {tuple(c.shape)}")
    return _up1(_up1(c, height, c.dim() - 2), width, c.dim() - 1)


def _matrix(full_range: bool, like: torch.Tensor) -> torch.Tensor:
    m = _mc.YCBCR_TO_RGB_FULL if full_range else _mc.YCBCR_TO_RGB
    return torch.as_tensor(m, dtype=like.dtype, device=like.device)


def yuv420_to_rgb(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, full_range: bool = False) -> torch.Tensor:
    """``(..., H, W)`` Y and ``(..., ceil(H/2), ceil(W/2))`` Cb, Cr -> ``(..., 3, H, W)`` R'G'B' in 0..255.

    Channels first (NCHW-ready). Not rounded or clipped; limited range (BT.601, 16..235 / 16..240) unless
    ``full_range`` (the gray-picture case: Y' is the gray value, chroma neutral at 128)."""
    if y.dim() < 2:
        raise ValueError(f"Y plane must have at least 2 dimensions, got shape {tuple(y.shape)}")
    h, w = y.shape[-2], y.shape[-1]
    ch = ((h + 1) // 2, (w + 1) // 2)
    for c, name in ((cb, "cb"), (cr, "cr")):
        if tuple(c.shape[-2:]) != ch:
            raise ValueError(f"{name} must have spatial shape {ch} for luma {(h, w)}, got {tuple(c.shape[-2:])}")
    if full_range:
        ycc = torch.stack([y, upsample_chroma(cb, h, w) - 128.0, upsample_chroma(cr, h, w) - 128.0], -3)
    else:
        off = torch.as_tensor(_mc.YCBCR_OFFSET, dtype=y.dtype, device=y.device)
        ycc = torch.stack([y - off[0], upsample_chroma(cb, h, w) - off[1], upsample_chroma(cr, h, w) - off[2]], -3)
    m = _matrix(full_range, y)
    # rgb[c] = sum_k m[c, k] * ycc[k]
    return torch.einsum("ck,...khw->...chw", m, ycc)


def gray_to_rgb(y: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` full-range luma with neutral chroma -> ``(..., 3, H, W)`` R'G'B' (how a gray picture
    decodes: :func:`yuv420_to_rgb` with ``full_range=True`` and Cb = Cr = 128)."""
    h, w = y.shape[-2], y.shape[-1]
    c = torch.full(tuple(y.shape[:-2]) + ((h + 1) // 2, (w + 1) // 2), 128.0, dtype=y.dtype, device=y.device)
    return yuv420_to_rgb(y, c, c, full_range=True)


def planes_to_model_input(y, cb=None, cr=None, full_range: bool = False) -> torch.Tensor:
    """Planes in 0..255 -> RGB in [0, 1] as ``(..., 3, H, W)``; ``cb is None`` means a gray picture."""
    if cb is None:
        return gray_to_rgb(y) / 255.0
    return yuv420_to_rgb(y, cb, cr, full_range=full_range) / 255.0
