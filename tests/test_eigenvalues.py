import numpy as np
import pytest
import torch

from mgdlcore.analysis.hessian import OutputLoss, loss_hessian
from mgdlcore.analysis.spectra import EigenTracker
from mgdlcore.experiments import eigenvalues as ev
from mgdlcore.experiments.runner import run
from mgdlcore.models import MLP, build_grade, build_network
from mgdlcore.paper.values import SEC6_DENOISING_PENALTIES, SEC6_LEARNING_RATES
from mgdlcore.physics.noise import degrade
from mgdlcore.physics.operators import Identity
from mgdlcore.structures import MGDLStructure, SGDLStructure
from mgdlcore.training.loop import TrainConfig, half_mse, train

# small stand-ins for the paper's structures, same input sizes (the runner is what is tested)
SMALL = {"26": SGDLStructure("26", 1, (6, 5, 4)), "30": MGDLStructure("30", 1, ((5,), (4,), (3,), (6,))),
         "27": SGDLStructure("27", 2, (7, 5)), "31": MGDLStructure("31", 2, ((6,), (5,), (4,), (3,)))}


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(ev, "get_structure", lambda name: SMALL[name])


def n_params(widths):
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def problem(seed=0, n=40, widths=(1, 8, 6, 1)):
    g = torch.Generator().manual_seed(seed)
    net = MLP(widths, generator=g, init="he_normal", relu_prime_at_zero=1).to(torch.float64)
    x = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    y = torch.sin(9 * x)
    return net, x, y


# ------------------------------------------------------------------------------------------------ tracking
@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_tracked_eigenvalues_are_one_minus_eta_times_those_of_h_at_the_recorded_epochs(method):
    """At every recorded epoch, the track holds 1 - eta * eig(H) of an independent autodiff Hessian taken at a
    snapshot of the parameters made at the same epoch (before that epoch's update)."""
    net, x, y = problem()
    lr, k = 0.9, 4
    snapshots = {}

    def snap(epoch):
        snapshots[epoch] = [p.detach().clone() for p in net.parameters()]

    kw = {"tol": 1e-12} if method == "lanczos" else {}
    tracker = EigenTracker(net, OutputLoss(x, lambda o: half_mse(y, o)), lr, k=k, method=method, **kw)
    cfg = TrainConfig(epochs=30, learning_rate=lr, optimizer="gd", eval_every=10, progress=False)
    train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg, callbacks=[snap, tracker])
    t = tracker.track
    assert t.epochs == [0, 10, 20, 30] == sorted(snapshots)
    ref_net = MLP((1, 8, 6, 1), init="he_normal", relu_prime_at_zero=1).to(torch.float64)
    for i, epoch in enumerate(t.epochs):
        with torch.no_grad():
            for p, v in zip(ref_net.parameters(), snapshots[epoch]):
                p.copy_(v)
        H = loss_hessian(ref_net, lambda m: half_mse(y, m(x)), closed_form=False)
        lam = np.linalg.eigvalsh(H.numpy())
        np.testing.assert_allclose(t.smallest[i], np.sort(1 - lr * lam)[:k], atol=1e-8)
        np.testing.assert_allclose(t.largest[i], np.sort(1 - lr * lam)[::-1][:k], atol=1e-8)
        if method == "dense":
            assert t.n_le_minus1[i] == int(np.sum(1 - lr * lam <= -1))
    assert len({tuple(r) for r in t.smallest}) == len(t.epochs)     # the parameters moved between records


