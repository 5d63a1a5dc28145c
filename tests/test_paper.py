"""mgdlcore.paper: values, claims (verdicts from hand-made records) and deviations."""

import subprocess
from pathlib import Path

import pytest

from mgdlcore.experiments import gd_dynamics, regression, restoration
from mgdlcore.experiments.records import make_record, write_record
from mgdlcore.paper import claims as C
from mgdlcore.paper import deviations, values
from mgdlcore.paper.claims.base import subject_of

REPO = Path(__file__).resolve().parents[1]


def rec(profile="paper", seed=0, key=None, **fields):
    """A dict shaped like Record.data: config fields and metrics split by the names below."""
    metric_names = {"psnr_train", "psnr_test", "psnr", "final_train_loss", "final_val_loss", "diverged", "eig_min",
                    "eig_max", "min_eig", "frac_below_minus1", "frac_increases", "psnr_test_tail_min", "psnr_test_tail_max"}
    config = {k: v for k, v in fields.items() if k not in metric_names and k != "series"}
    config["seed"] = seed
    metrics = {k: v for k, v in fields.items() if k in metric_names}
    metrics.setdefault("diverged", False)
    key = key or f"{profile}-{seed}-" + "-".join(f"{k}{v}" for k, v in sorted(config.items()))
    return {"key": key, "config": config, "metrics": metrics, "series": fields.get("series", {}),
            "provenance": {"commit": "abcdef0123", "dirty": False, "device": "cpu"}, "profile": profile}


def listed(kind, *args, profile="paper", seed=0, device="cpu", **overrides):
    """The config fields of the run ``profile`` lists (``kind.make_config(*args, profile)``), seed left to rec."""
    config = kind.make_config(*args, profile, seed=seed, device="cpu", **overrides).to_dict()
    config["device"] = device
    return {k: v for k, v in config.items() if k != "seed"}


def t1_records(image="cameraman", sgdl=24.79, mgdl=25.21, profile="paper", seed=0, device="cpu"):
    tr = values.TABLE1[image]
    return [rec(profile, seed, **listed(regression, image, m, profile=profile, seed=seed, device=device),
                psnr_train=tr[m][0], psnr_test=value) for m, value in (("SGDL", sgdl), ("MGDL", mgdl))]


# ------------------------------------------------------------------------------------------------- values

def test_gain_ranges_follow_from_the_tables():
    gains = {"regression": [r["MGDL"][1] - r["SGDL"][1] for r in values.TABLE1.values()],
             "denoising": [r["MGDL"][lv] - r["SGDL"][lv] for r in values.TABLE2.values() for lv in r["SGDL"]],
             "deblurring": [r["MGDL"][lv] - r["SGDL"][lv] for r in values.TABLE3.values() for lv in r["SGDL"]]}
    for task, g in gains.items():
        assert (round(min(g), 2), round(max(g), 2)) == values.SEC4_GAIN_RANGES[task], task


def test_every_value_has_a_source_and_intervals_agree_with_thresholds():
    public = {n for n in dir(values) if n.isupper() and n not in ("PAPER", "AUTHORS_CODE", "BOOK", "SOURCES")}
    assert public == set(values.SOURCES)
    for (setting, _), spec in values.SEC5_INTERVALS.items():
        assert spec["threshold"] == values.SEC5_THRESHOLDS[setting]
    assert set(values.SEC7_TRACKED_LR) == {(s, m) for s in (1, 2) for m in ("MSDL", "MGDL")}
    assert len({k for k in values.SEC6_LEARNING_RATES}) == 14


# ------------------------------------------------------------------------------------------------- claims

def test_table1_gain_confirmed_refuted_and_undecided():
    c = C.claim("T1.cameraman.gain")
    assert c.evaluate(records=t1_records()).status == "confirmed"
    assert c.evaluate(records=t1_records(sgdl=26.0, mgdl=25.0)).status == "refuted"
    v = c.evaluate(records=t1_records()[:1])
    assert v.status == "undecided" and "no paper-profile record" in v.reason and "MGDL" in v.reason


def test_table1_values_within_tolerance():
    c = C.claim("T1.cameraman.values")
    assert c.evaluate(records=t1_records(sgdl=24.79 + 0.4, mgdl=25.21 - 0.4)).status == "confirmed"
    v = c.evaluate(records=t1_records(mgdl=25.21 - 0.6))
    assert v.status == "refuted" and "-0.60" in v.evidence


