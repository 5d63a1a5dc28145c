"""One plain gradient-descent epoch (2)/(4) of a ReLU ``MLP`` on the loss (1), written out without autograd.

The networks of Sections 5-7 are small (width 32, 1,024 points): an eager autograd epoch spends most of its time on
per-operation overhead (graph recording, ``torch.optim`` bookkeeping, the mask kernels of ``relu_right`` run again in
the backward pass). :class:`FusedGDEpoch` runs the same operations as autograd and ``torch.optim.SGD`` would, in the
same order and with the same kernels: ``addmm`` and the activation forward; the loss ``0.5 mean((y - o)^2)`` and its
derivative ``-(0.5 / N) (2 (y - o))``; per layer from the output, ``W``'s gradient ``g^T h``, ``b``'s ``g.sum(0)``
and the input's ``g W`` through the activation's mask (``where(z >= 0, ., 0)`` for ReLU'(0) = 1,
``threshold_backward`` on the output for ReLU'(0) = 0); then ``p <- p - eta grad`` one parameter at a time. The
parameters and losses are therefore bitwise equal to the eager loop's (``tests/test_fused.py`` checks it in float32
and float64, for both ReLU'(0), for a run that diverges, and through checkpoints), and no config field records
which path ran. :func:`fused_epoch` returns one for ``training.train`` where it applies (plain GD, an ``MLP`` with
ReLU, every parameter trained, on the CPU), else None; ``train`` takes the autograd path at any epoch where a
parameter carries a gradient hook (the stopping rule of :class:`~mgdlcore.analysis.spectra.EigenTracker` freezes a
network by hooks).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..models import MLP, relu_right
from .loop import TrainConfig


class FusedGDEpoch:
    """``epoch(slot)``: one GD step of ``net`` on ``half_mse(y, net(x))``; the loss before the step goes to ``slot``."""

    def __init__(self, net: MLP, x: Tensor, y: Tensor, learning_rate: float):
        self.layers = [*net.hidden, net.out]
        self.right = net.act is relu_right
        self.x, self.y, self.lr = x, y, float(learning_rate)
        self.scale = torch.tensor(0.5, dtype=y.dtype, device=y.device) / y.numel()    # mean's backward: 0.5 / N

    def __call__(self, slot: Tensor) -> None:
        with torch.no_grad():
            Ws = [layer.weight for layer in self.layers]                            # noqa: N806
            bs = [layer.bias for layer in self.layers]
            hs, masks = [self.x], []
            h = self.x
            for W, b in zip(Ws[:-1], bs[:-1]):                                      # noqa: N806
                z = torch.addmm(b, h, W.t())
                if self.right:
                    m = z >= 0
                    h = torch.where(m, z, torch.zeros_like(z))
                else:
                    h = torch.relu(z)
                    m = h
                hs.append(h)
                masks.append(m)
            out = torch.addmm(bs[-1], h, Ws[-1].t())
            d = self.y - out
            slot.copy_(0.5 * torch.mean(d ** 2))
            g = -(self.scale.expand_as(d) * (2.0 * d.pow(1.0)))
            grads: list[Tensor] = [None] * (2 * len(Ws))                            # type: ignore[list-item]
            for i in range(len(Ws) - 1, -1, -1):
                grads[2 * i] = torch.mm(g.t(), hs[i])          # autograd: (g^T h)^T of W^T, transposed back
                grads[2 * i + 1] = g.sum(0)
                if i:
                    gh = torch.mm(g, Ws[i])
                    g = (torch.where(masks[i - 1], gh, 0) if self.right
                         else torch.ops.aten.threshold_backward(gh, masks[i - 1], 0))
            for layer, gw, gb in zip(self.layers, grads[0::2], grads[1::2]):
                layer.weight.add_(gw, alpha=-self.lr)
                layer.bias.add_(gb, alpha=-self.lr)


def fused_epoch(net: torch.nn.Module, x: Tensor, y: Tensor, config: TrainConfig) -> FusedGDEpoch | None:
    """A :class:`FusedGDEpoch` for training ``net`` on ``(x, y)`` with ``config``, or None where it does not apply
    (Adam, another network or activation, a frozen parameter, a GPU: there CUDA graphs remove the overhead)."""
    if (config.optimizer != "gd" or not isinstance(net, MLP) or net.act not in (relu_right, torch.relu)
            or x.device.type != "cpu" or x.ndim != 2 or y.ndim != 2
            or not all(p.requires_grad for p in net.parameters())):
        return None
    return FusedGDEpoch(net, x, y, config.learning_rate)
