"""MTCNN face detector (Zhang, Zhang, Li, Qiao, IEEE SPL 2016) on facenet-pytorch's pretrained weights.

* :class:`PNet`, :class:`RNet`, :class:`ONet`: the three stages, with the parameter names of facenet-pytorch's
  state dicts (``data/pnet.pt`` etc., themselves converted from the original Caffe models), loaded strictly.
* :func:`detect_faces`: the full cascade on an (H, W, 3) uint8 RGB image (image pyramid, P-Net proposals,
  NMS, box regression, squaring, R-Net and O-Net refinement, final NMS in "min" mode).
* :class:`MTCNNFeatures`: a small differentiable feature module for importance estimation: P-Net's face and
  box-regression maps at a few fixed pyramid scales.

facenet-pytorch itself is never imported (it pins an old torch and needs torchvision); only its weight files
are read, see :mod:`fprdo.extractors._weights`.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._weights import load_mtcnn_state_dict

__all__ = ["PNet", "RNet", "ONet", "load_net", "detect_faces", "MTCNNFeatures", "nms"]


def _prelu(prelu: nn.PReLU, x: torch.Tensor) -> torch.Tensor:
    """Per-channel PReLU as x * slope with slope = 1 (x >= 0) or the channel's weight (x < 0).

    Equal to ``prelu(x)``, but its backward is one multiplication (``torch.prelu``'s backward always reduces
    the weight gradient too, which made importance estimation ~1.7x slower).
    """
    w = prelu.weight.view((1, -1) + (1,) * (x.ndim - 2))
    return x * torch.where(x >= 0, 1.0, w)


def _normalise(x255: torch.Tensor) -> torch.Tensor:
    """MTCNN's input normalisation of 0..255 pixel values: (x - 127.5) / 128."""
    return (x255 - 127.5) * 0.0078125


# ----------------------------------------------------------------------------------------------------------
# The three networks. Each forward returns raw outputs (class logits before the softmax, box regression and,
# for O-Net, landmarks); the softmax is applied by the callers that want probabilities.
# ----------------------------------------------------------------------------------------------------------

class PNet(nn.Module):
    """Proposal network: fully convolutional, a 12x12 window per output cell, stride 2.

    ``forward(x)`` with x (N, 3, H, W) normalised -> (logits (N, 2, h, w), reg (N, 4, h, w),
    features (N, 32, h, w)) where h = ceil((H - 2) / 2) - 4 (H >= 12 gives h >= 1).
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x):
        x = self.pool1(_prelu(self.prelu1, self.conv1(x)))
        x = _prelu(self.prelu2, self.conv2(x))
        feat = _prelu(self.prelu3, self.conv3(x))
        return self.conv4_1(feat), self.conv4_2(feat), feat


class RNet(nn.Module):
    """Refinement network on 24x24 crops: ``forward(x)`` -> (logits (N, 2), reg (N, 4))."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(_prelu(self.prelu1, self.conv1(x)))
        x = self.pool2(_prelu(self.prelu2, self.conv2(x)))
        x = _prelu(self.prelu3, self.conv3(x))  # (N, 64, 3, 3)
        # The dense weights come from Caffe/TensorFlow, which flatten in (W, H, C) order here: transposing
        # to (N, W, H, C) before flattening is what makes dense4 right (as facenet-pytorch does).
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = _prelu(self.prelu4, self.dense4(x))
        return self.dense5_1(x), self.dense5_2(x)


