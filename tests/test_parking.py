"""Parked checkpoints (``mgdl-results park``): size limit, listing, and the restore rules. The resume of a parked
batch after a fresh clone is tested in ``tests/test_gd_sweep.py``."""

import json
import lzma
import os

import pytest

from mgdlcore.experiments import parking, segments
from mgdlcore.experiments.verify import main as results_main


def checkpoint(results, name, nbytes=1000, before=5.0):
    folder = results / parking.CHECKPOINTS / name
    folder.mkdir(parents=True)
    (folder / "train-000.pt").write_bytes(os.urandom(nbytes))      # incompressible
    (folder / segments.FILE).write_text(json.dumps({"before": before, "count": 1, "complete": True,
                                                    "started": (folder / "train-000.pt").stat().st_mtime - 60}))
    return folder


def test_park_copies_folders_with_a_checkpoint_and_counts_their_time(tmp_path):
    checkpoint(tmp_path, "regression-aaaa-1111")
    (tmp_path / parking.CHECKPOINTS / "regression-bbbb-2222").mkdir()      # started, no checkpoint yet
    out = parking.park(tmp_path)
    assert [p.name for p in out] == ["regression-aaaa-1111"]
    assert out[0].seconds == pytest.approx(65.0, abs=1.0)                   # 5 s earlier + 60 s to the checkpoint
    assert [p.name for p in parking.parked(tmp_path)] == ["regression-aaaa-1111"]
    # compressed, byte for byte the checkpoint
    packed = tmp_path / parking.PARKED / "regression-aaaa-1111" / "train-000.pt.xz"
    assert lzma.decompress(packed.read_bytes()) == (tmp_path / parking.CHECKPOINTS / out[0].name / "train-000.pt").read_bytes()


def test_park_refuses_above_the_size_limit_and_copies_nothing(tmp_path, capsys):
    checkpoint(tmp_path, "regression-aaaa-1111", nbytes=2_000_000)
    with pytest.raises(ValueError, match="above the limit of 1 MB"):
        parking.park(tmp_path, max_mb=1)
    assert not (tmp_path / parking.PARKED).exists() and not list(tmp_path.glob(".parking-*"))
    assert results_main(["park", "--results", str(tmp_path), "--max-mb", "1"]) == 2
    assert "mgdl-results park: parked checkpoints would take 2.0 MB" in capsys.readouterr().err
    assert results_main(["park", "--results", str(tmp_path)]) == 0
    assert "1 parked checkpoint folder(s)" in capsys.readouterr().out


def test_restore_never_overwrites_a_checkpoint_of_this_machine(tmp_path):
    folder = checkpoint(tmp_path, "regression-aaaa-1111", nbytes=10)
    parking.park(tmp_path)
    (folder / "train-000.pt").write_bytes(b"newer")
    assert parking.restore(folder) is False
    assert (folder / "train-000.pt").read_bytes() == b"newer"
    (folder / "train-000.pt").unlink()                                       # lost: the parked copy comes back
    assert parking.restore(folder) is True and len((folder / "train-000.pt").read_bytes()) == 10
    parking.discard(folder)
    assert not (tmp_path / parking.PARKED / folder.name).exists()
    assert parking.restore(folder) is False                                 # nothing parked: nothing to do


def test_a_plan_gives_the_pace_since_a_run_last_resumed(tmp_path):
    """A start records the seconds and epochs saved when it began; parking and restoring keep that; the plan's time
    left follows the pace since then (here half the whole run's), or the whole run's where nothing says it."""
    import shutil

    import torch

    from mgdlcore.experiments.campaign import time_left

    folder = tmp_path / ".checkpoints" / "run"
    folder.mkdir(parents=True)
    t0 = 1_000_000.0
    (folder / segments.FILE).write_text(json.dumps({"before": 0.0, "count": 1, "complete": True, "started": t0}))
    torch.save({"done": 1000}, folder / "train-000.pt")
    os.utime(folder / "train-000.pt", (t0 + 3600, t0 + 3600))            # 1,000 epochs in the first hour
    segments.begin(folder, now=t0 + 5000)
    assert parking.resumed(folder) == (3600.0, 1000)
    torch.save({"done": 1500}, folder / "train-000.pt")
    os.utime(folder / "train-000.pt", (t0 + 8600, t0 + 8600))            # 500 more in the next hour
    seconds, _ = parking.progress(folder)
    assert seconds == pytest.approx(7200.0)
    assert time_left(seconds, 1500, 3000, parking.resumed(folder)) == (
        "~3.0 h left at the pace since it last resumed (500 epochs in 1.0 h), ~2.0 h at the whole run's")
    assert time_left(seconds, 1500, 3000, None) == "~2.0 h left at that pace"
    assert time_left(seconds, 1500, 3000, (0.0, 0)) == "~2.0 h left at that pace"     # its first start
    parking.park(tmp_path)
    assert parking.resumed(tmp_path / ".checkpoints" / "run") == (3600.0, 1000)
    shutil.rmtree(folder)                                                # a fresh clone: the parked copy only
    assert parking.resumed(folder) == (3600.0, 1000)
    assert parking.restore(folder) and parking.resumed(folder) == (3600.0, 1000)


def test_parking_and_restoring_keep_the_note_of_checkpoints_carried_to_newer_code(tmp_path):
    folder = checkpoint(tmp_path, "regression-aaaa-1111", nbytes=10)
    note = {"from_code": "0123abcd", "checked_by": "x.json", "commit": "c0ffee"}
    assert parking.carry(tmp_path, {"regression-aaaa-1111": "regression-aaaa-2222"}, note) == \
        [f"{parking.CHECKPOINTS}/regression-aaaa-2222"]
    folder = folder.with_name("regression-aaaa-2222")
    parking.park(tmp_path)
    parked = tmp_path / parking.PARKED / folder.name
    assert json.loads((parked / segments.FILE).read_text())["adopted"] == [note]
    (folder / "train-000.pt").unlink()
    assert parking.restore(folder)
    assert segments.begin(folder).adopted == (note,)
    assert json.loads((folder / segments.FILE).read_text())["adopted"] == [note]
    assert segments.provenance_fields(segments.begin(folder))["checkpoint_adopted"] == [note]