def test_missing_metric_is_undecided_not_a_verdict():
    recs = t1_records()
    del recs[1]["metrics"]["psnr_test"]
    v = C.claim("T1.cameraman.gain").evaluate(records=recs)
    assert v.status == "undecided" and "psnr_test" in v.reason


def test_cpu_records_give_an_indication_never_a_paper_verdict():
    c = C.claim("T1.cameraman.gain")
    cpu = t1_records(profile="cpu")
    v = c.evaluate(records=cpu, profile="cpu")
    assert v.status == "holds" and v.is_indication and "cpu profile" in v.label
    assert c.evaluate(records=cpu, profile="paper").status == "undecided"
    assert c.evaluate(records=t1_records(sgdl=30, profile="smoke"), profile="smoke").status == "fails"
    for claim in C.CLAIMS:
        assert claim.evaluate(records=cpu, profile="cpu").status in C.INDICATIONS


def test_seeds_are_counted():
    recs = t1_records(seed=0) + t1_records(seed=1, sgdl=26.0, mgdl=25.0) + t1_records(seed=2)
    v = C.claim("T1.cameraman.gain").evaluate(records=recs)
    assert v.status == "refuted" and "holds in 2 of 3 seeds" in v.evidence


def test_table_claims_read_only_the_run_their_profile_lists():
    """A newer paper-profile run of the same image and method at another size or epoch count (the scaling study)
    never stands for a Table-1 cell; nor does one of another profile's setting."""
    c = C.claim("T1.cameraman.gain")
    recs = t1_records()
    other = {**recs[0], "config": {**recs[0]["config"], "size": 64}, "metrics": {"psnr_test": 30.0, "diverged": False},
             "key": "scaling", "provenance": {**recs[0]["provenance"], "created": "2999-01-01"}}
    v = c.evaluate(records=recs + [other])
    assert v.status == "confirmed" and "scaling" not in v.keys and "24.79" in v.evidence
    cpu_setting = rec("paper", 0, **listed(regression, "cameraman", "SGDL", profile="cpu"), psnr_test=30.0)
    assert c.evaluate(records=recs[1:] + [cpu_setting]).status == "undecided"
    assert c.evaluate(records=[other, recs[1]]).status == "undecided"


def test_gpu_and_cpu_runs_of_a_seed_are_separate_replicates():
    recs = t1_records() + t1_records(sgdl=26.0, mgdl=25.0, device="cuda")
    v = C.claim("T1.cameraman.gain").evaluate(records=recs)
    assert v.status == "refuted" and "holds in 1 of 2 seeds" in v.evidence and "seed 0, on cuda" in v.evidence
    mixed = t1_records()[:1] + t1_records(device="cuda")[1:]       # SGDL on the CPU, MGDL on a GPU: no pair
    assert C.claim("T1.cameraman.gain").evaluate(records=mixed).status == "undecided"


def test_a_verdict_names_the_replicate_that_decided_it_and_what_the_others_lack():
    """One complete replicate (a GPU run) beside an incomplete one (MGDL alone on the CPU): the evidence says which
    replicate decided and which method the other lacks."""
    recs = t1_records(device="cuda") + t1_records()[1:]
    v = C.claim("T1.cameraman.gain").evaluate(records=recs)
    assert v.status == "confirmed"
    assert v.evidence.startswith("seed 0, on cuda: ")
    assert v.evidence.endswith("not decided: seed 0: no record of SGDL")


def test_table2_by_level():
    def recs(mgdl_shift=0.0, drop=None):
        out = []
        for m in ("SGDL", "MGDL"):
            for lv, p in values.TABLE2["butterfly"][m].items():
                if (m, lv) != drop:
                    out.append(rec(**listed(restoration, "denoising", "butterfly", m, lv),
                                   psnr=p + (mgdl_shift if m == "MGDL" else 0.0)))
        return out
    gain, match = C.claim("T2.butterfly.gain"), C.claim("T2.butterfly.values")
    assert gain.evaluate(records=recs()).status == "confirmed"
    assert match.evaluate(records=recs()).status == "confirmed"
    assert gain.evaluate(records=recs(mgdl_shift=-1.0)).status == "refuted"    # MGDL below SGDL at sigma 40, 60
    assert match.evaluate(records=recs(mgdl_shift=-1.0)).status == "refuted"
    v = gain.evaluate(records=recs(drop=("MGDL", 30)))
    assert v.status == "undecided" and "30" in v.reason


