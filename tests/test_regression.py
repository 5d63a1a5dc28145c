"""The image-regression kind (Sec. 4, Table 1) on the engine."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from mgdlcore.experiments import regression
from mgdlcore.experiments.regression import RegressionConfig, make_config
from mgdlcore.experiments.runner import run


def small(image, method, **kw):
    return make_config(image, method, "smoke", device="cpu", **kw)


def test_mgdl_record_psnr_and_reuse(tmp_path, user_image, monkeypatch):
    rec = run(small(user_image, "MGDL"), results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.config["image"] == "file:waves.png" and rec.config["structure"] == "32" and not rec.diverged
    assert [g["grade"] for g in rec.series["psnr_per_grade"]] == [1, 2, 3, 4]
    arrays = rec.arrays()
    clean = np.asarray(Image.open(user_image), dtype=np.float64) / 255
    np.testing.assert_allclose(arrays["target"], clean, atol=1e-3)          # float16 storage
    # the record's test PSNR is the PSNR of its final reconstruction over all pixels, eq. (34), checked with skimage
    ref = peak_signal_noise_ratio(clean, arrays["grade 4"], data_range=1.0)
    assert rec.metrics["psnr_test"] == pytest.approx(ref, abs=0.02)
    assert rec.series["psnr_per_grade"][-1]["psnr_test"] == pytest.approx(rec.metrics["psnr_test"])
    # MGDL's training PSNR cannot fall from grade 1 to grade 4 on this smooth image
    assert rec.series["psnr_per_grade"][-1]["psnr_train"] > rec.series["psnr_per_grade"][0]["psnr_train"]
    monkeypatch.setattr(regression, "fit_mgdl", lambda *a, **k: pytest.fail("retrained"))
    again = run(small(user_image, "MGDL"), results_dir=tmp_path, progress=False)
    assert again.data == rec.data


@pytest.mark.parametrize("change", [dict(size=16), dict(epochs=30), dict(learning_rate=2e-3), dict(n_grades=2),
                                    dict(seed=1), dict(init="he_normal"), dict(relu_prime_at_zero=1),
                                    dict(eval_every=10)])
def test_every_setting_changes_the_key(user_image, change):
    assert small(user_image, "MGDL", **change).key != small(user_image, "MGDL").key


def test_n_grades_trains_that_many(tmp_path, user_image):
    rec = run(small(user_image, "MGDL", n_grades=2), results_dir=tmp_path, progress=False)
    assert [g["grade"] for g in rec.series["psnr_per_grade"]] == [1, 2]


def test_user_file_is_labelled_apart_from_the_registry(tmp_path, user_image):
    named = tmp_path / "cameraman.png"
    named.write_bytes(open(user_image, "rb").read())
    cfg = small(str(named), "bicubic")
    assert cfg.image == "file:cameraman.png" and cfg.key != make_config("cameraman", "bicubic", "smoke").key
    # a changed file is another experiment
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(named)
    assert small(str(named), "bicubic").key != cfg.key


def test_sgdl_is_deterministic_and_has_the_papers_size(user_image):
    a = run(small(user_image, "SGDL"), progress=False)
    b = run(small(user_image, "SGDL"), progress=False)
    assert a.metrics["psnr_test"] == b.metrics["psnr_test"]
    assert a.metrics["n_parameters"] == 116097                               # (28): 2*128+128 + 7*(128*128+128) + 129


def test_interpolation_is_exact_on_training_pixels(tmp_path, user_image):
    rec = run(small(user_image, "bicubic"), results_dir=tmp_path, progress=False)
    assert rec.metrics["psnr_train"] > 100 and rec.config["epochs"] == 0 and rec.config["device"] == "cpu"


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="CNN"), "unknown method 'CNN'; accepted: SGDL, MGDL"),
    (dict(n_grades=9), r"n_grades must be an integer in 1..4"),
    (dict(n_grades=0), r"n_grades must be an integer in 1..4"),
    (dict(n_grades=-1), r"n_grades must be an integer in 1..4"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(learning_rate=-1.0), "learning_rate must be a finite number > 0"),
    (dict(size=8), "size must be an integer >= 16"),
    (dict(structure="30"), r"structure \(30\) is not a 2-D-input MGDL structure"),
])
def test_bad_settings_fail_before_any_work(kwargs, match):
    base = dict(image="cameraman", method="MGDL", structure="32", epochs=10, device="cpu")
    with pytest.raises(ValueError, match=match) as err:
        RegressionConfig(**{**base, **kwargs})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("image, match", [("lena", "unknown image 'lena'"), ("file:x.png", "is a label, not a path")])
def test_bad_image_fails_before_any_work(tmp_path, image, match):
    with pytest.raises(ValueError, match=match):
        make_config(image, "MGDL", "smoke")


@pytest.mark.parametrize("shape", [(3, 3), (1, 1000)])
def test_too_small_image_fails_before_training(tmp_path, shape):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.full(shape, 128, np.uint8)).save(path)
    with pytest.raises(ValueError, match="too small; each side must be >= 16"):
        run(small(str(path), "MGDL"), results_dir=tmp_path / "r", progress=False)
    assert not list((tmp_path / "r").rglob("*.json"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_fails_in_one_line(user_image):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        make_config(user_image, "SGDL", "smoke", device="cuda")


def test_profile_function_lists_table1():
    cfgs = regression.configs("cpu", ["cameraman", "barbara"], seeds=(0, 1, 2), device="cpu")
    labels = sorted((c.image, c.method, c.seed) for c in cfgs)
    assert len(cfgs) == 2 * (2 * 3 + 2)          # networks per seed, interpolations once
    assert ("cameraman", "MGDL", 2) in labels and ("cameraman", "bicubic", 0) in labels
    assert {c.size for c in cfgs} == {128} and {c.epochs for c in cfgs if c.method == "SGDL"} == {3000}
    assert make_config("walnut", "SGDL", "paper").structure == "29"


@pytest.mark.parametrize("method", ["SGDL", "MGDL"])
def test_prefix_rerun_matches_the_recorded_loss_curve_and_flags_an_edit(tmp_path, data_dir, method):
    """``verify --prefix-epochs``: the first epochs of a run, rerun alone, give the recorded losses; an edited
    loss value is named."""
    from mgdlcore.experiments import verify

    rec = run(small("cameraman", method), results_dir=tmp_path, progress=False)   # a rerun needs a registry image
    valid, problems = verify.verify(tmp_path)
    assert problems == [] and verify.rerun(valid, 1, prefix_epochs=20) == []
    data = json.loads(rec.path.read_text())
    data["series"]["grades"][0]["loss"][7] *= 1.001           # a loss the code does not produce
    rec.path.write_text(json.dumps(data))
    lines = verify.rerun(verify.verify(tmp_path)[0], 1, prefix_epochs=20)
    assert len(lines) == 1 and "loss at epoch 7" in lines[0]
    lines = verify.rerun(verify.verify(tmp_path)[0], 1, prefix_epochs=5)     # epoch 7 is past the prefix
    assert lines == []


def test_paper_setting_table_says_whether_the_paper_lies_in_our_range():
    from types import SimpleNamespace

    from mgdlcore.report import regression as report

    def rec(method, final, low, high):
        return SimpleNamespace(config={"image": "cameraman", "method": method},
                               metrics={"psnr_test": final, "psnr_test_tail_min": low, "psnr_test_tail_max": high})

    # the paper: SGDL 24.79, MGDL 25.21 test PSNR on Cameraman
    text = report.paper_setting_markdown([rec("SGDL", 23.8, 23.6, 24.3), rec("MGDL", 24.0, 23.9, 24.1)])
    rows = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| Cameraman")}
    assert rows["SGDL"].rstrip(" |").endswith("yes") and "-0.99" in rows["SGDL"]   # 24.79 <= 24.3 + 0.5
    assert rows["MGDL"].rstrip(" |").endswith("no")                                  # 25.21 > 24.1 + 0.5
    assert "in 1 of 2 cases" in text
    assert "below the paper's in 2 of 2 cases (by 0.99 to 1.21 dB)" in text
    assert "In 1 of them (Cameraman MGDL)" in text and "Cameraman SGDL" not in text.split("In 1 of them")[1]
    above = report.paper_setting_markdown([rec("SGDL", 25.0, 24.9, 25.1), rec("MGDL", 25.3, 25.2, 25.4)])
    assert "below the paper's" not in above and "does not explain" not in above
    assert report.paper_setting_markdown([]).startswith("No paper-profile record")
