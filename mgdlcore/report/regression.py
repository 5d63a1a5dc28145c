"""Tables and figures of the image-regression chapter (Sec. 4, Table 1, Figures 5-6), drawn from records only."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..data.grid import split_masks
from ..data.images import REGISTRY
from ..experiments.records import Record
from ..paper.values import TABLE1
from .figures import plot_loss_history
from .provenance import provenance_caption

NETWORKS = ("SGDL", "MGDL")
FIELDS = ("FFN", "SIREN")                       # the neural-field baselines (experiments.fields)
TRAINED = NETWORKS + FIELDS                     # methods with a training PSNR and a best-validation epoch
FIELD_PARAMETER = {"FFN": ("sigma", "σ"), "SIREN": ("omega_0", "ω₀")}
COMPARED = ("SGDL", "MGDL", "FFN", "SIREN", "bilinear", "bicubic")   # the methods ranked on unseen pixels


def by_image(records: Sequence[Record]) -> dict[str, dict[str, list[Record]]]:
    """``{image: {method: [records, one per seed]}}`` in the order the records come."""
    out: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        out[r.config["image"]][r.config["method"]].append(r)
    return {im: dict(m) for im, m in out.items()}


def display_name(image: str) -> str:
    return REGISTRY[image].paper_name if image in REGISTRY else image


def _stat(recs: list[Record], metric: str) -> tuple[float | None, float | None, int]:
    vals = [r.metrics.get(metric) for r in recs]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return None, None, 0
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None), len(vals)


def _fmt(mean, sd=None, nd=2) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{nd}f}" + (f" ± {sd:.{nd}f}" if sd is not None else "")


def _method_label(method: str, recs: list[Record]) -> str:
    """``FFN (σ = 3)``: a neural field with its chosen hyper-parameter; other methods as they are."""
    if method not in FIELD_PARAMETER:
        return method
    name, symbol = FIELD_PARAMETER[method]
    values = sorted({r.config.get(name) for r in recs if r.config.get(name) is not None})
    return f"{method} ({symbol} = {', '.join(f'{v:g}' for v in values)})" if values else method


def table1_markdown(records: Sequence[Record], paper_profile: Sequence[Record] = (),
                    expected: Sequence[str] = ()) -> str:
    """Table 1 in Markdown: our TrPSNR / TePSNR (final epoch) and TePSNR at the best validation epoch (mean ± sd
    over seeds when there are several) beside the paper's; interpolation rows give the test PSNR.

    ``paper_profile``: records of the paper's own setting (native size, 10^4 epochs), shown in two more columns
    where they exist; leave empty when ``records`` are themselves the paper profile's. ``expected``: methods every
    image should have a row for (e.g. the neural-field baselines); one without a record is shown as *pending*."""
    extra = bool(paper_profile)
    paper_runs = by_image(paper_profile) if extra else {}
    head = "| Image | Method | TrPSNR (ours) | TePSNR (ours) | TePSNR, best val. (ours) |"
    if extra:
        head += " TrPSNR (ours, paper profile) | TePSNR (ours, paper profile) |"
    rows = [head + " TrPSNR (paper) | TePSNR (paper) |", "|---" * (7 + 2 * extra) + "|"]
    for image, methods in by_image(records).items():
        for method in [*methods, *(m for m in expected if m not in methods)]:
            recs = methods.get(method, [])
            paper = TABLE1.get(image, {}).get(method, (None, None))
            if not recs:
                rows.append(f"| {display_name(image)} | {method} | pending | pending | pending |"
                            + (" | |" if extra else "") + f" {_fmt(paper[0])} | {_fmt(paper[1])} |")
                continue
            diverged = sum(r.diverged for r in recs)
            label = _method_label(method, recs) + (f" ({diverged} of {len(recs)} diverged)" if diverged else "")
            network = method in TRAINED
            train = _fmt(*_stat(recs, "psnr_train")[:2]) if network else "exact"
            best = _fmt(*_stat(recs, "psnr_test_at_best_val")[:2]) if network else ""
            row = f"| {display_name(image)} | {label} | {train} | {_fmt(*_stat(recs, 'psnr_test')[:2])} | {best} |"
            if extra:
                ours = paper_runs.get(image, {}).get(method, [])
                row += (f" {_fmt(*_stat(ours, 'psnr_train')[:2])} | {_fmt(*_stat(ours, 'psnr_test')[:2])} |"
                        if method in NETWORKS else " | |")
            rows.append(row + f" {_fmt(paper[0])} | {_fmt(paper[1])} |")
    return "\n".join(rows)


def paper_setting_markdown(paper_runs: Sequence[Record], tolerance: float = 0.5) -> str:
    """Our paper-profile test PSNR against the paper's Table 1, per image and network: the final epoch, the range
    over the last 5% of epochs, and whether the paper's value lies within ``tolerance`` dB of that range."""
    if not paper_runs:
        return "No paper-profile record is in the results folder yet."
    lines = ["| Image | Method | TePSNR, final (ours) | range, last 5% (ours) | TePSNR (paper) | final − paper | "
             f"paper within {tolerance:g} dB of our range |", "|---|---|---|---|---|---|---|"]
    n_ok = n = 0
    below, beyond = [], []       # (final - paper) where ours is below the paper's; cases the draw cannot explain
    for image, methods in by_image(paper_runs).items():
        for method in NETWORKS:
            for r in methods.get(method, []):
                paper = TABLE1.get(image, {}).get(method, (None, None))[1]
                m = r.metrics
                final, low, high = m.get("psnr_test"), m.get("psnr_test_tail_min"), m.get("psnr_test_tail_max")
                ok = None if None in (paper, final, low, high) else low - tolerance <= paper <= high + tolerance
                n += ok is not None
                n_ok += bool(ok)
                if ok is not None and final < paper:
                    below.append(final - paper)
                if ok is False:
                    beyond.append(f"{display_name(image)} {method}")
                lines.append(f"| {display_name(image)} | {method} | {_fmt(final)} | {_fmt(low)}–{_fmt(high)} | "
                             f"{_fmt(paper)} | {'–' if None in (final, paper) else f'{final - paper:+.2f}'} | "
                             f"{'–' if ok is None else 'yes' if ok else 'no'} |")
    text = f"The paper's value lies within {tolerance:g} dB of our range in {n_ok} of {n} cases."
    if below:
        text += (f" Our final value is below the paper's in {len(below)} of {n} cases (by {-max(below):.2f} to "
                 f"{-min(below):.2f} dB).")
    if beyond:
        text += (f" In {len(beyond)} of them ({', '.join(beyond)}) the paper's value lies more than {tolerance:g} dB "
                 "outside the whole range our run swept over its last 5% of epochs, so the draw of a final epoch "
                 "does not explain the gap there.")
    return "\n".join(lines) + "\n\n" + text


