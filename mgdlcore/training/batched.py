"""Many independent full-batch gradient-descent runs of one network shape, trained as one stacked model.

A learning-rate sweep of Sec. 5 trains the same structure from the same initialisation at many step sizes
(eq. (2)/(4)). Here the ``B`` members' weights are stacked into ``(B, fan_in, fan_out)`` tensors and each layer is
one batched matrix product (``torch.baddbmm``), so a GPU runs the whole sweep at the cost of a few serial runs.
Members are independent: member ``b``'s loss depends only on its own parameters, and member ``b`` steps with its
own learning rate. An epoch is written out without autograd (:class:`FusedBatchedEpoch`, the batched form of
:class:`~mgdlcore.training.fused.FusedGDEpoch`), and on a GPU blocks of epochs are captured once as a CUDA graph
and replayed (as :mod:`~mgdlcore.training.graphs` does for one run).

A member whose loss becomes non-finite is marked diverged at that epoch exactly as :func:`~.loop.train` marks a
serial run (the check runs at the end of each block of ``eval_every`` epochs), and is frozen (learning rate 0)
from then on; the others go on. :func:`fit_mgdl_batched` trains the grades of MGDL (Sec. 3) this way, a member
whose grade diverged leaving the later grades, as :func:`~.grades.fit_mgdl` stops. Runs resume from checkpoints
(:mod:`~mgdlcore.training.checkpoint`). ``tests/test_batched.py`` checks that every member equals the same run
done alone, through a checkpoint and with the graph bookkeeping emulated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..models import MLP, build_grade, relu_right
from ..structures import MGDLStructure
from . import checkpoint, graphs
from .loop import History, TrainConfig, _nan_to_none

Sets = Mapping[str, tuple[Tensor, Tensor]]


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
        if any(n.act not in (relu_right, torch.relu) for n in nets):
            raise ValueError("the stacked networks must use ReLU")
        self.widths, self.relu_prime_at_zero = nets[0].widths, nets[0].relu_prime_at_zero
        self.act = relu_right if self.relu_prime_at_zero == 1 else torch.relu
        layers = [[*n.hidden, n.out] for n in nets]
        self.weights = [torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous()
                        for i in range(len(layers[0]))]
        self.biases = [torch.stack([ls[i].bias.detach()[None, :] for ls in layers]).contiguous()
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


class FusedBatchedEpoch:
    """``epoch(slot)``: one GD step (2) of every member on its loss (1); the losses before the step go to ``slot``
    (``(B,)``). ``step`` is ``(B, 1, 1)``: each member's learning rate, 0 for a frozen member (changed in place)."""

    def __init__(self, model: StackedMLP, x: Tensor, y: Tensor, step: Tensor):
        self.model, self.step = model, step
        self.x = model._input(x).contiguous()
        self.y = y.expand(model.size, *y.shape).contiguous() if y.dim() == 2 else y
        self.right = model.relu_prime_at_zero == 1
        self.scale = -1.0 / (self.y.shape[1] * self.y.shape[2])     # d/d out of 0.5 mean((y - out)^2)

    def __call__(self, slot: Tensor) -> None:
        m = self.model
        with torch.no_grad():
            hs, masks, h = [self.x], [], self.x
            for W, b in zip(m.weights[:-1], m.biases[:-1]):                        # noqa: N806
                z = torch.baddbmm(b, h, W)
                if self.right:
                    mask = z >= 0
                    h = torch.where(mask, z, 0.0)
                else:
                    h = torch.relu(z)
                    mask = h
                hs.append(h)
                masks.append(mask)
            d = self.y - torch.baddbmm(m.biases[-1], h, m.weights[-1])
            slot.copy_(0.5 * (d * d).flatten(1).mean(1))
            g = d * self.scale
            for i in range(len(m.weights) - 1, -1, -1):
                gw = torch.bmm(hs[i].transpose(1, 2), g)
                gb = g.sum(1, keepdim=True)
                if i:
                    gh = torch.bmm(g, m.weights[i].transpose(1, 2))
                    g = (torch.where(masks[i - 1], gh, 0.0) if self.right
                         else torch.ops.aten.threshold_backward(gh, masks[i - 1], 0))
                m.weights[i].addcmul_(self.step, gw, value=-1.0)
                m.biases[i].addcmul_(self.step, gb, value=-1.0)


