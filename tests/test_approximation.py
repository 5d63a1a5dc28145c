"""Multigrade approximation (the 2026 abstract): targets, dense-grid residuals, strict decreases, configs, runs,
the report."""

import json

import numpy as np
import pytest
import torch

from mgdlcore.data import functions
from mgdlcore.experiments import approximation as ap
from mgdlcore.experiments.approximation import ApproximationConfig, residual_norms, strict_decreases
from mgdlcore.experiments.profiles import all_configs
from mgdlcore.experiments.runner import Context, config_from_dict, run


def _cfg(**kw):
    """A tiny 1D config (3 grades of 30 Adam epochs) for fast tests."""
    base = dict(target="sine", method="MGDL", n_train=64, n_dense=257, width=8, n_grades=3, epochs=30,
                learning_rate=1e-2, loss_every=1, device="cpu")
    base.update(kw)
    return ApproximationConfig(**base)


def one_line(call) -> str:
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert msg and "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------------ targets, grids
def test_grids_are_equispaced_with_both_ends_and_row_major_in_2d():
    g1 = functions.grid(1, 5)
    assert g1.shape == (5, 1) and np.array_equal(g1[:, 0], [0, 0.25, 0.5, 0.75, 1])
    g2 = functions.grid(2, 3)
    assert g2.shape == (9, 2) and np.array_equal(g2[1], [0, 0.5]) and np.array_equal(g2[3], [0.5, 0])


def test_targets_match_their_formulas():
    x = np.random.default_rng(0).uniform(0, 1, (50, 1))
    assert np.allclose(functions.make_target("sine")(x), np.sin(2 * np.pi * x[:, 0]))
    assert np.allclose(functions.make_target("kink")(x), np.abs(x[:, 0] - 0.4))
    from mgdlcore.data.synthetic import synthetic_data
    s2 = synthetic_data(2, phase_seed=0)
    assert np.allclose(functions.make_target("setting2", phase_seed=0)(s2.x_train.double().numpy()),
                       s2.y_train.double().numpy()[:, 0], atol=1e-5)
    p = np.random.default_rng(1).uniform(0, 1, (20, 2))
    assert np.allclose(functions.make_target("surface")(p), np.sin(2 * np.pi * p[:, 0]) * np.cos(2 * np.pi * p[:, 1]))


def test_image_target_is_the_bilinear_interpolant_of_the_pixels():
    img = np.random.default_rng(2).uniform(0, 1, (5, 7))
    f = functions.make_target("image", image=img)
    a, b = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 7), indexing="ij")
    assert np.allclose(f(np.stack([a.ravel(), b.ravel()], 1)), img.ravel())          # the pixels on the nodes
    mid = f(np.array([[0.125, 1 / 12]]))[0]                                          # centre of the first cell
    assert mid == pytest.approx(img[:2, :2].mean())


def test_target_input_errors_are_one_line():
    assert "accepted: sine, kink, setting2, surface, image" in one_line(lambda: functions.make_target("runge"))
    assert "phase_seed" in one_line(lambda: functions.make_target("setting2"))
    assert "(N, 1)" in one_line(lambda: functions.make_target("sine")(np.zeros((3, 2))))


# ------------------------------------------------------------------------------------------------ residuals
def test_residual_norms_and_strict_decreases():
    f = np.array([0.0, 1.0, -2.0, 0.5])
    g = np.array([0.5, 1.0, -1.0, 0.5])
    sup, l2 = residual_norms(f, g)
    assert sup == 1.0 and l2 == pytest.approx(np.sqrt((0.25 + 1.0) / 4))
    assert residual_norms(f, np.array([0, np.nan, 0, 0])) == (None, None)
    for where in (0, -1):                               # the largest residual at either end of the grid counts
        r = np.zeros(5)
        r[where] = -2.0
        assert residual_norms(r, np.zeros(5)) == (2.0, pytest.approx(np.sqrt(4 / 5)))
    assert strict_decreases([3.0, 2.0, 2.0, 2.5, 1.0, None, 0.5]) == [True, False, False, True, None, None]


