"""A learning-rate sweep of MSDL (Sec. 7, Figures 25-26) on eq. (5) trained as one stacked model.

The configs of one sweep (task ``"msdl"``, method MSDL, plain GD, ReLU, no eigenvalue tracks; or task
``"msdl_variants"``, Sec. 7's conjecture, with either structure and activation) differ only in ``learning_rate``
(:func:`batch_key`); :func:`compute_batch` trains them together
(:mod:`mgdlcore.training.batched_msdl`) and returns for each the outcome that
:func:`~mgdlcore.experiments.gd_dynamics.compute` returns for it alone (the same assembly as
:mod:`~mgdlcore.experiments.gd_sweep`). ``tests/test_batched_msdl.py`` checks both paths give the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch

from ..data.synthetic import synthetic_data
from ..models import build_network
from ..structures import get_structure
from ..training.batched_msdl import StackedMSDL, train_msdl_batched
from ..training.loop import TrainConfig, half_mse
from .gd_dynamics import GDConfig
from .gd_sweep import _outcome
from .runner import Context, Outcome, register_batch


def batch_key(config) -> str | None:
    """The key shared by the MSDL configs trained together with ``config`` (every field but the learning rate), or
    None when ``config`` runs alone."""
    if not (isinstance(config, GDConfig) and config.task in ("msdl", "msdl_variants") and config.method == "MSDL"
            and config.image is None and config.optimizer == "gd" and config.track_every is None
            and config.batch_size is None):
        return None
    fields = {k: v for k, v in config.to_dict().items() if k != "learning_rate"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def compute_batch(configs: Sequence[GDConfig], ctx: Context) -> list[Outcome]:
    """Train every MSDL config of one sweep at once; the outcome of each, in order."""
    keys = {batch_key(c) for c in configs}
    if None in keys or len(keys) != 1:
        raise ValueError("compute_batch needs MSDL configs of one learning-rate sweep (equal but for learning_rate)")
    c = configs[0]
    dtype = getattr(torch, c.dtype)
    data = synthetic_data(c.setting, phase_seed=c.phase_seed or 0, phases=c.phases, val_seed=c.val_seed,
                          device=ctx.device, dtype=dtype)
    x, y = data.x_train, data.y_train
    lrs = [cfg.learning_rate for cfg in configs]
    net = build_network(get_structure(c.structure), seed=c.seed, init=c.init, relu_prime_at_zero=c.relu_prime_at_zero,
                        activation=c.activation).to(device=ctx.device, dtype=dtype)
    model = StackedMSDL([net] * len(lrs))
    cfg = TrainConfig(epochs=c.epochs, learning_rate=max(lrs), optimizer="gd", eval_every=c.eval_every,
                      loss_every=c.loss_every, progress=ctx.progress,
                      description=f"{c.subject()} MSDL {len(lrs)} learning rates")
    hists = train_msdl_batched(model, x, y, lrs, cfg, eval_sets={"train": (x, y), "val": (data.x_val, data.y_val)})
    n_params = sum(p.numel() for p in net.parameters())
    common = {"n_train": x.shape[0], "n_val": data.x_val.shape[0],
              "zero_predictor_loss": float(half_mse(y, torch.zeros_like(y)))}
    series = {"kappa": list(data.kappa), "phases": list(data.phases)}
    return [_outcome(cfg_, [h], [n_params], True, common, series) for cfg_, h in zip(configs, hists)]


register_batch(GDConfig, batch_key, compute_batch)