def test_stop_rule_freezes_the_network_at_the_first_recorded_epoch_below_the_threshold():
    net, x, y = problem(seed=2)
    loss = OutputLoss(x, lambda o: half_mse(y, o))
    lr = 2.2
    # where is the first recorded epoch after 0 whose minimum is below -0.95 (same run without the rule)?
    probe_net, _, _ = problem(seed=2)
    probe = EigenTracker(probe_net, OutputLoss(x, lambda o: half_mse(y, o)), lr, k=2)
    cfg = TrainConfig(epochs=40, learning_rate=lr, optimizer="gd", eval_every=5, progress=False)
    train(lambda: half_mse(y, probe_net(x)), list(probe_net.parameters()), cfg, callbacks=[probe])
    below = [e for e, row in zip(probe.track.epochs, probe.track.smallest) if e > 0 and row[0] < -0.95]
    assert below and below[0] < 40, "the test needs a run that crosses -0.95 before its end"
    snapshots = {}
    tracker = EigenTracker(net, loss, lr, k=2, stop_below=-0.95)
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg,
                 callbacks=[tracker, lambda e: snapshots.__setitem__(e, [p.detach().clone() for p in net.parameters()])])
    tracker.release()
    assert tracker.track.stopped_epoch == below[0]
    assert tracker.track.epochs == [e for e in probe.track.epochs if e <= below[0]]
    for p, q in zip(net.parameters(), snapshots[below[0]]):          # nothing moved after the stop
        torch.testing.assert_close(p.detach(), q, atol=0, rtol=0)
    assert hist.epochs_run == 40 and not hist.diverged


# ------------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("fields, msg", [
    (dict(case="nope"), "unknown case"),
    (dict(method="X"), "unknown method"),
    (dict(setting=3), "unknown setting"),
    (dict(structure="26"), "not an MGDL structure"),
    (dict(eig_method="lanczos"), "lanczos_tol is set exactly"),
    (dict(beta=0.1), "apply to the denoising case only"),
    (dict(case="image", setting=None, phase_seed=None, structure="31"), "needs an image"),
    (dict(phases=(1.0, 2.0, 3.0)), "exactly one of phase_seed and phases"),
    (dict(phase_seed=None, phases=(1.0, 2.0)), "setting 1 needs 3 finite phases"),
    (dict(case="image", setting=None, phase_seed=None, phases=(1.0, 2.0, 3.0), structure="31", image="cameraman"),
     "must be None for the image case"),
    (dict(case="image", setting=None, phase_seed=None, structure="31", image="cameraman", stride=2, size=64),
     "stride or size"),
])
def test_bad_settings_fail_in_one_line(fields, msg):
    with pytest.raises(ValueError, match=msg) as err:
        ev.EigenConfig(**fields)
    assert "\n" not in str(err.value)


def test_every_setting_that_changes_a_result_changes_the_key():
    base = ev.make_config("image", "MGDL", "cpu", image="resolution_chart", device="cpu")
    keys = {base.key}
    for change in (dict(stop_below=-0.95), dict(stride=4), dict(invert=False), dict(epochs=10), dict(k=5),
                   dict(relu_prime_at_zero=0), dict(init="glorot_normal"), dict(learning_rate=0.1)):
        keys.add(ev.EigenConfig(**{**base.to_dict(), **change}).key)
    assert len(keys) == 9


def test_profile_wiring_takes_the_paper_values_and_the_authors_image_rule():
    cfg = {(c.case, c.subject(), c.method, c.stop_below): c for c in ev.configs("cpu", device="cpu")}
    assert cfg[("synthetic", "setting2", "SGDL", None)].learning_rate == SEC6_LEARNING_RATES[("setting2", "SGDL")]
    chart = cfg[("image", "resolution_chart", "MGDL", None)]
    assert (chart.invert, chart.crop, chart.stride) == (True, None, 2)
    barbara = cfg[("image", "barbara", "SGDL", None)]
    assert (barbara.crop, barbara.stride, barbara.learning_rate) == ("top_right_quarter", 2,
                                                                      SEC6_LEARNING_RATES[("barbara", "SGDL")])
    assert ("image", "resolution_chart", "MGDL", -0.95) in cfg
    den = cfg[("denoising", "butterfly-denoising10", "MGDL", None)]
    assert (den.beta, den.lam) == SEC6_DENOISING_PENALTIES["MGDL"] and den.stride == 8      # 512 -> 64 px
    assert {c.case for c in cfg.values()} == set(ev.CASES)