def test_config_validation_errors_are_one_line_and_clear():
    assert "accepted: sine, kink, setting2, surface, image" in one_line(lambda: _cfg(target="runge"))
    assert "n_dense (64) must exceed the training points per axis (64)" in one_line(lambda: _cfg(n_dense=64))
    assert "phase_seed applies to the target 'setting2' only" in one_line(lambda: _cfg(phase_seed=0))
    assert "phase_seed must be an integer >= 0" in one_line(lambda: _cfg(target="setting2"))
    assert "target 'image' needs a registry image" in one_line(
        lambda: _cfg(target="image", n_train=None, size=16, n_dense=33, image="lena"))
    assert "n_train must be None for the target 'image'" in one_line(
        lambda: _cfg(target="image", size=16, n_dense=33, image="cameraman"))
    assert "grade_depth must be an integer >= 1" in one_line(lambda: _cfg(grade_depth=0))
    assert "unknown init 'zeros'" in one_line(lambda: _cfg(init="zeros"))
    assert "unknown method 'MSDL'" in one_line(lambda: _cfg(method="MSDL"))
    assert "unknown profile 'huge'" in one_line(lambda: ap.configs("huge"))


def test_matched_sgdl_has_the_same_widths_and_hidden_layers():
    c = _cfg(grade_depth=2, n_grades=4, width=8)
    m, s = c.mgdl_structure(), c.sgdl_structure()
    assert [m.grade_widths(g)[1:-1] for g in range(1, 5)] == [(8, 8)] * 4 and s.hidden == (8,) * 8
    assert m.input_dim == s.input_dim == 1


# ------------------------------------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    mgdl = run(_cfg(), results_dir=out, profile="smoke", progress=False)
    sgdl = run(_cfg(method="SGDL"), results_dir=out, profile="smoke", progress=False)
    return out, mgdl, sgdl


def test_a_run_through_the_runner_writes_one_record_in_the_schema(tiny_runs):
    out, mgdl, sgdl = tiny_runs
    files = sorted((out / "approximation").glob("*.json"))
    assert len(files) == 2
    data = json.loads(files[0].read_text())
    assert set(data) >= {"schema", "key", "config", "metrics", "series", "arrays", "provenance", "profile"}
    assert config_from_dict(mgdl.config) == _cfg()
    assert len(mgdl.series["grades"]) == 3 and len(mgdl.series["steps"]) == 4
    assert [s["epochs"] for s in sgdl.series["steps"]] == [0, 30, 60, 90]       # matched epochs
    assert sgdl.series["grades"][0]["epochs"] == 90
    # parameters: the MGDL network has n_grades - 1 more output layers (width + 1 each) than the unrolled SGDL
    assert mgdl.metrics["n_parameters"] - sgdl.metrics["n_parameters"] == 2 * (8 + 1)
    g = mgdl.series["grades"][1]
    assert (g["learning_rate"], g["depth"], g["init"], g["width"]) == (1e-2, 1, "he_normal", 8)
    assert 0 <= g["dead_units"] <= 8 and 1 <= g["feature_rank"] <= 9


def _direct(config):
    """``compute`` without the runner: the arrays in float64 (records store them in float16)."""
    return ap.compute(config, Context(device=torch.device("cpu"), progress=False))


def test_dense_residuals_match_an_independent_numpy_computation(tiny_runs):
    """The recorded sup / L2 of the last step against max |f - g| and the RMS recomputed here from the final
    prediction on our own grid linspace(0, 1, 257) and our own sin(2 pi x): a shifted grid or a wrong norm would
    not match."""
    _, mgdl, sgdl = tiny_runs
    x = np.linspace(0.0, 1.0, 257)
    for rec in (mgdl, sgdl):
        out = _direct(config_from_dict(rec.config))
        assert out.metrics == rec.metrics                 # the record is what compute returns
        r = np.sin(2 * np.pi * x) - out.arrays["prediction_dense"]
        assert rec.metrics["sup_final"] == pytest.approx(np.abs(r).max(), rel=0, abs=1e-12)
        assert rec.metrics["l2_final"] == pytest.approx(np.sqrt(np.mean(r ** 2)), rel=0, abs=1e-12)
        assert rec.series["steps"][-1]["sup"] == rec.metrics["sup_final"]
    # MGDL's step 0 is the zero predictor: the target's own norms
    assert mgdl.series["steps"][0]["sup"] == pytest.approx(1.0, abs=1e-12)
    assert mgdl.metrics["target_l2"] == pytest.approx(np.sqrt(np.mean(np.sin(2 * np.pi * x) ** 2)), abs=1e-12)


