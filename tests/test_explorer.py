"""The record explorer: frames and curves read back what the record holds; the sliders move together."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mgdlcore.experiments import regression
from mgdlcore.experiments.runner import run
from mgdlcore.report import explorer


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    config = regression.make_config("cameraman", "MGDL", "smoke", device="cpu", epochs=40, eval_every=10)
    return run(config, results_dir=tmp_path_factory.mktemp("r"), profile="smoke", progress=False)


def test_frames_are_the_stored_predictions_and_their_residuals(record):
    frames = explorer.frames(record)
    arrays = record.arrays()
    assert [f["grade"] for f in frames] == [1, 2, 3, 4]
    assert [f["end_epoch"] for f in frames] == [40, 80, 120, 160]
    for f in frames:
        np.testing.assert_array_equal(f["prediction"], arrays[f"grade {f['grade']}"])
        np.testing.assert_array_equal(f["residual"], arrays["target"] - arrays[f"grade {f['grade']}"])


def test_curves_put_the_grades_one_after_another(record):
    c = explorer.curves(record)
    g2 = record.series["grades"][1]
    i = len(record.series["grades"][0]["loss_epochs"])
    assert c.loss_epochs[i] == 40 + g2["loss_epochs"][0] and c.loss[i] == g2["loss"][0]
    assert np.all(np.diff(c.loss_epochs) > 0) and np.all(np.diff(c.eval_epochs) >= 0)
    assert c.psnr_test[-1] == pytest.approx(record.series["grades"][-1]["psnr_test"][-1])


def test_draw_static_view_and_widget(record):
    fig = explorer.draw(record, 2, 55)
    assert "epoch" in fig.axes[3].get_title()
    with pytest.raises(ValueError, match="grade must be in 1..4, got 5"):
        explorer.draw(record, 5)
    assert len(explorer.small_multiples(record).axes) == 8
    box = explorer.widget(record)
    grade, epoch = box.children[0].children
    grade.value = 2
    assert epoch.value == 80                     # the epoch slider jumps to the end of grade 2


def test_other_records_get_a_one_line_error(tmp_path):
    config = regression.make_config("cameraman", "SGDL", "smoke", device="cpu", epochs=5)
    rec = run(config, results_dir=tmp_path, profile="smoke", progress=False)
    with pytest.raises(ValueError, match="the explorer shows MGDL image-regression records; got task 'regression', "
                                         "method 'SGDL'"):
        explorer.frames(rec)
