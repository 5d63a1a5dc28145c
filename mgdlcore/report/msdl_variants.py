"""Tables, figure and findings of Sec. 7's conjecture (task ``"msdl_variants"`` of
:mod:`mgdlcore.experiments.gd_dynamics`): MSDL with compactly supported activations and a deeper, wider MSDL,
against the paper's MSDL with ReLU at the same epochs."""

from __future__ import annotations

from collections.abc import Sequence

from ..models import COMPACT_ACTIVATIONS
from ..paper.claims.eigen import more_stable
from . import dynamics as rd

ACT_ORDER = ("relu", *COMPACT_ACTIVATIONS)
STRUCT_ORDER = ("msdl", "msdl-deep")
BASELINE = ("msdl", "relu")          # the paper's MSDL


def sec7_stand_ins(configs: Sequence, results_dir) -> dict:
    """``{config: record}``: for each run of the paper's MSDL with ReLU that has no record of its own, Sec. 7's
    current record (task ``msdl``) of the same config but for the task's name, where one exists (the paper profile
    runs the same training in both tasks; the reduced ones do not, so none is found there). Nothing is computed."""
    import dataclasses

    from ..experiments.profiles import SAME_RUN_AS
    from ..experiments.runner import find_record

    out = {}
    for c in configs:
        if (c.structure, c.activation) != BASELINE or find_record(c, results_dir, move_corrupt=False)[0] is not None:
            continue
        record, _ = find_record(dataclasses.replace(c, task=SAME_RUN_AS[c.task]), results_dir, move_corrupt=False)
        if record is not None:
            out[c] = record
    return out


def variant(r) -> tuple[str, str]:
    return r.config["structure"], r.config.get("activation", "relu")


def variant_label(v: tuple[str, str]) -> str:
    return f"{'MSDL (paper)' if v[0] == 'msdl' else 'MSDL deep/wide'} {v[1]}"


def _key(v: tuple[str, str]) -> tuple[int, int]:
    return STRUCT_ORDER.index(v[0]), ACT_ORDER.index(v[1])


def _sweeps(records: Sequence) -> list:
    return [r for r in records if not r.config.get("track_every")]


def _tracked(records: Sequence) -> list:
    return [r for r in records if r.config.get("track_every")]


