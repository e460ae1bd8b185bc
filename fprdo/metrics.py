"""Evaluation metrics for fprdo: feature distance / feature PSNR of a network, and Bjontegaard deltas.

* :func:`feature_distance` ``||f(a) - f(b)||^2`` -- the distortion IDSE approximates.
* :func:`feature_psnr` ``10 log10(mean(f(ref)^2) / mean((f(ref) - f(test))^2))`` (see its docstring).
* :func:`bd_rate` / :func:`bd_metric`: Bjontegaard delta rate (VCEG-M33) and delta metric, with the classic
  cubic polynomial fit or piecewise cubic Hermite interpolation (PCHIP), as the common modern implementations
  do (more stable than the cubic fit for unevenly spaced points), or ``"fit"``: a least-squares cubic of the
  metric on log rate, for noisy metrics (feature PSNR, task accuracy) measured at many QPs.
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

METHODS = ("pchip", "cubic", "fit")


def _curve(rate, metric, name, monotone=True):
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
    if monotone and not np.all(np.diff(m) > 0):
        raise ValueError(f"metric_{name} must strictly increase with rate_{name}, got {m.tolist()} for rates "
                         f"{r.tolist()}")
    return np.log(r), m


def _overlap(ref_lo, ref_hi, test_lo, test_hi):
    """The common interval of two curves' ranges; ValueError when it is empty."""
    lo, hi = max(ref_lo, test_lo), min(ref_hi, test_hi)
    if not hi > lo:
        raise ValueError(f"the curves do not overlap (common interval [{lo:g}, {hi:g}] is empty)")
    return lo, hi


def _mean_diff(x_ref, y_ref, x_test, y_test, method):
    """Mean of (y_test - y_ref) over the overlap of the x ranges; x strictly increasing."""
    lo, hi = _overlap(x_ref[0], x_ref[-1], x_test[0], x_test[-1])
    if method == "cubic":
        def integral(x, y):
            p = np.polyint(np.polyfit(x, y, 3))
            return np.polyval(p, hi) - np.polyval(p, lo)
    else:
        from scipy.interpolate import PchipInterpolator

        def integral(x, y):
            return float(PchipInterpolator(x, y).integrate(lo, hi))
    return (integral(x_test, y_test) - integral(x_ref, y_ref)) / (hi - lo)


def _fit(log_rate, metric, name):
    """The "fit" method's curve: least-squares cubic m(log r) over the curve's log-rate range, which must
    increase there (a noisy metric may dip between neighbouring points; its fit may not)."""
    p = np.polyfit(log_rate, metric, 3)
    x = np.linspace(log_rate[0], log_rate[-1], 257)
    if not np.all(np.diff(np.polyval(p, x)) > 0):
        raise ValueError(f"the least-squares cubic of metric_{name} on log(rate_{name}) does not increase over "
                         f"the measured rates; measure more points or use a less noisy metric")
    return p


def _fit_inverse_integral(p, x0, x1, lo, hi):
    """Integral over m in [lo, hi] of x(m), the inverse of the increasing cubic m = p(x) on [x0, x1]:
    x m | - integral of p(x) dx between the preimages of lo and hi (integration by parts)."""
    from scipy.optimize import brentq

    def inv(m):
        return brentq(lambda x: np.polyval(p, x) - m, x0, x1, xtol=1e-14)
    a, b = inv(lo), inv(hi)
    pi = np.polyint(p)
    return b * hi - a * lo - (np.polyval(pi, b) - np.polyval(pi, a))


def _fit_rate_delta(lr_ref, m_ref, lr_test, m_test):
    """Mean log-rate difference (test - ref) over the fitted curves' common metric interval ("fit")."""
    pr, pt = _fit(lr_ref, m_ref, "ref"), _fit(lr_test, m_test, "test")
    ends_r = np.polyval(pr, [lr_ref[0], lr_ref[-1]])
    ends_t = np.polyval(pt, [lr_test[0], lr_test[-1]])
    lo, hi = _overlap(ends_r[0], ends_r[1], ends_t[0], ends_t[1])
    it = _fit_inverse_integral(pt, lr_test[0], lr_test[-1], lo, hi)
    ir = _fit_inverse_integral(pr, lr_ref[0], lr_ref[-1], lo, hi)
    return (it - ir) / (hi - lo)


def _fit_metric_delta(lr_ref, m_ref, lr_test, m_test):
    """Mean metric difference (test - ref) of the fitted curves over the common log-rate interval ("fit")."""
    pr, pt = _fit(lr_ref, m_ref, "ref"), _fit(lr_test, m_test, "test")
    lo, hi = _overlap(lr_ref[0], lr_ref[-1], lr_test[0], lr_test[-1])
    it, ir = np.polyint(pt), np.polyint(pr)
    return ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ir, hi) - np.polyval(ir, lo))) / (hi - lo)


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
            common modern implementations; "cubic": least-squares cubic polynomial (VCEG-M33, the classic);
            "fit": least-squares cubic of the metric on log(rate), inverted where log(rate) as a function of
            the metric is needed. It smooths a noisy metric measured at many rates (say 9 or more QPs), which
            may dip between neighbouring points; the fitted cubic must increase over each curve's rates.
    Each curve needs >= 4 points and strictly monotone positive rates (either order); the metric must
    strictly increase with rate (except for "fit"); the metric intervals must overlap. ValueError otherwise.
    """
    method = _method(method)
    lr_ref, m_ref = _curve(rate_ref, metric_ref, "ref", method != "fit")
    lr_test, m_test = _curve(rate_test, metric_test, "test", method != "fit")
    if method == "fit":
        d = _fit_rate_delta(lr_ref, m_ref, lr_test, m_test)
    else:
        d = _mean_diff(m_ref, lr_ref, m_test, lr_test, method)
    return float((math.exp(d) - 1.0) * 100.0)


def bd_metric(rate_ref, metric_ref, rate_test, metric_test, method="pchip"):
    """Bjontegaard delta metric: mean metric difference (test - ref) at equal rate, in the metric's units
    (positive: the test is better, e.g. +0.5 dB). The metric is fitted as a function of log(rate) and
    integrated over the overlapping log-rate interval. Arguments and errors as in :func:`bd_rate`."""
    method = _method(method)
    lr_ref, m_ref = _curve(rate_ref, metric_ref, "ref", method != "fit")
    lr_test, m_test = _curve(rate_test, metric_test, "test", method != "fit")
    if method == "fit":
        return float(_fit_metric_delta(lr_ref, m_ref, lr_test, m_test))
    return float(_mean_diff(lr_ref, m_ref, lr_test, m_test, method))
