"""Tables 2-3 and Figures 8-14 from restoration records: what chapters 03 (denoising) and 04 (deblurring) call.

:func:`collect` gathers the records of a profile's grid through :func:`mgdlcore.experiments.runner.run` (which
reuses current records and, with ``train="missing"``, computes the others; with ``train="never"`` a missing record
is kept as *pending* with its reason). Everything else here reads records only: settings with their sources, the
Table-2/3-shaped Markdown table beside the paper's values, the figures, and the check of a chapter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..device import describe_device, resolve_device
from ..experiments import restoration as R
from ..experiments.provenance import git_state
from ..experiments.records import Record
from ..experiments.runner import RecordUnavailable, run, run_many
from ..paper import values as paper_values
from ..paper.deviations import allowed_deviation
from .paths import as_list, references_path, resolve_results_dir

PAPER_TABLES = {"denoising": ("table2", paper_values.TABLE2), "deblurring": ("table3", paper_values.TABLE3)}
TABLE_TITLES = {"table2": "Table 2", "table3": "Table 3"}
LEVEL_NAMES = {"denoising": "noise sigma (0-255)", "deblurring": "blur sigma (pixels)"}
METHOD_LABELS = {"SGDL": "SGDL (29)", "MGDL": "MGDL (33)", "observed": "corrupted input", "tv": "TV (discrepancy)",
                 "tv_oracle": "TV (oracle)", "wiener": "Wiener (discrepancy)", "wiener_oracle": "Wiener (oracle)"}
# where each setting of a config comes from: (source, name in mgdlcore.paper.values or a note)
SETTING_SOURCES = {
    "structure": ("paper", "Sec. 4: (29) for SGDL, (33) for MGDL (Appendix D)"),
    "level": ("paper", "Sec. 4: noise sigma 10-60 (Table 2), blur sigma 3, 5, 7 (Table 3)"),
    "deblur_noise": ("paper", "Sec. 4 'Image deblurring': noise sigma 3"),
    "size": ("paper", "the images at their stored size"),
    "optimizer": ("paper", "Appendix C, (21): Adam"),
    "epochs": ("authors' code", "SEC4_RESTORATION_EPOCHS"),
    "learning_rate": ("authors' code", "SEC4_RESTORATION_LR"),
    "alpha": ("authors' code", "SEC4_ROF_ALPHA"),
    "beta": ("authors' code", "SEC4_ROF_BETA"),
    "lam": ("authors' code", "SEC4_ROF_LAMBDA"),
    "eval_every": ("authors' code", "SEC4_RESTORATION_EVAL_EVERY"),
    "init": ("authors' code", "Glorot normal weights, N(0, 0.01^2) biases (JAX stax defaults)"),
    "noise_seed": ("ours", "numpy default_rng; the authors draw the noise from JAX PRNGKey(0)"),
    "loss_every": ("ours", "bookkeeping only"),
    "relu_prime_at_zero": ("ours", "torch's ReLU'(0) = 0"),
    "seed": ("ours", "torch generator of the initial parameters"),
}


@dataclass
class RestorationResults:
    """The records of one task and profile, by ``(image, level, method)``, and the pending points with reasons."""

    task: str
    profile: str
    images: list[str]
    levels: list[float]
    methods: list[str]
    configs: dict[tuple, R.RestorationConfig]
    results_dir: Path
    records: dict[tuple, Record] = field(default_factory=dict)
    pending: dict[tuple, str] = field(default_factory=dict)

    def get(self, image: str, level: float, method: str) -> Record | None:
        return self.records.get((image, float(level), method))

    def psnr(self, image: str, level: float, method: str) -> float | None:
        rec = self.get(image, level, method)
        return None if rec is None else rec.metrics.get("psnr")


def plan(task: str, profile: str, *, images=None, levels=None, seed: int = 0, device: str = "auto",
         results_dir=None) -> RestorationResults:
    """The configs of ``task``'s grid under ``profile``, built and checked before anything runs (``images`` and
    ``levels``: lists or strings as papermill passes them; None: the profile's grid)."""
    images = None if images is None else as_list(images)
    levels = None if levels is None else as_list(levels, item=float)
    configs = R.configs(profile, task, images, levels, seeds=(seed,), device=device)
    return RestorationResults(task, profile, list(dict.fromkeys(c.image for c in configs)),
                              list(dict.fromkeys(c.level for c in configs)), list(R.METHODS[task]),
                              {(c.image, c.level, c.method): c for c in configs},
                              resolve_results_dir(results_dir, profile))