def fill_grid(losses, grid):
    """``losses`` on every learning rate of ``grid``: a missing one takes the worse of its two given neighbours (a
    diverged run, None, is the worst), so the filled sweep decides as the given one does."""
    given = sorted(losses)

    def worse(a, b):
        return None if a is None or b is None else max(a, b)
    out = {}
    for lr in grid:
        if lr in losses:
            out[lr] = losses[lr]
            continue
        lo = [g for g in given if g < lr]
        hi = [g for g in given if g > lr]
        out[lr] = (worse(losses[lo[-1]], losses[hi[0]]) if lo and hi else losses[lo[-1]] if lo else losses[hi[0]])
    return out


def lr_recs(setting, method, losses, task="learning_rate", grid=True, profile="paper"):
    """Records of a synthetic sweep; ``grid``: filled out to the paper profile's learning-rate grid."""
    if grid:
        losses = fill_grid(losses, gd_dynamics.PROFILE_SETTINGS["paper"]["synthetic_lrs"])
    return [rec(profile, task=task, target=f"setting{setting}", method=method, learning_rate=lr,
                final_train_loss=None if loss is None else loss, diverged=loss is None)
            for lr, loss in losses.items()]


def test_sec5_interval_and_failure_claims():
    good = {0.01: 5e-3, 0.03: 5e-4, 0.05: 4e-4, 0.08: 9e-4, 0.1: 2e-3, 0.3: 5e-2, 0.4: None, 0.5: None}
    c = C.claim("S5.setting1.SGDL.interval")
    assert c.evaluate(records=lr_recs(1, "SGDL", good)).status == "confirmed"
    assert c.evaluate(records=lr_recs(1, "SGDL", {**good, 0.05: 2e-3})).status == "refuted"
    # a profile of one's own with no grid point in the interval (a profile's own grid always has one)
    v = c.evaluate(records=lr_recs(1, "SGDL", {0.001: 1.0, 0.5: None}, grid=False, profile="mine"), profile="mine")
    assert v.status == "undecided" and "no learning rate of the grid" in v.reason
    fails = C.claim("S5.setting1.SGDL.fails_above")
    assert fails.evaluate(records=lr_recs(1, "SGDL", good)).status == "confirmed"
    assert fails.evaluate(records=lr_recs(1, "SGDL", {**good, 0.4: 1e-4})).status == "refuted"
    mgdl = {lr: 1e-4 for lr in good}
    broader = C.claim("S5.setting1.broader")
    assert broader.evaluate(records=lr_recs(1, "SGDL", good) + lr_recs(1, "MGDL", mgdl)).status == "confirmed"
    assert broader.evaluate(records=lr_recs(1, "SGDL", good) + lr_recs(1, "MGDL", good)).status == "refuted"


def test_sec5_claims_wait_for_the_whole_grid_of_their_profile():
    """A sweep that a campaign has run part of decides nothing, even where the part run would confirm."""
    good = {0.01: 5e-3, 0.03: 5e-4, 0.05: 4e-4, 0.08: 9e-4, 0.1: 2e-3, 0.3: 5e-2, 0.4: None, 0.5: None}
    for cid in ("S5.setting1.SGDL.interval", "S5.setting1.SGDL.fails_above"):
        v = C.claim(cid).evaluate(records=lr_recs(1, "SGDL", good, grid=False))
        assert v.status == "undecided" and "8 of 19 learning rates of the grid run" in v.reason, v.reason
        assert "0.04" in v.reason and C.claim(cid).evaluate(records=lr_recs(1, "SGDL", good)).status == "confirmed"
    v = C.claim("S5.setting2.SGDL.best").evaluate(records=lr_recs(2, "SGDL", {0.005: 8e-3, 0.01: None}, grid=False))
    assert v.status == "undecided" and "missing" in v.reason


