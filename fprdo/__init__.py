"""fprdo: feature-preserving rate-distortion optimisation for minicodec.

Fernandez-Menduina, Pavez, Ortega, "Image Coding for Machines via Feature-Preserving Rate-Distortion
Optimization", IEEE TMM 2025: code a picture so that a network's features survive, by running the encoder's RDO
on a per-sample importance map w ~ diag(J^T J) (J: the network's Jacobian) instead of plain SSE.

    w = fprdo.importance(img, model, probes=64)          # (wY, wCb, wCr) for RGB, one map for gray
    enc = minicodec.encode(img, qp=30, weights=w)         # minimises sum w (x - xhat)^2 + lambda R
    fprdo.feature_psnr(model, img, enc.recon)             # how well the features survived
    fprdo.bd_rate(rates_sse, fpsnr_sse, rates_fp, fpsnr_fp)

    w, q = fprdo.block_importance(img, model)            # the block-local IDSE: diagonal + 4x4 cross terms
    enc = minicodec.encode(img, qp=30, weights=w, block_terms=q, aq="weights")

Modules: :mod:`fprdo.importance` (the estimator; note ``fprdo.importance`` the attribute is the function),
:mod:`fprdo.colour_torch` (differentiable decoder colour path), :mod:`fprdo.metrics`, and ``fprdo.extractors``
(pretrained feature extractors, imported on first use).
"""
import importlib

from .importance import block_importance, importance, postprocess, postprocess_blocks
from .metrics import bd_metric, bd_rate, feature_distance, feature_psnr

__all__ = ["importance", "block_importance", "postprocess", "postprocess_blocks", "feature_distance", "feature_psnr",
           "bd_rate", "bd_metric", "extractors"]


def __getattr__(name):
    # lazy: the extractors pull in pretrained networks and their weights
    if name == "extractors":
        return importlib.import_module(".extractors", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