class ONet(nn.Module):
    """Output network on 48x48 crops: ``forward(x)`` -> (logits (N, 2), reg (N, 4), landmarks (N, 10))."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(_prelu(self.prelu1, self.conv1(x)))
        x = self.pool2(_prelu(self.prelu2, self.conv2(x)))
        x = self.pool3(_prelu(self.prelu3, self.conv3(x)))
        x = _prelu(self.prelu4, self.conv4(x))  # (N, 128, 3, 3)
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # (W, H, C) flattening order, see RNet
        x = _prelu(self.prelu5, self.dense5(x))
        return self.dense6_1(x), self.dense6_2(x), self.dense6_3(x)


_NETS = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_net(name: str) -> nn.Module:
    """A new PNet/RNet/ONet with facenet-pytorch's weights (strict load), in eval mode, parameters frozen.

    Raises FileNotFoundError (with the pip command) when the weights are not installed.
    """
    if name not in _NETS:
        raise ValueError(f"name must be one of {tuple(_NETS)}, got {name!r}")
    net = _NETS[name]()
    net.load_state_dict(load_mtcnn_state_dict(name), strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@functools.lru_cache(maxsize=1)
def _cascade():
    return load_net("pnet"), load_net("rnet"), load_net("onet")


# ----------------------------------------------------------------------------------------------------------
# Detection cascade. Boxes follow the original (MATLAB) convention internally: 1-based inclusive pixel
# coordinates, width = x2 - x1 + 1. detect_faces converts to 0-based continuous coordinates at the end.
# ----------------------------------------------------------------------------------------------------------

def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first.

    boxes (N, 4) [x1, y1, x2, y2] inclusive pixel coordinates (areas use +1 as in the original code);
    mode "union" (IoU) or "min" (intersection over the smaller area). A box is dropped when its overlap
    with a kept one exceeds ``threshold``.
    """
    if mode not in ("union", "min"):
        raise ValueError(f"mode must be 'union' or 'min', got {mode!r}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if mode == "min":
            o = inter / np.minimum(area[i], area[rest])
        else:
            o = inter / (area[i] + area[rest] - inter)
        order = rest[o <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _generate_boxes(prob: np.ndarray, reg: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """P-Net cells above threshold -> (K, 9) [x1, y1, x2, y2, score, dx1, dy1, dx2, dy2] in image pixels."""
    stride, cell = 2, 12
    ys, xs = np.nonzero(prob >= threshold)
    if ys.size == 0:
        return np.zeros((0, 9))
    q1x = np.floor((stride * xs + 1) / scale)
    q1y = np.floor((stride * ys + 1) / scale)
    q2x = np.floor((stride * xs + cell) / scale)
    q2y = np.floor((stride * ys + cell) / scale)
    return np.column_stack([q1x, q1y, q2x, q2y, prob[ys, xs], reg[:, ys, xs].T])


def _square(boxes: np.ndarray) -> np.ndarray:
    """Make boxes square around their centre (side = the longer side), as MTCNN's rerec."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R-/O-Net box regression (offsets relative to the inclusive width/height)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0] += reg[:, 0] * w
    boxes[:, 1] += reg[:, 1] * h
    boxes[:, 2] += reg[:, 2] * w
    boxes[:, 3] += reg[:, 3] * h
    return boxes


def _resize(img: torch.Tensor, size) -> torch.Tensor:
    """Resize (N, C, h, w): area averaging when shrinking (as facenet-pytorch and cv2.INTER_AREA), bilinear
    when enlarging (cv2.INTER_AREA does that too; torch's "area" would replicate pixels)."""
    h, w = img.shape[-2:]
    if (h, w) == tuple(size):
        return img
    if h >= size[0] and w >= size[1]:
        return F.interpolate(img, size=size, mode="area")
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False)


def _crops(img: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Crop boxes (integer part, 1-based inclusive) from img (3, H, W) 0..255 with zero padding outside the
    image (as the original MTCNN), resized to size x size and normalised -> (K, 3, size, size)."""
    _, H, W = img.shape
    out = torch.empty((len(boxes), 3, size, size), dtype=img.dtype)
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    for k, (x1, y1, x2, y2) in enumerate(b):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        patch = torch.zeros((1, 3, max(bh, 1), max(bw, 1)), dtype=img.dtype)
        # 0-based half-open source window [y1-1, y2) x [x1-1, x2), clipped to the image
        sx0, sy0, sx1, sy1 = max(x1 - 1, 0), max(y1 - 1, 0), min(x2, W), min(y2, H)
        if sx1 > sx0 and sy1 > sy0:
            patch[0, :, sy0 - (y1 - 1):sy1 - (y1 - 1), sx0 - (x1 - 1):sx1 - (x1 - 1)] = img[:, sy0:sy1, sx0:sx1]
        out[k] = _resize(patch, (size, size))[0]
    return _normalise(out)


def _as_rgb_tensor(image) -> torch.Tensor:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) RGB (or (H, W) gray), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"image must be numeric (uint8 0..255), got dtype {arr.dtype}")
    arr = arr[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)


def detect_faces(image, min_face_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, *, landmarks=False):
    """Detect faces with the MTCNN cascade.

    Args:
        image: (H, W, 3) uint8 RGB image (values 0..255; (H, W) gray is accepted too).
        min_face_size: smallest face side searched, in pixels (sets the first pyramid scale 12/min_face_size).
        thresholds: face-probability thresholds of P-Net, R-Net and O-Net.
        factor: scale step of the image pyramid.
        landmarks: also return the 5 facial landmarks.

    Returns:
        boxes (N, 4) float64 [x1, y1, x2, y2] in 0-based pixel coordinates (pixel i covers [i, i + 1), so
        x2 - x1 is the box width), and scores (N,) O-Net face probabilities, best first; with
        ``landmarks=True`` also points (N, 5, 2) (x, y): left eye, right eye, nose, mouth left, mouth right.
    """
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor}")
    if min_face_size < 1:
        raise ValueError(f"min_face_size must be >= 1, got {min_face_size}")
    if len(thresholds) != 3:
        raise ValueError(f"thresholds must have 3 values, got {thresholds!r}")
    img = _as_rgb_tensor(image)
    pnet, rnet, onet = _cascade()
    _, h, w = img.shape
    empty = (np.zeros((0, 4)), np.zeros(0)) + ((np.zeros((0, 5, 2)),) if landmarks else ())

    # image pyramid: scale 12/min_face_size, times factor while the short side stays >= 12 pixels
    m = 12.0 / min_face_size
    scales, minl = [], min(h, w) * m
    while minl >= 12:
        scales.append(m * factor ** len(scales))
        minl *= factor

    with torch.inference_mode():
        # --- stage 1: P-Net proposals at each scale, NMS per scale (0.5) and across scales (0.7)
        props = []
        x = img[None]
        for s in scales:
            hs, ws = int(h * s + 1), int(w * s + 1)
            logits, reg, _ = pnet(_normalise(_resize(x, (hs, ws))))
            prob = torch.softmax(logits, dim=1)[0, 1].numpy()
            b = _generate_boxes(prob, reg[0].numpy(), s, thresholds[0])
            if len(b):
                props.append(b[nms(b[:, :4], b[:, 4], 0.5, "union")])
        if not props:
            return empty
        boxes = np.concatenate(props)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7, "union")]
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        boxes = np.column_stack([boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
                                 boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4]])
        boxes = _square(boxes)

        # --- stage 2: R-Net on 24x24 crops
        logits, reg = rnet(_crops(img, boxes, 24))
        score = torch.softmax(logits, dim=1)[:, 1].numpy()
        ok = score > thresholds[1]
        if not ok.any():
            return empty
        boxes = np.column_stack([boxes[ok, :4], score[ok]])
        reg = reg.numpy()[ok]
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7, "union")
        boxes = _square(_regress(boxes[keep], reg[keep]))

        # --- stage 3: O-Net on 48x48 crops, box regression, NMS in "min" mode
        logits, reg, pts = onet(_crops(img, boxes, 48))
        score = torch.softmax(logits, dim=1)[:, 1].numpy()
        ok = score > thresholds[2]
        if not ok.any():
            return empty
        boxes = np.column_stack([boxes[ok, :4], score[ok]])
        reg, pts = reg.numpy()[ok], pts.numpy()[ok]
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        px = bw[:, None] * pts[:, :5] + boxes[:, 0:1] - 1
        py = bh[:, None] * pts[:, 5:] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, reg)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7, "min")

    boxes, px, py = boxes[keep], px[keep], py[keep]
    out = np.column_stack([boxes[:, 0] - 1, boxes[:, 1] - 1, boxes[:, 2], boxes[:, 3]])  # 1-based -> 0-based
    if landmarks:
        # facenet-pytorch's landmark formula gives 0-based coordinates already (it subtracts 1)
        return out, boxes[:, 4].copy(), np.stack([px, py], axis=2)
    return out, boxes[:, 4].copy()


# ----------------------------------------------------------------------------------------------------------
# Differentiable features for importance estimation
# ----------------------------------------------------------------------------------------------------------

class MTCNNFeatures(nn.Module):
    """What MTCNN's first stage computes, as differentiable feature maps for importance estimation.

    Why P-Net at fixed scales: the cascade's decisions are not differentiable (thresholds, NMS, crops), and
    R-Net/O-Net only see the crops that P-Net proposed. P-Net is fully convolutional, so run at a few fixed
    pyramid scales it gives dense maps over the whole image of exactly what the detector's first stage
    responds to: where faces are proposed (face probability) and how their boxes are placed (box
    regression). A face that P-Net no longer proposes is lost whatever the later stages would say, so
    preserving these maps preserves the proposals. The scales are fixed (not derived from the image) so that
    the features of an image and of its decoded version always have the same shapes, and the module stays
    cheap.

    Scale s looks for faces of about 12/s pixels (P-Net's 12x12 window at stride 2), give or take the
    factor-of-sqrt(2) range that one level of MTCNN's own pyramid covers. The default (0.4, 0.2, 0.1) covers
    faces of about 30..170 pixels, at about a fifth of one P-Net pass over the full-resolution image.

    Why probabilities and gated regression by default (measured on astronaut and camera, 64 Gaussian probes,
    importance = E|J^T u|^2): with the face *probability* the importance inside the face box is 3.4x / 6x the
    image mean; with the face *log-odds* it is below the mean (0.9x / 0.7x), because strongly negative
    background logits have large gradients on every textured region although no change there can create or
    remove a detection. Likewise the raw box regression is defined on every cell, faces or not, and halves
    the contrast; weighting it by the (detached) face probability of its cell keeps only the regression of
    cells that propose a face (3.5x / 5.7x).

    Args:
        scales: pyramid scales, each in (0, 1]. Levels are made in decreasing order, each by area averaging
            (antialiased, differentiable) of the previous one, so only one resize works at full resolution;
            a level's side is never below 12 pixels (P-Net's window).
        stage: only "pnet" (the one stage that sees the whole image).
        face: "prob" (default): the softmax face probability that the detector thresholds; "logit": the
            face log-odds l_face - l_background (no saturation, but dominated by background texture).
        regression: "gated" (default): box regression times the detached face probability of the cell;
            "raw": P-Net's box regression as is; None: no regression output.
        features: also return P-Net's last convolutional features (32 channels) at each scale.

    forward(x): x (N, 3, H, W) float RGB in [0, 1] -> list of tensors, for each scale in the order given:
    face map (N, 1, h_s, w_s)[, box regression (N, 4, h_s, w_s)][, conv3 features (N, 32, h_s, w_s)],
    with h_s = ceil((max(12, round(H s)) - 2) / 2) - 4.

    Parameters are frozen (requires_grad False): importance needs gradients w.r.t. the input only. Every op
    has a vmap batching rule, so probes can be batched with ``torch.func.vmap`` over ``torch.func.vjp`` or
    ``autograd.grad(..., is_grads_batched=True)``, or looped. For a 512x512 picture and 64 probes on 2 CPU
    cores, ``fprdo.importance`` took 0.8 s (loop over probes) / 0.9 s (is_grads_batched), and one forward pass
    takes ~0.03 s; on one thread (as the bench times it) 1.1-1.6 s, most of it P-Net's backward passes and
    the full-resolution area downsampling's. PReLU is written as x * slope (see :func:`_prelu`) because
    ``torch.prelu``'s backward always reduces the weight gradient too, which made these VJPs ~2x slower.
    """

    def __init__(self, scales=(0.4, 0.2, 0.1), stage="pnet", face="prob", regression="gated", features=False):
        super().__init__()
        if stage != "pnet":
            raise ValueError(f"stage must be 'pnet' (the only stage that sees the whole image), got {stage!r}")
        if face not in ("prob", "logit"):
            raise ValueError(f"face must be 'prob' or 'logit', got {face!r}")
        if regression not in ("gated", "raw", None):
            raise ValueError(f"regression must be 'gated', 'raw' or None, got {regression!r}")
        scales = tuple(float(s) for s in scales)
        if not scales or any(not 0 < s <= 1 for s in scales):
            raise ValueError(f"scales must be a non-empty sequence of values in (0, 1], got {scales!r}")
        self.scales, self.stage, self.face = scales, stage, face
        self.regression, self.features = regression, bool(features)
        self.pnet = load_net("pnet")
        # P-Net's two heads as one 1x1 conv: [face log-odds (w_face - w_background), 4 box offsets]
        w1, b1 = self.pnet.conv4_1.weight, self.pnet.conv4_1.bias
        self.register_buffer("head_weight", torch.cat([w1[1:2] - w1[0:1], self.pnet.conv4_2.weight]))
        self.register_buffer("head_bias", torch.cat([b1[1:2] - b1[0:1], self.pnet.conv4_2.bias]))

    def extra_repr(self):
        return (f"scales={self.scales}, stage={self.stage!r}, face={self.face!r}, "
                f"regression={self.regression!r}, features={self.features}")

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be (N, 3, H, W), got {tuple(x.shape)}")
        H, W = x.shape[-2:]
        order = sorted(range(len(self.scales)), key=lambda i: -self.scales[i])
        level, results = x, {}
        for i in order:
            s = self.scales[i]
            size = (max(12, round(H * s)), max(12, round(W * s)))
            if tuple(level.shape[-2:]) != size:
                level = F.interpolate(level, size=size, mode="area")
            p = self.pnet
            # MTCNN's input scaling, ((255 x) - 127.5) / 128, per level: area averaging commutes with it,
            # and at the level's size its backward pass costs a sixth of what it costs at full resolution
            # channels-last: on CPU the backward pass of a 3-channel conv runs ~4x faster in that layout
            z = ((level - 0.5) * (255.0 / 128.0)).contiguous(memory_format=torch.channels_last)
            y = p.pool1(_prelu(p.prelu1, p.conv1(z)))
            y = _prelu(p.prelu2, p.conv2(y))
            feat = _prelu(p.prelu3, p.conv3(y))
            logit, reg = torch.split(F.conv2d(feat, self.head_weight, self.head_bias), [1, 4], dim=1)
            prob = torch.sigmoid(logit)  # == softmax(conv4_1 logits)[:, 1]
            out = [prob if self.face == "prob" else logit]
            if self.regression == "gated":
                out.append(reg * prob.detach())
            elif self.regression == "raw":
                out.append(reg)
            if self.features:
                out.append(feat)
            results[i] = out
        return [t for i in range(len(self.scales)) for t in results[i]]
