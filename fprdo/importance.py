r"""Per-sample importance maps for feature-preserving RDO (IDSE-RDO with a diagonal Jacobian sketch).

Reference: S. Fernandez-Menduina, E. Pavez, A. Ortega, "Image Coding for Machines via Feature-Preserving
Rate-Distortion Optimization", IEEE Trans. Multimedia, 2025 (arXiv:2504.02216).

Derivation (short)
------------------
Let x be the vector of coded samples (Y, Cb, Cr planes, 0..255), xhat its reconstruction, e = xhat - x, and f
the network applied to the decoded RGB picture. The paper's *feature distance* distortion is
||f(xhat) - f(x)||^2. Its first-order Taylor expansion at the source ("Taylor's expansion of the feature
extractor" / linearised feature distance) gives the quadratic form

    ||f(x + e) - f(x)||^2  ~=  e^T J^T J e,        J = df/dx at x.

Block-based RDO needs a distortion that is a sum over blocks, so the paper drops the cross-block terms of
J^T J ("input-dependent squared error", IDSE: a block-diagonal approximation). Keeping only the diagonal --
the per-pixel importance simplification -- turns IDSE into a weighted SSE,

    IDSE(e) ~= sum_p w_p e_p^2,      w_p = [J^T J]_pp = ||J[:, p]||^2,

which is exactly what ``minicodec.encode(image, weights=w)`` minimises (sum w (x - xhat)^2 + lambda R).
J (features x samples) is never formed ("Jacobian sketches"): for a random probe v in feature space with
E[v v^T] = I,

    E[(J^T v)_p^2] = sum_ij J_ip J_jp E[v_i v_j] = [J^T J]_pp,

and J^T v is one vector-Jacobian product (one backward pass). Averaging K probes gives an unbiased estimate with
relative standard deviation about sqrt(2/K) per sample for Gaussian probes and less for Rademacher ones (whose
squared entries are exactly 1, so the "diagonal" part of the error vanishes). Finally the paper mixes IDSE
with SSE to keep visual quality; here that is ``tau``: w' = (w + tau) / (1 + tau) after normalisation.

The derivative is taken with respect to the planes the codec codes -- Y (H, W) and Cb, Cr
(ceil(H/2), ceil(W/2)) -- through the same chroma upsampling and BT.601 conversion a decoder applies
(:mod:`fprdo.colour_torch`), at the planes the encoder codes (``minicodec.colour.rgb_to_yuv420(image)``), so
the weights are in the codec's own sample domain and chroma gets its own, network-derived weight.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from minicodec.colour import rgb_to_yuv420

from .colour_adjoint import accumulate_block_forms, accumulate_squared_grads, colour_matrix
from .colour_torch import gray_to_rgb, yuv420_to_rgb

__all__ = ["importance", "block_importance", "postprocess", "postprocess_blocks", "block_terms_from_forms",
           "PROBES"]

PROBES = ("rademacher", "gaussian")
#: Above this many Jacobian entries ``exact=True`` refuses (it forms the full Jacobian).
EXACT_MAX_ENTRIES = 1 << 28
#: With ``vectorize=None`` on CPU, batched (vmapped) VJPs are used up to this many luma samples.
VECTORIZE_MAX_CPU = 10_000


# ----------------------------------------------------------------------------- argument checks

def _check_int(v, name, lo):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    return int(v)


def _check_real(v, name, lo=0.0, allow_inf=False):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    return v


def _check_image(image, name="image"):
    """-> (list of float64 planes, gray). Accepts what minicodec.encode accepts."""
    if isinstance(image, (tuple, list)):
        if len(image) != 3:
            raise ValueError(f"{name} as planes must be a (Y, Cb, Cr) tuple, got {len(image)} items")
        planes = []
        for a, n in zip(image, ("Y", "Cb", "Cr")):
            a = np.asarray(a)
            if a.ndim != 2 or a.size == 0:
                raise ValueError(f"{name} plane {n} must be a non-empty 2-D array, got shape {a.shape}")
            if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) \
                    or a.dtype == np.bool_:
                raise TypeError(f"{name} plane {n} must be a real array, got dtype {a.dtype}")
            planes.append(a.astype(np.float64))
        h, w = planes[0].shape
        ch = ((h + 1) // 2, (w + 1) // 2)
        if planes[1].shape != ch or planes[2].shape != ch:
            raise ValueError(f"{name} chroma planes must be {ch} for luma {(h, w)}, "
                             f"got {planes[1].shape} and {planes[2].shape}")
        return planes, False
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a (Y, Cb, Cr) tuple, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0:
        return [p.astype(np.float64) for p in rgb_to_yuv420(image)], False
    if image.ndim == 2 and image.size > 0:
        return [image.astype(np.float64)], True
    raise ValueError(f"{name} must be a non-empty (H, W, 3) RGB or (H, W) gray array, got shape {image.shape}")


def _check_common(model, stride, dtype, device):
    if not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or a callable, got {type(model).__name__}")
    stride = 1 if stride is None else _check_int(stride, "stride", 1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if device is None:
        device = torch.device("cpu")
        if isinstance(model, torch.nn.Module):
            p = next(iter(model.parameters()), None)
            if p is not None:
                device = p.device
    try:
        device = torch.device(device)
    except (TypeError, RuntimeError) as e:
        raise TypeError(f"device must be a torch.device or a device string, got {device!r}") from e
    return stride, device


def _warn_training(model):
    if not isinstance(model, torch.nn.Module):
        return
    for m in model.modules():
        if m.training and isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.dropout._DropoutNd)):
            warnings.warn(f"model has a {type(m).__name__} layer in training mode; importance maps are meant "
                          "for an inference model (call model.eval() first)", UserWarning, stacklevel=3)
            return


# ----------------------------------------------------------------------------- model -> feature vector

def _flatten_outputs(out, output_weights):
    """Model output (tensor, or list/tuple/dict of tensors, nested allowed) -> one 1-D feature vector.

    Output k is scaled by sqrt(output_weights[k]), so the feature distance is sum_k a_k ||df_k||^2."""
    if isinstance(out, torch.Tensor):
        parts, keys = [out], None
    elif isinstance(out, dict):
        keys = list(out.keys())
        parts = [out[k] for k in keys]
    elif isinstance(out, (list, tuple)):
        parts, keys = list(out), None
    else:
        raise TypeError(f"model must return a tensor or a list/tuple/dict of tensors, got {type(out).__name__}")
    if not parts:
        raise ValueError("model returned no outputs")
    weights = _output_weight_list(output_weights, len(parts), keys)
    flat = []
    for i, (p, a) in enumerate(zip(parts, weights)):
        v = _flatten_one(p, f"output {keys[i]!r}" if keys else f"output {i}")
        if a != 1.0:
            v = v * math.sqrt(a)
        flat.append(v)
    return flat[0] if len(flat) == 1 else torch.cat(flat)


def _flatten_one(p, where):
    if isinstance(p, torch.Tensor):
        if not p.is_floating_point():
            raise TypeError(f"model {where} must be a floating-point tensor, got dtype {p.dtype}")
        return p.reshape(-1)
    if isinstance(p, dict):
        p = list(p.values())
    if isinstance(p, (list, tuple)) and p:
        return torch.cat([_flatten_one(q, where) for q in p])
    raise TypeError(f"model {where} must be a tensor (or a non-empty list/tuple/dict of tensors), "
                    f"got {type(p).__name__}")


def _output_weight_list(ow, n, keys):
    if ow is None:
        return [1.0] * n
    if isinstance(ow, dict):
        if keys is None:
            raise TypeError("output_weights is a dict but the model does not return a dict")
        if set(ow) != set(keys):
            raise ValueError(f"output_weights keys {sorted(map(str, ow))} do not match the model's outputs "
                             f"{sorted(map(str, keys))}")
        vals = [ow[k] for k in keys]
    elif isinstance(ow, numbers.Real) and n == 1:
        vals = [ow]
    else:
        try:
            vals = list(ow)
        except TypeError:
            raise TypeError(f"output_weights must be a sequence or dict of non-negative numbers, "
                            f"got {type(ow).__name__}") from None
        if len(vals) != n:
            raise ValueError(f"output_weights has {len(vals)} entries but the model returns {n} outputs")
    return [_check_real(v, "output_weights entries") for v in vals]


def _pad_to_stride(x, stride):
    h, w = x.shape[-2], x.shape[-1]
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def _planes_to_input(planes, gray):
    """Plane tensors (0..255) -> (1, 3, H, W) RGB in [0, 1] (not rounded or clipped)."""
    rgb = gray_to_rgb(planes[0]) if gray else yuv420_to_rgb(*planes)
    return (rgb / 255.0).unsqueeze(0)


def _model_features(model, x, stride, output_weights):
    """(1, 3, H, W) input -> padded to the stride -> model -> flat feature vector."""
    return _flatten_outputs(model(_pad_to_stride(x, stride)), output_weights)


def _as_model_input(img, name, dtype, device):
    """RGB uint8 (H, W, 3) -> /255; gray uint8 (H, W) and (Y, Cb, Cr) planes -> through the decoder's colour
    path. -> (1, 3, H, W) tensor."""
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 \
            and img.shape[0] > 0 and img.shape[1] > 0:
        x = torch.as_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)), device=device).to(dtype) / 255.0
        return x.unsqueeze(0)
    if isinstance(img, np.ndarray) and img.ndim == 2:
        if img.dtype != np.uint8:
            raise TypeError(f"{name} as a gray image must have dtype uint8, got {img.dtype}")
        if img.size == 0:
            raise ValueError(f"{name} is empty (shape {img.shape})")
        planes, gray = [img.astype(np.float64)], True
    elif isinstance(img, (tuple, list)):
        planes, gray = _check_image(img, name)
    else:
        _check_image(img, name)  # raises the right error
        raise AssertionError("unreachable")
    t = [torch.as_tensor(p, device=device).to(dtype) for p in planes]
    return _planes_to_input(t, gray)


# ----------------------------------------------------------------------------- probes and VJPs

def _probe(seed, k, n, kind):
    """Probe k of length n, from a generator seeded by (seed, k): independent of batching."""
    rng = np.random.default_rng([seed, k])
    if kind == "rademacher":
        return rng.integers(0, 2, size=n, dtype=np.int8).astype(np.float32) * 2.0 - 1.0
    return rng.standard_normal(n)


def _vjps(feats, inputs, V, state):
    """Rows of V (B, n) -> list (per input) of (B, *input.shape) vector-Jacobian products J^T v."""
    if state["vectorize"] and V.shape[0] > 1:
        try:
            g = torch.autograd.grad(feats, inputs, V, retain_graph=True, allow_unused=True,
                                    is_grads_batched=True)
            return [torch.zeros((V.shape[0],) + tuple(x.shape), dtype=x.dtype, device=x.device) if gi is None
                    else gi for gi, x in zip(g, inputs)]
        except RuntimeError:
            state["vectorize"] = False  # an op without a batching rule: one backward pass per probe from now on
    rows = []
    for v in V:
        g = torch.autograd.grad(feats, inputs, v, retain_graph=True, allow_unused=True)
        rows.append([torch.zeros_like(x) if gi is None else gi for gi, x in zip(g, inputs)])
    return [torch.stack([r[i] for r in rows]) for i in range(len(inputs))]


def _sketch(prefix, head, inputs, gray, probes, seed, kind, batch, vectorize, forms=False):
    """Mean over probes of (J^T v)^2 on each plane, J = d head(prefix(planes)) / d planes; with ``forms`` also
    the mean of g_b g_b^T over the 4x4 blocks b of each plane (g = J^T v), the sketch of IDSE's block-diagonal
    of J^T J: returns (diagonal maps, block forms or None).

    Each probe is back-propagated through the network (``head``) only, to the model input; the prefix
    (planes -> model input) is linear and fixed, and its transpose is applied with the squaring in one
    Numba pass (:mod:`fprdo.colour_adjoint`)."""
    with torch.no_grad():
        x = prefix(*inputs)
    x_leaf = x.detach().requires_grad_(True)
    feats = head(x_leaf)
    n = feats.numel()
    acc = [np.zeros(tuple(xi.shape)) for xi in inputs]
    F = [np.zeros((-(-xi.shape[0] // 4), -(-xi.shape[1] // 4), 16, 16)) for xi in inputs] if forms else None
    if not feats.requires_grad:  # the features do not depend on the picture at all
        return acc, F
    m = colour_matrix(gray)
    acc_c = acc[1:] if not gray else [np.zeros((1, 1)), np.zeros((1, 1))]
    F_c = (F[1:] if not gray else [np.zeros((1, 1, 16, 16))] * 2) if forms else None
    state = {"vectorize": vectorize}
    for start in range(0, probes, batch):
        ks = range(start, min(start + batch, probes))
        V = torch.as_tensor(np.stack([_probe(seed, k, n, kind) for k in ks]), device=feats.device).to(feats.dtype)
        if state["vectorize"] and V.shape[0] > 1:
            blocks = [_vjps(feats, [x_leaf], V, state)[0]]  # (B, 1, 3, Hp, Wp), one batched backward pass
        else:  # one backward pass per probe, each gradient folded in at once (no (B, ...) stack to copy)
            blocks = (torch.autograd.grad(feats, x_leaf, v, retain_graph=True, allow_unused=True)[0] for v in V)
        for G in blocks:
            if G is None:  # the features depend on parameters, not on the picture: nothing to add
                continue
            G = G.detach().to("cpu")
            if G.dtype not in (torch.float32, torch.float64):  # e.g. half precision: NumPy / Numba need these
                G = G.to(torch.float64)
            G = np.ascontiguousarray(G.numpy().reshape((-1,) + tuple(x.shape[1:])))  # (B or 1, 3, Hp, Wp)
            accumulate_squared_grads(G, m, gray, acc[0], acc_c[0], acc_c[1])
            if forms:
                accumulate_block_forms(G, m, gray, F[0], F_c[0], F_c[1], acc[0].shape[0], acc[0].shape[1])
    return [a / probes for a in acc], ([f / probes for f in F] if forms else None)


def _exact(fn, inputs, forms=False):
    """The exact diagonal of J^T J per plane from the full Jacobian (and, with ``forms``, its 4x4 block forms)."""
    with torch.no_grad():
        n = fn(*inputs).numel()
    total = n * sum(x.numel() for x in inputs)
    if total > EXACT_MAX_ENTRIES:
        raise ValueError(f"exact=True would form a {n} x {sum(x.numel() for x in inputs)} Jacobian; "
                         "use the sketch (exact=False) for inputs this large")
    try:
        J = torch.autograd.functional.jacobian(fn, tuple(inputs), vectorize=True)
    except RuntimeError:
        J = torch.autograd.functional.jacobian(fn, tuple(inputs), vectorize=False)
    J = [j.detach().to("cpu", torch.float64).reshape((n,) + tuple(x.shape)).numpy() for j, x in zip(J, inputs)]
    diag = [(j ** 2).sum(0) for j in J]
    if not forms:
        return diag, None
    F = []
    for j in J:
        h, w = j.shape[1:]
        nby, nbx = -(-h // 4), -(-w // 4)
        jp = np.zeros((n, 4 * nby, 4 * nbx))
        jp[:, :h, :w] = j
        g = jp.reshape(n, nby, 4, nbx, 4).transpose(1, 3, 0, 2, 4).reshape(nby, nbx, n, 16)
        F.append(np.einsum("yxki,yxkj->yxij", g, g))
    return diag, F


# ----------------------------------------------------------------------------- post-processing

def postprocess(maps, normalize=True, clip_percentile=99.5, smooth=0.0, tau=0.0, tau_chroma=None, chroma_gain=1.0):
    """Post-process raw diagonal maps (a tuple of planes, or one plane), in this order:

    1. ``smooth``: Gaussian filter of that sigma (in samples of each plane, edges replicated), per plane;
       reduces sketch noise. 0 = off.
    2. ``clip_percentile``: clip above that percentile of all samples (Y, Cb, Cr pooled). None or 100 = off.
    3. ``normalize``: divide by the mean over all coded samples (Y, Cb, Cr pooled, each sample counted once),
       so the weights average 1 (SSE's scale, so the codec's lambda keeps its meaning) while the luma/chroma
       balance the network implies is kept. A map that is zero everywhere becomes all ones (with a warning).
    4. ``tau``: SSE/IDSE mix w' = (w + tau) / (1 + tau); 0 = pure IDSE, inf = plain SSE (all ones).
       ``tau_chroma`` (None: the same as ``tau``) is the mix of the chroma planes (every plane after the
       first), and ``chroma_gain`` multiplies them afterwards (1: the balance the network implies). Only
       luma enters PSNR-Y: trusting the network on chroma (tau_chroma 0, gain 1) and mixing SSE into luma
       (tau 5) is :func:`importance`'s default (bench/fprdo_experiment.py).

    Returns float64 arrays in the same structure (tuple or single array)."""
    out, _ = _postprocess(maps, normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain)
    return out


def _postprocess(maps, normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain):
    """:func:`postprocess`, and per plane the factor its IDSE part was scaled by (normalisation, mix, gain:
    w' = factor * w + constant), which block terms take as well."""
    single = isinstance(maps, np.ndarray)
    planes = [np.array(m, dtype=np.float64) for m in ([maps] if single else maps)]
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    if clip_percentile is not None:
        clip_percentile = _check_real(clip_percentile, "clip_percentile")
        if not 0.0 < clip_percentile <= 100.0:
            raise ValueError(f"clip_percentile must be in (0, 100] or None, got {clip_percentile}")
    smooth = _check_real(smooth, "smooth")
    tau = _check_real(tau, "tau", allow_inf=True)
    tau_chroma = tau if tau_chroma is None else _check_real(tau_chroma, "tau_chroma", allow_inf=True)
    chroma_gain = _check_real(chroma_gain, "chroma_gain")
    for p in planes:
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("importance maps must be finite and non-negative")

    if smooth > 0:
        from scipy.ndimage import gaussian_filter
        planes = [gaussian_filter(p, smooth, mode="nearest") for p in planes]
    if clip_percentile is not None and clip_percentile < 100.0:
        cap = np.percentile(np.concatenate([p.ravel() for p in planes]), clip_percentile)
        planes = [np.minimum(p, cap) for p in planes]
    scale = 1.0
    if normalize:
        total = sum(p.sum() for p in planes)
        count = sum(p.size for p in planes)
        if total > 0:
            scale = count / total
            planes = [p * scale for p in planes]
        else:
            scale = 0.0
            warnings.warn("importance map is zero everywhere (the features do not depend on the picture); "
                          "returning uniform weights", RuntimeWarning, stacklevel=2)
            planes = [np.ones_like(p) for p in planes]
    mixed = []
    factors = []
    for k, p in enumerate(planes):
        t = tau if k == 0 else tau_chroma
        f = scale
        if t > 0:
            p = np.ones_like(p) if math.isinf(t) else (p + t) / (1.0 + t)
            f = 0.0 if math.isinf(t) else f / (1.0 + t)
        mixed.append(p * chroma_gain if k > 0 else p)
        factors.append(f * chroma_gain if k > 0 else f)
    planes = [np.ascontiguousarray(p) for p in mixed]
    return (planes[0] if single else tuple(planes)), factors


def block_terms_from_forms(forms, rank):
    """Block terms for ``minicodec.encode(..., block_terms=...)`` from block forms M_b (blocks down, blocks
    across, 16, 16), symmetric positive semi-definite: the rows sqrt(lambda_i) u_i of the ``rank`` largest
    eigenpairs, so Q_b^T Q_b is the best rank-``rank`` approximation of M_b and its diagonal never exceeds
    M_b's (the remainder M_b - Q_b^T Q_b is positive semi-definite). -> (blocks down, blocks across, rank, 16)."""
    rank = _check_int(rank, "rank", 1)
    if rank > 16:
        raise ValueError(f"rank must be <= 16 (a 4x4 block has 16 samples), got {rank}")
    lam, u = np.linalg.eigh(forms)  # ascending eigenvalues, eigenvectors in the columns
    lam = np.maximum(lam[..., ::-1][..., :rank], 0.0)
    u = u[..., ::-1][..., :rank]
    return np.ascontiguousarray(np.sqrt(lam)[..., None] * np.swapaxes(u, -1, -2))


def _fit_terms(q, w):
    """Zero the terms on samples outside the plane (a partial last row / column of blocks: the encoder ignores
    them) and scale each block's vectors so that sum_i q_ip^2 <= w_p at every sample of the plane (what
    clipping or smoothing the diagonal may have broken): the form diag(w) + Q^T Q - diag(Q^T Q) stays positive
    semi-definite."""
    nby, nbx = q.shape[:2]
    wp = np.full((4 * nby, 4 * nbx), np.inf)  # outside the plane: no constraint
    wp[:w.shape[0], :w.shape[1]] = w
    wb = wp.reshape(nby, 4, nbx, 4).transpose(0, 2, 1, 3).reshape(nby, nbx, 16)
    q = np.where(np.isinf(wb)[:, :, None, :], 0.0, q)
    c = (q * q).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(c > wb, wb / np.where(c > 0, c, 1.0), 1.0)
    f = ratio.min(axis=-1)
    f = np.where(f < 1.0, f * (1.0 - 1e-12), 1.0)  # a hair inside, against rounding in the encoder's check
    return np.ascontiguousarray(q * np.sqrt(f)[..., None, None])


def postprocess_blocks(maps, terms, normalize=True, clip_percentile=99.5, smooth=0.0, tau=0.0, tau_chroma=None,
                       chroma_gain=1.0):
    """:func:`postprocess` for a block quadratic form: raw diagonal ``maps`` and raw block terms ``terms`` (the
    same structure, tuple or single array; :func:`block_terms_from_forms`). The maps are post-processed as
    :func:`postprocess` does; the terms are scaled by the square root of what multiplied the IDSE part of
    their plane (normalisation, 1 / (1 + tau), the chroma gain), then shrunk per block where clipping or
    smoothing lowered the diagonal below them. Returns (weights, block terms) for ``minicodec.encode``."""
    single = isinstance(maps, np.ndarray)
    if single != isinstance(terms, np.ndarray) or (not single and len(terms) != len(maps)):
        raise ValueError("terms must have the structure of maps (one array each, or tuples of the same length)")
    w, factors = _postprocess(maps, normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain)
    ws = [w] if single else list(w)
    qs = [terms] if single else list(terms)
    out = []
    for q, wk, f in zip(qs, ws, factors):
        q = np.asarray(q, np.float64)
        if q.ndim != 4 or q.shape[3] != 16 or q.shape[:2] != (-(-wk.shape[0] // 4), -(-wk.shape[1] // 4)):
            raise ValueError(f"block terms of a {wk.shape} plane must have shape (ceil(h/4), ceil(w/4), rank, 16), "
                             f"got {q.shape}")
        out.append(_fit_terms(q * math.sqrt(f), wk))
    return (w, out[0]) if single else (w, tuple(out))


# ----------------------------------------------------------------------------- public API

def _raw_sketch(image, model, probes, seed, probe, batch, vectorize, exact, stride, output_weights, device, dtype,
                post, forms):
    """Checks, then the raw diagonal maps (and block forms when ``forms``): -> (maps, forms or None, gray).
    ``post``: the post-processing options, checked before the (expensive) backward passes."""
    planes, gray = _check_image(image)
    probes = _check_int(probes, "probes", 1)
    seed = _check_int(seed, "seed", 0)
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    batch = _check_int(batch, "batch", 1)
    if not isinstance(exact, (bool, np.bool_)):
        raise TypeError(f"exact must be a bool, got {type(exact).__name__}")
    if vectorize is not None and not isinstance(vectorize, (bool, np.bool_)):
        raise TypeError(f"vectorize must be None or a bool, got {type(vectorize).__name__}")
    stride, device = _check_common(model, stride, dtype, device)
    if vectorize is None:
        vectorize = device.type != "cpu" or planes[0].size <= VECTORIZE_MAX_CPU
    # validate post-processing options before the (expensive) backward passes
    postprocess([np.zeros((1, 1)) + 1.0], *post)
    _warn_training(model)

    def prefix(*xs):  # planes -> the padded model input: linear, the same for every probe
        return _pad_to_stride(_planes_to_input(xs, gray), stride)

    def head(x):  # the network and the flattening of its outputs
        return _flatten_outputs(model(x), output_weights)

    def fn(*xs):
        return head(prefix(*xs))

    with torch.inference_mode(False), torch.enable_grad():
        inputs = [torch.as_tensor(p, device=device).to(dtype).requires_grad_(True) for p in planes]
        if exact:
            raw, F = _exact(fn, inputs, forms)
        else:
            raw, F = _sketch(prefix, head, inputs, gray, probes, seed, probe, batch, bool(vectorize), forms)
    return raw, F, gray


def importance(image, model, probes=64, seed=0, *, probe="rademacher", batch=16, vectorize=None, exact=False,
               stride=32, output_weights=None, device=None, dtype=torch.float32,
               normalize=True, clip_percentile=99.5, smooth=0.0, tau=5.0, tau_chroma=0.0, chroma_gain=1.0):
    """Importance weights w_p ~ [J^T J]_pp for ``minicodec.encode(image, weights=w)`` (IDSE-RDO).

    image    (H, W, 3) uint8 RGB, (H, W) uint8 gray, or a (Y, Cb, Cr) tuple of planes (as minicodec.encode
             takes). RGB is converted with ``minicodec.colour.rgb_to_yuv420`` -- the planes the encoder codes --
             and the Jacobian is evaluated there.
    model    torch.nn.Module or callable: (1, 3, H', W') RGB tensor in [0, 1] (``dtype``, on ``device``) ->
             a tensor, or a list/tuple/dict of tensors (multi-scale features); all outputs are flattened and
             concatenated (dicts in insertion order) into the feature vector f. Put it in eval() mode; it is
             never trained or modified (gradients are taken w.r.t. the input planes only, parameters' .grad is
             untouched). Works when called under ``torch.no_grad()``.
    probes   number of random probes K (>= 1); cost is one forward and K backward passes.
    seed     probe k is drawn from a generator seeded by (seed, k): results do not depend on ``batch``.

    Options (defaults are starting points; the bench may retune them):
    probe="rademacher"   or "gaussian": distribution of the probe entries (both have E[v v^T] = I).
    batch=16             probes drawn and back-propagated per chunk (bounds the memory of the probe block).
    vectorize=None       True: one batched VJP per chunk (``autograd.grad(..., is_grads_batched=True)``, i.e.
                         vmap over the backward pass); False: one backward pass per probe on the retained
                         graph. None (auto): True on accelerators; on CPU True only for pictures of at most
                         VECTORIZE_MAX_CPU = 10^4 luma samples: on CPU the vmapped backward beats the loop on
                         tiny inputs (per-call overhead) and measured up to 2x slower on photo-sized ones.
                         A model whose ops have no batching rule falls back to the loop automatically. The
                         result does not depend on this or ``batch`` (up to floating-point rounding).
    exact=False          True: the exact diag(J^T J) from the full Jacobian (tiny inputs only; ignores probes).
    stride=32            replicate-pad the RGB input bottom/right to a multiple of this (None or 1: no padding);
                         features are computed on the padded picture, and gradients reaching the padding flow
                         back to the edge samples it copies.
    output_weights=None  per-output weights a_k (sequence, or dict for dict outputs): the feature distance is
                         sum_k a_k ||f_k(x) - f_k(xhat)||^2 (each output is scaled by sqrt(a_k)).
    device=None          where the input is placed (default: the model's first parameter's device, else CPU).
    dtype=torch.float32  input dtype (use torch.float64 with a double model for exact checks).
    normalize=True       scale to mean 1 over all coded samples (Y, Cb, Cr pooled), keeping the luma/chroma
                         balance the network implies (before the mixes and the chroma gain).
    clip_percentile=99.5 clip above this percentile (pooled), before normalising; None or 100: off.
    smooth=0.0           Gaussian smoothing sigma in samples of each plane (0: off), before clipping.
    tau=5.0              SSE/IDSE mix of luma after normalisation, w' = (w + tau) / (1 + tau): 0 pure IDSE,
                         inf SSE.
    tau_chroma=0.0       the same mix for the chroma planes (None: tau), then times chroma_gain=1.0.
                         Defaults from bench/fprdo_experiment.py (MTCNN, encode(..., effort="full"), 21 QPs):
                         chroma keeps the network's own balance (pure IDSE, gain 1: it wants chroma, Cr above
                         all), and tau 5 bought the most feature PSNR within +1 % PSNR-Y BD-rate on astronaut
                         (-17.8 % with aq="weights", at +0.95 %). At effort "medium", where chroma modes are
                         ranked by SATD, chroma_gain=2 bought more. Gray pictures have no chroma map.
    Returns (wY, wCb, wCr) float64 arrays -- Y (H, W), chroma (ceil(H/2), ceil(W/2)) -- for RGB or plane
    input; a single (H, W) float64 array for gray input (gray pictures are coded as full-range luma with
    neutral chroma, which carries no information, so only luma is weighted). See :func:`postprocess` to
    re-post-process raw maps (``normalize=False, clip_percentile=None, tau=0, tau_chroma=0, chroma_gain=1``)
    without recomputing them.
    """
    raw, _, gray = _raw_sketch(image, model, probes, seed, probe, batch, vectorize, exact, stride, output_weights,
                               device, dtype, (normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain), False)
    out = postprocess(raw, normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain)
    return out[0] if gray else out


#: block_importance's defaults. Rank 4: on astronaut and hopper (MTCNN, 64 probes) the 4 leading eigenvalues
#: hold 98 % of the trace of a luma block's form (1: 70 %, 2: 89 %) and 92-95 % of a chroma block's. tau and
#: chroma_gain: importance()'s balance carried over, not tuned again. The block form weighs a typical coding
#: error about twice as much as its diagonal does (the Taylor check of bench/fprdo_experiment.py: 18.3 against
#: 8.0, the true feature distance 17.4), so twice the luma tau (10 for 5) and half the chroma gain (1/2 for 1)
#: keep the diagonal's ratios of IDSE to SSE and of chroma to luma.
BLOCK_RANK = 4
BLOCK_TAU = 10.0
BLOCK_CHROMA_GAIN = 0.5


def block_importance(image, model, probes=64, seed=0, *, rank=BLOCK_RANK, probe="rademacher", batch=16,
                     vectorize=None, exact=False, stride=32, output_weights=None, device=None, dtype=torch.float32,
                     normalize=True, clip_percentile=99.5, smooth=0.0, tau=BLOCK_TAU, tau_chroma=0.0,
                     chroma_gain=BLOCK_CHROMA_GAIN):
    """The paper's block-local IDSE for ``minicodec.encode(image, weights=w, block_terms=q)``: returns (w, q).

    IDSE keeps the 4x4 blocks of J^T J on its diagonal, M_b = E[g_b g_b^T] with g = J^T v, not only their
    diagonals: a network that looks at a downscaled picture (MTCNN's pyramid) cares about an error's
    low-frequency part in a block far more than about its pattern, which per-sample weights cannot say. The
    sketch accumulates each block's 16 x 16 outer products over the probes (the same probes and backward
    passes as :func:`importance`); the weights w are their diagonals (exactly what :func:`importance` returns
    with the same options) and q the ``rank`` leading eigenvectors of each block's form, scaled
    (:func:`block_terms_from_forms`), which give the encoder the cross terms. Post-processing as in
    :func:`postprocess_blocks`. Arguments and options as :func:`importance`, plus ``rank`` (1..16); the
    defaults of ``rank``, ``tau`` and ``chroma_gain`` differ (BLOCK_RANK, BLOCK_TAU, BLOCK_CHROMA_GAIN: the
    diagonal's balance for a form that weighs errors about twice as much). Gray pictures: (w, q) of luma alone.
    Costs about one extra pass over the gradients per probe and an eigendecomposition per block."""
    post = (normalize, clip_percentile, smooth, tau, tau_chroma, chroma_gain)
    rank = _check_int(rank, "rank", 1)
    if rank > 16:
        raise ValueError(f"rank must be <= 16 (a 4x4 block has 16 samples), got {rank}")
    raw, F, gray = _raw_sketch(image, model, probes, seed, probe, batch, vectorize, exact, stride, output_weights,
                               device, dtype, post, True)
    terms = [block_terms_from_forms(f, rank) for f in F]
    if gray:
        return postprocess_blocks(raw[0], terms[0], *post)
    return postprocess_blocks(tuple(raw), tuple(terms), *post)
