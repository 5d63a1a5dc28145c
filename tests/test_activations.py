"""Smooth activations beside ReLU (beyond the paper): the networks, the config field that keeps old keys, a run."""

import pytest
import torch

from mgdlcore.analysis.hessian import OutputLoss, _closed_form_applies
from mgdlcore.experiments import gd_dynamics
from mgdlcore.experiments.runner import run
from mgdlcore.models import MLP, build_grade, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import half_mse


@pytest.mark.parametrize("name, fn", [("gelu", torch.nn.functional.gelu), ("softplus", torch.nn.functional.softplus),
                                      ("tanh", torch.tanh)])
def test_hidden_layers_use_the_activation(name, fn):
    net = MLP((1, 5, 4, 1), generator=torch.Generator().manual_seed(0), activation=name).double()
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    h = fn(net.hidden[0](x))
    want = net.out(fn(net.hidden[1](h)))
    torch.testing.assert_close(net(x), want, rtol=0, atol=0)
    assert not _closed_form_applies(net, OutputLoss(x, lambda out: half_mse(x, out)))   # ReLU's closed form only


def test_relu_default_is_unchanged_and_bad_names_fail():
    a = build_network(get_structure("26"), seed=3, init="he_normal", relu_prime_at_zero=1)
    b = build_network(get_structure("26"), seed=3, init="he_normal", relu_prime_at_zero=1, activation="relu")
    x = torch.linspace(0, 1, 11)[:, None]
    assert torch.equal(a(x), b(x))
    assert build_grade(get_structure("30"), 2, activation="tanh").act is torch.tanh
    with pytest.raises(ValueError, match="unknown activation 'swish'; accepted: relu, gelu, softplus, tanh, srelu"):
        MLP((1, 4, 1), activation="swish")
    with pytest.raises(ValueError, match="activation 'tanh' is not for MSDL networks; accepted: relu, srelu"):
        build_network(get_structure("msdl"), activation="tanh")
    with pytest.raises(ValueError, match="activation 'srelu' is for MSDL networks"):
        build_network(get_structure("26"), activation="srelu")


def test_activation_field_keeps_the_keys_of_relu_configs():
    relu = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.1, "cpu", device="cpu")
    assert "activation" not in relu.to_dict()                       # the key of every earlier record holds
    tanh = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.1, "cpu", device="cpu", activation="tanh")
    assert tanh.to_dict()["activation"] == "tanh" and tanh.key != relu.key
    assert gd_dynamics.GDConfig.from_dict(tanh.to_dict()) == tanh
    assert gd_dynamics.GDConfig.from_dict(relu.to_dict()) == relu
    with pytest.raises(ValueError, match="activation 'tanh' of MSDL belongs to task 'msdl_variants'"):
        gd_dynamics.make_config("msdl", 1, "MSDL", 0.1, "cpu", device="cpu", activation="tanh")
    with pytest.raises(ValueError, match="unknown activation 'tanh'; accepted: relu, srelu, bspline2"):
        gd_dynamics.make_config("msdl_variants", 1, "MSDL", 0.1, "cpu", device="cpu", activation="tanh")
    with pytest.raises(ValueError, match="unknown activation 'srelu'; accepted: relu, gelu"):
        gd_dynamics.make_config("activation", 1, "SGDL", 0.1, "cpu", device="cpu", activation="srelu")


def test_activation_study_configs_and_a_tracked_run(tmp_path):
    configs = gd_dynamics.configs("smoke", ("activation",), device="cpu")
    assert {c.activation for c in configs} == {"relu", "tanh"} and {c.method for c in configs} == {"SGDL", "MGDL"}
    assert len({c.key for c in configs}) == len(configs) == 8
    tracked = next(c for c in configs if c.method == "MGDL" and c.activation == "tanh" and c.track_every)
    rec = run(tracked, results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.path.name.startswith("MGDL-setting1_tanh-")
    grades = rec.series["grades"]
    assert len(grades) == 4 and all(g["eig_epochs"] == [0, 40] for g in grades)
    assert rec.metrics["n_checks"] == 8 and rec.metrics["eig_min"] is not None
