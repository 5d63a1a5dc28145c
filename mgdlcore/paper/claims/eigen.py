"""Claims of Secs. 6-7: eigenvalues of ``I - eta H`` during GD (Figs. 2-3, 16-24) and MSDL vs MGDL (Figs. 25-28).

Metrics of an eigenvalue-tracked record (``base.ALIASES`` maps the names of the eigenvalues and gd_dynamics kinds):
``eig_min`` (smallest eigenvalue of ``I - eta H`` over the tracked epochs), ``frac_below_minus1`` (fraction of
eigenvalue checks with an eigenvalue <= -1), ``frac_increases`` (``analysis.curves.oscillation`` of the loss). The
setting-2 timing claim reads the eigenvalue track of the series (``base.min_track``). Section-6 claims use runs
without the authors' MGDL stop rule (``stop_below`` None): with it, MGDL's eigenvalues stay above -0.95 by
construction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from ..values import (SEC5_THRESHOLDS, SEC6_AUTHORS_STOP_BELOW, SEC6_DENOISING_CASES, SEC6_IMAGES, SEC6_LEARNING_RATES,
                      SEC6_SETTING2_SGDL_STABLE_UNTIL, SEC6_STABLE_INTERVAL, SEC7_TRACKED_LR)
from .base import (Claim, Finding, Query, Undecided, by_config, final_loss, fmt, metric, min_after_first_check,
                   min_track, one)
from .learning_rate import _below

EIG_TASKS = ("eigenvalues",)
MSDL_TASKS = ("msdl", "eigenvalues", "learning_rate")
VARIANT_TASKS = ("msdl_variants",)                   # Sec. 7's conjecture, run beyond the paper
COMPACT = ("srelu", "bspline2")                      # models.COMPACT_ACTIVATIONS
NEAR = SEC6_AUTHORS_STOP_BELOW    # our reading of "near -1": the bound of the authors' own MGDL stop rule
LOWER = SEC6_STABLE_INTERVAL[0]


def _eig_query(case: str, method: str, needs: tuple[str, ...], *, image=None, level=None) -> Query:
    soft = [("learning_rate", SEC6_LEARNING_RATES[(case, method)])]
    if level is not None:
        soft += [("level", level), ("noise_level", level)]
    where = ((("image", image),) if image else ()) + (("stop_below", None),)
    return Query(EIG_TASKS, subject=case, method=method, where=where, where_if_present=tuple(soft), needs=needs)


def _all_min(sel, method: str) -> float:
    return min(metric(r, "eig_min") for r in sel[method])


def _later(sel, method: str, v: float) -> str:
    """``"; after each grade's first check: -0.59"`` where the smallest eigenvalue over the later checks differs
    from ``v``: a reader sees whether the extreme was taken before the first step (the authors' figures leave that
    check out; the verdict reads every check)."""
    later = [w for w in (min_after_first_check(r) for r in sel[method]) if w is not None]
    if not later or min(later) == v:
        return ""
    unit = "grade" if method == "MGDL" else "model"
    return f"; without each {unit}'s first check (before its first step): {min(later):.3f}"


def first_check_readings(claims: Iterable[Claim], records, profile: str) -> list[dict]:
    """For each decided claim on the smallest eigenvalue of one method (``*.MGDL.inside``, ``*.SGDL.near``,
    ``*.SGDL.below``) in ``profile``: the smallest eigenvalue over every check of the records behind its verdict,
    over all checks but each model's / grade's first (the authors' figures leave that one out), and whether the
    claim's test gives the same outcome on the latter. ``{"claim", "status", "method", "every", "later",
    "same"}``; ``later`` None (and ``same`` None) where no later check exists."""
    tests = {_mgdl_inside: ("MGDL", lambda x: x > LOWER), _sgdl_near: ("SGDL", lambda x: x <= NEAR),
             _sgdl_below: ("SGDL", lambda x: x < LOWER)}
    pool = list(records)
    out = []
    for claim in claims:
        if claim.predicate not in tests:
            continue
        v = claim.evaluate(records=pool, profile=profile)
        if v.status == "undecided":
            continue
        method, test = tests[claim.predicate]
        used = [r for r in pool if r.key in v.keys and r.config.get("method") == method]
        every = min(metric(r, "eig_min") for r in used)
        later = [w for w in (min_after_first_check(r) for r in used) if w is not None]
        low = min(later) if later else None
        out.append({"claim": claim.id, "status": v.status, "method": method, "every": every, "later": low,
                    "same": None if low is None else test(low) == test(every)})
    return out


def _mgdl_inside(sel):
    v = _all_min(sel, "MGDL")
    return Finding(v > LOWER, f"MGDL smallest eigenvalue {v:.3f}" + _later(sel, "MGDL", v) + _divergences(sel, "MGDL"))


def _sgdl_below(sel):
    v = _all_min(sel, "SGDL")
    return Finding(v < LOWER, f"SGDL smallest eigenvalue {v:.3f}" + _later(sel, "SGDL", v) + _divergences(sel, "SGDL"))


def _sgdl_near(sel):
    v = _all_min(sel, "SGDL")
    return Finding(v <= NEAR, f"SGDL smallest eigenvalue {v:.3f}" + _later(sel, "SGDL", v) + _divergences(sel, "SGDL"))


SAME_STRIDE = " (two records that kept the loss at the same stride)"
DIVERGED = "; a run that diverged fails it"


def _loss_stride(record) -> int | None:
    """Every how many epochs the record kept the training loss (config ``loss_every``)."""
    return record.config.get("loss_every")


def _more_oscillation(a: str, b: str):
    """``a``'s loss rises at a larger share of kept epochs than ``b``'s. That share depends on how often the loss
    was kept (a rise over 100 epochs can hide inside a fall over 1,000), so the two records compared kept it at
    the same stride: the finest stride both methods have a record of, the newest record of each there. A run of
    either method that diverged fails the claim: its loss grew without bound, which is neither the bounded
    oscillation of a run that goes on training (the paper's figures show every epoch) nor a stable decrease."""
    def _rises(sel):
        strides = {n: {_loss_stride(r) for r in sel[n]} for n in (a, b)}
        common = strides[a] & strides[b]
        if not common:
            raise Undecided(f"no records of {a} and {b} that kept the loss at the same stride "
                            f"({a}: {sorted(strides[a], key=str)}, {b}: {sorted(strides[b], key=str)} epochs)")
        stride = min(common, key=lambda s: (s is None, s))
        x = metric(one([r for r in sel[a] if _loss_stride(r) == stride], a), "frac_increases")
        y = metric(one([r for r in sel[b] if _loss_stride(r) == stride], b), "frac_increases")
        every = f" (loss kept every {stride:,} epochs)" if stride else ""
        return x, y, f"fraction of loss increases{every}: {a} {x:.3f}, {b} {y:.3f}"

    def predicate(sel):
        gone = [f"{n} {r.divergence}" for n in (a, b) for r in sel[n] if r.diverged]
        try:
            rises = _rises(sel)
        except Undecided:
            if not gone:
                raise
            rises = None
        if gone:
            before = f"; up to then, {rises[2]}" if rises else ""
            return Finding(False, f"{', '.join(gone)} at the figure's learning rate: its loss grew without bound "
                                  f"instead of training on{before}")
        x, y, text = rises
        return Finding(x > y, text)
    return predicate


def _setting2_timing(sel):
    track = min_track(one(sel["SGDL"], "SGDL"))
    early = [v for e, v in track if e < SEC6_SETTING2_SGDL_STABLE_UNTIL]
    late = [v for e, v in track if e >= SEC6_SETTING2_SGDL_STABLE_UNTIL]
    if not early or not late:
        raise Undecided(f"the track does not span {SEC6_SETTING2_SGDL_STABLE_UNTIL} epochs")
    ok = min(early) > LOWER and min(late) <= NEAR
    return Finding(ok, f"SGDL smallest eigenvalue before {SEC6_SETTING2_SGDL_STABLE_UNTIL:,} epochs "
                       f"{min(early):.3f}, after {min(late):.3f}")


def _divergences(sel, method: str) -> str:
    """``"; SGDL diverged at epoch 6"`` for the diverged records of ``method`` among those a verdict reads (their
    eigenvalues were tracked only until then), else ``""``."""
    ends = [r.divergence for r in sel[method] if r.diverged]
    return f"; {method} {', '.join(ends)}" if ends else ""


def _setting2_accuracy(sel):
    runs = {name: one(sel[name], name) for name in ("SGDL", "MGDL")}
    loss = {name: final_loss(r, "final_val_loss") for name, r in runs.items()}
    ends = {name: r.divergence if r.diverged else fmt(loss[name]) for name, r in runs.items()}
    return Finding(loss["MGDL"] < loss["SGDL"], f"final validation loss MGDL {ends['MGDL']}, SGDL {ends['SGDL']}")


def _pair(case: str, needs: tuple[str, ...], **kw) -> dict[str, Query]:
    return {m: _eig_query(case, m, needs, **kw) for m in ("SGDL", "MGDL")}


def eigen_claims() -> list[Claim]:
    out: list[Claim] = []
    fig = {"setting1": "Figure 2", "setting2": "Figure 16", "resolution_chart": "Figure 3", "cameraman": "Figure 18",
           "barbara": "Figure 19", "butterfly": "Figure 20"}
    lr = {c: (SEC6_LEARNING_RATES[(c, "SGDL")], SEC6_LEARNING_RATES[(c, "MGDL")]) for c in fig}
    eig = ("eig_min",)
    osc = ("frac_increases",)
    vals = ("SEC6_LEARNING_RATES", "SEC6_STABLE_INTERVAL")
    lr_methods = ("SGDL", "MGDL")
    for case in ("setting1", "setting2"):
        s_lr, m_lr = lr[case]
        where = f"Sec. 6, {fig[case]}"
        label = f"Setting {case[-1]} (SGDL eta = {fmt(s_lr)}, MGDL eta = {fmt(m_lr)})"
        if case == "setting1":
            out.append(Claim("S6.setting1.SGDL.below", where, f"{label}: SGDL's smallest eigenvalue of I - eta H "
                             "remains significantly below -1", _pair(case, eig), _sgdl_below,
                             reading="SGDL's smallest tracked eigenvalue < -1", values=vals))
        else:
            out.append(Claim("S6.setting2.SGDL.timing", where, f"{label}: SGDL's eigenvalues all lie in (-1, 1) "
                             "for the first 2x10^5 epochs; afterwards the smallest drops to -1",
                             {"SGDL": _eig_query(case, "SGDL", eig)}, _setting2_timing,
                             reading=f"smallest eigenvalue > -1 before 2x10^5 epochs and <= {NEAR} after",
                             values=vals + ("SEC6_SETTING2_SGDL_STABLE_UNTIL",)))
            acc = {m: Query(("eigenvalues", "learning_rate"), subject=case, method=m, needs=("final_val_loss",),
                            where_if_present=(("learning_rate", SEC6_LEARNING_RATES[(case, m)]),)) for m in lr_methods}
            out.append(Claim("S6.setting2.accuracy", "Sec. 6, Figure 17", f"{label}: MGDL achieves much better "
                             "prediction accuracy than SGDL", acc, _setting2_accuracy,
                             reading="MGDL's final validation loss below SGDL's", values=vals))
        out.append(Claim(f"S6.{case}.MGDL.inside", where, f"{label}: nearly all of MGDL's smallest eigenvalues stay "
                         "within (-1, 1) across grades 1-4", _pair(case, eig), _mgdl_inside,
                         reading="MGDL's smallest tracked eigenvalue (every grade) > -1", values=vals))
        out.append(Claim(f"S6.{case}.oscillation", where, f"{label}: SGDL's loss oscillates, MGDL's decreases "
                         "stably", _pair(case, osc), _more_oscillation("SGDL", "MGDL"),
                         reading="SGDL's loss rises at a larger fraction of kept epochs than MGDL's" + SAME_STRIDE + DIVERGED,
                         values=vals))
    for image in SEC6_IMAGES:
        s_lr, m_lr = lr[image]
        where = f"Sec. 6, {fig[image]}"
        label = f"{image} (SGDL eta = {fmt(s_lr)}, MGDL eta = {fmt(m_lr)})"
        out.append(Claim(f"S6.{image}.SGDL.near", where, f"{label}: SGDL's smallest eigenvalue of I - eta H comes "
                         "close to -1", _pair(image, eig), _sgdl_near,
                         reading=f"SGDL's smallest tracked eigenvalue <= {NEAR}", values=vals))
        out.append(Claim(f"S6.{image}.MGDL.inside", where, f"{label}: all of MGDL's eigenvalues fall in (-1, 1)",
                         _pair(image, eig), _mgdl_inside, reading="MGDL's smallest tracked eigenvalue > -1",
                         values=vals))
        out.append(Claim(f"S6.{image}.oscillation", where, f"{label}: SGDL's loss oscillates, MGDL's decreases "
                         "stably", _pair(image, osc), _more_oscillation("SGDL", "MGDL"),
                         reading="SGDL's loss rises at a larger fraction of kept epochs than MGDL's" + SAME_STRIDE + DIVERGED,
                         values=vals))
    for n, (image, level) in enumerate(SEC6_DENOISING_CASES):
        where = f"Sec. 6, Figure {21 + n}"
        label = f"denoising {image}, noise {level}"
        kw = dict(image=image, level=level)
        out.append(Claim(f"S6.denoising.{image}{level}.SGDL.near", where, f"{label}: SGDL's smallest eigenvalue "
                         "approaches -1", _pair("denoising", eig, **kw), _sgdl_near,
                         reading=f"SGDL's smallest tracked eigenvalue <= {NEAR}", values=vals))
        out.append(Claim(f"S6.denoising.{image}{level}.MGDL.inside", where, f"{label}: MGDL keeps all eigenvalues "
                         "within (-1, 1)", _pair("denoising", eig, **kw), _mgdl_inside,
                         reading="MGDL's smallest tracked eigenvalue > -1", values=vals))
    return out


def _msdl_query(setting: int, method: str, needs: tuple[str, ...]) -> Query:
    return Query(MSDL_TASKS, subject=f"setting{setting}", method=method,
                 where_if_present=(("learning_rate", SEC7_TRACKED_LR[(setting, method)]),), needs=needs)


def _msdl_eig(sel):
    fm, fg = metric(one(sel["MSDL"], "MSDL"), "frac_below_minus1"), metric(one(sel["MGDL"], "MGDL"), "frac_below_minus1")
    em, eg = metric(one(sel["MSDL"], "MSDL"), "eig_min"), metric(one(sel["MGDL"], "MGDL"), "eig_min")
    ok = fm > fg or (fm == fg and em < eg and em <= NEAR)
    return Finding(ok, f"fraction of tracked eigenvalues below -1: MSDL {fm:.3f}, MGDL {fg:.3f}; smallest "
                       f"eigenvalue MSDL {em:.3f}, MGDL {eg:.3f}")


def _msdl_sensitivity(setting: int):
    threshold = SEC5_THRESHOLDS[setting]

    def predicate(sel):
        a, b = _below(sel["MSDL"], threshold), _below(sel["MGDL"], threshold)
        common = sorted(set(a) & set(b))
        if len(common) < 2:
            raise Undecided("fewer than two learning rates run by both methods")
        na, nb = sum(a[lr] for lr in common), sum(b[lr] for lr in common)
        return Finding(na < nb, f"loss < {fmt(threshold)} at {na} of {len(common)} learning rates for MSDL, "
                                f"{nb} for MGDL")
    return predicate


def msdl_claims() -> list[Claim]:
    out: list[Claim] = []
    for setting, fig in ((1, "Figure 25"), (2, "Figure 26")):
        label = (f"Setting {setting} (MSDL eta = {fmt(SEC7_TRACKED_LR[(setting, 'MSDL')])}, MGDL eta = "
                 f"{fmt(SEC7_TRACKED_LR[(setting, 'MGDL')])})")
        needs = ("eig_min", "frac_below_minus1")
        out.append(Claim(f"S7.setting{setting}.eigenvalues", f"Sec. 7, {fig}", f"{label}: MSDL's eigenvalues are "
                         "near or below -1 more often than MGDL's",
                         {m: _msdl_query(setting, m, needs) for m in ("MSDL", "MGDL")}, _msdl_eig,
                         reading=f"MSDL's fraction of tracked eigenvalues below -1 exceeds MGDL's (if equal: MSDL's "
                                 f"smallest eigenvalue is lower and <= {NEAR})", values=("SEC7_TRACKED_LR",)))
        out.append(Claim(f"S7.setting{setting}.oscillation", f"Sec. 7, {fig}", f"{label}: MSDL's training loss "
                         "oscillates more than MGDL's",
                         {m: _msdl_query(setting, m, ("frac_increases",)) for m in ("MSDL", "MGDL")},
                         _more_oscillation("MSDL", "MGDL"),
                         reading="MSDL's loss rises at a larger fraction of kept epochs than MGDL's" + SAME_STRIDE,
                         values=("SEC7_TRACKED_LR",)))
        out.append(Claim(f"S7.setting{setting}.sensitivity", "Sec. 7, Figure 28", f"Setting {setting}: MSDL is more "
                         "sensitive to the learning rate than MGDL",
                         {m: Query(MSDL_TASKS, subject=f"setting{setting}", method=m, needs=("final_train_loss",))
                          for m in ("MSDL", "MGDL")}, _msdl_sensitivity(setting),
                         reading="on the common learning-rate grid, MSDL reaches the Sec. 5 loss threshold at fewer "
                                 "learning rates than MGDL", values=("SEC5_THRESHOLDS",)))
    return out


def _variant_query(setting: int, structure: str, activation: str | None) -> Query:
    """The sweep and tracked run of one MSDL variant (``activation`` None: ReLU, which configs omit). The paper's
    MSDL with ReLU is also found among Sec. 7's own runs (task ``msdl``): their configs are those of its
    ``msdl_variants`` runs but for the task's name (tested), so a profile that ran Sec. 7 need not run it again."""
    where = (("structure", structure),) + ((("activation", activation),) if activation else ())
    paper = (structure, activation) == ("msdl", None)
    return Query(VARIANT_TASKS + (("msdl",) if paper else ()), subject=f"setting{setting}", method="MSDL", where=where,
                 where_if_present=(() if activation else (("activation", "relu"),)), needs=("diverged",),
                 listed=listed_paper_msdl if paper else None)


@functools.lru_cache(maxsize=32)
def _variant_configs(profile: str, setting: int, seed: int) -> dict[tuple, dict]:
    from ...experiments import gd_dynamics

    return {(c.learning_rate, c.track_every): c.to_dict()
            for c in gd_dynamics.configs(profile, VARIANT_TASKS, settings=[setting], seed=seed, device="cpu")
            if (c.structure, c.activation) == ("msdl", "relu")}


def listed_paper_msdl(config: Mapping, profile: str) -> dict | None:
    """A record of the conjecture's own task as it is; a record of Sec. 7's runs (task ``msdl``) only where it is,
    but for the task's name and its device, the run of the paper's MSDL that ``profile`` lists for the conjecture
    (in the paper profile every one is; in the reduced ones, whose conjecture runs fewer epochs, none)."""
    if config.get("task") in VARIANT_TASKS:
        return dict(config)
    try:
        own = _variant_configs(profile, int(config["setting"]), int(config.get("seed", 0)))
    except (KeyError, TypeError, ValueError):
        return None
    match = own.get((config.get("learning_rate"), config.get("track_every")))
    return None if match is None else {**match, "task": config.get("task"), "device": config.get("device")}


def _own_first(records: list) -> list:
    """The records of the conjecture's own task where it has any, else those of Sec. 7's runs."""
    own = [r for r in records if r.config.get("task") in VARIANT_TASKS]
    return own or list(records)


def more_stable(d: int | None, d0: int | None, f: float | None, f0: float | None) -> bool | None:
    """Whether a variant is more stable than the paper's MSDL: it diverged at no more step sizes (``d`` against
    ``d0``) *and* had a smaller share of eigenvalue checks <= -1 (``f`` against ``f0``). Either test failing rules it
    out alone (False); None while a value that could still decide it is missing."""
    if (None not in (f, f0) and f >= f0) or (None not in (d, d0) and d > d0):
        return False
    return None if None in (d, d0, f, f0) else True


def _sweep_and_tracked(records) -> tuple[list, dict[float, bool], list]:
    """(the sweep's records, {step size: diverged} of the sweep, the tracked runs) of one network, its own task's
    records first."""
    sweep = _own_first([r for r in records if not r.config.get("track_every")])
    tracked = _own_first([r for r in records if r.config.get("track_every")])
    return sweep, {float(lr): bool(r.diverged) for lr, r in by_config(sweep, "learning_rate").items()}, tracked


def _stability(records, what: str) -> tuple[dict[float, bool], float, str]:
    """({step size: diverged} of the sweep, empty while it has fewer than two step sizes; share of eigenvalue checks
    <= -1 of the tracked run; the task they come from) of the paper's MSDL."""
    sweep, diverged, tracked = _sweep_and_tracked(records)
    run = one(tracked, f"the tracked run of {what}")
    tasks = "/".join(sorted({r.config.get("task") for r in sweep} | {run.config.get("task")}))
    return (diverged if len(diverged) >= 2 else {}), metric(run, "frac_below_minus1"), tasks


def _variant_finding(records, what: str, base: dict[float, bool], f0: float) -> tuple[bool | None, str]:
    """(:func:`more_stable` of one deeper, wider variant against the paper's MSDL, the numbers): the sweeps are
    compared on the step sizes both ran (at least two)."""
    _, diverged, tracked = _sweep_and_tracked(records)
    common = sorted(set(base) & set(diverged))
    d0, d = (sum(base[lr] for lr in common), sum(diverged[lr] for lr in common)) if len(common) >= 2 else (None, None)
    f = metric(one(tracked, f"the tracked run of {what}"), "frac_below_minus1") if tracked else None
    text = ", ".join([f"{d} of {len(common)} diverged" if d is not None else "no sweep on two common step sizes yet",
                      f"{f:.2f} of checks <= -1" if f is not None else "no tracked run yet"])
    if d is not None and len(common) != len(base):
        text += f" (paper's MSDL: {d0} of these {len(common)} step sizes)"
    return more_stable(d, d0, f, f0), f"{what}: {text}"


def _conjecture(sel):
    base, f0, tasks = _stability(sel["paper"], "the paper's MSDL")
    source = "" if tasks in VARIANT_TASKS else f" (runs of task {tasks})"
    swept = f"{sum(base.values())} of {len(base)} step sizes diverged" if base else "no sweep yet"
    parts = [f"paper's MSDL (ReLU){source}: {swept}, {f0:.2f} of checks <= -1"]
    found = [_variant_finding(sel[act], f"deeper, wider MSDL with {act}", base, f0) for act in COMPACT]
    parts += [text for _, text in found]
    if any(better for better, _ in found):
        return Finding(True, "; ".join(parts))
    if all(better is False for better, _ in found):
        return Finding(False, "; ".join(parts))
    raise Undecided("no variant is more stable yet and not every one is ruled out: " + "; ".join(parts))


def msdl_conjecture_claims() -> list[Claim]:
    """Sec. 7's closing conjecture, tested by the task ``msdl_variants`` (chapter 13)."""
    return [Claim(f"S7.setting{setting}.conjecture", "Sec. 7, conclusion",
                  f"Setting {setting}: improved stability for MSDL may be possible with compactly supported "
                  "activations and deeper, wider networks",
                  {"paper": _variant_query(setting, "msdl", None),
                   **{act: _variant_query(setting, "msdl-deep", act) for act in COMPACT}}, _conjecture,
                  reading="with at least one compactly supported activation (sReLU or the quadratic B-spline), the "
                          "deeper, wider MSDL ([16] x 6 per scale) diverges at no more step sizes of the same sweep "
                          "and has a smaller share of eigenvalue checks <= -1 at the paper's MSDL step size than "
                          "the paper's MSDL with ReLU, both run at the same epochs (the paper's MSDL: this task's runs, else "
                          "Sec. 7's runs of the same configuration). One variant that passes both tests confirms "
                          "it before the other is run; a variant is ruled out by either test alone, so the claim is "
                          "refuted once both are", values=("SEC7_TRACKED_LR",), optional=COMPACT)
            for setting in (1, 2)]
