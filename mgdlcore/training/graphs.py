"""Blocks of full-batch gradient-descent epochs captured once as a CUDA graph and replayed.

The small networks of Secs. 5-7 (eq. (26): four hidden layers of 32 units, 1,001 points) run a few dozen
kernels per epoch, each far shorter than the time Python and the dispatcher take to launch it: on a GPU an
eager epoch costs about 1.6 ms whatever the network. A CUDA graph (``torch.cuda.CUDAGraph``) records the kernels
of ``length`` consecutive epochs once and replays them with one launch, so the GPU runs them back to back.

A replay runs the very kernels the eager loop runs, in the same order, on the same tensors (the parameters are
updated in place; the loss of each epoch goes to a slot of a static buffer), so a graphed run is meant to give
the eager run's numbers bit for bit; ``benchmarks/gpu_check.sh`` checks that on the GPU at hand and reports it.
Only plain gradient descent, eq. (2)/(4), is captured (``torch.optim.SGD``, no state of its own); Adam runs
eager. ``MGDL_CUDA_GRAPHS=0`` switches capture off; ``MGDL_CUDA_GRAPHS=emulate`` runs the same block bookkeeping
with eager "replays" (the tests use it on machines without a GPU).

Several runs on one GPU: each capture uses the calling thread's current stream (``capture_error_mode=
"thread_local"``), so runs in threads, each on its own stream (``mgdl-campaign --runs-per-worker``), capture and
replay concurrently and the GPU overlaps their kernels.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

ENV = "MGDL_CUDA_GRAPHS"
MODES = ("1", "0", "emulate")
MAX_LENGTH = 250          # epochs per captured graph (a graph of eq. (26) epochs has ~40 nodes per epoch)
MIN_LENGTH = 10
WARMUP = 3                # eager epochs before the first capture (lazy cuBLAS and autograd set-up)


def mode() -> str:
    """``MGDL_CUDA_GRAPHS``: ``"1"`` (default: capture on CUDA), ``"0"`` (never) or ``"emulate"``."""
    value = os.environ.get(ENV, "1").strip() or "1"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r}; accepted: {', '.join(MODES)}")
    return value


def block_length(eval_every: int, epochs: int) -> int:
    """Epochs per graph: the largest divisor of ``eval_every`` not above ``MAX_LENGTH`` (so a block between
    two evaluations is whole replays), or 0 when that is below ``MIN_LENGTH`` or the run is too short to
    repay a capture."""
    length = max((d for d in range(1, min(eval_every, MAX_LENGTH) + 1) if eval_every % d == 0), default=0)
    if length < MIN_LENGTH or epochs < WARMUP + 2 * length:
        return 0
    return length


def graph_length(device: torch.device, optimizer: str, eval_every: int, epochs: int, stateful: bool) -> int:
    """Epochs per captured graph for this run, or 0 for the eager loop (not CUDA unless emulated, Adam, a loss
    with state besides the parameters, or a run too short)."""
    m = mode()
    if m == "0" or optimizer != "gd" or stateful:
        return 0
    if device.type != "cuda" and m != "emulate":
        return 0
    return block_length(eval_every, epochs)


class GraphedEpochs:
    """``length`` calls of ``epoch(slot)`` recorded once and replayed; :meth:`run` writes their losses.

    ``epoch(slot)`` takes one full-batch step and copies its loss into the 0-d tensor ``slot``. On CUDA the
    calls are captured into one graph on the current stream; emulated, :meth:`run` simply calls them.
    """

    def __init__(self, epoch: Callable[[Tensor], None], length: int, device: torch.device):
        self.epoch, self.length = epoch, length
        self.buffer = torch.empty(length, dtype=torch.float64, device=device)
        self.graph = None
        if device.type == "cuda":
            stream = torch.cuda.current_stream(device)
            stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with _CAPTURE_LOCK, torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                for i in range(length):
                    epoch(self.buffer[i])
            self.graph = graph

    def run(self, out: Tensor) -> None:
        """Take ``length`` epochs; their losses go to ``out`` (``length`` slots)."""
        if self.graph is not None:
            self.graph.replay()
        else:
            for i in range(self.length):
                self.epoch(self.buffer[i])
        out.copy_(self.buffer)


def capture(epoch: Callable[[Tensor], None], length: int, device: torch.device) -> GraphedEpochs | None:
    """A :class:`GraphedEpochs`, or None (with a warning) when the capture fails: the run then goes on eagerly.

    Capture runs no kernel, so a failed capture leaves the parameters as they were."""
    try:
        return GraphedEpochs(epoch, length, device)
    except Exception as exc:  # an op that cannot be captured: fall back to the eager loop
        warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); training eagerly", RuntimeWarning,
                      stacklevel=3)
        return None


_CAPTURE_LOCK = threading.Lock()           # one capture at a time in a process


@contextlib.contextmanager
def side_stream(device: torch.device, length: int):
    """Run the block on a stream of its own when it will be captured and the current stream is the default one
    (a graph cannot be captured on the default stream); the default stream waits for it at the end."""
    if not length or device.type != "cuda" or torch.cuda.current_stream(device) != torch.cuda.default_stream(device):
        yield
        return
    outer, inner = torch.cuda.current_stream(device), torch.cuda.Stream(device)
    inner.wait_stream(outer)
    with torch.cuda.stream(inner):
        yield
    outer.wait_stream(inner)


def wait(device: torch.device) -> None:
    """Wait for this thread's stream with the GIL released (other runs' threads keep launching meanwhile)."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()
