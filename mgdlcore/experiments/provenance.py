"""Where a result came from: the commit, whether the tree was dirty, the device, and a fingerprint of the code path.

The *code fingerprint* of an experiment kind decides whether a record is still what the current code would
compute (the idea of ``joblib.Memory`` and DVC): it is a hash, per module, of every ``mgdlcore`` module the kind's
runner imports, directly or indirectly. Each module is hashed from its syntax tree with docstrings removed, so
editing prose, comments or formatting does not make records stale, while any change to code does. The bookkeeping
modules that never compute a number (records, provenance, the run/verify machinery, paper values, reports) are left
out, so that improving them does not invalidate every record. So is each kind's *profile listing* (its ``configs``
and what only that reads, :mod:`~mgdlcore.experiments.listings`): records are keyed by their whole config, so
changing which configs a profile runs cannot move a recorded number.
"""

from __future__ import annotations

import ast
import hashlib
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..device import describe_device

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
PACKAGE = PACKAGE_ROOT.name

# modules that never change a computed number: left out of every code fingerprint
BOOKKEEPING = frozenset({
    f"{PACKAGE}.experiments.config", f"{PACKAGE}.experiments.records", f"{PACKAGE}.experiments.provenance",
    f"{PACKAGE}.experiments.listings",
    f"{PACKAGE}.experiments.runner", f"{PACKAGE}.experiments.verify", f"{PACKAGE}.experiments.profiles",
    f"{PACKAGE}.experiments.campaign", f"{PACKAGE}.experiments.segments", f"{PACKAGE}.experiments.parking",
})
BOOKKEEPING_PREFIXES = (f"{PACKAGE}.paper", f"{PACKAGE}.report")


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)


@lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool]:
    """``(commit, dirty)`` of the checkout holding this package; ``(None, False)`` outside a git checkout.

    ``dirty`` is true when tracked files of the package differ from the commit.
    """
    try:
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, False
        status = _git("status", "--porcelain", "--untracked-files=no", "--", PACKAGE)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, False


def is_ancestor(commit: str) -> bool | None:
    """Whether ``commit`` is an ancestor of (or equal to) HEAD; a commit this repository does not know counts as
    not an ancestor. None when git cannot tell (no checkout, or a shallow clone)."""
    try:
        out = _git("merge-base", "--is-ancestor", commit, "HEAD")
        if out.returncode in (0, 1):
            return out.returncode == 0
        shallow = _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        return None if shallow or git_state()[0] is None else False
    except (OSError, subprocess.SubprocessError):
        return None


def _module_file(name: str) -> Path | None:
    if name != PACKAGE and not name.startswith(PACKAGE + "."):   # a kind defined outside the package (tests)
        mod = sys.modules.get(name)
        file = getattr(mod, "__file__", None)
        return Path(file) if file else None
    rel = Path(*name.split(".")[1:])
    for cand in (PACKAGE_ROOT / rel.with_suffix(".py"), PACKAGE_ROOT / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """Absolute names of the package modules an ``ImportFrom`` node in ``module`` refers to."""
    if node.level:
        base = module.split(".")
        is_pkg = _module_file(module) is not None and _module_file(module).name == "__init__.py"
        base = base if is_pkg else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if not (prefix == PACKAGE or prefix.startswith(PACKAGE + ".")):
        return []
    out = [prefix]
    out += [f"{prefix}.{a.name}" for a in node.names]   # "from . import hessian" names a module
    return [m for m in out if _module_file(m) is not None]


PARSE_LOCK = threading.RLock()
PARSE_TRIES = 5


def parse_source(source: str) -> ast.Module:
    """``ast.parse``, one thread of this package at a time, retried. CPython 3.11's AST constructor keeps one
    recursion counter for all threads (cpython gh-106905): "AST constructor recursion depth mismatch" follows when
    threads parse at once (runs in threads of one campaign worker do), and the lock cannot cover a parse made by
    another library in another thread, so a parse that fails so is tried again."""
    with PARSE_LOCK:
        for attempt in range(1, PARSE_TRIES + 1):
            try:
                return ast.parse(source)
            except SystemError as exc:
                if "recursion depth mismatch" not in str(exc) or attempt == PARSE_TRIES:
                    raise
                time.sleep(0.01 * attempt)


def _parse(path: Path) -> ast.Module:
    """:func:`parse_source` of a file."""
    return parse_source(path.read_text())


def _imports(module: str) -> set[str]:
    path = _module_file(module)
    if path is None:
        return set()
    tree = _parse(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + ".") and _module_file(a.name))
    # a module imports its parent packages' __init__ too, but those hold no computation here
    return found


