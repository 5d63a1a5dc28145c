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


def test_dense_and_lanczos_tracks_agree_for_a_compact_activation(tmp_path):
    kw = dict(tracked=True, device="cpu", epochs=20, eval_every=10, track_every=10, n_eigen=3, activation="srelu")
    dense = run(make_config("msdl_variants", 1, "MSDL", 0.004, "smoke", **kw), results_dir=tmp_path,
                profile="smoke", progress=False)
    lanczos = run(make_config("msdl_variants", 1, "MSDL", 0.004, "smoke", eigen_method="lanczos", **kw),
                  results_dir=tmp_path, profile="smoke", progress=False)
    a, b = dense.series["grades"][0], lanczos.series["grades"][0]
    assert a["eig_epochs"] == b["eig_epochs"] == [0, 10, 20]
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


def _claim_records(profile, deep_frac, deep_diverged, base_frac=0.5, base_diverged=1):
    """Sweeps of 3 step sizes and one tracked run per variant of setting 1, as record dicts."""
    out = []

    def add(structure, activation, frac, n_div):
        cfg = dict(task="msdl_variants", method="MSDL", setting=1, structure=structure, seed=0)
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
