"""``benchmarks/authors_code.py`` refuses a bad ``--authors DIR`` with a one-line message and exit code 2, before
any work and without importing jax (which the test environment need not have)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "authors_code.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("authors_code_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def refused(bench, capsys, argv) -> str:
    had_jax = "jax" in sys.modules
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert had_jax or "jax" not in sys.modules, "jax was imported before the arguments were checked"
    return err


def test_missing_authors_dir(bench, capsys):
    err = refused(bench, capsys, ["--authors", "/nonexistent"])
    assert "/nonexistent" in err and "no such directory" in err


def test_authors_not_a_directory(bench, capsys, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    err = refused(bench, capsys, ["--authors", str(f)])
    assert str(f) in err and "not a directory" in err


def test_authors_dir_without_their_code(bench, capsys, tmp_path):
    err = refused(bench, capsys, ["--authors", str(tmp_path)])
    assert "sgdl.py not found" in err


def test_authors_option_absent(bench, capsys):
    err = refused(bench, capsys, [])
    assert "--authors DIR is required" in err
