"""``benchmarks/compiled_steps.py`` refuses bad arguments with a one-line message and exit code 2, before it builds
or compiles anything."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))        # the script imports its sibling _common
    try:
        spec = importlib.util.spec_from_file_location("compiled_steps_under_test", BENCH / "compiled_steps.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("argv, says", [
    (["--networks", "msdl_deep_gelu"], "unknown network(s) msdl_deep_gelu; accepted: msdl_relu"),
    (["--rounds", "0"], "--rounds and --epochs-check must be >= 1"),
    (["--seconds", "-1"], "--seconds and --tolerance > 0"),
    (["--tolerance", "0"], "--seconds and --tolerance > 0"),
])
def test_bad_arguments_are_refused_before_any_work(bench, capsys, monkeypatch, argv, says):
    def no_work(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(bench, "synthetic_data", no_work)
    monkeypatch.setattr(bench, "hvp_case", no_work)
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.startswith("compiled_steps.py: error:") and err.count("\n") == 1, f"not one line: {err!r}"