def test_per_grade_residuals_are_those_of_the_cumulative_predictions(tiny_runs):
    """Each grade's recorded sup residual is the largest of its residual curve (kept whole on a 257-point grid),
    and the flags say exactly whether the recorded values fell."""
    _, mgdl, _ = tiny_runs
    residuals = _direct(config_from_dict(mgdl.config)).arrays["grade_residuals"]
    assert residuals.shape == (3, 257)
    assert mgdl.arrays()["grade_residuals"].shape == (3, 257)
    steps = mgdl.series["steps"]
    for k in range(1, 4):
        assert np.abs(residuals[k - 1]).max() == pytest.approx(steps[k]["sup"], rel=0, abs=1e-12)
        assert steps[k]["sup_decreased"] == (steps[k]["sup"] < steps[k - 1]["sup"])
        assert steps[k]["l2_decreased"] == (steps[k]["l2"] < steps[k - 1]["l2"])
    assert mgdl.metrics["n_sup_decreases"] == sum(s["sup_decreased"] for s in steps[1:])


def test_rerun_reuses_the_record_and_recomputes_the_same_numbers(tiny_runs, tmp_path):
    out, mgdl, _ = tiny_runs
    again = run(_cfg(), results_dir=out, profile="smoke", progress=False)
    assert again.provenance["created"] == mgdl.provenance["created"]
    fresh = run(_cfg(), results_dir=tmp_path, profile="smoke", progress=False)
    assert fresh.metrics == mgdl.metrics


