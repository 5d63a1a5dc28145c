"""The engine: config keys, the record schema, run() reuse / stale / corrupt rules, locks, verify and the campaign.

A tiny experiment kind (``toy``) registered here keeps these tests fast; the regression kind is exercised in
test_regression.py.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import pytest

from mgdlcore.experiments import runner, verify
from mgdlcore.experiments.config import SCHEMA, ExperimentConfig, config_key, positive_float
from mgdlcore.experiments.records import FILE_MODE, RecordError, load_records, read_record, record_path, scan
from mgdlcore.experiments.runner import Outcome, RecordUnavailable, register, run

CALLS = []


@dataclass(frozen=True, kw_only=True)
class ToyConfig(ExperimentConfig):
    KIND = "toy"
    TASKS = ("toy",)
    task: str = "toy"
    method: str = "square"
    x: float = 2.0
    blow_up: bool = False

    def validate(self):
        super().validate()
        positive_float("x", self.x)


def toy_compute(config, ctx):
    CALLS.append(config.x)
    value = float("nan") if config.blow_up else config.x ** 2
    return Outcome(metrics={"value": value, "diverged": config.blow_up}, series={"curve": [1.0, value]},
                   arrays={"img": np.full((3, 2), config.x)})


register(ToyConfig, toy_compute, tolerances={"value": 1e-9})


@pytest.fixture(autouse=True)
def _clear():
    CALLS.clear()


def test_key_covers_every_field_and_schema():
    a, b = ToyConfig(x=2.0), ToyConfig(x=2.0)
    assert a.key == b.key == config_key(a.to_dict()) and len(a.key) == 64
    assert ToyConfig(x=3.0).key != a.key and ToyConfig(seed=1).key != a.key
    assert config_key(a.to_dict(), schema=SCHEMA + 1) != a.key
    assert ToyConfig.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("bad, message", [
    (dict(x=-1.0), "x must be a finite number > 0"),
    (dict(seed=-2), "seed must be an integer >= 0"),
    (dict(device="auto"), "device must be resolved"),
    (dict(dtype="float16"), "unknown dtype"),
    (dict(tf32=True), "tf32=True applies to CUDA"),
])
def test_bad_settings_fail_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message) as err:
        ToyConfig(**bad)
    assert "\n" not in str(err.value)


def test_run_writes_reuses_and_recomputes(tmp_path):
    rec = run(ToyConfig(x=3.0), results_dir=tmp_path, profile="smoke")
    assert CALLS == [3.0] and rec.metrics["value"] == 9.0 and rec.profile == "smoke"
    data = json.loads(rec.path.read_text())
    assert set(data) == {"schema", "key", "config", "metrics", "series", "arrays", "provenance", "profile"}
    assert data["config"]["task"] == "toy" and data["provenance"]["code"]
    assert oct(rec.path.stat().st_mode & 0o777) == oct(FILE_MODE)
    np.testing.assert_allclose(rec.arrays()["img"], 3.0)
    again = run(ToyConfig(x=3.0), results_dir=tmp_path)
    assert CALLS == [3.0] and again.data == rec.data          # reused, not recomputed
    run(ToyConfig(x=3.0, seed=1), results_dir=tmp_path)       # any field change is a new run
    assert CALLS == [3.0, 3.0]
    run(ToyConfig(x=3.0), results_dir=tmp_path, train="always")
    assert CALLS == [3.0, 3.0, 3.0]


def test_diverged_run_is_recorded_not_raised(tmp_path):
    rec = run(ToyConfig(blow_up=True), results_dir=tmp_path)
    assert rec.diverged and rec.metrics["value"] is None and read_record(rec.path).diverged


def test_never_mode_reports_why(tmp_path):
    with pytest.raises(RecordUnavailable, match="no record"):
        run(ToyConfig(), results_dir=tmp_path, train="never")
    assert CALLS == []


def test_corrupt_record_is_moved_aside_and_recomputed(tmp_path):
    rec = run(ToyConfig(), results_dir=tmp_path)
    rec.path.write_text(rec.path.read_text()[:40])              # truncated file
    with pytest.warns(UserWarning, match="moved aside"):
        again = run(ToyConfig(), results_dir=tmp_path)
    assert CALLS == [2.0, 2.0] and again.metrics["value"] == 4.0
    assert rec.path.with_name(rec.path.name + ".corrupt").is_file()
    _, problems = scan(tmp_path)
    assert problems == []                                       # the .corrupt file is not a record
    # the state of a run in progress (checkpoint folder) is no record either; a stray file elsewhere is reported
    (tmp_path / ".checkpoints" / "toy-0").mkdir(parents=True)
    (tmp_path / ".checkpoints" / "toy-0" / "segments.json").write_text('{"count": 1}')
    assert scan(tmp_path)[1] == [] and verify.verify(tmp_path)[1] == []
    (tmp_path / "toy" / "stray.json").write_text('{"count": 1}')
    assert len(scan(tmp_path)[1]) == 1 and len(verify.verify(tmp_path)[1]) == 1


def test_scan_never_enters_hidden_folders(tmp_path, monkeypatch):
    """A run in progress deletes its checkpoint folder when it ends, possibly while another process scans the
    results: the scan must not look inside hidden folders at all (here any look inside one fails)."""
    rec = run(ToyConfig(), results_dir=tmp_path)
    (tmp_path / ".checkpoints" / "toy-0").mkdir(parents=True)
    real = os.scandir

    def vanished(path="."):
        if ".checkpoints" in str(path):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", vanished)
    records, problems = scan(tmp_path)
    assert [r.path for r in records] == [rec.path] and problems == []


def test_edited_config_is_detected(tmp_path):
    rec = run(ToyConfig(), results_dir=tmp_path)
    data = json.loads(rec.path.read_text())
    data["config"]["x"] = 5.0
    rec.path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match="key does not match"):
        read_record(rec.path)
    with pytest.warns(UserWarning, match="unusable record"):
        assert load_records(tmp_path) == []


def test_stale_code_is_recomputed(tmp_path, monkeypatch):
    run(ToyConfig(), results_dir=tmp_path)
    fake = {**runner.current_code("toy"), "models": "000000000000"}
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, fake)
    with pytest.raises(RecordUnavailable, match="stale record.*models"):
        run(ToyConfig(), results_dir=tmp_path, train="never")
    run(ToyConfig(), results_dir=tmp_path)
    assert CALLS == [2.0, 2.0]


@pytest.mark.parametrize("moves", [False, True])
def test_adopt_restamps_only_when_a_full_rerun_reproduces(tmp_path, monkeypatch, moves):
    import dataclasses

    for x in (2.0, 3.0):
        run(ToyConfig(x=x), results_dir=tmp_path)
    fake = {**runner.current_code("toy"), "models": "000000000000"}      # a changed code path
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, fake)
    if moves:                                                           # ... that changes a result
        kind = runner.kind_of("toy")
        moved = dataclasses.replace(kind, compute=lambda c, ctx: toy_compute(dataclasses.replace(c, x=c.x + 1), ctx))
        monkeypatch.setitem(runner.KINDS, "toy", moved)
    assert len(verify.verify(tmp_path)[1]) == 2                              # both stale
    n, problems = verify.adopt(tmp_path)
    if moves:
        assert n == 0 and any("value" in p for p in problems) and len(verify.verify(tmp_path)[1]) == 2
    else:
        assert n == 2 and not problems and verify.verify(tmp_path)[1] == []
        rec = read_record(record_path(tmp_path, ToyConfig(x=3.0)))
        assert rec.provenance["adopted"]["checked_by"] in {record_path(tmp_path, ToyConfig(x=x)).name for x in (2.0, 3.0)}
        assert rec.provenance["code"] == fake and rec.provenance["adopted"]["from_code"] != fake


def test_adopt_never_vouches_for_gpu_records_with_a_cpu_rerun(tmp_path, monkeypatch):
    """A change can move the GPU's code path alone (CUDA graphs): stale GPU records are grouped apart and left
    stale on a machine without a GPU, while the CPU group beside them is adopted."""
    import dataclasses

    run(ToyConfig(x=2.0), results_dir=tmp_path)
    gpu = dataclasses.replace(ToyConfig(x=2.0), device="cuda")
    data = json.loads(run(ToyConfig(x=4.0), results_dir=tmp_path).path.read_text())
    data["config"]["device"], data["config"]["x"], data["key"] = "cuda", 2.0, gpu.key      # a GPU record
    cpu4 = record_path(tmp_path, ToyConfig(x=4.0))
    if cpu4.with_suffix(".npz").is_file():
        cpu4.with_suffix(".npz").rename(record_path(tmp_path, gpu).with_suffix(".npz"))
    cpu4.unlink()
    record_path(tmp_path, gpu).write_text(json.dumps(data))
    assert read_record(record_path(tmp_path, gpu)).config["device"] == "cuda"
    fake = {**runner.current_code("toy"), "models": "000000000000"}
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, fake)
    monkeypatch.setattr(verify, "runnable_devices", lambda: {"cpu"})
    awaiting: list[str] = []
    _, problems = verify.verify(tmp_path, awaiting=awaiting)
    gpu_name = record_path(tmp_path, gpu).name
    assert len(problems) == 1 and gpu_name not in problems[0]               # the CPU record: fix it here
    assert len(awaiting) == 1 and gpu_name in awaiting[0]
    assert len(verify.verify(tmp_path)[1]) == 2                             # without the list: both are problems
    n, problems = verify.adopt(tmp_path)
    assert n == 1 and problems == ["toy: 1 stale cuda record(s); no cuda here to check the change"]
    assert "adopted" not in read_record(record_path(tmp_path, gpu)).provenance
    assert verify.adopt(tmp_path, devices={"cpu"}) == (0, [])               # the GPU group is not even looked at


def test_records_are_found_on_any_device_but_the_config_own_first(tmp_path):
    from dataclasses import replace

    from mgdlcore.experiments.runner import find_on_any_device

    run(ToyConfig(x=3.0), results_dir=tmp_path)                     # made on the CPU
    gpu = replace(ToyConfig(x=3.0), device="cuda")                  # asked for as a GPU config
    found = find_on_any_device([gpu, ToyConfig(x=5.0)], tmp_path)   # x=5 has no record anywhere: left out
    assert [r.config["device"] for r in found] == ["cpu"] and found[0].metrics["value"] == 9.0
    assert CALLS == [3.0]                                           # nothing computed


def test_stale_records_of_another_device_are_shown_with_a_note(tmp_path, monkeypatch):
    from dataclasses import replace

    from mgdlcore.experiments.runner import find_on_any_device
    from mgdlcore.report.provenance import stale_note

    run(ToyConfig(x=3.0), results_dir=tmp_path)                     # made on the CPU
    gpu = replace(ToyConfig(x=3.0), device="cuda")
    fake = {**runner.current_code("toy"), "models": "000000000000"}
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, fake)
    assert find_on_any_device([gpu], tmp_path) == []                # stale: not current anywhere
    assert find_on_any_device([ToyConfig(x=3.0)], tmp_path, stale_elsewhere=True) == []   # own device: rerun it
    found = find_on_any_device([gpu], tmp_path, stale_elsewhere=True)
    assert [r.config["device"] for r in found] == ["cpu"]
    note = stale_note(found)
    assert note.startswith("1 of these 1 records were made by code that has changed since (models)")
    assert "adopt --device cpu" in note
    monkeypatch.undo()
    assert stale_note(found) == "" and CALLS == [3.0]


def test_lock_prevents_a_second_writer(tmp_path):
    path = record_path(tmp_path, ToyConfig())
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".lock").write_text(f"{__import__('socket').gethostname()}:{os.getpid()}")
    with pytest.raises(RuntimeError, match="another process is computing this record"):
        run(ToyConfig(), results_dir=tmp_path)
    assert CALLS == [] and not path.exists()


def test_unwritable_results_dir_fails_before_work(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        run(ToyConfig(), results_dir=target)
    if os.geteuid() != 0:                                       # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="not writable"):
            run(ToyConfig(), results_dir=ro)
    assert CALLS == []


def test_verify_passes_then_fails_on_edit_and_staleness(tmp_path, monkeypatch):
    run(ToyConfig(x=2.0), results_dir=tmp_path)
    rec = run(ToyConfig(x=3.0), results_dir=tmp_path)
    valid, problems = verify.verify(tmp_path)
    assert len(valid) == 2 and problems == []
    assert verify.rerun(valid, 1) == []                         # a rerun reproduces the metric
    data = json.loads(rec.path.read_text())
    data["metrics"]["value"] = 10.0                             # a metric that the code does not produce
    data_path = rec.path
    data_path.write_text(json.dumps(data))
    valid, problems = verify.verify(tmp_path)
    assert problems == [] and any("value: 10 -> 9" in m for m in verify.rerun(valid, 2))
    data["config"]["x"] = 4.0                                   # an edited config
    data_path.write_text(json.dumps(data))
    _, problems = verify.verify(tmp_path)
    assert len(problems) == 1 and "key does not match" in problems[0]
    data_path.unlink()
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, {"toy": "changed"})
    _, problems = verify.verify(tmp_path)
    assert len(problems) == 1 and "stale" in problems[0]


def test_verify_flags_a_commit_that_is_not_an_ancestor(tmp_path, monkeypatch):
    rec = run(ToyConfig(), results_dir=tmp_path)
    data = json.loads(rec.path.read_text())
    if data["provenance"]["commit"] is None:
        pytest.skip("not a git checkout")
    data["provenance"]["commit"] = "0" * 40
    rec.path.write_text(json.dumps(data))
    _, problems = verify.verify(tmp_path)
    assert any("not an ancestor" in p for p in problems)


def test_verify_cli_exit_codes(tmp_path, capsys):
    run(ToyConfig(), results_dir=tmp_path)
    assert verify.main(["verify", "--results", str(tmp_path)]) == 0
    next(tmp_path.rglob("*.json")).write_text("{")
    assert verify.main(["verify", "--results", str(tmp_path)]) == 1
    assert "unreadable" in capsys.readouterr().out


def test_rerun_skips_records_this_machine_cannot_make(tmp_path, capsys, monkeypatch):
    """A GPU record (the cheapest here) is not rerun on a machine without a GPU; the CPU record is."""
    from dataclasses import replace

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run(ToyConfig(x=2.0), results_dir=tmp_path)
    data = json.loads(record_path(tmp_path, ToyConfig(x=2.0)).read_text())
    gpu = replace(ToyConfig(x=3.0), device="cuda")
    data.update(config=gpu.to_dict(), key=gpu.key, arrays=[])
    data["provenance"]["seconds"] = 0.0
    path = record_path(tmp_path, gpu)
    path.write_text(json.dumps(data))
    valid, problems = verify.verify(tmp_path)
    assert len(valid) == 2 and not problems
    CALLS.clear()
    assert verify.rerun(valid, 1) == [] and CALLS == [2.0]
    assert "reproduced" in capsys.readouterr().out


def test_fingerprint_ignores_prose_but_not_code(tmp_path):
    from mgdlcore.experiments.provenance import _normalised_source_hash, code_fingerprint

    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Doc."""\ndef f(x):\n    """Old words."""\n    return x + 1  # note\n')
    b.write_text('"""Other doc."""\n\ndef f(x):\n    """New words."""\n    return x + 1\n')
    c.write_text('"""Doc."""\ndef f(x):\n    """Old words."""\n    return x + 2\n')
    assert _normalised_source_hash(a) == _normalised_source_hash(b) != _normalised_source_hash(c)
    fp = code_fingerprint("mgdlcore.experiments.regression")
    # the regression code path: training loop and grades are on it, bookkeeping and other kinds are not
    assert {"training.loop", "training.grades", "models", "experiments.regression"} <= set(fp)
    assert not {"experiments.records", "experiments.runner", "paper.values"} & set(fp)
    # no kind's fingerprint holds a module of the experiment machinery (runner, segments, cost, ...): a change
    # there moves no number, so it must not make every record stale
    from mgdlcore.experiments.profiles import KIND_MODULES
    for kind in KIND_MODULES:
        machinery = {m for m in code_fingerprint(f"mgdlcore.experiments.{kind}")
                     if m.startswith("experiments.") and m.split(".", 1)[1] not in KIND_MODULES}
        assert not machinery, f"{kind}: {sorted(machinery)}"


