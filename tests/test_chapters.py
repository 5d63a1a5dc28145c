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


def rerun_line(notebook: Path) -> str:
    """The one-line rerun command a chapter shows in its first cell (an indented ``papermill chapters/...`` line)."""
    first = json.loads(notebook.read_text())["cells"][0]
    lines = [ln.strip() for ln in "".join(first["source"]).splitlines() if ln.strip().startswith("papermill chapters/")]
    assert len(lines) == 1, f"{notebook.name}: expected one rerun line in the first cell, found {len(lines)}"
    return lines[0]


@pytest.mark.parametrize("notebook", sorted(CHAPTERS.glob("0*.ipynb")), ids=lambda p: p.stem)
def test_rerun_line_works_from_the_root(tmp_path, notebook):
    """Each chapter's documented rerun line, run as written from the repository root (smoke profile)."""
    import shlex
    import subprocess
    import sys

    args = shlex.split(rerun_line(notebook))
    assert args[:2] == ["papermill", f"chapters/{notebook.name}"] and "smoke" in args
    args[2] = str(tmp_path / "out.ipynb")
    env = {**__import__("os").environ, "MGDL_RESULTS_DIR": str(tmp_path / "results")}
    proc = subprocess.run([sys.executable, "-m", *args, "--no-progress-bar"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if not notebook.name.startswith("01_"):             # chapter 1 fits a toy problem live and stores nothing
        assert list((tmp_path / "results").rglob("*.json")), "the rerun wrote no record"
