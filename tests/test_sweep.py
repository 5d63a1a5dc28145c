"""mgdl-sweep: argument parsing, resumption (points with records and notebook are skipped), output stripping.

papermill is replaced by a stub here; the chapters themselves are executed by the nbval smoke runs.
"""

import subprocess
import sys

import nbformat
import numpy as np
import pytest

from mgdlcore.experiments import sweep
from mgdlcore.experiments.restoration import expected_record_path, methods_for, point_complete
from mgdlcore.experiments.sweep import build_parser, main, notebook_name, strip_outputs


def _fake_records(results_dir, task, image, level, profile="smoke"):
    for m in methods_for(task):
        p = expected_record_path(task, image, m, level, profile, results_dir=results_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}")
        np.savez(p.with_suffix(".npz"), x=np.zeros(1))


@pytest.fixture
def layout(tmp_path):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    for name in sweep.CHAPTERS.values():
        nbformat.write(nbformat.v4.new_notebook(), chapters / name)
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    import papermill

    seen = []

    def fake_execute(inp, out, parameters, cwd, kernel_name, progress_bar):
        seen.append(parameters)
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("plot()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
                        nbformat.v4.new_output("stream", name="stdout", text="PSNR 20.00 dB\n")]
        nb.cells = [cell]
        nb.metadata["papermill"] = {"input_path": inp, "output_path": out}
        nbformat.write(nb, out)
        _fake_records(parameters["results_dir_abs"], "denoising", parameters["image"], parameters["noise_level"])

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    return seen


def test_parser_defaults_and_errors():
    args = build_parser().parse_args(["denoising"])
    assert args.images == ["butterfly", "pirate", "chest"] and args.levels is None and args.profile == "cpu"
    args = build_parser().parse_args(["deblurring", "--images", "chest", "--levels", "3,7", "--profile", "smoke"])
    assert args.levels == [3.0, 7.0] and args.images == ["chest"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inpainting"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["denoising", "--levels", "ten"])
    assert notebook_name("denoising", "butterfly", 30.0, "cpu") == "butterfly-noise30-cpu.ipynb"
    assert notebook_name("deblurring", "pirate", 5, "paper") == "pirate-blur5-paper.ipynb"


def test_sweep_runs_missing_points_then_resumes(layout, calls, monkeypatch, capsys):
    res = layout / "results"
    real_main = sweep.main

    def run(extra):
        argv = ["denoising", "--images", "butterfly", "--levels", "10,20", "--profile", "smoke",
                "--results-dir", str(res), "--notebooks-dir", str(layout / "sweeps"),
                "--chapters-dir", str(layout / "chapters"), *extra]
        return real_main(argv)

    # a point whose records exist already: only its notebook is produced
    _fake_records(res, "denoising", "butterfly", 20.0)
    import papermill

    # papermill receives results_dir relative to the chapters folder; the stub also needs the absolute one
    inner = papermill.execute_notebook

    def with_abs(inp, out, parameters, **kw):
        parameters = dict(parameters, results_dir_abs=str(res))
        return inner(inp, out, parameters, **kw)

    monkeypatch.setattr(papermill, "execute_notebook", with_abs)
    assert run(["--dry-run"]) == 0
    assert calls == []
    assert run([]) == 0
    assert [c["noise_level"] for c in calls] == [10.0, 20.0]
    assert calls[0]["results_dir"] == "../results" and calls[0]["profile"] == "smoke"
    assert point_complete("denoising", "butterfly", 10, "smoke", results_dir=res)
    out = layout / "sweeps" / "denoising" / "butterfly-noise10-smoke.ipynb"
    nb = nbformat.read(out, as_version=4)
    outputs = nb.cells[0].outputs
    assert all("image/png" not in o.get("data", {}) for o in outputs) and len(outputs) == 2
    assert nb.metadata["papermill"]["input_path"] == "chapters/03_denoising.ipynb"
    # resume: everything exists, nothing runs
    calls.clear()
    assert run([]) == 0
    assert calls == []
    assert "2 skipped" in capsys.readouterr().out


def test_sweep_reports_failures_and_missing_chapter(layout, monkeypatch, tmp_path):
    import papermill

    def boom(*a, **k):
        raise RuntimeError("kernel died")

    monkeypatch.setattr(papermill, "execute_notebook", boom)
    argv = ["deblurring", "--images", "butterfly", "--levels", "3", "--profile", "smoke",
            "--results-dir", str(layout / "r"), "--notebooks-dir", str(layout / "s"),
            "--chapters-dir", str(layout / "chapters")]
    assert main(argv) == 1
    assert main([*argv[:-1], str(tmp_path / "nowhere")]) == 2


def test_strip_outputs_keeps_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": "| a |"})]
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    strip_outputs(path)
    assert [list(o["data"]) for o in nbformat.read(path, as_version=4).cells[0].outputs] == [["text/markdown"]]


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "mgdlcore.experiments.sweep", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "resumably" in out.stdout
