"""Many independent full-batch gradient-descent runs of one network shape, trained as one stacked model.

A learning-rate sweep of Sec. 5 trains the same structure from the same initialisation at many step sizes
(eq. (2)/(4)). Here the ``B`` members' weights are stacked into ``(B, fan_in, fan_out)`` tensors and each layer is
one batched matrix product (``torch.baddbmm``), so a GPU runs the whole sweep at the cost of a few serial runs.
Members are independent: member ``b``'s loss depends only on its own parameters, so the gradient of the summed
losses is each member's own gradient, and member ``b`` steps with its own learning rate.

A member whose loss becomes non-finite is marked diverged at that epoch exactly as :func:`~.loop.train` marks a
serial run (the check runs at the end of each block of ``eval_every`` epochs), and is frozen (learning rate 0)
from then on; the others go on. ``tests/test_batched.py`` checks that every member equals the same run done alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..models import MLP, relu_right
from .loop import History, TrainConfig, _nan_to_none


class StackedMLP:
    """``B`` MLPs of the same widths and activation as stacked tensors (weights ``(B, in, out)``, biases
    ``(B, 1, out)``); :meth:`member` gives member ``b`` back as an :class:`~mgdlcore.models.MLP`."""

    def __init__(self, nets: Sequence[MLP]):
        if not nets:
            raise ValueError("StackedMLP needs at least one network")
        widths = {n.widths for n in nets}
        kinks = {n.relu_prime_at_zero for n in nets}
        if len(widths) != 1 or len(kinks) != 1:
            raise ValueError("the stacked networks must share widths and relu_prime_at_zero, got "
                             f"{sorted(widths)} and {sorted(kinks)}")
        self.widths, self.relu_prime_at_zero = nets[0].widths, nets[0].relu_prime_at_zero
        self.act = relu_right if self.relu_prime_at_zero == 1 else torch.relu
        layers = [[*n.hidden, n.out] for n in nets]
        self.weights = [torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous().requires_grad_()
                        for i in range(len(layers[0]))]
        self.biases = [torch.stack([ls[i].bias.detach()[None, :] for ls in layers]).contiguous().requires_grad_()
                       for i in range(len(layers[0]))]

    @property
    def size(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[Tensor]:
        return [*self.weights, *self.biases]

    def _input(self, x: Tensor) -> Tensor:
        return x.expand(self.size, *x.shape) if x.dim() == 2 else x

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs ``(B, N, out)`` and last hidden features ``(B, N, width)``; ``x`` is ``(N, d)`` (shared by
        every member) or ``(B, N, d)``."""
        h = self._input(x)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = self.act(torch.baddbmm(b, h, w))
        return torch.baddbmm(self.biases[-1], h, self.weights[-1]), h

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward_with_features(x)[0]

    def member(self, b: int) -> MLP:
        """Member ``b`` as a plain :class:`MLP` (a copy of its current parameters)."""
        net = MLP(self.widths, relu_prime_at_zero=self.relu_prime_at_zero).to(self.weights[0].dtype)
        with torch.no_grad():
            for layer, w, bias in zip([*net.hidden, net.out], self.weights, self.biases):
                layer.weight.copy_(w[b].t())
                layer.bias.copy_(bias[b, 0])
        return net.to(device=self.weights[0].device, dtype=self.weights[0].dtype)


def member_losses(target: Tensor, prediction: Tensor) -> Tensor:
    """The loss (1)/(3) of each member, ``(B,)``: ``1/(2N) sum ||y - N(x)||^2`` over its own outputs."""
    return 0.5 * ((target - prediction) ** 2).flatten(1).mean(1)


def train_gd_batched(model: StackedMLP, x: Tensor, y: Tensor, learning_rates: Sequence[float], config: TrainConfig,
                     *, eval_sets: Mapping[str, tuple[Tensor, Tensor]] | None = None) -> list[History]:
    """Full-batch GD, eq. (2), of every member of ``model`` at its own learning rate; one :class:`History` each.

    ``x`` is ``(N, d)`` or ``(B, N, d)``, ``y`` is ``(N, out)`` or ``(B, N, out)``; ``eval_sets`` maps a name to
    such ``(x, y)`` whose loss is kept as ``{name}_loss`` every ``config.eval_every`` epochs, as
    :func:`~.grades.loss_callback` does for a serial run. Only ``optimizer="gd"`` is accepted.
    """
    if config.optimizer != "gd":
        raise ValueError(f"batched training runs plain gradient descent only (optimizer='gd'), got {config.optimizer!r}")
    n_members = model.size
    if len(learning_rates) != n_members:
        raise ValueError(f"{len(learning_rates)} learning rates for {n_members} stacked networks")
    params = model.parameters()
    dev, dtype = params[0].device, params[0].dtype
    lr = torch.tensor([float(v) for v in learning_rates], device=dev, dtype=dtype)
    live = torch.ones(n_members, dtype=torch.bool, device=dev)
    hists = [History() for _ in range(n_members)]
    n = config.epochs
    losses = torch.empty(n_members, max(n, 1), dtype=torch.float64, device=dev)

    def evaluate(epoch: int, members: list[int]) -> None:
        out = {}
        if eval_sets:
            with torch.no_grad():
                for name, (xs, ys) in eval_sets.items():
                    out[f"{name}_loss"] = member_losses(ys, model(xs)).tolist()
        for b in members:
            hists[b].eval_epochs.append(epoch)
            for k, v in out.items():
                hists[b].metrics.setdefault(k, []).append(_nan_to_none(float(v[b])))

    t0 = time.perf_counter()
    alive = list(range(n_members))
    evaluate(0, alive)
    done = 0
    while done < n and alive:
        stop = min(n, (done // config.eval_every + 1) * config.eval_every)
        step = (lr * live)[:, None, None]
        for epoch in range(done, stop):
            loss = member_losses(y, model(x))
            grads = torch.autograd.grad(loss.sum(), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(step * g)
            losses[:, epoch] = loss.detach()
        finite = torch.isfinite(losses[:, done:stop]).cpu()
        for b in list(alive):
            if not bool(finite[b].all()):
                first = done + int((~finite[b]).nonzero()[0, 0])
                hists[b].diverged, hists[b].diverged_epoch, hists[b].epochs_run = True, first, first + 1
                alive.remove(b)
                live[b] = False
            else:
                hists[b].epochs_run = stop
        done = stop
        evaluate(done, alive)
    values = losses.cpu()
    seconds = time.perf_counter() - t0
    for b, h in enumerate(hists):
        kept = list(range(0, h.epochs_run, config.loss_every))
        if h.epochs_run and kept[-1] != h.epochs_run - 1:
            kept.append(h.epochs_run - 1)
        h.loss_epochs = kept
        h.loss = [_nan_to_none(float(values[b, i])) for i in kept]
        h.seconds = seconds
    return hists
