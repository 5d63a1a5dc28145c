"""Fitting SGDL and MGDL to data ``(x, y)`` with the loss (1)/(3).

MGDL (Sec. 3): grade ``l`` is a shallow network trained on the frozen features ``x_l`` (the last hidden
layer of grade ``l-1``) against the residual ``e_l = y - sum_{j<l} g_j``. The features and the
previous grades' predictions of every data set are computed once per grade and cached, so a training
step never runs through frozen layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..models import MLP, MultiGradeModel, build_grade, build_network
from ..structures import MGDLStructure, MSDLStructure, SGDLStructure
from ..training.loop import Callback, History, TrainConfig, half_mse, train
from ..training.fused import fused_epoch
from ..training.minibatch import MiniBatches

Sets = Mapping[str, tuple[Tensor, Tensor]]


def loss_callback(model: Callable[[Tensor], Tensor], sets: Sets, offsets: Mapping[str, Tensor] | None = None
                  ) -> Callback:
    """A callback returning ``{name}_loss`` (the loss (1) of ``offset + model(x)`` against ``y``) for each set."""

    def cb(epoch: int) -> dict[str, float]:
        out = {}
        with torch.no_grad():
            for name, (x, y) in sets.items():
                pred = model(x)
                if offsets is not None:
                    pred = pred + offsets[name]
                out[f"{name}_loss"] = float(half_mse(y, pred))
        return out

    return cb


def _train_on(net: torch.nn.Module, x: Tensor, y: Tensor, config: TrainConfig, callbacks: Sequence[Callback],
              batch_size: int | None, seed: int) -> History:
    """``train`` on the loss (1) of ``net`` at ``(x, y)``: full batch, or mini-batches of ``batch_size`` points."""
    if batch_size is None:
        return train(lambda: half_mse(y, net(x)), list(net.parameters()), config, callbacks=callbacks,
                     fast_epoch=fused_epoch(net, x, y, config))
    batches = MiniBatches(x.shape[0], batch_size, seed)

    def loss() -> Tensor:
        idx = batches.next().to(x.device)
        return half_mse(y[idx], net(x[idx]))

    return train(loss, list(net.parameters()), config, callbacks=callbacks, state=batches.state)


def fit_network(structure: SGDLStructure | MSDLStructure, x: Tensor, y: Tensor, config: TrainConfig, *,
                seed: int = 0, init: str = "glorot_normal", relu_prime_at_zero: int = 0, activation: str = "relu",
                eval_sets: Sets | None = None, callbacks: Sequence[Callback] | Callable[[torch.nn.Module],
                Sequence[Callback]] = (), batch_size: int | None = None) -> tuple[torch.nn.Module, History]:
    """Train an SGDL (or MSDL) network end to end on ``(x, y)``.

    ``callbacks`` is a list, or a function of the freshly built network returning one (for callbacks that
    need the network, e.g. Hessian eigenvalues). ``batch_size``: each step on a mini-batch of that many points
    (:class:`~mgdlcore.training.minibatch.MiniBatches`, seeded by ``seed``); None: full batch.
    """
    net = build_network(structure, seed=seed, init=init, relu_prime_at_zero=relu_prime_at_zero,
                        activation=activation).to(x.device)
    if callable(callbacks):
        callbacks = callbacks(net)
    cbs = list(callbacks)
    if eval_sets:
        cbs.insert(0, loss_callback(net, eval_sets))
    return net, _train_on(net, x, y, config, cbs, batch_size, seed)


@dataclass
class GradeResult:
    """One grade of an MGDL fit: its history and, per data set, the cumulative prediction after it."""

    grade: int
    history: History
    predictions: dict[str, Tensor]


def fit_mgdl(structure: MGDLStructure, x: Tensor, y: Tensor, config: TrainConfig, *, seed: int = 0,
             init: str = "glorot_normal", relu_prime_at_zero: int = 0, activation: str = "relu",
             eval_sets: Sets | None = None, n_grades: int | None = None,
             grade_callbacks: Callable[[int, MLP, Tensor, Tensor], Sequence[Callback]] | None = None,
             batch_size: int | None = None) -> tuple[MultiGradeModel, list[GradeResult]]:
    """Train the grades of ``structure`` one after another (Sec. 3, eqs. (3)-(4)).

    ``grade_callbacks(grade, net, features, residual)`` may add callbacks for a grade (e.g. Hessian
    eigenvalues of that grade's loss). A grade that diverges ends the fit: later grades are not trained.
    ``batch_size``: each step of a grade on a mini-batch of that many points (seeded by ``seed`` and the grade);
    None: full batch.
    """
    sets: dict[str, tuple[Tensor, Tensor]] = {"train": (x, y), **(dict(eval_sets) if eval_sets else {})}
    feats = {name: xs for name, (xs, _) in sets.items()}
    preds = {name: torch.zeros_like(ys) for name, (_, ys) in sets.items()}
    model = MultiGradeModel()
    results: list[GradeResult] = []
    for grade in range(1, (n_grades or structure.n_grades) + 1):
        net = build_grade(structure, grade, seed=seed, init=init, relu_prime_at_zero=relu_prime_at_zero,
                          activation=activation).to(x.device)
        f_train = feats["train"]
        residual = y - preds["train"]
        cbs: list[Callback] = []
        if eval_sets:
            ev = {name: (feats[name], sets[name][1]) for name in eval_sets}
            cbs.append(loss_callback(net, ev, {name: preds[name] for name in eval_sets}))
        if grade_callbacks is not None:
            cbs.extend(grade_callbacks(grade, net, f_train, residual))
        cfg = replace(config, description=f"{config.description} grade {grade}".strip())
        hist = _train_on(net, f_train, residual, cfg, cbs, batch_size, seed * 100 + grade)
        with torch.no_grad():
            for name in sets:
                out, feats[name] = net.forward_with_features(feats[name])
                preds[name] = preds[name] + out
        model.add_grade(net)
        results.append(GradeResult(grade, hist, {k: v.clone() for k, v in preds.items()}))
        if hist.diverged:
            break
    return model, results
