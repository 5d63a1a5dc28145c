"""MSDL with compactly supported activations and a deeper, wider MSDL (task "msdl_variants", Sec. 7's conjecture)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mgdlcore.experiments.gd_dynamics import configs, make_config
from mgdlcore.experiments.runner import run
from mgdlcore.models import bspline2, build_network, srelu
from mgdlcore.report.msdl_variants import more_stable_than_paper
from mgdlcore.structures import get_structure


def _bspline2_reference(x):
    """Twice the quadratic B-spline, piece by piece."""
    return np.select([(0 <= x) & (x < 1), (1 <= x) & (x < 2), (2 <= x) & (x < 3)],
                     [x ** 2, x ** 2 - 3 * (x - 1) ** 2, (3 - x) ** 2], 0.0)


def test_compact_activations_against_piecewise_formulas():
    x = np.linspace(-1.5, 4.5, 1201)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(srelu(t).numpy(), np.where((x > 0) & (x < 1), x * (1 - x), 0.0), atol=1e-15)
    np.testing.assert_allclose(bspline2(t).numpy(), _bspline2_reference(x), atol=1e-12)
    # the B-spline is C^1: its autograd derivative is continuous (no jump across the knots 0, 1, 2, 3)
    xs = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    for eps in (1e-7,):
        left = torch.func.vmap(torch.func.grad(bspline2))(xs - eps)
        right = torch.func.vmap(torch.func.grad(bspline2))(xs + eps)
        np.testing.assert_allclose(left.numpy(), right.numpy(), atol=1e-5)
    assert float(bspline2(torch.tensor(1.5))) == pytest.approx(1.5)


def test_deep_msdl_is_deeper_wider_and_takes_the_activation():
    net = build_network(get_structure("msdl-deep"), seed=0, init="he_normal", activation="bspline2")
    assert sum(p.numel() for p in net.parameters()) == 5636 and len(net.subnets) == 4
    assert all(sub.act is bspline2 and len(sub.hidden) == 6 and sub.widths[1] == 16 for sub in net.subnets)
    paper = build_network(get_structure("msdl"), seed=0, init="he_normal")
    assert sum(p.numel() for p in paper.parameters()) == 964


def test_configs_keys_and_subjects():
    cpu = configs("cpu", ("msdl_variants",), device="cpu")
    assert len(cpu) == 2 * 2 * 3 * (7 + 1) and len({c.key for c in cpu}) == len(cpu)
    tracked = [c for c in cpu if c.track_every]
    assert {(c.structure, c.eigen_method) for c in tracked} == {("msdl", "dense"), ("msdl-deep", "lanczos")}
    assert {c.learning_rate for c in tracked} == {0.004, 0.006}
    c = make_config("msdl_variants", 2, "MSDL", 0.01, "cpu", device="cpu", structure="msdl-deep", activation="srelu")
    assert c.subject() == "setting2-msdl-deep-srelu"
    relu = make_config("msdl_variants", 2, "MSDL", 0.01, "cpu", device="cpu")
    assert "activation" not in relu.to_dict() and relu.key != c.key
    assert relu.key != make_config("msdl", 2, "MSDL", 0.01, "cpu", device="cpu").key     # another task
    with pytest.raises(ValueError, match="method 'MGDL' does not belong to task 'msdl_variants'"):
        make_config("msdl_variants", 1, "MGDL", 0.01, "cpu", device="cpu")


def test_a_gpu_tracks_the_deep_variants_by_the_dense_hessian(monkeypatch, tmp_path):
    """On a GPU every tracked variant's Hessian is dense (seconds a check); on a CPU the deep one's is Lanczos (its
    dense Hessian by autodiff needs about 23 GB with the B-spline). A plan for a GPU made on a CPU lists the same."""
    import torch

    from mgdlcore.experiments import gd_dynamics
    from mgdlcore.experiments.campaign import pending

    planned = pending("paper", tmp_path, ["*msdl-deep*track_every*"], planned_for="cuda")
    assert len(planned) == 6 and {(c.device, c.eigen_method) for c, _ in planned} == {("cuda", "dense")}

    monkeypatch.setattr(gd_dynamics, "resolve_device", lambda d: torch.device("cuda" if d == "cuda" else "cpu"))
    for profile in ("paper", "cpu"):
        gpu = [c for c in configs(profile, ("msdl_variants",), device="cuda") if c.track_every]
        cpu = [c for c in configs(profile, ("msdl_variants",), device="cpu") if c.track_every]
        assert {c.eigen_method for c in gpu} == {"dense"} and {c.device for c in gpu} == {"cuda"}
        assert {(c.structure, c.eigen_method) for c in cpu} == {("msdl", "dense"), ("msdl-deep", "lanczos")}
        assert len(gpu) == len(cpu) == 12
        assert [gd_dynamics.for_device(c, "cuda") for c in cpu] == gpu


def test_dense_and_lanczos_tracks_agree_for_a_compact_activation(tmp_path):
    kw = dict(tracked=True, device="cpu", epochs=10, eval_every=10, track_every=10, n_eigen=3, activation="srelu")
    dense = run(make_config("msdl_variants", 1, "MSDL", 0.004, "smoke", **kw), results_dir=tmp_path,
                profile="smoke", progress=False)
    lanczos = run(make_config("msdl_variants", 1, "MSDL", 0.004, "smoke", eigen_method="lanczos", **kw),
                  results_dir=tmp_path, profile="smoke", progress=False)
    a, b = dense.series["grades"][0], lanczos.series["grades"][0]
    assert a["eig_epochs"] == b["eig_epochs"] == [0, 10]
    np.testing.assert_allclose(a["eig_min"], b["eig_min"], atol=1e-5)
    np.testing.assert_allclose(a["eig_max"], b["eig_max"], atol=1e-5)


def _rec(setting, structure, activation, lr, *, diverged=False, frac=None):
    config = dict(setting=setting, structure=structure, activation=activation, learning_rate=lr)
    if frac is not None:
        config["track_every"] = 10
    return SimpleNamespace(config=config, metrics=dict(diverged=diverged, frac_below_minus1=frac,
                                                       final_train_loss=None if diverged else 0.1))


def test_more_stable_needs_both_measures():
    base = [_rec(1, "msdl", "relu", 0.01), _rec(1, "msdl", "relu", 0.1, diverged=True),
            _rec(1, "msdl", "relu", 0.004, frac=0.5)]
    better = [_rec(1, "msdl", "srelu", 0.01), _rec(1, "msdl", "srelu", 0.1), _rec(1, "msdl", "srelu", 0.004, frac=0.1)]
    fewer_div_only = [_rec(1, "msdl-deep", "relu", 0.01), _rec(1, "msdl-deep", "relu", 0.1),
                      _rec(1, "msdl-deep", "relu", 0.004, frac=0.6)]
    no_track = [_rec(1, "msdl", "bspline2", 0.01)]
    out = more_stable_than_paper(base + better + fewer_div_only + no_track)
    assert out == {(1, "msdl", "srelu"): True, (1, "msdl", "bspline2"): None, (1, "msdl-deep", "relu"): False}
    # one measure alone rules a variant out: a tracked run without a sweep, a sweep without a tracked run
    track_only = [_rec(1, "msdl-deep", "srelu", 0.004, frac=0.5), _rec(1, "msdl-deep", "bspline2", 0.004, frac=0.4)]
    more_div = [_rec(1, "msdl-deep", "relu", 0.01, diverged=True), _rec(1, "msdl-deep", "relu", 0.1, diverged=True)]
    out = more_stable_than_paper(base + track_only + more_div)
    assert out == {(1, "msdl-deep", "srelu"): False, (1, "msdl-deep", "bspline2"): None,
                   (1, "msdl-deep", "relu"): False}


def _claim_records(profile, deep_frac, deep_diverged, base_frac=0.5, base_diverged=1, base_task="msdl_variants"):
    """Sweeps of 3 step sizes and one tracked run per variant of setting 1, as record dicts (the paper's MSDL of
    task ``base_task``)."""
    out = []

    def add(structure, activation, frac, n_div):
        task = base_task if (structure, activation) == ("msdl", "relu") else "msdl_variants"
        cfg = dict(task=task, method="MSDL", setting=1, structure=structure, seed=0)
        if activation != "relu":
            cfg["activation"] = activation
        for i, lr in enumerate((0.001, 0.01, 0.1)):
            out.append(dict(key=f"{structure}{activation}{lr}", profile=profile, provenance={},
                            config={**cfg, "learning_rate": lr}, metrics={"diverged": i < n_div}))
        out.append(dict(key=f"{structure}{activation}t", profile=profile, provenance={},
                        config={**cfg, "learning_rate": 0.004, "track_every": 500},
                        metrics={"diverged": False, "frac_below_minus1": frac}))

    add("msdl", "relu", base_frac, base_diverged)
    add("msdl", "srelu", 0.0, 0)                       # the paper's network with sReLU: not what the claim reads
    for act in ("srelu", "bspline2"):
        add("msdl-deep", act, deep_frac[act], deep_diverged[act])
    return out


def test_the_conjecture_claim_reads_the_deep_variants():
    from mgdlcore.paper import claims as C
    c = C.claim("S7.setting1.conjecture")
    yes = _claim_records("cpu", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 1})
    v = c.evaluate(records=yes, profile="cpu")
    assert v.status == "holds" and "bspline2: 1 of 3 diverged, 0.10" in v.evidence
    no = _claim_records("cpu", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 2})
    assert c.evaluate(records=no, profile="cpu").status == "fails"
    assert c.evaluate(records=yes, profile="paper").status == "undecided"
    missing = [r for r in yes if r["config"].get("activation") != "bspline2"]
    assert c.evaluate(records=missing, profile="cpu").status == "undecided"


def test_the_conjecture_is_decided_by_one_variant_or_by_either_test_alone():
    """"With at least one compactly supported activation": a variant that passes both tests confirms the
    conjecture before the other is run; a tracked run with no smaller share of checks <= -1, or a sweep with more
    divergences, rules its variant out on its own, and the conjecture is refuted once every variant is ruled out."""
    from mgdlcore.paper import claims as C
    c = C.claim("S7.setting1.conjecture")
    both = _claim_records("cpu", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 1})

    def without(records, act, tracked):
        return [r for r in records if not (r["config"].get("activation") == act
                                           and bool(r["config"].get("track_every")) == tracked)]

    def drop(records, act):
        return without(without(records, act, True), act, False)

    v = c.evaluate(records=drop(both, "srelu"), profile="cpu")      # bspline2 passes both: srelu need not run
    assert v.status == "holds" and "srelu: no sweep on two common step sizes yet, no tracked run yet" in v.evidence
    # srelu's tracked run alone (0.6 >= 0.5) rules it out; bspline2's sweep without its tracked run decides nothing
    v = c.evaluate(records=without(without(both, "srelu", False), "bspline2", True), profile="cpu")
    assert v.status == "undecided" and "srelu: no sweep on two common step sizes yet, 0.60" in v.reason, v
    # with bspline2's tracked run at 0.5 (not below the paper's 0.5), both are out on their tracked runs alone
    worse = _claim_records("cpu", {"srelu": 0.6, "bspline2": 0.5}, {"srelu": 0, "bspline2": 1})
    v = c.evaluate(records=without(without(worse, "srelu", False), "bspline2", False), profile="cpu")
    assert v.status == "fails", v
    # a sweep with more divergences than the paper's (2 of 3 against 1) rules bspline2 out without its tracked run
    more = _claim_records("cpu", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 2})
    v = c.evaluate(records=without(without(more, "bspline2", True), "srelu", False), profile="cpu")
    assert v.status == "fails" and "bspline2: 2 of 3 diverged, no tracked run yet" in v.evidence, v
    # without the paper's sweep only the tracked runs can rule variants out (no sweep is compared with nothing)
    no_base_sweep = [r for r in worse if r["config"].get("activation") or r["config"].get("track_every")]
    v = c.evaluate(records=no_base_sweep, profile="cpu")
    assert v.status == "fails" and "paper's MSDL (ReLU): no sweep yet, 0.50" in v.evidence, v
    no_base_sweep = [r for r in both if r["config"].get("activation") or r["config"].get("track_every")]
    assert c.evaluate(records=no_base_sweep, profile="cpu").status == "undecided"


def test_the_variants_paper_msdl_runs_are_sec7s_runs_in_the_paper_profile():
    """What lets the conjecture read Sec. 7's paper-profile runs (task msdl) for the paper's MSDL with ReLU: each
    such msdl_variants config of the paper profile is a config of task msdl but for the task's name."""
    profile = "paper"
    import dataclasses

    def but_task(c):
        return tuple(sorted((k, repr(v)) for k, v in dataclasses.asdict(c).items() if k != "task"))

    sec7 = {but_task(c) for c in configs(profile, ("msdl",), device="cpu")}
    own = [c for c in configs(profile, ("msdl_variants",), device="cpu")
           if (c.structure, c.activation) == ("msdl", "relu")]
    assert own and all(but_task(c) in sec7 for c in own)


