"""Many MSDL runs (Sec. 7) of one structure trained by full-batch GD as one stacked model.

An MSDL network is the sum of ``S`` standard subnetworks, subnetwork ``i`` reading the scaled input ``a_i x``
(:class:`~mgdlcore.models.MultiScaleMLP`). ``R`` such networks (one per learning rate) are ``R x S`` MLPs of one
shape, so they stack as in :mod:`~mgdlcore.training.batched`: member ``r * S + i`` is subnetwork ``i`` of run ``r``;
the outputs of a run's ``S`` members are summed before the loss (1), and the loss's derivative reaches each of them
unchanged (the sum's derivative is 1). Each run steps with its own learning rate; a run whose loss becomes
non-finite is marked diverged at that epoch, exactly as :func:`~mgdlcore.training.loop.train` marks a serial run,
and its members are frozen. CUDA graphs and checkpoints as in :func:`~mgdlcore.training.batched.train_gd_batched`.
The subnetworks may use ReLU or a compactly supported activation (sReLU, the quadratic B-spline: Sec. 7's
conjecture, :data:`~mgdlcore.models.COMPACT_ACTIVATIONS`); the epoch then applies the activation's derivative as
autograd takes it (:data:`ACTIVATION_PRIMES`). ``tests/test_batched_msdl.py`` checks each run against the same MSDL
trained alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..models import COMPACT_ACTIVATIONS, MLP, MultiScaleMLP
from . import checkpoint, graphs
from .batched import StackedMLP, _GraphedBlock
from .loop import History, TrainConfig, _nan_to_none

Sets = Mapping[str, tuple[Tensor, Tensor]]


def _step(t: Tensor) -> Tensor:
    """ReLU'(t) as autograd takes it for ``torch.relu`` (0 at the kink)."""
    return (t > 0).to(t.dtype)


# the derivative of each compactly supported activation, equal to what autograd computes for models.srelu / bspline2
# (at the kinks too): sReLU = ReLU(z) ReLU(1 - z); the B-spline's terms c ReLU(z - k)^2 have derivative 2 c ReLU(z - k)
ACTIVATION_PRIMES = {
    "srelu": lambda z: _step(z) * torch.relu(1.0 - z) - torch.relu(z) * _step(1.0 - z),
    "bspline2": lambda z: (2.0 * torch.relu(z) - 6.0 * torch.relu(z - 1.0) + 6.0 * torch.relu(z - 2.0)
                           - 2.0 * torch.relu(z - 3.0)),
}
assert set(ACTIVATION_PRIMES) == set(COMPACT_ACTIVATIONS)


class _CompactStack(StackedMLP):
    """:class:`~mgdlcore.training.batched.StackedMLP` of subnetworks with a compactly supported activation."""

    def __init__(self, nets: Sequence[MLP]):
        acts = {n.activation for n in nets}
        widths = {n.widths for n in nets}
        if len(acts) != 1 or len(widths) != 1 or not acts <= set(COMPACT_ACTIVATIONS):
            raise ValueError(f"the stacked subnetworks must share their widths and one activation of "
                             f"{', '.join(COMPACT_ACTIVATIONS)}, got {sorted(widths)} and {sorted(acts)}")
        self.widths, self.relu_prime_at_zero = nets[0].widths, nets[0].relu_prime_at_zero
        self.activation = nets[0].activation
        self.act, self.act_prime = COMPACT_ACTIVATIONS[self.activation], ACTIVATION_PRIMES[self.activation]
        layers = [[*n.hidden, n.out] for n in nets]
        self.weights = [torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous()
                        for i in range(len(layers[0]))]
        self.biases = [torch.stack([ls[i].bias.detach()[None, :] for ls in layers]).contiguous()
                       for i in range(len(layers[0]))]

    def member(self, b: int) -> MLP:
        net = MLP(self.widths, relu_prime_at_zero=self.relu_prime_at_zero, activation=self.activation)
        with torch.no_grad():
            for layer, w, bias in zip([*net.hidden, net.out], self.weights, self.biases):
                layer.weight.copy_(w[b].t())
                layer.bias.copy_(bias[b, 0])
        return net.to(device=self.weights[0].device, dtype=self.weights[0].dtype)


