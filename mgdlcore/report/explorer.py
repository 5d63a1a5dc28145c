"""Scrub through the grades and epochs of an MGDL image-regression record (Sec. 4, Table 1).

A record keeps the prediction after each grade (``arrays["grade k"]``, the sum of grades ``1..k`` on every pixel),
the target, and per grade the training loss every ``loss_every`` epochs and the test PSNR every ``eval_every``
epochs. :func:`draw` shows one moment: the prediction after grade ``k``, the residual ``target - prediction``,
the training loss and the test PSNR over all epochs with a marker at the chosen epoch. :func:`widget` puts a grade
slider and an epoch slider on it (ipywidgets, in JupyterLab); :func:`small_multiples` is the static figure the
HTML book shows. Predictions exist at the end of each grade only; the epoch slider moves along the curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.records import Record


@dataclass(frozen=True)
class Curves:
    """Loss and test PSNR of all grades on one epoch axis (grade ``k`` starts where grade ``k-1`` ended)."""

    loss_epochs: np.ndarray
    loss: np.ndarray
    eval_epochs: np.ndarray
    psnr_test: np.ndarray
    grade_ends: list[int]          # the global epoch at which each grade ended


def check_record(record: Record) -> None:
    """One-line error unless ``record`` is an MGDL regression record with per-grade predictions."""
    if record.config.get("task") != "regression" or record.config.get("method") != "MGDL":
        raise ValueError(f"the explorer shows MGDL image-regression records; got task "
                         f"{record.config.get('task')!r}, method {record.config.get('method')!r}")
    if "target" not in record.data.get("arrays", []) or "grade 1" not in record.data.get("arrays", []):
        raise ValueError(f"{record.path.name if record.path else 'the record'} keeps no per-grade predictions "
                         "(native-size records do not store images)")


def curves(record: Record) -> Curves:
    """The record's per-grade curves joined on one epoch axis."""
    le, lo, ee, ps, ends, offset = [], [], [], [], [], 0
    for g in record.series["grades"]:
        le += [offset + e for e in g["loss_epochs"]]
        lo += [np.nan if v is None else v for v in g["loss"]]
        ee += [offset + e for e in g["eval_epochs"]]
        ps += [np.nan if v is None else v for v in g["psnr_test"]]
        offset += record.config["epochs"]
        ends.append(offset)
    return Curves(np.asarray(le), np.asarray(lo, float), np.asarray(ee), np.asarray(ps, float), ends)


def frames(record: Record) -> list[dict]:
    """Per grade: the prediction after it, the residual, and its end epoch on the joint axis."""
    check_record(record)
    arrays = {k: np.asarray(v, dtype=float) for k, v in record.arrays().items()}
    target = arrays["target"]
    ends = curves(record).grade_ends
    out = []
    for k, end in enumerate(ends, 1):
        if f"grade {k}" not in arrays:
            break
        pred = arrays[f"grade {k}"]
        out.append({"grade": k, "prediction": pred, "residual": target - pred, "end_epoch": end})
    return out


def draw(record: Record, grade: int, epoch: int | None = None, *, fig=None):
    """One moment of the record: grade ``grade``'s prediction and residual, and the curves with a marker at
    ``epoch`` (default: the end of that grade)."""
    fr = frames(record)
    if not 1 <= grade <= len(fr):
        raise ValueError(f"grade must be in 1..{len(fr)}, got {grade}")
    f, c = fr[grade - 1], curves(record)
    epoch = f["end_epoch"] if epoch is None else int(epoch)
    fig = fig or plt.figure(figsize=(7.5, 4.6))
    fig.clear()
    axes = fig.subplots(2, 2)
    axes[0, 0].imshow(f["prediction"], cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"prediction after grade {grade}", fontsize=8)
    lim = float(np.abs(fr[0]["residual"]).max()) or 1.0
    axes[0, 1].imshow(f["residual"], cmap="RdBu", vmin=-lim, vmax=lim)
    axes[0, 1].set_title(f"residual after grade {grade} (max |r| {np.abs(f['residual']).max():.3f})", fontsize=8)
    for ax in axes[0]:
        ax.set_axis_off()
    axes[1, 0].semilogy(c.loss_epochs, c.loss, lw=0.8)
    axes[1, 0].set_title("training loss (1)", fontsize=8)
    axes[1, 1].plot(c.eval_epochs, c.psnr_test, lw=0.8, color="C1")
    at = int(np.argmin(np.abs(c.eval_epochs - epoch)))
    axes[1, 1].set_title(f"test PSNR: {c.psnr_test[at]:.2f} dB at epoch {c.eval_epochs[at]}", fontsize=8)
    for ax in axes[1]:
        for end in c.grade_ends[:-1]:
            ax.axvline(end, color="0.7", lw=0.6, ls=":")
        ax.axvline(epoch, color="C3", lw=1.0)
        ax.set_xlabel("epoch (grades one after another)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def small_multiples(record: Record):
    """The static view: per grade (columns) the prediction (top) and the residual (bottom), on shared scales."""
    fr = frames(record)
    fig, axes = plt.subplots(2, len(fr), figsize=(1.9 * len(fr), 4.0), squeeze=False)
    lim = float(np.abs(fr[0]["residual"]).max()) or 1.0
    psnr = {p["grade"]: p["psnr_test"] for p in record.series.get("psnr_per_grade", [])}
    for j, f in enumerate(fr):
        axes[0, j].imshow(f["prediction"], cmap="gray", vmin=0, vmax=1)
        title = f"grade {f['grade']}" + (f": {psnr[f['grade']]:.2f} dB" if f["grade"] in psnr else "")
        axes[0, j].set_title(title, fontsize=8)
        axes[1, j].imshow(f["residual"], cmap="RdBu", vmin=-lim, vmax=lim)
        axes[1, j].set_title(f"residual, max {np.abs(f['residual']).max():.3f}", fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def widget(record: Record):
    """Grade and epoch sliders over :func:`draw` (needs ipywidgets and a live kernel to move)."""
    import ipywidgets as w
    from IPython.display import display

    fr, c = frames(record), curves(record)
    grade = w.IntSlider(value=len(fr), min=1, max=len(fr), description="grade")
    epoch = w.IntSlider(value=int(c.eval_epochs[-1]), min=int(c.eval_epochs[0]), max=int(c.eval_epochs[-1]),
                        step=int(np.diff(c.eval_epochs).min()) if len(c.eval_epochs) > 1 else 1,
                        description="epoch")
    out = w.Output()

    def show(*_):
        with out:
            out.clear_output(wait=True)
            fig = draw(record, grade.value, epoch.value)
            display(fig)
            plt.close(fig)

    def snap(change):                 # moving the grade puts the epoch at that grade's end
        epoch.value = fr[change["new"] - 1]["end_epoch"]

    grade.observe(snap, names="value")
    epoch.observe(show, names="value")
    show()
    return w.VBox([w.HBox([grade, epoch]), out])
