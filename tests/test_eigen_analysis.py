import dataclasses

import numpy as np
import pytest
import torch

from mgdlcore.experiments import eigen_analysis as ea
from mgdlcore.analysis.hessian import iteration_eigenvalues, loss_hessian
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import MGDLStructure, SGDLStructure


# small stand-ins for the paper's structures, same input sizes, odd widths (the runner is what is tested)
SMALL = {"26": SGDLStructure("26", 1, (6, 5, 4)), "30": MGDLStructure("30", 1, ((5,), (4,), (3,), (6,))),
         "27": SGDLStructure("27", 2, (7, 5)), "31": MGDLStructure("31", 2, ((6,), (5,), (4,), (3,)))}


def n_params(widths):
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


@pytest.fixture
def tiny(monkeypatch):
    """A profile small enough for the test budget (6 x 6 images, 4 epochs, eigenvalues at 0, 2, 4) and small
    networks in place of (26), (27), (30), (31)."""
    prof = dataclasses.replace(ea.EIGEN_PROFILES["smoke"], name="tiny", synthetic_epochs=4, synthetic_eval_every=2,
                               image_size=6, image_epochs=4, image_eval_every=2, denoise_size=6, denoise_epochs=4,
                               denoise_eval_every=2, k=3, dense_max_params=2500, dense_at_end=True,
                               lanczos_tol=1e-10)
    monkeypatch.setitem(ea.EIGEN_PROFILES, "tiny", prof)
    monkeypatch.setattr(ea, "get_structure", lambda name: SMALL[name])
    return prof


def test_oscillation_stats_by_hand():
    s = ea.oscillation_stats([4.0, 2.0, 3.0, 1.0, None, 0.5])
    assert s["frac_increases"] == pytest.approx(1 / 4)
    assert s["max_jump"] == pytest.approx(1.5)
    assert ea.oscillation_stats([1.0]) == {"frac_increases": None, "max_jump": None}


@pytest.mark.parametrize("kw, msg", [({"task": "nope", "method": "SGDL"}, "unknown task"),
                                     ({"task": "image", "method": "X"}, "unknown method"),
                                     ({"task": "synthetic", "method": "SGDL", "setting": 3}, "setting must be"),
                                     ({"task": "image", "method": "SGDL", "profile": "huge"}, "unknown profile")])