class StackedMSDL:
    """``R`` MSDL networks of one structure as one :class:`StackedMLP` of ``R x S`` members (run-major)."""

    def __init__(self, nets: Sequence[MultiScaleMLP]):
        if not nets or not all(isinstance(n, MultiScaleMLP) for n in nets):
            raise ValueError("StackedMSDL needs MultiScaleMLP networks")
        scales = {tuple(float(a) for a in n.scales) for n in nets}
        if len(scales) != 1:
            raise ValueError(f"the stacked MSDL networks must share their scales, got {sorted(scales)}")
        self.scales = nets[0].scales.detach().clone()
        self.runs, self.group = len(nets), len(self.scales)
        subs = [sub for n in nets for sub in n.subnets]
        self.stack = _CompactStack(subs) if subs[0].activation != "relu" else StackedMLP(subs)

    def inputs(self, x: Tensor) -> Tensor:
        """``(R x S, N, d)``: member ``r * S + i`` reads ``a_i x``."""
        a = self.scales.to(device=x.device, dtype=x.dtype)
        return (a[:, None, None] * x[None]).repeat(self.runs, 1, 1)

    def __call__(self, x: Tensor) -> Tensor:
        """Each run's output, ``(R, N, out)``, for inputs ``x`` of shape ``(N, d)``."""
        out = self.stack(self.inputs(x))
        return out.view(self.runs, self.group, *out.shape[1:]).sum(1)


class GroupedEpoch:
    """``epoch(slot)``: one GD step (2) of every run of a :class:`StackedMSDL` on its loss (1); the runs' losses
    before the step go to ``slot`` (``(R,)``); ``step`` is ``(R x S, 1, 1)``, each member's learning rate."""

    def __init__(self, model: StackedMSDL, x: Tensor, y: Tensor, step: Tensor):
        self.model, self.step = model, step
        self.x = model.inputs(x).contiguous()
        self.y = y.expand(model.runs, *y.shape).contiguous()
        self.right = model.stack.relu_prime_at_zero == 1
        self.prime = getattr(model.stack, "act_prime", None)   # None: ReLU
        self.scale = -1.0 / (self.y.shape[1] * self.y.shape[2])

    def __call__(self, slot: Tensor) -> None:
        m, runs, group = self.model.stack, self.model.runs, self.model.group
        with torch.no_grad():
            hs, masks, h = [self.x], [], self.x
            for W, b in zip(m.weights[:-1], m.biases[:-1]):                        # noqa: N806
                z = torch.baddbmm(b, h, W)
                if self.prime is not None:     # a compact activation: keep its derivative at z
                    h, mask = m.act(z), self.prime(z)
                elif self.right:
                    mask = z >= 0
                    h = torch.where(mask, z, 0.0)
                else:
                    h = torch.relu(z)
                    mask = h
                hs.append(h)
                masks.append(mask)
            out = torch.baddbmm(m.biases[-1], h, m.weights[-1])
            d = self.y - out.view(runs, group, *out.shape[1:]).sum(1)
            slot.copy_(0.5 * (d * d).flatten(1).mean(1))
            g = (d * self.scale).unsqueeze(1).expand(runs, group, *d.shape[1:]).reshape(out.shape)
            for i in range(len(m.weights) - 1, -1, -1):
                gw = torch.bmm(hs[i].transpose(1, 2), g)
                gb = g.sum(1, keepdim=True)
                if i:
                    gh = torch.bmm(g, m.weights[i].transpose(1, 2))
                    g = (gh * masks[i - 1] if self.prime is not None
                         else torch.where(masks[i - 1], gh, 0.0) if self.right
                         else torch.ops.aten.threshold_backward(gh, masks[i - 1], 0))
                m.weights[i].addcmul_(self.step, gw, value=-1.0)
                m.biases[i].addcmul_(self.step, gb, value=-1.0)


