"""Tables, figure and findings of the learning-rate-bound study (:mod:`mgdlcore.experiments.stability`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.records import Record
from ..experiments.stability import LEARNT


def _order(r: Record) -> tuple:
    return r.config["setting"], r.config["method"] != "SGDL", r.config.get("grade") or 0


def network_name(r: Record) -> str:
    return "SGDL (26)" if r.config["method"] == "SGDL" else f"MGDL (30) grade {r.config['grade']}"


def learnt(r: Record) -> bool | None:
    """Whether the run at the largest stable step size ended clearly below the constant fit (None: no such run)."""
    final, const = r.metrics.get("tracked_final_loss"), r.metrics.get("constant_fit_loss")
    if final is None or not const:
        return None
    return final < LEARNT * const


def _g(v, fmt: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def table_markdown(records: Sequence[Record]) -> str:
    """One row per network: sharpness at initialisation, the bound 2/lambda_max, the observed threshold, their
    ratio, the largest sharpness x eta / 2 along the tracked run, and whether that run learnt."""
    if not records:
        return "No records."
    head = ("| setting | network | λ_max(H) at init | 2/λ_max | observed threshold [stable, diverged] | "
            "threshold / bound | max sharpness · η/2 | run at η_stable | learns up to [learns, flat] |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in sorted(records, key=_order):
        m = r.metrics
        if m.get("base_diverged"):
            rows.append(f"| {r.config['setting']} | {network_name(r)} | earlier grades diverged | | | | | | |")
            continue
        state = {True: "learnt", False: "stuck at the constant fit", None: "–"}[learnt(r)]
        rows.append(f"| {r.config['setting']} | {network_name(r)} | {_g(m.get('lambda_max_init'))} | "
                    f"{_g(m.get('bound_init'))} | [{_g(m.get('threshold_stable'))}, {_g(m.get('threshold_diverged'))}] | "
                    f"{_g(m.get('threshold_ratio'), '.2f')} | {_g(m.get('edge_of_stability'), '.2f')} | {state} | "
                    f"[{_g(m.get('learn_threshold_lo'))}, {_g(m.get('learn_threshold_hi'))}] |")
    return head + "\n".join(rows)


def _learns(r: Record) -> str:
    lo, hi = r.metrics.get("learn_threshold_lo"), r.metrics.get("learn_threshold_hi")
    if lo is None and hi is not None:
        return f"at no η ≥ {_g(hi)}"
    return f"[{_g(lo)}, {_g(hi)}]"


def horizon_markdown(short: Sequence[Record], long: Sequence[Record]) -> str:
    """The same networks at two horizons (e.g. the cpu profile's 3,000-epoch probes against the paper profile's
    10^5): the observed threshold and the largest step size that still learns, side by side, one row per network
    with a record at both, and how many networks' learning range moved."""
    def key(r: Record) -> tuple:
        return r.config["setting"], network_name(r)

    at_long = {key(r): r for r in long if not r.metrics.get("base_diverged")}
    pairs = [(r, at_long[key(r)]) for r in sorted(short, key=_order)
             if key(r) in at_long and not r.metrics.get("base_diverged")]
    if not pairs:
        return "No network has a record at both horizons yet."
    a, b = pairs[0][0].config["epochs"], pairs[0][1].config["epochs"]
    head = (f"| setting | network | threshold [stable, diverged], {a:,} epochs | same, {b:,} epochs | "
            f"learns up to, {a:,} epochs | learns up to, {b:,} epochs |\n|---|---|---|---|---|---|\n")
    rows, moved = [], 0
    for s, lg in pairs:
        moved += _learns(s) != _learns(lg)
        rows.append(f"| {s.config['setting']} | {network_name(s)} | "
                    f"[{_g(s.metrics.get('threshold_stable'))}, {_g(s.metrics.get('threshold_diverged'))}] | "
                    f"[{_g(lg.metrics.get('threshold_stable'))}, {_g(lg.metrics.get('threshold_diverged'))}] | "
                    f"{_learns(s)} | {_learns(lg)} |")
    return (head + "\n".join(rows) + f"\n\nThe range of step sizes that learn differs between the horizons for "
            f"{moved} of {len(pairs)} network(s).")


