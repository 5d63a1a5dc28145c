import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Hessian-vector products stay eager in tests unless a test asks otherwise: whether a structure's products are
# compiled depends on how long earlier tests spent on them (analysis.hessian.HvpCompiler), and a compiled product
# differs from an eager one by float rounding, so comparisons of two runs must not depend on the order of tests.
os.environ.setdefault("MGDL_COMPILE_HVP", "never")


@pytest.fixture
def user_image(tmp_path):
    """A small 24 x 20 grey-level PNG of the user's own (``file:`` images)."""
    r, c = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 20), indexing="ij")
    arr = (255 * (0.5 + 0.4 * np.sin(4 * r + 2 * c))).astype(np.uint8)
    path = tmp_path / "waves.png"
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def device():
    return torch.device("cpu")


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def odd_image():
    """A smooth 37x31 test image on [0, 1] (odd, non-square: catches height/width swaps)."""
    r, c = np.meshgrid(np.linspace(0, 1, 37), np.linspace(0, 1, 31), indexing="ij")
    return 0.5 + 0.25 * np.sin(3 * r) * np.cos(2 * c) + 0.2 * r * c


@pytest.fixture
def data_dir():
    d = os.environ.get("MGDL_DATA_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("MGDL_DATA_DIR does not point at the paper's images")
    return Path(d)


class StopRun(Exception):
    """Raised inside a training epoch to interrupt a run as a killed process would."""


@pytest.fixture
def interrupted_batch(tmp_path, monkeypatch):
    """``go(configs, epoch_class, n)``: the records of ``runner.run_batch(configs)`` run in one go, and the records of
    the same batch stopped at the ``n``-th call of ``epoch_class.__call__`` and then resumed from its checkpoints
    (checkpoints every block, CUDA graphs emulated). Checks that the resumed run took fewer epochs than the whole
    run (it resumed rather than started again). ``park``: between the two, park the checkpoints and delete the
    checkpoint folder (a fresh clone of a commit that carries the parked copy)."""
    from mgdlcore.experiments.runner import run_batch
    from mgdlcore.training import checkpoint

    monkeypatch.setenv("MGDL_CUDA_GRAPHS", "emulate")
    monkeypatch.setenv(checkpoint.ENV_SECONDS, "0")

    def go(configs, epoch_class, n, park=False):
        real, calls = epoch_class.__call__, {"n": 0, "stop": None}

        def counting(self, slot):
            calls["n"] += 1
            if calls["n"] == calls["stop"]:
                raise StopRun
            real(self, slot)

        monkeypatch.setattr(epoch_class, "__call__", counting)
        ref = run_batch(configs, results_dir=tmp_path / "ref", profile="smoke", progress=False)
        whole, calls["n"], calls["stop"] = calls["n"], 0, n
        with pytest.raises(StopRun):
            run_batch(configs, results_dir=tmp_path / "run", profile="smoke", progress=False)
        assert list((tmp_path / "run" / ".checkpoints").glob("*/train-*.pt"))
        if park:   # as on a fresh clone: the parked copy only, its files dated by the clone (a day later)
            from mgdlcore.experiments import parking

            assert parking.park(tmp_path / "run")
            shutil.rmtree(tmp_path / "run" / ".checkpoints")
            later = time.time() + 86400
            for f in (tmp_path / "run" / ".parked").rglob("*"):
                os.utime(f, (later, later))
        calls["n"], calls["stop"] = 0, None
        got = run_batch(configs, results_dir=tmp_path / "run", profile="smoke", progress=False)
        assert 0 < calls["n"] < whole - n // 2, "the resumed run did not start from its checkpoint"
        if park:
            assert not list((tmp_path / "run" / ".parked").iterdir()), "the parked copy outlived the record"
            assert got[0].provenance["seconds"] < 3600, "the time between park and restore was counted"
        return ref, got

    return go


def pytest_terminal_summary(terminalreporter):
    """Wall seconds of each papermill run of tests/test_chapters.py, longest first (where CI time goes)."""
    import sys

    module = sys.modules.get("test_chapters") or sys.modules.get("tests.test_chapters")
    seconds = getattr(module, "JOB_SECONDS", None)
    if seconds:
        terminalreporter.section("papermill runs of the chapter tests (wall seconds)")
        for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{s:7.1f}  {name}")
        terminalreporter.write_line(f"{sum(seconds.values()):7.1f}  in all (two at a time)")


@pytest.fixture
def made_on():
    """``made_on(record, device, results_dir)``: the record moved to the same config on ``device`` (as if that
    device had made it), its own file removed; returns the other device's config."""
    import dataclasses
    import json

    from mgdlcore.experiments.records import record_path, write_json_atomic
    from mgdlcore.experiments.runner import config_from_dict

    def move(record, device, results_dir):
        other = dataclasses.replace(config_from_dict(record.config), device=device)
        data = json.loads(record.path.read_text())
        data.update(key=other.key, config=other.to_dict())
        write_json_atomic(record_path(results_dir, other), data)
        record.path.unlink()
        return other
    return move
