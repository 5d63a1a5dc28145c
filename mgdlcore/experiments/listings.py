"""Profile listings: the part of an experiment kind's module that only says which configs a profile runs.

Each kind defines ``configs(profile, ...)`` beside its config class, with the grids and helpers it reads (e.g.
``PROFILE_SETTINGS``, ``make_config``). A record is keyed by its whole config, so no listing can move a number a
record holds; :func:`~mgdlcore.experiments.provenance.code_fingerprint` hashes a module without its listing, and
editing a profile (a finer grid, another eigenvalue method for one run) leaves the kind's records current.

The listing of a module is found, not declared: starting from its top-level ``configs``, every top-level name of the
same module that the listing reads and that nothing else reads. "Nothing else" is checked over every package module that can compute
a number (the bookkeeping modules are left out: they never do): a name read by a non-listing definition of any of
them -- its own module's or, through an import, another's -- is code, and is hashed. So a run path that calls
``configs`` or reads a profile grid makes them part of the fingerprint again, without anyone remembering to say so.
Names are resolved by ``symtable`` in functions and classes (a parameter called ``configs`` is not the function),
and by the syntax tree in module-level statements and attribute reads (``gd_dynamics.PROFILE_SETTINGS``), where a
name read too many is harmless: it can only keep a definition in the fingerprint. A listing builds configs and
nothing else; a function that rebinds a module-level name (``global``) is never taken for one. Reads by name
through ``importlib`` or ``getattr`` are not seen: no computing module makes any (tested).
"""

from __future__ import annotations

import ast
import symtable
from functools import lru_cache
from pathlib import Path

LISTING_ROOT = "configs"

Node = tuple[str, str]   # (module, top-level name)


def _bound_names(stmt: ast.stmt) -> list[str]:
    """The module-level names a top-level statement binds (none for an expression or an ``if``)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names]
    return []


def _rebinds_globals(table: symtable.SymbolTable) -> bool:
    """Whether a scope (or one nested in it) assigns a module-level name (``global x; x = ...``)."""
    return any(s.is_declared_global() and s.is_assigned() for s in table.get_symbols()) or any(
        _rebinds_globals(child) for child in table.get_children())


def _scope_globals(table: symtable.SymbolTable) -> set[str]:
    """The module-level names a function or class scope (and every scope nested in it) reads."""
    out = {s.get_name() for s in table.get_symbols() if s.is_global() or (s.is_referenced() and not s.is_local()
                                                                          and not s.is_free())}
    for child in table.get_children():
        out |= _scope_globals(child)
    return out


class _Module:
    """One module's top-level definitions, what each reads, and which of its names are other modules' names."""

    def __init__(self, name: str, source: str, resolve):
        from .provenance import parse_source      # one thread at a time, retried (CPython 3.11, gh-106905)

        self.name = name
        tree = parse_source(source)
        self.tree = tree
        self.defined: set[str] = set()
        self.aliases: dict[str, Node] = {}         # local name -> (module, name) it was imported as
        self.module_aliases: dict[str, str] = {}   # local name -> package module it names
        for stmt in tree.body:
            self.defined.update(_bound_names(stmt))
            if isinstance(stmt, ast.ImportFrom):
                for mod, local, imported in resolve(name, stmt):
                    if imported is None:
                        self.module_aliases[local] = mod
                    else:
                        self.aliases[local] = (mod, imported)
            elif isinstance(stmt, ast.Import):        # import a.b.c (binds a) / import a.b.c as x
                for a in stmt.names:
                    local = a.asname or a.name.split(".")[0]
                    self.module_aliases[local] = a.name if a.asname else local
        tables: dict[str, list[symtable.SymbolTable]] = {}
        for child in symtable.symtable(source, name, "exec").get_children():
            tables.setdefault(child.get_name(), []).append(child)
        # reads[i]: the names statement i reads (module-level names, aliases included)
        self.reads: list[set[str]] = []
        self.rebinds: set[int] = set()     # statements whose code assigns module-level names: never a listing
        for i, stmt in enumerate(tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if any(_rebinds_globals(t) for t in tables.get(stmt.name, [])):
                    self.rebinds.add(i)
                names = set().union(*(_scope_globals(t) for t in tables.get(stmt.name, [])))
                names |= {n.id for d in stmt.decorator_list + _defaults(stmt) for n in ast.walk(d)
                          if isinstance(n, ast.Name)}
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names = set()
            else:
                names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            attrs = {node for n in ast.walk(stmt) if isinstance(n, ast.Attribute) for node in self._attribute(n)}
            self.reads.append({*names, *(f"\0{m}\0{a}" for m, a in attrs)})

    def _attribute(self, node: ast.Attribute) -> list[Node]:
        """``(module, name)`` for each split of a dotted read through an imported module (``m.X``, ``a.b.c.X``);
        the splits that name no module are harmless extra reads."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.module_aliases:
            return []
        parts = [self.module_aliases[node.id], *reversed(parts)]
        return [(".".join(parts[:j]), parts[j]) for j in range(1, len(parts))]

    def references(self, i: int) -> set[Node]:
        """The (module, name) nodes statement ``i`` reads, resolved through imports."""
        out = set()
        for n in self.reads[i]:
            if n.startswith("\0"):
                _, mod, attr = n.split("\0")
                out.add((mod, attr))
            elif n in self.aliases:
                out.add(self.aliases[n])
            elif n in self.defined:
                out.add((self.name, n))
        return out


