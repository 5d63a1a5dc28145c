"""Claims of Sec. 5 (Figures 1 and 15): loss thresholds and learning-rate intervals of SGDL and MGDL.

A run "is below the threshold" when it did not diverge and its final training loss is finite and below the
threshold of the setting (``SEC5_THRESHOLDS``). Learning rates are compared with the grid the records hold, and a
claim is decided only once every learning rate of its profile's grid (``gd_dynamics.PROFILE_SETTINGS``) has a record:
a sweep that a campaign has run part of decides nothing.
"""

from __future__ import annotations

import math

from ...experiments.gd_dynamics import PROFILE_SETTINGS
from ..values import (SEC5_IMAGES, SEC5_IMAGES_SGDL_FAILS_NEAR_1, SEC5_INTERVALS, SEC5_SGDL_BEST_LR_SETTING2,
                      SEC5_SGDL_FAILS_ABOVE, SEC5_THRESHOLDS)
from .base import Claim, Finding, Query, Undecided, by_config, final_loss, fmt

TASKS = ("learning_rate",)
LOSS = "final_train_loss"
NEAR_ONE = 0.8            # our reading of "a learning rate near 1" (Sec. 5, Figure 15)
FAIL_DROP_DB = 5.0        # our reading of "fails to train": diverged, or this far below the method's best PSNR
STABLE_DROP_DB = 2.0      # our reading of "remains stable": not diverged and within this of the method's best


def _loss(record) -> float:
    """Final training loss; +inf for a diverged run (NaN in the paper's Figure 1)."""
    return final_loss(record, LOSS)


def _require_grid(records, grid: str) -> None:
    """Raise :class:`Undecided` unless ``records`` hold every learning rate of their profile's ``grid``
    (``"synthetic_lrs"`` or ``"image_lrs"``); a profile of one's own (not in PROFILE_SETTINGS) is taken as run."""
    profiles = {r.profile for r in records}
    expected = {float(lr) for p in profiles for lr in PROFILE_SETTINGS.get(p, {}).get(grid, ())}
    have = {float(lr) for lr in by_config(records, "learning_rate")}
    missing = sorted(lr for lr in expected if not any(math.isclose(lr, h) for h in have))
    if missing:
        raise Undecided(f"{len(expected) - len(missing)} of {len(expected)} learning rates of the grid run "
                        f"(missing: {', '.join(map(fmt, missing))})")


def _below(records, threshold: float) -> dict[float, bool]:
    _require_grid(records, "synthetic_lrs")
    return {float(lr): _loss(r) < threshold for lr, r in sorted(by_config(records, "learning_rate").items())}


def _q(setting: int, method: str) -> Query:
    return Query(TASKS, subject=f"setting{setting}", method=method, needs=(LOSS,))


def _lrs(flags: dict[float, bool], value: bool = True) -> str:
    return ", ".join(fmt(lr) for lr, f in flags.items() if f is value) or "none"


def _interval(setting: int, method: str):
    lo, hi = SEC5_INTERVALS[(setting, method)]["interval"]
    threshold = SEC5_THRESHOLDS[setting]

    def predicate(sel):
        flags = _below(sel["runs"], threshold)
        inside = {lr: f for lr, f in flags.items() if lo <= lr <= hi}
        if not inside:
            raise Undecided(f"no learning rate of the grid in [{fmt(lo)}, {fmt(hi)}]")
        return Finding(all(inside.values()),
                       f"loss < {fmt(threshold)} at eta = {_lrs(flags)}; not at {_lrs(flags, False)} "
                       f"(grid points in [{fmt(lo)}, {fmt(hi)}]: {', '.join(map(fmt, inside))})")
    return predicate


def _broader(setting: int):
    threshold = SEC5_THRESHOLDS[setting]

    def predicate(sel):
        s, m = _below(sel["SGDL"], threshold), _below(sel["MGDL"], threshold)
        common = sorted(set(s) & set(m))
        if not common:
            raise Undecided("no learning rate run by both methods")
        s_ok = {lr for lr in common if s[lr]}
        m_ok = {lr for lr in common if m[lr]}
        return Finding(s_ok < m_ok, f"loss < {fmt(threshold)}: SGDL at {len(s_ok)} of {len(common)} learning rates "
                                    f"({', '.join(map(fmt, sorted(s_ok))) or 'none'}), MGDL at {len(m_ok)} "
                                    f"({', '.join(map(fmt, sorted(m_ok))) or 'none'})")
    return predicate


def _sgdl_fails_above(setting: int):
    bound, threshold = SEC5_SGDL_FAILS_ABOVE[setting], SEC5_THRESHOLDS[setting]

    def predicate(sel):
        flags = _below(sel["runs"], threshold)
        above = {lr: f for lr, f in flags.items() if lr > bound}
        if not above:
            raise Undecided(f"no learning rate of the grid above {fmt(bound)}")
        return Finding(not any(above.values()), f"SGDL loss < {fmt(threshold)} at eta > {fmt(bound)}: "
                                                f"{_lrs(above)} (of {', '.join(map(fmt, above))})")
    return predicate


def _sgdl_best(sel):
    _require_grid(sel["runs"], "synthetic_lrs")
    losses = {float(lr): _loss(r) for lr, r in by_config(sel["runs"], "learning_rate").items()}
    if SEC5_SGDL_BEST_LR_SETTING2 not in losses:
        raise Undecided(f"eta = {fmt(SEC5_SGDL_BEST_LR_SETTING2)} not in the grid")
    best = min(losses, key=losses.get)
    return Finding(math.isclose(best, SEC5_SGDL_BEST_LR_SETTING2),
                   f"lowest final loss {fmt(losses[best])} at eta = {fmt(best)}")