def test_sec5_setting2_best_learning_rate():
    c = C.claim("S5.setting2.SGDL.best")
    losses = {0.003: 2e-2, 0.005: 8e-3, 0.006: 9e-3, 0.01: None}
    assert c.evaluate(records=lr_recs(2, "SGDL", losses)).status == "confirmed"
    assert c.evaluate(records=lr_recs(2, "SGDL", {**losses, 0.003: 1e-3})).status == "refuted"
    mine = lr_recs(2, "SGDL", {0.003: 1.0}, grid=False, profile="mine")
    assert c.evaluate(records=mine, profile="mine").status == "undecided"


def eig(case, method, **metrics):
    return rec(task="eigenvalues", case=case, method=method, **metrics)


def test_sec6_eigenvalue_claims():
    inside, sgdl = C.claim("S6.setting1.MGDL.inside"), C.claim("S6.setting1.SGDL.below")
    recs = [eig("setting1", "SGDL", eig_min=-1.4), eig("setting1", "MGDL", eig_min=-0.7)]
    assert inside.evaluate(records=recs).status == "confirmed"
    assert sgdl.evaluate(records=recs).status == "confirmed"
    bad = [eig("setting1", "SGDL", eig_min=-0.5), eig("setting1", "MGDL", eig_min=-1.18)]
    assert inside.evaluate(records=bad).status == "refuted"
    assert sgdl.evaluate(records=bad).status == "refuted"
    # a record at another learning rate than the paper's figure is not used
    other = [eig("setting1", "SGDL", eig_min=-1.4, learning_rate=0.5), eig("setting1", "MGDL", eig_min=-0.7)]
    assert sgdl.evaluate(records=other).status == "undecided"
    # the evidence says where the extreme was taken: here only at grade 2's first check, before its first step;
    # the verdict still reads every check
    tracks = {"grades": [{"epochs": [0, 10, 20], "smallest": [[-0.3, 0.5], [-0.9, 0.1], [-0.8, 0.2]]},
                         {"epochs": [0, 10], "smallest": [[-1.18, 0.0], [-0.95, 0.3]]}]}
    first = [eig("setting1", "SGDL", eig_min=-1.4), eig("setting1", "MGDL", eig_min=-1.18, series=tracks)]
    v = inside.evaluate(records=first)
    assert v.status == "refuted"
    assert v.evidence.startswith("MGDL smallest eigenvalue -1.180; without each grade's first check (before its "
                                 "first step): -0.950")
    assert "first check" not in sgdl.evaluate(records=first).evidence       # no track: nothing more to say


def test_first_check_readings_say_which_outcomes_rest_on_initialisation():
    from mgdlcore.paper.claims.eigen import first_check_readings
    from mgdlcore.report.eigen import first_check_markdown

    tracks = {"grades": [{"epochs": [0, 10], "smallest": [[-1.18, 0.0], [-0.95, 0.3]]}]}
    sgdl_track = {"grades": [{"epochs": [0, 10], "smallest": [[-1.4, 0.0], [-1.2, 0.3]]}]}
    records = [C.base.as_record(r) for r in (eig("setting1", "SGDL", eig_min=-1.4, series=sgdl_track),
                                             eig("setting1", "MGDL", eig_min=-1.18, series=tracks),
                                             eig("setting1", "MGDL", eig_min=-3.0, learning_rate=0.5))]   # not read
    rows = first_check_readings(C.select(C.CLAIMS, 6), records, "paper")
    by = {r["claim"]: r for r in rows}
    assert set(by) == {"S6.setting1.SGDL.below", "S6.setting1.MGDL.inside"}
    assert by["S6.setting1.MGDL.inside"] == {"claim": "S6.setting1.MGDL.inside", "status": "refuted", "method": "MGDL",
                                            "every": -1.18, "later": -0.95, "same": False}
    assert by["S6.setting1.SGDL.below"]["same"] is True and by["S6.setting1.SGDL.below"]["later"] == -1.2
    text = first_check_markdown({"paper": rows})
    assert "| paper | `S6.setting1.MGDL.inside` | refuted | -1.180 | -0.950 | **no** |" in text
    assert text.endswith("Without the first checks, 1 of these 2 outcomes would turn.")


