"""A learning-rate sweep of Sec. 5 on eq. (5) trained as one stacked model (:mod:`mgdlcore.training.batched`).

The configs of one sweep differ only in ``learning_rate`` (:func:`batch_key`); :func:`compute_batch` trains them
together, SGDL (26) as one stacked network and MGDL (30) grade by grade, and returns for each the
:class:`~mgdlcore.experiments.runner.Outcome` that :func:`~mgdlcore.experiments.gd_dynamics.compute` returns for
it alone: same metrics, same series, computed from the same histories. ``tests/test_gd_sweep.py`` checks both paths
give the same numbers. :func:`~mgdlcore.experiments.runner.run_batch` writes one record per config; a record says
in ``provenance.code_path`` that it came from this module, and its code fingerprint is this module's code path.

What is batched: tasks ``"learning_rate"`` and ``"activation"`` (its ReLU runs) on the synthetic data, plain GD,
ReLU, no eigenvalue tracks. Anything else runs one config at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch

from ..analysis.curves import oscillation
from ..data.synthetic import synthetic_data
from ..structures import get_structure
from ..training.batched import StackedMLP, fit_mgdl_batched, train_gd_batched
from ..models import build_network
from ..training.loop import TrainConfig, half_mse
from .gd_dynamics import GDConfig, _finite
from .runner import Context, Outcome, register_batch


BATCHED_TASKS = ("learning_rate", "activation")   # Sec. 5's sweeps, and the ReLU reference of the activation study


def batch_key(config) -> str | None:
    """The key shared by the configs that can be trained together with ``config`` (every field but the learning
    rate), or None when ``config`` runs alone."""
    if not (isinstance(config, GDConfig) and config.task in BATCHED_TASKS and config.image is None
            and config.method in ("SGDL", "MGDL") and config.optimizer == "gd" and config.activation == "relu"
            and config.track_every is None and config.batch_size is None):
        return None
    fields = {k: v for k, v in config.to_dict().items() if k != "learning_rate"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def compute_batch(configs: Sequence[GDConfig], ctx: Context) -> list[Outcome]:
    """Train every config of one sweep at once; the outcome of each, in order."""
    keys = {batch_key(c) for c in configs}
    if None in keys or len(keys) != 1:
        raise ValueError("compute_batch needs configs of one learning-rate sweep (equal but for learning_rate)")
    c = configs[0]
    dtype = getattr(torch, c.dtype)
    data = synthetic_data(c.setting, phase_seed=c.phase_seed or 0, phases=c.phases, val_seed=c.val_seed,
                          device=ctx.device, dtype=dtype)
    x, y = data.x_train, data.y_train
    evals = {"train": (x, y), "val": (data.x_val, data.y_val)}
    lrs = [cfg.learning_rate for cfg in configs]
    structure = get_structure(c.structure)
    train_cfg = TrainConfig(epochs=c.epochs, learning_rate=max(lrs), optimizer="gd", eval_every=c.eval_every,
                            loss_every=c.loss_every, progress=ctx.progress,
                            description=f"{c.subject()} {c.method} {len(lrs)} learning rates")
    if c.method == "MGDL":
        histories, counts = fit_mgdl_batched(structure, x, y, lrs, train_cfg, seed=c.seed, init=c.init,
                                             relu_prime_at_zero=c.relu_prime_at_zero, eval_sets=evals)
        complete = [len(h) == structure.n_grades for h in histories]
    else:
        net = build_network(structure, seed=c.seed, init=c.init, relu_prime_at_zero=c.relu_prime_at_zero)
        model = StackedMLP([net.to(device=ctx.device, dtype=dtype)] * len(lrs))
        hists = train_gd_batched(model, x, y, lrs, train_cfg, eval_sets=evals)
        histories = [[h] for h in hists]
        counts = [[sum(p.numel() for p in net.parameters())]] * len(lrs)
        complete = [True] * len(lrs)
    common = {"n_train": x.shape[0], "n_val": data.x_val.shape[0],
              "zero_predictor_loss": float(half_mse(y, torch.zeros_like(y)))}
    series = {"kappa": list(data.kappa), "phases": list(data.phases)}
    return [_outcome(cfg, h, n, done, common, series) for cfg, h, n, done in zip(configs, histories, counts, complete)]


def _outcome(config: GDConfig, histories, n_params: list[int], complete: bool, common: dict, series: dict) -> Outcome:
    """The metrics and series of one run, as :func:`~mgdlcore.experiments.gd_dynamics.compute` makes them."""
    mgdl = config.method == "MGDL"
    grades = [{"grade": i + 1 if mgdl else None, "n_parameters": n_params[i], "loss_epochs": h.loss_epochs,
               "loss": h.loss, "eval_epochs": h.eval_epochs, "train_loss": h.metrics.get("train_loss", []),
               "val_loss": h.metrics.get("val_loss", []), "diverged_epoch": h.diverged_epoch,
               "epochs_run": h.epochs_run, "seconds": h.seconds} for i, h in enumerate(histories)]
    diverged = any(h.diverged for h in histories)
    last = grades[-1]
    final_train = None if diverged or not last["train_loss"] else _finite(last["train_loss"][-1])
    final_val = None if diverged or not last["val_loss"] else _finite(last["val_loss"][-1])
    diverged = diverged or final_train is None or not complete
    metrics = dict(common)
    metrics.update(
        diverged=diverged,
        diverged_grade=next((i + 1 for i, h in enumerate(histories) if h.diverged), None) if mgdl else None,
        diverged_epoch=next((h.diverged_epoch for h in histories if h.diverged), None),
        final_train_loss=None if diverged else final_train,
        final_val_loss=None if diverged else final_val,
        n_parameters=sum(n_params),
    )
    osc = oscillation([g["loss"] for g in grades])
    metrics.update(frac_increases=osc["frac_increases"], max_jump=osc["max_jump"])
    return Outcome(metrics=metrics, series={**series, "grades": grades})


register_batch(GDConfig, batch_key, compute_batch)
