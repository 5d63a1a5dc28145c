"""Chapter 05's paper-setting section: sweeps taken from one device, replicates, and where intervals disagree."""

import dataclasses
import json

from mgdlcore.experiments import gd_dynamics
from mgdlcore.experiments.records import Record, record_path, write_json_atomic
from mgdlcore.experiments.runner import run
from mgdlcore.report import dynamics as rd

PAPER = {(1, "SGDL"): {"threshold": 1e-3, "interval": (0.03, 0.08), "note": ""}}


def _rec(lr, loss, curve=None, diverged=False):
    curve = curve if curve is not None else [loss] * 20
    config = {"task": "learning_rate", "setting": 1, "method": "SGDL", "learning_rate": lr, "seed": 0}
    return Record({"key": str(lr), "config": config, "profile": "paper", "provenance": {},
                   "metrics": {"final_train_loss": None if diverged else loss, "diverged": diverged},
                   "series": {"grades": [{"loss": curve}]}})


def test_tail_note_tells_stuck_falling_and_oscillating_runs_apart():
    assert rd.tail_note(_rec(0.1, 0.141, [1.0] * 10 + [0.141, 0.1412] * 5)).startswith("stuck")
    assert rd.tail_note(_rec(0.1, 0.002, [0.01 - 0.0004 * i for i in range(20)])).startswith("still falling")
    assert rd.tail_note(_rec(0.1, 0.5, [0.5, 1.0] * 10)) == "oscillating to the end"
    assert rd.tail_note(_rec(0.1, None, diverged=True)) == ""


def test_interval_misses_names_each_grid_point_that_disagrees():
    recs = [_rec(0.01, 5e-4), _rec(0.03, 5e-4), _rec(0.05, 5e-4), _rec(0.08, 0.141, [0.141] * 20),
            _rec(0.3, None, diverged=True)]
    text = rd.interval_misses({(1, "SGDL"): recs}, {1: 1e-3}, PAPER)
    assert "2 of the 3 grid learning rates in the paper's [0.03, 0.08]" in text
    assert "$\\eta$ = 0.08 (0.141, 141x the threshold; stuck" in text
    assert "outside it, below the threshold at $\\eta$ = 0.01." in text
    fine = rd.interval_misses({(1, "SGDL"): recs[:3]}, {1: 1e-3}, PAPER)
    assert "2 of the 2" in fine and "not $" not in fine


def test_paper_sweeps_take_each_sweep_from_one_device_and_list_replicates(tmp_path):
    configs = [gd_dynamics.make_config("learning_rate", 1, "SGDL", lr, "smoke", device="cpu", epochs=20)
               for lr in (0.01, 0.1, 0.5)]
    for config in configs:                          # the whole sweep on "cuda" (records copied), one config on cpu
        rec = run(config, results_dir=tmp_path, profile="smoke", progress=False)
        other = dataclasses.replace(config, device="cuda")
        data = json.loads(rec.path.read_text())
        data.update(key=other.key, config=other.to_dict())
        if config.learning_rate == 0.1:
            data["metrics"]["final_train_loss"] *= 2
        path = record_path(tmp_path, other)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)
        if config.learning_rate != 0.1:
            rec.path.unlink()
    sweeps, replicates = rd.paper_sweeps(configs, tmp_path)
    assert list(sweeps) == [(1, "SGDL")]
    assert {r.config["device"] for r in sweeps[(1, "SGDL")]} == {"cuda"} and len(sweeps[(1, "SGDL")]) == 3
    assert [(s, m, lr, sorted(runs)) for s, m, lr, runs in replicates] == [(1, "SGDL", 0.1, ["cpu", "cuda"])]
    table = rd.replicate_table(replicates, {1: 1e-9})
    assert "| 1 | SGDL | 0.1 |" in table and "at 1 of 1 configs" in table


def test_claims_of_a_reduced_profile_show_the_paper_verdict_beside_the_indication(tmp_path):
    text = rd.claims_markdown(5, results_dir=tmp_path, profile="cpu", paper_results_dir=tmp_path)
    assert "verdict **undecided (no paper-profile record" in text and "· undecided (no cpu-profile record" in text
    assert "*cpu-profile evidence:*" in text
    alone = rd.claims_markdown(5, results_dir=tmp_path, profile="paper")
    assert "verdict **undecided (no paper-profile record" in alone and "cpu-profile" not in alone


