"""Evaluation metrics for fprdo: feature distance / feature PSNR of a network, and Bjontegaard deltas.

* :func:`feature_distance` ``||f(a) - f(b)||^2`` -- the distortion IDSE approximates.
* :func:`feature_psnr` ``10 log10(mean(f(ref)^2) / mean((f(ref) - f(test))^2))`` (see its docstring).
* :func:`bd_rate` / :func:`bd_metric`: Bjontegaard delta rate (VCEG-M33) and delta metric, with the classic
  cubic polynomial fit or piecewise cubic Hermite interpolation (PCHIP), as the common modern implementations
  do (more stable than the cubic fit for unevenly spaced points).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["feature_distance", "feature_psnr", "bd_rate", "bd_metric"]


# ----------------------------------------------------------------------------- feature metrics

def _features_of(model, img, name, stride, output_weights, device, dtype):
    import torch

    from .importance import _as_model_input, _check_common, _model_features

    stride, device = _check_common(model, stride, dtype, device)
    with torch.no_grad():
        x = _as_model_input(img, name, dtype, device)
        return x.shape[-2:], _model_features(model, x, stride, output_weights).to(torch.float64)


def _feature_pair(model, a, b, stride, output_weights, device, dtype):
    import torch
    dtype = torch.float32 if dtype is None else dtype
    sa, fa = _features_of(model, a, "a", stride, output_weights, device, dtype)
    sb, fb = _features_of(model, b, "b", stride, output_weights, device, dtype)
    if sa != sb:
        raise ValueError(f"the two images differ in size: {tuple(sa)} and {tuple(sb)}")
    if fa.shape != fb.shape:
        raise ValueError(f"the model returned {fa.numel()} and {fb.numel()} features for the two images")
    return fa, fb


def feature_distance(model, a, b, stride=32, *, output_weights=None, device=None, dtype=None):
    """``||f(a) - f(b)||^2`` summed over all of the model's outputs (as a Python float), under no_grad.

    ``a`` and ``b``: (H, W, 3) uint8 RGB (fed as ``img / 255``), (H, W) uint8 gray, or (Y, Cb, Cr) plane tuples
    (any real dtype, 0..255 scale; converted to RGB with the decoder's colour path, :mod:`fprdo.colour_torch`,
    without rounding or clipping). The model, padding (``stride``), ``output_weights``, ``device`` and ``dtype``
    (default float32) are handled exactly as in :func:`fprdo.importance`, so for a small perturbation e of the
    planes, ``feature_distance(model, planes, planes + e) ~= sum_p w_p e_p^2`` with the unnormalised weights.
    """
    fa, fb = _feature_pair(model, a, b, stride, output_weights, device, dtype)
    return float(((fa - fb) ** 2).sum())


def feature_psnr(model, ref, test, stride=32, *, output_weights=None, device=None, dtype=None):
    """Feature PSNR in dB: ``10 * log10(max_energy / mse)`` where ``mse`` is the mean squared feature error
    ``mean((f(ref) - f(test))^2)`` and ``max_energy`` the mean squared feature of the reference
    ``mean(f(ref)^2)`` (means over all entries of the concatenated feature vector). Equivalently
    ``10 log10(||f(ref)||^2 / ||f(ref) - f(test)||^2)``, a feature signal-to-noise ratio; +inf when the
    features are identical. Images and options as in :func:`feature_distance`."""
    fa, fb = _feature_pair(model, ref, test, stride, output_weights, device, dtype)
    mse = float(((fa - fb) ** 2).mean())
    energy = float((fa ** 2).mean())
    if mse == 0.0:
        return math.inf
    if energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(energy / mse)


# ----------------------------------------------------------------------------- Bjontegaard deltas

METHODS = ("pchip", "cubic")


def _curve(rate, metric, name):
    r = np.asarray(rate, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    if r.ndim != 1 or m.ndim != 1 or r.shape != m.shape:
        raise ValueError(f"rate_{name} and metric_{name} must be 1-D sequences of equal length, "
                         f"got shapes {r.shape} and {m.shape}")
    if r.size < 4:
        raise ValueError(f"the {name} curve needs at least 4 points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(m))):
        raise ValueError(f"rate_{name} and metric_{name} must be finite")
    if np.any(r <= 0):
        raise ValueError(f"rate_{name} must be positive")
    d = np.diff(r)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError(f"rate_{name} must be strictly monotone (increasing or decreasing), got {r.tolist()}")
    if d[0] < 0:
        r, m = r[::-1], m[::-1]
    if not np.all(np.diff(m) > 0):
        raise ValueError(f"metric_{name} must strictly increase with rate_{name}, got {m.tolist()} for rates "
                         f"{r.tolist()}")
    return np.log(r), m


def _mean_diff(x_ref, y_ref, x_test, y_test, method):
    """Mean of (y_test - y_ref) over the overlap of the x ranges; x strictly increasing."""
    lo = max(x_ref[0], x_test[0])
    hi = min(x_ref[-1], x_test[-1])
    if not hi > lo:
        raise ValueError(f"the curves do not overlap (common interval [{lo:g}, {hi:g}] is empty)")
    if method == "cubic":
        def integral(x, y):
            p = np.polyint(np.polyfit(x, y, 3))
            return np.polyval(p, hi) - np.polyval(p, lo)
    else:
        from scipy.interpolate import PchipInterpolator

        def integral(x, y):
            return float(PchipInterpolator(x, y).integrate(lo, hi))
    return (integral(x_test, y_test) - integral(x_ref, y_ref)) / (hi - lo)


def _method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def bd_rate(rate_ref, metric_ref, rate_test, metric_test, method="pchip"):
    """Bjontegaard delta rate of the test curve against the reference, in percent.

    Negative: the test needs fewer bits for the same metric (e.g. -10.0 = 10 % saving). log(rate) is fitted as
    a function of the metric (PSNR, feature PSNR, accuracy, ... -- higher is better) on each curve, integrated
    over the overlapping metric interval, and the mean log-rate difference d gives ``100 * (exp(d) - 1)``.

    method  "pchip": piecewise cubic Hermite interpolation (scipy.interpolate.PchipInterpolator), as in the
            common modern implementations; "cubic": least-squares cubic polynomial (VCEG-M33, the classic).
    Each curve needs >= 4 points, strictly monotone positive rates (either order) and a metric that strictly
    increases with rate; the metric intervals must overlap. ValueError otherwise.
    """
    method = _method(method)
    lr_ref, m_ref = _curve(rate_ref, metric_ref, "ref")
    lr_test, m_test = _curve(rate_test, metric_test, "test")
    d = _mean_diff(m_ref, lr_ref, m_test, lr_test, method)
    return float((math.exp(d) - 1.0) * 100.0)


def bd_metric(rate_ref, metric_ref, rate_test, metric_test, method="pchip"):
    """Bjontegaard delta metric: mean metric difference (test - ref) at equal rate, in the metric's units
    (positive: the test is better, e.g. +0.5 dB). The metric is fitted as a function of log(rate) and
    integrated over the overlapping log-rate interval. Arguments and errors as in :func:`bd_rate`."""
    method = _method(method)
    lr_ref, m_ref = _curve(rate_ref, metric_ref, "ref")
    lr_test, m_test = _curve(rate_test, metric_test, "test")
    return float(_mean_diff(lr_ref, m_ref, lr_test, m_test, method))
