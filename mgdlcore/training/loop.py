"""Full-batch training: plain gradient descent, eq. (2)/(4), or Adam, with a history and divergence record.

The loop is deliberately small. Everything task-specific (the loss, what to evaluate, Hessian
eigenvalues, snapshots) comes in through the ``loss_fn`` closure and callbacks.
"""

from __future__ import annotations

import math
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from . import checkpoint, graphs

Callback = Callable[[int], dict[str, float] | None]


@dataclass(frozen=True)
class TrainConfig:
    """How one network (an SGDL model or one MGDL grade) is trained."""

    epochs: int                                   # full-batch steps
    learning_rate: float                          # eta in eq. (2)
    optimizer: Literal["adam", "gd"] = "adam"     # "gd" is plain gradient descent, eq. (2)
    eval_every: int = 100                         # callbacks run every this many epochs (and at the ends)
    loss_every: int = 1                           # keep the training loss of every this many epochs
    progress: bool = True                         # tqdm.auto progress bar
    description: str = ""                         # progress-bar label

    def __post_init__(self):
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in ("adam", "gd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; accepted: 'adam', 'gd'")
        if self.eval_every < 1 or self.loss_every < 1:
            raise ValueError("eval_every and loss_every must be >= 1")


@dataclass
class History:
    """What happened during one training run."""

    loss_epochs: list[int] = field(default_factory=list)   # epochs at which ``loss`` was kept
    loss: list[float] = field(default_factory=list)        # loss at the parameters *before* that epoch's step
    eval_epochs: list[int] = field(default_factory=list)   # epochs (steps done) at which callbacks ran
    metrics: dict[str, list[float]] = field(default_factory=dict)
    diverged: bool = False
    diverged_epoch: int | None = None                      # first epoch whose loss was not finite
    epochs_run: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "gd":
        return torch.optim.SGD(params, lr=config.learning_rate, momentum=0.0)
    return torch.optim.Adam(params, lr=config.learning_rate)