def test_fingerprint_text_is_the_same_on_every_python():
    """Records made under another Python (3.12 on a GPU machine) must not look stale: the dump that is hashed is
    pinned to the text Python 3.11 gives (3.12 adds empty ``type_params``, 3.13 hides empty fields)."""
    import ast

    from mgdlcore.experiments.provenance import syntax_dump

    tree = ast.parse("class A:\n    def f(self, x):\n        return x\n")
    assert syntax_dump(tree) == (
        "Module(body=[ClassDef(name='A', bases=[], keywords=[], body=[FunctionDef(name='f', args=arguments("
        "posonlyargs=[], args=[arg(arg='self'), arg(arg='x')], kwonlyargs=[], kw_defaults=[], defaults=[]), "
        "body=[Return(value=Name(id='x', ctx=Load()))], decorator_list=[])], decorator_list=[])], type_ignores=[])")


def test_lock_of_a_dead_process_is_cleared(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = record_path(tmp_path, ToyConfig())
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".lock").write_text(f"{socket.gethostname()}:{dead.stdout.strip()}")
    rec = run(ToyConfig(), results_dir=tmp_path)
    assert CALLS == [2.0] and rec.path.is_file() and not path.with_name(path.name + ".lock").exists()


def test_rerun_selection_per_task_and_trained_only(tmp_path, capsys):
    for x in (1.0, 2.0, 3.0):
        run(ToyConfig(x=x), results_dir=tmp_path)
    valid, _ = verify.verify(tmp_path)
    CALLS.clear()
    assert verify.rerun(valid, 2, per_task=True) == [] and len(CALLS) == 2
    CALLS.clear()
    assert verify.rerun(valid, 2, per_task=True, trained_only=True) == [] and CALLS == []   # toy runs train nothing


