"""The stacked (batched) GD sweep equals the same runs done one at a time, a diverging member included."""

import math

import pytest
import torch

from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.models import MLP, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.batched import StackedMLP, member_losses, train_gd_batched
from mgdlcore.training.grades import loss_callback
from mgdlcore.training.loop import TrainConfig, half_mse, train

# setting 1 with SGDL (26): lr 0.5 diverges within a few hundred epochs, the others do not
LRS = (0.003, 0.03, 0.5, 0.1)


@pytest.fixture(scope="module")
def problem():
    d = synthetic_data(1, dtype=torch.float64)
    return d.x_train, d.y_train, {"val": (d.x_val, d.y_val)}


def test_members_equal_serial_runs(problem):
    x, y, evals = problem
    cfg = TrainConfig(epochs=300, learning_rate=1.0, optimizer="gd", eval_every=50, loss_every=7, progress=False)
    nets = [build_network(get_structure("26"), seed=s, init="he_normal", relu_prime_at_zero=1).double()
            for s in range(len(LRS))]
    model = StackedMLP(nets)
    hists = train_gd_batched(model, x, y, LRS, cfg, eval_sets=evals)
    assert sum(h.diverged for h in hists) == 1 and hists[2].diverged
    for b, lr in enumerate(LRS):
        net = build_network(get_structure("26"), seed=b, init="he_normal", relu_prime_at_zero=1).double()
        one = TrainConfig(**{**cfg.__dict__, "learning_rate": lr})
        ref = train(lambda net=net: half_mse(y, net(x)), list(net.parameters()), one,
                    callbacks=[loss_callback(net, evals)])
        h = hists[b]
        assert (h.diverged, h.diverged_epoch, h.epochs_run) == (ref.diverged, ref.diverged_epoch, ref.epochs_run)
        assert h.loss_epochs == ref.loss_epochs and h.eval_epochs == ref.eval_epochs
        for got, want in zip(h.loss, ref.loss):
            assert (got is None) == (want is None)
            if want is not None:
                assert got == pytest.approx(want, rel=1e-10, abs=1e-14)
        for got, want in zip(h.metrics["val_loss"], ref.metrics["val_loss"]):
            assert got == pytest.approx(want, rel=1e-10, abs=1e-14)
        if not ref.diverged:
            member = model.member(b)
            for p, q in zip(member.parameters(), net.parameters()):
                torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_shared_and_stacked_inputs_agree(problem):
    x, y, _ = problem
    nets = [MLP((1, 8, 8, 1), generator=torch.Generator().manual_seed(s)).double() for s in range(3)]
    model = StackedMLP(nets)
    with torch.no_grad():
        shared = model(x)
        stacked = model(x.expand(3, *x.shape).contiguous())
    torch.testing.assert_close(shared, stacked)
    for b, net in enumerate(nets):
        with torch.no_grad():
            torch.testing.assert_close(shared[b], net(x))
            assert float(member_losses(y, shared)[b]) == pytest.approx(0.5 * float(((y - net(x)) ** 2).mean()))


def test_bad_input_is_refused(problem):
    x, y, _ = problem
    nets = [MLP((1, 8, 8, 1)).double(), MLP((1, 8, 4, 1)).double()]
    with pytest.raises(ValueError, match="share widths"):
        StackedMLP(nets)
    model = StackedMLP([MLP((1, 8, 8, 1)).double()])
    with pytest.raises(ValueError, match="1 stacked"):
        train_gd_batched(model, x, y, [0.1, 0.2], TrainConfig(epochs=1, learning_rate=1.0, optimizer="gd"))
    with pytest.raises(ValueError, match="plain gradient descent"):
        train_gd_batched(model, x, y, [0.1], TrainConfig(epochs=1, learning_rate=1.0, optimizer="adam"))
    with torch.no_grad():
        assert math.isfinite(float(member_losses(y, model(x))[0]))
