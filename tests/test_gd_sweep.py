"""A learning-rate sweep trained as one stacked model gives each config the record its own run gives."""

import json
import math

import pytest
import torch

from mgdlcore.experiments import gd_sweep, runner
from mgdlcore.experiments.campaign import main as campaign_main
from mgdlcore.experiments.gd_dynamics import compute, make_config
from mgdlcore.experiments.runner import Context, batch_groups, find_record, run_batch
from mgdlcore.training import batched

# setting 1, plain GD; 0.5 diverges within these epochs for both networks, the others do not. Rates where SGDL
# oscillates (0.1 here) are left out: float32 rounding differences grow there, so the two paths part after ~100 epochs
# (the float64 test of tests/test_batched.py holds every member to 1e-10 instead)
LRS = (0.01, 0.03, 0.5)
DIVERGING = {"SGDL": 0.5, "MGDL": 4.0}    # MGDL (30) takes larger steps: 0.5 converges, 4.0 diverges in grade 1
FIELDS = dict(epochs=160, eval_every=40, loss_every=7, device="cpu")


def sweep(method, lrs=LRS, **kw):
    return [make_config("learning_rate", 1, method, lr, "smoke", **{**FIELDS, **kw}) for lr in lrs]


def close(a, b, rel=2e-3, path=""):
    """Records equal up to float32 rounding (a stacked matrix product sums in another order than a plain one)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            close(a[k], b[k], rel, f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            close(u, v, rel, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=rel, abs=1e-7), path
    elif path.endswith("seconds") or path.endswith(".seconds"):
        pass
    else:
        assert a == b, path


@pytest.mark.parametrize("method", ["SGDL", "MGDL"])
def test_each_member_equals_its_serial_run(method):
    configs = sweep(method, lrs=(*LRS[:2], DIVERGING[method]))
    ctx = Context(device=torch.device("cpu"), progress=False)
    outs = gd_sweep.compute_batch(configs, ctx)
    assert [o.metrics["diverged"] for o in outs] == [False, False, True]
    for config, out in zip(configs, outs):
        ref = compute(config, ctx)
        for g in (*ref.series["grades"], *out.series["grades"]):
            g.pop("seconds")
        close(ref.metrics, out.metrics, path="metrics")
        close(ref.series, out.series, path="series")


def test_a_diverged_mgdl_member_leaves_the_later_grades():
    configs = sweep("MGDL", lrs=(0.1, DIVERGING["MGDL"]))
    outs = gd_sweep.compute_batch(configs, Context(device=torch.device("cpu"), progress=False))
    assert len(outs[0].series["grades"]) == 4
    assert outs[1].metrics["diverged_grade"] == len(outs[1].series["grades"]) == 1


def test_only_learning_rate_sweeps_batch_together():
    act = [make_config("activation", 1, "SGDL", lr, "smoke", activation=a, device="cpu")
           for a in ("relu", "tanh") for lr in LRS]
    assert [len(g) for g in batch_groups(act)] == [3, 1, 1, 1]          # ReLU only
    sg, mg = sweep("SGDL"), sweep("MGDL")
    other_seed = sweep("SGDL", seed=1)
    tracked = make_config("learning_rate", 1, "SGDL", 0.1, "smoke", tracked=True, device="cpu")
    groups = batch_groups([*sg, tracked, *mg, *other_seed])
    assert [len(g) for g in groups] == [3, 1, 3, 3]
    assert groups[0] == sg and groups[1] == [tracked] and groups[2] == mg
    assert gd_sweep.batch_key(tracked) is None
    with pytest.raises(ValueError, match="one learning-rate sweep"):
        gd_sweep.compute_batch([*sg[:1], *mg[:1]], Context(device=torch.device("cpu"), progress=False))
    with pytest.raises(ValueError, match="one batch"):
        run_batch([*sg[:1], *mg[:1]], results_dir="unused")


def test_run_batch_writes_current_records_that_say_how_they_were_made(tmp_path, monkeypatch):
    configs = sweep("SGDL")
    recs = run_batch(configs, results_dir=tmp_path, profile="smoke", progress=False)
    for config, rec in zip(configs, recs):
        assert rec.config == config.to_dict()
        assert rec.provenance["code_path"] == "experiments.gd_sweep" and rec.provenance["batch"] == 3
        assert "experiments.gd_sweep" in rec.provenance["code"] and "training.batched" in rec.provenance["code"]
        assert find_record(config, tmp_path)[0] is not None
    again = run_batch(configs, results_dir=tmp_path, profile="smoke", progress=False)
    assert [r.data for r in again] == [r.data for r in recs]         # reused, not trained again
    fake = {**runner.current_code("learning_rate", "experiments.gd_sweep"), "training.batched": "0" * 12}
    monkeypatch.setitem(runner._FINGERPRINTS, "mgdlcore.experiments.gd_sweep", fake)
    rec, why = find_record(configs[0], tmp_path, move_corrupt=False)
    assert rec is None and "training.batched" in why          # the batched code changed: stale
    monkeypatch.undo()
    assert not list((tmp_path / runner.CHECKPOINTS).glob("*"))


@pytest.mark.parametrize("method", ["SGDL", "MGDL"])
def test_an_interrupted_batch_resumes_to_the_same_numbers(interrupted_batch, method):
    configs = sweep(method, lrs=(*LRS[:2], DIVERGING[method]))
    # stopped after the checkpoint of epoch 80 (blocks of 40 epochs, as on a GPU); MGDL: in grade 2
    ref, got = interrupted_batch(configs, batched.FusedBatchedEpoch, {"SGDL": 100, "MGDL": 250}[method])
    assert got[0].provenance.get("segments") == 2
    for a, b in zip(ref, got):
        assert json.dumps(a.metrics, sort_keys=True) == json.dumps(b.metrics, sort_keys=True)
        for ga, gb in zip(a.series["grades"], b.series["grades"]):
            assert ga["loss"] == gb["loss"] and ga["val_loss"] == gb["val_loss"]


def test_a_parked_batch_resumes_after_a_fresh_clone(interrupted_batch):
    """Checkpoints parked in the repository (``mgdl-results park``) resume on a machine without the checkpoint
    folder; the record is the uninterrupted one and its seconds leave out the time the run was parked."""
    configs = sweep("SGDL", lrs=LRS[:2])
    ref, got = interrupted_batch(configs, batched.FusedBatchedEpoch, 100, park=True)
    assert got[0].provenance.get("segments") == 2
    for a, b in zip(ref, got):
        assert json.dumps(a.metrics, sort_keys=True) == json.dumps(b.metrics, sort_keys=True)


def test_plan_says_which_sweep_resumes_from_its_checkpoints_or_parked_ones(tmp_path, monkeypatch):
    """``mgdl-campaign --plan`` marks a pending sweep that has checkpoints here, or parked ones after a fresh clone."""
    import shutil

    from mgdlcore.experiments import parking
    from mgdlcore.experiments.campaign import _saved
    from mgdlcore.training import checkpoint

    monkeypatch.setenv(checkpoint.ENV_SECONDS, "0")
    monkeypatch.setenv("MGDL_CUDA_GRAPHS", "emulate")
    real, calls = batched.FusedBatchedEpoch.__call__, {"n": 0}

    def stopping(self, slot):
        calls["n"] += 1
        if calls["n"] == 100:
            raise KeyboardInterrupt
        real(self, slot)

    monkeypatch.setattr(batched.FusedBatchedEpoch, "__call__", stopping)
    configs = sweep("SGDL", lrs=LRS[:2])
    with pytest.raises(KeyboardInterrupt):
        run_batch(configs, results_dir=tmp_path, profile="smoke", progress=False)
    assert _saved(tmp_path, configs).endswith("(checkpoint)")
    assert _saved(tmp_path, sweep("SGDL", lrs=LRS[1:])) == ""           # another group: nothing saved
    parking.park(tmp_path)
    shutil.rmtree(tmp_path / ".checkpoints")                            # a fresh clone: only the parked copy
    assert _saved(tmp_path, configs).startswith("; resumes after ") and _saved(tmp_path, configs).endswith("(parked)")


def test_campaign_batch_runs_each_sweep_once(tmp_path, capsys):
    code = campaign_main(["smoke", "--results", str(tmp_path), "--only", "learning_rate setting1 SGDL*", "--batch",
                          "--device", "cpu", "--progress", "off"])
    out = capsys.readouterr().out
    # the profile's sweep and the sensitivity study's two other draws: three sweeps of three learning rates
    assert code == 0 and "9 pending run(s)" in out and "3 group(s) trained together" in out
    assert out.count("and 2 more") == 3
    recs = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    assert len(recs) == 9 and {r["provenance"]["batch"] for r in recs} == {3}
    assert all(math.isfinite(r["provenance"]["seconds"]) for r in recs)


def test_plan_estimates_a_sweep_as_one_stacked_job(tmp_path, capsys):
    from mgdlcore.experiments.cost import BATCH_EXTRA, batch_seconds

    assert batch_seconds([10.0, 20.0, 30.0], "cuda") == pytest.approx(30.0 * (1 + 2 * BATCH_EXTRA["cuda"]))
    assert batch_seconds([5.0], "cpu") == 5.0 and batch_seconds([], "cpu") == 0.0
    args = ["smoke", "--results", str(tmp_path), "--only", "learning_rate setting1 SGDL*", "--plan"]
    assert campaign_main(args) == 0
    serial = capsys.readouterr().out
    assert campaign_main([*args, "--batch"]) == 0
    stacked = capsys.readouterr().out
    assert "trained together" in stacked and "trained together" not in serial
    lines = [ln for ln in stacked.splitlines() if ln.startswith("  ")]
    assert len(lines) == 3 and all("and 2 more" in ln for ln in lines)     # three draws, one line each
    assert "sweeps stacked" in stacked and "sweeps stacked" not in serial