def test_sec6_setting2_timing_reads_the_track():
    c = C.claim("S6.setting2.SGDL.timing")
    epochs = [0, 100_000, 190_000, 300_000, 700_000]

    def track(mins):   # the eigenvalues kind's series: one grade, rows of the k smallest eigenvalues
        return {"grades": [{"epochs": epochs, "smallest": [[m, m + 0.1] for m in mins]}]}
    good = track([0.2, -0.5, -0.9, -0.99, -1.3])
    assert c.evaluate(records=[eig("setting2", "SGDL", eig_min=-1.3, series=good)]).status == "confirmed"
    early = track([0.2, -1.2, -0.9, -0.99, -1.3])
    assert c.evaluate(records=[eig("setting2", "SGDL", eig_min=-1.3, series=early)]).status == "refuted"
    assert c.evaluate(records=[eig("setting2", "SGDL", eig_min=-1.3)]).status == "undecided"
    gd = {"grades": [{"eig_epochs": epochs, "eig_min": [[m] for m in [0.2, -0.5, -0.9, -0.99, -1.3]]}]}
    assert c.evaluate(records=[rec(task="eigenvalues", case="synthetic", setting=2, method="SGDL", min_eig=-1.3,
                                   series=gd)]).status == "confirmed"


def test_sec6_accuracy_counts_a_diverged_sgdl_run_as_the_worse_one():
    c = C.claim("S6.setting2.accuracy")
    lr = values.SEC6_LEARNING_RATES
    fine = [eig("setting2", m, learning_rate=lr[("setting2", m)], final_val_loss=v) for m, v in
            (("SGDL", 0.36), ("MGDL", 0.005))]
    assert c.evaluate(records=fine).status == "confirmed"
    fine[1]["metrics"]["final_val_loss"] = 0.5
    assert c.evaluate(records=fine).status == "refuted"
    # SGDL diverged (no validation loss at the end): MGDL's finite loss is the better one, and the evidence says so
    gone = [eig("setting2", "SGDL", learning_rate=lr[("setting2", "SGDL")], final_val_loss=None, diverged=True),
            eig("setting2", "MGDL", learning_rate=lr[("setting2", "MGDL")], final_val_loss=0.005)]
    gone[0]["metrics"]["diverged_epoch"] = 765_077
    v = c.evaluate(records=gone)
    assert v.status == "confirmed" and "SGDL diverged at epoch 765,077" in v.evidence
    # an eigenvalue-kind record keeps the epoch in the grade that diverged, and its last validation loss
    del gone[0]["metrics"]["diverged_epoch"]
    gone[0]["metrics"]["final_val_loss"] = 0.17
    gone[0]["series"] = {"grades": [{"diverged_epoch": 790_265}]}
    v = c.evaluate(records=gone)
    assert v.status == "confirmed" and "SGDL diverged at epoch 790,265" in v.evidence
    gone[0]["series"] = {}
    assert "SGDL diverged" in c.evaluate(records=gone).evidence
    gone[1]["metrics"].update(diverged=True, final_val_loss=None, diverged_epoch=10)
    assert c.evaluate(records=gone).status == "refuted"       # both diverged: neither is more accurate


def test_metric_names_of_both_kinds_are_read():
    c = C.claim("S6.setting1.MGDL.inside")
    recs = [rec(task="eigenvalues", case="synthetic", setting=1, method=m, learning_rate=lr, min_eig=v)
            for m, lr, v in (("SGDL", 0.08, -1.4), ("MGDL", 0.06, -0.7))]
    assert c.evaluate(records=recs).status == "confirmed"
    recs[1]["metrics"]["min_eig"] = -1.2
    assert c.evaluate(records=recs).status == "refuted"
    stopped = [dict(r, config={**r["config"], "stop_below": -0.95}) for r in recs]
    assert c.evaluate(records=stopped).status == "undecided"   # the authors' stop rule is not the claim's run


def test_replicates_by_phases_are_not_mixed():
    good = {0.03: 5e-4, 0.05: 4e-4, 0.08: 9e-4}
    a = lr_recs(1, "SGDL", good)
    b = [dict(r, config={**r["config"], "phases": [1.0, 2.0, 3.0]}, key=r["key"] + "p") for r in
         lr_recs(1, "SGDL", {**good, 0.05: 2e-3})]
    v = C.claim("S5.setting1.SGDL.interval").evaluate(records=a + b)
    assert v.status == "refuted" and "holds in 1 of 2 seeds" in v.evidence


