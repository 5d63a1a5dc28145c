"""Checkpoints inside a run, so that a killed run resumes where its last checkpoint left it.

The runner opens a :func:`checkpointing` scope around a computation; every call of
:func:`~mgdlcore.training.loop.train` inside it (an SGDL model, each MGDL grade, in the order the computation makes
them) takes the next numbered file of the scope's folder. ``train`` saves the parameters, the optimiser state, the
losses so far, its history, the state of callbacks that have ``state_dict`` / ``load_state_dict``, and any extra
loop state (the ROF variable ``u``) at the end of a block of ``eval_every`` epochs once ``every_seconds`` have
passed, and when it finishes. A new call finding a file resumes from it; a finished grade is restored without a
step. Training is deterministic, so a resumed run gives the same numbers as an uninterrupted one
(``tests/test_checkpoint.py``). Writes are atomic (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import torch

ENV_SECONDS = "MGDL_CHECKPOINT_SECONDS"
DEFAULT_SECONDS = 300.0


@dataclass
class Checkpointer:
    """Numbered checkpoint files of one run in ``folder``; a save at most every ``every_seconds``."""

    folder: Path
    every_seconds: float = DEFAULT_SECONDS
    _next: int = field(default=0, repr=False)

    def next_slot(self) -> Path:
        """The file of the next ``train`` call of this run."""
        path = self.folder / f"train-{self._next:03d}.pt"
        self._next += 1
        return path


_ACTIVE: ContextVar[Checkpointer | None] = ContextVar("mgdl_checkpointer", default=None)


def checkpoint_seconds() -> float:
    """``$MGDL_CHECKPOINT_SECONDS`` (a number >= 0), else 300 s."""
    text = os.environ.get(ENV_SECONDS)
    if text is None:
        return DEFAULT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{ENV_SECONDS} must be a number of seconds >= 0, got {text!r}") from None
    if not value >= 0:
        raise ValueError(f"{ENV_SECONDS} must be a number of seconds >= 0, got {text!r}")
    return value


@contextmanager
def checkpointing(folder: str | os.PathLike, every_seconds: float | None = None) -> Iterator[Checkpointer]:
    """Within the block, ``train`` calls checkpoint into ``folder`` (created when the first file is written)."""
    ck = Checkpointer(Path(folder), checkpoint_seconds() if every_seconds is None else float(every_seconds))
    token = _ACTIVE.set(ck)
    try:
        yield ck
    finally:
        _ACTIVE.reset(token)


def active() -> Checkpointer | None:
    """The checkpointer of the enclosing :func:`checkpointing` block, if any."""
    return _ACTIVE.get()


def save(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict | None:
    """The payload at ``path``; None when there is none or it cannot be read (then it is set aside, and the
    training starts again from the beginning)."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: never trust it, never lose it
        path.replace(path.with_name(path.name + ".unreadable"))
        print(f"checkpoint {path.name} could not be read ({type(exc).__name__}); training from the start")
        return None