def test_a_diverging_grade_is_recorded_not_raised(tmp_path):
    rec = run(_cfg(optimizer="gd", learning_rate=50.0), results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.metrics["diverged"] and rec.metrics["sup_final"] is None


def test_2d_image_target_runs_and_keeps_small_arrays(tmp_path):
    c = ap.make_config("image", "MGDL", "smoke", device="cpu", n_grades=2, epochs=5)
    rec = run(c, results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.metrics["n_train"] == 16 * 16 and rec.metrics["n_dense_points"] == 49 * 49
    assert rec.arrays()["residual"].shape == (49, 49) and rec.arrays()["target"].shape == (49, 49)
    assert rec.metrics["sup_initial"] == pytest.approx(rec.metrics["target_sup"])


# ------------------------------------------------------------------------------------------------ profiles
def test_profiles_have_many_grades_and_are_listed_with_the_other_kinds():
    for profile, least in (("cpu", 12), ("paper", 12), ("smoke", 2)):
        cs = ap.configs(profile, device="cpu")
        assert cs and all(c.n_grades >= least for c in cs)
        assert {c.target for c in cs} == set(functions.TARGETS)
        assert {c.method for c in cs} == {"MGDL", "SGDL"}
    keys = {c.key for c in all_configs("smoke", device="cpu")}
    assert {c.key for c in ap.configs("smoke", device="cpu")} <= keys


def test_failure_study_changes_one_grade_setting_at_a_time():
    base = ap.make_config("kink", "MGDL", "cpu", device="cpu")
    for name, c in ap.study_configs("cpu", ["kink"], device="cpu"):
        changed = {k for k, v in c.to_dict().items() if v != base.to_dict()[k]}
        assert changed == set(ap.VARIANTS[name]), name


# ------------------------------------------------------------------------------------------------ report
def test_tables_and_findings_are_composed_from_the_records(tiny_runs):
    from mgdlcore.report import approximation as report

    _, mgdl, sgdl = tiny_runs
    table = report.decrease_markdown([mgdl, sgdl])
    m = mgdl.metrics
    assert f"| {m['n_sup_decreases']} of 3 | {m['n_l2_decreases']} of 3 |" in table
    assert table.count("\n") == 3                        # header, rule, two rows
    text = report.findings([mgdl, sgdl])
    assert text[0].startswith(f"sin(2πx): MGDL's sup residual decreased strictly at {m['n_sup_decreases']} of 3")
    assert f"sup = {report.fmt(m['sup_final'])}" in text[0] and report.fmt(sgdl.metrics["sup_final"]) in text[0]
    assert text[1] == (f"The theorem's picture (a strict sup decrease at every grade) held in "
                       f"{int(m['sup_strictly_decreasing'])} of 1 trained MGDL runs of the main comparison.")
    outcomes = report.grade_outcomes(mgdl, stall=0.0)
    assert [o == "decrease" for o in outcomes] == [s["sup_decreased"] for s in mgdl.series["steps"][1:]]
    # a kink target's name keeps a Markdown table intact
    kink = type(mgdl)({**mgdl.data, "config": {**mgdl.config, "target": "kink"}})
    assert report.name(kink, table=True) == "\\|x − 0.4\\|"


def test_the_seeds_table_counts_and_averages_over_seeds(tiny_runs):
    from mgdlcore.report import approximation as report

    _, mgdl, sgdl = tiny_runs

    def seed(record, s, **metrics):
        return type(record)({**record.data, "config": {**record.config, "seed": s},
                             "metrics": {**record.metrics, **metrics},
                             "provenance": {**record.data["provenance"], "seconds": 10.0 * (s + 1)}})

    runs = [seed(mgdl, 0, n_sup_decreases=3, n_l2_decreases=3, n_sup_increases=0, sup_strictly_decreasing=True,
                 sup_final=0.2, sup_final_relative=0.2),
            seed(mgdl, 1, n_sup_decreases=1, n_l2_decreases=2, n_sup_increases=2, sup_strictly_decreasing=False,
                 sup_final=0.4, sup_final_relative=0.4),
            seed(sgdl, 1)]
    table = report.seeds_markdown(runs)
    rows = table.splitlines()[2:]
    assert len(rows) == 2 and rows[0].startswith("| sin(2πx) | MGDL | 0, 1 | 3 |")
    # strictly at every step: sup 1 of 2, L2 1 of 2; per run: sup 2.0 ± 1.4 (sd of 3 and 1), L2 2.5 ± 0.7, up 1.0 ± 1.4
    assert "| 1 of 2 | 1 of 2 | 2.0 ± 1.4 | 2.5 ± 0.7 | 1.0 ± 1.4 | 0.3 ± 0.141 | 30.00% ± 14.14% |" in rows[0]
    assert rows[1].startswith("| sin(2πx) | SGDL | 1 |") and "±" not in rows[1].split("|")[7]
    summary = report.seeds_summary(runs)
    assert summary.startswith("Over 2 MGDL runs (seeds 0, 1), the sup residual decreased strictly at every grade in 1 "
                              "and the L2 residual in 1; over all 6 of their grades the sup residual decreased "
                              "strictly at 4 and the L2 residual at 5.")
    assert "MGDL 10-20 s (2 runs); SGDL 20-20 s (1 run)" in summary
    assert report.seeds_summary([runs[2]]) == "No MGDL record yet."


def test_figures_draw_from_records(tiny_runs):
    import matplotlib.pyplot as plt

    from mgdlcore.report import approximation as report

    _, mgdl, sgdl = tiny_runs
    for fig in (report.residual_figure([mgdl, sgdl]), report.residual_curves_figure([mgdl, sgdl], grades=(1, 3)),
                report.study_figure([("base", mgdl)])):
        assert fig.axes
        plt.close(fig)


def test_smoke_reference_check_fails_on_a_value_outside_the_tolerance(tiny_runs):
    from mgdlcore.report import approximation as report

    _, mgdl, sgdl = tiny_runs
    values = report.check_values([mgdl, sgdl])
    ref = {"tolerance": 0.1, "values": dict(values)}
    assert report.check_reference([mgdl, sgdl], ref) == []
    ref["values"]["sine/MGDL/log10_sup"] += 0.2          # a corrupted residual
    assert report.check_reference([mgdl, sgdl], ref) == [
        f"sine/MGDL/log10_sup: {values['sine/MGDL/log10_sup']:.4f} vs reference "
        f"{values['sine/MGDL/log10_sup'] + 0.2:.4f} (tolerance 0.1 decades)"]
    ref["values"]["sine/SGDL/log10_l2"] = None
    assert any("one of them diverged" in p for p in report.check_reference([mgdl, sgdl], ref))
