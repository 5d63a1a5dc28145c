import math

import pytest
import torch

from mgdlcore.models import MLP
from mgdlcore.training.loop import TrainConfig, half_mse, train


def tiny_problem(generator):
    x = torch.linspace(0, 1, 33).unsqueeze(1)
    y = torch.sin(2 * math.pi * x)
    net = MLP((1, 16, 16, 1), generator=generator)
    return net, x, y


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-2), ("gd", 0.1)])
def test_loss_falls_on_tiny_problem(generator, optimizer, lr):
    net, x, y = tiny_problem(generator)
    cfg = TrainConfig(epochs=300, learning_rate=lr, optimizer=optimizer, eval_every=50, progress=False)
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg)
    assert not hist.diverged and hist.epochs_run == 300
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert hist.eval_epochs == [0, 50, 100, 150, 200, 250, 300]


def test_history_loss_is_pre_update_loss(generator):
    net, x, y = tiny_problem(generator)
    first = float(half_mse(y, net(x)).detach())
    cfg = TrainConfig(epochs=5, learning_rate=1e-3, eval_every=2, loss_every=2, progress=False)
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg)
    assert hist.loss_epochs == [0, 2, 4]
    assert hist.loss[0] == pytest.approx(first, rel=1e-6)


def test_plain_gd_step_is_eq2():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    a = torch.tensor([3.0, 0.5])
    cfg = TrainConfig(epochs=1, learning_rate=0.1, optimizer="gd", progress=False)
    train(lambda: 0.5 * (a * w * w).sum(), [w], cfg)
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 0.1 * 3.0, -2.0 + 0.1 * 0.5 * 2.0]))


def test_divergence_is_recorded_not_raised(generator):
    net, x, y = tiny_problem(generator)
    cfg = TrainConfig(epochs=500, learning_rate=50.0, optimizer="gd", eval_every=10, progress=False)
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg)
    assert hist.diverged
    assert hist.diverged_epoch is not None and hist.epochs_run == hist.diverged_epoch + 1 < 500
    assert hist.loss[-1] is None  # the non-finite loss is kept as None (JSON null)


def test_callbacks_collect_metrics(generator):
    net, x, y = tiny_problem(generator)
    calls = []

    def cb(epoch):
        calls.append(epoch)
        return {"double": 2.0 * epoch}

    cfg = TrainConfig(epochs=7, learning_rate=1e-3, eval_every=3, progress=False)
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg, callbacks=[cb])
    assert calls == [0, 3, 6, 7] and hist.metrics["double"] == [0.0, 6.0, 12.0, 14.0]


@pytest.mark.parametrize("kwargs, match", [({"epochs": -1}, "epochs"), ({"learning_rate": 0}, "learning_rate"),
                                           ({"optimizer": "sgd"}, "accepted: 'adam', 'gd'")])
def test_bad_config(kwargs, match):
    base = {"epochs": 1, "learning_rate": 1e-3}
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{**base, **kwargs})
