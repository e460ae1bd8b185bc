"""fprdo.metrics: Bjontegaard delta rate / delta metric (cubic VCEG-M33, PCHIP, and the "fit" for noisy metrics)."""
import numpy as np
import pytest

from fprdo.metrics import bd_metric, bd_rate

RATES = np.array([100.0, 180.0, 320.0, 600.0, 1100.0])
PSNR = np.array([30.1, 32.4, 34.9, 37.2, 39.8])
METHODS = ("pchip", "cubic", "fit")


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves(method):
    assert bd_rate(RATES, PSNR, RATES, PSNR, method=method) == pytest.approx(0.0, abs=1e-12)
    assert bd_metric(RATES, PSNR, RATES, PSNR, method=method) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scale", [0.9, 1.25])
def test_scaled_rates(method, scale):
    # the same quality at scale x the rate: BD-rate = (scale - 1) * 100 exactly
    assert bd_rate(RATES, PSNR, scale * RATES, PSNR, method=method) == pytest.approx((scale - 1) * 100, abs=1e-6)
    # and the reverse comparison
    assert bd_rate(scale * RATES, PSNR, RATES, PSNR, method=method) == pytest.approx((1 / scale - 1) * 100,
                                                                                      abs=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_metric_shift_signs(method):
    # the test curve reaches each rate with 0.5 dB more: it saves bits and gains quality
    better = PSNR + 0.5
    assert bd_rate(RATES, PSNR, RATES, better, method=method) < 0
    assert bd_metric(RATES, PSNR, RATES, better, method=method) == pytest.approx(0.5, abs=1e-9)
    worse = PSNR - 0.5
    assert bd_rate(RATES, PSNR, RATES, worse, method=method) > 0
    assert bd_metric(RATES, PSNR, RATES, worse, method=method) == pytest.approx(-0.5, abs=1e-9)


def test_methods_agree_on_a_smooth_curve():
    # log-rate exactly cubic in PSNR: the cubic fit is exact and PCHIP close
    p = np.linspace(30, 40, 6)
    lr = 4 + 0.2 * (p - 30) + 0.004 * (p - 30) ** 2
    ref, test = np.exp(lr), np.exp(lr - 0.05 - 0.002 * (p - 30))
    exact = (np.exp(-0.05 - 0.002 * 5) - 1) * 100  # mean of a linear offset over [30, 40]
    assert bd_rate(ref, p, test, p, method="cubic") == pytest.approx(exact, abs=1e-3)
    assert bd_rate(ref, p, test, p, method="pchip") == pytest.approx(exact, abs=1e-3)
    # "fit" regresses the other way (PSNR on log-rate), which is not exactly cubic here: close, not exact
    assert bd_rate(ref, p, test, p, method="fit") == pytest.approx(exact, abs=0.05)


def test_fit_is_exact_for_cubic_curves():
    # both metrics exactly cubic in log-rate: "fit" recovers them, and its closed-form inverse integral
    # (integration by parts) must equal a brute-force mean of the inverse curves' log-rate gap
    lr_ref = np.linspace(10.0, 13.0, 9)
    lr_test = np.linspace(9.8, 12.7, 9)

    def cubic(x):
        return 20.0 + 4.0 * (x - 9.0) + 0.3 * (x - 11.0) ** 3

    def cubic_test(x):
        return cubic(x) + 0.4 + 0.1 * (x - 11.0)
    m_ref, m_test = cubic(lr_ref), cubic_test(lr_test)
    lo, hi = max(m_ref[0], m_test[0]), min(m_ref[-1], m_test[-1])
    m = np.linspace(lo, hi, 200001)
    xr = np.linspace(lr_ref[0], lr_ref[-1], 400001)
    xt = np.linspace(lr_test[0], lr_test[-1], 400001)
    gap = np.interp(m, cubic_test(xt), xt) - np.interp(m, cubic(xr), xr)
    expect = (np.exp(gap.mean()) - 1) * 100
    assert expect < -5  # the test curve is clearly better: a meaningful comparison
    got = bd_rate(np.exp(lr_ref), m_ref, np.exp(lr_test), m_test, method="fit")
    assert got == pytest.approx(expect, abs=1e-4)
    lo_x, hi_x = lr_ref[0], lr_test[-1]
    xs = np.linspace(lo_x, hi_x, 200001)
    assert bd_metric(np.exp(lr_ref), m_ref, np.exp(lr_test), m_test, method="fit") == pytest.approx(
        (cubic_test(xs) - cubic(xs)).mean(), abs=1e-6)


def test_fit_smooths_a_noisy_metric():
    # a feature PSNR is noisy (about 0.25 dB around a smooth curve, ~6 dB per unit of log-rate, as MTCNN's is
    # here): at 21 QPs it often dips between neighbours, so PCHIP and the classic cubic refuse the curve, while
    # "fit" regresses through the noise, without bias, to the true BD-rate (-15 %)
    rng = np.random.default_rng(5)
    lr = np.linspace(np.log(4e4), np.log(4e5), 21)

    def metric(x):
        return 5.0 + 6.0 * (x - lr[0]) + 0.2 * (x - lr[0]) ** 2
    errs, refused = [], 0
    for _ in range(40):
        ref = metric(lr) + rng.normal(0, 0.25, lr.size)
        test = metric(lr - np.log(0.85)) + rng.normal(0, 0.25, lr.size)
        if not (np.all(np.diff(ref) > 0) and np.all(np.diff(test) > 0)):
            with pytest.raises(ValueError, match="increase"):
                bd_rate(np.exp(lr), ref, np.exp(lr), test)
            refused += 1
        errs.append(bd_rate(np.exp(lr), ref, np.exp(lr), test, method="fit") + 15.0)
    assert refused >= 10
    assert abs(np.mean(errs)) < 0.6  # the mean of 40 has a standard error near 0.2
    assert np.std(errs) < 2.0


def test_fit_must_increase():
    # a metric that falls as the rate grows has no decreasing-rate meaning: "fit" refuses its cubic
    with pytest.raises(ValueError, match="does not increase"):
        bd_rate(RATES, PSNR[::-1], RATES, PSNR, method="fit")
    with pytest.raises(ValueError, match="does not increase"):
        bd_metric(RATES, PSNR, RATES, PSNR[::-1], method="fit")


def test_order_and_partial_overlap():
    # descending rates (QP ascending) are accepted; only the overlapping PSNR interval counts
    assert bd_rate(RATES[::-1], PSNR[::-1], 0.9 * RATES, PSNR) == pytest.approx(-10.0, abs=1e-6)
    # log-rate linear in PSNR (both fits exact), the test curve sampled on a shifted PSNR range
    p_ref, p_test = np.arange(30.0, 40.0, 2.0), np.arange(33.0, 43.0, 2.0)
    for method in METHODS:
        r = bd_rate(np.exp(3 + 0.23 * p_ref), p_ref, 0.8 * np.exp(3 + 0.23 * p_test), p_test, method=method)
        assert r == pytest.approx(-20.0, abs=1e-6)
        assert bd_metric(np.exp(3 + 0.23 * p_ref), p_ref, 0.8 * np.exp(3 + 0.23 * p_test), p_test,
                         method=method) == pytest.approx(-np.log(0.8) / 0.23, abs=1e-6)
    # bd_rate against the older bench implementation (cubic, natural log) on a realistic pair
    rb = np.array([95.0, 170.0, 300.0, 580.0, 1000.0])
    pb = np.array([30.3, 32.5, 35.1, 37.3, 39.7])
    la, lb = np.log(RATES), np.log(rb)
    lo, hi = max(PSNR.min(), pb.min()), min(PSNR.max(), pb.max())
    fa, fb = np.polyint(np.polyfit(PSNR, la, 3)), np.polyint(np.polyfit(pb, lb, 3))
    avg = ((np.polyval(fb, hi) - np.polyval(fb, lo)) - (np.polyval(fa, hi) - np.polyval(fa, lo))) / (hi - lo)
    assert bd_rate(RATES, PSNR, rb, pb, method="cubic") == pytest.approx((np.exp(avg) - 1) * 100, rel=1e-9)
    assert bd_rate(RATES, PSNR, rb, pb) == pytest.approx(bd_rate(RATES, PSNR, rb, pb, method="cubic"), abs=0.5)


@pytest.mark.parametrize("args,match", [
    ((RATES[:3], PSNR[:3], RATES, PSNR), "at least 4"),
    ((RATES, PSNR, RATES[:3], PSNR[:3]), "at least 4"),
    ((RATES, PSNR[:4], RATES, PSNR), "equal length"),
    ((np.array([100.0, 300.0, 200.0, 600.0, 1100.0]), PSNR, RATES, PSNR), "monotone"),
    ((np.array([100.0, 100.0, 320.0, 600.0, 1100.0]), PSNR, RATES, PSNR), "monotone"),
    ((RATES, np.array([30.1, 34.9, 32.4, 37.2, 39.8]), RATES, PSNR), "increase"),
    ((RATES, PSNR, 100 * RATES, PSNR + 20), "overlap"),
    ((-RATES, PSNR, RATES, PSNR), "positive"),
    ((RATES, np.array([30.1, np.nan, 34.9, 37.2, 39.8]), RATES, PSNR), "finite"),
])
@pytest.mark.parametrize("fn", [bd_rate, bd_metric])
def test_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATES, PSNR, RATES, PSNR, method="akima")
