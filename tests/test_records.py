"""Records keep long series (loss curves) in an exact sibling series file and read them back as the same lists."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from mgdlcore.experiments import records, verify
from mgdlcore.experiments.config import ExperimentConfig
from mgdlcore.experiments.records import (SERIES_MIN, SERIES_REF, RecordError, compact, join_series, read_record,
                                          series_path, split_series, write_json_atomic)
from mgdlcore.experiments.runner import Outcome, register, run


@dataclass(frozen=True, kw_only=True)
class CurveConfig(ExperimentConfig):
    KIND = "toy_series"
    TASKS = ("toy_series",)
    task: str = "toy_series"
    method: str = "curve"
    n: int = 200


def curve_series(n: int) -> dict:
    loss = [1.0 / (k + 3) for k in range(n)]
    loss[5] = None                                             # a non-finite loss, as records keep it
    return {"grades": [{"loss": loss, "loss_epochs": list(range(0, 10 * n, 10)), "seconds": 1.5}],
            "short": [0.1, 0.2]}


def curve_compute(config, ctx):
    return Outcome(metrics={"last": 1.0 / (config.n + 2), "diverged": False}, series=curve_series(config.n))


register(CurveConfig, curve_compute, tolerances={"last": 1e-12})


def test_split_and_join_give_back_the_same_lists_value_for_value_and_type_for_type():
    n = SERIES_MIN
    series = {"grades": [{"loss": [0.5, None, -0.0, 1e-300] + [k / 7 for k in range(n)], "epochs": list(range(n)),
                          "flags": [True] * n, "mixed": [1, 2.5] * n, "nones": [None] * n, "short": [1.0] * (n - 1),
                          "tracks": [[0.25] * n, [1, 2]]}], "kappa": 3}
    raw, columns = split_series(series)
    assert sorted(columns) == ["series.grades.0.epochs", "series.grades.0.loss", "series.grades.0.tracks.0"]
    assert columns["series.grades.0.loss"].dtype == np.float64 and columns["series.grades.0.epochs"].dtype == np.int64
    g = raw["grades"][0]
    assert g["loss"] == {SERIES_REF: "series.grades.0.loss"} and g["flags"] == [True] * n   # bools stay in the JSON
    assert g["mixed"] == [1, 2.5] * n and g["short"] == [1.0] * (n - 1) and g["tracks"][1] == [1, 2]
    back = join_series(json.loads(json.dumps(raw)), columns)
    assert json.dumps(back) == json.dumps(series)             # 1 stays 1, 1.0 stays 1.0, None stays None, -0.0 too


def test_a_run_keeps_its_long_series_in_an_exact_series_file(tmp_path):
    rec = run(CurveConfig(), results_dir=tmp_path, progress=False)
    data = json.loads(rec.path.read_text())
    assert data["series"]["grades"][0]["loss"] == {SERIES_REF: "series.grades.0.loss"}
    assert data["series"]["short"] == [0.1, 0.2] and series_path(rec.path).is_file()
    again = read_record(rec.path)
    assert json.dumps(again.series) == json.dumps(curve_series(200))
    assert run(CurveConfig(), results_dir=tmp_path, train="never").series == again.series       # reused as it is


def test_a_missing_or_corrupt_series_file_is_found_and_the_run_recomputed(tmp_path):
    rec = run(CurveConfig(), results_dir=tmp_path, progress=False)
    good = series_path(rec.path).read_bytes()
    series_path(rec.path).unlink()
    with pytest.raises(RecordError, match="its series file .*series.npz is missing"):
        read_record(rec.path)
    assert any("is missing" in line for line in verify.verify(tmp_path)[1])
    series_path(rec.path).write_bytes(good[: len(good) // 2])   # truncated
    read_record(rec.path)                                       # the JSON alone is fine ...
    with pytest.raises(RecordError, match="unreadable series file"):
        read_record(rec.path, series=True)                      # ... its series file is not
    assert any("unreadable series file" in line for line in verify.verify(tmp_path)[1])
    with pytest.warns(UserWarning, match="moved aside"):
        again = run(CurveConfig(), results_dir=tmp_path, progress=False)
    assert json.dumps(read_record(again.path, series=True).series) == json.dumps(curve_series(200))
    assert series_path(rec.path).with_name(series_path(rec.path).name + ".corrupt").is_file()


def test_compact_moves_the_series_of_an_older_record_and_changes_nothing_else(tmp_path, capsys, monkeypatch):
    rec = run(CurveConfig(), results_dir=tmp_path, progress=False)
    compacted = json.loads(rec.path.read_text())
    older = {**compacted, "series": curve_series(200)}          # as records were written before series files
    write_json_atomic(rec.path, older)
    series_path(rec.path).unlink()
    assert verify.main(["verify", "--results", str(tmp_path)]) == 0
    assert "1 record(s) keep long series in their JSON" in capsys.readouterr().out
    before, after = compact(rec.path)
    assert after < before and series_path(rec.path).is_file()
    assert json.loads(rec.path.read_text()) == compacted         # key, config, metrics, provenance as they were
    assert json.dumps(read_record(rec.path, series=True).series) == json.dumps(curve_series(200))
    assert compact(rec.path) == (after, after)                   # already compact: nothing to do
    assert verify.main(["compact", "--results", str(tmp_path)]) == 0
    assert "0 record(s) compacted" in capsys.readouterr().out
    assert verify.verify(tmp_path)[1] == []
    # a series file that does not read back the same leaves the record as it was
    write_json_atomic(rec.path, older)
    monkeypatch.setattr(records, "join_series", lambda series, columns: {"grades": []})
    with pytest.raises(RecordError, match="did not read back the same"):
        compact(rec.path)
    assert json.loads(rec.path.read_text()) == older
