"""Profile listings are left out of code fingerprints (experiments.listings): editing which configs a profile runs
leaves records current; editing anything a run reads does not."""

import ast

from mgdlcore.experiments.listings import listing_names, without_listing

KIND = '''
from .grids import GRID
from . import helpers

SETTINGS = {"paper": {"lrs": (0.1, 0.2), "method": "dense"}}
RATE = 0.5


def make_config(lr, profile):
    return ("config", lr, SETTINGS[profile]["method"], GRID)


def configs(profile):
    return [make_config(lr, profile) for lr in SETTINGS[profile]["lrs"]]


def compute(config):
    return config[1] * RATE + helpers.scale


def run_all(configs):
    return [compute(c) for c in configs]
'''
GRIDS = "GRID = (1, 2)\n"
HELPERS = "scale = 3.0\n"
STUDY = '''
from . import kind


def configs(profile):
    return [kind.make_config(lr, profile) for lr in kind.SETTINGS[profile]["lrs"]]
'''


def _resolve(module, node):
    base = module.rsplit(".", 1)[0]
    prefix = f"{base}.{node.module}" if node.module else base
    for a in node.names:
        local = a.asname or a.name
        yield (f"{prefix}.{a.name}", local, None) if not node.module else (prefix, local, a.name)


def _listings(kind=KIND, study=STUDY, extra=None):
    modules = {"pkg.kind": kind, "pkg.grids": GRIDS, "pkg.helpers": HELPERS, "pkg.study": study}
    modules.update(extra or {})
    return listing_names(modules, _resolve)


def _hash(source, names):
    return ast.dump(without_listing(ast.parse(source), names))


def test_the_listing_is_what_only_configs_reads():
    found = _listings()
    assert found["pkg.kind"] == {"configs", "make_config", "SETTINGS"}
    # compute's rate and the run path stay; a parameter named ``configs`` is not the function
    assert "RATE" not in found["pkg.kind"] and "run_all" not in found["pkg.kind"]
    # another kind's listing may read this one's; a helper module's names stay in its own hash
    assert found["pkg.study"] == {"configs"} and found["pkg.grids"] == frozenset()


def test_a_profile_edit_leaves_the_hash_and_a_code_edit_does_not():
    names = _listings()["pkg.kind"]
    finer = KIND.replace('"lrs": (0.1, 0.2), "method": "dense"', '"lrs": (0.1, 0.15, 0.2), "method": "lanczos"')
    assert _hash(finer, _listings(kind=finer)["pkg.kind"]) == _hash(KIND, names)
    recoded = KIND.replace("config[1] * RATE", "config[1] * RATE * 2")
    assert _hash(recoded, _listings(kind=recoded)["pkg.kind"]) != _hash(KIND, names)
    rerated = KIND.replace("RATE = 0.5", "RATE = 0.25")
    assert _hash(rerated, _listings(kind=rerated)["pkg.kind"]) != _hash(KIND, names)


def test_a_grid_that_a_run_reads_is_code():
    # the run path reads the profile grid in the same module: the grid, and nothing that it alone reads, is listing
    reads = KIND.replace("config[1] * RATE", 'config[1] * RATE * len(SETTINGS["paper"]["lrs"])')
    assert "SETTINGS" not in _listings(kind=reads)["pkg.kind"]
    # ... or in another module that computes (an attribute read through the module)
    other = {"pkg.user": "from . import kind\n\n\ndef compute(x):\n    return x * len(kind.SETTINGS)\n"}
    assert "SETTINGS" not in _listings(extra=other)["pkg.kind"]
    # ... or through a plain import, with or without a name of its own
    for imp, ref in (("import pkg.kind as k", "k.SETTINGS"), ("import pkg.kind", "pkg.kind.SETTINGS")):
        plain = {"pkg.user": f"{imp}\n\n\ndef compute(x):\n    return x * len({ref})\n"}
        assert "SETTINGS" not in _listings(extra=plain)["pkg.kind"], imp
    # ... or by name, imported
    named = {"pkg.user": "from .kind import make_config\n\n\ndef compute(x):\n    return make_config(x, 'paper')\n"}
    found = _listings(extra=named)["pkg.kind"]
    assert "make_config" not in found and "SETTINGS" not in found and found == {"configs"}
    # a run that lists configs itself makes the listing code
    calls = KIND.replace("return config[1] * RATE + helpers.scale", "return len(configs('paper')) * RATE")
    assert _listings(kind=calls)["pkg.kind"] == frozenset()
    # a listing that rebinds a module-level name the run reads is code (and what only it reads stays hashed)
    rebinding = KIND.replace("def configs(profile):\n", "def configs(profile):\n    global RATE\n    RATE = 1.0\n")
    assert rebinding != KIND and _listings(kind=rebinding)["pkg.kind"] == frozenset()
    # a module-level statement that reads a grid (not a definition) is code too
    top = KIND + '\nassert SETTINGS["paper"]["lrs"]\n'
    assert "SETTINGS" not in _listings(kind=top)["pkg.kind"]


def test_a_module_without_a_listing_hashes_as_before():
    source = "'''Doc.'''\nX = 1\n\n\ndef f(y):\n    return X + y\n"
    assert _hash(source, frozenset()) == ast.dump(ast.parse(source))


def test_the_package_listings_leave_every_run_path_in_the_fingerprint():
    """On the package itself: each kind's run function and config class are hashed, its listing is not."""
    from mgdlcore.experiments.provenance import (_module_file, _normalised_source_hash, code_fingerprint,
                                                 computing_modules, listing_of)

    assert {"configs", "make_config", "PROFILE_SETTINGS"} <= listing_of("mgdlcore.experiments.gd_dynamics")
    assert not {"compute", "GDConfig", "run_all"} & listing_of("mgdlcore.experiments.gd_dynamics")
    for module in computing_modules():
        names = listing_of(module)
        assert not names or "configs" in names, module
        assert not {"compute", "run"} & names, module
    path = _module_file("mgdlcore.experiments.gd_dynamics")
    listing = listing_of("mgdlcore.experiments.gd_dynamics")
    fp = code_fingerprint("mgdlcore.experiments.gd_dynamics")
    assert fp["experiments.gd_dynamics"] == _normalised_source_hash(path, listing) != _normalised_source_hash(path)


def test_no_computing_module_reads_names_the_analysis_cannot_see():
    """The analysis follows imports and attribute reads; a computing module that looked a name up by a string
    (``importlib.import_module``, ``getattr(module, ...)``) could read a listing unseen."""
    from mgdlcore.experiments.provenance import computing_modules

    for module, path in computing_modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("import_module", "__import__"):
                raise AssertionError(f"{module} imports a module by name")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "__import__"):
                target = node.args[0] if node.args else None
                assert not (isinstance(target, ast.Name) and target.id in _module_names(tree)), module


def _module_names(tree) -> set[str]:
    """Local names bound to package modules by a module's imports."""
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mgdlcore")):
            out.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("mgdlcore"))
    return out
