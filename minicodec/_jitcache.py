"""Keep Numba's on-disk cache honest when the sources change.

Numba's ``cache=True`` checks only the source file of the function it caches, so a kernel compiled
with a callee from another module (``encode_slice`` inlines ``rdoq_block``, ``write_residual_block``,
...) keeps running the old callee after that module is edited. Anyone changing an RDO idea in one
module would silently measure the old code. On import, before any kernel is loaded, this hashes every
``.py`` file of the package and compares the hashes with those stamped beside the cache. A kernel can
only reach code or constants of another module of the package through an import, so the cached kernels
to drop are those of every changed module and of every module that imports one, directly or through
others (the import statements are read from the sources, wherever they stand in a file). An edit to
``rdoq.py`` recompiles ``encode_slice``; an edit to ``deblock.py`` or ``colour.py`` leaves it cached.
Cache files are looked for in each ``__pycache__`` and, when ``NUMBA_CACHE_DIR`` is set, in the folders
Numba keeps there for the package's directories. Without a stamp of this format, or when a source
cannot be parsed, every cached kernel of the package is dropped. Best effort: a read-only install (where
Numba caches in a user-wide folder) is left alone.
"""
import ast
import hashlib
import json
import os

_STAMP = "minicodec-sources.sha256"
_FORMAT = 2  # stamp version: per-file hashes (1 was one hash of the whole package)


def _sources(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _cache_dirs(d):
    """Where Numba caches the kernels of the source directory d (numba.core.caching: ``__pycache__``
    beside the sources, or ``<NUMBA_CACHE_DIR>/<dir name>_<sha1 of its path>``)."""
    yield os.path.join(d, "__pycache__")
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        path = os.path.abspath(d)
        yield os.path.join(user_dir, f"{os.path.basename(path)}_{hashlib.sha1(path.encode()).hexdigest()}")


def _module_file(root, parts):
    """The source of the package module with dotted path ``parts`` below root, or None."""
    base = os.path.join(root, *parts)
    for f in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(f):
            return os.path.relpath(f, root)
    return None


def _imports(root, rel, source):
    """Package modules (paths relative to root) that the module ``rel`` imports anywhere in its source:
    relative imports, and absolute ones that name the package (root's folder name)."""
    pkg = os.path.basename(os.path.abspath(root))
    here = os.path.dirname(rel).split(os.sep) if os.path.dirname(rel) else []
    found = set()

    def add(parts, names):
        target = _module_file(root, parts)
        for n in names:  # `from X import n` names a submodule n of X, or something X defines
            sub = _module_file(root, parts + [n])
            if sub is not None:
                found.add(sub)
            elif target is not None:
                found.add(target)
        if not names and target is not None:
            found.add(target)

    for node in ast.walk(ast.parse(source, rel)):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names if a.name != "*"]
            mod = node.module.split(".") if node.module else []
            if node.level:
                if node.level - 1 > len(here):
                    continue  # above the package: not ours
                add(here[:len(here) - node.level + 1] + mod, names)
            elif mod and mod[0] == pkg:
                add(mod[1:], names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                mod = a.name.split(".")
                if mod[0] == pkg:
                    for k in range(1, len(mod) + 1):  # `import pkg.a.b` imports pkg, pkg.a and pkg.a.b
                        add(mod[1:k], [])
    found.discard(rel)
    return found


def _affected(root, texts, changed):
    """Changed modules and every module that imports one of them, directly or through others."""
    importers = {}
    for rel, text in texts.items():
        for dep in _imports(root, rel, text):
            importers.setdefault(dep, set()).add(rel)
    todo = list(changed)
    out = set(changed)
    while todo:
        for rel in importers.get(todo.pop(), ()):
            if rel not in out:
                out.add(rel)
                todo.append(rel)
    return out


def _drop(root, rels):
    """Delete the cached kernels of the modules ``rels`` (None: of every module) below root. Numba names a
    module's cache files ``<module>.<function>-<line>.py<ver>[.n].nbi / .nbc``."""
    by_dir = {}
    if rels is None:
        for d, dirs, _files in os.walk(root):
            dirs[:] = [x for x in dirs if x != "__pycache__"]
            by_dir[d] = None
    else:
        for rel in rels:
            d = os.path.join(root, os.path.dirname(rel))
            by_dir.setdefault(d, set()).add(os.path.basename(rel)[:-3] + ".")
    for d, prefixes in by_dir.items():
        for c in _cache_dirs(d):
            for f in os.listdir(c) if os.path.isdir(c) else ():
                if f.endswith((".nbi", ".nbc")) and (prefixes is None or f.startswith(tuple(prefixes))):
                    os.unlink(os.path.join(c, f))


def refresh(root=os.path.dirname(os.path.abspath(__file__))):
    """Delete the cached Numba kernels that older sources compiled (see the module docstring). Returns the
    set of modules (paths relative to root) whose kernels were dropped, None for all of them, or an empty
    set when nothing changed."""
    texts, hashes = {}, {}
    for path in _sources(root):
        rel = os.path.relpath(path, root)
        with open(path, "rb") as fh:
            data = fh.read()
        texts[rel] = data
        hashes[rel] = hashlib.sha256(data).hexdigest()
    # one stamp per cache location: switching NUMBA_CACHE_DIR finds that folder's kernels unchecked
    where = hashlib.sha1(os.environ.get("NUMBA_CACHE_DIR", "").encode()).hexdigest()[:12]
    stamp = os.path.join(root, "__pycache__", f"{_STAMP}.{where}")
    old = None
    try:
        with open(stamp) as fh:
            s = json.load(fh)
        if s.get("format") == _FORMAT and isinstance(s.get("files"), dict):
            old = s["files"]
    except (OSError, ValueError, AttributeError):
        pass
    if old is not None:
        changed = {r for r in hashes.keys() | old.keys() if hashes.get(r) != old.get(r)}
        if not changed:
            return set()
        try:
            dropped = _affected(root, texts, changed)
        except (SyntaxError, ValueError):
            dropped = None  # a source that does not parse: drop everything, as without a stamp
    else:
        dropped = None
    try:
        _drop(root, dropped)
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        tmp = f"{stamp}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump({"format": _FORMAT, "files": hashes}, fh, indent=0, sort_keys=True)
        os.replace(tmp, stamp)
    except OSError:
        return set()
    return dropped
