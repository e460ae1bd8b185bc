"""Keep Numba's on-disk cache honest when the sources change.

Numba's ``cache=True`` checks only the source file of the function it caches, so a kernel compiled
with a callee from another module (``encode_slice`` inlines ``rdoq_block``, ``write_residual_block``,
...) keeps running the old callee after that module is edited. Anyone changing an RDO idea in one
module would silently measure the old code. On import, before any kernel is loaded, this hashes every
``.py`` file of the package; when the hash differs from the one stamped beside the cache, every cached
kernel of the package is deleted and recompiled on first use: in each ``__pycache__`` and, when
``NUMBA_CACHE_DIR`` is set, in the folders Numba keeps there for the package's directories. Best
effort: a read-only install (where Numba caches in a user-wide folder) is left alone.
"""
import hashlib
import os

_STAMP = "minicodec-sources.sha256"


def _sources(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _cache_dirs(root):
    """Where Numba caches the kernels of each source directory below root (numba.core.caching:
    ``__pycache__`` beside the sources, or ``<NUMBA_CACHE_DIR>/<dir name>_<sha1 of its path>``)."""
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    for d, dirs, _files in os.walk(root):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        yield os.path.join(d, "__pycache__")
        if user_dir:
            path = os.path.abspath(d)
            yield os.path.join(user_dir, f"{os.path.basename(path)}_{hashlib.sha1(path.encode()).hexdigest()}")


def refresh(root=os.path.dirname(os.path.abspath(__file__))):
    """Delete the package's Numba cache files if any source file changed since they were written."""
    h = hashlib.sha256()
    for path in _sources(root):
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    digest = h.hexdigest()
    # one stamp per cache location: switching NUMBA_CACHE_DIR finds that folder's kernels unchecked
    where = hashlib.sha1(os.environ.get("NUMBA_CACHE_DIR", "").encode()).hexdigest()[:12]
    stamp = os.path.join(root, "__pycache__", f"{_STAMP}.{where}")
    try:
        with open(stamp) as fh:
            if fh.read().strip() == digest:
                return False
    except OSError:
        pass
    try:
        for d in _cache_dirs(root):
            for f in os.listdir(d) if os.path.isdir(d) else ():
                if f.endswith((".nbi", ".nbc")):
                    os.unlink(os.path.join(d, f))
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        tmp = f"{stamp}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(digest + "\n")
        os.replace(tmp, stamp)
    except OSError:
        return False
    return True