def test_sec7_msdl_claims():
    def pair(f_msdl, f_mgdl, o_msdl=0.4, o_mgdl=0.1):
        return [rec(task="msdl", target="setting1", method="MSDL", learning_rate=0.004, eig_min=-1.5,
                    frac_below_minus1=f_msdl, frac_increases=o_msdl),
                rec(task="msdl", target="setting1", method="MGDL", learning_rate=0.06, eig_min=-0.8,
                    frac_below_minus1=f_mgdl, frac_increases=o_mgdl)]
    e, o = C.claim("S7.setting1.eigenvalues"), C.claim("S7.setting1.oscillation")
    assert e.evaluate(records=pair(0.3, 0.0)).status == "confirmed"
    assert e.evaluate(records=pair(0.0, 0.2)).status == "refuted"
    assert o.evaluate(records=pair(0.3, 0.0)).status == "confirmed"
    assert o.evaluate(records=pair(0.3, 0.0, o_msdl=0.05)).status == "refuted"


def test_oscillation_compares_records_that_kept_the_loss_at_the_same_stride():
    """The share of rises depends on how often the loss was kept: a newer MGDL record kept every 100 epochs (Sec. 6's
    tracked run) is not set against an MSDL record kept every 1,000; MGDL's record at 1,000 is."""
    def made(r, created):
        r["provenance"]["created"] = created
        return r
    msdl = made(rec(task="msdl", target="setting1", method="MSDL", learning_rate=0.004, frac_increases=0.36,
                    loss_every=1000), "2026-01-01")
    mgdl = made(rec(task="msdl", target="setting1", method="MGDL", learning_rate=0.06, frac_increases=0.28,
                    loss_every=1000), "2026-01-01")
    finer = made(rec(task="eigenvalues", case="synthetic", setting=1, method="MGDL", learning_rate=0.06,
                     frac_increases=0.38, loss_every=100), "2026-06-01")
    o = C.claim("S7.setting1.oscillation")
    v = o.evaluate(records=[msdl, mgdl, finer])
    assert v.status == "confirmed" and "every 1,000 epochs): MSDL 0.360, MGDL 0.280" in v.evidence
    v = o.evaluate(records=[msdl, finer])
    assert v.status == "undecided" and "same stride" in v.reason
    both = made(rec(task="eigenvalues", case="synthetic", setting=1, method="MSDL", learning_rate=0.004,
                    frac_increases=0.30, loss_every=100), "2026-06-01")
    v = o.evaluate(records=[msdl, mgdl, finer, both])           # the finest stride both have: 100 epochs
    assert v.status == "refuted" and "every 100 epochs): MSDL 0.300, MGDL 0.380" in v.evidence


def test_a_diverged_run_fails_the_oscillation_claim_and_its_eigenvalue_evidence_says_so():
    """Sec. 6 image runs: SGDL at the caption's learning rate can diverge in a few epochs (no share of loss rises is
    kept). The claim that its loss oscillates while MGDL's decreases stably then fails, with the epoch; where the
    shares up to the divergence exist they are given too. The eigenvalue claims keep their rule and name the
    divergence in their evidence."""
    lr = values.SEC6_LEARNING_RATES
    o, near = C.claim("S6.cameraman.oscillation"), C.claim("S6.cameraman.SGDL.near")

    def pair(sgdl_fraction, mgdl_fraction, diverged):
        out = [eig("image", m, image="cameraman", stop_below=None, learning_rate=lr[("cameraman", m)],
                   eig_min=e, frac_increases=f, loss_every=100) for m, e, f in
               (("SGDL", -12.0, sgdl_fraction), ("MGDL", -0.9, mgdl_fraction))]
        if diverged:
            out[0]["metrics"]["diverged"] = True
            out[0]["series"] = {"grades": [{"diverged_epoch": 6}]}
        return out
    assert o.evaluate(records=pair(0.6, 0.4, False)).status == "confirmed"
    v = o.evaluate(records=pair(None, 0.4, True))
    assert v.status == "refuted", v
    assert v.evidence.startswith("SGDL diverged at epoch 6 at the figure's learning rate") and "up to then" not in v.evidence
    v = o.evaluate(records=pair(0.6, 0.4, True))               # shares kept up to the divergence: given, not used
    assert v.status == "refuted" and v.evidence.endswith("up to then, fraction of loss increases (loss kept every "
                                                         "100 epochs): SGDL 0.600, MGDL 0.400")
    assert o.evaluate(records=pair(None, 0.4, False)).status == "undecided"     # no share, no divergence: no verdict
    v = near.evaluate(records=pair(None, 0.4, True))
    assert v.status == "confirmed" and v.evidence == "SGDL smallest eigenvalue -12.000; SGDL diverged at epoch 6"
    assert near.evaluate(records=pair(None, 0.4, False)).evidence == "SGDL smallest eigenvalue -12.000"


