"""The ROF proximity-gradient scheme of Appendix C, the MGDL scaling eps_l, and the restoration runner."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mgdlcore.physics.operators import ForwardDifference, GaussianBlur, Identity
from mgdlcore.experiments.restoration import (
    RESTORATION_PROFILES,
    degrade,
    fit_restoration,
    fit_rof,
    prox_step,
    rof_objective,
    run_restoration,
    soft_threshold,
)
from mgdlcore.training.loop import TrainConfig


def test_soft_threshold_matches_direct_formula():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    t = 0.35
    ref = np.where(np.abs(x.numpy()) > t, x.numpy() - t * np.sign(x.numpy()), 0.0)
    np.testing.assert_allclose(soft_threshold(x, t).numpy(), ref, rtol=0, atol=1e-15)


def test_prox_step_is_soft_threshold_of_relaxed_point_and_minimises_prox_objective():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(14, 9, generator=g, dtype=torch.float64) * 0.1
    bn = torch.randn(14, 9, generator=g, dtype=torch.float64) * 0.1
    alpha, beta, lam = 0.99, 0.1, 0.01
    z = alpha * bn + (1 - alpha) * u
    t = alpha * lam / beta
    out = prox_step(u, bn, alpha=alpha, beta=beta, lam=lam)
    direct = np.sign(z.numpy()) * np.maximum(np.abs(z.numpy()) - t, 0)
    np.testing.assert_allclose(out.numpy(), direct, rtol=0, atol=1e-15)
    # optimality of argmin_v 1/2 (v - z)^2 + t |v|: brute force on a fine grid, elementwise
    grid = np.linspace(-1, 1, 200001)
    for zi, vi in zip(z.numpy().ravel()[:10], out.numpy().ravel()[:10]):
        best = grid[np.argmin(0.5 * (grid - zi) ** 2 + t * np.abs(grid))]
        assert abs(best - vi) < 2e-5


def test_rof_objective_by_hand():
    rng = np.random.default_rng(1)
    img, f, u = rng.random((7, 5)), rng.random((7, 5)), rng.random((14, 5)) - 0.5
    beta, lam = 0.1, 0.01
    A = GaussianBlur(1)  # noqa: N806
    af = A.A(torch.as_tensor(img)).numpy()
    bimg = np.vstack([np.diff(img, axis=0, append=img[-1:]), np.diff(img, axis=1, append=img[:, -1:])])
    ref = 0.5 * np.sum((f - af) ** 2) + 0.5 * beta * np.sum((u - bimg) ** 2) + lam * np.sum(np.abs(u))
    got = rof_objective(torch.as_tensor(img), torch.as_tensor(u), torch.as_tensor(f), A, ForwardDifference(),
                        beta=beta, lam=lam)
    assert float(got) == pytest.approx(ref, rel=1e-12)


def test_degrade_noise_law_and_seed():
    clean = np.full((64, 48), 0.5)
    a = degrade(clean, Identity(), 30, noise_seed=3)
    b = degrade(clean, Identity(), 30, noise_seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.std(a - clean) == pytest.approx(30 / 255, rel=0.05)
    assert not np.array_equal(a, degrade(clean, Identity(), 30, noise_seed=4))
    # deblurring: blur first, then noise; no clipping
    img = np.random.default_rng(0).random((40, 33))
    obs = degrade(img, GaussianBlur(2), 3, noise_seed=0)
    blurred = GaussianBlur(2).A(torch.as_tensor(img)).numpy()
    assert np.std(obs - blurred) == pytest.approx(3 / 255, rel=0.1)


class _Tiny(torch.nn.Module):
    def __init__(self, h, w):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(h, w, dtype=torch.float64))


def test_fit_rof_one_forward_per_epoch_and_pre_update_parameters():
    """The u update and the Adam step use the same (pre-update) image; one image evaluation per epoch."""
    h, w = 6, 5
    rng = np.random.default_rng(2)
    f = torch.as_tensor(rng.random((h, w)))
    m = _Tiny(h, w)
    calls = {"n": 0}

    def image_fn():
        calls["n"] += 1
        return m.p * 1.0

    A, B = Identity(), ForwardDifference()  # noqa: N806
    kw = dict(alpha=0.99, beta=0.1, lam=0.01)
    cfg = TrainConfig(epochs=3, learning_rate=1e-2, eval_every=1000, progress=False)
    u0 = torch.zeros(2 * h, w, dtype=torch.float64)
    hist, u = fit_rof(image_fn, [m.p], f, A, B, u0, cfg, **kw)
    assert calls["n"] == 3
    # reference: the same three epochs written out by hand
    p = torch.zeros(h, w, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-2)
    ur = u0
    for _ in range(3):
        ur = prox_step(ur, B.A(p.detach()), **kw)
        opt.zero_grad()
        loss = rof_objective(p, ur, f, A, B, beta=0.1, lam=0.01)
        loss.backward()
        opt.step()
    torch.testing.assert_close(m.p.detach(), p.detach(), rtol=0, atol=1e-14)
    torch.testing.assert_close(u, ur, rtol=0, atol=1e-14)
    assert len(hist.loss) == 3 and not hist.diverged


def _smooth_image(h, w):
    r, c = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    return 0.3 + 0.4 * np.exp(-((r - 0.4) ** 2 + (c - 0.6) ** 2) / 0.08)


def test_mgdl_scales_and_tiny_denoising_beats_noisy_input():
    clean = _smooth_image(22, 19)
    obs = degrade(clean, Identity(), 40, noise_seed=0)
    cfg = TrainConfig(epochs=150, learning_rate=1e-3, eval_every=50, progress=False)
    fit = fit_restoration("MGDL", obs, Identity(), cfg, structure="33", n_grades=2, clean=clean)
    assert fit.scales[0] == 1.0
    g1 = fit.images["grade 1"]
    # eps_2 is the RMS of (grade-1 image - observed image), computed in float32 in the fit
    assert fit.scales[1] == pytest.approx(np.sqrt(np.mean((g1 - obs) ** 2)), rel=1e-4)
    noisy = -10 * np.log10(np.mean((obs - clean) ** 2))
    final = -10 * np.log10(np.mean((fit.images["grade 2"] - clean) ** 2))
    assert final > noisy + 3
    assert fit.u.shape == (44, 19)
    # the PSNR history is recorded at 0, 50, 100, 150 for each grade
    assert [h.eval_epochs for h in fit.histories] == [[0, 50, 100, 150]] * 2


def test_run_restoration_record_reuse_and_errors(tmp_path, monkeypatch):
    img = (np.clip(_smooth_image(21, 17), 0, 1) * 255).astype(np.uint8)
    path = tmp_path / "odd.png"
    Image.fromarray(img).save(path)
    out = tmp_path / "results"
    run = run_restoration("deblurring", str(path), "MGDL", 1, "smoke", device="cpu", results_dir=out,
                          progress=False)
    rec = run.record
    prof = RESTORATION_PROFILES["smoke"]
    for k in ("task", "image", "method", "profile", "structure", "epochs", "learning_rate", "seed", "variant",
              "noise_level", "blur_sigma", "noise_seed", "psnr", "psnr_per_grade", "psnr_history", "diverged",
              "seconds", "device", "commit"):
        assert k in rec, k
    assert rec["variant"] == "blur=1" and rec["noise_level"] == 3.0 and rec["blur_sigma"] == 1.0
    assert rec["image_shape"] == [21, 17] and rec["epochs"] == prof.epochs and rec["structure"] == "33"
    assert len(rec["psnr_per_grade"]) == 4 and rec["psnr"] == rec["psnr_per_grade"][-1]["psnr"]
    assert rec["psnr_history"]["epochs"][-1] == 4 * prof.epochs
    assert set(run.images) == {"clean", "observed", "grade 1", "grade 2", "grade 3", "grade 4"}
    files = sorted(p.name for p in (out / "deblurring").iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".npz")
    # reuse: the stored record comes back; nothing is trained
    monkeypatch.setattr("mgdlcore.experiments.restoration.fit_restoration", lambda *a, **k: pytest.fail("recomputed"))
    again = run_restoration("deblurring", str(path), "MGDL", 1, "smoke", device="cpu", results_dir=out)
    assert again.record == json.loads((out / "deblurring" / files[0]).read_text())
    with pytest.raises(ValueError, match="accepted"):
        run_restoration("denoising", str(path), "wiener", 10, "smoke", results_dir=out)
    with pytest.raises(ValueError, match="accepted"):
        run_restoration("inpainting", str(path), "SGDL", 10, "smoke")
    with pytest.raises(ValueError, match="level"):
        run_restoration("denoising", str(path), "SGDL", -5, "smoke")
    with pytest.raises(ValueError, match="profile"):
        run_restoration("denoising", str(path), "SGDL", 10, "fast")
