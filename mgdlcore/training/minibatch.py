"""Mini-batches for stochastic gradient descent (beyond the paper, which trains by full-batch GD (2)).

Step ``k`` uses the batch ``perm_p[j B : (j + 1) B]`` with ``p = k // S``, ``j = k % S`` and ``S = N // B`` steps
per pass: every pass over the ``N`` training points is a fresh permutation ``perm_p`` (``torch.randperm`` from a
generator seeded with ``(seed, p)``), and the ``N mod B`` points left over in a pass are not used in it. The batch of
a step depends on the step number only, so a run resumed from a checkpoint draws the same batches as one that was
not interrupted; the step number is the one piece of state (``state``, saved by ``training.train``).
"""

from __future__ import annotations

import torch
from torch import Tensor


class MiniBatches:
    """Indices of the training points of each SGD step; ``next()`` returns the current step's and advances."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be between 1 and the number of training points ({n}), got {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_pass = n // batch_size
        self.state = {"step": torch.zeros((), dtype=torch.int64)}   # saved and restored by training.train
        self._pass, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def permutation(self, p: int) -> Tensor:
        """The order of the training points in pass ``p``."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + p)
        return torch.randperm(self.n, generator=g)

    def indices(self, step: int) -> Tensor:
        """The training points of step ``step`` (CPU int64)."""
        p, j = divmod(step, self.steps_per_pass)
        if p != self._pass:
            self._pass, self._perm = p, self.permutation(p)
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]

    def next(self) -> Tensor:
        step = int(self.state["step"])
        self.state["step"] = torch.tensor(step + 1, dtype=torch.int64)
        return self.indices(step)