def test_the_paper_profile_trains_on_the_authors_data_and_older_keys_stay():
    """Figures 2 and 16 at the paper's setting use the authors' phases of eq. (5), the same as Secs. 5 and 7; the
    reduced profiles keep numpy's draw, and their configs (and record keys) do not mention phases."""
    from mgdlcore.data.synthetic import synthetic_data
    from mgdlcore.experiments import gd_dynamics
    from mgdlcore.paper.values import SEC5_AUTHOR_PHASES

    paper = {(c.setting, c.method): c for c in ev.configs("paper", device="cpu") if c.case == "synthetic"}
    sec5 = {c.setting: c.phases for c in gd_dynamics.configs("paper", ("learning_rate",), images=[], device="cpu")}
    for (setting, _), c in paper.items():
        assert c.phases == tuple(SEC5_AUTHOR_PHASES["legacy"][setting]) == sec5[setting] and c.phase_seed is None
    cpu = ev.make_config("synthetic", "SGDL", "cpu", setting=1, device="cpu")
    assert cpu.phase_seed == 0 and "phases" not in cpu.to_dict()
    d = synthetic_data(1, phases=paper[(1, "SGDL")].phases)
    assert not np.allclose(d.y_train.numpy(), synthetic_data(1, phase_seed=0).y_train.numpy())


def test_a_run_with_the_authors_phases_trains_on_them(small, tmp_path):
    drawn = ev.make_config("synthetic", "SGDL", "smoke", setting=1, device="cpu", epochs=2, eval_every=2)
    given = ev.EigenConfig(**{**drawn.to_dict(), "phase_seed": None, "phases": (6.065293, 1.977203, 3.977444)})
    a, b = (run(c, results_dir=tmp_path, profile="smoke", progress=False) for c in (drawn, given))
    assert a.key != b.key and a.series["grades"][0]["loss"][0] != b.series["grades"][0]["loss"][0]


def test_the_authors_image_rule_by_index():
    img = np.arange(40 * 32, dtype=float).reshape(40, 32) / 2000
    out = ev.prepare_image(img, crop="top_right_quarter", invert=True, stride=2, size=None)
    assert out.shape == (10, 8)
    np.testing.assert_array_equal(out, 1 - img[:20, 16:][::2, ::2])
    assert out[0, 0] == 1 - img[0, 16] and out[1, 1] == 1 - img[2, 18]


# ------------------------------------------------------------------------------------------------ compute
def test_synthetic_mgdl_tracks_every_grade_with_exact_counts(small, tmp_path):
    cfg = ev.make_config("synthetic", "MGDL", "smoke", setting=1, device="cpu", epochs=4, eval_every=2, k=20)
    rec = run(cfg, results_dir=tmp_path, profile="smoke", progress=False)
    grades = rec.series["grades"]
    widths = [(1, 5, 1), (5, 4, 1), (4, 3, 1), (3, 6, 1)]
    assert [g["grade"] for g in grades] == [1, 2, 3, 4]
    assert [g["n_parameters"] for g in grades] == [n_params(w) for w in widths]
    assert all(g["epochs"] == [0, 2, 4] and g["method"] == "dense" for g in grades)
    # grade 1 at epoch 0 against an independent Hessian of the grade's loss (1) on the 1024 points
    from mgdlcore.data.synthetic import synthetic_data
    d = synthetic_data(1)
    net = build_grade(SMALL["30"], 1, seed=0, init="he_normal", relu_prime_at_zero=1)
    lam = np.linalg.eigvalsh(loss_hessian(net, lambda m: half_mse(d.y_train, m(d.x_train)),
                                          closed_form=False).double().numpy())
    a = np.sort(1 - cfg.learning_rate * lam)
    np.testing.assert_allclose(grades[0]["smallest"][0], a[:20], atol=1e-5)
    # k = 20 >= the parameters of grade 3 (15): its smallest list is its whole spectrum, so the count is checkable
    g3 = grades[2]
    for row, count in zip(g3["smallest"], g3["n_le_minus1"]):
        assert count == sum(v <= -1 for v in row if v is not None)
    assert rec.metrics["min_eig"] == min(r[0] for g in grades for r in g["smallest"])


def _independent_denoising_loss(clean, noisy, beta, x):
    """The objective at u = 0 (before the first prox step), with torch.diff as B."""
    shape = clean.shape
    y = torch.as_tensor(noisy, dtype=torch.float64)

    def loss(m):
        img = m(x).reshape(shape)
        dv = torch.diff(img, dim=0, append=img[-1:])
        dh = torch.diff(img, dim=1, append=img[:, -1:])
        return 0.5 * torch.sum((img - y) ** 2) + 0.5 * beta * (torch.sum(dv ** 2) + torch.sum(dh ** 2))

    return loss