def _as_made_on(made, config, device, folder):
    """A copy of record ``made`` (of ``config``) in ``folder`` as if ``device`` had made it."""
    other = dataclasses.replace(config, device=device)
    data = json.loads(made.path.read_text())
    data.update(key=other.key, config=other.to_dict())
    data["provenance"]["device"] = device
    write_json_atomic(record_path(folder, other), data)
    if made.arrays_path.is_file():                                  # the record's arrays (the prediction) go along
        record_path(folder, other).with_suffix(".npz").write_bytes(made.arrays_path.read_bytes())


def test_paper_tracked_runs_come_from_any_device_and_the_figure_draws_the_missing_as_pending(tmp_path):
    """Chapter 07's paper-setting section: a tracked record made on another device is shown; untracked configs are
    not taken; a missing run leaves a pending panel."""
    import matplotlib.pyplot as plt

    tracked = gd_dynamics.make_config("msdl", 1, "MSDL", 0.004, "smoke", tracked=True, device="cpu", epochs=20)
    sweep = gd_dynamics.make_config("msdl", 1, "MSDL", 0.004, "smoke", device="cpu", epochs=20)
    made = run(tracked, results_dir=tmp_path, profile="smoke", progress=False)
    run(sweep, results_dir=tmp_path, profile="smoke", progress=False)
    _as_made_on(made, tracked, "cuda", tmp_path)
    made.path.unlink()
    found = rd.paper_tracked([tracked, sweep], tmp_path)
    assert list(found) == [(1, "MSDL")] and found[(1, "MSDL")].config["device"] == "cuda"
    fig = rd.tracked_figure(found, [1], {(1, "MSDL"): 0.004, (1, "MGDL"): 0.06})
    titles = [ax.get_title() for ax in fig.axes]
    assert "setting 1, MGDL: training loss" in titles and len(fig.axes) == 4
    assert any("pending" in t.get_text() for t in fig.axes[1].texts)     # MGDL's eigenvalue panel
    plt.close(fig)


def test_authors_run_table_sets_their_kept_run_above_ours_of_the_same_setting_rate_and_epochs():
    authors = {"setting": 1, "learning_rate": 0.004, "epochs": 1000, "train_loss": 1.1212e-2, "val_loss": 1.2908e-2}

    def msdl(lr, loss, epochs=1000, diverged=False):
        config = {"task": "msdl", "setting": 1, "method": "MSDL", "learning_rate": lr, "epochs": epochs, "seed": 0}
        return Record({"key": f"{lr}-{epochs}", "config": config, "profile": "paper",
                       "provenance": {"device": "cpu", "commit": "abcdef0"},
                       "metrics": {"final_train_loss": None if diverged else loss,
                                   "final_val_loss": None if diverged else 2 * loss, "diverged": diverged}})
    table = rd.authors_run_table({(1, "MSDL"): [msdl(0.002, 0.5), msdl(0.004, 0.04), msdl(0.004, 0.9, epochs=10)]},
                                 authors)
    lines = table.splitlines()
    assert len(lines) == 4 and "1.121e-02 | 1.291e-02" in lines[2]
    assert lines[3].startswith("| ours (") and "| 0.004 | 1,000 | 4.000e-02 | 8.000e-02 |" in lines[3]
    assert rd.authors_run_table({(1, "MSDL"): [msdl(0.002, 0.5)]}, authors) == ""
    assert "diverged | diverged" in rd.authors_run_table({(1, "MSDL"): [msdl(0.004, 0, diverged=True)]}, authors)


def test_eigen_table_says_which_device_made_each_tracked_run():
    from types import SimpleNamespace

    def rec(method, device, made_on):
        return SimpleNamespace(config=dict(setting=1, method=method, learning_rate=0.1, epochs=10, track_every=5,
                                           device=device),
                               metrics=dict(eig_min=-1.5, max_n_le_minus1=1, frac_below_minus1=0.5, n_checks=3,
                                            frac_increases=0.2, final_train_loss=0.01),
                               provenance=dict(device=made_on))
    table = rd.eigen_table([rec("MSDL", "cuda", "cuda: NVIDIA H200"), rec("MGDL", "cpu", "cpu")])
    rows = table.splitlines()
    assert rows[0].endswith("| device |") and rows[1].count("---") == 10
    assert rows[2].startswith("| 1 | MSDL |") and rows[2].endswith("| cuda: NVIDIA H200 |")
    assert rows[3].startswith("| 1 | MGDL |") and rows[3].endswith("| cpu |")


