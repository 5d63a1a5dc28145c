"""Learning-rate bound against the observed divergence threshold: the bisection, the sharpness, a record."""

import math

import numpy as np
import pytest
import torch

from mgdlcore.analysis.hessian import OutputLoss, loss_hessian
from mgdlcore.experiments import stability
from mgdlcore.experiments.runner import run
from mgdlcore.models import MLP
from mgdlcore.training.loop import TrainConfig, half_mse, train


def quadratic_diverges(lam: float):
    """GD on 0.5 * lam * w^2 from w = 1 for 300 epochs: diverges exactly when eta > 2 / lam."""

    def diverges(eta: float) -> bool:
        w = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
        cfg = TrainConfig(epochs=2000, learning_rate=eta, optimizer="gd", eval_every=100, progress=False)
        hist = train(lambda: 0.5 * lam * (w**2).sum(), [w], cfg)
        return hist.diverged or abs(float(w.detach())) > 1.0   # growing without overflow counts as unstable

    return diverges


@pytest.mark.parametrize("lam", [3.0, 40.0])
def test_bisection_brackets_the_quadratic_threshold(lam):
    stable, diverged, probes = stability.divergence_threshold(quadratic_diverges(lam), 1e-3, 10.0, 12)
    assert stable < 2.0 / lam < diverged and diverged / stable < 1.01
    assert len(probes) == 14 and probes[0] == (1e-3, False) and probes[1] == (10.0, True)


def test_bisection_reports_a_bracket_that_does_not_hold():
    assert stability.divergence_threshold(quadratic_diverges(3.0), 1.0, 5.0, 4)[:2] == (None, 1.0)
    assert stability.divergence_threshold(quadratic_diverges(3.0), 0.01, 0.5, 4)[:2] == (0.5, None)


def test_sharpness_equals_the_dense_hessian_top_eigenvalue():
    torch.manual_seed(0)
    x = torch.rand(200, 1, dtype=torch.float64)
    y = torch.sin(6 * x)
    net = MLP((1, 16, 16, 1), generator=torch.Generator().manual_seed(3), init="he_normal").double()
    h = loss_hessian(net, OutputLoss(x, lambda out: half_mse(y, out)), closed_form=False)
    want = float(np.linalg.eigvalsh(h.detach().numpy())[-1])
    assert stability.sharpness(net, x, y) == pytest.approx(want, rel=1e-6)


def test_config_errors_are_one_line():
    with pytest.raises(ValueError, match="grade, base_lr and base_epochs are for MGDL"):
        stability.StabilityConfig(method="SGDL", grade=2)
    with pytest.raises(ValueError, match="grade must be an integer >= 1, got None"):
        stability.StabilityConfig(method="MGDL", structure="30")
    with pytest.raises(ValueError, match="lr_lo must be below lr_hi"):
        stability.StabilityConfig(lr_lo=2.0, lr_hi=1.0)
    with pytest.raises(ValueError, match=r"MGDL runs structure \(30\)"):
        stability.StabilityConfig(method="MGDL", grade=1, base_lr=0.1, base_epochs=10)


def test_record_of_sgdl_26(tmp_path):
    config = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=60, n_bisect=2, track_every=30)
    rec = run(config, results_dir=tmp_path, profile="smoke", progress=False)
    m = rec.metrics
    assert m["bound_init"] == pytest.approx(2.0 / m["lambda_max_init"])
    assert m["threshold_stable"] < m["threshold_diverged"]
    probes = rec.series["probes"]
    assert len(probes) == m["n_probes"] == 4
    assert all((final is None) == diverged for _, diverged, final in probes)
    assert rec.series["sharpness_epochs"] == [0, 30, 60]
    assert rec.series["sharpness"][0] == pytest.approx(m["lambda_max_init"], rel=1e-6)   # same initialisation
    assert math.isclose(m["sharpness_max"], max(rec.series["sharpness"]))
    assert m["learn_threshold_lo"] <= m["threshold_stable"]
    for _eta, flat, final in rec.series["learn_probes"]:            # "flat": diverged or not below 0.9 x constant fit
        assert flat == (final is None or final >= stability.LEARNT * m["constant_fit_loss"])


def test_horizon_table_pairs_networks_and_counts_moved_learning_ranges():
    from types import SimpleNamespace

    from mgdlcore.report import stability as report

    def rec(method, grade, epochs, lo, hi, stable=1.95, diverged=2.06):
        return SimpleNamespace(config={"setting": 1, "method": method, "grade": grade, "epochs": epochs},
                               metrics={"threshold_stable": stable, "threshold_diverged": diverged,
                                        "learn_threshold_lo": lo, "learn_threshold_hi": hi})

    short = [rec("MGDL", 2, 3000, None, 0.01), rec("SGDL", None, 3000, 0.3, None, 0.35, 0.37),
             rec("MGDL", 3, 3000, None, 0.01)]
    long = [rec("MGDL", 2, 100_000, 0.48, 0.5), rec("SGDL", None, 100_000, 0.3, None, 0.35, 0.37),
            rec("MGDL", 3, 100_000, None, 0.01), rec("MGDL", 4, 100_000, 0.2, 0.25)]
    md = report.horizon_markdown(short, long)
    rows = [line for line in md.splitlines() if line.startswith("| 1 |")]
    assert rows == ["| 1 | SGDL (26) | [0.35, 0.37] | [0.35, 0.37] | [0.3, –] | [0.3, –] |",
                    "| 1 | MGDL (30) grade 2 | [1.95, 2.06] | [1.95, 2.06] | at no η ≥ 0.01 | [0.48, 0.5] |",
                    "| 1 | MGDL (30) grade 3 | [1.95, 2.06] | [1.95, 2.06] | at no η ≥ 0.01 | at no η ≥ 0.01 |"]
    assert "3,000 epochs" in md and "100,000 epochs" in md and "for 1 of 3 network(s)" in md   # grade 4: no pair
    assert report.horizon_markdown(short, []).startswith("No network has a record at both")
