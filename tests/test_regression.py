import json

import numpy as np
import pytest
import torch
from PIL import Image

from mgdlcore.experiments import regression
from mgdlcore.metrics import psnr
from mgdlcore.experiments.regression import run_regression

REQUIRED = ["task", "image", "method", "profile", "structure", "epochs", "learning_rate", "seed", "psnr_train",
            "psnr_test", "diverged", "seconds", "device", "torch", "commit"]


@pytest.fixture
def user_image(tmp_path):
    r, c = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 20), indexing="ij")
    arr = (255 * (0.5 + 0.4 * np.sin(4 * r + 2 * c))).astype(np.uint8)
    path = tmp_path / "waves.png"
    Image.fromarray(arr).save(path)
    return str(path)


def test_mgdl_record_and_reuse(tmp_path, user_image, monkeypatch):
    out = tmp_path / "results"
    run = run_regression(user_image, "MGDL", "smoke", device="cpu", results_dir=out, progress=False)
    r = run.record
    assert all(k in r for k in REQUIRED) and r["image"] == "waves" and r["structure"] == "32"
    assert r["task"] == "regression" and r["profile"] == "smoke" and not r["diverged"]
    assert [g["grade"] for g in r["psnr_per_grade"]] == [1, 2, 3, 4]
    assert list(run.reconstructions) == ["grade 1", "grade 2", "grade 3", "grade 4"]
    # the record's PSNR is the PSNR of its final reconstruction (eq. 34, all pixels)
    clean = np.asarray(Image.open(user_image), dtype=np.float64) / 255
    assert r["psnr_test"] == pytest.approx(psnr(clean, run.reconstructions["grade 4"]), abs=1e-9)
    assert r["psnr_per_grade"][-1]["psnr_test"] == pytest.approx(r["psnr_test"])
    files = sorted(p.suffix for p in (out / "regression").iterdir())
    assert files == [".json", ".npz"]
    # a second call reuses the record: no training happens
    monkeypatch.setattr(regression, "fit_mgdl", lambda *a, **k: pytest.fail("retrained"))
    again = run_regression(user_image, "MGDL", "smoke", device="cpu", results_dir=out, progress=False)
    assert again.record == json.loads(next((out / "regression").glob("*.json")).read_text())
    np.testing.assert_allclose(again.reconstructions["grade 4"], run.reconstructions["grade 4"], atol=1e-3)


def test_sgdl_is_deterministic_on_cpu(user_image):
    a = run_regression(user_image, "SGDL", "smoke", device="cpu", progress=False)
    b = run_regression(user_image, "SGDL", "smoke", device="cpu", progress=False)
    assert a.record["psnr_test"] == b.record["psnr_test"]
    assert a.record["n_parameters"] == 116097


def test_interpolation_reference_is_recomputed_not_stored(tmp_path, user_image):
    first = run_regression(user_image, "bicubic", "smoke", results_dir=tmp_path, progress=False)
    assert first.record["psnr_test"] > 20 and first.record["epochs"] == 0
    assert [p.suffix for p in (tmp_path / "regression").iterdir()] == [".json"]
    again = run_regression(user_image, "bicubic", "smoke", results_dir=tmp_path, progress=False)
    assert again.record == json.loads(next((tmp_path / "regression").glob("*.json")).read_text())
    assert again.record["psnr_test"] == first.record["psnr_test"]
    np.testing.assert_array_equal(again.reconstructions["bicubic"], first.reconstructions["bicubic"])


@pytest.mark.parametrize("kwargs, match", [
    ({"profile": "fast"}, "unknown profile 'fast'; accepted: paper, cpu, smoke"),
    ({"method": "CNN"}, "unknown method 'CNN'; accepted: SGDL, MGDL"),
    ({"image": "lena"}, "unknown image 'lena'"),
])
def test_bad_input_writes_nothing(tmp_path, user_image, kwargs, match):
    args = {"image": user_image, "method": "MGDL", "profile": "smoke", **kwargs}
    with pytest.raises(ValueError, match=match):
        run_regression(args.pop("image"), args.pop("method"), args.pop("profile"), results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tmp_path, user_image):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        run_regression(user_image, "SGDL", "smoke", device="cuda", results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
