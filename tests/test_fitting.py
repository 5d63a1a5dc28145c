import torch

from mgdlcore import models
from mgdlcore.training.grades import fit_mgdl, fit_network
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import TrainConfig


def data(generator, n=64):
    x = torch.rand(n, 1, generator=generator)
    return x, torch.sin(6 * x) + 0.3 * torch.cos(17 * x)


def test_mgdl_grades_reduce_training_loss_and_match_model(generator):
    x, y = data(generator)
    xv, yv = data(generator, 40)
    cfg = TrainConfig(epochs=150, learning_rate=1e-2, eval_every=50, progress=False)
    model, grades = fit_mgdl(get_structure("30"), x, y, cfg, eval_sets={"val": (xv, yv)}, n_grades=3)
    assert model.n_grades == 3 and [g.grade for g in grades] == [1, 2, 3]
    losses = [float(0.5 * ((y - g.predictions["train"]) ** 2).mean()) for g in grades]
    assert losses[2] < losses[0]
    # the cached cumulative predictions are what the assembled model computes
    with torch.no_grad():
        torch.testing.assert_close(model(x), grades[-1].predictions["train"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model(xv), grades[-1].predictions["val"], rtol=1e-5, atol=1e-6)
    # the val-loss history of grade 2 ends at the loss of its cumulative prediction
    last_val = grades[1].history.metrics["val_loss"][-1]
    assert abs(last_val - float(0.5 * ((yv - grades[1].predictions["val"]) ** 2).mean())) < 1e-6


def test_frozen_grades_are_evaluated_once_per_grade(generator, monkeypatch):
    x, y = data(generator)
    calls = {"n": 0}
    original = models.MLP.forward_with_features

    def counting(self, inp):
        calls["n"] += 1
        return original(self, inp)

    monkeypatch.setattr(models.MLP, "forward_with_features", counting)
    cfg = TrainConfig(epochs=40, learning_rate=1e-2, eval_every=10, progress=False)
    fit_mgdl(get_structure("30"), x, y, cfg, eval_sets={"val": data(generator, 8)}, n_grades=3)
    # once per grade and data set (train, val) after each grade; never inside the 40-step loops
    assert calls["n"] == 3 * 2


def test_fit_network_eval_sets_and_callable_callbacks(generator):
    x, y = data(generator)
    seen = []
    cfg = TrainConfig(epochs=20, learning_rate=1e-2, eval_every=10, progress=False)
    net, hist = fit_network(get_structure("26"), x, y, cfg, eval_sets={"val": (x, y)},
                            callbacks=lambda n: [lambda e: seen.append(type(n).__name__)])
    assert seen == ["MLP"] * 3 and len(hist.metrics["val_loss"]) == 3
