import json
import math

import pytest

from mgdlcore.experiments.records import FILE_MODE, load_records, record_key, record_path, write_json_atomic, write_record


def rec(**kw):
    base = {"task": "regression", "image": "cameraman", "method": "MGDL", "profile": "smoke", "structure": "32",
            "epochs": 10, "learning_rate": 1e-3, "seed": 0, "variant": "max_size=32"}
    return {**base, **kw}


def test_write_and_load_round_trip(tmp_path):
    r = rec(psnr_test=25.5, history=[1.0, math.nan, math.inf])
    path = write_record(tmp_path, r)
    assert path == record_path(tmp_path, r) and path.parent.name == "regression"
    data = json.loads(path.read_text())
    assert data["history"] == [1.0, None, None] and data["psnr_test"] == 25.5
    assert [x["method"] for x in load_records(tmp_path, task="regression", profile="smoke")] == ["MGDL"]
    assert load_records(tmp_path, profile="cpu") == []
    assert list(tmp_path.rglob("*.tmp")) == []
    assert path.stat().st_mode & 0o777 == FILE_MODE  # as a plain open() would create it, not mkstemp's 0600


def test_key_depends_on_identifying_fields_only():
    assert record_key(rec(psnr_test=1.0)) == record_key(rec(psnr_test=2.0))
    assert record_key(rec()) != record_key(rec(seed=1))
    assert record_key(rec()) != record_key(rec(profile="cpu"))


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_record_needs_identifying_fields(tmp_path):
    with pytest.raises(ValueError, match="needs the fields"):
        write_record(tmp_path, {"task": "regression"})
