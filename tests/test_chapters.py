"""The chapters run under papermill with a user's parameters, from the repository root (nbval runs them with their
defaults from chapters/)."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def rerun_line(notebook: Path) -> str:
    """The one-line rerun command a chapter shows in its first cell (an indented ``papermill chapters/...`` line)."""
    first = json.loads(notebook.read_text())["cells"][0]
    lines = [ln.strip() for ln in "".join(first["source"]).splitlines() if ln.strip().startswith("papermill chapters/")]
    assert len(lines) == 1, f"{notebook.name}: expected one rerun line in the first cell, found {len(lines)}"
    return lines[0]


RERUN_NOTEBOOKS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))   # every numbered chapter
RERUN_WORKERS = 2   # chapters run two at a time, one torch thread each (CI machines have two cores)


USER_IMAGE, BAD_PROFILE = "user image", "bad profile"     # the two runs with a user's parameters
JOB_SECONDS: dict[str, float] = {}     # wall seconds of each run above, printed after the tests (conftest.py)


def _user_image(folder: Path) -> Path:
    r, c = np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 26), indexing="ij")
    path = folder / "my image.png"
    Image.fromarray((255 * (0.5 + 0.4 * np.cos(5 * r * c))).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def reruns(tmp_path_factory):
    """Every chapter's documented rerun line, run as written from the repository root (smoke profile), and the two
    runs with a user's parameters below, two at a time: ``{name: (completed process, results folder)}``.

    Records of the rerun lines go to ``$MGDL_RESULTS_DIR`` when it is set (``make test`` sets a fresh folder for the
    whole test run, so the nbval pass over ``chapters/`` reuses these runs instead of training them again), else to
    a temporary folder."""
    import shlex
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    results = Path(os.environ.get("MGDL_RESULTS_DIR") or tmp_path_factory.mktemp("results"))
    env = {**os.environ, "MGDL_RESULTS_DIR": str(results), "OMP_NUM_THREADS": "1"}
    jobs: dict[str, tuple[list[str], Path, dict]] = {}
    # a user's image file, from the root, with a list parameter as the command line passes it (one string)
    own = tmp_path_factory.mktemp("user")
    jobs[USER_IMAGE] = (["papermill", "chapters/02_image_regression.ipynb", str(own / "out.ipynb"), "-p", "profile",
                         "smoke", "-p", "device", "cpu", "-p", "results_dir", str(own / "results"), "-p", "images",
                         str(_user_image(own))], own / "results", {k: v for k, v in env.items()
                                                                    if k != "MGDL_RESULTS_DIR"})
    bad = tmp_path_factory.mktemp("bad")
    jobs[BAD_PROFILE] = (["papermill", "02_image_regression.ipynb", str(bad / "out.ipynb"), "-p", "profile", "huge",
                          "-p", "results_dir", str(bad / "r")], bad / "r", env)
    for notebook in RERUN_NOTEBOOKS:
        args = shlex.split(rerun_line(notebook))
        assert args[:2] == ["papermill", f"chapters/{notebook.name}"] and "smoke" in args
        args[2] = str(tmp_path_factory.mktemp(notebook.stem) / "out.ipynb")
        jobs[notebook.name] = (args, results, env)

    def one(name: str):
        args, _, job_env = jobs[name]
        cwd = CHAPTERS if name == BAD_PROFILE else ROOT
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", *args, "--no-progress-bar"], cwd=cwd, env=job_env,
                              capture_output=True, text=True, timeout=1200)
        JOB_SECONDS[name] = time.perf_counter() - start
        return proc

    # the later chapters (beyond the paper) train the most in the smoke profile: started first, they leave the short
    # runs for the end and the two workers finish together (about 260 s of wall time for 520 s of runs, not 280)
    order = [*(n.name for n in reversed(RERUN_NOTEBOOKS)), USER_IMAGE, BAD_PROFILE]
    assert sorted(order) == sorted(jobs)
    with ThreadPoolExecutor(RERUN_WORKERS) as pool:
        done = dict(zip(order, pool.map(one, order)))
    return {name: (proc, jobs[name][1]) for name, proc in done.items()}


def test_regression_chapter_with_a_users_image_from_the_root(reruns):
    proc, out = reruns[USER_IMAGE]
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (out / "regression").glob("*.json")]
    assert {r["config"]["image"] for r in records} == {"file:my image.png"}
    assert sorted(r["config"]["method"] for r in records if r["profile"] == "smoke") == \
        ["MGDL", "SGDL", "bicubic", "bilinear"]
    # interpolation at the native size, beside the paper's Table 1 (no training: the paper's own setting)
    assert sorted(r["config"]["method"] for r in records if r["profile"] == "paper") == ["bicubic", "bilinear"]


def test_bad_profile_fails_the_chapter_with_a_clear_message(reruns):
    proc, out = reruns[BAD_PROFILE]
    assert proc.returncode != 0
    assert "unknown profile 'huge'; accepted: paper, cpu, smoke" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("notebook", RERUN_NOTEBOOKS, ids=lambda p: p.stem)
def test_rerun_line_works_from_the_root(reruns, notebook):
    """Each chapter's documented rerun line runs from the repository root, check cells included, and records."""
    proc, results = reruns[notebook.name]
    assert proc.returncode == 0, proc.stderr[-2000:]
    if not notebook.name.startswith("01_"):             # chapter 1 fits a toy problem live and stores nothing
        task_dirs = {"02": "regression", "03": "denoising", "04": "deblurring", "05": "learning_rate",
                     "06": "eigenvalues", "07": "msdl", "08": "approximation", "09": "lr_bound",
                     "10": "regression", "11": "activation", "12": "optimizer",
                     "13": "msdl_variants"}
        folder = results / task_dirs[notebook.name[:2]]
        assert list(folder.glob("*.json")), f"the rerun wrote no record in {folder}"
