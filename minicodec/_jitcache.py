"""Keep Numba's on-disk cache honest when the sources change.

Numba's ``cache=True`` checks only the source file of the function it caches, so a kernel compiled
with a callee from another module (``encode_slice`` inlines ``rdoq_block``, ``write_residual_block``,
...) keeps running the old callee after that module is edited. Anyone changing an RDO idea in one
module would silently measure the old code. On import, before any kernel is loaded, this hashes every
``.py`` file of the package; when the hash differs from the one stamped beside the cache, every cached
kernel of the package is deleted and recompiled on first use. Best effort: a read-only install (where
Numba caches elsewhere) is left alone.
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


def refresh(root=os.path.dirname(os.path.abspath(__file__))):
    """Delete the package's Numba cache files if any source file changed since they were written."""
    h = hashlib.sha256()
    for path in _sources(root):
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    digest = h.hexdigest()
    stamp = os.path.join(root, "__pycache__", _STAMP)
    try:
        with open(stamp) as fh:
            if fh.read().strip() == digest:
                return False
    except OSError:
        pass
    try:
        for d, _dirs, files in os.walk(root):
            if os.path.basename(d) == "__pycache__":
                for f in files:
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