def _psnr_by_lr(records) -> dict[float, float]:
    _require_grid(records, "image_lrs")
    out = {}
    for lr, r in by_config(records, "learning_rate").items():
        v = r.metrics.get("psnr_test")
        out[float(lr)] = -math.inf if r.diverged or v is None or not math.isfinite(v) else float(v)
    return out


def _image_mgdl_higher(sel):
    s, m = _psnr_by_lr(sel["SGDL"]), _psnr_by_lr(sel["MGDL"])
    common = sorted(set(s) & set(m))
    if not common:
        raise Undecided("no learning rate run by both methods")
    worse = [lr for lr in common if not m[lr] > s[lr]]
    return Finding(not worse, f"MGDL above SGDL at {len(common) - len(worse)} of {len(common)} learning rates"
                              + (f"; not at {', '.join(map(fmt, worse))}" if worse else ""))


def _image_sgdl_fails_near_1(sel):
    s, m = _psnr_by_lr(sel["SGDL"]), _psnr_by_lr(sel["MGDL"])
    near = sorted(lr for lr in set(s) & set(m) if lr >= NEAR_ONE)
    if not near:
        raise Undecided(f"no learning rate >= {NEAR_ONE} run by both methods")
    s_best, m_best = max(s.values()), max(m.values())
    s_fail = [lr for lr in near if s[lr] < s_best - FAIL_DROP_DB]
    m_ok = [lr for lr in near if m[lr] >= m_best - STABLE_DROP_DB]
    ok = len(s_fail) > 0 and len(m_ok) == len(near)
    return Finding(ok, f"eta >= {NEAR_ONE}: SGDL fails at {', '.join(map(fmt, s_fail)) or 'none'} (best "
                       f"{s_best:.2f} dB); MGDL stable at {', '.join(map(fmt, m_ok)) or 'none'} of "
                       f"{', '.join(map(fmt, near))} (best {m_best:.2f} dB)")


def learning_rate_claims() -> list[Claim]:
    out = []
    for (setting, method), spec in SEC5_INTERVALS.items():
        if spec["interval"] is None:
            continue
        lo, hi = spec["interval"]
        out.append(Claim(f"S5.setting{setting}.{method}.interval", "Sec. 5, Figure 1",
                         f"Setting {setting}: {method} reaches a loss below {fmt(spec['threshold'])} for eta in "
                         f"[{fmt(lo)}, {fmt(hi)}]", {"runs": _q(setting, method)}, _interval(setting, method),
                         reading="final training loss after the paper's epochs below the threshold at every grid "
                                 "learning rate in the interval", values=("SEC5_INTERVALS", "SEC5_THRESHOLDS")))
    for setting in (1, 2):
        out.append(Claim(f"S5.setting{setting}.broader", "Sec. 5, Figure 1",
                         f"Setting {setting}: MGDL meets the loss threshold over a wider range of learning rates "
                         "than SGDL", {"SGDL": _q(setting, "SGDL"), "MGDL": _q(setting, "MGDL")}, _broader(setting),
                         reading="the learning rates where SGDL is below the threshold are a proper subset of "
                                 "MGDL's (common grid)", values=("SEC5_THRESHOLDS",)))
        bound = SEC5_SGDL_FAILS_ABOVE[setting]
        out.append(Claim(f"S5.setting{setting}.SGDL.fails_above", "Sec. 5, Figure 1",
                         f"Setting {setting}: SGDL fails to converge for eta > {fmt(bound)}",
                         {"runs": _q(setting, "SGDL")}, _sgdl_fails_above(setting),
                         reading="no SGDL run above that learning rate reaches the setting's loss threshold "
                                 "(diverged runs count as failing)", values=("SEC5_SGDL_FAILS_ABOVE",)))
    out.append(Claim("S5.setting2.SGDL.best", "Sec. 5, Figure 1",
                     f"Setting 2: SGDL performs best at eta = {fmt(SEC5_SGDL_BEST_LR_SETTING2)}",
                     {"runs": _q(2, "SGDL")}, _sgdl_best, reading="lowest final training loss over the grid",
                     values=("SEC5_SGDL_BEST_LR_SETTING2",)))
    for image in SEC5_IMAGES:
        qs = {m: Query(TASKS, subject=image, method=m, needs=("psnr_test",)) for m in ("SGDL", "MGDL")}
        out.append(Claim(f"S5.{image}.MGDL_higher", "Sec. 5, Figure 15",
                         f"{image}: MGDL achieves higher accuracy than SGDL at every learning rate", qs,
                         _image_mgdl_higher, reading="final test PSNR of MGDL (32) above SGDL (28) at every common "
                                                     "learning rate (a diverged run counts as lowest)",
                         values=("SEC5_IMAGES",)))
        if image in SEC5_IMAGES_SGDL_FAILS_NEAR_1:
            out.append(Claim(f"S5.{image}.SGDL_fails_near_1", "Sec. 5, Figure 15",
                             f"{image}: SGDL fails to train when the learning rate is near 1, while MGDL remains "
                             "stable and accurate", qs, _image_sgdl_fails_near_1,
                             reading=f"at eta >= {NEAR_ONE}: SGDL diverges or falls {FAIL_DROP_DB} dB below its best "
                                     f"at some eta; MGDL never diverges and stays within {STABLE_DROP_DB} dB of its "
                                     "best", values=("SEC5_IMAGES_SGDL_FAILS_NEAR_1",)))
    return out