def _sec7_records(profile, diverged_from):
    """Records of Sec. 7's MSDL runs (task msdl) of setting 1 as ``profile`` lists them: diverged from the step size
    ``diverged_from`` up, the tracked run at 0.5 of its checks <= -1."""
    return [dict(key=f"sec7-{c.learning_rate}-{c.track_every}", profile=profile, provenance={}, config=c.to_dict(),
                 metrics={"diverged": not c.track_every and c.learning_rate >= diverged_from,
                          **({"frac_below_minus1": 0.5} if c.track_every else {})})
            for c in configs(profile, ("msdl",), settings=[1], device="cpu") if c.method == "MSDL"]


def test_the_conjecture_reads_sec7s_runs_on_common_step_sizes_and_prefers_its_own():
    from mgdlcore.paper import claims as C
    c = C.claim("S7.setting1.conjecture")
    deep = [r for r in _claim_records("paper", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 1})
            if r["config"]["structure"] == "msdl-deep"]
    sec7 = _sec7_records("paper", diverged_from=0.1)
    replicate = {k: sec7[0]["config"][k] for k in ("phases", "phase_seed", "device")}
    deep = [{**r, "config": {**r["config"], **replicate}} for r in deep]
    v = c.evaluate(records=sec7 + deep, profile="paper")
    assert v.status == "confirmed", v
    # Sec. 7 ran 19 step sizes up to 0.5; the conjecture's grid has 12 up to 0.1, of which only 0.1 diverged here
    assert "(runs of task msdl): 1 of 12 step sizes diverged, 0.50 of checks <= -1" in v.evidence, v.evidence
    assert "bspline2: 1 of 3 diverged, 0.10 of checks <= -1 (paper's MSDL: 1 of these 3 step sizes)" in v.evidence
    # the reduced profiles' conjecture runs fewer epochs than their Sec. 7 runs: those are never read for it
    cpu = [{**r, "profile": "cpu"} for r in deep]
    assert c.evaluate(records=_sec7_records("cpu", 0.1) + cpu, profile="cpu").status == "undecided"
    # where the conjecture's own runs of the paper's MSDL exist they are read, not Sec. 7's
    own = [r for r in _claim_records("paper", {"srelu": 0.6, "bspline2": 0.1}, {"srelu": 0, "bspline2": 1},
                                     base_frac=0.05, base_diverged=0)
           if r["config"]["structure"] == "msdl"]
    own = [{**r, "config": {**r["config"], **replicate}} for r in own]
    v = c.evaluate(records=sec7 + deep + own, profile="paper")
    assert v.status == "refuted" and "(runs of task" not in v.evidence, v


