import dataclasses

import numpy as np
import pytest
import torch

from mgdlcore import eigen_analysis as ea
from mgdlcore.hessian import iteration_eigenvalues, loss_hessian
from mgdlcore.models import build_network
from mgdlcore.structures import get_structure


@pytest.fixture
def tiny(monkeypatch):
    """A profile small enough for the test budget: 6 x 6 images, 4 epochs, eigenvalues at 0, 2, 4."""
    prof = dataclasses.replace(ea.EIGEN_PROFILES["smoke"], name="tiny", image_size=6, image_epochs=4,
                               image_eval_every=2, denoise_size=6, denoise_epochs=4, denoise_eval_every=2,
                               k=3, dense_max_params=2500, lanczos_tol=1e-8)
    monkeypatch.setitem(ea.EIGEN_PROFILES, "tiny", prof)
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


def test_denoising_eigenvalues_at_epoch0_match_an_independent_hessian(tiny, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    rec = ea.run_eigen_analysis("denoising", "SGDL", profile="tiny", device="cpu", results_dir=tmp_path)
    (g,) = rec["grades"]
    assert g["eval_epochs"] == [0, 2, 4] and len(g["eig_min"]) == 3 and len(g["eig_min"][0]) == 3
    assert g["eig_method"] == "lanczos" and g["n_parameters"] == 7249
    # independent: the same He-normal network, the loss with u = 0 (its value before the first prox step)
    clean, noisy = ea.denoising_data(tiny)
    x = torch.as_tensor(np.stack(np.meshgrid(np.arange(6) / 6, np.arange(6) / 6, indexing="ij"), -1).reshape(-1, 2),
                        dtype=torch.float32)
    y = torch.as_tensor(noisy, dtype=torch.float32)
    net = build_network(get_structure("27"), seed=0, init="he_normal", relu_prime_at_zero=1)
    beta = ea.DENOISING_PENALTIES["SGDL"][0]

    def loss(m):
        img = m(x).reshape(6, 6)
        dv = torch.diff(img, dim=0, append=img[-1:])
        dh = torch.diff(img, dim=1, append=img[:, -1:])
        return 0.5 * torch.sum((img - y) ** 2) + 0.5 * beta * (torch.sum(dv**2) + torch.sum(dh**2))

    ref = iteration_eigenvalues(loss_hessian(net, loss), rec["learning_rate"], k=3)
    np.testing.assert_allclose(g["eig_min"][0], ref.smallest, atol=1e-5)  # float32 Hessians
    np.testing.assert_allclose(g["eig_max"][0], ref.largest, atol=1e-5)
    # the record is reused, not recomputed
    again = ea.run_eigen_analysis("denoising", "SGDL", profile="tiny", device="cpu", results_dir=tmp_path)
    assert again["finished_utc"] == rec["finished_utc"]


def test_image_mgdl_records_one_track_per_grade(tiny, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(data_dir))
    monkeypatch.setitem(ea.EIGEN_PROFILES, "tiny", dataclasses.replace(tiny, image_epochs=2, dense_max_params=200))
    rec = ea.run_eigen_analysis("image", "MGDL", profile="tiny", device="cpu", results_dir=tmp_path)
    assert [g["grade"] for g in rec["grades"]] == [1, 2, 3, 4]
    assert [g["n_parameters"] for g in rec["grades"]] == [193, 2401, 2401, 2401]
    assert [g["eig_method"] for g in rec["grades"]] == ["dense"] + ["lanczos"] * 3
    assert all(g["eval_epochs"] == [0, 2] for g in rec["grades"])
    assert rec["n_train"] == 9 and rec["learning_rate"] == 0.2 and rec["relu_prime_at_zero"] == 1
    for g in rec["grades"]:
        assert all(a <= b for a, b in zip(g["eig_min"][0], g["eig_min"][0][1:]))    # ascending
        assert all(a >= b for a, b in zip(g["eig_max"][0], g["eig_max"][0][1:]))    # descending
        assert g["eig_min"][0][0] <= g["eig_max"][0][0]
        assert g["n_le_minus1"][0] == sum(v <= -1 for v in g["eig_min"][0]) or g["n_le_minus1"][0] > 3
