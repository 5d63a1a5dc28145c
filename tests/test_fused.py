"""The fused CPU epoch of plain GD (training.fused) is the autograd epoch, bit for bit."""

import pytest
import torch

from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training import fused
from mgdlcore.training.fused import fused_epoch
from mgdlcore.training.grades import fit_network
from mgdlcore.training.loop import TrainConfig, half_mse, train


def _run(net, x, y, cfg, fast: bool):
    return train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg,
                 fast_epoch=fused_epoch(net, x, y, cfg) if fast else None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("relu_prime_at_zero", [0, 1])
@pytest.mark.parametrize("which", ["sgdl26", "grade2"])
def test_fused_epochs_equal_autograd_bitwise(dtype, relu_prime_at_zero, which):
    d = synthetic_data(2)
    x, y = d.x_train.to(dtype), d.y_train.to(dtype)
    if which == "grade2":          # a grade on frozen features of width 32 (eq. (4)), against a residual
        g1 = build_grade(get_structure("30"), 1, seed=1, init="he_normal", relu_prime_at_zero=relu_prime_at_zero)
        with torch.no_grad():
            out, x = g1.to(dtype).forward_with_features(x)
        y = y - out

    def make():
        if which == "sgdl26":
            return build_network(get_structure("26"), seed=4, init="he_normal",
                                 relu_prime_at_zero=relu_prime_at_zero).to(dtype)
        return build_grade(get_structure("30"), 2, seed=1, init="he_normal",
                           relu_prime_at_zero=relu_prime_at_zero).to(dtype)

    cfg = TrainConfig(epochs=120, learning_rate=0.2, optimizer="gd", eval_every=40, progress=False)
    a, b = make(), make()
    ha, hb = _run(a, x, y, cfg, fast=False), _run(b, x, y, cfg, fast=True)
    assert ha.loss == hb.loss and ha.loss[0] != ha.loss[-1]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_diverging_run_diverges_at_the_same_epoch():
    d = synthetic_data(1)
    cfg = TrainConfig(epochs=300, learning_rate=3.0, optimizer="gd", eval_every=50, progress=False)
    nets = [build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1) for _ in range(2)]
    ha, hb = (_run(n, d.x_train, d.y_train, cfg, fast=f) for n, f in zip(nets, (False, True)))
    assert ha.diverged and hb.diverged and ha.diverged_epoch == hb.diverged_epoch
    assert ha.loss == hb.loss or all((u is None and v is None) or u == v for u, v in zip(ha.loss, hb.loss))


def test_hooks_send_an_epoch_down_the_autograd_path():
    """A zeroing gradient hook (EigenTracker's freeze) must hold the parameters still, fused path or not."""
    d = synthetic_data(1)
    net = build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1)
    before = [p.detach().clone() for p in net.parameters()]
    handles = [p.register_hook(torch.zeros_like) for p in net.parameters()]
    cfg = TrainConfig(epochs=10, learning_rate=0.1, optimizer="gd", eval_every=5, progress=False)
    _run(net, d.x_train, d.y_train, cfg, fast=True)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    for h in handles:
        h.remove()
    _run(net, d.x_train, d.y_train, cfg, fast=True)
    assert not all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_fit_network_uses_it_where_it_applies(monkeypatch):
    calls = []
    original = fused.FusedGDEpoch.__call__
    monkeypatch.setattr(fused.FusedGDEpoch, "__call__", lambda self, slot: (calls.append(1), original(self, slot)))
    d = synthetic_data(1)
    cfg = TrainConfig(epochs=7, learning_rate=0.1, optimizer="gd", eval_every=7, progress=False)
    fit_network(get_structure("26"), d.x_train, d.y_train, cfg, seed=0, init="he_normal")
    assert len(calls) == 7


@pytest.mark.parametrize("case", ["adam", "tanh", "msdl", "frozen"])
def test_it_does_not_apply_elsewhere(case):
    d = synthetic_data(1)
    cfg = TrainConfig(epochs=1, learning_rate=0.1, optimizer="adam" if case == "adam" else "gd", progress=False)
    net = (build_network(get_structure("msdl")) if case == "msdl"
           else build_network(get_structure("26"), activation="tanh" if case == "tanh" else "relu"))
    if case == "frozen":
        net.out.bias.requires_grad_(False)
    assert fused_epoch(net, d.x_train, d.y_train, cfg) is None
    assert fused_epoch(build_network(get_structure("26")), d.x_train, d.y_train,
                       TrainConfig(epochs=1, learning_rate=0.1, optimizer="gd")) is not None