def test_subject_of_reads_the_config_fields():
    assert subject_of({"case": "synthetic", "setting": 2}) == "setting2"
    assert subject_of({"case": "setting1"}) == "setting1"
    assert subject_of({"target": "synthetic-2"}) == "setting2"
    assert subject_of({"case": "image", "image": "barbara"}) == "barbara"
    assert subject_of({"image": "cameraman"}) == "cameraman"


def test_evaluate_reads_record_files(tmp_path):
    for method, value in (("SGDL", 24.0), ("MGDL", 25.0)):
        cfg = regression.make_config("cameraman", method, "paper", device="cpu")
        r = make_record(cfg, metrics={"psnr_test": value, "psnr_train": 30.0, "diverged": False}, series={},
                        arrays=[], provenance={"commit": "0" * 40, "dirty": False, "device": "cpu"}, profile="paper")
        write_record(tmp_path, cfg, r)
    v = C.claim("T1.cameraman.gain").evaluate(tmp_path, "paper")
    assert v.status == "confirmed" and len(v.keys) == 2 and "commit 0000000" in v.provenance[0]
    md = C.render_markdown("Table 1", results_dir=tmp_path, profile="paper")
    assert "T1.cameraman.gain" in md and "**confirmed**" in md and "T2." not in md
    assert "indication (cpu profile)" not in C.render_markdown(4, results_dir=tmp_path, profile="paper")


def test_every_claim_is_well_formed():
    ids = [c.id for c in C.CLAIMS]
    assert len(ids) == len(set(ids))
    for c in C.CLAIMS:
        assert c.sec in (4, 5, 6, 7) and c.statement and c.queries
        assert all(v in values.SOURCES for v in c.values), c.id
        assert c.evaluate(records=[]).status == "undecided"
    with pytest.raises(ValueError, match="unknown claim"):
        C.claim("nope")


def test_the_paper_profile_lists_a_run_for_every_record_a_claim_needs():
    """A claim whose records no profile run makes could never be decided (Figures 22-24 once were): every query a
    claim cannot do without matches a run the paper profile lists, but for the images this project cannot fetch
    (no checksum in the registry)."""
    from mgdlcore.data.images import REGISTRY
    from mgdlcore.experiments.profiles import all_configs

    unavailable = {name for name, image in REGISTRY.items() if image.sha256 is None}
    listed = [c.to_dict() for c in all_configs("paper", device="cpu")]
    never = [f"{c.id}: {q.describe()}" for c in C.CLAIMS for name, q in c.queries.items()
             if name not in c.optional and q.subject not in unavailable and not any(q.matches(x, "paper") for x in listed)]
    assert never == []
    assert unavailable == {"walnut"}


# ------------------------------------------------------------------------------------------------- deviations

def test_allowed_deviation():
    assert deviations.allowed_deviation("table2", "butterfly", "MGDL", 30) is None
    with pytest.raises(ValueError, match="unknown table"):
        deviations.allowed_deviation("table9", "butterfly", "MGDL", 30)
    with pytest.raises(ValueError, match="no image"):
        deviations.allowed_deviation("table1", "lena", "MGDL")


def test_allowed_deviation_is_honoured(monkeypatch):
    entry = deviations.AllowedDeviation("table1", "cameraman", "MGDL", None, "a stated reason")
    monkeypatch.setattr(deviations, "ALLOWED_DEVIATIONS", (entry,))
    assert deviations.allowed_deviation("table1", "cameraman", "MGDL") == "a stated reason"
    v = C.claim("T1.cameraman.values").evaluate(records=t1_records(mgdl=24.0))
    assert v.status == "refuted" and "a stated reason" in v.evidence


def test_differences_and_sources_are_complete():
    ids = [d.id for d in deviations.DIFFERENCES]
    assert len(ids) == len(set(ids))
    for d in deviations.DIFFERENCES:
        assert d.authors and d.ours and d.effect
    srcs = deviations.settings_by_source()
    assert {s.source for s in srcs} == {values.PAPER, values.AUTHORS_CODE, values.BOOK}
    assert any(s.name == "SEC6_DENOISING_PENALTIES" and s.source == values.AUTHORS_CODE for s in srcs)