def test_parallel_rerun_reproduces_and_flags_a_moved_metric(tmp_path):
    """``verify --rerun --jobs 2``: reruns in worker processes reproduce real records and name an edited one."""
    from mgdlcore.experiments import gd_dynamics

    configs = gd_dynamics.configs("smoke", ("learning_rate",), settings=[1], images=[], device="cpu")[:2]
    recs = [run(c, results_dir=tmp_path, profile="smoke", progress=False) for c in configs]
    data = json.loads(recs[1].path.read_text())
    data["metrics"]["final_train_loss"] *= 2                    # a metric the code does not produce
    recs[1].path.write_text(json.dumps(data))
    valid, problems = verify.verify(tmp_path)
    assert problems == [] and len(valid) == 2
    # one pool of two workers: the untouched record is reproduced (no line), the edited one is named
    lines = verify.rerun(valid, 2, jobs=2)
    assert len(lines) == 1 and lines[0].startswith(recs[1].path.name) and "final_train_loss" in lines[0]
    assert verify.main(["verify", "--results", str(tmp_path), "--rerun", "1", "--jobs", "0"]) == 2


def test_a_record_carries_the_commit_its_run_started_from(tmp_path, monkeypatch):
    """A commit made while a run trains is not stamped on its record: the commit is taken as the run starts, like
    its code fingerprint."""
    import dataclasses
    import subprocess

    from mgdlcore.experiments import provenance as prov

    head = {"commit": "a" * 40}

    def fake_git(*args):
        out = head["commit"] if args[0] == "rev-parse" else ""
        return subprocess.CompletedProcess(args, 0, stdout=out, stderr="")

    def compute_then_commit(config, ctx):
        head["commit"] = "b" * 40                 # someone commits while this run trains
        prov.git_state.cache_clear()
        return toy_compute(config, ctx)

    monkeypatch.setattr(prov, "_git", fake_git)
    monkeypatch.setitem(runner.KINDS, "toy", dataclasses.replace(runner.kind_of("toy"), compute=compute_then_commit))
    prov.git_state.cache_clear()
    try:
        rec = run(ToyConfig(x=5.0), results_dir=tmp_path)
    finally:
        prov.git_state.cache_clear()
    assert rec.provenance["commit"] == "a" * 40


