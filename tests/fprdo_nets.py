"""What the fprdo tests share: a tiny conv net with seeded weights, random pictures, a pooled relative error,
the post-processing options that return raw maps, and a fixture for one torch thread (import it to use it)."""
import numpy as np
import pytest
import torch

#: post-processing off: fprdo.importance / block_importance return the raw sketch
RAW = dict(normalize=False, clip_percentile=None, tau=0.0, tau_chroma=0.0, chroma_gain=1.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Autouse in every test module that imports it: tiny models, where thread start-up and
    oversubscription cost more than they give."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_net(seed=0, double=False, out=3):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.Tanh(),
                              torch.nn.Conv2d(6, out, 3, stride=2, padding=1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    net.eval()
    return net.double() if double else net


def rand_img(h, w, seed=0, gray=False):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w) if gray else (h, w, 3), dtype=np.uint8)


def rel_err(a, b):
    """||a - b|| / ||b|| over all the arrays of a and b, pooled."""
    a = np.concatenate([np.ravel(x) for x in a])
    b = np.concatenate([np.ravel(x) for x in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)