class _GraphedBlock:
    """``length`` batched epochs captured once as a CUDA graph (see :mod:`~.graphs`); eager calls when emulated."""

    def __init__(self, epoch: FusedBatchedEpoch, length: int, size: int, device: torch.device):
        self.epoch, self.length = epoch, length
        self.buffer = torch.empty(length, size, dtype=torch.float64, device=device)
        self.graph = None
        if device.type == "cuda":
            stream = torch.cuda.current_stream(device)
            stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with graphs._CAPTURE_LOCK, torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                for i in range(length):
                    epoch(self.buffer[i])
            self.graph = graph

    def run(self, out: Tensor) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            for i in range(self.length):
                self.epoch(self.buffer[i])
        out.copy_(self.buffer)


def train_gd_batched(model: StackedMLP, x: Tensor, y: Tensor, learning_rates: Sequence[float], config: TrainConfig,
                     *, eval_sets: Sets | None = None, offsets: Mapping[str, Tensor] | None = None) -> list[History]:
    """Full-batch GD, eq. (2), of every member of ``model`` at its own learning rate; one :class:`History` each.

    ``x`` is ``(N, d)`` or ``(B, N, d)``, ``y`` is ``(N, out)`` or ``(B, N, out)``; ``eval_sets`` maps a name to
    such ``(x, y)`` whose loss (of ``offsets[name] + model(x)`` when given) is kept as ``{name}_loss`` every
    ``config.eval_every`` epochs, as :func:`~.grades.loss_callback` does for a serial run. Only
    ``optimizer="gd"`` is accepted. Inside a :func:`~.checkpoint.checkpointing` block the call takes the next
    checkpoint file and resumes from it.
    """
    if config.optimizer != "gd":
        raise ValueError(f"batched training runs plain gradient descent only (optimizer='gd'), got {config.optimizer!r}")
    size = model.size
    if len(learning_rates) != size:
        raise ValueError(f"{len(learning_rates)} learning rates for {size} stacked networks")
    params = model.parameters()
    dev, dtype = params[0].device, params[0].dtype
    lrs = torch.tensor([float(v) for v in learning_rates], device=dev, dtype=dtype)
    step = lrs[:, None, None].clone()
    hists = [History() for _ in range(size)]
    n, every, keep = config.epochs, config.eval_every, config.loss_every
    last: list[float | None] = [None] * size            # each member's loss at its last epoch run
    alive = list(range(size))
    ck = checkpoint.active()
    slot = ck.next_slot() if ck is not None else None

    def evaluate(epoch: int, members: list[int]) -> None:
        values = {}
        if eval_sets:
            with torch.no_grad():
                for name, (xs, ys) in eval_sets.items():
                    pred = model(xs)
                    if offsets is not None:
                        pred = pred + offsets[name]
                    values[f"{name}_loss"] = member_losses(ys, pred).tolist()
        for b in members:
            hists[b].eval_epochs.append(epoch)
            for k, v in values.items():
                hists[b].metrics.setdefault(k, []).append(_nan_to_none(float(v[b])))

    def save(done: int, seconds: float) -> None:
        checkpoint.save(slot, {"done": done, "epochs": n, "seconds": seconds, "size": size,
                               "params": [p.cpu() for p in params], "step": step.cpu(), "alive": list(alive),
                               "last": list(last), "histories": [asdict(h) for h in hists]})

    t0 = time.perf_counter()
    done, before = 0, 0.0
    loaded = checkpoint.load(slot) if slot is not None else None
    if loaded is not None and (loaded["epochs"], loaded["size"]) != (n, size):
        loaded = None
    if loaded is not None:
        done, before, alive, last = loaded["done"], loaded["seconds"], list(loaded["alive"]), list(loaded["last"])
        for p, v in zip(params, loaded["params"]):
            p.copy_(v)
        step.copy_(loaded["step"])
        hists = [History(**h) for h in loaded["histories"]]
    else:
        evaluate(0, alive)
    epoch_fn = FusedBatchedEpoch(model, x, y, step)
    length = graphs.graph_length(dev, "gd", every, n - done, stateful=False)
    block = torch.empty(max(min(every, n), 1), size, dtype=torch.float64, device=dev)
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
                            graphed = _GraphedBlock(epoch_fn, length, size, dev)
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
            for b in list(alive):
                column = values[:, b]
                finite = torch.isfinite(column)
                end = stop if bool(finite.all()) else done + int((~finite).nonzero()[0, 0]) + 1
                h = hists[b]
                for e in range(-(-done // keep) * keep, end, keep):
                    h.loss_epochs.append(e)
                    h.loss.append(_nan_to_none(float(column[e - done])))
                last[b] = _nan_to_none(float(column[end - 1 - done]))
                h.epochs_run = end
                if end < stop:
                    h.diverged, h.diverged_epoch = True, end - 1
                    alive.remove(b)
                    step[b] = 0.0
            bar.update(stop - done)
            done = stop
            evaluate(done, alive)
            if slot is not None and (done >= n or not alive or time.perf_counter() - last_save >= ck.every_seconds):
                save(done, before + time.perf_counter() - t0)
                last_save = time.perf_counter()
    bar.close()
    seconds = before + time.perf_counter() - t0
    for b, h in enumerate(hists):
        if h.epochs_run and h.loss_epochs[-1] != h.epochs_run - 1:
            h.loss_epochs.append(h.epochs_run - 1)
            h.loss.append(last[b])
        h.seconds = seconds
    return hists


def fit_mgdl_batched(structure: MGDLStructure, x: Tensor, y: Tensor, learning_rates: Sequence[float],
                     config: TrainConfig, *, seed: int = 0, init: str = "glorot_normal", relu_prime_at_zero: int = 0,
                     eval_sets: Sets | None = None) -> tuple[list[list[History]], list[list[int]]]:
    """The grades of ``structure`` (Sec. 3, eqs. (3)-(4)) for every learning rate at once, from the same
    initialisation as :func:`~.grades.fit_mgdl` with ``seed``: grade ``l`` of member ``b`` is trained on the
    frozen features of its grade ``l-1`` against its own residual. ``y`` is ``(N, out)`` (shared) or
    ``(B, N, out)``; ``eval_sets`` as in :func:`train_gd_batched` (the loss of the sum of the grades so far).

    Returns, per member, the histories of the grades it trained (a grade that diverged is its last) and the
    parameter counts of those grades.
    """
    size = len(learning_rates)

    def expand(t: Tensor) -> Tensor:
        return t.expand(size, *t.shape).contiguous() if t.dim() == 2 else t

    sets = {"train": (x, y), **(dict(eval_sets) if eval_sets else {})}
    targets = {name: expand(ys) for name, (_, ys) in sets.items()}
    feats = {name: expand(xs) for name, (xs, _) in sets.items()}
    preds = {name: torch.zeros_like(t) for name, t in targets.items()}
    histories: list[list[History]] = [[] for _ in range(size)]
    counts: list[list[int]] = [[] for _ in range(size)]
    members = list(range(size))
    for grade in range(1, structure.n_grades + 1):
        if not members:
            break
        net = build_grade(structure, grade, seed=seed, init=init, relu_prime_at_zero=relu_prime_at_zero)
        net = net.to(device=x.device, dtype=x.dtype)
        n_params = sum(p.numel() for p in net.parameters())
        model = StackedMLP([net] * len(members))
        idx = torch.tensor(members, device=x.device)
        f = {name: t[idx] for name, t in feats.items()}
        ev = {name: (f[name], targets[name][idx]) for name in (eval_sets or {})}
        offs = {name: preds[name][idx] for name in (eval_sets or {})}
        cfg = replace(config, description=f"{config.description} grade {grade}".strip())
        hists = train_gd_batched(model, f["train"], targets["train"][idx] - preds["train"][idx],
                                 [learning_rates[m] for m in members], cfg, eval_sets=ev, offsets=offs)
        with torch.no_grad():
            for name in sets:
                out, h = model.forward_with_features(f[name])
                if h.shape[-1] != feats[name].shape[-1]:
                    feats[name] = feats[name].new_zeros(size, *h.shape[1:])
                feats[name][idx] = h
                preds[name][idx] = preds[name][idx] + out
        for i, m in enumerate(members):
            histories[m].append(hists[i])
            counts[m].append(n_params)
        members = [m for i, m in enumerate(members) if not hists[i].diverged]
    return histories, counts
