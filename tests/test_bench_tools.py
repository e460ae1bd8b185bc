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