def fill(results: RestorationResults, *, train: str = "missing", progress: bool = False) -> RestorationResults:
    """Get every record of ``results`` through ``runner.run`` (reused when current; computed when missing unless
    ``train="never"``, in which case the point is kept as pending with the reason)."""
    for key, config in results.configs.items():
        try:
            results.records[key] = run(config, results_dir=results.results_dir, profile=results.profile,
                                       train=train, progress=progress)
            results.pending.pop(key, None)
        except RecordUnavailable as exc:
            results.pending[key] = str(exc)
    return results


def collect(task: str, profile: str, *, train: str = "missing", progress: bool = False, **kwargs
            ) -> RestorationResults:
    """:func:`plan` then :func:`fill`."""
    return fill(plan(task, profile, **kwargs), train=train, progress=progress)


def header_text(results: RestorationResults, *, seed: int, device: str, train: str) -> str:
    """Profile, device, seed, commit of this checkout, results folder and training mode, in one line."""
    commit, dirty = git_state()
    return (f"task {results.task}, profile {results.profile!r}, device {describe_device(resolve_device(device))}, "
            f"seed {seed}, commit {(commit or 'unknown')[:10]}{'+dirty' if dirty else ''}, train={train!r}, "
            f"{len(results.configs)} runs in the grid")


def detail_point(results: RestorationResults) -> tuple[str, float]:
    """The point a chapter shows in detail: the first image, at ``restoration.DETAIL_LEVEL`` when in the grid."""
    level = R.DETAIL_LEVEL[results.task]
    return results.images[0], (float(level) if level in results.levels else results.levels[0])


# ------------------------------------------------------------------------------------------------ text
def _commit(rec: Record) -> str:
    p = rec.provenance
    return (p.get("commit") or "unknown")[:7] + ("+dirty" if p.get("dirty") else "")


def provenance_summary(records: Sequence[Record]) -> str:
    """``profile ..., device(s) ..., seed(s) ..., commit(s) ...`` over ``records`` (for captions)."""
    if not records:
        return "no records"
    def join(values):
        return ", ".join(sorted({str(v) for v in values}))
    return (f"profile {join(r.profile for r in records)}; device {join(r.provenance.get('device') for r in records)}; "
            f"seed {join(r.config.get('seed') for r in records if r.config.get('method') in R.NETWORKS) or '-'}; "
            f"commit {join(_commit(r) for r in records)}")


def settings_text(results: RestorationResults) -> str:
    """The settings of the networks in this profile beside the paper profile's, each with its source."""
    image, level = detail_point(results)
    lines = [f"task {results.task}, profile {results.profile!r}: images {', '.join(results.images)}; "
             f"{LEVEL_NAMES[results.task]} {', '.join(f'{lv:g}' for lv in results.levels)}"]
    for method in R.NETWORKS:
        ours = results.configs[(image, level, method)]
        paper = R.make_config(results.task, "butterfly", method, level, "paper", device=ours.device)
        lines.append(f"{method}:")
        for name, (source, where) in SETTING_SOURCES.items():
            value, pv = getattr(ours, name), getattr(paper, name)
            if name == "deblur_noise" and results.task == "denoising":
                continue
            diff = "" if value == pv else f"   <- differs from the paper profile: {pv}"
            lines.append(f"  {name:18s} {value!s:10s} [{source}: {where}]{diff}")
    return "\n".join(lines)


def _fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.2f}"