def interpolation_markdown(records: Sequence[Record]) -> str:
    """Test PSNR of bilinear / bicubic interpolation at the paper's native sizes beside the paper's Table-1 values."""
    rows = ["| Image | size | bilinear | bicubic | SGDL (paper) | MGDL (paper) |", "|---|---|---|---|---|---|"]
    for image, methods in by_image(records).items():
        some = next(iter(methods.values()))[0]
        size = f"{some.metrics['height']}x{some.metrics['width']}"
        vals = {m: _fmt(_stat(methods[m], "psnr_test")[0]) if m in methods else "–" for m in ("bilinear", "bicubic")}
        paper = TABLE1.get(image, {})
        rows.append(f"| {display_name(image)} | {size} | {vals['bilinear']} | {vals['bicubic']} | "
                    f"{_fmt(paper.get('SGDL', (None, None))[1])} | {_fmt(paper.get('MGDL', (None, None))[1])} |")
    return "\n".join(rows)


def gap_summary(records: Sequence[Record]) -> dict[str, float | int | None]:
    """MGDL - SGDL and bicubic - MGDL test PSNR (means over seeds) over the images that have all three."""
    gaps, bicubic = [], []
    for methods in by_image(records).values():
        if {"SGDL", "MGDL"} <= set(methods):
            m, s = _stat(methods["MGDL"], "psnr_test")[0], _stat(methods["SGDL"], "psnr_test")[0]
            if m is not None and s is not None:
                gaps.append(m - s)
            if "bicubic" in methods and m is not None:
                bicubic.append(_stat(methods["bicubic"], "psnr_test")[0] - m)
    return {"n_images": len(gaps), "gap_min": min(gaps) if gaps else None, "gap_max": max(gaps) if gaps else None,
            "n_bicubic_wins": sum(d > 0 for d in bicubic), "bicubic_gap_max": max(bicubic) if bicubic else None}