def test_sec7_stand_ins_only_for_the_paper_msdl_without_its_own_record(tmp_path):
    import dataclasses

    from mgdlcore.report.msdl_variants import sec7_stand_ins
    own = [c for c in configs("smoke", ("msdl_variants",), settings=[1], device="cpu") if not c.track_every]
    paper = next(c for c in own if (c.structure, c.activation) == ("msdl", "relu"))
    other = next(c for c in own if c.activation != "relu")
    assert sec7_stand_ins([paper, other], tmp_path) == {}
    sec7 = run(dataclasses.replace(paper, task="msdl"), results_dir=tmp_path, progress=False)
    run(dataclasses.replace(other, task="msdl_variants"), results_dir=tmp_path, progress=False)
    found = sec7_stand_ins([paper, other], tmp_path)
    assert list(found) == [paper] and found[paper].key == sec7.key
    run(paper, results_dir=tmp_path, progress=False)       # its own record: no stand-in any more
    assert sec7_stand_ins([paper, other], tmp_path) == {}


def test_a_campaign_runs_the_paper_msdl_once_where_sec7_runs_it():
    from mgdlcore.experiments.profiles import all_configs

    def paper_msdl(profile):
        return [c for c in all_configs(profile, device="cpu") if c.task == "msdl_variants"
                and (c.structure, c.activation) == ("msdl", "relu")]
    assert paper_msdl("paper") == []                 # Sec. 7's 26 runs of the same configs stand in
    assert len(paper_msdl("cpu")) == 16              # fewer epochs than Sec. 7's cpu runs: run for the conjecture
    deep = [c for c in all_configs("paper", device="cpu") if c.task == "msdl_variants"]
    assert len(deep) == 5 * 26                       # the other five variants, each a 12-step sweep and a tracked run