def sweep_markdown(records: Sequence) -> str:
    """Final training loss (``diverged`` where the loss became non-finite) per setting, variant and step size."""
    sweeps = _sweeps(records)
    if not sweeps:
        return "No sweep records."
    lrs = sorted({r.config["learning_rate"] for r in sweeps})
    rows = ["| setting | network | act. | " + " | ".join(f"η {lr:g}" for lr in lrs) + " |",
            "|" + "---|" * (3 + len(lrs))]
    groups: dict[tuple, list] = {}
    for r in sweeps:
        groups.setdefault((r.config["setting"], *variant(r)), []).append(r)
    for (setting, struct, act), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], _key(kv[0][1:]))):
        by_lr = {r.config["learning_rate"]: r for r in recs}
        cells = ["–" if lr not in by_lr else "diverged" if by_lr[lr].metrics["diverged"]
                 else f"{by_lr[lr].metrics['final_train_loss']:.3g}" for lr in lrs]
        rows.append(f"| {setting} | {struct} | {act} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def tracked_markdown(records: Sequence) -> str:
    """Per tracked run: parameters, the lowest eigenvalue of ``I - eta H``, the share of checks with the smallest at
    or below -1, the share of kept steps where the loss rose, and the final loss."""
    tracked = sorted(_tracked(records), key=lambda r: (r.config["setting"], _key(variant(r))))
    if not tracked:
        return "No tracked records."
    rows = ["| setting | network | activation | parameters | η | lowest eigenvalue of I − ηH | checks ≤ −1 | "
            "loss rises | final training loss |", "|---|---|---|---|---|---|---|---|---|"]
    for r in tracked:
        m = r.metrics
        rows.append(f"| {r.config['setting']} | {r.config['structure']} | {variant(r)[1]} | {m['n_parameters']} | "
                    f"{r.config['learning_rate']:g} | {rd.fmt(m.get('eig_min'), '.3f')} | "
                    f"{rd.count_below(m)} of {m.get('n_checks', 0)} | "
                    f"{rd.fmt(m.get('frac_increases'), '.2f')} | "
                    f"{'diverged' if m['diverged'] else rd.fmt(m.get('final_train_loss'), '.3e')} |")
    return "\n".join(rows)


def figure(records: Sequence):
    """Per setting: final loss against the step size (one curve per variant) and the tracked runs' training loss."""
    settings = sorted({r.config["setting"] for r in records})
    fig, axes = rd.figure(max(1, len(settings)), 2, width=3.7, height=2.8)
    for row, setting in zip(axes, settings):
        mine = [r for r in records if r.config["setting"] == setting]
        variants = sorted({variant(r) for r in mine}, key=_key)
        for i, v in enumerate(variants):
            style = dict(color=f"C{i}", label=variant_label(v))
            sweep = [r for r in _sweeps(mine) if variant(r) == v]
            if sweep:
                rd.plot_sweep(row[0], sweep, marker="o" if v[0] == "msdl" else "s", **style)
            tracked = [r for r in _tracked(mine) if variant(r) == v]
            if tracked:
                rd.plot_losses(row[1], tracked[0], **style)
        row[0].set_title(f"setting {setting}: final training loss", fontsize=9)
        lr = next((r.config["learning_rate"] for r in _tracked(mine)), None)
        row[1].set_title(f"setting {setting}: training loss at η = {lr:g}" if lr else f"setting {setting}", fontsize=9)
        rd.legend(row[0], fontsize=6)
    fig.tight_layout()
    return fig


def findings(records: Sequence) -> list[str]:
    """Per setting and variant, against the paper's MSDL with ReLU: diverged step sizes, the lowest final loss, and
    (tracked run) the share of checks with an eigenvalue at or below -1 and of loss rises."""
    out = []
    for setting in sorted({r.config["setting"] for r in records}):
        mine = [r for r in records if r.config["setting"] == setting]
        parts = []
        for v in sorted({variant(r) for r in mine}, key=_key):
            sweep = [r for r in _sweeps(mine) if variant(r) == v]
            ok = [r for r in sweep if not r.metrics["diverged"]]
            text = f"{variant_label(v)}: {len(sweep) - len(ok)} of {len(sweep)} step sizes diverged"
            if ok:
                best = min(ok, key=lambda r: r.metrics["final_train_loss"])
                text += f", lowest final loss {best.metrics['final_train_loss']:.2e} at η = {best.config['learning_rate']:g}"
            tr = [r for r in _tracked(mine) if variant(r) == v]
            if tr and tr[0].metrics.get("frac_below_minus1") is not None:
                m = tr[0].metrics
                text += (f"; tracked at η = {tr[0].config['learning_rate']:g}: smallest eigenvalue ≤ −1 at "
                         f"{m['frac_below_minus1']:.0%} of checks, loss rose at {rd.fmt(m.get('frac_increases'), '.0%')} "
                         "of kept steps")
            parts.append(text)
        out.append(f"Setting {setting}. " + "; ".join(parts) + ".")
    return out


def more_stable_than_paper(records: Sequence) -> dict[tuple[int, str, str], bool | None]:
    """Per (setting, structure, activation) other than the paper's MSDL: True where the variant diverged at no more
    step sizes *and* had a smaller share of checks at or below -1 than the paper's MSDL with ReLU; False as soon as
    one of the two fails (a tracked run alone can rule a variant out); None while the records cannot tell (the rule
    of the claims page, ``paper.claims.eigen.more_stable``)."""
    out: dict[tuple[int, str, str], bool | None] = {}
    for setting in sorted({r.config["setting"] for r in records}):
        mine = [r for r in records if r.config["setting"] == setting]
        d0, f0 = _stability(mine, BASELINE)
        for v in sorted({variant(r) for r in mine} - {BASELINE}, key=_key):
            d, f = _stability(mine, v)
            out[(setting, *v)] = more_stable(d, d0, f, f0)
    return out


def verdict_lines(records: Sequence) -> list[str]:
    """One line per variant of :func:`more_stable_than_paper`: more stable on both measures, not more stable, or
    undecided."""
    return [f"Setting {st}, {variant_label((struct, act))}: "
            + ("more stable than the paper's MSDL on both measures" if ok else "not more stable than the paper's MSDL"
               if ok is False else "undecided (a record is missing)")
            for (st, struct, act), ok in more_stable_than_paper(records).items()]


def in_progress(configs: Sequence, results_dir, records: Sequence) -> list[dict]:
    """For each tracked MSDL run of ``configs`` with checkpoints (its own or parked) but no record: the checks so far
    and how many at or below -1 would make the whole run's share at least the paper's MSDL's (from ``records``,
    same setting), whatever the checks still to come give. Checkpoints are not records: nothing here is a verdict."""
    from ..experiments.campaign import run_folder
    from ..experiments.cost import n_checks
    from ..experiments.parking import saved

    rows = []
    for c in configs:
        saves = saved(run_folder(results_dir, [c])) if c.track_every else []
        if not saves:
            continue
        mins = saves[-1]["callbacks"][0]["values"].get("eig_min_0", [])
        total = n_checks(c.epochs, c.track_every)
        f0 = _stability([r for r in records if r.config["setting"] == c.setting], BASELINE)[1]
        below = sum(v <= -1.0 for v in mins)
        rows.append(dict(config=c, epochs_done=int(saves[-1]["done"]), checks=len(mins), total=total, below=below,
                         paper_share=f0, needed=None if f0 is None else next(
                             (k for k in range(total + 1) if k / total >= f0), None)))
    return rows


def in_progress_markdown(rows: Sequence[dict]) -> str:
    """The table of :func:`in_progress`: where the share of checks at or below -1 already reaches the paper's MSDL's
    for the whole run, the share alone rules the variant out once the record is written."""
    if not rows:
        return ""
    lines = ["**Runs in progress** (checkpoints, not records: no verdict is read from them)", "",
             "| run | η | epochs done | checks ≤ −1 so far | paper's MSDL share | ≤ −1 checks that reach it | "
             "state |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        c, need = r["config"], r["needed"]
        if need is None:
            state = "no record of the paper's MSDL"
        elif r["below"] >= need:
            state = "reached: the whole run's share cannot fall below the paper's MSDL's"
        else:
            state = f"{need - r['below']} more of the {r['total'] - r['checks']} checks still to come"
        lines.append(f"| setting {c.setting}, {variant_label((c.structure, c.activation))} | {c.learning_rate:g} | "
                     f"{r['epochs_done']:,} of {c.epochs:,} | {r['below']} of {r['checks']} | "
                     f"{rd.fmt(r['paper_share'], '.2f')} | {rd.fmt(need, 'd')} of {r['total']} | {state} |")
    return "\n".join(lines)


def _stability(records: Sequence, v: tuple[str, str]) -> tuple[int | None, float | None]:
    """(diverged step sizes of the sweep, share of checks <= -1 of the tracked run) of variant ``v``; None for
    either that has no record."""
    sweep = [r for r in _sweeps(records) if variant(r) == v]
    tr = [r for r in _tracked(records) if variant(r) == v]
    return (sum(r.metrics["diverged"] for r in sweep) if sweep else None,
            tr[0].metrics.get("frac_below_minus1") if tr else None)
