"""Tables, figures and findings of the multigrade-approximation chapter (the 2026 abstract), from records only.

The abstract's theorem: for any continuous target there *exists* a fixed-width multigrade ReLU scheme whose
residuals decrease strictly across grades and converge uniformly to zero. Here we read what *trained* grades did
(``experiments.approximation`` records): the sup and L2 residual on the dense grid per grade, MGDL against the
unrolled SGDL at matched epochs, the strict decreases, the stalls and increases, and the failure study. Every
statement of a finding is composed here from the records' numbers; none is typed in a chapter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..experiments import approximation as ap
from ..experiments.records import Record
from ..experiments.runner import run_many
from .paths import resolve_results_dir
from .provenance import provenance_caption

STALL = 0.01        # a grade "stalls" when it lowers the sup residual by less than this fraction (ours)
COLORS = {"MGDL": "C0", "SGDL": "C3"}
TARGET_NAMES = {"sine": "sin(2πx)", "kink": "|x − 0.4|", "setting2": "eq. (5), setting 2",
                "surface": "sin(2πx₁) cos(2πx₂)", "image": "image"}


# ------------------------------------------------------------------------------------------------ collecting
def collect(profile: str, targets: Sequence[str] = ap.MAIN_TARGETS, *, seed: int = 0, train: str = "missing",
            device: str = "auto", results_dir=None, progress: bool = False):
    """``(main records, [(variant, record)] of the failure study, {label: reason} pending)`` under ``profile``;
    the study runs on the profile's study targets that are among ``targets``."""
    results = resolve_results_dir(results_dir, profile)
    main = ap.main_configs(profile, targets, seeds=[seed], device=device)
    study_targets = [t for t in ap.PROFILE_SETTINGS[profile]["study_targets"] if t in targets]
    study = ap.study_configs(profile, study_targets, seed=seed, device=device)
    recs, pending = run_many(main, results_dir=results, profile=profile, train=train, progress=progress)
    s_recs, s_pending = run_many([c for _, c in study], results_dir=results, profile=profile, train=train,
                                 progress=progress)
    by_key = {r.key: r for r in s_recs}
    return recs, [(name, by_key[c.key]) for name, c in study if c.key in by_key], {**pending, **s_pending}


def collect_seeds(profile: str, targets: Sequence[str] = ap.MAIN_TARGETS, *, seeds: Sequence[int] | None = None,
                  train: str = "never", device: str = "auto", results_dir=None, progress: bool = False):
    """``(records, {label: reason} pending)`` of the main comparison under ``profile`` over ``seeds`` (default: the
    profile's seeds); without the failure study, which a profile runs for one seed only."""
    configs = ap.main_configs(profile, targets, seeds=seeds, device=device)
    return run_many(configs, results_dir=resolve_results_dir(results_dir, profile), profile=profile, train=train,
                    progress=progress)


def pending_markdown(pending: dict[str, str]) -> str:
    if not pending:
        return "All runs of this profile have a current record."
    return (f"**Pending: {len(pending)} run(s) without a current record** (missing from the figures):\n\n"
            + "\n".join(f"- {k}: {v}" for k, v in pending.items()))


def name(record: Record, *, table: bool = False) -> str:
    """The target's name: its formula, or the image's name (``table``: with ``|`` escaped for a Markdown table)."""
    c = record.config
    text = f"image ({c['image']}, {c['size']} px)" if c["target"] == "image" else TARGET_NAMES[c["target"]]
    return text.replace("|", "\\|") if table else text


def by_target(records: Iterable[Record]) -> dict[str, dict[str, Record]]:
    """``{target: {method: record}}`` in first-seen order."""
    out: dict[str, dict[str, Record]] = {}
    for r in records:
        out.setdefault(r.config["target"], {})[r.config["method"]] = r
    return out


def norms(record: Record, which: str = "sup") -> np.ndarray:
    """The residual norm ``which`` ("sup" or "l2") at steps 0..K, NaN where missing (a diverged step)."""
    return np.array([np.nan if s[which] is None else s[which] for s in record.series["steps"]], float)


