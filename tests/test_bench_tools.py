"""Bench tools: the stage profiler rewrites analyse.py's source (its anchors must still match the
encoder); instr_counts reads callgrind's dumps."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minicodec

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_profile_stages_instruments_every_stage():
    prof = _load("profile_stages")
    fn, n = prof.instrumented_encode_slice()  # raises SystemExit naming any anchor that moved
    assert n == len(prof.STAGES) + 1
    assert callable(fn)


@pytest.mark.slow
def test_profile_stages_counts_cycles_without_changing_the_stream():
    prof = _load("profile_stages")
    import minicodec.encoder.encode as E
    fn, n = prof.instrumented_encode_slice()
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    plain = minicodec.encode(img, qp=30, effort="full")
    T = np.zeros(n, np.int64)
    original = E.encode_slice
    E.encode_slice = lambda *a: fn(*a, T)
    try:
        profiled = minicodec.encode(img, qp=30, effort="full")
    finally:
        E.encode_slice = original
    assert profiled.data == plain.data
    assert (T[:len(prof.STAGES)] > 0).all()


def test_instr_counts_reads_a_callgrind_dump():
    ic = _load("instr_counts")
    dump = ("version: 1\ncreator: callgrind-3.19.0\npid: 7\ncmd: python\npart: 2\n\n"
            "desc: I1 cache: \ndesc: Timerange: Basic block 10 - 20\n"
            "desc: Trigger: Client Request: coffee/full/weights\n\npositions: line\nevents: Ir\n"
            "summary: 1234567\n\n\ntotals: 1234567\n")
    assert ic.dump_totals(dump) == ("coffee/full/weights", 1234567)
    with pytest.raises(ValueError, match="totals"):
        ic.dump_totals(dump.replace("totals: 1234567\n", ""))
    with pytest.raises(ValueError):
        ic.dump_totals("desc: Trigger: Program termination\ntotals: 10\n")


# ---- fprdo_experiment's task metric and pooling: exact values worked by hand

@pytest.fixture(scope="module")
def fx():
    return _load("fprdo_experiment")


def test_iou_matrix_by_hand(fx):
    a = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 40.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 101.0, 101.0]])
    m = fx.iou_matrix(a, b)
    # half-overlapping squares: 50 / (100 + 100 - 50); the same box; disjoint boxes
    np.testing.assert_allclose(m, [[1 / 3, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert fx.iou_matrix(a[:0], b).shape == (0, 3) and fx.iou_matrix(a, b[:0]).shape == (2, 0)


def test_agreement_f1_at_iou_half(fx):
    ref = np.array([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    # the first reference found with IoU 0.6 (shifted by 2.5: 75 / 125), the second only at IoU 0.25
    test = np.array([[2.5, 0.0, 12.5, 10.0], [55.0, 50.0, 65.0, 60.0], [200.0, 0.0, 210.0, 10.0]])
    f1, miou, tp = fx.agreement(ref, test)
    assert tp == 1
    assert f1 == pytest.approx(2 * 1 / (2 + 3))
    assert miou == pytest.approx(0.6)
    assert fx.agreement(ref, ref) == (1.0, 1.0, 2)
    assert fx.agreement(ref[:0], test[:0]) == (1.0, None, 0)  # nothing to find, nothing found
    assert fx.agreement(ref, test[:0]) == (0.0, None, 0)
    assert fx.agreement(ref[:0], test) == (0.0, None, 0)


def test_agreement_matches_one_to_one(fx):
    """Two detections on one face count once: the second is a false positive."""
    ref = np.array([[0.0, 0.0, 10.0, 10.0]])
    test = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]])
    f1, miou, tp = fx.agreement(ref, test)
    assert (tp, miou) == (1, 1.0) and f1 == pytest.approx(2 / 3)


def test_box_mask_covers_fractional_boxes_and_clips(fx):
    m = fx.box_mask([(1.5, 0.2, 3.0, 2.9), (-4.0, -4.0, 1.0, 1.0)], (5, 6))
    want = np.zeros((5, 6), bool)
    want[0:3, 1:3] = True  # rows floor(0.2)..ceil(2.9), columns floor(1.5)..3
    want[0:1, 0:1] = True  # the part inside the picture
    np.testing.assert_array_equal(m, want)


def test_yuv_psnr_pools_six_one_one(fx):
    y, c = np.full((4, 6), 100, np.uint8), np.full((2, 3), 100, np.uint8)
    dec = (y + 1, c + 2, c.copy())  # MSEs 1, 4, 0
    assert fx.yuv_psnr((y, c, c), dec) == pytest.approx(10 * np.log10(255.0 ** 2 / ((6 * 1 + 4 + 0) / 8)))
    assert fx.yuv_psnr((y,), (y + 1,)) == pytest.approx(10 * np.log10(255.0 ** 2))
    # decoded planes may be padded to whole macroblocks: only the picture counts
    padded = np.zeros((16, 16), np.uint8)
    padded[:4, :6] = y
    assert fx.yuv_psnr((y,), (padded,)) == float("inf")


def test_bd_reason_strings(fx):
    rates = [100.0, 200.0, 400.0, 800.0]
    assert fx.bd(rates, [30, 33, 36, 39], rates, [30, 33, None, 39]) == "n/a"
    assert fx.bd(rates, [30, 33, 36, 39], rates, [50, 53, 56, 59]) == "no ovl"
    assert fx.bd(rates, [30, 33, 36, 39], [r * 0.9 for r in rates], [30, 33, 36, 39]) == pytest.approx(-10.0)
