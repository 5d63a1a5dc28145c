"""gd_dynamics (Secs. 5 and 7): one GD run per config, learning-rate intervals, reference checks."""

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from mgdlcore.analysis.intervals import (best_run, final_values, first_diverged_lr, largest_stable_lr, lr_interval,
                                         lr_intervals)
from mgdlcore.experiments import gd_dynamics
from mgdlcore.experiments.gd_dynamics import GDConfig, configs, load_config_image, make_config, subsample
from mgdlcore.experiments.runner import run
from mgdlcore.metrics import loss_to_psnr
from mgdlcore.models import build_grade
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import TrainConfig, train


def _cfg(**kw):
    """A tiny synthetic config (20 GD epochs) for fast tests."""
    base = dict(task="learning_rate", subject=1, method="SGDL", learning_rate=0.05, profile="smoke", device="cpu")
    base.update(kw)
    return make_config(base.pop("task"), base.pop("subject"), base.pop("method"), base.pop("learning_rate"),
                       base.pop("profile"), device=base.pop("device"), **{"epochs": 20, "eval_every": 10, **base})


@pytest.fixture
def waves(tmp_path):
    r, c = np.meshgrid(np.linspace(0, 1, 37), np.linspace(0, 1, 33), indexing="ij")
    path = tmp_path / "waves.png"
    Image.fromarray((255 * (0.5 + 0.4 * np.sin(5 * r + 2 * c))).astype(np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------------------------ GD itself
def _spd(n: int, eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return (q * eigenvalues) @ q.T


@pytest.mark.parametrize("factor", [0.9, 0.98, 1.02, 1.1])
def test_gd_on_quadratic_diverges_exactly_above_two_over_lambda_max(factor):
    """Theorem 1 on F(w) = 1/2 w^T A w: GD (2) converges for eta < 2/lambda_max and diverges above."""
    a = _spd(7, np.linspace(0.5, 3.7, 7), seed=3)
    lam_max = scipy.linalg.eigvalsh(a)[-1]
    at = torch.tensor(a, dtype=torch.float32)
    w = torch.nn.Parameter(torch.ones(7, dtype=torch.float32))
    eta = factor * 2.0 / lam_max
    hist = train(lambda: 0.5 * w @ at @ w, [w], TrainConfig(epochs=3000, learning_rate=eta, optimizer="gd",
                                                           eval_every=100, progress=False))
    if factor > 1:
        assert hist.diverged and hist.diverged_epoch is not None
        finite = [v for v in hist.loss if v is not None]
        assert finite[-1] / finite[-2] == pytest.approx((1 - eta * lam_max) ** 2, rel=1e-3)
    else:
        assert not hist.diverged and hist.loss[-1] < 1e-10 * hist.loss[0]


# ------------------------------------------------------------------------------------------------ records
def test_each_learning_rate_is_recorded_independently(tmp_path):
    """A grid with a diverging member: every member has its own record, equal to the same run made alone."""
    grid = [_cfg(learning_rate=lr) for lr in (0.01, 50.0, 0.05)]
    recs = [run(c, results_dir=tmp_path / "grid", profile="smoke", progress=False) for c in grid]
    files = sorted((tmp_path / "grid" / "learning_rate").glob("*.json"))
    assert len(files) == 3 and len({r.key for r in recs}) == 3
    assert [r.metrics["diverged"] for r in recs] == [False, True, False]
    alone = run(grid[2], results_dir=tmp_path / "alone", profile="smoke", progress=False)
    assert alone.metrics["final_train_loss"] == recs[2].metrics["final_train_loss"]
    assert alone.series["grades"][0]["loss"] == recs[2].series["grades"][0]["loss"]
    assert recs[0].metrics["final_train_loss"] != recs[2].metrics["final_train_loss"]


@pytest.mark.parametrize("method", ["SGDL", "MGDL"])
def test_divergence_is_recorded_not_raised(tmp_path, method):
    rec = run(_cfg(method=method, learning_rate=50.0), results_dir=tmp_path, profile="smoke", progress=False)
    m = rec.metrics
    assert m["diverged"] is True and m["final_train_loss"] is None and m["final_val_loss"] is None
    assert m["diverged_epoch"] is not None and m["diverged_epoch"] < 20
    assert m["diverged_grade"] == (1 if method == "MGDL" else None)
    assert len(rec.series["grades"]) == 1                       # MGDL: a diverged grade ends the fit
    stored = json.loads(rec.path.read_text())
    assert stored["metrics"]["diverged"] is True and stored["config"]["learning_rate"] == 50.0
    lrs, vals = final_values([rec])
    assert lrs.tolist() == [50.0] and math.isnan(vals[0])


def test_mgdl_final_loss_is_that_of_the_summed_grades(tmp_path):
    rec = run(_cfg(method="MGDL", subject=2, learning_rate=0.05), results_dir=tmp_path, profile="smoke",
              progress=False)
    g = rec.series["grades"]
    assert [x["grade"] for x in g] == [1, 2, 3, 4] and [x["n_parameters"] for x in g] == [97, 1089, 1089, 1089]
    assert rec.metrics["n_parameters"] == 97 + 3 * 1089
    assert rec.metrics["final_train_loss"] == g[-1]["train_loss"][-1] < g[0]["train_loss"][0]
    assert rec.series["kappa"] == [1.0, 8.25, 15.5, 22.75, 30.0]
    assert rec.metrics["zero_predictor_loss"] == pytest.approx(g[0]["train_loss"][0], rel=0.5)


def test_record_is_reused_not_retrained(tmp_path, monkeypatch):
    c = _cfg()
    first = run(c, results_dir=tmp_path, profile="smoke", progress=False)
    monkeypatch.setattr(gd_dynamics, "fit_network", lambda *a, **k: pytest.fail("retrained"))
    again = run(c, results_dir=tmp_path, profile="smoke", progress=False)
    assert again.data == first.data


@pytest.mark.parametrize("change", [
    {"learning_rate": 0.06}, {"epochs": 21}, {"subject": 2}, {"phase_seed": 3},
    {"phase_seed": None, "phases": (0.1, 0.2, 0.3)}, {"init": "glorot_normal"}, {"relu_prime_at_zero": 0},
    {"seed": 1}, {"val_seed": 2}, {"loss_every": 2}, {"track_every": 10}, {"method": "MGDL", "structure": "30"},
])
def test_key_changes_with_every_setting(change):
    base, other = _cfg(), _cfg(**change)
    assert other.key != base.key and set(other.to_dict()) == set(base.to_dict())
    assert _cfg().key == base.key


def test_image_path_is_not_part_of_the_key_but_its_content_is(waves, tmp_path):
    a = make_config("learning_rate", str(waves), "SGDL", 0.1, "smoke", device="cpu")
    (tmp_path / "b").mkdir()
    copy = tmp_path / "b" / "waves.png"
    copy.write_bytes(waves.read_bytes())
    b = make_config("learning_rate", str(copy), "SGDL", 0.1, "smoke", device="cpu")
    assert a.image == b.image == "file:waves.png" and a.image_path != b.image_path and a.key == b.key
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(copy)
    assert make_config("learning_rate", str(copy), "SGDL", 0.1, "smoke", device="cpu").key != a.key


@pytest.mark.parametrize("kw, match", [
    ({"learning_rate": -0.1}, "learning_rate must be a finite number > 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
    ({"method": "MSDL"}, "method 'MSDL' does not belong to task 'learning_rate'"),
    ({"subject": 3}, "unknown image '3'"),
    ({"setting": 3}, "unknown synthetic setting 3; accepted: 1, 2"),
    ({"phases": (0.1, 0.2, 0.3)}, "give exactly one of phase_seed and phases"),
    ({"phase_seed": None, "phases": (0.1, 0.2)}, "setting 1 needs 3 finite phases"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"track_every": 15}, r"track_every \(15\) must be a multiple of eval_every \(10\)"),
    ({"structure": "28"}, r"structure \(28\) is not a 1-D-input SGDL structure"),
    ({"size": 32}, "size applies to an image only"),
    ({"dtype": "float64"}, "dtype 'float64' is not supported here"),
    ({"profile": "huge"}, "unknown profile 'huge'; accepted: paper, cpu, smoke"),
    ({"eigen_method": "power"}, "unknown eigen_method 'power'"),
])
def test_bad_input_is_one_line_error_before_any_file(tmp_path, kw, match):
    out = tmp_path / "results"
    with pytest.raises(ValueError, match=match) as err:
        run(_cfg(**kw), results_dir=out, profile="smoke", progress=False)
    assert "\n" not in str(err.value)
    assert not out.exists()


@pytest.mark.parametrize("task, method, kw, match", [
    ("learning_rate", "SGDL", {"resample": "subsample"}, "resample needs a size"),
    ("learning_rate", "SGDL", {"size": 64, "resample": "nearest"}, "unknown resample 'nearest'"),
    ("learning_rate", "SGDL", {"setting": 1}, "setting applies to the synthetic data only"),
    ("msdl", "MGDL", {}, "task 'msdl' runs on the synthetic data only"),
    ("msdl", "MSDL", {}, "method 'MSDL' runs on the synthetic data only"),
])
def test_bad_image_settings_are_one_line_errors(waves, task, method, kw, match):
    with pytest.raises(ValueError, match=match):
        make_config(task, str(waves), method, 0.1, "paper", device="cpu", **kw)


# ------------------------------------------------------------------------------------------------ images
def test_image_rules_subsample_antialias_invert(waves):
    img = np.asarray(Image.open(waves), dtype=np.float64) / 255           # 37 x 33
    sub = make_config("learning_rate", str(waves), "SGDL", 0.1, "smoke", device="cpu", size=24)
    assert sub.resample == "subsample" and not sub.invert
    np.testing.assert_array_equal(load_config_image(sub), img[::2, ::2])  # ceil(37 / 24) = 2
    np.testing.assert_array_equal(subsample(img, 40), img)
    np.testing.assert_array_equal(subsample(img, 12), img[::4, ::4])
    aa = load_config_image(GDConfig(**{**sub.to_dict(), "resample": "antialias"}, image_path=sub.image_path))
    assert aa.shape == (24, 21) != load_config_image(sub).shape
    inv = load_config_image(GDConfig(**{**sub.to_dict(), "invert": True}, image_path=sub.image_path))
    np.testing.assert_allclose(inv, 1.0 - img[::2, ::2])
    with pytest.raises(ValueError, match=r"reduced to \(13, 11\), a side below 16 pixels"):
        load_config_image(GDConfig(**{**sub.to_dict(), "size": 16}, image_path=sub.image_path))


def test_resolution_chart_is_inverted_and_subsampled_as_the_authors(data_dir):
    c = make_config("learning_rate", "resolution_chart", "MGDL", 0.1, "cpu", device="cpu")
    assert c.invert and c.resample == "subsample" and c.size == 64
    from mgdlcore.data.images import load_image
    np.testing.assert_allclose(load_config_image(c), 1.0 - load_image("resolution_chart")[::4, ::4])
    assert not make_config("learning_rate", "cameraman", "MGDL", 0.1, "cpu", device="cpu").invert


def test_image_run_psnr(waves, tmp_path):
    c = make_config("learning_rate", str(waves), "SGDL", 0.05, "smoke", device="cpu", size=24)
    rec = run(c, results_dir=tmp_path, profile="smoke", progress=False)
    m = rec.metrics
    assert (m["height"], m["width"], m["n_train"]) == (19, 17, 10 * 9)
    assert m["psnr_train"] == pytest.approx(loss_to_psnr(m["final_train_loss"]), abs=1e-9)
    assert 0 < m["psnr_test"] < 60 and c.structure == "28" and c.init == "glorot_normal"


# ------------------------------------------------------------------------------------------------ eigenvalues
def test_tracked_eigenvalues_at_the_initial_parameters(tmp_path):
    """Grade 1 of MGDL (97 parameters): the eigenvalues recorded at epoch 0 are those of I - eta H of the freshly
    built grade, H by torch.autograd.functional.hessian (independent of analysis.hessian)."""
    c = make_config("msdl", 1, "MGDL", 0.06, "smoke", tracked=True, device="cpu", epochs=20, eval_every=10,
                    track_every=10, n_eigen=3)
    rec = run(c, results_dir=tmp_path, profile="smoke", progress=False)
    g1 = rec.series["grades"][0]
    assert g1["eig_epochs"] == [0, 10, 20] and np.asarray(g1["eig_min"]).shape == (3, 3)
    net = build_grade(get_structure("30"), 1, seed=0, init="he_normal", relu_prime_at_zero=1)
    x = torch.linspace(0, 1, 1024)[:, None]
    from mgdlcore.data.synthetic import synthetic_data
    y = synthetic_data(1).y_train
    params = [p.detach().clone() for p in net.parameters()]
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]
    names = [n for n, _ in net.named_parameters()]

    def loss(theta):
        parts = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes))))
        return 0.5 * torch.mean((y - torch.func.functional_call(net, parts, (x,))) ** 2)

    h = torch.autograd.functional.hessian(loss, torch.cat([p.reshape(-1) for p in params]))
    ev = np.sort(np.linalg.eigvalsh(np.eye(97) - 0.06 * h.double().numpy()))
    np.testing.assert_allclose(g1["eig_min"][0], ev[:3], atol=1e-4)
    np.testing.assert_allclose(g1["eig_max"][0], ev[::-1][:3], atol=1e-4)
    m = rec.metrics
    assert m["n_checks"] == 12 and m["eig_min"] == min(row[0] for g in rec.series["grades"] for row in g["eig_min"])
    assert rec.arrays()["prediction"].shape == (1001,)


