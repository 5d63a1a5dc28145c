"""Figures and tables of chapters 05 (Sec. 5, Figures 1 and 15) and 07 (Sec. 7, Figures 25-28), from records only.

Every function here reads ``gd_dynamics`` records (``experiments.records.Record``); none trains. Tables carry the
profile, device, seed and commit of the records they show; the paper's values are passed in by the caller (from
``mgdlcore.paper.values``) and shown beside ours, never compared here.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..analysis.intervals import (best_run, final_values, first_diverged_lr, format_interval, largest_stable_lr,
                                  lr_interval)
from ..data.synthetic import target_function

DIVERGED_MARK = "x"


# ------------------------------------------------------------------------------------------------ grouping
def group(records: Iterable, *fields: str) -> dict[tuple, list]:
    """Records by the values of config ``fields`` (in first-seen order), each list sorted by learning rate."""
    out: dict[tuple, list] = {}
    for r in records:
        out.setdefault(tuple(r.config[f] for f in fields), []).append(r)
    return {k: sorted(v, key=lambda r: r.config["learning_rate"]) for k, v in out.items()}


def subject_records(groups: dict[tuple, list], subject) -> list:
    """All records of ``groups`` (from :func:`group`) whose first key is ``subject``."""
    return [r for key, recs in groups.items() if key[0] == subject for r in recs]


def at_lr(records: Iterable, learning_rate: float):
    """The record of ``records`` at ``learning_rate``, or None (pending)."""
    return next((r for r in records if math.isclose(r.config["learning_rate"], learning_rate)), None)


def provenance_line(records: Iterable) -> str:
    """The distinct ``profile, device, seed, commit`` lines of ``records``, joined by '; ', and the note on records
    of another device whose code changed since (:func:`~mgdlcore.report.provenance.stale_note`)."""
    from .provenance import stale_note

    records = list(records)
    seen = []
    for r in records:
        text = r.provenance_text()
        if text not in seen:
            seen.append(text)
    note = stale_note(records)
    return ("; ".join(seen) if seen else "no records") + (f"; {note}" if note else "")


def count_below(metrics: dict) -> str:
    """How many eigenvalue checks had their smallest eigenvalue at or below -1 (``frac_below_minus1`` x
    ``n_checks``), as text; "–" where the run has none."""
    frac, n = metrics.get("frac_below_minus1"), metrics.get("n_checks") or 0
    return "–" if frac is None else str(round(frac * n))


def fmt(v, spec: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _epochs_text(r) -> str:
    c = r.config
    return f"{c['epochs']:,} GD epochs per {'grade' if c['method'] == 'MGDL' else 'model'}"


# ------------------------------------------------------------------------------------------------ tables
def interval_table(sweeps: dict[tuple, list], thresholds: dict, paper: dict | None = None) -> str:
    """Markdown: per ``(setting, method)`` sweep, the learning-rate interval whose final training loss is below
    ``thresholds[setting]``, the paper's interval (``paper[(setting, method)]``, as in ``SEC5_INTERVALS``), the
    largest learning rate without divergence, the first diverged one and the best run."""
    rows = ["| setting | method | threshold | interval (ours) | interval (paper) | largest $\\eta$ without "
            "divergence | first diverged $\\eta$ | best $\\eta$: final loss | epochs |",
            "|---|---|---|---|---|---|---|---|---|"]
    for (setting, method), recs in sweeps.items():
        lrs, vals = final_values(recs)
        thr = thresholds[setting]
        p = (paper or {}).get((setting, method))
        ptext = "–" if p is None else (format_interval(p["interval"]) if p.get("interval") else p.get("note") or "–")
        if p is not None and p.get("interval") and p.get("note"):
            ptext += f" ({p['note']})"
        best = best_run(recs)
        btext = "–" if best is None else f"{best['learning_rate']:g}: {best['final_train_loss']:.2e}"
        rows.append(f"| {setting} | {method} ({recs[0].config['structure']}) | {thr:.3g} | "
                    f"{format_interval(lr_interval(lrs, vals, thr))} | {ptext} | {fmt(largest_stable_lr(recs), 'g')} "
                    f"| {fmt(first_diverged_lr(recs), 'g')} | {btext} | {_epochs_text(recs[0])} |")
    return "\n".join(rows)


def paper_sweeps(configs: Sequence, results_dir) -> tuple[dict[tuple, list], list[tuple]]:
    """The paper-profile synthetic sweeps of ``configs`` as ``{(setting, method): [records]}``, each sweep from one
    device: the one whose current records cover most of its grid (the configs' own device on a tie), so that a
    sweep never mixes devices. Also the replicates: ``(setting, method, learning_rate, {device: record})`` for
    every config with a current record on more than one device. Records of another device that are stale only
    because the code changed since count too (``find_on_any_device(stale_elsewhere=True)``; the provenance line
    says so). Nothing is computed."""
    from ..experiments.runner import find_on_any_device

    found: dict[tuple, dict[str, dict[float, object]]] = {}
    for c in configs:
        if c.image is not None:
            continue
        for rec in find_on_any_device([c], results_dir, stale_elsewhere=True, every_device=True):
            found.setdefault((c.setting, c.method), {}).setdefault(rec.config["device"], {})[c.learning_rate] = rec
    sweeps, replicates = {}, []
    for key, per_device in found.items():
        device = max(per_device, key=lambda d: len(per_device[d]))     # first (own device) wins a tie
        sweeps[key] = sorted(per_device[device].values(), key=lambda r: r.config["learning_rate"])
        for lr in sorted({lr for recs in per_device.values() for lr in recs}):
            runs = {d: recs[lr] for d, recs in per_device.items() if lr in recs}
            if len(runs) > 1:
                replicates.append((*key, lr, runs))
    return sweeps, replicates


def tracked_records(configs: Sequence, results_dir) -> list:
    """Every current record of the tracked ``configs`` (``track_every`` set), one per device that made it: in the
    order of ``configs``, each config's own device first; nothing is computed."""
    from ..experiments.runner import find_on_any_device

    return find_on_any_device([c for c in configs if c.track_every], results_dir, stale_elsewhere=True,
                              every_device=True)


def paper_tracked(configs: Sequence, results_dir, found: Sequence | None = None) -> dict[tuple, object]:
    """``{(setting, method): record}`` of the tracked paper-profile ``configs`` for a figure, one record each: per
    setting, the runs of the device that made the most of that setting's tracked runs (the configs' own device on a
    tie), so that MSDL and MGDL are drawn from one rounding path where one device made both; a method that device
    lacks comes from another. ``found``: :func:`tracked_records` of ``configs``, when the caller has them."""
    found = tracked_records(configs, results_dir) if found is None else found
    own = configs[0].device if configs else None
    out: dict[tuple, object] = {}
    for setting in dict.fromkeys(r.config["setting"] for r in found):
        mine = [r for r in found if r.config["setting"] == setting]
        counts = Counter(r.config["device"] for r in mine)
        best = min(counts, key=lambda d: (-counts[d], d != own))
        for r in sorted(mine, key=lambda r: r.config["device"] != best):
            out.setdefault((setting, r.config["method"]), r)
    return out


def _loss_text(r) -> str:
    return "diverged" if r.diverged else fmt(r.metrics.get("final_train_loss"), ".3g")


def tail_note(record) -> str:
    """How the kept training loss of the last model / grade ends: ``stuck`` (within 1% over the second half of
    the epochs), ``still falling`` (the loss at 90% of the epochs more than 1% above the final one), else
    ``oscillating``; empty for a diverged run."""
    if record.diverged:
        return ""
    loss = [v for v in record.series["grades"][-1]["loss"] if v is not None]
    if len(loss) < 10:
        return ""
    half = loss[len(loss) // 2:]
    if max(half) - min(half) <= 1e-2 * max(half):
        return f"stuck: within 1% of {loss[-1]:.3g} over the second half of the epochs"
    at90 = loss[int(0.9 * (len(loss) - 1))]
    if at90 > 1.01 * loss[-1]:
        return f"still falling: {at90:.3g} at 90% of the epochs"
    return "oscillating to the end"


def _below(r, threshold: float) -> bool:
    v = r.metrics.get("final_train_loss")
    return not r.diverged and v is not None and math.isfinite(v) and v < threshold


def _miss_text(r, threshold: float) -> str:
    v = r.metrics.get("final_train_loss")
    note = tail_note(r)
    return (_loss_text(r) + ("" if r.diverged or v is None else f", {v / threshold:.3g}x the threshold")
            + (f"; {note}" if note else ""))


def interval_misses(sweeps: dict[tuple, list], thresholds: dict, paper: dict) -> str:
    """Markdown list, per sweep with an interval in ``paper`` (as ``SEC5_INTERVALS``): the grid learning rates
    inside the paper's interval whose final training loss is not below the threshold (with the loss and its
    multiple of the threshold), and those outside it that are below."""
    lines = []
    for (setting, method), recs in sweeps.items():
        spec = paper.get((setting, method)) or {}
        if not spec.get("interval"):
            continue
        lo, hi = spec["interval"]
        thr = thresholds[setting]

        inside = [r for r in recs if lo <= r.config["learning_rate"] <= hi]
        miss = [r for r in inside if not _below(r, thr)]
        extra = [r for r in recs if not lo <= r.config["learning_rate"] <= hi and _below(r, thr)]
        text = (f"setting {setting}, {method}: {len(inside) - len(miss)} of the {len(inside)} grid learning rates in "
                f"the paper's [{lo:g}, {hi:g}] end below {thr:g}")
        if miss:
            text += "; not " + "; ".join(f"$\\eta$ = {r.config['learning_rate']:g} ({_miss_text(r, thr)})" for r in miss)
        if extra:
            text += "; outside it, below the threshold at $\\eta$ = " + ", ".join(
                f"{r.config['learning_rate']:g}" for r in extra)
        lines.append(f"- {text}.")
    return "\n".join(lines) if lines else "No sweep with a paper interval has records."


def replicate_table(replicates: Sequence[tuple], thresholds: dict) -> str:
    """Markdown: the same config run on two devices (two engines: the serial run and the batched sweep), final
    training loss on each and whether both fall on the same side of the setting's threshold."""
    if not replicates:
        return "No config has records on two devices."
    devices = sorted({d for *_, runs in replicates for d in runs})
    rows = ["| setting | method | $\\eta$ | " + " | ".join(f"final loss ({d})" for d in devices)
            + " | same side of the threshold |", "|---|---|---|" + "---|" * len(devices) + "---|"]
    same = 0
    for setting, method, lr, runs in replicates:
        thr = thresholds[setting]
        sides = {(not r.diverged and (r.metrics.get("final_train_loss") or math.inf) < thr) for r in runs.values()}
        same += len(sides) == 1
        rows.append(f"| {setting} | {method} | {lr:g} | " + " | ".join(
            _loss_text(runs[d]) if d in runs else "–" for d in devices) + f" | {'yes' if len(sides) == 1 else 'no'} |")
    return "\n".join(rows) + f"\n\nBoth runs fall on the same side of the threshold at {same} of {len(replicates)} configs."


def by_draw(records: Iterable) -> dict[tuple, list]:
    """Synthetic records as ``{(setting, method, draw): [records]}``, each record once (draws:
    :func:`~mgdlcore.experiments.sensitivity.draw_of`)."""
    from ..experiments.sensitivity import draw_of

    out: dict[tuple, dict] = {}
    for r in records:
        if r.config.get("image") is None:
            out.setdefault((r.config["setting"], r.config["method"], draw_of(r.config)), {})[r.key] = r
    return {k: list(v.values()) for k, v in out.items()}


def draw_summary(distinct: dict[tuple, tuple[int, int]]) -> str:
    """One sentence from :func:`draw_table`'s counts: in how many sweeps every complete draw gives one interval."""
    compared = {k: n for k, (n, draws) in distinct.items() if draws > 1}
    many = {k: n for k, n in compared.items() if n > 1}
    if not compared:
        return "No (setting, method) sweep has two complete draws yet."
    text = (f"Over the complete draws, the interval is the same for every draw in {len(compared) - len(many)} of "
            f"{len(compared)} (setting, method) sweeps with two draws or more")
    if many:
        text += "; it moves in " + ", ".join(f"setting {s} {m} ({n} different intervals)"
                                             for (s, m), n in sorted(many.items()))
    return text + "."


def draw_table(sweeps: dict[tuple, list], thresholds: dict, grid: Sequence[float]) -> tuple[str, dict]:
    """Markdown: per ``(setting, method, draw)`` sweep (draws: :func:`~mgdlcore.experiments.sensitivity.draw_of`),
    the interval below ``thresholds[setting]``, the largest learning rate without divergence, the first diverged one
    and the best; only sweeps that ran every learning rate of ``grid`` (the others are listed as incomplete).
    Also ``{(setting, method): (distinct intervals, complete draws)}``."""
    rows = ["| setting | method | draw | interval | largest $\\eta$ without divergence | first diverged $\\eta$ | "
            "best $\\eta$ |", "|---|---|---|---|---|---|---|"]
    distinct: dict[tuple, list] = {}
    want = {round(float(lr), 12) for lr in grid}
    for (setting, method, draw), recs in sorted(sweeps.items(), key=lambda kv: kv[0]):
        have = {round(float(r.config["learning_rate"]), 12) for r in recs}
        if not want <= have:
            rows.append(f"| {setting} | {method} | {draw} | incomplete: {len(want & have)} of {len(want)} learning "
                        "rates run | | | |")
            continue
        lrs, vals = final_values(recs)
        interval = lr_interval(lrs, vals, thresholds[setting])
        distinct.setdefault((setting, method), []).append(interval)
        best = best_run(recs)
        rows.append(f"| {setting} | {method} | {draw} | {format_interval(interval)} | "
                    f"{fmt(largest_stable_lr(recs), 'g')} | {fmt(first_diverged_lr(recs), 'g')} | "
                    f"{'–' if best is None else format(best['learning_rate'], 'g')} |")
    return "\n".join(rows), {k: (len(set(v)), len(v)) for k, v in distinct.items()}


def sweep_table(records: Sequence, *, keys: Sequence[str] = ("final_train_loss", "final_val_loss")) -> str:
    """Markdown: one row per run (subject, method, learning rate, ``keys``, diverged and where, oscillation)."""
    head = ["subject", "method", "$\\eta$", *keys, "diverged (epoch, grade)", "loss rose at (share of steps)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        m = r.metrics
        where = (f"yes ({m.get('diverged_epoch')}, {m.get('diverged_grade') or '–'})" if m["diverged"] else "no")
        rows.append(f"| {r.config.get('image') or 'setting%s' % r.config['setting']} | {r.config['method']} | "
                    f"{r.config['learning_rate']:g} | " + " | ".join(fmt(m.get(k)) for k in keys)
                    + f" | {where} | {fmt(m.get('frac_increases'), '.2f')} |")
    return "\n".join(rows)


def eigen_table(records: Sequence) -> str:
    """Markdown: per tracked run, the lowest eigenvalue of ``I - eta H`` seen, most eigenvalues <= -1 at one check,
    share of checks with the smallest <= -1, oscillation, final loss, and the device that made it (a book shows
    records made anywhere: runs of two devices are not on one rounding path)."""
    rows = ["| setting | method | $\\eta$ | lowest eigenvalue | most $\\le -1$ at one check | "
            "checks with smallest $\\le -1$ | loss rose at (share of steps) | final training loss | epochs | device |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        m = r.metrics
        device = r.provenance.get("device") or r.config.get("device", "–")
        rows.append(f"| {r.config['setting']} | {r.config['method']} | {r.config['learning_rate']:g} | "
                    f"{fmt(m.get('eig_min'), '.3f')} | {fmt(m.get('max_n_le_minus1'), 'd')} | "
                    f"{fmt(m.get('frac_below_minus1'), '.2f')} of {m.get('n_checks', 0)} | "
                    f"{fmt(m.get('frac_increases'), '.3f')} | {fmt(m.get('final_train_loss'), '.3e')} | "
                    f"{_epochs_text(r)}, checked every {r.config['track_every']:,} | {device} |")
    return "\n".join(rows)


def authors_run_table(sweeps: dict[tuple, list], authors: dict, method: str = "MSDL") -> str:
    """Markdown: a run the authors kept (``authors``: setting, learning_rate, epochs, train_loss, val_loss, as
    ``values.SEC7_AUTHORS_MSDL_RUN``) above our record of the same setting, method, learning rate and epochs from
    ``sweeps``; "" when we have none."""
    ours = [r for r in sweeps.get((authors["setting"], method), [])
            if math.isclose(r.config["learning_rate"], authors["learning_rate"]) and r.config["epochs"] == authors["epochs"]]
    if not ours:
        return ""
    rows = ["| run | setting | $\\eta$ | epochs | final training loss | final validation loss |",
            "|---|---|---|---|---|---|",
            f"| the authors' kept run (their code) | {authors['setting']} | {authors['learning_rate']:g} | "
            f"{authors['epochs']:,} | {authors['train_loss']:.3e} | {authors['val_loss']:.3e} |"]
    for r in ours:
        m = r.metrics
        loss = ("diverged", "diverged") if r.diverged else (fmt(m.get("final_train_loss"), ".3e"),
                                                             fmt(m.get("final_val_loss"), ".3e"))
        rows.append(f"| ours ({r.provenance_text()}) | {r.config['setting']} | {r.config['learning_rate']:g} | "
                    f"{r.config['epochs']:,} | {loss[0]} | {loss[1]} |")
    return "\n".join(rows)


def image_setting_text(record) -> str:
    """How the image of ``record`` was prepared, in words."""
    c, m = record.config, record.metrics
    rule = {None: "native size", "subsample": f"subsampled (every s-th pixel) to {m['height']}x{m['width']}",
            "antialias": f"resized with anti-aliasing to {m['height']}x{m['width']}"}[c["resample"]]
    return f"{c['image']}: {rule}{', inverted (1 - f)' if c['invert'] else ''}"


def pending_markdown(pending: Sequence[str]) -> str:
    """The runs without a record (the book build reads committed records only), one per line, with the reason."""
    if not pending:
        return "All runs of this profile have a current record."
    return (f"**Pending: {len(pending)} run(s) without a current record** (shown as missing in the figures):\n\n"
            + "\n".join(f"- {p}" for p in pending))


def claims_markdown(section: int, *, results_dir, profile: str, paper_results_dir=None) -> str:
    """The verdicts of Section ``section``'s claims from ``mgdlcore.paper.claims`` where that module renders them;
    otherwise a pointer (the verdicts are never decided here). Under a reduced ``profile`` each claim shows the
    verdict of the paper-profile records (``paper_results_dir``, default: the paper profile's folder) with this
    profile's indication beside it."""
    try:
        claims = importlib.import_module(f"{__package__.rsplit('.', 1)[0]}.paper.claims")
    except ModuleNotFoundError:
        claims = None
    render = getattr(claims, "render_markdown", None)
    if render is None:
        return "*The verdicts on the paper's claims of this section are not rendered yet (see the claims page).*"
    if profile == "paper":
        return render(section=section, results_dir=results_dir, profile=profile)
    from .paths import default_results_dir

    return render(section=section, results_dir=paper_results_dir or default_results_dir("paper"), profile="paper",
                  indication_profile=profile, indication_results_dir=results_dir)


# ------------------------------------------------------------------------------------------------ references
def reference_values(records: Iterable) -> dict[str, float | None]:
    """The values a smoke reference fixes, by ``task/subject/method/eta[/tracked]/quantity``:
    ``log10_loss`` (log10 of the final training loss; None: diverged), ``psnr_test`` (images) and ``eig_min``
    (tracked runs), rounded to 4 decimals."""
    out: dict[str, float | None] = {}
    for r in records:
        c, m = r.config, r.metrics
        base = f"{c['task']}/{r.config.get('image') or 'setting%s' % c['setting']}/{c['method']}/" \
               f"{c['learning_rate']:g}" + ("/tracked" if c.get("track_every") else "")
        loss = m.get("final_train_loss")
        out[f"{base}/log10_loss"] = None if m["diverged"] or not loss else round(math.log10(loss), 4)
        if c.get("image"):
            out[f"{base}/psnr_test"] = None if m.get("psnr_test") is None else round(m["psnr_test"], 4)
        if c.get("track_every"):
            out[f"{base}/eig_min"] = None if m.get("eig_min") is None else round(m["eig_min"], 4)
    return out


def check_reference(records: Iterable, reference: dict) -> list[str]:
    """Problems of ``records`` against ``reference`` (``{"tolerance": {quantity: abs}, "values": {...}}``): a value
    outside its tolerance, a divergence that disagrees, a reference value without a run, a run value without a
    reference. Subjects (settings, images) the reference does not know, and reference subjects not run, are left
    out (a user's own image has no reference). Empty when everything agrees."""
    got = reference_values(records)
    tol = reference["tolerance"]
    subjects = {k.split("/")[1] for k in got} & {k.split("/")[1] for k in reference["values"]}
    ref = {k: v for k, v in reference["values"].items() if k.split("/")[1] in subjects}
    got = {k: v for k, v in got.items() if k.split("/")[1] in subjects}
    if not ref:
        return ["no reference value for any run"]
    bad = [f"{k}: no reference value" for k in got if k not in ref]
    for k, want in ref.items():
        if k not in got:
            bad.append(f"{k}: no run")
            continue
        v, t = got[k], tol[k.rsplit("/", 1)[1]]
        if (v is None) != (want is None):
            bad.append(f"{k}: {v} vs reference {want} (one of them diverged)")
        elif v is not None and abs(v - want) > t:
            bad.append(f"{k}: {v:.4f} vs reference {want:.4f} (tolerance {t})")
    return bad


# ------------------------------------------------------------------------------------------------ figures
def plot_sweep(ax, records: Sequence, *, key: str = "final_train_loss", label: str = "", color=None,
               log: bool = True, marker: str = "o"):
    """``key`` against the learning rate (log x axis); a diverged run is drawn as 'x' on the top edge (NaN)."""
    lrs, vals = final_values(records, key)
    ax.plot(lrs, vals, marker=marker, color=color, label=label, lw=1, ms=4)
    bad = ~np.isfinite(vals)
    if bad.any():
        ax.plot(lrs[bad], np.full(bad.sum(), 1.03), DIVERGED_MARK, color=color, ms=7, mew=2, clip_on=False,
                transform=ax.get_xaxis_transform(), label=f"{label} diverged (NaN)" if label else None)
    ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate $\\eta$")
    return ax


def _grade_offsets(record) -> list[int]:
    offs, total = [], 0
    for g in record.series["grades"]:
        offs.append(total)
        total += g["epochs_run"]
    return offs


def _pending(ax, text: str = "pending: no record") -> bool:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    return True


def plot_losses(ax, record, *, color=None, label: str | None = None):
    """The training loss kept every ``loss_every`` epochs; MGDL grades end to end, dotted lines between grades."""
    if record is None and _pending(ax):
        return ax
    for g, off in zip(record.series["grades"], _grade_offsets(record)):
        loss = np.array([np.nan if v is None else v for v in g["loss"]], float)
        ax.semilogy(np.asarray(g["loss_epochs"], float) + off, loss, color=color, lw=0.7,
                    label=label if off == 0 else None)
        if off:
            ax.axvline(off, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("epoch (grades end to end)" if record.config["method"] == "MGDL" else "epoch")
    ax.set_ylabel("training loss (1)")
    return ax


def plot_eigen_track(ax, record, k: int | None = None):
    """The ``k`` smallest (solid) and largest (dashed) eigenvalues of ``I - eta H`` against the epoch; MGDL grades
    end to end. Dotted lines at -1 and 1."""
    if record is None and _pending(ax):
        return ax
    for gi, (g, off) in enumerate(zip(record.series["grades"], _grade_offsets(record))):
        ep = np.asarray(g["eig_epochs"], float) + off
        mins, maxs = np.asarray(g["eig_min"], float), np.asarray(g["eig_max"], float)
        kk = mins.shape[1] if mins.ndim == 2 else 0
        for j in range(min(k or kk, kk)):
            ax.plot(ep, mins[:, j], "-", color=f"C{j % 10}", lw=0.8, label=f"index {j}" if gi == 0 else None)
            ax.plot(ep, maxs[:, j], "--", color=f"C{j % 10}", lw=0.8)
        if off:
            ax.axvline(off, color="0.6", ls=":", lw=0.8)
    for y in (-1.0, 1.0):
        ax.axhline(y, color="k", ls=":", lw=0.8)
    ax.set_xlabel("epoch (grades end to end)" if record.config["method"] == "MGDL" else "epoch")
    ax.set_ylabel("eigenvalues of $I-\\eta H$")
    return ax


def plot_prediction(ax, record, *, color=None, label: str | None = None, target: bool = False):
    """A tracked synthetic run's final prediction on [0, 1] (and, with ``target``, the target of eq. (5))."""
    if record is None:
        return ax
    arrays = record.arrays()
    xs = np.linspace(0.0, 1.0, len(arrays["prediction"])) if "prediction" in arrays else np.linspace(0, 1, 1001)
    if target:
        ax.plot(xs, target_function(xs, record.series["kappa"], record.series["phases"]), color="k", lw=1.5,
                label="target (5)")
    if "prediction" in arrays:
        ax.plot(xs, arrays["prediction"], color=color, lw=1, label=label)
    ax.set_xlabel("x")
    return ax


def tracked_figure(tracked: dict, settings: Sequence[int], learning_rates: dict, methods=("MSDL", "MGDL")):
    """Figures 25-26: per setting a pair of rows, the eigenvalue track of ``I - eta H`` (upper) and the training loss
    (lower) of each method's tracked run (``tracked[(setting, method)]``; a missing one is drawn as pending)."""
    fig, axes = figure(2 * len(settings), len(methods), height=2.9)
    for i, s in enumerate(settings):
        for col, (method, color) in enumerate(zip(methods, ("C3", "C0"))):
            rec = tracked.get((s, method))
            plot_eigen_track(axes[2 * i, col], rec)
            plot_losses(axes[2 * i + 1, col], rec, color=color)
            axes[2 * i, col].set_title(f"setting {s}, {method}, $\\eta$={learning_rates[(s, method)]:g}: eigenvalues "
                                       "of $I-\\eta H$", fontsize=8)
            axes[2 * i + 1, col].set_title(f"setting {s}, {method}: training loss", fontsize=8)
        legend(axes[2 * i, 0], fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def figure(nrows: int, ncols: int, *, width: float = 3.5, height: float = 2.8, max_width: float = 7.5):
    """A figure with an ``nrows x ncols`` grid of axes (always 2-D), at most ``max_width`` inches wide so that its
    text stays legible at the book's column width."""
    return plt.subplots(nrows, ncols, figsize=(min(width * ncols, max_width), height * nrows), squeeze=False)


def legend(ax, **kwargs) -> None:
    """A legend where the axes have labelled artists (a pending panel has none), placed where it covers least data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**{"loc": "best", "framealpha": 0.85, **kwargs})