def table_markdown(results: RestorationResults) -> str:
    """Table 2 (denoising) or 3 (deblurring): rows (level, method), per image our PSNR beside the paper's.

    A MyST ``table`` directive whose caption holds the provenance (profile, devices, seeds, commits) and says
    whether the run is the paper's setting. Pending records show as *pending*; oracle rows are labelled.
    """
    name, paper = PAPER_TABLES[results.task]
    recs = list(results.records.values())
    setting = ("the paper's setting (paper profile)" if results.profile == "paper" else
               f"a reduced run ({results.profile} profile), not the paper's setting; the paper's values are for its own")
    caption = (f"PSNR (dB) of {results.task} against the clean image: ours beside the paper's {TABLE_TITLES[name]}. Ours: "
               f"{setting}. {provenance_summary(recs)}.")
    head = "| " + LEVEL_NAMES[results.task] + " | method | " + " | ".join(
        f"{im} (ours) | {im} (paper)" for im in results.images) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(results.images))]
    for lv in results.levels:
        for m in results.methods:
            cells = []
            for im in results.images:
                key = (im, lv, m)
                rec = results.records.get(key)
                ours = "pending" if key in results.pending else ("–" if rec is None else _fmt(rec.metrics.get("psnr")))
                if rec is not None and rec.diverged:
                    ours += " (diverged)"
                pv = paper.get(im, {}).get(m, {}).get(int(lv)) if float(lv).is_integer() else None
                cells += [ours, "" if pv is None else _fmt(pv)]
            lines.append(f"| {lv:g} | {METHOD_LABELS[m]} | " + " | ".join(cells) + " |")
    return (f"```{{table}} {caption}\n:name: tbl-{results.task}\n\n" + "\n".join(lines) + "\n```")


def seed_study(task: str, profile: str, *, train: str = "missing", device: str = "auto", results_dir=None,
               progress: bool = False) -> tuple[list[Record], dict[str, str]]:
    """The network records of the profile's seed study (``seed_images`` x levels x SGDL/MGDL x ``seeds`` of
    ``restoration.PROFILE_SETTINGS``) and ``{label: reason}`` for those without one; empty without a study."""
    s = R.PROFILE_SETTINGS[profile]
    images = tuple(s.get("seed_images", ()))
    if not images:
        return [], {}
    configs = R.configs(profile, task, images, methods=R.NETWORKS, seeds=s["seeds"], device=device)
    return run_many(configs, results_dir=resolve_results_dir(results_dir, profile), profile=profile, train=train,
                    progress=progress)


def seed_table_markdown(task: str, records: Sequence[Record]) -> str:
    """Per image and level: SGDL and MGDL PSNR as mean ± sd over seeds, MGDL - SGDL for each seed, in how many
    seeds MGDL is above SGDL, and the paper's values; a MyST ``table`` with the provenance in its caption."""
    name, paper = PAPER_TABLES[task]
    by: dict[tuple, dict[int, float | None]] = {}
    for r in records:
        by.setdefault((r.config["image"], float(r.config["level"]), r.config["method"]), {})[r.config["seed"]] = (
            None if r.diverged else r.metrics.get("psnr"))

    def stat(vals):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "–"
        sd = f" ± {float(np.std(vals, ddof=1)):.2f}" if len(vals) > 1 else ""
        return f"{float(np.mean(vals)):.2f}{sd} ({len(vals)})"

    lines = [f"| image | {LEVEL_NAMES[task]} | SGDL, mean ± sd (seeds) | MGDL, mean ± sd (seeds) | MGDL − SGDL per seed "
             "| MGDL above SGDL | SGDL (paper) | MGDL (paper) |", "|---" * 8 + "|"]
    for image, level in dict.fromkeys((im, lv) for im, lv, _ in by):
        sg, mg = by.get((image, level, "SGDL"), {}), by.get((image, level, "MGDL"), {})
        common = sorted(k for k in set(sg) & set(mg) if sg[k] is not None and mg[k] is not None)
        gaps = [mg[k] - sg[k] for k in common]
        pv = paper.get(image, {})
        lines.append(f"| {image} | {level:g} | {stat(sg.values())} | {stat(mg.values())} | "
                     + ", ".join(f"{g:+.2f}" for g in gaps) + f" | {sum(g > 0 for g in gaps)} of {len(gaps)} | "
                     f"{_fmt(pv.get('SGDL', {}).get(int(level)))} | {_fmt(pv.get('MGDL', {}).get(int(level)))} |")
    caption = (f"{task.capitalize()}: PSNR (dB) over initialisation seeds, against the clean image (the noise is the "
               f"same draw for every seed). {provenance_summary(list(records))}. A reduced run where the profile is "
               "not paper; the paper reports one run per point.")
    return f"```{{table}} {caption}\n:name: tbl-{task}-seeds\n\n" + "\n".join(lines) + "\n```"


