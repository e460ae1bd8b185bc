"""minicodec._jitcache: cached Numba kernels are dropped exactly when their module, or a module they
import (directly or through others), changes."""
import hashlib
import os

from minicodec import _jitcache


def _package(tmp_path):
    """pkg/a.py imports pkg/sub/b.py, which imports pkg/c.py (from inside a function); pkg/d.py stands
    alone; pkg/sub/e.py imports pkg/d.py absolutely."""
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from .sub.b import g\nx = 1\n")
    (root / "sub" / "b.py").write_text("def g():\n    from .. import c as cc\n    return cc.z\n")
    (root / "c.py").write_text("z = 3\n")
    (root / "d.py").write_text("w = 4\n")
    (root / "sub" / "e.py").write_text("import pkg.d\nfrom pkg import d as dd\n")
    return root


CACHED = {"a": "__pycache__/a.f-1.py311.nbi", "b": "sub/__pycache__/b.g-3.py311.1.nbc",
          "c": "__pycache__/c.h-1.py311.nbi", "d": "__pycache__/d.k-1.py311.nbc",
          "e": "sub/__pycache__/e.m-2.py311.nbi"}


def _cache_files(root):
    for rel in CACHED.values():
        (root / rel).write_bytes(b"cached")
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"bytecode")


def _nb(root):
    """Which modules still have cached kernels."""
    return sorted(m for m, rel in CACHED.items() if (root / rel).exists())


def test_first_run_stamps_and_clears(tmp_path):
    root = _package(tmp_path)
    _cache_files(root)
    assert _jitcache.refresh(str(root)) is None       # no stamp yet: caches of unknown origin go, all of them
    assert _nb(root) == []
    assert (root / "__pycache__" / "a.cpython-311.pyc").exists()  # only Numba's files are touched


def test_unchanged_sources_keep_the_cache(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    assert _jitcache.refresh(str(root)) == set()
    assert _nb(root) == ["a", "b", "c", "d", "e"]


def test_edit_drops_the_module_and_everything_that_imports_it(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    (root / "c.py").write_text("z = 5\n")          # a callee two imports away changes
    assert _jitcache.refresh(str(root)) == {"c.py", os.path.join("sub", "b.py"), "a.py"}
    assert _nb(root) == ["d", "e"]
    _cache_files(root)
    assert _jitcache.refresh(str(root)) == set()     # stamped again: the new cache is kept
    (root / "d.py").write_text("w = 6\n")          # imported absolutely, two ways
    assert _jitcache.refresh(str(root)) == {"d.py", os.path.join("sub", "e.py")}
    assert _nb(root) == ["a", "b", "c"]
    _cache_files(root)
    (root / "a.py").write_text("from .sub.b import g\nx = 2\n")   # nothing imports a
    assert _jitcache.refresh(str(root)) == {"a.py"}
    assert _nb(root) == ["b", "c", "d", "e"]
    _cache_files(root)
    (root / "__init__.py").write_text("VERSION = 2\n")   # `import pkg.d` imports the package itself too
    assert _jitcache.refresh(str(root)) == {"__init__.py", os.path.join("sub", "e.py")}
    assert _nb(root) == ["a", "b", "c", "d"]


def test_new_module_counts_as_a_change(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    (root / "f.py").write_text("")
    assert _jitcache.refresh(str(root)) == {"f.py"}
    assert _nb(root) == ["a", "b", "c", "d", "e"]


def test_old_stamp_format_or_unparsable_source_drops_everything(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    stamp = next((root / "__pycache__").glob("minicodec-sources.sha256.*"))
    stamp.write_text("0123abcd\n")                   # format 1: one hash of the whole package
    _cache_files(root)
    assert _jitcache.refresh(str(root)) is None
    assert _nb(root) == []
    _cache_files(root)
    (root / "d.py").write_text("def broken(:\n")
    assert _jitcache.refresh(str(root)) is None       # the import graph cannot be read: drop all
    assert _nb(root) == []


def test_the_package_graph_keeps_the_encoder_for_edits_outside_it():
    """minicodec's own sources: an edit to a callee of encode_slice drops it; one to the loop filter or
    the colour conversion does not."""
    root = os.path.dirname(os.path.abspath(_jitcache.__file__))
    texts = {os.path.relpath(p, root): open(p, "rb").read() for p in _jitcache._sources(root)}
    analyse = os.path.join("encoder", "analyse.py")
    for callee in ("cavlc.py", "bitstream.py", "transform.py", "intra_pred.py", os.path.join("encoder", "rdoq.py"),
                   os.path.join("encoder", "rdo.py"), "macroblock.py", "reconstruct.py", "borrow.py"):
        assert analyse in _jitcache._affected(root, texts, {callee}), callee
        assert "decoder.py" in _jitcache._affected(root, texts, {callee}) or "encoder" in callee, callee
    for other in ("deblock.py", "colour.py", "sei.py", "nal.py", "params.py", "decoder.py",
                  os.path.join("encoder", "ratecontrol.py")):
        assert analyse not in _jitcache._affected(root, texts, {other}), other


def test_numba_cache_dir_is_cleared_too(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR set, Numba keeps a directory's kernels in <dir name>_<sha1 of its path>."""
    root = _package(tmp_path)
    user = tmp_path / "nbcache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user))
    sub = os.path.abspath(str(root / "sub"))
    kept = user / f"sub_{hashlib.sha1(sub.encode()).hexdigest()}"
    kept.mkdir(parents=True)
    (kept / "stale.f-9.py311.nbi").write_bytes(b"from older sources")
    assert _jitcache.refresh(str(root)) is None    # this cache location was never checked: cleared
    assert not (kept / "stale.f-9.py311.nbi").exists()
    (kept / "b.g-3.py311.nbi").write_bytes(b"cached")
    (kept / "e.m-2.py311.nbi").write_bytes(b"cached")
    other = user / "elsewhere_0123"        # another project's kernels are not ours to delete
    other.mkdir()
    (other / "x.f-1.py311.nbi").write_bytes(b"cached")
    assert _jitcache.refresh(str(root)) == set()
    (root / "c.py").write_text("z = 2\n")
    assert _jitcache.refresh(str(root)) == {"c.py", os.path.join("sub", "b.py"), "a.py"}
    assert not (kept / "b.g-3.py311.nbi").exists()
    assert (kept / "e.m-2.py311.nbi").exists()
    assert (other / "x.f-1.py311.nbi").exists()