def test_untracked_runs_have_no_eigenvalues(tmp_path):
    rec = run(_cfg(), results_dir=tmp_path, profile="smoke", progress=False)
    assert "eig_min" not in rec.metrics and "eig_epochs" not in rec.series["grades"][0] and rec.arrays() == {}


# ------------------------------------------------------------------------------------------------ profiles
def test_profiles_order_and_grids():
    cpu = configs("cpu", ("learning_rate", "msdl"), device="cpu")
    assert len(configs("cpu", ("activation",), device="cpu")) == 2 * 4 * (4 + 1)   # methods x activations x runs
    tasks = [(c.task, c.image is None) for c in cpu]
    first_image = tasks.index(("learning_rate", False))
    assert all(t == ("learning_rate", True) for t in tasks[:36]) and all(t[0] == "msdl" for t in tasks[36:first_image])
    assert all(not syn for _, syn in tasks[first_image:]) and len(cpu) == 36 + 22 + 48
    assert len({c.key for c in cpu}) == len(cpu)
    tracked = [c for c in cpu if c.track_every]
    assert {(c.setting, c.method, c.learning_rate) for c in tracked} == {
        (1, "MSDL", 0.004), (1, "MGDL", 0.06), (2, "MSDL", 0.006), (2, "MGDL", 0.2)}
    paper = configs("paper", tasks=("learning_rate",), device="cpu")
    assert {c.epochs for c in paper if c.image is None} == {10**6} and {c.epochs for c in paper if c.image} == {10**5}
    assert all(c.size is None and c.resample is None for c in paper if c.image)
    assert min(c.learning_rate for c in paper) == 0.001 and max(c.learning_rate for c in paper) == 1.0