def findings(records: Sequence[Record]) -> list[str]:
    """Statements computed from the records (counts and ranges), for the chapter's "what we found"."""
    ok = [r for r in records if not r.metrics.get("base_diverged") and r.metrics.get("threshold_ratio") is not None]
    if not ok:
        return ["No network has both a bound and a bracketed threshold yet."]
    out = []
    ratios = [r.metrics["threshold_ratio"] for r in ok]
    above = sum(r.metrics["threshold_stable"] > r.metrics["bound_init"] for r in ok)
    out.append(f"In {above} of {len(ok)} networks the largest stable step size found exceeds the bound "
               f"2/λ_max(H) at initialisation; the observed threshold is {min(ratios):.1f} to {max(ratios):.1f} "
               "times the bound.")
    for method in ("SGDL", "MGDL"):
        th = [math.sqrt(r.metrics["threshold_stable"] * r.metrics["threshold_diverged"]) for r in ok
              if r.config["method"] == method]
        if th:
            out.append(f"{method}: observed thresholds {min(th):.3g} to {max(th):.3g} "
                       f"({len(th)} network{'s' if len(th) > 1 else ''}).")
    for method in ("SGDL", "MGDL"):
        mine = [r for r in ok if r.config["method"] == method]
        lt = [r.metrics["learn_threshold_lo"] for r in mine if r.metrics.get("learn_threshold_lo") is not None]
        never = [r for r in mine if r.metrics.get("learn_threshold_lo") is None]
        if mine:
            out.append(f"{method}: " + (f"the largest step size that still learns is {min(lt):.3g} to {max(lt):.3g} "
                                        f"({len(lt)} network{'s' if len(lt) > 1 else ''})" if lt else "no network learns")
                       + (f"; {len(never)} network{'s' if len(never) > 1 else ''} learnt at no step size from "
                          f"{min(r.config['lr_lo'] for r in never):g} up ("
                          + ", ".join(f"setting {r.config['setting']} {network_name(r)}" for r in never) + ")"
                          if never else "")
                       + f". Learning means a final loss below {LEARNT:g} x the best constant fit's within the "
                       "horizon.")
    tracked = [r for r in ok if learnt(r) is not None]
    stuck = [r for r in tracked if not learnt(r)]
    if tracked:
        out.append(f"At the largest stable step size, {len(stuck)} of {len(tracked)} tracked runs end at the loss of "
                   "the constant fit (stable, but they learnt nothing)" + (": " + ", ".join(
                       f"setting {r.config['setting']} {network_name(r)}" for r in stuck) if stuck else "") + ".")
    eos = [r.metrics["edge_of_stability"] for r in ok if r.metrics.get("edge_of_stability") is not None]
    if eos:
        out.append(f"Largest sharpness · η/2 along the tracked runs (initialisation included): {min(eos):.2f} to "
                   f"{max(eos):.2f}. Above 1 a quadratic model of the loss says GD must diverge there; the runs "
                   "left those regions instead (the sharpness fell).")
    final = [(r, r.metrics["sharpness_final"] * r.metrics["threshold_stable"] / 2) for r in ok
             if r.metrics.get("sharpness_final") is not None and learnt(r)]
    if final:
        vals = [v for _, v in final]
        out.append(f"At the end of the tracked runs that learnt ({len(final)}), sharpness · η/2 is {min(vals):.2f} to "
                   f"{max(vals):.2f} (1: the edge of stability).")
    return out


def figure(records: Sequence[Record]):
    """Top: per setting, the bound at initialisation (open circles) and the observed threshold interval (bars) for
    each network, log scale. Bottom: the sharpness along each tracked run divided by 2/eta."""
    settings = sorted({r.config["setting"] for r in records})
    fig, axes = plt.subplots(2, max(1, len(settings)), figsize=(3.6 * max(1, len(settings)), 5.4), squeeze=False)
    for j, s in enumerate(settings):
        recs = sorted([r for r in records if r.config["setting"] == s], key=_order)
        ax = axes[0, j]
        for i, r in enumerate(recs):
            m = r.metrics
            if m.get("bound_init"):
                ax.plot(i, m["bound_init"], "o", mfc="none", color="C0", label="2/λ_max at init" if i == 0 else None)
            lo, hi = m.get("threshold_stable"), m.get("threshold_diverged")
            if lo is not None and hi is not None:
                ax.plot([i, i], [lo, hi], "-", lw=4, color="C3", label="observed threshold" if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xticks(range(len(recs)), ["SGDL" if r.config["method"] == "SGDL" else f"G{r.config['grade']}"
                                         for r in recs], fontsize=8)
        ax.set_title(f"setting {s}: step sizes", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[1, j]
        for i, r in enumerate(recs):
            eta, sh = r.metrics.get("threshold_stable"), r.series.get("sharpness") or []
            if eta and sh:
                ax.plot(r.series["sharpness_epochs"], np.asarray(sh, dtype=float) * eta / 2, color=f"C{i}",
                        label="SGDL" if r.config["method"] == "SGDL" else f"G{r.config['grade']}")
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(f"setting {s}: sharpness · η/2 at η_stable", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