def test_the_figure_pairs_runs_of_one_device_and_the_table_lists_every_device(tmp_path):
    """Chapter 07: where one device made both tracked runs of a setting, the figure draws that pair, even when the
    other device made one of them too; the table lists each device's run; a method only another device made is
    still drawn."""
    kw = dict(tracked=True, device="cpu", epochs=20)
    msdl = gd_dynamics.make_config("msdl", 1, "MSDL", 0.004, "smoke", **kw)
    mgdl = gd_dynamics.make_config("msdl", 1, "MGDL", 0.06, "smoke", **kw)
    made = {c.method: run(c, results_dir=tmp_path, profile="smoke", progress=False) for c in (msdl, mgdl)}
    _as_made_on(made["MSDL"], msdl, "cuda", tmp_path)             # MSDL on both devices, MGDL on the CPU only
    shown = rd.paper_tracked([msdl, mgdl], tmp_path)
    assert {k: r.config["device"] for k, r in shown.items()} == {(1, "MSDL"): "cpu", (1, "MGDL"): "cpu"}
    cuda_msdl = dataclasses.replace(msdl, device="cuda")          # seen from a GPU machine: still the CPU pair
    assert {r.config["device"] for r in rd.paper_tracked([cuda_msdl, mgdl], tmp_path).values()} == {"cpu"}
    listed = rd.tracked_records([msdl, mgdl], tmp_path)
    assert [(r.config["method"], r.config["device"]) for r in listed] == [("MSDL", "cpu"), ("MSDL", "cuda"),
                                                                          ("MGDL", "cpu")]
    assert [line.rsplit("|", 2)[-2].strip() for line in rd.eigen_table(listed).splitlines()[2:]] == \
        ["cpu", "cuda", "cpu"]
    made["MSDL"].path.unlink()                                    # MSDL on the GPU only: drawn from there
    shown = rd.paper_tracked([msdl, mgdl], tmp_path)
    assert {k: r.config["device"] for k, r in shown.items()} == {(1, "MSDL"): "cuda", (1, "MGDL"): "cpu"}


def test_a_gpu_sweep_stale_only_by_code_is_still_shown_and_its_provenance_says_so(tmp_path, monkeypatch):
    """After a code change a GPU's sweep cannot be adopted on a CPU: the book keeps showing it (it is the only
    paper-setting sweep there is) and says beside it that it awaits ``mgdl-results adopt --device cuda``; a stale
    sweep of the book's own device is not shown (it is to be rerun here)."""
    from mgdlcore.experiments import runner

    configs = [gd_dynamics.make_config("learning_rate", 1, "SGDL", lr, "smoke", device="cpu", epochs=20)
               for lr in (0.01, 0.1)]
    for config in configs:
        rec = run(config, results_dir=tmp_path, profile="smoke", progress=False)
        other = dataclasses.replace(config, device="cuda")
        data = json.loads(rec.path.read_text())
        data.update(key=other.key, config=other.to_dict())
        write_json_atomic(record_path(tmp_path, other), data)
    module = runner.kind_of("learning_rate").module
    monkeypatch.setitem(runner._FINGERPRINTS, module, {**runner.current_code("learning_rate"), "models": "0" * 12})
    sweeps, replicates = rd.paper_sweeps(configs, tmp_path)
    assert {r.config["device"] for r in sweeps[(1, "SGDL")]} == {"cuda"} and len(sweeps[(1, "SGDL")]) == 2
    assert replicates == []                                   # the CPU's records are stale here: not shown
    line = rd.provenance_line(sweeps[(1, "SGDL")])
    assert "2 of these 2 records were made by code that has changed since (models)" in line
    assert "mgdl-results adopt --device cuda" in line
    monkeypatch.undo()
    assert "changed since" not in rd.provenance_line(rd.paper_sweeps(configs, tmp_path)[0][(1, "SGDL")])
