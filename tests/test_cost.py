"""The cost model's eigenvalue checks: how many a tracked run computes, what they add to its estimate, and their
figures fitted to tracked records."""

from types import SimpleNamespace

import pytest
import torch

from mgdlcore.analysis import spectra
from mgdlcore.analysis.hessian import IterationEigenvalues
from mgdlcore.experiments import cost, eigenvalues, gd_dynamics, stability
from mgdlcore.experiments.runner import Context


def _counting_spectrum(monkeypatch) -> list:
    """Replace ``analysis.spectra.spectrum`` (every dense or Lanczos check goes through it) by a counter."""
    calls = []

    def fake(net, loss_of_net, lr, k=10, method="dense", **kwargs):
        calls.append(sum(p.numel() for p in net.parameters() if p.requires_grad))
        return IterationEigenvalues((0.5,) * k, (0.5,) * k, 0, 0, calls[-1])

    monkeypatch.setattr(spectra, "spectrum", fake)
    return calls


def test_checks_are_those_the_trainers_compute(monkeypatch):
    """A check at epoch 0, at every multiple of the interval and after the last epoch, per SGDL model and per MGDL
    grade; Adam has none at epoch 0; lr_bound adds the sharpness at initialisation. Counted by running the kinds
    with the eigenvalue solve replaced by a counter."""
    calls = _counting_spectrum(monkeypatch)
    ctx = Context(device=torch.device("cpu"), progress=False)
    for config in (eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=25, eval_every=10),
                   eigenvalues.make_config("synthetic", "SGDL", "smoke", device="cpu", epochs=20, eval_every=10),
                   gd_dynamics.make_config("msdl", 1, "MGDL", 0.01, "smoke", tracked=True, device="cpu", epochs=25,
                                           eval_every=5, track_every=10),
                   gd_dynamics.make_config("optimizer", 1, "SGDL", 0.001, "smoke", tracked=True, device="cpu",
                                           optimizer="adam", epochs=20, eval_every=5, track_every=10)):
        calls.clear()
        (eigenvalues if type(config).KIND == "eigenvalues" else gd_dynamics).compute(config, ctx)
        assert cost.checks(config).count == len(calls) > 0, config.long_label()
    assert len(calls) == 2                                             # Adam: epochs 10 and 20, not 0

    sharpness = []
    monkeypatch.setattr(stability, "sharpness", lambda net, f, t: sharpness.append(1) or 1.0)
    lr_bound = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=20, track_every=10, n_bisect=1)
    stability.compute(lr_bound, ctx)
    assert cost.checks(lr_bound).count == len(sharpness) == 4         # at init, then epochs 0, 10 and 20


def test_checks_of_the_paper_tracks():
    """The paper-profile eigen tracks of eq. (5): 101 dense checks of SGDL (26) (3,265 parameters), 101 per grade of
    MGDL (30) (97, then 1,089 trainable parameters), 1,024 points; none for an untracked run."""
    sgdl = eigenvalues.make_config("synthetic", "SGDL", "paper", setting=1, device="cpu")
    mgdl = eigenvalues.make_config("synthetic", "MGDL", "paper", setting=1, device="cpu")
    assert sgdl.eig_method == mgdl.eig_method == "dense"
    assert cost.checks(sgdl) == cost.Checks(101, 101 * (1024 * 3265.0 ** 2 + 3265.0 ** 3))
    assert cost.checks(mgdl) == cost.Checks(404, 101 * (1024 * 97.0 ** 2 + 97.0 ** 3)
                                            + 3 * 101 * (1024 * 1089.0 ** 2 + 1089.0 ** 3))
    untracked = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "paper", device="cpu")
    assert cost.checks(untracked) == cost.Checks(0, 0.0)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_tracked_run_costs_its_checks_more(device):
    models = cost.fit([])
    tracked = eigenvalues.make_config("synthetic", "SGDL", "paper", setting=1, device="cpu")
    bare = gd_dynamics.make_config("learning_rate", 1, "SGDL", tracked.learning_rate, "paper", device="cpu",
                                   phases=tracked.phases, epochs=tracked.epochs)
    assert cost.work(bare) == cost.work(tracked)                     # the same training
    rate, setup = cost.CHECK_DEFAULTS[device]
    extra = 101 * setup + cost.checks(tracked).flops / rate
    more = cost.seconds(models, device, tracked) - cost.seconds(models, device, bare)
    assert extra > 0 and more == pytest.approx(extra)