@pytest.mark.parametrize("method, eig", [("SGDL", "lanczos"), ("MGDL", "dense")])
def test_denoising_eigenvalues_at_epoch0_match_an_independent_hessian(small, tmp_path, data_dir, monkeypatch,
                                                                      method, eig):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    lr = 0.05      # not the authors' 1e-5 / 5e-5: the eigenvalues of I - lr H spread out, the smallest below -1
    extra = dict(lanczos_tol=1e-10) if eig == "lanczos" else dict(lanczos_tol=None)
    cfg = ev.make_config("denoising", method, "smoke", image="butterfly", device="cpu", learning_rate=lr, epochs=2,
                         eval_every=2, k=3, eig_method=eig, stride=64, **extra)
    rec = run(cfg, results_dir=tmp_path, profile="smoke", progress=False)
    assert (rec.metrics["height"], rec.metrics["width"]) == (8, 8)
    g = rec.series["grades"][0]
    assert g["epochs"] == [0, 2] and g["method"] == eig
    clean = ev.config_image(cfg)
    noisy = degrade(clean, Identity(), cfg.noise_level, noise_seed=cfg.noise_seed)
    x = torch.as_tensor(np.stack(np.meshgrid(np.arange(8) / 8, np.arange(8) / 8, indexing="ij"), -1).reshape(-1, 2),
                        dtype=torch.float64)
    net = (build_network(SMALL["27"], seed=0, init="he_normal", relu_prime_at_zero=1) if method == "SGDL" else
           build_grade(SMALL["31"], 1, seed=0, init="he_normal", relu_prime_at_zero=1))
    loss = _independent_denoising_loss(clean, noisy, cfg.beta, x)
    lam = np.linalg.eigvalsh(loss_hessian(net, loss, closed_form=False, dtype=torch.float64).numpy())
    a = np.sort(1 - lr * lam)
    np.testing.assert_allclose(g["smallest"][0], a[:3], atol=2e-4)
    np.testing.assert_allclose(g["largest"][0], a[::-1][:3], atol=2e-4)
    assert a[0] < -1 and g["n_le_minus1"][0] >= 1
    assert rec.metrics["psnr_observed"] == pytest.approx(-10 * np.log10(np.mean((noisy - clean) ** 2)))


def test_a_stored_record_is_reused_not_recomputed(small, tmp_path):
    cfg = ev.make_config("synthetic", "SGDL", "smoke", setting=1, device="cpu", epochs=2, eval_every=2)
    first = run(cfg, results_dir=tmp_path, profile="smoke", progress=False)
    again = run(cfg, results_dir=tmp_path, profile="smoke", train="never")
    assert again.provenance["created"] == first.provenance["created"]


def test_stop_rule_ignores_epoch_0_and_stops_at_the_first_value_strictly_below(monkeypatch):
    """Scripted spectra: -2 at epoch 0 (the authors' rule skips it), then -0.90, -0.95 (not below), -0.96."""
    from mgdlcore.analysis import spectra
    from mgdlcore.analysis.hessian import IterationEigenvalues

    script = iter([-2.0, -0.90, -0.95, -0.96, -0.99])
    monkeypatch.setattr(spectra, "spectrum", lambda *a, **k: IterationEigenvalues((next(script),), (1.0,), 0, 0, 9))
    net, x, y = problem()
    tracker = EigenTracker(net, None, 0.1, k=1, stop_below=-0.95)
    for epoch in (0, 10, 20, 30, 40):
        tracker(epoch)
    assert tracker.track.stopped_epoch == 30 and tracker.track.epochs == [0, 10, 20, 30]


