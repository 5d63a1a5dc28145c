"""Tables, figure and findings of the smooth-activation study (task ``"activation"`` of
:mod:`mgdlcore.experiments.gd_dynamics`): ReLU against GELU, softplus and tanh in SGDL (26) and MGDL (30)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from ..models import ACTIVATIONS
from . import dynamics as rd


def _act(r) -> str:
    return r.config.get("activation", "relu")


def sweep_markdown(records: Sequence) -> str:
    """Final training loss (``diverged`` where the loss became non-finite) per method, activation and step size."""
    sweeps = [r for r in records if not r.config.get("track_every")]
    lrs = sorted({r.config["learning_rate"] for r in sweeps})
    if not sweeps:
        return "No sweep records."
    head = ("| setting | method | activation | " + " | ".join(f"η = {lr:g}" for lr in lrs) + " |\n|"
            + "---|" * (3 + len(lrs)) + "\n")
    rows = []
    groups: dict[tuple, list] = {}
    for r in sweeps:
        groups.setdefault((r.config["setting"], r.config["method"], _act(r)), []).append(r)
    for (setting, method, act), recs in sorted(groups.items(),
                                               key=lambda kv: (kv[0][0], kv[0][1], ACTIVATIONS.index(kv[0][2]))):
        by_lr = {r.config["learning_rate"]: r for r in recs}
        cells = ["–" if lr not in by_lr else "diverged" if by_lr[lr].metrics["diverged"]
                 else f"{by_lr[lr].metrics['final_train_loss']:.3e}" for lr in lrs]
        rows.append(f"| {setting} | {method} | {act} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows)


def spectra_markdown(records: Sequence) -> str:
    """Per tracked run: the lowest eigenvalue of ``I - eta H``, how often the smallest was <= -1, the final loss."""
    tracked = sorted([r for r in records if r.config.get("track_every")],
                     key=lambda r: (r.config["setting"], r.config["method"], ACTIVATIONS.index(_act(r))))
    if not tracked:
        return "No tracked records."
    rows = ["| setting | method | activation | η | lowest eigenvalue of I − ηH | checks with smallest ≤ −1 | "
            "final training loss |", "|---|---|---|---|---|---|---|"]
    for r in tracked:
        m = r.metrics
        rows.append(f"| {r.config['setting']} | {r.config['method']} | {_act(r)} | {r.config['learning_rate']:g} | "
                    f"{rd.fmt(m.get('eig_min'), '.3f')} | {rd.count_below(m)} of "
                    f"{m.get('n_checks', 0)} | {rd.fmt(m.get('final_train_loss'), '.3e')} |")
    return "\n".join(rows)


def figure(records: Sequence):
    """Training loss of the tracked runs: one panel per method, one curve per activation."""
    tracked = [r for r in records if r.config.get("track_every")]
    methods = [m for m in ("SGDL", "MGDL") if any(r.config["method"] == m for r in tracked)]
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(3.7 * max(1, len(methods)), 3.0), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for i, act in enumerate(ACTIVATIONS):
            recs = [r for r in tracked if r.config["method"] == method and _act(r) == act]
            if recs:
                rd.plot_losses(ax, recs[0], color=f"C{i}", label=act)
        ax.set_title(f"{method}: training loss at η = {tracked[0].config['learning_rate']:g}", fontsize=9)
        rd.legend(ax, fontsize=7)
    fig.tight_layout()
    return fig


def findings(records: Sequence) -> list[str]:
    """Statements computed from the records: spectra inside (-1, 1], divergence counts and best final loss."""
    out = []
    tracked = [r for r in records if r.config.get("track_every") and r.metrics.get("eig_min") is not None]
    for method in ("SGDL", "MGDL"):
        mine = [r for r in tracked if r.config["method"] == method]
        if mine:
            inside = [r for r in mine if r.metrics["eig_min"] > -1]
            out.append(f"{method}: the eigenvalues of I − ηH stay above −1 at every check for "
                       f"{len(inside)} of {len(mine)} activations ("
                       + ", ".join(f"{_act(r)} {r.metrics['eig_min']:.3f}" for r in mine) + " lowest).")
    sweeps = [r for r in records if not r.config.get("track_every")]
    for method in ("SGDL", "MGDL"):
        mine = [r for r in sweeps if r.config["method"] == method]
        if not mine:
            continue
        div = {act: sum(r.metrics["diverged"] for r in mine if _act(r) == act) for act in ACTIVATIONS
               if any(_act(r) == act for r in mine)}
        ok = [r for r in mine if not r.metrics["diverged"]]
        best = min(ok, key=lambda r: r.metrics["final_train_loss"]) if ok else None
        out.append(f"{method}: diverged runs per activation: " + ", ".join(f"{a} {n}" for a, n in div.items())
                   + (f"; lowest final training loss {best.metrics['final_train_loss']:.3e} with {_act(best)} at "
                      f"η = {best.config['learning_rate']:g}" if best else "") + ".")
    return out
