"""The scaling study of Table 1: its points are Table-1 configs where they coincide; its table reads the records."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

from mgdlcore.experiments import regression, scaling  # noqa: E402
from mgdlcore.experiments.profiles import all_configs  # noqa: E402
from mgdlcore.report import scaling as report  # noqa: E402


def test_points_share_the_records_of_table_1():
    keys = {c.key for c in scaling.configs("cpu", device="cpu")}
    assert regression.make_config("cameraman", "SGDL", "cpu", device="cpu").key in keys      # 128 px, 3,000 epochs
    assert regression.make_config("cameraman", "bicubic", "cpu").key in keys
    paper = {c.key for c in scaling.configs("paper", device="cpu")}
    assert regression.make_config("cameraman", "MGDL", "paper", device="cpu").key in paper  # native, 10^4
    assert scaling.epochs_grid("paper") == [1000, 3000, 10000]
    listed = [c.key for c in all_configs("cpu", device="cpu")]
    assert len(listed) == len(set(listed))                                                    # each once


def test_gap_table_and_figure_from_records():
    def rec(method, side, epochs, psnr):
        return SimpleNamespace(config={"method": method, "epochs": epochs}, diverged=False,
                               metrics={"height": side, "width": side, "psnr_test": psnr})

    recs = [rec("SGDL", 64, 1000, 20.0), rec("MGDL", 64, 1000, 21.5), rec("bicubic", 64, 0, 22.0),
            rec("SGDL", 128, 1000, 23.0)]
    text = report.gap_markdown(recs)
    assert "| 64 | 1,000 | 20.00 | 21.50 | +1.50 | 22.00 |" in text
    assert "| 128 | 1,000 | 23.00 | – | – | – |" in text
    fig = report.figure(recs)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["SGDL, 1,000 epochs", "MGDL, 1,000 epochs", "bicubic"]


def test_trend_text_reads_the_direction_from_the_records():
    def rec(method, side, epochs, psnr):
        return SimpleNamespace(config={"method": method, "epochs": epochs}, diverged=False,
                               metrics={"height": side, "width": side, "psnr_test": psnr})

    recs = [rec("SGDL", 64, 3000, 20.0), rec("MGDL", 64, 3000, 21.0), rec("SGDL", 128, 3000, 22.0),
            rec("MGDL", 128, 3000, 24.5), rec("SGDL", 128, 1000, 21.0), rec("MGDL", 128, 1000, 21.2)]
    text = report.trend_text(recs)
    assert "grows from +1.00 dB to +2.50 dB as the image side (px) goes from 64 to 128 (at 3,000 epochs)" in text
    assert "grows from +0.20 dB to +2.50 dB as the number of epochs goes from 1,000 to 3,000 (at 128 px)" in text
    assert report.trend_text([]).startswith("No point")
