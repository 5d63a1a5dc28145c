"""Figures and tables of chapter 06 (Sec. 6: eigenvalues of ``I - eta H`` during GD), drawn from records.

Nothing here trains: every function reads :class:`~mgdlcore.experiments.records.Record` objects (or the reason a
record is pending) and rearranges them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import EngFormatter, MaxNLocator
import numpy as np

from ..experiments.records import Record


def case_label(config) -> str:
    """``case subject method`` plus the stopping rule, e.g. ``image resolution_chart MGDL stop<-0.95``."""
    c = config if isinstance(config, Mapping) else config.to_dict()
    subject = {"synthetic": f"setting{c.get('setting')}",
               "denoising": f"{c.get('image')} noise {c.get('noise_level'):g}" if c.get("noise_level") else "",
               }.get(c["case"], c.get("image"))
    stop = f" stop<{c['stop_below']:g}" if c.get("stop_below") is not None else ""
    return f"{c['case']} {subject} {c['method']}{stop}"


def _grades_end_to_end(rec: Record):
    """Eigenvalue epochs, smallest/largest rows, loss epochs and loss of every grade, laid end to end, with the
    grade boundaries."""
    xs, lo, hi, lx, ly, bounds, off = [], [], [], [], [], [], 0
    for g in rec.series["grades"]:
        xs += [off + e for e in g["epochs"]]
        lo += g["smallest"]
        hi += g["largest"]
        lx += [off + e for e in g["loss_epochs"]]
        ly += g["loss"]
        off += g["epochs_run"]
        bounds.append(off)

    def arr(rows):
        return np.array([[np.nan if v is None else v for v in row] for row in rows], float)

    return (np.array(xs), arr(lo), arr(hi), np.array(lx), np.array([np.nan if v is None else v for v in ly], float),
            bounds[:-1])


def plot_track(rec: Record, ax_eig, ax_loss) -> None:
    """Left: the k smallest (solid) and k largest (dashed) eigenvalues of ``I - eta H``; right: the training loss.
    MGDL grades end to end (dotted boundaries; a grade cut by the stopping rule ends at its stop)."""
    xs, lo, hi, lx, ly, bounds = _grades_end_to_end(rec)
    k = lo.shape[1] if lo.size else 0
    for j in range(k):
        c = plt.cm.viridis(j / max(k - 1, 1))
        ax_eig.plot(xs, lo[:, j], "-", color=c, lw=1, marker="." if len(xs) < 30 else None)
        ax_eig.plot(xs, hi[:, j], "--", color=c, lw=0.8)
    ax_eig.axhline(-1, color="0.4", lw=0.8)
    ax_eig.axhline(1, color="0.7", lw=0.6)
    ax_loss.semilogy(lx, ly, lw=0.8, marker="." if len(lx) < 30 else None)
    for b in bounds:
        for ax in (ax_eig, ax_loss):
            ax.axvline(b, color="k", ls=":", lw=0.6)
    c = rec.config
    ax_eig.set_title(f"{c['method']} ({c['structure']}), eta = {c['learning_rate']:g}", fontsize=8)
    ax_loss.set_title(f"{c['method']} training loss", fontsize=8)
    for ax in (ax_eig, ax_loss):
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))      # 100k, 1M: long runs' ticks do not run together
    ax_eig.set_ylabel("eigenvalues of I - eta H", fontsize=8)
    if rec.diverged:       # a run that blew up keeps a few points: say so where its curves stop
        epoch = rec.diverged_epoch
        for ax in (ax_eig, ax_loss):
            ax.text(0.5, 0.5, rec.divergence, ha="center", va="center", fontsize=8, color="C3", transform=ax.transAxes)
            if epoch is not None:
                ax.set_xlim(-0.05 * max(epoch, 1), 1.05 * max(epoch, 1))


def _pending(ax, text: str) -> None:
    ax.text(0.5, 0.5, "pending:\n" + text, ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
    ax.set_axis_off()


def case_figure(runs: Sequence[Record | str], title: str):
    """One figure per figure of the paper: for each run (a record, or the reason it is pending) its eigenvalue track
    (top row) and its loss (bottom row), in the paper's order (SGDL, then MGDL). Provenance goes in the caption."""
    n = len(runs)
    fig, axes = plt.subplots(2, n, figsize=(min(3.5 * n, 7.0), 4.8), squeeze=False)
    for i, rec in enumerate(runs):
        if isinstance(rec, Record):
            plot_track(rec, axes[0, i], axes[1, i])
        else:
            _pending(axes[0, i], str(rec))
            _pending(axes[1, i], str(rec))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _f(x, nd=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _g(x) -> str:
    return "–" if x is None else f"{x:.3g}"


def _provenance_line(records: Mapping[str, Record | str]) -> str:
    return f"*Runs: {figure_provenance(list(records.values()))}.*"


def _loss_up(rec: Record) -> str:
    """The share of loss rises, and where the run diverged (a run that blew up early keeps no share)."""
    share = rec.metrics.get("frac_increases")
    if not rec.diverged:
        return _f(share, 2)
    return rec.divergence if share is None else f"{_f(share, 2)} ({rec.divergence})"


def curvature_at_init_markdown(records: Mapping[str, Record | str]) -> str:
    """Markdown: per run with a record, eta * lambda_max(H) at initialisation, i.e. 1 - the smallest eigenvalue of
    ``I - eta H`` there (the "min at init" of :func:`summary_table`), beside the 2 beyond which GD diverges on a
    quadratic (Theorem 1), and how the run ended. A network is no quadratic: a run can pass 2 and recover (the
    loss spikes, the curvature falls), but far beyond it the first steps blow up."""
    rows = ["| run | eta | eta x lambda_max(H) at initialisation | beyond 2? | how the run ended |",
            "|---|---|---|---|---|"]
    for label, rec in records.items():
        if not isinstance(rec, Record):
            continue
        c = rec.config
        sharp = 1.0 - rec.metrics["min_eig_at_init"]
        unit = "grade" if c["method"] == "MGDL" else "model"
        end = rec.divergence or f"trained every epoch ({c['epochs']:,} per {unit})"
        rows.append(f"| {label} | {c['learning_rate']:g} | {sharp:.2f} | {'yes' if sharp > 2 else 'no'} | {end} |")
    missing = [label for label, rec in records.items() if not isinstance(rec, Record)]
    tail = f"\n\nWithout a record yet: {', '.join(missing)}." if missing else ""
    if len(rows) == 2:
        return "No record yet." + tail
    return _provenance_line(records) + "\n\n" + "\n".join(rows) + tail


def summary_table(records: Mapping[str, Record | str]) -> str:
    """Markdown: the runs' settings, then their eigenvalue results (two tables that fit the column; pending runs
    with the reason), provenance in one line above."""
    setup = ["| run | net | eta | epochs / grade | data | eigenvalues by |", "|---|---|---|---|---|---|"]
    found = ["| run | min at init | min (all epochs) | max # <= -1 | checks with <= -1 | loss up (fraction) | "
             "largest loss jump | grades stopped |", "|---|---|---|---|---|---|---|---|"]
    for label, rec in records.items():
        if not isinstance(rec, Record):
            setup.append(f"| {label} | pending: {rec} | | | | |")
            continue
        c, m = rec.config, rec.metrics
        data = (f"{m['n_train']} points" if c["case"] == "synthetic" else
                f"{m['height']}x{m['width']} px, {m['n_train']} train")
        setup.append(f"| {label} | ({c['structure']}) | {c['learning_rate']:g} | {c['epochs']:,} | {data} | "
                     f"{c['eig_method']} |")
        found.append(f"| {label} | {_f(m['min_eig_at_init'])} | {_f(m['min_eig'])} | {_f(m['max_n_le_minus1'])} | "
                     f"{m['evals_with_le_minus1']}/{m['n_evals']} | {_loss_up(rec)} | "
                     f"{_g(m['max_jump'])} | {m['n_stopped']} |")
    tables = [setup] + ([found] if len(found) > 2 else [])   # no results table when every run is pending
    return "\n\n".join([_provenance_line(records), *("\n".join(t) for t in tables)])


def denoising_table(records: Mapping[str, Record | str]) -> str:
    """Markdown: PSNR (34) of the noisy input and of each model / grade of the denoising runs; provenance above."""
    head = "| run | image | noise | PSNR noisy (dB) | PSNR after each model / grade (dB) |"
    rows = [head, "|---|---|---|---|---|"]
    shown = {}
    for label, rec in records.items():
        if not isinstance(rec, Record):
            if label.startswith("denoising"):
                rows.append(f"| {label} | pending: {rec} | | | |")
            continue
        if rec.config["case"] != "denoising":
            continue
        shown[label] = rec
        per = ", ".join(f"{p['name']}: {p['psnr']:.2f}" for p in rec.series["psnr_per_model"])
        rows.append(f"| {label} | {rec.metrics['height']}x{rec.metrics['width']} | {rec.config['noise_level']:g} | "
                    f"{rec.metrics['psnr_observed']:.2f} | {per} |")
    return _provenance_line(shown) + "\n\n" + "\n".join(rows)


def first_check_markdown(rows_by_profile: Mapping[str, list[dict]]) -> str:
    """Markdown: per profile and claim on one method's smallest eigenvalue (``paper.claims.eigen.first_check_readings``),
    the outcome, the smallest eigenvalue over every check and without each model's / grade's first check, and
    whether the claim's test agrees on both; then how many outcomes turn."""
    rows = ["| profile | claim | outcome | smallest, every check | without the first checks | same outcome |",
            "|---|---|---|---|---|---|"]
    turned = total = 0
    for profile, found in rows_by_profile.items():
        for r in found:
            same = {True: "yes", False: "**no**", None: "–"}[r["same"]]
            rows.append(f"| {profile} | `{r['claim']}` | {r['status']} | {_f(r['every'])} | {_f(r['later'])} | {same} |")
            total += r["same"] is not None
            turned += r["same"] is False
    if total == 0:
        return "No decided claim on the smallest eigenvalue yet."
    return "\n".join(rows) + f"\n\nWithout the first checks, {turned} of these {total} outcomes would turn."


# ------------------------------------------------------------------------------------------------ smoke checks
def check_values(records: Mapping[str, Record | str]) -> dict[str, dict[str, float]]:
    """What the smoke check compares, by ``run label/metric``: ``eigenvalues`` (the smallest eigenvalue of
    ``I - eta H`` at initialisation and over all recorded epochs) and ``log10_loss`` (log10 of the final training
    loss: losses differ by orders of magnitude between cases, so their check is relative)."""
    eig, loss = {}, {}
    for label, rec in records.items():
        if not isinstance(rec, Record):
            continue
        for k in ("min_eig_at_init", "min_eig"):
            if rec.metrics.get(k) is not None:
                eig[f"{label}/{k}"] = float(rec.metrics[k])
        if rec.metrics.get("final_loss"):
            loss[f"{label}/final_loss"] = math.log10(rec.metrics["final_loss"])
    return {"eigenvalues": eig, "log10_loss": loss}


def paper_runs(configs, results_dir, *, profile: str = "paper", by_seed: bool = False) -> dict[str, Record | str]:
    """``{label: Record}`` of ``profile``'s ``configs`` whose record exists, made on any device (a run is shown
    whatever the chapter's profile and machine), or ``{label: reason}``; nothing is trained. ``by_seed``: labels
    end in ``seed N`` (configs of several seeds)."""
    from ..experiments.runner import find_on_any_device

    out: dict[str, Record | str] = {}
    for config in configs:
        found = find_on_any_device([config], results_dir, stale_elsewhere=True)
        label = case_label(config) + (f" seed {config.seed}" if by_seed else "")
        out[label] = found[0] if found else \
            f"no {profile}-profile record yet (mgdl-campaign {profile} --only '{config.label()}*')"
    return out


def pick(runs: Mapping[str, Record | str], *labels: str) -> list[Record | str]:
    """The runs of ``labels`` in that order (``"not in this profile"`` for a label without a run)."""
    return [runs.get(label, "not in this profile") for label in labels]


def figure_provenance(runs: Sequence[Record | str]) -> str:
    """The provenance of the runs a figure shows, for its caption (``records pending`` when none has a record)."""
    from .provenance import provenance_caption

    done = [r for r in runs if isinstance(r, Record)]
    return provenance_caption(done) if done else "records pending"
