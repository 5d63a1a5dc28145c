"""Sec. 5 under other random draws: the phases of eq. (5) and the networks' initialisation seed (beyond the paper).

The learning-rate sweeps of Sec. 5 (SGDL (26), MGDL (30), full-batch GD) are rerun, at every learning rate of the
profile's grid, with each draw the profile does not use itself: the other sets of phases (numpy's
``default_rng(0)``; the authors' JAX draws of ``PRNGKey(0)`` with the legacy and with the partitionable threefry,
``SEC5_AUTHOR_PHASES``), each from initialisation seed 0, and the profile's own phases from other seeds. Every run is
an ordinary ``learning_rate`` config of :mod:`~mgdlcore.experiments.gd_dynamics` (same record, same code path); this
module only lists them, and :func:`draw_of` names the draw of a record. The claims of Sec. 5 group records by seed
and phases, so each indication says in how many draws it holds.

The paper profile lists the seeds 1 and 2 with the authors' (legacy) phases and seed 0 with the partitionable ones:
three more 76-run grids at 10^6 epochs, each about ten minutes of one GPU as stacked sweeps (``mgdl-campaign paper
--batch``); numpy's phases, which the paper never used, are left to the reduced profiles.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..paper.values import SEC5_AUTHOR_PHASES
from .config import phase_set_name
from . import gd_dynamics
from .gd_dynamics import GDConfig

PHASE_SETS = ("numpy", "legacy", "partitionable")   # numpy: default_rng(phase_seed 0); the others: SEC5_AUTHOR_PHASES
SEEDS = {"paper": (1, 2), "cpu": (1, 2), "smoke": (1,)}  # initialisation seeds besides 0, with the profile's own phases
OTHER_PHASES = {"paper": ("partitionable",), "cpu": ("legacy", "partitionable"), "smoke": ("partitionable",)}


def own_phases(profile: str) -> str:
    """The phase set the profile's own Sec. 5 sweeps use."""
    return gd_dynamics.PROFILE_SETTINGS[profile].get("phases") or "numpy"


def _phase_fields(phase_set: str, setting: int) -> dict:
    if phase_set == "numpy":
        return {"phase_seed": 0, "phases": None}
    return {"phase_seed": None, "phases": tuple(SEC5_AUTHOR_PHASES[phase_set][setting])}


def configs(profile: str, *, device: str = "auto") -> list[GDConfig]:
    """The sweeps of every other draw: per setting, method and draw, the profile's whole learning-rate grid."""
    if profile not in SEEDS:
        raise ValueError(f"unknown profile {profile!r}; accepted: {', '.join(SEEDS)}")
    s = gd_dynamics.PROFILE_SETTINGS[profile]
    draws = [(phase_set, 0) for phase_set in OTHER_PHASES[profile]] + [(own_phases(profile), seed)
                                                                       for seed in SEEDS[profile]]
    out = []
    for setting in s["settings"]:
        for phase_set, seed in draws:
            for method in ("SGDL", "MGDL"):
                for lr in s["synthetic_lrs"]:
                    out.append(gd_dynamics.make_config("learning_rate", setting, method, lr, profile, seed=seed,
                                                       device=device, **_phase_fields(phase_set, setting)))
    return out


def draw_of(config: Mapping) -> str:
    """The draw of a synthetic record's config: ``"<phase set> phases, seed <k>"`` (``"custom phases"`` for phases
    that are none of the known sets)."""
    name = phase_set_name(config.get("setting"), config.get("phases"))
    if name is None:
        name = "numpy" if config.get("phase_seed") == 0 else f"numpy (phase_seed {config.get('phase_seed')})"
    return f"{name} phases, seed {config.get('seed')}"
