import json
import math
from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from mgdlcore.experiments import lr_sweep
from mgdlcore.experiments.lr_sweep import (LR_PROFILES, check_records, final_values, largest_stable_lr, lr_interval,
                               lr_intervals, reference_values, run_lr_point, run_sweep)
from mgdlcore.experiments.records import load_records
from mgdlcore.training.loop import TrainConfig, train


def _spd(n: int, eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return (q * eigenvalues) @ q.T


@pytest.mark.parametrize("factor", [0.9, 0.98, 1.02, 1.1])
def test_gd_on_quadratic_diverges_exactly_above_two_over_lambda_max(factor):
    """Theorem 1 on F(w) = 1/2 w^T A w: GD (2) converges for eta < 2/lambda_max and diverges for eta > 2/lambda_max."""
    eig = np.linspace(0.5, 3.7, 7)
    a = _spd(7, eig, seed=3)
    lam_max = scipy.linalg.eigvalsh(a)[-1]            # independent reference for the bound
    assert lam_max == pytest.approx(3.7, rel=1e-12)
    at = torch.tensor(a, dtype=torch.float32)
    w = torch.nn.Parameter(torch.ones(7, dtype=torch.float32))
    eta = factor * 2.0 / lam_max
    hist = train(lambda: 0.5 * w @ at @ w, [w], TrainConfig(epochs=3000, learning_rate=eta, optimizer="gd",
                                                           eval_every=100, progress=False))
    if factor > 1:
        assert hist.diverged and hist.diverged_epoch is not None
        # the loss grows by |1 - eta lambda_max|^2 per step until it overflows
        grow = (1 - eta * lam_max) ** 2
        finite = [v for v in hist.loss if v is not None]
        assert finite[-1] / finite[-2] == pytest.approx(grow, rel=1e-3)
    else:
        assert not hist.diverged
        assert hist.loss[-1] < 1e-10 * hist.loss[0]
        assert all(b <= a * (1 + 1e-6) for a, b in zip(hist.loss, hist.loss[1:]))  # monotone on a quadratic


def test_gd_step_is_i_minus_eta_a():
    """One GD step on the quadratic is the linear map I - eta A of eq. (6) (float64, exact up to rounding)."""
    a = _spd(5, np.array([0.3, 1.0, 2.0, 2.5, 4.0]), seed=1)
    w0 = np.random.default_rng(2).standard_normal(5)
    w = torch.nn.Parameter(torch.tensor(w0))
    at = torch.tensor(a)
    train(lambda: 0.5 * w @ at @ w, [w], TrainConfig(epochs=3, learning_rate=0.3, optimizer="gd", progress=False))
    m = np.eye(5) - 0.3 * a
    np.testing.assert_allclose(w.detach().numpy(), np.linalg.matrix_power(m, 3) @ w0, rtol=1e-12)


def test_lr_intervals_with_nan_and_gaps():
    lrs = [0.5, 0.001, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3]
    vals = [np.nan, 5e-3, 8e-4, 5e-3, 2e-3, 6e-4, 4e-4, 9e-4]
    assert lr_intervals(lrs, vals, 1e-3) == [(0.01, 0.01), (0.1, 0.3)]
    assert lr_interval(lrs, vals, 1e-3) == (0.1, 0.3)
    assert lr_interval(lrs, vals, 1e-3 + 1e-9) == (0.1, 0.3)
    assert lr_interval([0.001, 0.002, 0.1], [1.0, 1.0, 1.0], 2.0) == (0.001, 0.1)
    assert lr_interval(lrs, vals, 1e-5) is None
    assert lr_interval([0.1, 0.2], [np.nan, np.nan], 1.0) is None
    # PSNR-like values: "above" threshold
    assert lr_interval([0.001, 0.01, 0.1, 1.0], [20.0, 25.0, 26.0, np.nan], 24.0, below=False) == (0.01, 0.1)
    with pytest.raises(ValueError, match="differ in shape"):
        lr_intervals([0.1, 0.2], [1.0], 0.5)


def test_largest_stable_lr():
    recs = [{"learning_rate": lr, "diverged": d} for lr, d in [(0.3, True), (0.01, False), (0.1, False), (0.5, True)]]
    assert largest_stable_lr(recs) == 0.1
    assert largest_stable_lr([{"learning_rate": 0.1, "diverged": True}]) is None


def test_divergence_is_recorded_not_raised(tmp_path):
    """A learning rate far above 2/lambda_max: the record says diverged, final values None (NaN in plots)."""
    rec = run_lr_point("synthetic", 1, "SGDL", 50.0, "smoke", device="cpu", results_dir=tmp_path)
    assert rec["diverged"] is True and rec["final_train_loss"] is None and rec["final_val_loss"] is None
    assert rec["history"][0]["diverged_epoch"] is not None
    stored = json.loads(next((tmp_path / "learning_rate").glob("*.json")).read_text())
    assert stored["diverged"] is True and stored["learning_rate"] == 50.0 and stored["optimizer"] == "gd"
    lrs, vals = final_values([stored])
    assert lrs.tolist() == [50.0] and math.isnan(vals[0])
    assert reference_values([stored]) == {"setting1/SGDL/50": None}


def test_sweep_records_resume_and_check(tmp_path, monkeypatch):
    monkeypatch.setitem(LR_PROFILES, "smoke", replace(LR_PROFILES["smoke"], synthetic_epochs=20, eval_every=10))
    recs = run_sweep("synthetic", 2, "MGDL", "smoke", learning_rates=[0.05, 0.01], device="cpu",
                     results_dir=tmp_path)
    assert [r["learning_rate"] for r in recs] == [0.01, 0.05]             # sorted
    r = recs[0]
    assert r["task"] == "learning_rate" and r["image"] == "setting2" and r["structure"] == "30"
    assert r["init"] == "he_normal" and r["relu_prime_at_zero"] == 1 and r["epochs_meaning"] == "per grade"
    assert r["n_parameters"] == [97, 1089, 1089, 1089]
    assert len(r["history"]) == 4 and r["data"]["kappa"] == [1.0, 8.25, 15.5, 22.75, 30.0]
    # final train loss is the loss (1) of the summed grades at the end: the last grade's last evaluation
    assert r["final_train_loss"] == r["history"][-1]["metrics"]["train_loss"][-1]
    assert r["final_train_loss"] < r["history"][0]["metrics"]["train_loss"][0]
    assert len(load_records(tmp_path, task="learning_rate", profile="smoke")) == 2
    # resuming: existing records are read back, nothing is retrained
    monkeypatch.setattr(lr_sweep, "_fit", lambda *a, **k: pytest.fail("retrained"))
    again = run_sweep("synthetic", 2, "MGDL", "smoke", learning_rates=[0.01, 0.05], device="cpu",
                      results_dir=tmp_path)
    assert [a["final_train_loss"] for a in again] == [b["final_train_loss"] for b in recs]
    ref = reference_values(again)
    assert check_records(again, ref, 1e-3) == []       # the reference keeps 3 decimals
    shifted = {k: v + 1.0 for k, v in ref.items()}
    assert len(check_records(again, shifted, 0.5)) == 2
    assert check_records(again, {"setting2/MGDL/0.3": None}, 0.5) == ["setting2/MGDL/0.3: no record"]


def test_msdl_records_go_to_msdl_task(tmp_path):
    rec = run_lr_point("synthetic", 1, "MSDL", 0.01, "smoke", device="cpu", results_dir=tmp_path)
    assert rec["task"] == "msdl" and rec["structure"] == "msdl" and rec["n_parameters"] == 964
    assert (tmp_path / "msdl").is_dir()


def test_image_point_psnr(tmp_path):
    r, c = np.meshgrid(np.linspace(0, 1, 19), np.linspace(0, 1, 23), indexing="ij")
    path = tmp_path / "waves.png"
    Image.fromarray((255 * (0.5 + 0.4 * np.sin(5 * r + 2 * c))).astype(np.uint8)).save(path)
    rec = run_lr_point("image", str(path), "SGDL", 0.05, "smoke", device="cpu")
    assert rec["image"] == "waves" and rec["structure"] == "28" and rec["init"] == "glorot_normal"
    assert rec["image_shape"] == [13, 16] and rec["n_train"] == 7 * 8      # 19 x 23, longer side -> 16
    assert rec["psnr_train"] == pytest.approx(-10 * math.log10(2 * rec["final_train_loss"]), abs=1e-9)
    assert 0 < rec["psnr_test"] < 60


@pytest.mark.parametrize("kwargs, match", [
    ({"profile": "fast"}, "unknown profile 'fast'; accepted: paper, cpu, smoke"),
    ({"method": "CNN"}, "unknown method 'CNN' for task 'synthetic'; accepted: SGDL, MGDL, MSDL"),
    ({"target": 3}, "unknown synthetic setting 3; accepted: 1, 2"),
    ({"learning_rate": -0.1}, "learning_rate must be a positive number"),
    ({"task": "video"}, "unknown task 'video'"),
])
def test_bad_input_is_one_line_error(kwargs, match):
    args = {"task": "synthetic", "target": 1, "method": "SGDL", "learning_rate": 0.1, "profile": "smoke", **kwargs}
    with pytest.raises(ValueError, match=match):
        run_lr_point(args.pop("task"), args.pop("target"), args.pop("method"), args.pop("learning_rate"),
                     args.pop("profile"))


def test_profiles_cover_the_paper_ranges():
    paper = LR_PROFILES["paper"]
    assert paper.synthetic_epochs == 10**6 and paper.image_epochs == 10**5 and paper.image_size is None
    assert min(paper.synthetic_lrs) == 0.001 and max(paper.synthetic_lrs) == 0.5
    assert min(paper.image_lrs) == 0.001 and max(paper.image_lrs) == 1.0
    for name, prof in LR_PROFILES.items():
        assert prof.name == name
        assert all(0.001 <= lr <= 0.5 for lr in prof.synthetic_lrs)
        assert all(0.001 <= lr <= 1.0 for lr in prof.image_lrs)


def _rec(lr, loss, diverged=False, **extra):
    return {"learning_rate": lr, "final_train_loss": None if diverged else loss, "diverged": diverged, **extra}


def test_section5_claims_verdicts():
    lrs = [0.001, 0.01, 0.03, 0.1, 0.3, 0.5]
    sweeps = {
        (1, "SGDL"): [_rec(lr, v, d) for lr, v, d in zip(lrs, [0.1, 0.01, 5e-4, 8e-4, 0.02, 0], [0] * 5 + [1])],
        (1, "MGDL"): [_rec(lr, v) for lr, v in zip(lrs, [0.1, 9e-4, 5e-4, 4e-4, 3e-4, 2e-4])],
    }
    rows = {r["claim"]: r for r in lr_sweep.section5_claims(sweeps, {})}
    first = rows["Setting 1: SGDL reaches loss < 0.001 for eta in [0.03, 0.08], MGDL over [0.01, 0.3]"]
    assert "SGDL [0.03, 0.1], MGDL [0.01, 0.5]" in first["ours"] and first["verdict"].startswith("agrees")
    assert rows["Setting 1: SGDL fails to converge for eta > 0.3"]["verdict"] == "agrees"
    assert rows["Setting 1: MGDL is robust over a wider range of learning rates than SGDL"]["verdict"] == "agrees"
    assert "| Verdict |" in lr_sweep.claims_markdown(list(rows.values()))


def test_section7_claims_from_eigenvalue_tracks():
    def tracked(mins, losses):
        return {"history": [{"metrics": {"eig_min_0": mins, "n_le_minus1": [float(m <= -1) for m in mins]},
                             "loss": losses}]}
    t = {(1, "MSDL"): tracked([-1.5, -1.2, 0.1], [1.0, 0.5, 0.9, 0.4, 0.6]),
         (1, "MGDL"): tracked([0.2, 0.3, 0.5], [1.0, 0.8, 0.6, 0.5, 0.4])}
    assert lr_sweep.eigen_summary(t[(1, "MSDL")]) == {"eig_min": -1.5, "max_n_le_minus1": 1,
                                                     "frac_below_minus1": pytest.approx(2 / 3), "n_checkpoints": 3}
    assert lr_sweep.oscillation_fraction(t[(1, "MSDL")]) == 0.5 and lr_sweep.oscillation_fraction(t[(1, "MGDL")]) == 0
    sw = {(1, "MSDL"): [_rec(0.01, 0.1), _rec(0.1, 0, True)], (1, "MGDL"): [_rec(0.01, 0.1), _rec(0.1, 0.05)]}
    verdicts = [r["verdict"] for r in lr_sweep.section7_claims(t, sw)]
    assert verdicts == ["agrees", "agrees", "agrees"]
