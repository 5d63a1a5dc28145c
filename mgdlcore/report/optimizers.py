"""Table, figure and findings of the optimiser study (task ``"optimizer"`` of :mod:`mgdlcore.experiments.gd_dynamics`):
the iteration matrix of Adam, ``I - eta P H``, and of mini-batch SGD and GD, ``I - eta H``, for SGDL and MGDL."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..analysis.preconditioned import momentum_stability_bound
from . import dynamics as rd

ADAM_BETA1 = 0.9                                   # torch.optim.Adam's default, used by every run
ADAM_BOUND = momentum_stability_bound(ADAM_BETA1)  # -37: Adam's stability edge for I - eta P H
OPT_ORDER = ("gd", "sgd", "adam")
NAMES = {"gd": "GD", "sgd": "Mini-batch SGD", "adam": "Adam"}


def label(r) -> str:
    """``"GD"``, ``"SGD (batch 64)"`` or ``"Adam"`` with the step size."""
    opt = r.config.get("optimizer", "gd")
    name = {"gd": "GD", "adam": "Adam", "sgd": f"SGD (batch {r.config.get('batch_size')})"}[opt]
    return f"{name}, η = {r.config['learning_rate']:g}"


def matrix(r) -> str:
    return "I − ηPH" if r.config.get("optimizer", "gd") == "adam" else "I − ηH"


def subject(r) -> str:
    return r.config["image"] if r.config.get("image") else f"setting {r.config['setting']}"


def _order(r) -> tuple:
    c = r.config
    return (c.get("image") or "", c.get("setting") or 0, ("SGDL", "MGDL").index(c["method"]),
            OPT_ORDER.index(c.get("optimizer", "gd")), c["learning_rate"])


def bound(r) -> float:
    """The eigenvalue below which the run's iteration is unstable on a quadratic: -1 (GD, SGD), -37 (Adam)."""
    return ADAM_BOUND if r.config.get("optimizer", "gd") == "adam" else -1.0


def _smallest(r) -> list[float]:
    return [row[0] for g in r.series["grades"] for row in g.get("eig_min", []) if row and row[0] is not None]


def below(r, level: float) -> tuple[int, int]:
    """(checks whose smallest eigenvalue is <= level, checks) over all grades."""
    mins = _smallest(r)
    return sum(v <= level for v in mins), len(mins)


def table_markdown(records: Sequence) -> str:
    """Per run: the matrix tracked, the lowest eigenvalue seen, checks at or below -1 and below the run's own
    stability bound, the final training loss (1) on all training points."""
    if not records:
        return "No records."
    rows = ["| data | method | optimiser | matrix | lowest eigenvalue | checks ≤ −1 | checks ≤ own bound | "
            "final training loss |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=_order):
        m = r.metrics
        n1, n = below(r, -1.0)
        nb, _ = below(r, bound(r))
        rows.append(f"| {subject(r)} | {r.config['method']} | {label(r)} | {matrix(r)} | {rd.fmt(m.get('eig_min'), '.3f')} | "
                    f"{n1} of {n} | {nb} of {n} (bound {bound(r):g}) | "
                    f"{'diverged' if m['diverged'] else rd.fmt(m.get('final_train_loss'), '.3e')} |")
    return "\n".join(rows)


def figure(records: Sequence):
    """The smallest eigenvalue of the iteration matrix at each check: one panel per data set and method, one curve per
    run (MGDL grades end to end); dotted lines at -1 and at Adam's bound -37 (symmetric-log axis)."""
    recs = sorted(records, key=_order)
    panels = list(dict.fromkeys((subject(r), r.config["method"]) for r in recs))
    ncols = 2
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.4, 2.6 * nrows), squeeze=False)
    for ax, (subj, method) in zip(axes.flat, panels):
        mine = [r for r in recs if subject(r) == subj and r.config["method"] == method]
        for i, r in enumerate(mine):
            off = 0
            xs, ys = [], []
            for g in r.series["grades"]:
                xs += [e + off for e in g.get("eig_epochs", [])]
                ys += [np.nan if not row or row[0] is None else row[0] for row in g.get("eig_min", [])]
                off += g["epochs_run"]
            ax.plot(xs, ys, "o-", ms=2, lw=0.8, color=f"C{i}", label=label(r))
        for y in (-1.0, ADAM_BOUND):
            ax.axhline(y, color="k", ls=":", lw=0.8)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"{subj}, {method}", fontsize=9)
        ax.set_xlabel("epoch (grades end to end)" if method == "MGDL" else "epoch", fontsize=8)
        ax.set_ylabel("smallest eigenvalue", fontsize=8)
        rd.legend(ax, fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def findings(records: Sequence) -> list[str]:
    """Statements computed from the records: per optimiser and method, in how many runs the smallest eigenvalue stays
    above -1 after the first check, and (Adam) above its momentum bound; whether SGDL and MGDL differ."""
    out = []
    for opt in OPT_ORDER:
        line = []
        for method in ("SGDL", "MGDL"):
            mine = [r for r in records if r.config.get("optimizer", "gd") == opt and r.config["method"] == method
                    and _smallest(r)]
            if not mine:
                continue
            after = [r for r in mine if all(v > -1 for v in _smallest(r)[1:])]
            later = [v for r in mine for v in _smallest(r)[1:]]
            part = (f"{method}: smallest eigenvalue above −1 at every check after the first in {len(after)} of "
                    f"{len(mine)} runs (lowest " + ", ".join(f"{r.metrics['eig_min']:.2f}" for r in mine)
                    + (f"; median over the checks after the first {np.median(later):.2f}" if later else "") + ")")
            if opt == "adam":
                inside = [r for r in mine if all(v > ADAM_BOUND for v in _smallest(r))]
                part += f"; above Adam's bound {ADAM_BOUND:g} at every check in {len(inside)} of {len(mine)}"
            line.append(part)
        if line:
            out.append(f"{NAMES[opt]}: " + "; ".join(line) + ".")
    return out
