"""The chapters run under papermill with a user's parameters, from the repository root (nbval runs them with their
defaults from chapters/)."""

import json
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def test_regression_chapter_with_a_users_image_from_the_root(tmp_path):
    r, c = np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 26), indexing="ij")
    path = tmp_path / "my image.png"
    Image.fromarray((255 * (0.5 + 0.4 * np.cos(5 * r * c))).astype(np.uint8)).save(path)
    out = tmp_path / "results"
    # a list parameter as the command line passes it: one comma-separated string
    pm.execute_notebook(str(CHAPTERS / "02_image_regression.ipynb"), str(tmp_path / "out.ipynb"),
                        parameters={"profile": "smoke", "device": "cpu", "results_dir": str(out),
                                    "images": f"{path}"},
                        cwd=str(ROOT), progress_bar=False, kernel_name="python3")
    records = [json.loads(p.read_text()) for p in (out / "regression").glob("*.json")]
    assert {r["config"]["image"] for r in records} == {"file:my image.png"}
    assert sorted(r["config"]["method"] for r in records if r["profile"] == "smoke") == \
        ["MGDL", "SGDL", "bicubic", "bilinear"]
    # interpolation at the native size, beside the paper's Table 1 (no training: the paper's own setting)
    assert sorted(r["config"]["method"] for r in records if r["profile"] == "paper") == ["bicubic", "bilinear"]


def test_bad_profile_fails_the_chapter_with_a_clear_message(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="unknown profile 'huge'; accepted: paper, cpu, smoke"):
        pm.execute_notebook(str(CHAPTERS / "02_image_regression.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "huge", "results_dir": str(tmp_path / "r")},
                            cwd=str(CHAPTERS), progress_bar=False, kernel_name="python3")
    assert not (tmp_path / "r").exists()