def pending_text(results: RestorationResults) -> str:
    """One line per pending record with the reason (empty when nothing is pending)."""
    return "\n".join(f"pending: {reason}" for reason in results.pending.values())


def comparisons_text(results: RestorationResults) -> str:
    """MGDL vs SGDL vs TV over the points with records (dB, positive favours the first), and MGDL's best grade."""
    lines = []
    points = [(im, lv) for im in results.images for lv in results.levels]
    for a, b in (("MGDL", "SGDL"), ("MGDL", "tv"), ("SGDL", "tv")):
        d = [(im, lv, results.psnr(im, lv, a) - results.psnr(im, lv, b)) for im, lv in points
             if results.psnr(im, lv, a) is not None and results.psnr(im, lv, b) is not None]
        if d:
            lines.append(f"{METHOD_LABELS[a]} - {METHOD_LABELS[b]}: {sum(x > 0 for *_, x in d)}/{len(d)} points "
                         "positive; " + ", ".join(f"{im} {lv:g}: {x:+.2f}" for im, lv, x in d))
    best = []
    for im, lv in points:
        rec = results.get(im, lv, "MGDL")
        grades = [g for g in (rec.series.get("psnr_per_grade", []) if rec else []) if g["psnr"] is not None]
        if grades:
            best.append(f"{im} {lv:g}: grade {max(grades, key=lambda g: g['psnr'])['grade']}")
    if best:
        lines.append("MGDL grade with the best PSNR: " + ", ".join(best))
    return "\n".join(lines) or "no point has records yet"


# ------------------------------------------------------------------------------------------------ figures
def detail_figure(results: RestorationResults, image: str, level: float):
    """Clean, corrupted, TV, SGDL and MGDL after each grade at one point, PSNR in the titles (Figs. 8-14)."""
    panels = []
    mgdl, sgdl, tv = (results.get(image, level, m) for m in ("MGDL", "SGDL", "tv"))
    base = next((r for r in (mgdl, sgdl, tv) if r is not None), None)
    if base is not None:
        arr = base.arrays()
        panels += [("clean", arr["clean"]), (f"corrupted\n{_fmt(base.metrics['psnr_observed'])} dB", arr["observed"])]
    if tv is not None:
        panels.append((f"TV (discrepancy)\n{_fmt(tv.metrics['psnr'])} dB", tv.arrays()["tv"]))
    if sgdl is not None:
        panels.append((f"SGDL\n{_fmt(sgdl.metrics['psnr'])} dB", sgdl.arrays()["SGDL"]))
    if mgdl is not None:
        arr = mgdl.arrays()
        panels += [(f"MGDL grade {g['grade']}\n{_fmt(g['psnr'])} dB", arr[f"grade {g['grade']}"])
                   for g in mgdl.series.get("psnr_per_grade", [])]
    ncols = 4
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.75 * ncols, 2.05 * nrows), squeeze=False)
    for ax, (title, img) in zip(axes.flat, panels):
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    if not panels:
        axes.flat[0].text(0.5, 0.5, f"{image} at {level:g}: records pending", ha="center", va="center")
    fig.tight_layout()
    return fig