def fmt(v, spec: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


# ------------------------------------------------------------------------------------------------ per-run facts
def grade_outcomes(record: Record, stall: float = STALL) -> list[str]:
    """Per step 1..K of the sup residual: ``"decrease"`` (by at least ``stall`` of the previous value),
    ``"stall"`` (lower, by less), ``"flat"`` (unchanged), ``"increase"``, or ``"diverged"``."""
    out = []
    for s in record.series["steps"][1:]:
        change = s["sup_change"]
        if change is None:
            out.append("diverged")
        elif change <= -stall:
            out.append("decrease")
        elif change < 0:
            out.append("stall")
        elif change == 0:
            out.append("flat")
        else:
            out.append("increase")
    return out


def facts(record: Record, stall: float = STALL) -> dict:
    """The numbers a finding about one run is made of (counts over steps 1..K, from the record)."""
    m = record.metrics
    outcomes = grade_outcomes(record, stall)
    k = m["n_steps"]
    return {"K": k, "sup_dec": m["n_sup_decreases"], "l2_dec": m["n_l2_decreases"],
            "sup_inc": m["n_sup_increases"], "l2_inc": m["n_l2_increases"], "stalls": outcomes.count("stall"),
            "first_fail": m["first_sup_nondecrease"], "sup0": m["sup_initial"], "sup": m["sup_final"],
            "best": m["sup_best"], "l2": m["l2_final"], "rel": m["sup_final_relative"], "diverged": m["diverged"],
            "target_sup": m["target_sup"]}


# ------------------------------------------------------------------------------------------------ tables
def decrease_markdown(records: Sequence[Record], stall: float = STALL) -> str:
    """Per target and method: residuals at the start and the end, at how many of the K steps the sup and the L2
    residual decreased strictly, the stalls (a decrease of less than ``stall``) and increases of the sup residual,
    and the first step that did not decrease it."""
    lines = [f"| target | method | K | sup, step 0 → K | L2, step K | sup ↓ strictly | L2 ↓ strictly | sup stalls "
             f"(< {stall:.0%}) | sup ↑ | first step without sup ↓ |", "|---|---|---|---|---|---|---|---|---|---|"]
    for methods in by_target(records).values():
        for method in ap.METHODS:
            r = methods.get(method)
            if r is None:
                continue
            f = facts(r, stall)
            div = " (diverged)" if f["diverged"] else ""
            lines.append(f"| {name(r, table=True)} | {method}{div} | {f['K']} | {fmt(f['sup0'])} → {fmt(f['sup'])} | "
                         f"{fmt(f['l2'])} | {f['sup_dec']} of {f['K']} | {f['l2_dec']} of {f['K']} | {f['stalls']} | "
                         f"{f['sup_inc']} | {fmt(f['first_fail'], 'd')} |")
    return "\n".join(lines)


def _mean_sd(values, spec: str) -> str:
    """``mean ± sd`` (sample sd) of the finite ``values``, the mean alone for one value, "–" for none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "–"
    sd = f" ± {format(float(np.std(vals, ddof=1)), spec)}" if len(vals) > 1 else ""
    return format(float(np.mean(vals)), spec) + sd


def seeds_markdown(records: Sequence[Record], stall: float = STALL) -> str:
    """Per target and method over the seeds of ``records``: in how many runs the sup and the L2 residual decreased
    strictly at every one of the K steps (the theorem's sequence), the strict decreases and the increases of the
    sup residual per run (mean ± sd over seeds), and the final sup residual, absolute and relative to the target's
    sup norm (mean ± sd)."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        groups.setdefault((r.config["target"], r.config["method"]), []).append(r)
    lines = ["| target | method | seeds | K | sup ↓ at every step | L2 ↓ at every step | sup ↓ strictly (per run) | "
             "L2 ↓ strictly (per run) | sup ↑ (per run) | sup, step K | sup, step K / target's sup |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target in dict.fromkeys(t for t, _ in groups):
        for method in (m for m in ap.METHODS if (target, m) in groups):
            lines.append(_seeds_row(sorted(groups[target, method], key=lambda r: r.config["seed"]), stall))
    return "\n".join(lines)


def seeds_summary(records: Sequence[Record]) -> str:
    """Sentences over the MGDL runs of ``records``: in how many the sup and the L2 residual decreased strictly at
    every grade, and at how many of all their grades each decreased strictly; then each method's training time per
    run (the records' seconds)."""
    mgdl = [r for r in records if r.config["method"] == "MGDL"]
    if not mgdl:
        return "No MGDL record yet."
    times = []
    for method in ap.METHODS:
        secs = [r.data["provenance"]["seconds"] for r in records if r.config["method"] == method]
        if secs:
            times.append(f"{method} {min(secs):,.0f}-{max(secs):,.0f} s ({len(secs)} run{'s' if len(secs) > 1 else ''})")
    n = sum(r.metrics["n_steps"] for r in mgdl)
    sup_all = sum(bool(r.metrics["sup_strictly_decreasing"]) for r in mgdl)
    l2_all = sum(r.metrics["n_l2_decreases"] == r.metrics["n_steps"] for r in mgdl)
    seeds = sorted({r.config["seed"] for r in mgdl})
    return (f"Over {len(mgdl)} MGDL runs (seeds {', '.join(map(str, seeds))}), the sup residual decreased strictly at "
            f"every grade in {sup_all} and the L2 residual in {l2_all}; over all {n} of their grades the sup residual "
            f"decreased strictly at {sum(r.metrics['n_sup_decreases'] for r in mgdl)} and the L2 residual at "
            f"{sum(r.metrics['n_l2_decreases'] for r in mgdl)}. Training time per run: {'; '.join(times)}.")


def _seeds_row(runs: list[Record], stall: float) -> str:
    """One row of :func:`seeds_markdown`: the runs of one target and method, by seed."""
    f = [facts(r, stall) for r in runs]
    n, div = len(runs), sum(bool(x["diverged"]) for x in f)
    method = runs[0].config["method"] + (f" ({div} diverged)" if div else "")
    return (f"| {name(runs[0], table=True)} | {method} | {', '.join(str(r.config['seed']) for r in runs)} | "
            f"{'/'.join(map(str, sorted({x['K'] for x in f})))} | "
            f"{sum(bool(r.metrics['sup_strictly_decreasing']) for r in runs)} of {n} | "
            f"{sum(x['l2_dec'] == x['K'] for x in f)} of {n} | {_mean_sd([x['sup_dec'] for x in f], '.1f')} | "
            f"{_mean_sd([x['l2_dec'] for x in f], '.1f')} | {_mean_sd([x['sup_inc'] for x in f], '.1f')} | "
            f"{_mean_sd([x['sup'] for x in f], '.3g')} | {_mean_sd([x['rel'] for x in f], '.2%')} |")


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def study_markdown(study: Sequence[tuple[str, Record]], stall: float = STALL) -> str:
    """The failure study: per target and variant (one grade setting changed from the base), the final and best sup
    residual, the strict decreases of sup and L2, the increases, the first failing grade, and the grades' mean
    dead units and lowest feature rank."""
    lines = ["| target | variant | sup, grade K | best sup | sup ↓ strictly | L2 ↓ strictly | sup ↑ | "
             "first grade without sup ↓ | dead units (mean) | lowest feature rank |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for variant, r in study:
        f = facts(r, stall)
        g = r.series["grades"]
        ranks = [x["feature_rank"] for x in g if x.get("feature_rank") is not None]
        lines.append(f"| {name(r, table=True)} | {variant}{' (diverged)' if f['diverged'] else ''} | {fmt(f['sup'])} | "
                     f"{fmt(f['best'])} | {f['sup_dec']} of {f['K']} | {f['l2_dec']} of {f['K']} | {f['sup_inc']} | "
                     f"{fmt(f['first_fail'], 'd')} | {fmt(_mean(x.get('dead_units') for x in g), '.1f')} of "
                     f"{r.config['width']} | {fmt(min(ranks) if ranks else None, 'd')} |")
    return "\n".join(lines)


def caption(records: Sequence[Record]) -> str:
    return provenance_caption(records)


# ------------------------------------------------------------------------------------------------ figures
def residual_figure(records: Sequence[Record]):
    """One panel per target: sup (solid) and L2 (dashed) residual on the dense grid, log scale, against the grade
    for MGDL and against epochs / epochs-per-grade for SGDL (the same total epochs); a cross marks each grade that
    did not lower the sup residual strictly."""
    groups = by_target(records)
    n = max(1, len(groups))
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(2.6 * ncols, 7.5), 2.5 * nrows), squeeze=False)
    for ax, methods in zip(axes.flat, groups.values()):
        for method in ap.METHODS:
            r = methods.get(method)
            if r is None:
                continue
            k = np.arange(len(r.series["steps"]))
            sup, l2 = norms(r, "sup"), norms(r, "l2")
            ax.semilogy(k, sup, color=COLORS[method], lw=1.2, marker="o", ms=2, label=f"{method} sup")
            ax.semilogy(k, l2, color=COLORS[method], lw=1.0, ls="--", label=f"{method} L2")
            if method == "MGDL":
                bad = [i for i, s in enumerate(r.series["steps"]) if s["sup_decreased"] is False]
                ax.semilogy(bad, sup[bad], ls="none", marker="x", ms=6, color="k",
                            label="no strict sup decrease" if bad else None)
        some = next(iter(methods.values()))
        ax.set_title(name(some), fontsize=8)
        ax.set_xlabel(f"grade (SGDL: epochs / {some.config['epochs']:,})", fontsize=7)
        ax.tick_params(which="both", labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in list(axes.flat)[1:n]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return fig


def residual_curves_figure(records: Sequence[Record], grades: Sequence[int] = (1, 2, 4, 8, 16)):
    """1D targets: the size of the MGDL residual ``|f - sum_{j<=k} g_j|`` on [0, 1] after some grades (thinned dense
    grid, log scale), and SGDL's after all epochs; where the sup norm sits shows what a grade left behind."""
    rows = [(t, m) for t, m in by_target(records).items() if ap.dimension(t) == 1 and "MGDL" in m]
    fig, axes = plt.subplots(len(rows) or 1, 1, figsize=(7.0, 1.9 * max(1, len(rows))), squeeze=False)
    for ax, (_, methods) in zip(axes[:, 0], rows):
        r = methods["MGDL"]
        res = r.arrays().get("grade_residuals")
        if res is None:
            ax.text(0.5, 0.5, "no residual arrays in the record", ha="center", transform=ax.transAxes)
            continue
        x = np.linspace(0.0, 1.0, res.shape[1])
        shown = [k for k in grades if k <= res.shape[0]] or [res.shape[0]]
        for i, k in enumerate(shown):
            ax.semilogy(x, np.abs(res[k - 1]), lw=0.7, color=plt.cm.viridis(i / max(1, len(shown) - 1)),
                        label=f"MGDL, grade {k}")
        s = methods.get("SGDL")
        if s is not None and s.arrays().get("residual") is not None:
            ax.semilogy(x, np.abs(s.arrays()["residual"]), lw=0.7, color=COLORS["SGDL"], ls="--",
                        label="SGDL, all epochs")
        top = float(np.nanmax(np.abs(res)))
        ax.set_ylim(max(top * 1e-5, 1e-8), top * 2)
        ax.set_title(name(r), fontsize=8)
        ax.set_ylabel("|f − prediction|", fontsize=7)
        ax.tick_params(which="both", labelsize=7)
        ax.legend(fontsize=6, ncol=3, loc="upper right")
    axes[-1, 0].set_xlabel("x")
    fig.tight_layout()
    return fig


def surfaces_figure(records: Sequence[Record]):
    """2D targets: the target and the final residual of MGDL and SGDL on the (thinned) dense grid."""
    rows = [(t, m) for t, m in by_target(records).items() if ap.dimension(t) == 2]
    fig, axes = plt.subplots(len(rows) or 1, 3, figsize=(7.0, 2.3 * max(1, len(rows))), squeeze=False)
    for row, (target, methods) in zip(axes, rows):
        some = next(iter(methods.values()))
        row[0].imshow(some.arrays()["target"], cmap="gray" if target == "image" else "viridis", origin="upper",
                      extent=(0, 1, 1, 0))
        row[0].set_title(f"target: {name(some)}", fontsize=7)
        for ax, method in zip(row[1:], ap.METHODS):
            r = methods.get(method)
            res = None if r is None else r.arrays().get("residual")
            if res is None:
                ax.text(0.5, 0.5, "pending or diverged", ha="center", transform=ax.transAxes, fontsize=7)
                continue
            lim = float(np.max(np.abs(res))) or 1.0
            im = ax.imshow(res, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="upper", extent=(0, 1, 1, 0))
            ax.set_title(f"{method} residual, sup {fmt(r.metrics['sup_final'])}", fontsize=7)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    for ax in axes.flat:
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def study_figure(study: Sequence[tuple[str, Record]]):
    """The failure study: the sup residual per grade of each variant, one panel per target."""
    targets: dict[str, list[tuple[str, Record]]] = {}
    for variant, r in study:
        targets.setdefault(r.config["target"], []).append((variant, r))
    n = max(1, len(targets))
    fig, axes = plt.subplots(1, n, figsize=(min(2.6 * n, 7.5), 2.9), squeeze=False)
    for ax, runs in zip(axes[0], targets.values()):
        for i, (variant, r) in enumerate(runs):
            ax.semilogy(np.arange(len(r.series["steps"])), norms(r, "sup"), lw=1.0, marker="o", ms=1.5,
                        color=f"C{i}", label=variant)
        ax.set_title(name(runs[0][1]), fontsize=8)
        ax.set_xlabel("grade", fontsize=7)
        ax.tick_params(which="both", labelsize=7)
    axes[0, 0].set_ylabel("sup residual (dense grid)", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.16 if handles else 0, 1, 1))
    return fig


# ------------------------------------------------------------------------------------------------ findings
def findings(records: Sequence[Record], study: Sequence[tuple[str, Record]] = (), stall: float = STALL) -> list[str]:
    """Short statements, each composed from the records' numbers: per target, how often MGDL's sup residual fell
    strictly and where it first did not, its final sup against SGDL's at the same epochs; how many runs realised
    the theorem's strictly decreasing sequence; and, in the failure study, which setting did best and worst and
    how dead units differ between grades that lowered the residual and grades that did not."""
    out = []
    mgdl = [r for r in records if r.config["method"] == "MGDL"]
    for methods in by_target(records).values():
        m, s = methods.get("MGDL"), methods.get("SGDL")
        if m is None:
            continue
        f = facts(m, stall)
        text = (f"{name(m)}: MGDL's sup residual decreased strictly at {f['sup_dec']} of {f['K']} grades "
                f"(L2 at {f['l2_dec']}), stalled (< {stall:.0%}) at {f['stalls']} and increased at {f['sup_inc']}")
        text += (f"; the first grade that did not lower it is grade {f['first_fail']}" if f["first_fail"]
                 else "; every grade lowered it")
        text += f"; after {f['K']} grades sup = {fmt(f['sup'])} ({fmt(f['rel'], '.2%')} of the target's sup norm)"
        if s is not None:
            g = facts(s, stall)
            if g["sup"] is None:
                text += "; SGDL diverged"
            elif f["sup"] is not None:
                word = "lower" if f["sup"] < g["sup"] else "higher" if f["sup"] > g["sup"] else "equal"
                text += (f", {word} than SGDL's {fmt(g['sup'])} after the same {f['K']} × "
                         f"{m.config['epochs']:,} epochs")
        out.append(text + ".")
    if mgdl:
        n_strict = sum(bool(r.metrics["sup_strictly_decreasing"]) for r in mgdl)
        out.append(f"The theorem's picture (a strict sup decrease at every grade) held in {n_strict} of {len(mgdl)} "
                   f"trained MGDL runs of the main comparison.")
        n = sum(r.metrics["n_steps"] for r in mgdl)
        out.append(f"Over all {n} MGDL grades of the main comparison the L2 residual fell strictly at "
                   f"{sum(r.metrics['n_l2_decreases'] for r in mgdl)} and the sup residual at "
                   f"{sum(r.metrics['n_sup_decreases'] for r in mgdl)}: training lowers a mean square over the "
                   f"training points, which bounds neither the sup norm nor its decrease.")
    if study:
        by_t: dict[str, list[tuple[str, Record]]] = {}
        for variant, r in study:
            by_t.setdefault(r.config["target"], []).append((variant, r))
        for runs in by_t.values():
            counts = {v: r.metrics["n_sup_decreases"] for v, r in runs}
            k = runs[0][1].metrics["n_steps"]
            most, fewest = max(counts.values()), min(counts.values())
            low = min(runs, key=lambda vr: vr[1].metrics["sup_best"] if vr[1].metrics["sup_best"] is not None
                      else math.inf)
            text = f"Failure study, {name(runs[0][1])}: "
            if most == fewest:
                text += f"every variant lowered the sup residual strictly at {most} of {k} grades"
            else:
                text += (f"most strict sup decreases ({most} of {k}) with "
                         f"{', '.join(repr(v) for v, c in counts.items() if c == most)}, fewest ({fewest} of {k}) "
                         f"with {', '.join(repr(v) for v, c in counts.items() if c == fewest)}")
            diverged = [v for v, r in runs if r.metrics["diverged"]]
            if diverged:
                text += f"; diverged: {', '.join(map(repr, diverged))}"
            out.append(text + f"; lowest sup reached with {low[0]!r} ({fmt(low[1].metrics['sup_best'])}).")
        collapsed = []
        for variant, r in study:
            low = next((g for g in r.series["grades"] if g.get("feature_rank") is not None and g["feature_rank"] <= 2),
                       None)
            if low is not None:
                collapsed.append(f"'{variant}' on {name(r)} (grade {low['grade']}, rank {low['feature_rank']})")
        if collapsed:
            out.append("A grade passed on features of rank at most 2 (with the constant column), so that every later grade "
                       "could add at most a function of one feature (rank 2) or a constant (rank 1), in: " + "; ".join(collapsed) + ".")
        dead_ok, dead_bad = [], []
        for _, r in study:
            for g, s in zip(r.series["grades"], r.series["steps"][1:]):
                if g.get("dead_units") is None or s["sup_decreased"] is None:
                    continue
                (dead_ok if s["sup_decreased"] else dead_bad).append(g["dead_units"] / g["width"])
        if dead_ok and dead_bad:
            out.append(f"Across the study's grades, those that lowered the sup residual had {np.mean(dead_ok):.0%} "
                       f"dead units on average (of {len(dead_ok)} grades), those that did not "
                       f"{np.mean(dead_bad):.0%} (of {len(dead_bad)} grades).")
    return out


def findings_markdown(records: Sequence[Record], study: Sequence[tuple[str, Record]] = (),
                      stall: float = STALL) -> str:
    lines = findings(records, study, stall)
    if not lines:
        return "No record yet: nothing found."
    return "\n".join(f"- {line}" for line in lines) + f"\n\nRecords: {provenance_caption([*records, *(r for _, r in study)])}."


# ------------------------------------------------------------------------------------------------ checks
def check_values(records: Iterable[Record]) -> dict[str, float | None]:
    """``{"<target>/<method>/log10_sup": ..., ".../log10_l2": ...}`` of the final residuals (None: diverged), the
    values the smoke reference fixes."""
    out: dict[str, float | None] = {}
    for r in records:
        key = f"{r.config['target']}/{r.config['method']}"
        for which in ("sup", "l2"):
            v = r.metrics[f"{which}_final"]
            out[f"{key}/log10_{which}"] = None if v is None or v <= 0 else math.log10(v)
    return out


def check_reference(records: Iterable[Record], reference: dict) -> list[str]:
    """Problems of ``records`` against ``reference`` (``{"tolerance": decades, "values": {...}}``): a value outside
    the tolerance, a divergence that disagrees, a reference value without a run. Empty when all agree."""
    got = check_values(records)
    tol = reference["tolerance"]
    targets = {k.split("/")[0] for k in got}
    bad = []
    for k, want in reference["values"].items():
        if k.split("/")[0] not in targets:
            continue                          # a target not run in this call
        if k not in got:
            bad.append(f"{k}: no run")
        elif (got[k] is None) != (want is None):
            bad.append(f"{k}: {got[k]} vs reference {want} (one of them diverged)")
        elif want is not None and abs(got[k] - want) > tol:
            bad.append(f"{k}: {got[k]:.4f} vs reference {want:.4f} (tolerance {tol} decades)")
    return bad