def _is_bookkeeping(name: str) -> bool:
    return name in BOOKKEEPING or name.startswith(BOOKKEEPING_PREFIXES) or _module_file(name).name == "__init__.py"


def _resolve_names(module: str, node: ast.ImportFrom):
    """``(package module, local name, imported name or None)`` for each name an ``ImportFrom`` node in ``module``
    binds (None: the name is itself a module, as in ``from . import hessian``)."""
    found = _resolve(module, node)
    if not found:
        return
    prefix = found[0]
    for a in node.names:
        local = a.asname or a.name
        if f"{prefix}.{a.name}" in found:
            yield f"{prefix}.{a.name}", local, None
        else:
            yield prefix, local, a.name


def computing_modules() -> dict[str, Path]:
    """``{module: file}`` of every package module that can compute a number (all but bookkeeping and ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        name = ".".join((PACKAGE, *path.relative_to(PACKAGE_ROOT).with_suffix("").parts))
        if path.name != "__init__.py" and not _is_bookkeeping(name):
            out[name] = path
    return out


def listings() -> dict[str, frozenset[str]]:
    """``{module: top-level names of its profile listing}`` (:mod:`~mgdlcore.experiments.listings`), left out of
    the modules' hashes."""
    from .listings import package_listings

    return package_listings(computing_modules(), _resolve_names)


def listing_of(module: str) -> frozenset[str]:
    """The top-level names of ``module``'s profile listing (see :func:`listings`)."""
    return listings().get(module, frozenset())


def _normalised_source_hash(path: Path, listing: frozenset[str] = frozenset()) -> str:
    """sha256 (12 hex digits) of the syntax tree of ``path`` without docstrings and without the top-level
    definitions named in ``listing`` (the module's profile listing): prose and profile edits do not count."""
    from .listings import without_listing

    tree = without_listing(_parse(path), listing)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(syntax_dump(tree).encode()).hexdigest()[:12]


def syntax_dump(tree: ast.AST) -> str:
    """``ast.dump`` in the same text on every Python from 3.11 on, so that a record made under another Python
    version (a GPU machine's, say) is recognised: the ``type_params`` fields that 3.12 added are dropped where they
    are empty (they were absent before), and 3.13's omission of empty fields is turned off."""
    for node in ast.walk(tree):
        if getattr(node, "type_params", None) == []:
            del node.type_params
    extra = {"show_empty": True} if sys.version_info >= (3, 13) else {}
    return ast.dump(tree, include_attributes=False, **extra)


def code_fingerprint(module: str) -> dict[str, str]:
    """``{module: hash}`` for ``module`` and every package module it imports, bookkeeping left out."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(_imports(m) - seen)
    listed = listings()
    return {m.removeprefix(PACKAGE + "."): _normalised_source_hash(_module_file(m), listed.get(m, frozenset()))
            for m in sorted(seen) if _module_file(m) is not None and not _is_bookkeeping(m)}


def changed_modules(recorded: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """Modules whose hash differs between a record's fingerprint and the current one (added or removed count)."""
    recorded = recorded or {}
    return sorted(m for m in set(recorded) | set(current) if recorded.get(m) != current.get(m))


def provenance(device: torch.device, *, seconds: float, code: dict[str, str], extra: dict | None = None,
               git: tuple[str | None, bool] | None = None) -> dict:
    """The ``provenance`` block of a record (``extra``: fields added after ``seconds``, e.g. the segments of a
    resumed run; ``git``: the ``(commit, dirty)`` taken when the run started, as its ``code`` was, so that a commit
    made while it trains is not stamped on it; :func:`git_state` now when None)."""
    commit, dirty = git if git is not None else git_state()
    return {
        "commit": commit,
        "dirty": dirty,
        "code": code,
        "device": describe_device(device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "seconds": round(float(seconds), 3),
        **(extra or {}),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