def test_bad_input_fails_before_work(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        ea.run_eigen_analysis(results_dir=tmp_path, **kw)
    assert not any(tmp_path.iterdir())


def test_paper_learning_rates():
    assert ea.default_learning_rate("synthetic", "SGDL", 1) == 0.08
    assert ea.default_learning_rate("synthetic", "MGDL", 2) == 0.2
    assert ea.default_learning_rate("image", "SGDL") == 0.02


def _independent_denoising_loss(tiny, net, beta, shape=(6, 6)):
    """The ROF-penalised loss at u = 0 (its value before the first prox step), with torch.diff as B."""
    _, noisy = ea.denoising_data(tiny)
    r, c = np.meshgrid(np.arange(shape[0]) / shape[0], np.arange(shape[1]) / shape[1], indexing="ij")
    x = torch.as_tensor(np.stack([r, c], -1).reshape(-1, 2), dtype=torch.float32)
    y = torch.as_tensor(noisy, dtype=torch.float32)

    def loss(m):
        img = m(x).reshape(shape)
        dv = torch.diff(img, dim=0, append=img[-1:])
        dh = torch.diff(img, dim=1, append=img[:, -1:])
        return 0.5 * torch.sum((img - y) ** 2) + 0.5 * beta * (torch.sum(dv**2) + torch.sum(dh**2))

    return loss


def test_denoising_sgdl_lanczos_eigenvalues_at_epoch0_match_an_independent_hessian(tiny, tmp_path, data_dir,
                                                                                      monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    monkeypatch.setitem(ea.EIGEN_PROFILES, "tiny", dataclasses.replace(tiny, dense_max_params=50))
    lr = 0.05   # not the paper's 1e-5: the eigenvalues of I - lr H spread out, the smallest below -1
    rec = ea.run_eigen_analysis("denoising", "SGDL", lr=lr, profile="tiny", device="cpu", results_dir=tmp_path)
    (g,) = rec["grades"]
    assert g["eval_epochs"] == [0, 2, 4] and len(g["eig_min"]) == 3 and len(g["eig_min"][0]) == 3
    assert g["eig_method"] == "lanczos" and g["n_parameters"] == n_params((2, 7, 5, 1)) == 67
    net = build_network(SMALL["27"], seed=0, init="he_normal", relu_prime_at_zero=1)
    loss = _independent_denoising_loss(tiny, net, ea.DENOISING_PENALTIES["SGDL"][0])
    ref = iteration_eigenvalues(loss_hessian(net, loss), lr, k=3)     # autograd, dense
    np.testing.assert_allclose(g["eig_min"][0], ref.smallest, atol=5e-4)  # float32 Hessians, |lr H| ~ 2.5
    np.testing.assert_allclose(g["eig_max"][0], ref.largest, atol=5e-4)
    assert g["n_le_minus1"][0] == ref.n_le_minus1 > 0
    # the record is reused, not recomputed
    again = ea.run_eigen_analysis("denoising", "SGDL", lr=lr, profile="tiny", device="cpu", results_dir=tmp_path)
    assert again["finished_utc"] == rec["finished_utc"]


def test_denoising_mgdl_dense_grade1_matches_an_independent_hessian(tiny, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    lr = 0.01
    rec = ea.run_eigen_analysis("denoising", "MGDL", lr=lr, profile="tiny", device="cpu", results_dir=tmp_path)
    widths = [(2, 6, 1), (6, 5, 1), (5, 4, 1), (4, 3, 1)]
    assert [g["grade"] for g in rec["grades"]] == [1, 2, 3, 4]
    assert [g["n_parameters"] for g in rec["grades"]] == [n_params(w) for w in widths]
    assert all(g["eig_method"] == "dense" and g["final_dense"] is not None for g in rec["grades"])
    net = build_grade(SMALL["31"], 1, seed=0, init="he_normal", relu_prime_at_zero=1)
    loss = _independent_denoising_loss(tiny, net, ea.DENOISING_PENALTIES["MGDL"][0])
    ref = iteration_eigenvalues(loss_hessian(net, loss), lr, k=3)
    g1 = rec["grades"][0]
    np.testing.assert_allclose(g1["eig_min"][0], ref.smallest, atol=1e-4)
    np.testing.assert_allclose(g1["eig_max"][0], ref.largest, atol=1e-4)
    assert g1["n_le_minus1"][0] == ref.n_le_minus1


def test_synthetic_sgdl_dense_counts_at_epoch0(tiny, tmp_path):
    rec = ea.run_eigen_analysis("synthetic", "SGDL", setting=1, profile="tiny", device="cpu", results_dir=tmp_path)
    (g,) = rec["grades"]
    assert g["eig_method"] == "dense" and g["n_parameters"] == n_params((1, 6, 5, 4, 1))
    from mgdlcore.data.synthetic import synthetic_data
    from mgdlcore.training.loop import half_mse
    d = synthetic_data(1)
    net = build_network(SMALL["26"], seed=0, init="he_normal", relu_prime_at_zero=1)
    ref = iteration_eigenvalues(loss_hessian(net, lambda m: half_mse(d.y_train, m(d.x_train))), 0.08, k=3)
    assert rec["learning_rate"] == 0.08 and rec["n_train"] == 1024
    np.testing.assert_allclose(g["eig_min"][0], ref.smallest, atol=1e-5)
    assert g["n_le_minus1"][0] == ref.n_le_minus1 and g["n_near_minus1"][0] == ref.n_near_minus1
    assert g["final_dense"]["n_le_minus1"] >= 0 and len(g["loss"]) == 4


def test_image_mgdl_records_one_track_per_grade(tiny, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    monkeypatch.setitem(ea.EIGEN_PROFILES, "tiny", dataclasses.replace(tiny, image_epochs=2, dense_max_params=26))
    rec = ea.run_eigen_analysis("image", "MGDL", profile="tiny", device="cpu", results_dir=tmp_path)
    assert [g["grade"] for g in rec["grades"]] == [1, 2, 3, 4]
    assert [g["n_parameters"] for g in rec["grades"]] == [25, 41, 29, 19]
    assert [g["eig_method"] for g in rec["grades"]] == ["dense", "lanczos", "lanczos", "dense"]
    assert all(g["eval_epochs"] == [0, 2] for g in rec["grades"])
    assert rec["n_train"] == 9 and rec["learning_rate"] == 0.2 and rec["relu_prime_at_zero"] == 1
    for g in rec["grades"]:
        assert all(a <= b for a, b in zip(g["eig_min"][0], g["eig_min"][0][1:]))    # ascending
        assert all(a >= b for a, b in zip(g["eig_max"][0], g["eig_max"][0][1:]))    # descending
        assert g["eig_min"][0][0] <= g["eig_max"][0][0]
        assert g["n_le_minus1"][0] == sum(v <= -1 for v in g["eig_min"][0]) or g["n_le_minus1"][0] > 3
        fd = g["final_dense"]                  # exact counts at the final (frozen) parameters
        assert fd is not None and fd["n_le_minus1"] >= sum(v <= -1 for v in fd["smallest"])