def test_runs_in_progress_are_read_from_their_checkpoints_own_or_parked(tmp_path, monkeypatch):
    """A tracked run stopped at its fifth check: its four checks so far come from its checkpoint, then from the
    parked copy once the checkpoint folder is gone; the count that reaches the paper's MSDL's share is the rule's."""
    import dataclasses
    import shutil

    from mgdlcore.analysis import spectra
    from mgdlcore.analysis.hessian import IterationEigenvalues
    from mgdlcore.experiments import parking
    from mgdlcore.report.msdl_variants import in_progress, in_progress_markdown
    from mgdlcore.training import checkpoint

    smallest = [-1.5, -0.5, -1.0, -0.99]

    def fake(net, loss_of_net, lr, k=10, method="dense", **kwargs):
        if len(calls) == len(smallest):
            raise RuntimeError("stopped")
        calls.append(smallest[len(calls)])
        return IterationEigenvalues((calls[-1],) * k, (0.5,) * k, int(calls[-1] <= -1), 0, 1)

    calls = []
    monkeypatch.setattr(spectra, "spectrum", fake)
    monkeypatch.setenv(checkpoint.ENV_SECONDS, "0")
    base = next(c for c in configs("smoke", ("msdl_variants",), settings=[1], device="cpu")
                if c.track_every and c.activation == "srelu")
    config = dataclasses.replace(base, epochs=200, track_every=20)             # 11 checks
    with pytest.raises(RuntimeError, match="stopped"):
        run(config, results_dir=tmp_path, progress=False)
    paper_msdl = [_rec(1, "msdl", "relu", config.learning_rate, frac=0.25)]      # 0.25 x 11: 3 checks reach it
    rows = in_progress([config], tmp_path, paper_msdl)
    assert len(rows) == 1 and 60 <= rows[0]["epochs_done"] < 80
    assert (rows[0]["checks"], rows[0]["below"], rows[0]["total"], rows[0]["needed"]) == (4, 2, 11, 3)
    text = in_progress_markdown(rows)
    assert "| 2 of 4 | 0.25 | 3 of 11 | 1 more of the 7 checks still to come |" in text
    assert in_progress([config], tmp_path, [_rec(1, "msdl", "relu", config.learning_rate, frac=2 / 11)])[0][
        "needed"] == 2                                                           # 2/11 >= 2/11: reached
    parking.park(tmp_path)
    shutil.rmtree(tmp_path / parking.CHECKPOINTS)
    assert [(r["checks"], r["below"]) for r in in_progress([config], tmp_path, paper_msdl)] == [(4, 2)]
    # mgdl-campaign --plan: the epochs the parked checkpoint holds and the time left at the pace they took
    import re

    from mgdlcore.experiments.campaign import _saved, hours
    monkeypatch.setattr(parking, "progress", lambda folder: (3600.0, "parked"))   # an hour of training saved
    line = _saved(tmp_path, [config])
    done = int(re.fullmatch(r"; resumes after 1.0 h \(parked\), (\d+) of 200 epochs: ~(.+) left at that pace",
                            line)[1])
    assert done == rows[0]["epochs_done"] and f"~{hours(3600 * (200 / done - 1))} left" in line
    assert in_progress([base], tmp_path, paper_msdl) == []                        # no checkpoint of its own
