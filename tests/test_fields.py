"""Neural-field baselines of Table 1 (Fourier-feature MLP, SIREN) and their experiment kind."""

import math

import numpy as np
import pytest
import torch

from mgdlcore.baselines.neural_fields import FourierFeatureMLP, Siren, build_field, fourier_features
from mgdlcore.experiments import campaign, fields
from mgdlcore.experiments.fields import GRIDS, FieldsConfig, make_config, select
from mgdlcore.experiments.profiles import all_configs
from mgdlcore.experiments.records import Record
from mgdlcore.experiments.runner import run
from mgdlcore.models import build_network
from mgdlcore.structures import get_structure


# ------------------------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("method", ["FFN", "SIREN"])
def test_parameter_count_matches_sgdl_28_within_two_percent(method):
    sgdl = build_network(get_structure("28")).n_parameters()
    assert sgdl == 116_097
    net = build_field(method, 10.0)
    n = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert abs(n - sgdl) <= 0.02 * sgdl, (method, n, sgdl)


def test_fourier_features_against_numpy():
    rng = np.random.default_rng(0)
    x, B = rng.random((7, 2)), rng.normal(0, 10, (5, 2))
    got = fourier_features(torch.as_tensor(x), torch.as_tensor(B)).numpy()
    want = np.concatenate([np.cos(2 * np.pi * x @ B.T), np.sin(2 * np.pi * x @ B.T)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_fourier_matrix_is_fixed_gaussian_with_sigma_and_seeded():
    net = FourierFeatureMLP(10.0, n_frequencies=4000, hidden=(8,), generator=torch.Generator().manual_seed(3))
    assert "B" not in dict(net.named_parameters()) and net.B.shape == (4000, 2)
    assert net.B.std().item() == pytest.approx(10.0, rel=0.05) and abs(net.B.mean().item()) < 0.5
    again = FourierFeatureMLP(10.0, n_frequencies=4000, hidden=(8,), generator=torch.Generator().manual_seed(3))
    other = FourierFeatureMLP(10.0, n_frequencies=4000, hidden=(8,), generator=torch.Generator().manual_seed(4))
    assert torch.equal(net.B, again.B) and not torch.equal(net.B, other.B)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))


def test_siren_initialisation_bounds_and_forward():
    omega, hidden_omega = 60.0, 30.0
    net = Siren(omega, hidden=(256, 256, 256), hidden_omega_0=hidden_omega,
                generator=torch.Generator().manual_seed(1))
    first, *rest = net.layers
    w = first.weight.detach()
    assert w.abs().max() <= 1 / 2 and w.abs().max() > 0.45        # U(-1/fan_in, 1/fan_in), fan_in = 2
    for layer in rest:
        bound = math.sqrt(6 / layer.in_features) / hidden_omega
        w = layer.weight.detach()
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)   # uniform, not a narrower law
    for layer in net.layers:
        assert layer.bias.detach().abs().max() <= layer.in_features ** -0.5
    # the forward pass is sin(omega_0 (W (2x - 1) + b)) then sin(hidden_omega_0 (...)), linear last
    x = torch.rand(5, 2)
    h = torch.sin(omega * first(2 * x - 1))
    for layer in rest[:-1]:
        h = torch.sin(hidden_omega * layer(h))
    torch.testing.assert_close(net(x), rest[-1](h))
    assert torch.equal(Siren(omega, generator=torch.Generator().manual_seed(1)).layers[0].weight,
                       Siren(omega, generator=torch.Generator().manual_seed(1)).layers[0].weight)


def test_bad_hyper_parameters_fail_in_one_line():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
            FourierFeatureMLP(bad)
        with pytest.raises(ValueError, match="omega_0 must be a finite number > 0"):
            Siren(bad)
    with pytest.raises(ValueError, match="unknown neural-field method 'relu'"):
        build_field("relu", 1.0)


# ------------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("change, message", [
    (dict(method="MGDL"), "unknown method 'MGDL'"),
    (dict(sigma=None), "sigma must be set for the method 'FFN'"),
    (dict(omega_0=30.0), "omega_0 must be None for the method 'FFN'"),
    (dict(sigma=-1.0), "sigma must be a finite number > 0"),
    (dict(hidden=()), "hidden must be a non-empty tuple"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(size=8), "size must be an integer >= 16"),
    (dict(optimizer="sgd"), "unknown optimizer 'sgd'"),
])
def test_config_validation_one_line(user_image, change, message):
    base = make_config(user_image, "FFN", "smoke", device="cpu").to_dict()
    with pytest.raises(ValueError, match=message) as err:
        FieldsConfig(**{**base, "hidden": tuple(base["hidden"]), **change})
    assert "\n" not in str(err.value)


