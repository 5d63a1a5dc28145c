"""``benchmarks/lanczos_crosscheck.py`` refuses a bad key, a key without a checkpoint and bad options with one line
and exit status 2, before it computes anything."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def cross():
    spec = importlib.util.spec_from_file_location("lanczos_crosscheck_under_test", BENCH / "lanczos_crosscheck.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def refused(cross, capsys, monkeypatch, argv) -> str:
    def no_work(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(cross, "loss_hessian", no_work)
    with pytest.raises(SystemExit) as exit_:
        cross.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lanczos_crosscheck.py: error:") and err.count("\n") == 1, f"not one line: {err!r}"
    return err


@pytest.mark.parametrize("key", ["6428", "6428907G", "--"])
def test_a_key_that_is_no_hex_prefix_is_refused(cross, capsys, monkeypatch, key):
    assert "8 or more lowercase hex digits" in refused(cross, capsys, monkeypatch, [f"--key={key}"])


def test_bad_options_are_refused(cross, capsys, monkeypatch):
    assert "--chunk must be >= 1" in refused(cross, capsys, monkeypatch, ["--key", "6428907f", "--chunk", "0"])
    assert "--tolerance, --tolerance64 > 0, got 64, -1" in refused(cross, capsys, monkeypatch,
                                                                   ["--key", "6428907f", "--tolerance", "-1"])
    assert "got 64, 1e-05, 0" in refused(cross, capsys, monkeypatch, ["--key", "6428907f", "--tolerance64", "0"])


def test_a_key_without_a_checkpoint_is_refused(cross, capsys, monkeypatch, tmp_path):
    key = next(c.key for c in cross.profiles.all_configs("cpu") if getattr(c, "track_every", None)
               and getattr(c, "eigen_method", None) == "lanczos" and c.image is None)[:12]
    err = refused(cross, capsys, monkeypatch, ["--key", key, "--results", str(tmp_path)])
    assert f"0 live and 0 parked checkpoints of a key starting {key!r}" in err
    assert str(tmp_path) in err


def test_a_run_the_check_does_not_cover_is_refused(cross, capsys, monkeypatch):
    key = next(c.key for c in cross.profiles.all_configs("smoke") if c.task == "regression")[:12]
    assert "not one network trained by plain GD" in refused(cross, capsys, monkeypatch, ["--key", key])


def test_a_state_saved_between_checks_is_refused(cross, capsys, monkeypatch, tmp_path):
    """A run also saves between checks: its parameters are then past the eigenvalues it holds, and comparing the two
    would report a difference that is no error of either path."""
    config = next(c for c in cross.profiles.all_configs("cpu") if getattr(c, "track_every", None)
                  and getattr(c, "eigen_method", None) == "lanczos" and c.image is None)
    folder = tmp_path / ".checkpoints" / f"{config.task}-{config.key[:16]}-0123abcd"
    folder.mkdir(parents=True)
    cross.torch.save({"done": 529, "params": [], "callbacks": [{"epochs": [0, 520], "values": {}}]},
                     folder / "train-000.pt")
    err = refused(cross, capsys, monkeypatch, ["--key", config.key[:12], "--results", str(tmp_path)])
    assert "was saved at a check (529 epochs done, last check at 520)" in err
