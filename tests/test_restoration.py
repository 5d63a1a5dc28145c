"""Restoration on the engine: the ROF scheme (20)-(21), the MGDL scale eps_l, RestorationConfig identity, record
reuse, recomputation on any config change, and one-line errors before any file is written."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from mgdlcore.experiments import restoration as R
from mgdlcore.experiments.runner import RecordUnavailable, run
from mgdlcore.physics.noise import degrade
from mgdlcore.physics.operators import ForwardDifference, GaussianBlur, Identity
from mgdlcore.report import restoration as report
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import TrainConfig
from mgdlcore.training.objectives import prox_step, rof_objective, soft_threshold
from mgdlcore.training.rof import fit_restoration, fit_rof


# ------------------------------------------------------------------------------------------------ objective, scheme
def test_soft_threshold_matches_direct_formula():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    ref = np.where(np.abs(x.numpy()) > 0.35, x.numpy() - 0.35 * np.sign(x.numpy()), 0.0)
    np.testing.assert_allclose(soft_threshold(x, 0.35).numpy(), ref, rtol=0, atol=1e-15)


def test_prox_step_minimises_the_prox_objective():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(14, 9, generator=g, dtype=torch.float64) * 0.1
    bn = torch.randn(14, 9, generator=g, dtype=torch.float64) * 0.1
    alpha, beta, lam = 0.99, 0.1, 0.01
    z, t = alpha * bn + (1 - alpha) * u, alpha * lam / beta
    out = prox_step(u, bn, alpha=alpha, beta=beta, lam=lam)
    grid = np.linspace(-1, 1, 200001)           # argmin_v 1/2 (v - z)^2 + t |v| by brute force, elementwise
    for zi, vi in zip(z.numpy().ravel()[:10], out.numpy().ravel()[:10]):
        assert abs(grid[np.argmin(0.5 * (grid - zi) ** 2 + t * np.abs(grid))] - vi) < 2e-5


def test_rof_objective_by_hand():
    rng = np.random.default_rng(1)
    img, f, u = rng.random((7, 5)), rng.random((7, 5)), rng.random((14, 5)) - 0.5
    A = GaussianBlur(1)  # noqa: N806
    af = A.A(torch.as_tensor(img)).numpy()
    bimg = np.vstack([np.diff(img, axis=0, append=img[-1:]), np.diff(img, axis=1, append=img[:, -1:])])
    ref = 0.5 * np.sum((f - af) ** 2) + 0.05 * np.sum((u - bimg) ** 2) + 0.01 * np.sum(np.abs(u))
    got = rof_objective(torch.as_tensor(img), torch.as_tensor(u), torch.as_tensor(f), A, ForwardDifference(),
                        beta=0.1, lam=0.01)
    assert float(got) == pytest.approx(ref, rel=1e-12)


def test_fit_rof_one_forward_per_epoch_at_pre_update_parameters():
    h, w = 6, 5
    f = torch.as_tensor(np.random.default_rng(2).random((h, w)))
    p_fit = torch.nn.Parameter(torch.zeros(h, w, dtype=torch.float64))
    calls = {"n": 0}

    def image_fn():
        calls["n"] += 1
        return p_fit * 1.0

    A, B = Identity(), ForwardDifference()  # noqa: N806
    kw = dict(alpha=0.99, beta=0.1, lam=0.01)
    u0 = torch.zeros(2 * h, w, dtype=torch.float64)
    hist, u = fit_rof(image_fn, [p_fit], f, A, B, u0, TrainConfig(epochs=3, learning_rate=1e-2, eval_every=1000,
                                                                    progress=False), **kw)
    assert calls["n"] == 3
    p = torch.zeros(h, w, dtype=torch.float64, requires_grad=True)   # the same three epochs written out
    opt = torch.optim.Adam([p], lr=1e-2)
    ur = u0
    for _ in range(3):
        ur = prox_step(ur, B.A(p.detach()), **kw)
        opt.zero_grad()
        rof_objective(p, ur, f, A, B, beta=0.1, lam=0.01).backward()
        opt.step()
    torch.testing.assert_close(p_fit.detach(), p.detach(), rtol=0, atol=1e-14)
    torch.testing.assert_close(u, ur, rtol=0, atol=1e-14)
    assert len(hist.loss) == 3 and not hist.diverged


def _smooth(h, w):
    r, c = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    return 0.3 + 0.4 * np.exp(-((r - 0.4) ** 2 + (c - 0.6) ** 2) / 0.08)


def test_mgdl_scales_and_tiny_denoising_beats_the_noisy_input():
    clean = _smooth(22, 19)
    obs = degrade(clean, Identity(), 40, noise_seed=0)
    cfg = TrainConfig(epochs=150, learning_rate=1e-3, eval_every=50, progress=False)
    fit = fit_restoration(get_structure("33"), obs, Identity(), cfg, alpha=0.99, beta=0.1, lam=0.01, n_grades=2,
                          clean=clean)
    g1 = fit.images["grade 1"]
    assert fit.scales[0] == 1.0
    assert fit.scales[1] == pytest.approx(np.sqrt(np.mean((g1 - obs) ** 2)), rel=1e-4)   # eps_2: RMS(g_1 - f_obs)
    assert peak_signal_noise_ratio(clean, fit.images["grade 2"], data_range=1) > \
        peak_signal_noise_ratio(clean, obs, data_range=1) + 3
    assert fit.u.shape == (44, 19)
    assert [h.eval_epochs for h in fit.histories] == [[0, 50, 100, 150]] * 2


# ------------------------------------------------------------------------------------------------ configs, records
@pytest.fixture
def tiny_image(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray((255 * _smooth(20, 18)).astype(np.uint8)).save(path)
    return str(path)


def _config(tiny_image, task="denoising", method="MGDL", level=30, **kw):
    kw = {"epochs": 3, "eval_every": 1, "loss_every": 1, **kw}
    if method not in R.NETWORKS:
        kw = {k: v for k, v in kw.items() if k not in ("epochs", "eval_every", "loss_every")}
    return R.make_config(task, tiny_image, method, level, "smoke", device="cpu", **kw)


def _files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_record_and_reuse(tiny_image, tmp_path, monkeypatch):
    out = tmp_path / "results"
    cfg = _config(tiny_image, n_grades=2)
    rec = run(cfg, results_dir=out, profile="smoke", progress=False)
    assert rec.config == cfg.to_dict() and rec.key == cfg.key
    assert rec.config["image"] == "file:tiny.png" and rec.config["level"] == 30.0 and rec.config["beta"] == 0.1
    assert [g["grade"] for g in rec.series["psnr_per_grade"]] == [1, 2]
    assert len(rec.series["grades"]) == 2 and rec.series["grades"][1]["eval_epochs"] == [0, 1, 2, 3]
    assert set(rec.arrays()) == {"clean", "observed", "grade 1", "grade 2"}
    assert len(_files(out)) == 2                          # one JSON, one npz
    monkeypatch.setattr(R, "fit_restoration", lambda *a, **k: pytest.fail("recomputed a current record"))
    again = run(cfg, results_dir=out, profile="smoke", progress=False)
    assert again.data == json.loads(rec.path.read_text())
    assert run(cfg, results_dir=out, train="never").key == cfg.key
    monkeypatch.setattr(R, "classical_reference", lambda *a, **k: pytest.fail("recomputed a classical record"))
    with pytest.raises(RecordUnavailable, match="no record"):
        run(_config(tiny_image, method="tv"), results_dir=out, train="never")


def test_psnr_metrics_match_skimage(tiny_image):
    cfg = _config(tiny_image, method="tv_oracle")
    clean, observed, _ = R.corrupted_input(cfg)
    rec = run(cfg, progress=False)
    assert rec.metrics["psnr_observed"] == pytest.approx(
        peak_signal_noise_ratio(clean, observed, data_range=1.0), abs=1e-10)
    grid = rec.series["classical"][0]["grid_psnr"]
    assert rec.metrics["psnr"] == pytest.approx(max(grid), abs=1e-12)     # the oracle keeps the best grid point


CHANGES = {"beta": 0.2, "lam": 0.02, "alpha": 0.9, "size": 18, "noise_seed": 1, "n_grades": 1, "level": 20.0,
           "epochs": 4, "learning_rate": 2e-3, "seed": 1, "init": "he_normal", "relu_prime_at_zero": 1}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_config_change_is_a_new_key_and_a_new_run(name, tiny_image, tmp_path, monkeypatch):
    out = tmp_path / "results"
    base = _config(tiny_image, n_grades=2)
    run(base, results_dir=out, progress=False)
    calls = {"n": 0}
    real = R.fit_restoration

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(R, "fit_restoration", counting)
    changed = dataclasses.replace(base, **{name: CHANGES[name]})
    assert changed.key != base.key
    rec = run(changed, results_dir=out, progress=False)
    assert calls["n"] == 1 and rec.config[name] == CHANGES[name]
    assert len(_files(out)) == 4


def test_an_integer_level_is_the_same_setting_as_a_float(tiny_image):
    a = _config(tiny_image, level=30)
    assert dataclasses.replace(a, level=30.0).key == a.key
    assert isinstance(dataclasses.replace(a, level=30).level, float)


BAD = [
    (dict(task="denoising", method="wiener"), "unknown method 'wiener'"),
    (dict(task="inpainting"), "unknown task 'inpainting'"),
    (dict(level=-5), "level must be a finite number > 0"),
    (dict(level=0), "level must be a finite number > 0"),
    (dict(size=10), "size must be an integer >= 16"),
    (dict(n_grades=9), "n_grades must be an integer in 1..4"),
    (dict(n_grades=0), "n_grades must be an integer in 1..4"),
    (dict(alpha=1.5), "alpha must be in"),
    (dict(task="deblurring", level=7, size=32), "43-tap kernel, larger than the image size 32"),
    (dict(task="deblurring", level=3, deblur_noise=None), "deblurring needs deblur_noise"),
    (dict(deblur_noise=3.0), "deblur_noise must be None for denoising"),
    (dict(method="tv", structure="29"), "structure must be None for the classical method 'tv'"),
    (dict(method="SGDL", n_grades=2), "n_grades applies to MGDL only"),
    (dict(method="SGDL", structure="33"), "structure (33) is not a 2-D-input SGDL structure"),
    (dict(profile="fast"), "unknown profile 'fast'"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_a_one_line_error_before_any_file(change, message, tiny_image, tmp_path):
    change = dict(change)
    task, method = change.pop("task", "denoising"), change.pop("method", "MGDL")
    profile = change.pop("profile", "smoke")
    level = change.pop("level", 3 if task == "deblurring" else 30)
    if task == "deblurring" and "deblur_noise" not in change:
        change["deblur_noise"] = 3.0
    out = tmp_path / "results"
    with pytest.raises(ValueError) as err:
        cfg = R.make_config(task, tiny_image, method, level, profile, device="cpu", **change)
        run(cfg, results_dir=out, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() or _files(out) == []


def test_a_blur_wider_than_the_image_fails_before_any_work(tiny_image, tmp_path, monkeypatch):
    """size None: the 20x18 image is known only when loaded; compute refuses it before training or writing."""
    monkeypatch.setattr(R, "fit_restoration", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "results"
    cfg = R.make_config("deblurring", tiny_image, "MGDL", 5, "smoke", device="cpu", size=None)
    with pytest.raises(ValueError, match="31-tap kernel, larger than the image side 18") as err:
        run(cfg, results_dir=out, progress=False)
    assert "\n" not in str(err.value)
    assert _files(out) == []


def test_profile_grids():
    cpu = R.configs("cpu")
    # every point once, plus the Butterfly networks (SGDL, MGDL) from seeds 1 and 2: 6 + 3 levels x 2 x 2
    assert len(cpu) == 3 * 6 * 5 + 3 * 3 * 7 + (6 + 3) * 2 * 2
    seeded = {(c.task, c.image, c.method) for c in cpu if c.seed > 0}
    assert {im for _, im, _ in seeded} == {"butterfly"} and {m for _, _, m in seeded} == set(R.NETWORKS)
    assert {c.size for c in cpu} == {64} and {c.epochs for c in cpu if c.method in R.NETWORKS} == {1000}
    paper = R.configs("paper", "deblurring", images=["butterfly"], methods=["MGDL"])
    assert [c.level for c in paper] == [3.0, 5.0, 7.0]
    assert {(c.size, c.epochs, c.deblur_noise, c.beta, c.lam, c.alpha, c.learning_rate, c.structure)
            for c in paper} == {(None, 20_000, 3.0, 0.1, 0.01, 0.99, 1e-3, "33")}
    smoke = R.configs("smoke")
    assert {(c.task, c.image, c.level) for c in smoke} == {("denoising", "butterfly", 30.0),
                                                            ("deblurring", "butterfly", 3.0)}


# ------------------------------------------------------------------------------------------------ report
def test_report_check_fails_when_a_reference_moves(tiny_image, tmp_path, monkeypatch):
    out = tmp_path / "results"
    res = report.collect("denoising", "smoke", images=[tiny_image], levels="30", device="cpu", results_dir=out)
    values = report.reference_values(res)
    assert set(values) == {f"file:tiny.png/30/{m}" for m in R.METHODS["denoising"]}
    ref = tmp_path / "denoising.json"
    monkeypatch.setattr(report, "references_path", lambda name: ref)
    ref.write_text(json.dumps({"tolerance_db": 0.5, "values": values}))
    assert report.check(res).failures == []
    ref.write_text(json.dumps({"tolerance_db": 0.5, "values": {**values, "file:tiny.png/30/MGDL":
                                                                  values["file:tiny.png/30/MGDL"] + 3}}))
    assert [f.split(":")[0] for f in report.check(res).failures] == ["file"]
    assert "MGDL" in report.check(res).failures[0]


def test_report_shows_pending_records_with_their_reason(tiny_image, tmp_path):
    res = report.collect("deblurring", "smoke", images=[tiny_image], levels=[3], device="cpu",
                         results_dir=tmp_path / "empty", train="never")
    assert len(res.pending) == 7 and not res.records
    assert all("no record" in why for why in res.pending.values())
    table = report.table_markdown(res)
    assert table.count("pending") == 7 and ":name: tbl-deblurring" in table
    assert "not the paper's setting" in table


def test_report_paper_check_uses_the_table_and_the_listed_deviations(monkeypatch):
    from mgdlcore.experiments.records import Record
    from mgdlcore.paper.values import SEC4_PSNR_TOLERANCE_DB, TABLE3

    paper = TABLE3["pirate"]["MGDL"][5]
    cfgs = {("pirate", 5.0, "MGDL"): R.make_config("deblurring", "pirate", "MGDL", 5, "paper", device="cpu")}
    res = report.RestorationResults("deblurring", "paper", ["pirate"], [5.0], ["MGDL"], cfgs, None)
    assert "no paper-profile records" in str(report.check(res))
    res.records[("pirate", 5.0, "MGDL")] = Record({"metrics": {"psnr": paper + 0.9 * SEC4_PSNR_TOLERANCE_DB}})
    assert report.check(res).failures == []
    res.records[("pirate", 5.0, "MGDL")] = Record({"metrics": {"psnr": paper - 2 * SEC4_PSNR_TOLERANCE_DB}})
    assert len(report.check(res).failures) == 1
    monkeypatch.setattr(report, "allowed_deviation", lambda table, image, method, level:
                        "listed" if (table, image, method, level) == ("table3", "pirate", "MGDL", 5) else None)
    outcome = report.check(res)
    assert outcome.failures == [] and "listed deviation (listed)" in str(outcome)


def test_seed_table_gives_mean_sd_gaps_and_counts():
    from types import SimpleNamespace

    from mgdlcore.report import restoration as report

    def rec(method, seed, psnr, diverged=False):
        return SimpleNamespace(config={"image": "butterfly", "level": 30.0, "method": method, "seed": seed,
                                       "device": "cpu"},
                               metrics={"psnr": psnr}, diverged=diverged, profile="cpu",
                               provenance={"device": "cpu", "commit": "abcdef1234", "dirty": False})

    recs = [rec("SGDL", 0, 24.0), rec("MGDL", 0, 23.0), rec("SGDL", 1, 22.0), rec("MGDL", 1, 25.0),
            rec("SGDL", 2, 23.0), rec("MGDL", 2, 0.0, diverged=True)]
    table = report.seed_table_markdown("denoising", recs)
    row = next(line for line in table.splitlines() if line.startswith("| butterfly | 30 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "23.00 ± 1.00 (3)"                    # SGDL over three seeds
    assert cells[3] == "24.00 ± 1.41 (2)"                    # MGDL: the diverged seed is left out
    assert cells[4] == "-1.00, +3.00" and cells[5] == "1 of 2"
    assert cells[6] == "26.05" and cells[7] == "27.09"       # the paper's Table 2
    assert "seed 0, 1, 2" in table                          # the provenance in the caption