def loss_figure(records: Sequence[Record]):
    """Training loss of SGDL and MGDL per image (seed of the first record), grades end to end (Figures 5-6)."""
    images = [im for im, m in by_image(records).items() if {"SGDL", "MGDL"} <= set(m)]
    fig, axes = plt.subplots(len(images), 2, figsize=(7.0, 2.1 * max(len(images), 1)), squeeze=False)
    for row, image in zip(axes, images):
        methods = by_image(records)[image]
        for ax, method, color in zip(row, NETWORKS, ("C3", "C0")):
            plot_loss_history(methods[method][0], ax, color=color)
            ax.set_title(f"{display_name(image)}: {method}", fontsize=9)
    fig.tight_layout()
    return fig


def reconstruction_grid(records: Sequence[Record]):
    """One column per image, one row per method: the target, bicubic, SGDL and MGDL after each grade, each panel
    labelled with its test PSNR (dB). Rows are labelled once on the left, images once on top (legible at the
    book's column width)."""
    columns = {}
    for image, methods in by_image(records).items():
        if not {"SGDL", "MGDL"} <= set(methods):
            continue
        first = next(iter(methods.values()))[0]
        panels = {"target": (first.arrays()["target"], None)}
        for method in ("bicubic", "SGDL", "MGDL", *FIELDS):
            if method not in methods:
                continue
            rec = methods[method][0]
            arrays = rec.arrays()
            if method == "MGDL":
                panels.update({f"MGDL grade {g['grade']}": (arrays[f"grade {g['grade']}"], g.get("psnr_test"))
                               for g in rec.series.get("psnr_per_grade", [])})
            else:
                panels[method] = (arrays[method], rec.metrics.get("psnr_test"))
        columns[image] = panels
    row_names = list(dict.fromkeys(name for panels in columns.values() for name in panels)) or ["target"]
    ncols = max(len(columns), 1)
    side = min(1.35, 6.4 / ncols)
    fig, axes = plt.subplots(len(row_names), ncols, figsize=(side * ncols + 0.6, side * len(row_names)),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for c, (image, panels) in enumerate(columns.items()):
        axes[0, c].set_title(display_name(image), fontsize=8)
        for r, name in enumerate(row_names):
            if name not in panels:
                continue
            img, value = panels[name]
            axes[r, c].imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
            if value is not None:
                axes[r, c].text(0.03, 0.04, _fmt(value), transform=axes[r, c].transAxes, fontsize=7, color="k",
                                bbox=dict(facecolor="white", alpha=0.8, pad=1, lw=0))
    for r, name in enumerate(row_names):
        axes[r, 0].set_ylabel(name.replace("MGDL grade ", "MGDL g"), fontsize=8)
    fig.tight_layout(pad=0.2, h_pad=0.2, w_pad=0.2)
    return fig


def paper_reference(images: Sequence[str]) -> dict[str, float]:
    """The paper's Table-1 TrPSNR / TePSNR as ``{"image/method/metric": value}`` for the check of the paper profile."""
    out = {}
    for image in images:
        for method, (tr, te) in TABLE1.get(image, {}).items():
            out[f"{image}/{method}/psnr_train"], out[f"{image}/{method}/psnr_test"] = tr, te
    return out


def residual_figure(records: Sequence[Record]):
    """RMS residual after each MGDL grade on the training pixels and on all pixels (from PSNR: 10^(-PSNR/20))."""
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for image, methods in by_image(records).items():
        if "MGDL" not in methods:
            continue
        per_grade = methods["MGDL"][0].series.get("psnr_per_grade", [])
        grades = [g["grade"] for g in per_grade]
        for ax, key in zip(axes, ("psnr_train", "psnr_test")):
            ax.semilogy(grades, [10 ** (-g[key] / 20) if g.get(key) is not None else np.nan for g in per_grade],
                        "o-", label=display_name(image))
    for ax, title in zip(axes, ("training pixels", "all pixels")):
        ax.set_xlabel("grade")
        ax.set_ylabel("RMS residual")
        ax.set_title(title, fontsize=9)
    axes[1].legend(fontsize=7, loc="upper right", frameon=False)
    fig.tight_layout()
    return fig


def check_values(records: Sequence[Record], metrics: Sequence[str] = ("psnr_train", "psnr_test")) -> dict[str, float]:
    """``{"image/method/metric": value}`` (seed 0) for comparison with references."""
    out = {}
    for image, methods in by_image(records).items():
        for method, recs in methods.items():
            rec = next((r for r in recs if r.config["seed"] == 0), None)
            for m in metrics:
                if rec is not None and rec.metrics.get(m) is not None and not (m == "psnr_train" and method not in TRAINED):
                    out[f"{image}/{method}/{m}"] = round(float(rec.metrics[m]), 3)
    return out


# ------------------------------------------------------------------------------------------------ neural fields
def unseen_psnr(rec: Record) -> float | None:
    """PSNR (34) on the pixels a method was not trained on (all but every other pixel): the record's
    ``psnr_unseen`` where it has one (neural fields), else from its stored final reconstruction (the last array
    that is not the target: SGDL, the last MGDL grade, the interpolation); None when neither is at hand or the
    run diverged."""
    if rec.diverged:
        return None
    if rec.metrics.get("psnr_unseen") is not None:
        return float(rec.metrics["psnr_unseen"])
    names = [n for n in rec.data.get("arrays", []) if n != "target"]
    if not names or rec.arrays_path is None or not rec.arrays_path.is_file():
        return None
    arrays = rec.arrays()
    target, recon = arrays["target"].astype(np.float64), arrays[names[-1]].astype(np.float64)
    if not np.isfinite(recon).all():
        return None
    unseen = ~split_masks(target.shape)["train"]
    mse = float(np.mean((target[unseen] - recon[unseen]) ** 2))
    return float(10 * np.log10(1.0 / mse)) if mse > 0 else None


def _mean_unseen(recs: list[Record]) -> tuple[float | None, int]:
    vals = [v for v in (unseen_psnr(r) for r in recs) if v is not None and math.isfinite(v)]
    return (float(np.mean(vals)), len(vals)) if vals else (None, 0)


def unseen_ranking(records: Sequence[Record], methods: Sequence[str] = COMPARED) -> dict[str, dict]:
    """``{image: {"psnr": {method: mean unseen PSNR or None}, "seeds": {method: n}, "winner": method or None}}``;
    the winner is decided only when every one of ``methods`` has a value for the image."""
    out = {}
    for image, by_method in by_image(records).items():
        psnrs, seeds = {}, {}
        for m in methods:
            psnrs[m], seeds[m] = _mean_unseen(by_method.get(m, []))
        complete = all(v is not None for v in psnrs.values())
        out[image] = {"psnr": psnrs, "seeds": seeds,
                      "winner": max(methods, key=lambda m: psnrs[m]) if complete else None}
    return out


def unseen_markdown(records: Sequence[Record], methods: Sequence[str] = COMPARED) -> str:
    """PSNR (dB) on the unseen pixels per image and method (mean over seeds, their number in parentheses), the
    best of each row in bold; *pending* where a method has no record yet."""
    ranking = unseen_ranking(records, methods)
    rows = ["| Image | " + " | ".join(methods) + " | best |", "|---" * (len(methods) + 2) + "|"]
    for image, r in ranking.items():
        cells = []
        for m in methods:
            v, n = r["psnr"][m], r["seeds"][m]
            text = "pending" if v is None else _fmt(v) + (f" ({n})" if n > 1 else "")
            cells.append(f"**{text}**" if m == r["winner"] else text)
        rows.append(f"| {display_name(image)} | " + " | ".join(cells) + f" | {r['winner'] or 'pending'} |")
    return "\n".join(rows)


def baseline_summary(records: Sequence[Record], fields: Sequence[str] = FIELDS) -> dict:
    """Counts over the images that have a record of SGDL, MGDL, every one of ``fields`` and both interpolations:
    how often each method is best on the unseen pixels, how often MGDL beats SGDL, and how often MGDL beats the
    best of ``fields``, with the ranges of the differences (dB, means over seeds)."""
    methods = (*NETWORKS, *fields, "bilinear", "bicubic")
    ranking = unseen_ranking(records, methods)
    done = {im: r for im, r in ranking.items() if r["winner"] is not None}
    wins = {m: sum(r["winner"] == m for r in done.values()) for m in methods}
    mgdl_sgdl = [r["psnr"]["MGDL"] - r["psnr"]["SGDL"] for r in done.values()]
    mgdl_fields = [r["psnr"]["MGDL"] - max(r["psnr"][m] for m in fields) for r in done.values()] if fields else []
    seeds = {m: sorted({r["seeds"][m] for r in done.values()}) for m in (*NETWORKS, *fields)}
    return {"methods": methods, "fields": tuple(fields), "n_images": len(done), "seeds": seeds,
            "n_pending": len(ranking) - len(done), "wins": wins, "images": [display_name(im) for im in done],
            "mgdl_beats_sgdl": sum(d > 0 for d in mgdl_sgdl), "mgdl_sgdl_min": min(mgdl_sgdl, default=None),
            "mgdl_sgdl_max": max(mgdl_sgdl, default=None),
            "mgdl_beats_fields": sum(d > 0 for d in mgdl_fields), "mgdl_fields_min": min(mgdl_fields, default=None),
            "mgdl_fields_max": max(mgdl_fields, default=None)}


def baseline_text(records: Sequence[Record], fields: Sequence[str] = FIELDS) -> str:
    """The finding on unseen pixels in words, with its numbers, from :func:`baseline_summary`; says *pending* when
    no image has every method yet."""
    if not fields:
        return "no neural-field baseline was asked for in this run."
    s = baseline_summary(records, fields)
    n = s["n_images"]
    if n == 0:
        return (f"pending: no image has a record of every method ({', '.join(s['methods'])}) yet, so no winner is "
                "named.")
    ranked = sorted((m for m in s["methods"] if s["wins"][m]), key=lambda m: -s["wins"][m])
    wins = ", ".join(f"{m} on {s['wins'][m]}" for m in ranked)
    better = "the neural field" if len(fields) == 1 else f"the better of the {len(fields)} neural fields"
    text = (f"On the unseen pixels of the {n} image{'s' if n > 1 else ''} with a record of every method "
            f"({', '.join(s['images'])}), the best method is {wins} (of {n}). MGDL beats SGDL on "
            f"{s['mgdl_beats_sgdl']} of {n} (MGDL minus SGDL: {s['mgdl_sgdl_min']:+.2f} to {s['mgdl_sgdl_max']:+.2f} "
            f"dB) and beats {better} on {s['mgdl_beats_fields']} of {n} (MGDL minus that field: "
            f"{s['mgdl_fields_min']:+.2f} to {s['mgdl_fields_max']:+.2f} dB), so MGDL's advantage over SGDL "
            + ("survives against them on every one of these images." if s["mgdl_beats_fields"] == n else
               "does not survive against them on any of these images." if s["mgdl_beats_fields"] == 0 else
               f"survives against them on {s['mgdl_beats_fields']} of these {n} images only."))
    counts = "; ".join(f"{m} {'-'.join(map(str, (v[0], v[-1]) if len(v) > 1 else v))}" for m, v in s["seeds"].items())
    text += f" Means over the seeds with a record (seeds per image: {counts})."
    if s["n_pending"]:
        text += (f" {s['n_pending']} more image{'s' if s['n_pending'] > 1 else ''} "
                 f"{'wait' if s['n_pending'] > 1 else 'waits'} for a record of some method (pending).")
    return text


def selection_markdown(selection_records: Sequence[Record]) -> str:
    """Validation PSNR (dB, final epoch) of every grid value per image and method, the chosen value in bold;
    *pending* where a grid value has no record yet."""
    from ..experiments.fields import GRIDS, PARAMETER, select

    chosen = select(selection_records)
    scores: dict[tuple[str, str], dict[float, float | None]] = defaultdict(dict)
    for r in selection_records:
        c = r.config
        scores[(c["image"], c["method"])][float(c[PARAMETER[c["method"]]])] = (
            None if r.diverged else r.metrics.get("psnr_val"))
    rows = ["| Image | Method | validation PSNR per value (chosen in bold) |", "|---|---|---|"]
    for (image, method), by_value in scores.items():
        pick = chosen.get((image, method))
        cells = []
        for v in GRIDS[method]:
            text = ("pending" if v not in by_value else "diverged" if by_value[v] is None else _fmt(by_value[v]))
            cell = f"{FIELD_PARAMETER[method][1]} = {v:g}: {text}"
            cells.append(f"**{cell}**" if pick is not None and pick.value == v else cell)
        rows.append(f"| {display_name(image)} | {method} | {'; '.join(cells)} |")
    return "\n".join(rows)


def grid_edge_text(selection_records: Sequence[Record]) -> str:
    """Where the chosen value is the smallest or largest of its grid (a value beyond it, not tried, might validate
    better), per method; empty when no choice lies on an edge."""
    from ..experiments.fields import GRIDS, select

    chosen = select(selection_records)
    parts = []
    for method, grid in GRIDS.items():
        picks = [c for c in chosen.values() if c.method == method]
        for edge, word in ((min(grid), "smallest"), (max(grid), "largest")):
            n = sum(c.value == edge for c in picks)
            if n:
                parts.append(f"{method}'s chosen {FIELD_PARAMETER[method][1]} is the {word} value of its grid "
                             f"({edge:g}) on {n} of {len(picks)} image{'s' if len(picks) > 1 else ''}")
    if not parts:
        return ""
    return "; ".join(parts) + ": a value beyond the grid, not tried, might validate better."


def lr_check_text(check: Sequence[Record], selection_records: Sequence[Record]) -> str:
    """SIREN at Table 1's learning rate against its own (the same selection-sized run otherwise), in words."""
    if not check:
        return "pending: the learning-rate check of SIREN has no record yet."
    c = check[0].config
    same = [r for r in selection_records if r.config["method"] == "SIREN" and r.config["image"] == c["image"]
            and r.config["omega_0"] == c["omega_0"]]
    mine = check[0].metrics
    text = (f"with Adam at Table 1's learning rate {c['learning_rate']:g}, SIREN (ω₀ = {c['omega_0']:g}) reaches "
            f"{_fmt(mine.get('psnr_train'))} dB on the training pixels of {display_name(c['image'])} after "
            f"{c['epochs']} epochs")
    if same:
        theirs = same[0].metrics
        text += (f", against {_fmt(theirs.get('psnr_train'))} dB at Sitzmann et al.'s "
                 f"{same[0].config['learning_rate']:g}")
    return text


__all__ = ["baseline_summary", "baseline_text", "by_image", "grid_edge_text", "lr_check_text", "selection_markdown", "unseen_markdown",
           "unseen_psnr", "unseen_ranking", "check_values", "gap_summary", "interpolation_markdown", "loss_figure", "paper_reference",
           "paper_setting_markdown", "provenance_caption", "reconstruction_grid", "residual_figure", "table1_markdown"]
