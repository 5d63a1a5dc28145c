"""Profiles: ``paper`` (the paper's settings), ``cpu`` (reduced, for this kind of machine), ``smoke`` (CI minutes).

A profile is a function that returns configs, nothing more: each experiment kind has its own ``configs(profile,
...)`` next to its config class; :func:`all_configs` collects every kind's configs of one profile (what a
campaign runs and what ``--plan`` lists).
"""

from __future__ import annotations

import dataclasses
import importlib

PROFILE_NAMES = ("paper", "cpu", "smoke")
# modules that define ``configs(profile, ...)`` with defaults for every other argument: the experiment kinds and the
# studies built from their configs (scaling, sensitivity)
KIND_MODULES = ("regression", "restoration", "gd_dynamics", "eigenvalues", "scaling", "stability",
                "approximation", "fields", "sensitivity")
# a task whose runs may be another task's runs but for the task's name: Sec. 7's conjecture (msdl_variants) runs the
# paper's MSDL with ReLU, which the paper profile's Sec. 7 (msdl) runs with the same config; the claim and chapter 13
# read Sec. 7's record of such a run (paper.claims.eigen, report.msdl_variants), so it is run once
SAME_RUN_AS = {"msdl_variants": "msdl"}


def _listed_as(config, seen: set) -> bool:
    """Whether ``config`` is, but for its task's name, a config whose key is in ``seen``."""
    other = SAME_RUN_AS.get(config.task)
    if other is None:
        return False
    try:
        return dataclasses.replace(config, task=other).key in seen
    except ValueError:          # not a valid config of the other task (e.g. an activation only msdl_variants runs)
        return False


def check_profile(name: str) -> str:
    """``name`` if it is a profile, else a one-line error naming the accepted profiles."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {name!r}; accepted: {', '.join(PROFILE_NAMES)}")
    return name


def get_profile(profiles: dict, name: str):
    """``profiles[name]`` with a one-line error naming the accepted profiles."""
    if name not in profiles:
        raise ValueError(f"unknown profile {name!r}; accepted: {', '.join(profiles)}")
    return profiles[name]


def all_configs(profile: str, *, device: str = "auto") -> list:
    """Every config of ``profile`` over all experiment kinds and studies (default arguments of each module's
    ``configs``), each once (a study point that is also a table's run is listed with the table, and a run that is
    another task's run but for the task's name, ``SAME_RUN_AS``, with that task)."""
    check_profile(profile)
    out, seen = [], set()
    for name in KIND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for config in module.configs(profile, device=device):
            if config.key not in seen and not _listed_as(config, seen):
                seen.add(config.key)
                out.append(config)
    return out