def train_msdl_batched(model: StackedMSDL, x: Tensor, y: Tensor, learning_rates: Sequence[float],
                       config: TrainConfig, *, eval_sets: Sets | None = None) -> list[History]:
    """Full-batch GD, eq. (2), of every MSDL run of ``model`` at its own learning rate; one :class:`History` each,
    kept as :func:`~mgdlcore.training.loop.train` keeps it (``eval_sets``: ``{name: (x, y)}`` with ``x`` of shape
    ``(N, d)``, evaluated every ``config.eval_every`` epochs as ``{name}_loss``). Only ``optimizer="gd"``."""
    if config.optimizer != "gd":
        raise ValueError(f"batched training runs plain gradient descent only (optimizer='gd'), got {config.optimizer!r}")
    runs, group = model.runs, model.group
    if len(learning_rates) != runs:
        raise ValueError(f"{len(learning_rates)} learning rates for {runs} stacked MSDL networks")
    params = model.stack.parameters()
    dev, dtype = params[0].device, params[0].dtype
    step = torch.tensor([float(v) for v in learning_rates], device=dev, dtype=dtype).repeat_interleave(group)
    step = step[:, None, None].clone()
    hists = [History() for _ in range(runs)]
    n, every, keep = config.epochs, config.eval_every, config.loss_every
    last: list[float | None] = [None] * runs
    alive = list(range(runs))
    ck = checkpoint.active()
    slot = ck.next_slot() if ck is not None else None

    def evaluate(epoch: int, members: list[int]) -> None:
        values = {}
        with torch.no_grad():
            for name, (xs, ys) in (eval_sets or {}).items():
                values[f"{name}_loss"] = (0.5 * ((ys - model(xs)) ** 2).flatten(1).mean(1)).tolist()
        for r in members:
            hists[r].eval_epochs.append(epoch)
            for k, v in values.items():
                hists[r].metrics.setdefault(k, []).append(_nan_to_none(float(v[r])))

    def save(done: int, seconds: float) -> None:
        checkpoint.save(slot, {"done": done, "epochs": n, "seconds": seconds, "size": runs * group,
                               "params": [p.cpu() for p in params], "step": step.cpu(), "alive": list(alive),
                               "last": list(last), "histories": [asdict(h) for h in hists]})

    t0 = time.perf_counter()
    done, before = 0, 0.0
    loaded = checkpoint.load(slot) if slot is not None else None
    if loaded is not None and (loaded["epochs"], loaded["size"]) != (n, runs * group):
        loaded = None
    if loaded is not None:
        done, before, alive, last = loaded["done"], loaded["seconds"], list(loaded["alive"]), list(loaded["last"])
        for p, v in zip(params, loaded["params"]):
            p.copy_(v)
        step.copy_(loaded["step"])
        hists = [History(**h) for h in loaded["histories"]]
    else:
        evaluate(0, alive)
    epoch_fn = GroupedEpoch(model, x, y, step)
    length = graphs.graph_length(dev, "gd", every, n - done, stateful=False)
    block = torch.empty(max(min(every, n), 1), runs, dtype=torch.float64, device=dev)
    graphed, eager_until = None, done + graphs.WARMUP
    last_save = time.perf_counter()
    bar = tqdm(total=n, initial=done, desc=config.description, disable=not config.progress, leave=False)
    with graphs.side_stream(dev, length):
        while done < n and alive:
            stop = min(n, (done // every + 1) * every)
            epoch = done
            while epoch < stop:
                if length and epoch >= eager_until and stop - epoch >= length:
                    if graphed is None:
                        try:
                            graphed = _GraphedBlock(epoch_fn, length, runs, dev)
                        except Exception:   # an op that cannot be captured: the eager loop, same kernels
                            length = 0
                            continue
                    graphed.run(block[epoch - done:epoch - done + length])
                    epoch += length
                    continue
                epoch_fn(block[epoch - done])
                epoch += 1
            graphs.wait(dev)
            values = block[:stop - done].cpu()
            for r in list(alive):
                column = values[:, r]
                finite = torch.isfinite(column)
                end = stop if bool(finite.all()) else done + int((~finite).nonzero()[0, 0]) + 1
                h = hists[r]
                for e in range(-(-done // keep) * keep, end, keep):
                    h.loss_epochs.append(e)
                    h.loss.append(_nan_to_none(float(column[e - done])))
                last[r] = _nan_to_none(float(column[end - 1 - done]))
                h.epochs_run = end
                if end < stop:
                    h.diverged, h.diverged_epoch = True, end - 1
                    alive.remove(r)
                    step[r * group:(r + 1) * group] = 0.0
            bar.update(stop - done)
            done = stop
            evaluate(done, alive)
            if slot is not None and (done >= n or not alive or time.perf_counter() - last_save >= ck.every_seconds):
                save(done, before + time.perf_counter() - t0)
                last_save = time.perf_counter()
    bar.close()
    seconds = before + time.perf_counter() - t0
    for r, h in enumerate(hists):
        if h.epochs_run and h.loss_epochs[-1] != h.epochs_run - 1:
            h.loss_epochs.append(h.epochs_run - 1)
            h.loss.append(last[r])
        h.seconds = seconds
    return hists