@pytest.mark.parametrize("moves", [False, True])
def test_adopt_hands_unfinished_runs_checkpoints_to_the_new_code_and_their_record_says_so(tmp_path, monkeypatch,
                                                                                          moves):
    """A change shown not to move results carries the checkpoints of the task's unfinished runs on that device
    (in-run and parked) to the new code's folder names, so a long run resumes; its record then names the older code
    and the record that vouched for it. A change that moved results carries nothing, nor are other devices' runs
    carried."""
    import dataclasses

    from mgdlcore.experiments import parking, segments

    run(ToyConfig(x=2.0), results_dir=tmp_path)
    old = runner.current_code("toy")
    unfinished, elsewhere = ToyConfig(x=5.0), dataclasses.replace(ToyConfig(x=5.0), device="cuda")
    names = {}
    for root, config in ((parking.CHECKPOINTS, unfinished), (parking.PARKED, unfinished), (parking.CHECKPOINTS, elsewhere)):
        folder = tmp_path / root / runner.checkpoint_name("toy", config.key, old)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / segments.FILE).write_text(json.dumps({"before": 7.0, "count": 2, "complete": True, "started": 0.0}))
        names[(root, config.device)] = folder
    monkeypatch.setattr(verify, "config_keys", lambda task, device: {c.key for c in (unfinished, elsewhere)
                                                                     if task == "toy" and c.device == device})
    fake = {**old, "models": "000000000000"}
    monkeypatch.setitem(runner._FINGERPRINTS, runner.kind_of("toy").module, fake)
    if moves:
        kind = runner.kind_of("toy")
        moved = dataclasses.replace(kind, compute=lambda c, ctx: toy_compute(dataclasses.replace(c, x=c.x + 1), ctx))
        monkeypatch.setitem(runner.KINDS, "toy", moved)
    verify.adopt(tmp_path)
    carried = {k: f.with_name(runner.checkpoint_name("toy", unfinished.key, fake)) for k, f in names.items()}
    assert names[(parking.CHECKPOINTS, "cuda")].is_dir()                   # another device's run: never carried
    if moves:
        assert all(f.is_dir() for f in names.values()) and not any(f.exists() for f in carried.values())
        return
    for root in (parking.CHECKPOINTS, parking.PARKED):
        assert not names[(root, "cpu")].exists() and carried[(root, "cpu")].is_dir()
        note = json.loads((carried[(root, "cpu")] / segments.FILE).read_text())["adopted"]
        assert note == [{"from_code": runner.code_digest(old), "checked_by": record_path(tmp_path, ToyConfig()).name,
                         "commit": note[0]["commit"]}]
    rec = run(unfinished, results_dir=tmp_path)                              # resumes in the carried folder
    assert rec.provenance["checkpoint_adopted"][0]["from_code"] == runner.code_digest(old)
    assert rec.provenance["segments"] == 3