# ------------------------------------------------------------------------------------------------ intervals
def test_lr_intervals_with_nan_and_gaps():
    lrs = [0.5, 0.001, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3]
    vals = [np.nan, 5e-3, 8e-4, 5e-3, 2e-3, 6e-4, 4e-4, 9e-4]
    assert lr_intervals(lrs, vals, 1e-3) == [(0.01, 0.01), (0.1, 0.3)]
    assert lr_interval(lrs, vals, 1e-3) == (0.1, 0.3)
    assert lr_interval([0.001, 0.002, 0.1], [1.0, 1.0, 1.0], 2.0) == (0.001, 0.1)
    assert lr_interval(lrs, vals, 1e-5) is None
    assert lr_interval([0.1, 0.2], [np.nan, np.nan], 1.0) is None
    assert lr_interval([0.001, 0.01, 0.1, 1.0], [20.0, 25.0, 26.0, np.nan], 24.0, below=False) == (0.01, 0.1)
    with pytest.raises(ValueError, match="differ in shape"):
        lr_intervals([0.1, 0.2], [1.0], 0.5)


def test_stability_and_best_run():
    runs = [{"learning_rate": lr, "diverged": d, "final_train_loss": v}
            for lr, d, v in [(0.3, True, None), (0.01, False, 0.2), (0.1, False, 0.05), (0.5, False, 0.01)]]
    assert largest_stable_lr(runs) == 0.1 and first_diverged_lr(runs) == 0.3
    assert best_run(runs)["learning_rate"] == 0.5
    assert largest_stable_lr([{"learning_rate": 0.1, "diverged": True}]) is None
    assert first_diverged_lr(runs[1:]) is None and best_run(runs[:1]) is None
    lrs, vals = final_values(runs)
    assert lrs.tolist() == [0.01, 0.1, 0.3, 0.5] and np.isnan(vals[2]) and vals[3] == 0.01