def test_paper_runs_show_a_record_made_on_another_device_and_say_how_to_make_a_missing_one(small, tmp_path, made_on):
    """Chapter 06's paper-profile section: a record made on another device is shown; a missing one is pending with
    the campaign line that makes it; the tables drop the results table when every run is pending."""
    from mgdlcore.report import eigen as report

    sgdl, mgdl = (ev.make_config("synthetic", m, "smoke", setting=1, device="cpu", epochs=2, eval_every=2)
                  for m in ("SGDL", "MGDL"))
    made_on(run(sgdl, results_dir=tmp_path, profile="smoke", progress=False), "cuda", tmp_path)
    runs = report.paper_runs([sgdl, mgdl], tmp_path)
    assert runs["synthetic setting1 SGDL"].config["device"] == "cuda"
    assert runs["synthetic setting1 MGDL"] == ("no paper-profile record yet "
                                               "(mgdl-campaign paper --only 'eigenvalues setting1 MGDL*')")
    assert "| synthetic setting1 SGDL | (26) |" in report.summary_table(runs)
    pending = report.summary_table({"synthetic setting1 MGDL": runs["synthetic setting1 MGDL"]})
    assert "min at init" not in pending and "pending: no paper-profile record yet" in pending


def test_a_diverged_run_is_shown_as_diverged_with_its_curvature_at_initialisation(small, tmp_path):
    """Sec. 6's SGDL image runs at the captions' rates blow up within a few epochs. The tables say where, and the
    curvature table gives eta * lambda_max(H) at initialisation: from one initialisation it scales with eta alone
    (H does not depend on eta), and it is beyond 2 for the run that diverged."""
    import re

    import matplotlib.pyplot as plt

    from mgdlcore.report import eigen as report

    def made(lr):
        config = ev.make_config("synthetic", "SGDL", "smoke", setting=1, device="cpu", epochs=40, eval_every=20,
                                learning_rate=lr)
        return run(config, results_dir=tmp_path, profile="smoke", progress=False)
    calm, wild = made(0.02), made(50.0)
    assert not calm.diverged and calm.diverged_epoch is None
    assert wild.diverged and 0 <= wild.diverged_epoch < 40
    runs = {"calm": calm, "wild": wild}
    table = report.curvature_at_init_markdown(runs)
    assert table.startswith("*Runs: profile smoke · device cpu · seed 0 · commit ")    # every number's origin
    rows = {m[0]: (float(m[1]), m[2], m[3]) for m in re.findall(r"\| (calm|wild) \| [\d.]+ \| ([\d.]+) \| (\w+) \| (.+) \|",
                                                                 table)}
    assert rows["wild"][0] == pytest.approx(rows["calm"][0] * 50.0 / 0.02, rel=1e-2)     # two decimals kept
    assert rows["wild"][1:] == ("yes", f"diverged at epoch {wild.diverged_epoch:,}")
    assert rows["calm"][1:] == ("no", "trained every epoch (40 per model)")
    assert f"diverged at epoch {wild.diverged_epoch:,}" in report.summary_table(runs)
    fig = report.case_figure([wild], "diverged")
    assert any(t.get_text() == f"diverged at epoch {wild.diverged_epoch:,}" for ax in fig.axes for t in ax.texts)
    plt.close(fig)


def test_the_image_pairs_are_listed_at_the_profiles_seeds_and_an_explicit_list_overrides_them():
    """Figures 3, 18-20: SGDL at the captions' rates survives its first steps or not by the draw of the starting
    weights, so the paper and cpu profiles list the image pairs (SGDL, MGDL; not the stopping-rule variant) at seeds
    0, 1 and 2; every other run at seed 0. A chapter's explicit seeds replace that."""
    def listed(profile, **kw):
        return {(c.case, c.method, c.stop_below, c.image, c.seed) for c in ev.configs(profile, device="cpu", **kw)}
    for profile in ("paper", "cpu"):
        runs = listed(profile)
        extra = {r for r in runs if r[-1] != 0}
        assert extra == {("image", m, None, image, seed) for m in ("SGDL", "MGDL") for seed in (1, 2)
                         for image in ("resolution_chart", "cameraman", "barbara", "butterfly")}
        assert {r[:-1] for r in extra} <= {r[:-1] for r in runs if r[-1] == 0}     # the seed-0 runs are all there
        assert {r[-1] for r in listed(profile, seeds=[0])} == {0}
        assert {r[-1] for r in listed(profile, seeds=[3])} == {3}
    assert {r[-1] for r in listed("smoke")} == {0}