# ------------------------------------------------------------------------------------------------- one place

def _files_with(text: str) -> list[str]:
    out = subprocess.run(["git", "grep", "-l", "-F", text, "--", "mgdlcore", "chapters"], cwd=REPO,
                         capture_output=True, text=True)
    return sorted(out.stdout.split())


@pytest.mark.parametrize("value", ["25.21", "31.67", "38.24"])
def test_paper_values_live_in_one_file(value):
    assert _files_with(value) == ["mgdlcore/paper/values.py"]


def test_rendered_claims_escape_placeholders_that_look_like_html():
    md = C.render_readings(C.CLAIMS)
    assert "T1.\\<image>.gain" in md and "T1.<image>" not in md


def test_record_status_counts_current_and_missing_records(tmp_path):
    from mgdlcore.experiments import gd_dynamics
    from mgdlcore.experiments.runner import run
    from mgdlcore.report.status import record_status

    config = gd_dynamics.configs("smoke", ("learning_rate",), device="auto")[0]
    before = {r["task"]: r for r in record_status(tmp_path, ("smoke",))}
    run(config, results_dir=tmp_path, profile="smoke", progress=False)
    after = {r["task"]: r for r in record_status(tmp_path, ("smoke",))}
    assert before["learning_rate"]["current"] == 0 and after["learning_rate"]["current"] == 1
    assert after["learning_rate"]["missing"] == before["learning_rate"]["missing"] - 1
    assert after["learning_rate"]["elsewhere"] == 0


def test_record_status_counts_a_run_made_on_another_device_apart(tmp_path, made_on):
    """A run this machine lists for its own device but a GPU made (same config but the device) is neither current
    here nor missing: the book reads the GPU's record, and the status table says so."""
    from mgdlcore.experiments import gd_dynamics
    from mgdlcore.experiments.runner import run
    from mgdlcore.report.status import record_status, status_markdown

    config = gd_dynamics.configs("smoke", ("learning_rate",), device="cpu")[0]
    before = {r["task"]: r for r in record_status(tmp_path, ("smoke",))}["learning_rate"]
    made_on(run(config, results_dir=tmp_path, profile="smoke", progress=False), "cuda", tmp_path)
    after = {r["task"]: r for r in record_status(tmp_path, ("smoke",))}["learning_rate"]
    assert (after["current"], after["elsewhere"], after["missing"]) == (0, 1, before["missing"] - 1)
    assert "| smoke | learning_rate |" in status_markdown(tmp_path, ("smoke",))


def test_record_status_lists_the_runs_that_resume_from_checkpoints(tmp_path, monkeypatch):
    import shutil

    from mgdlcore.experiments import gd_dynamics, parking
    from mgdlcore.experiments.runner import run
    from mgdlcore.report.status import record_status, status_markdown
    from mgdlcore.training import checkpoint

    class Stop(Exception):
        pass

    real, saves = checkpoint.save, []

    def stopping(path, payload):                      # the run stops (as if killed) after its second checkpoint
        real(path, payload)
        saves.append(payload["done"])
        if len(saves) == 2:
            raise Stop

    monkeypatch.setenv(checkpoint.ENV_SECONDS, "0")
    monkeypatch.setattr(checkpoint, "save", stopping)
    config = gd_dynamics.configs("smoke", ("learning_rate",), device="auto")[0]
    with pytest.raises(Stop):
        run(config, results_dir=tmp_path, profile="smoke", progress=False)
    for where in ("checkpoint", "parked"):
        rows = {r["task"]: r for r in record_status(tmp_path, ("smoke",))}
        [(label, seconds, found, done, total)] = rows["learning_rate"]["in_progress"]
        assert (label, found, done, total) == (config.long_label(), where, saves[-1], config.epochs)
        assert 0 < done < total and f"{label}: {done:,} of {total:,} epochs" in status_markdown(tmp_path, ("smoke",))
        if where == "checkpoint":                   # then a fresh clone: the parked copy only
            parking.park(tmp_path)
            shutil.rmtree(tmp_path / parking.CHECKPOINTS)