def test_reference_check_catches_a_shift(tmp_path):
    from mgdlcore.report.dynamics import check_reference, reference_values
    recs = [run(_cfg(learning_rate=lr), results_dir=tmp_path, profile="smoke", progress=False) for lr in (0.05, 50.0)]
    ref = {"tolerance": {"log10_loss": 0.1}, "values": reference_values(recs)}
    assert check_reference(recs, ref) == []
    key = next(k for k, v in ref["values"].items() if v is not None)
    shifted = {**ref, "values": {**ref["values"], key: ref["values"][key] + math.log10(2)}}   # 3 dB
    assert len(check_reference(recs, shifted)) == 1
    flipped = {**ref, "values": {k: (0.0 if v is None else v) for k, v in ref["values"].items()}}
    assert "diverged" in check_reference(recs, flipped)[0]
    assert check_reference(recs[:1], ref) == [f"{k}: no run" for k in ref["values"] if "/50/" in k]
    other = {**ref, "values": {k.replace("setting1", "setting2"): v for k, v in ref["values"].items()}}
    assert check_reference(recs, other) == ["no reference value for any run"]


def test_given_phases_make_the_data(tmp_path):
    """Explicit phases (e.g. the authors' PRNGKey(0) ones) replace the seeded ones in the data of eq. (5)."""
    from mgdlcore.data.synthetic import target_function
    phases = (0.1, 0.2, 0.3)
    rec = run(_cfg(phase_seed=None, phases=phases), results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.series["phases"] == list(phases)
    y = target_function(np.linspace(0, 1, 1024), (1.0, 5.5, 10.0), phases)
    assert rec.metrics["zero_predictor_loss"] == pytest.approx(0.5 * np.mean(y**2), rel=1e-5)


def test_paper_profile_uses_the_authors_phases_and_the_others_numpy():
    from mgdlcore.experiments import gd_dynamics as gd
    from mgdlcore.paper.values import SEC5_AUTHOR_PHASES

    for setting in (1, 2):
        paper = gd.make_config("learning_rate", setting, "SGDL", 0.01, "paper", device="cpu")
        assert paper.phases == SEC5_AUTHOR_PHASES["legacy"][setting] and paper.phase_seed is None
        cpu = gd.make_config("learning_rate", setting, "SGDL", 0.01, "cpu", device="cpu")
        assert cpu.phases is None and cpu.phase_seed == 0