def _defaults(fn) -> list[ast.AST]:
    """What a definition reads outside its own scope when it runs: a function's default values, a class's bases and
    keywords (annotations are not evaluated: the package uses ``from __future__ import annotations``)."""
    if isinstance(fn, ast.ClassDef):
        return list(fn.bases) + [k.value for k in fn.keywords]
    a = fn.args
    return [d for d in a.defaults + a.kw_defaults if d is not None]


def listing_names(modules: dict[str, str], resolve) -> dict[str, frozenset[str]]:
    """``{module: names of its profile listing}`` for ``modules`` (``{name: source}``, every module that can compute
    a number); ``resolve(module, import_from_node)`` yields ``(package module, local name, imported name or None)``
    for the names an ``ImportFrom`` binds (None: the name is a module)."""
    parsed = {name: _Module(name, src, resolve) for name, src in modules.items()}
    # who reads each node, and which definitions (not imports) bind it: (module, statement index)
    readers: dict[Node, set[tuple[str, int]]] = {}
    binders: dict[Node, list[tuple[str, int]]] = {}
    names: dict[tuple[str, int], list[str]] = {}
    for name, mod in parsed.items():
        for i, stmt in enumerate(mod.tree.body):
            for node in mod.references(i):
                readers.setdefault(node, set()).add((name, i))
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names[(name, i)] = _bound_names(stmt)
                for bound in names[(name, i)]:
                    binders.setdefault((name, bound), []).append((name, i))

    # candidates: every definition the roots reach, but none that rebinds a global
    roots = [(m, LISTING_ROOT) for m, mod in parsed.items() if LISTING_ROOT in mod.defined]
    cand: set[tuple[str, int]] = set()
    todo = [s for r in roots for s in binders.get(r, ())]
    while todo:
        s = todo.pop()
        if s in cand or s[1] in parsed[s[0]].rebinds:
            continue
        cand.add(s)
        for node in parsed[s[0]].references(s[1]):
            todo.extend(binders.get(node, ()))
    # a candidate read by a statement outside the candidates is code; repeat until nothing changes
    changed = True
    while changed:
        changed = False
        for s in list(cand):
            if any(r not in cand for bound in names[s] for r in readers.get((s[0], bound), ())):
                cand.discard(s)
                changed = True
    # only a kind module's own listing is left out: a helper elsewhere that only listings read (a device name's
    # resolution, say) stays in its module's hash
    rooted = {m for m, _ in roots}
    out: dict[str, set[str]] = {m: set() for m in parsed}
    for m, i in cand:
        if m in rooted:
            out[m].update(names[(m, i)])
    return {m: frozenset(v) for m, v in out.items()}


def without_listing(tree: ast.Module, names: frozenset[str]) -> ast.Module:
    """``tree`` without the top-level definitions that bind only names of ``names`` (the module's listing)."""
    if names:
        tree.body = [s for s in tree.body
                     if not (_bound_names(s) and not isinstance(s, (ast.Import, ast.ImportFrom))
                             and set(_bound_names(s)) <= names)] or [ast.Pass()]
    return tree


@lru_cache(maxsize=4)
def _cached(key: tuple[tuple[str, str, float], ...], resolve) -> dict[str, frozenset[str]]:
    # provenance's parse lock: CPython 3.11's parser can fail when threads parse at once (provenance.parse_source)
    from .provenance import PARSE_LOCK

    with PARSE_LOCK:
        return listing_names({name: Path(path).read_text() for name, path, _ in key}, resolve)


def package_listings(files: dict[str, Path], resolve) -> dict[str, frozenset[str]]:
    """:func:`listing_names` of the modules ``files`` (``{module: path}``), cached while no file changes."""
    key = tuple(sorted((n, str(p), p.stat().st_mtime) for n, p in files.items()))
    return _cached(key, resolve)