def test_profiles_match_table_1_and_selection_is_reduced_only_in_epochs():
    from mgdlcore.experiments import regression
    for profile in ("smoke", "cpu", "paper"):
        table = make_config("cameraman", "SIREN", profile, device="cpu")
        sel = make_config("cameraman", "SIREN", profile, device="cpu", selection=True)
        reg = regression.make_config("cameraman", "SGDL", profile, device="cpu")
        assert (table.size, table.epochs, table.eval_every) == (reg.size, reg.epochs, reg.eval_every)
        assert sel.size == table.size and sel.epochs < table.epochs and sel.seed == 0
    ffn = make_config("cameraman", "FFN", "cpu", device="cpu")
    assert ffn.learning_rate == regression.make_config("cameraman", "SGDL", "cpu").learning_rate == 1e-3
    assert ffn.optimizer == "adam"


# ------------------------------------------------------------------------------------------------ selection
def fake(image, method, value, val, test, diverged=False):
    param = fields.PARAMETER[method]
    return Record({"config": {"task": "fields", "image": image, "method": method, param: value},
                   "metrics": {"psnr_val": val, "psnr_test": test, "diverged": diverged}})


def test_selection_picks_best_validation_never_test():
    grid = GRIDS["FFN"]
    # validation favours the second value, test the last: the pick must follow validation
    vals = [20.0, 25.0, 22.0, 21.0][:len(grid)]
    tests = [30.0, 19.0, 29.0, 40.0][:len(grid)]
    recs = [fake("cameraman", "FFN", v, a, b) for v, a, b in zip(grid, vals, tests)]
    chosen = select(recs)[("cameraman", "FFN")]
    assert chosen.value == grid[1] and chosen.psnr_val[grid[1]] == 25.0
    # scrambling every test PSNR changes nothing
    for r, t in zip(recs, [1.0, 99.0, -5.0, None]):
        r.data["metrics"]["psnr_test"] = t
    assert select(recs)[("cameraman", "FFN")].value == grid[1]


def test_selection_skips_diverged_incomplete_and_other_tasks():
    grid = GRIDS["SIREN"]
    recs = [fake("pirate", "SIREN", v, 30.0 - i, 0.0) for i, v in enumerate(grid)]
    recs[0].data["metrics"]["diverged"] = True                  # the best validation value diverged: never picked
    assert select(recs)[("pirate", "SIREN")].value == grid[1]
    assert select(recs)[("pirate", "SIREN")].psnr_val[grid[0]] is None
    assert select(recs[1:]) == {}                                 # a grid value without a record: undecided
    other = Record({"config": {"task": "regression", "image": "pirate", "method": "SGDL"}, "metrics": {}})
    assert select([*recs, other]).keys() == {("pirate", "SIREN")}
    mixed = [*recs[1:], fake("pirate", "SIREN", grid[0], 40.0, 0.0)]
    mixed[-1].data["config"]["learning_rate"] = 1e-3                # e.g. the learning-rate check of SIREN
    with pytest.raises(ValueError, match="selection records of pirate SIREN differ in more than omega_0: "
                                         "learning_rate"):
        select(mixed)
    ties = [fake("chest", "SIREN", v, 25.0, 0.0) for v in grid]
    assert select(ties)[("chest", "SIREN")].value == grid[0]      # ties: the first grid value