def test_fit_recovers_known_check_figures():
    """Synthetic records of a made-up machine (training as ``DeviceModel``, checks as ``CheckModel``): the fit gives
    back both; too few tracked records, or only adopted, diverged or batched ones, leave the defaults."""
    machine = cost.DeviceModel(2e10, 4e-4, 3.0, "")
    checker = cost.CheckModel(3e9, 2.0, "")

    def record(config, **provenance):
        seconds = machine.seconds(cost.work(config)) + checker.seconds(cost.checks(config))
        return SimpleNamespace(config=config.to_dict(), diverged=False, provenance={"seconds": seconds, **provenance})

    untracked = [gd_dynamics.make_config("learning_rate", s, m, 0.01, "smoke", device="cpu", epochs=n)
                 for s, m, n in ((1, "SGDL", 100), (1, "MGDL", 20000), (2, "SGDL", 5000), (2, "MGDL", 300000))]
    tracked = [eigenvalues.make_config("synthetic", "SGDL", "smoke", device="cpu", epochs=2000, eval_every=100),
               eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=50000, eval_every=1000),
               eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=300, eval_every=10),
               gd_dynamics.make_config("msdl", 1, "MSDL", 0.01, "smoke", tracked=True, device="cpu", epochs=4000,
                                       eval_every=100, track_every=500)]
    plain = [record(c) for c in untracked]
    models = cost.fit(plain + [record(c) for c in tracked])
    got = models["cpu checks"]
    assert abs(got.rate / checker.rate - 1) < 1e-3 and abs(got.setup / checker.setup - 1) < 1e-3, got
    assert got.source == "fitted to 4 tracked cpu records" and models["cuda checks"].source == "defaults"
    assert models["cpu gd"].rate == pytest.approx(machine.rate, rel=1e-3)   # tracked records leave training alone
    for c in tracked:
        want = machine.seconds(cost.work(c)) + checker.seconds(cost.checks(c))
        assert cost.seconds(models, "cpu", c) == pytest.approx(want, rel=1e-3)
    excluded = [record(tracked[0], adopted={"commit": "x"}), record(tracked[1], batch={"size": 2}),
                record(tracked[2], seconds_complete=False), SimpleNamespace(**{**vars(record(tracked[3])),
                                                                              "diverged": True})]
    assert cost.fit(plain + [record(c) for c in tracked[:3]] + excluded)["cpu checks"] == cost.CheckModel(
        *cost.CHECK_DEFAULTS["cpu"], "defaults")


def test_lr_bound_work_counts_its_probes_and_earlier_grades(monkeypatch):
    """An ``lr_bound`` record trains at most ``stability_runs`` networks of its size (probes and the tracked run),
    and a grade's record trains the earlier grades once first; the count bounds what ``stability.compute`` trains."""
    sgdl = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=20, track_every=10, n_bisect=2)
    grade3 = stability.make_config(1, "MGDL", "smoke", device="cpu", grade=3, epochs=20, track_every=10,
                                   n_bisect=2)
    runs = cost.stability_runs(sgdl)
    assert runs == 7 and cost.work(sgdl).epochs == runs * 20
    assert cost.work(grade3).epochs == runs * 20 + 2 * grade3.base_epochs
    trained = []
    real = stability.train
    monkeypatch.setattr(stability, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    stability.compute(sgdl, Context(device=torch.device("cpu"), progress=False))
    assert 0 < len(trained) <= runs
