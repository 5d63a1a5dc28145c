"""mgdlcore.experiments.sensitivity: Sec. 5 under other phases of eq. (5) and other initialisation seeds."""

import pytest

from mgdlcore.experiments import gd_dynamics, sensitivity
from mgdlcore.experiments.records import Record
from mgdlcore.paper.values import SEC5_AUTHOR_PHASES
from mgdlcore.report import dynamics as rd


def test_every_other_draw_reruns_the_whole_grid_and_nothing_the_profile_runs_itself():
    for profile in ("smoke", "cpu", "paper"):
        own = {c.key for c in gd_dynamics.configs(profile, device="cpu")}
        listed = sensitivity.configs(profile, device="cpu")
        s = gd_dynamics.PROFILE_SETTINGS[profile]
        draws = {sensitivity.draw_of(c.to_dict()) for c in listed}
        assert len(draws) == len(sensitivity.OTHER_PHASES[profile]) + len(sensitivity.SEEDS[profile])
        assert len(listed) == len(draws) * len(s["settings"]) * 2 * len(s["synthetic_lrs"])
        assert not own & {c.key for c in listed}
        assert {c.task for c in listed} == {"learning_rate"} and {c.epochs for c in listed} == {s["synthetic_epochs"]}
    cpu = sensitivity.configs("cpu", device="cpu")
    legacy = [c for c in cpu if c.phases is not None and c.setting == 2 and "legacy" in sensitivity.draw_of(c.to_dict())]
    assert legacy and all(c.phases == SEC5_AUTHOR_PHASES["legacy"][2] and c.seed == 0 for c in legacy)
    paper = {sensitivity.draw_of(c.to_dict()) for c in sensitivity.configs("paper", device="cpu")}
    assert paper == {"legacy phases, seed 1", "legacy phases, seed 2", "partitionable phases, seed 0"}
    with pytest.raises(ValueError, match="unknown profile 'huge'; accepted: paper, cpu, smoke"):
        sensitivity.configs("huge")


def test_draw_names_the_phases_and_the_seed():
    main = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "cpu", device="cpu").to_dict()
    assert sensitivity.draw_of(main) == "numpy phases, seed 0"
    paper = gd_dynamics.make_config("learning_rate", 2, "MGDL", 0.01, "paper", device="cpu", seed=3).to_dict()
    assert sensitivity.draw_of(paper) == "legacy phases, seed 3"
    assert sensitivity.draw_of({**paper, "phases": [0.1, 0.2, 0.3, 0.4, 0.5]}).startswith("custom phases")


def _rec(lr, loss, draw_seed=0):
    config = {"task": "learning_rate", "setting": 1, "method": "SGDL", "learning_rate": lr, "seed": draw_seed,
              "phase_seed": 0, "phases": None}
    return Record({"key": f"{lr}-{draw_seed}", "config": config, "profile": "cpu", "provenance": {},
                   "metrics": {"final_train_loss": loss, "diverged": loss is None}})


def test_draw_table_compares_complete_sweeps_only():
    grid = (0.01, 0.1, 0.5)
    a = [_rec(0.01, 1e-4), _rec(0.1, 1e-4), _rec(0.5, None)]
    b = [_rec(0.01, 1e-2, 1), _rec(0.1, 1e-4, 1), _rec(0.5, None, 1)]
    partial = [_rec(0.01, 1e-4, 2)]
    sweeps = {(1, "SGDL", "numpy phases, seed 0"): a, (1, "SGDL", "numpy phases, seed 1"): b,
              (1, "SGDL", "numpy phases, seed 2"): partial}
    text, distinct = rd.draw_table(sweeps, {1: 1e-3}, grid)
    rows = [ln for ln in text.splitlines() if ln.startswith("| 1 ")]
    assert "[0.01, 0.1]" in rows[0] and "| 0.5 |" in rows[0]
    assert "[0.1, 0.1]" in rows[1]
    assert "incomplete: 1 of 3" in rows[2]
    assert distinct == {(1, "SGDL"): (2, 2)}
    same, distinct = rd.draw_table({k: v for k, v in sweeps.items() if k[2].endswith("0")}, {1: 1e-3}, grid)
    assert distinct == {(1, "SGDL"): (1, 1)}


def test_draws_are_grouped_once_and_summarised():
    recs = [_rec(0.01, 1e-4), _rec(0.01, 1e-4), _rec(0.1, 1e-4, 1)]      # the first twice (same key)
    groups = rd.by_draw(recs)
    assert {k: len(v) for k, v in groups.items()} == {(1, "SGDL", "numpy phases, seed 0"): 1,
                                                     (1, "SGDL", "numpy phases, seed 1"): 1}
    assert rd.draw_summary({}).startswith("No (setting, method) sweep")
    assert rd.draw_summary({(1, "SGDL"): (1, 1)}).startswith("No (setting, method) sweep")   # one draw: no comparison
    text = rd.draw_summary({(1, "SGDL"): (1, 2), (2, "MGDL"): (3, 4), (2, "SGDL"): (1, 1)})
    assert "same for every draw in 1 of 2" in text and "setting 2 MGDL (3 different intervals)" in text
