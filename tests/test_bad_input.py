"""Bad input, one case at a time: each fails with a one-line message that says what was wrong and what is
accepted, before any work starts, and leaves no record behind (or changes none).

Cases checked elsewhere, listed here so the battery reads as one place: unknown profile in a chapter
(test_chapters), ``--threads 0`` and a failing campaign run (test_campaign), a too-small image (3x3, 1x1000) and
CUDA without a GPU (test_regression), an unwritable or file results folder, a corrupt record and a stale lock
(test_engine), a checksum mismatch (test_images).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mgdlcore.experiments import gd_dynamics, regression, restoration
from mgdlcore.experiments.runner import run
from mgdlcore.report.paths import as_list


def one_line_error(call, exc=ValueError) -> str:
    with pytest.raises(exc) as err:
        call()
    message = str(err.value)
    assert message and "\n" not in message, f"not one line: {message!r}"
    return message


@pytest.fixture
def records(tmp_path):
    """A results folder and a check that nothing was written to it."""
    out = tmp_path / "results"

    def nothing_written():
        assert not list(out.rglob("*.json")) and not list(out.rglob("*.npz"))

    return out, nothing_written


@pytest.mark.parametrize("n_grades", [0, 9, -1])
def test_n_grades_outside_the_structure(records, n_grades):
    out, nothing_written = records
    msg = one_line_error(lambda: run(regression.make_config("cameraman", "MGDL", "smoke", n_grades=n_grades),
                                     results_dir=out, progress=False))
    assert msg == f"n_grades must be an integer in 1..4 for (32), got {n_grades}"
    nothing_written()


@pytest.mark.parametrize("level", [-5, 0, float("nan")])
def test_bad_noise_level(records, level):
    out, nothing_written = records
    msg = one_line_error(lambda: restoration.configs("smoke", ("denoising",), ["butterfly"], [level]))
    assert msg.startswith("level must be a finite number > 0, got")
    nothing_written()


def test_blur_kernel_larger_than_the_image_fails_before_any_method_runs(records):
    """The smoke profile's 32-px images cannot take sigma 7 (a 43-tap kernel): no method of the point runs, so no
    partial point is left behind (the classical Wiener baseline used to crash after the networks were recorded)."""
    out, nothing_written = records
    for method in ("SGDL", "MGDL", "wiener"):
        msg = one_line_error(lambda m=method: run(restoration.make_config("deblurring", "butterfly", m, 7, "smoke"),
                                                  results_dir=out, progress=False))
        assert msg == ("blur sigma 7 needs a 43-tap kernel, larger than the image size 32; use size >= 43 or a "
                       "smaller blur")
    nothing_written()


@pytest.mark.parametrize("image, expected", [
    ("lena", "unknown image 'lena'; known images: cameraman, barbara"),
    ("file:x.png", "is a label, not a path"),
])
def test_unknown_image(records, image, expected):
    out, nothing_written = records
    msg = one_line_error(lambda: restoration.make_config("denoising", image, "MGDL", 10, "smoke"), Exception)
    assert expected in msg
    nothing_written()


def test_bad_method_and_task(records):
    out, nothing_written = records
    assert "accepted" in one_line_error(lambda: restoration.make_config("denoising", "butterfly", "GAN", 10, "smoke"))
    assert "accepted" in one_line_error(lambda: gd_dynamics.configs("smoke", ("sharpness",)))
    nothing_written()


@pytest.mark.parametrize("text, expected", [
    ('["cameraman", "/data/x.png"]', ["cameraman", "/data/x.png"]),     # what `-p images '[...]'` passes
    ("cameraman,/data/x.png", ["cameraman", "/data/x.png"]),
    ("cameraman", ["cameraman"]),
    (["barbara"], ["barbara"]),
])
def test_list_parameters_accept_what_papermill_passes(text, expected):
    assert as_list(text) == expected


def test_a_users_file_named_like_a_registry_image_gets_its_own_label(tmp_path):
    path = tmp_path / "cameraman.tif"
    Image.fromarray(np.full((24, 24), 90, np.uint8)).save(path)
    mine = regression.make_config(str(path), "SGDL", "smoke", device="cpu")
    theirs = regression.make_config("cameraman", "SGDL", "smoke", device="cpu")
    assert mine.image == "file:cameraman.tif" and mine.key != theirs.key


def test_two_processes_on_one_results_folder_write_one_complete_record(tmp_path):
    """Two campaigns on the same folder at once: one computes, the other waits out or reports the lock; never a
    duplicate or a torn record."""
    script = (
        "import sys\n"
        "from mgdlcore.experiments import gd_dynamics\n"
        "from mgdlcore.experiments.runner import run\n"
        "c = gd_dynamics.configs('smoke', ('learning_rate',), settings=[1], images=[], device='cpu')[0]\n"
        "try:\n"
        "    rec = run(c, results_dir=sys.argv[1], profile='smoke', progress=False)\n"
        "    print('ok', rec.provenance['created'])\n"
        "except RuntimeError as exc:\n"
        "    print('locked:', exc)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    made = {o.split(" ", 1)[1] for o in outs if o.startswith("ok ")}
    assert len(made) == 1, f"the record was computed twice: {outs}"     # the other reused it or saw the lock
    assert all(o.startswith(("ok ", "locked: another process is computing")) for o in outs), outs
    files = list(Path(tmp_path).rglob("*.json"))
    assert len(files) == 1 and not list(Path(tmp_path).rglob("*.lock"))
    data = json.loads(files[0].read_text())
    assert set(data) >= {"schema", "key", "config", "metrics", "provenance"}