# ------------------------------------------------------------------------------------------------ end to end
def test_end_to_end_selection_then_table_run_through_the_runner(tmp_path, user_image, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("MGDL_RESULTS_DIR", str(results))
    first = fields.configs("smoke", [user_image], device="cpu")
    n_grid = sum(len(g) for g in GRIDS.values())
    assert len(first) == n_grid                      # no table run before the selection records exist
    recs = [run(c, results_dir=results, profile="smoke", progress=False) for c in first]
    for r in recs:
        m = r.metrics
        assert r.config["task"] == "fields" and not r.diverged
        assert set(m) >= {"psnr_train", "psnr_val", "psnr_test", "psnr_unseen", "psnr_test_at_best_val",
                          "best_val_epoch", "final_epoch", "psnr_test_tail_min", "psnr_test_tail_max"}
        assert m["final_epoch"] == r.config["epochs"] and m["n_train"] == 12 * 10
        # the PSNRs are those of the stored reconstruction (float16 in the .npz)
        a = r.arrays()
        err = (a["target"] - a[r.config["method"]]) ** 2
        assert m["psnr_test"] == pytest.approx(-10 * np.log10(err.mean()), abs=0.05)
        assert r.series["grades"][0]["psnr_val"][-1] == pytest.approx(m["psnr_val"], abs=1e-3)
    second = fields.configs("smoke", [user_image], device="cpu")
    table = second[n_grid:]
    chosen = select(recs)
    assert [(c.method, c.value) for c in table] == [(m, chosen[("file:waves.png", m)].value) for m in fields.METHODS]
    rec = run(table[0], results_dir=results, profile="smoke", progress=False)
    assert rec.config["epochs"] == fields.PROFILE_SETTINGS["smoke"]["epochs"] and rec.metrics["psnr_test"] > 10
    # the campaign lists the kind under the 'fields*' pattern, and the profile lists it
    assert all(campaign.matches(c, ["fields*"]) for c in second)
    assert any(c.task == "fields" for c in all_configs("smoke", device="cpu"))


# ------------------------------------------------------------------------------------------------ report
def rec(image, method, unseen, seed=0, **config):
    return Record({"config": {"task": "x", "image": image, "method": method, "seed": seed, **config},
                   "metrics": {"psnr_unseen": unseen, "psnr_test": unseen, "psnr_train": 30.0, "diverged": False}})


def test_report_names_the_winner_from_records_and_says_pending_otherwise():
    from mgdlcore.report import regression as report

    base = {"SGDL": 22.0, "MGDL": 23.0, "bilinear": 21.0, "bicubic": 21.5}
    recs = [rec("cameraman", m, v) for m, v in base.items()] + [rec("barbara", m, v) for m, v in base.items()]
    text = report.baseline_text(recs)
    assert text.startswith("pending") and "no winner" in text
    table = report.table1_markdown(recs, expected=["FFN", "SIREN"])
    assert table.count("| FFN | pending |") == 2 and table.count("| SIREN | pending |") == 2
    recs += [rec("cameraman", "FFN", 24.0, sigma=3.0), rec("cameraman", "SIREN", 22.5, omega_0=30.0)]
    s = report.baseline_summary(recs)
    assert s["n_images"] == 1 and s["n_pending"] == 1 and s["wins"]["FFN"] == 1
    assert s["mgdl_beats_sgdl"] == 1 and s["mgdl_beats_fields"] == 0
    assert s["mgdl_fields_min"] == pytest.approx(-1.0)
    text = report.baseline_text(recs)
    assert "best method is FFN on 1 (of 1)" in text and "does not survive" in text
    assert "1 more image waits for a record" in text
    assert "no winner" not in report.baseline_text(recs[:-1], fields=["FFN"])      # SIREN not asked for
    assert report.baseline_text(recs[:-1], fields=["SIREN"]).startswith("pending")
    assert "FFN (σ = 3)" in report.table1_markdown(recs, expected=["FFN", "SIREN"])
    md = report.unseen_markdown(recs)
    assert "**24.00**" in md and "| Barbara |" in md and md.splitlines()[-1].endswith("| pending |")
    # the winner follows the numbers: raise MGDL above every other method on Cameraman
    recs[1].data["metrics"]["psnr_unseen"] = 30.0
    assert report.baseline_summary(recs)["wins"]["MGDL"] == 1
    assert "survives against them on every one" in report.baseline_text(recs)


def test_grid_edge_text_names_choices_on_the_edge_only():
    from mgdlcore.report import regression as report

    grid = GRIDS["SIREN"]
    inner = [fake("chest", "SIREN", v, 30.0 if v == grid[1] else 20.0, 0.0) for v in grid]
    assert report.grid_edge_text(inner) == ""
    low = [fake("pirate", "SIREN", v, 30.0 if v == grid[0] else 20.0, 0.0) for v in grid]
    text = report.grid_edge_text(inner + low)
    assert f"smallest value of its grid ({grid[0]:g}) on 1 of 2 images" in text and "largest" not in text