def _nan_to_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def train(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] = (),
    state: dict[str, torch.Tensor] | None = None,
    fast_epoch: Callable[[torch.Tensor], None] | None = None,
) -> History:
    """Minimise ``loss_fn()`` over ``params`` for ``config.epochs`` full-batch steps.

    Each epoch evaluates ``loss_fn`` once (at the pre-update parameters), back-propagates and takes one
    optimiser step. Every ``config.eval_every`` epochs, and before the first and after the last step,
    each callback is called with the number of steps done; the dicts they return are collected in
    ``History.metrics``. Losses stay on the device between checks, so a GPU is not synchronised
    every step. A non-finite loss ends the run with ``History.diverged = True`` instead of raising. Plain gradient
    descent on a GPU replays blocks of epochs as CUDA graphs (:mod:`~mgdlcore.training.graphs`), the same kernels.

    Inside a :func:`~mgdlcore.training.checkpoint.checkpointing` block the run is checkpointed and resumed (see
    that module); ``state`` holds tensors that ``loss_fn`` changes besides ``params`` (saved and restored in
    place of its items). Callbacks keeping state must offer ``state_dict`` / ``load_state_dict``; a callback object
    without them switches checkpointing off for this call (plain functions are taken as stateless). A callback with a
    ``bind_optimizer`` method is given the optimiser before the first epoch (e.g. to read Adam's second moments).

    ``fast_epoch(slot)``: an epoch that computes exactly what the autograd epoch computes, faster (writes the loss
    before its step to ``slot``; :mod:`~mgdlcore.training.fused`); used at every epoch where no parameter carries a
    gradient hook.
    """
    params = list(params)
    opt = make_optimizer(params, config)
    for cb in callbacks:
        if hasattr(cb, "bind_optimizer"):
            cb.bind_optimizer(opt)
    hist = History()
    n = config.epochs
    losses = torch.empty(max(n, 1), dtype=torch.float64, device=params[0].device)
    ck = checkpoint.active()
    slot = ck.next_slot() if ck is not None else None
    if slot is not None and any(not isinstance(cb, types.FunctionType) and not hasattr(cb, "state_dict")
                                for cb in callbacks):
        slot = None                       # a callback whose state could not be restored: no checkpoints

    def run_callbacks(epoch: int) -> None:
        hist.eval_epochs.append(epoch)
        for cb in callbacks:
            out = cb(epoch) or {}
            for k, v in out.items():
                hist.metrics.setdefault(k, []).append(_nan_to_none(float(v)))

    def save(done: int, seconds: float) -> None:
        checkpoint.save(slot, {
            "done": done, "epochs": n, "seconds": seconds, "losses": losses[:done].cpu(),
            "params": [p.detach().cpu() for p in params], "optimizer": opt.state_dict(),
            "history": {k: v for k, v in hist.to_dict().items() if k not in ("loss_epochs", "loss")},
            "callbacks": [cb.state_dict() for cb in callbacks if hasattr(cb, "state_dict")],
            "state": {k: v.detach().cpu() for k, v in (state or {}).items()}})

    t0 = time.perf_counter()
    done, before = 0, 0.0
    loaded = checkpoint.load(slot) if slot is not None else None
    if loaded is not None and loaded["epochs"] != n:
        loaded = None                     # another run's file (cannot happen for one config): start afresh
    if loaded is not None:
        done, before = loaded["done"], loaded["seconds"]
        with torch.no_grad():
            for p, v in zip(params, loaded["params"]):
                p.copy_(v)
        opt.load_state_dict(loaded["optimizer"])
        losses[:done] = loaded["losses"].to(losses.device)
        for k, v in loaded["history"].items():
            setattr(hist, k, v)
        for cb, cb_state in zip([cb for cb in callbacks if hasattr(cb, "state_dict")], loaded["callbacks"]):
            cb.load_state_dict(cb_state)
        for k, v in loaded["state"].items() if state is not None else ():
            state[k] = v.to(state[k].device) if k in state else v
    else:
        run_callbacks(0)
    last_save = time.perf_counter()
    bar = tqdm(total=n, initial=done, desc=config.description, disable=not config.progress, leave=False)

    def hooked() -> bool:
        return any(getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks", None)
                   for p in params)

    def one_epoch(slot: torch.Tensor) -> None:
        if fast_epoch is not None and not hooked():
            fast_epoch(slot)
            return
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        slot.copy_(loss.detach())

    device = params[0].device
    length = graphs.graph_length(device, config.optimizer, config.eval_every, n, stateful=bool(state))
    graphed, eager_until = None, done + graphs.WARMUP
    with graphs.side_stream(device, length):
        while done < n and not hist.diverged:
            stop = min(n, (done // config.eval_every + 1) * config.eval_every)
            epoch = done
            while epoch < stop:
                if length and epoch >= eager_until and stop - epoch >= length:
                    if graphed is None:
                        graphed = graphs.capture(one_epoch, length, device)
                        length = length if graphed is not None else 0
                    if graphed is not None:
                        graphed.run(losses[epoch:epoch + length])
                        epoch += length
                        continue
                one_epoch(losses[epoch])
                epoch += 1
            graphs.wait(device)
            block = losses[done:stop]
            finite = torch.isfinite(block)
            if not bool(finite.all()):
                first = done + int((~finite).nonzero()[0, 0])
                hist.diverged, hist.diverged_epoch = True, first
                stop = first + 1
            else:
                bar.set_postfix(loss=f"{float(block[-1]):.3e}", refresh=False)
            bar.update(stop - done)
            done = stop
            if not hist.diverged:
                run_callbacks(done)
            end = done >= n or hist.diverged
            if slot is not None and (end or time.perf_counter() - last_save >= ck.every_seconds):
                hist.epochs_run = done
                save(done, before + time.perf_counter() - t0)
                last_save = time.perf_counter()
    bar.close()
    hist.epochs_run = done
    kept = list(range(0, done, config.loss_every))
    if done and kept[-1] != done - 1:
        kept.append(done - 1)
    values = losses[:done].cpu().tolist() if done else []
    hist.loss_epochs = kept
    hist.loss = [_nan_to_none(values[i]) for i in kept]
    hist.seconds = before + time.perf_counter() - t0
    return hist


def half_mse(target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """The loss (1)/(3): ``1/(2N) sum ||y - N(x)||^2``."""
    return 0.5 * torch.mean((target - prediction) ** 2)
