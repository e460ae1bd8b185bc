"""minicodec._jitcache: cached Numba kernels are dropped exactly when some package source changes."""
from minicodec import _jitcache


def _package(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    return root


def _cache_files(root):
    for p in (root / "__pycache__" / "a.f-1.py311.nbi", root / "sub" / "__pycache__" / "b.g-3.py311.1.nbc"):
        p.write_bytes(b"cached")
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"bytecode")


def _nb(root):
    return sorted(p.name for p in root.rglob("*") if p.suffix in (".nbi", ".nbc"))


def test_first_run_stamps_and_clears(tmp_path):
    root = _package(tmp_path)
    _cache_files(root)
    assert _jitcache.refresh(str(root)) is True      # no stamp yet: caches of unknown origin go
    assert _nb(root) == []
    assert (root / "__pycache__" / "a.cpython-311.pyc").exists()  # only Numba's files are touched


def test_unchanged_sources_keep_the_cache(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    assert _jitcache.refresh(str(root)) is False
    assert len(_nb(root)) == 2


def test_edit_in_any_module_clears_every_cached_kernel(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    (root / "sub" / "b.py").write_text("y = 3\n")   # a callee elsewhere changes
    assert _jitcache.refresh(str(root)) is True
    assert _nb(root) == []
    _cache_files(root)
    assert _jitcache.refresh(str(root)) is False     # stamped again: the new cache is kept


def test_new_module_counts_as_a_change(tmp_path):
    root = _package(tmp_path)
    _jitcache.refresh(str(root))
    _cache_files(root)
    (root / "c.py").write_text("")
    assert _jitcache.refresh(str(root)) is True


def test_numba_cache_dir_is_cleared_too(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR set, Numba keeps a directory's kernels in <dir name>_<sha1 of its path>."""
    import hashlib
    import os
    root = _package(tmp_path)
    user = tmp_path / "nbcache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user))
    sub = os.path.abspath(str(root / "sub"))
    kept = user / f"sub_{hashlib.sha1(sub.encode()).hexdigest()}"
    kept.mkdir(parents=True)
    (kept / "stale.f-9.py311.nbi").write_bytes(b"from older sources")
    assert _jitcache.refresh(str(root)) is True    # this cache location was never checked: cleared
    assert not (kept / "stale.f-9.py311.nbi").exists()
    (kept / "b.g-3.py311.nbi").write_bytes(b"cached")
    other = user / "elsewhere_0123"        # another project's kernels are not ours to delete
    other.mkdir()
    (other / "x.f-1.py311.nbi").write_bytes(b"cached")
    assert _jitcache.refresh(str(root)) is False
    (root / "a.py").write_text("x = 2\n")
    assert _jitcache.refresh(str(root)) is True
    assert not (kept / "b.g-3.py311.nbi").exists()
    assert (other / "x.f-1.py311.nbi").exists()