def psnr_curves_figure(results: RestorationResults, image: str, level: float):
    """PSNR against the clean image during training, SGDL (left) and MGDL with grades end to end (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
    observed = None
    for ax, method in zip(axes, R.NETWORKS):
        rec = results.get(image, level, method)
        ax.set_title(METHOD_LABELS[method] + ("" if rec else " (pending)"), fontsize=9)
        ax.set_xlabel("epoch" + (" (grades end to end)" if method == "MGDL" else ""))
        if rec is None:
            continue
        observed = rec.metrics["psnr_observed"]
        offset = 0
        for g in rec.series["grades"]:
            ep = np.asarray(g["eval_epochs"], float) + offset
            ps = np.array([np.nan if v is None else v for v in g["psnr"]], float)
            ax.plot(ep, ps, lw=1, color="C0" if method == "SGDL" else f"C{g['grade']}",
                    label=None if g["grade"] is None else f"grade {g['grade']}")
            if offset:
                ax.axvline(offset, ls=":", c="0.5", lw=0.8)
            offset += g["epochs_run"]
        if observed is not None:
            ax.axhline(observed, c="gray", lw=0.8, ls="--", label="corrupted input")
        ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    axes[0].set_ylabel("PSNR (dB)")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------ checks
@dataclass
class CheckResult:
    """What a chapter's check compared (one line each) and what failed (empty: the check passes)."""

    compared: list[str]
    failures: list[str]

    def __str__(self) -> str:
        return "\n".join(self.compared + [f"FAILED {f}" for f in self.failures])


def reference_values(results: RestorationResults) -> dict[str, float]:
    """``{"image/level/method": psnr}`` of every record (the form of ``chapters/references/<task>.json``)."""
    return {f"{im}/{lv:g}/{m}": rec.metrics["psnr"] for (im, lv, m), rec in results.records.items()
            if rec.metrics.get("psnr") is not None}


def check(results: RestorationResults) -> CheckResult:
    """The chapter's check: ``smoke`` against ``chapters/references/<task>.json`` (its tolerance), ``paper``
    against Table 2/3 within ``SEC4_PSNR_TOLERANCE_DB`` unless the deviation is listed in ``mgdlcore.paper``;
    ``cpu`` records are checked by ``mgdl-results verify --rerun`` instead (nothing compared here)."""
    compared, failures = [], []
    if results.profile == "smoke":
        ref = json.loads(references_path(results.task).read_text())
        tol, values = float(ref["tolerance_db"]), reference_values(results)
        grid = {f"{im}/{lv:g}/{m}" for im, lv, m in results.configs}
        for key, want in ref["values"].items():
            if key not in grid:      # a user's own grid: only the reference points it contains are compared
                continue
            got = values.get(key)
            line = f"{key}: {_fmt(got)} dB vs reference {want:.2f} dB (tolerance {tol} dB)"
            (compared if got is not None and abs(got - want) <= tol else failures).append(line)
        if not compared and not failures:
            compared.append(f"no smoke reference value for these points (references cover {', '.join(ref['values'])})")
    elif results.profile == "paper":
        name, paper = PAPER_TABLES[results.task]
        tol = paper_values.SEC4_PSNR_TOLERANCE_DB
        for (im, lv, m), rec in results.records.items():
            pv = paper.get(im, {}).get(m, {}).get(int(lv))
            if pv is None:
                continue
            got = rec.metrics.get("psnr")
            line = f"{im} {lv:g} {m}: {_fmt(got)} dB vs paper {pv:.2f} dB (tolerance {tol} dB)"
            reason = allowed_deviation(name, im, m, int(lv))
            if got is not None and abs(got - pv) <= tol:
                compared.append(line)
            elif reason:
                compared.append(f"{line}: listed deviation ({reason})")
            else:
                failures.append(line)
        if not compared and not failures:
            compared.append(f"no paper-profile records of {results.task} yet: nothing compared with {TABLE_TITLES[name]}")
    else:
        compared.append(f"{results.profile}-profile records are checked by `mgdl-results verify --rerun`, which "
                        "recomputes them with the current code; nothing is compared here")
    return CheckResult(compared, failures)
