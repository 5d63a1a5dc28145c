"""Wall time of a run that was interrupted and resumed from its checkpoints.

A run's checkpoint folder (see :func:`mgdlcore.experiments.runner.checkpoint_folder`) holds ``segments.json``:
how many times the run has started, when the current start was, the seconds that earlier starts spent up to
their last checkpoint (what they did after it was lost and is redone, so it is not counted), and the seconds and
epochs saved when the current start began (so that a plan can tell the pace since then from the whole run's: a
tracked run's eigenvalue checks grow slower as training reaches the edge of stability). The record's
``provenance.seconds`` is then the time of every segment that built it, not of the last one alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FILE = "segments.json"
SAVES = "train-*.pt"   # the checkpoint files of :mod:`mgdlcore.training.checkpoint`
RESUMED = "resumed"    # where the current segment started: seconds and epochs saved then (a plan's recent pace)
ADOPTED = "adopted"    # checkpoints carried to newer code by ``mgdl-results adopt`` (one note per carry)


@dataclass(frozen=True)
class Segments:
    """The earlier segments of a run: their seconds up to their last checkpoint, how many starts so far (this one
    included), and whether the count is complete (False when checkpoints exist from a start that left no file)."""

    before: float
    count: int
    complete: bool
    adopted: tuple[dict, ...] = ()   # notes of ``adopted``: the run resumed checkpoints of older, checked code


def _read(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / FILE).read_text())
        return {"before": float(data["before"]), "count": int(data["count"]), "complete": bool(data["complete"]),
                "started": float(data["started"]), ADOPTED: adopted(data)}
    except (OSError, ValueError, KeyError, TypeError):
        return None   # none yet, or unreadable: the earlier time is unknown


def begin(folder: str | os.PathLike, now: float | None = None) -> Segments:
    """Start a segment of the run checkpointed in ``folder``: account for the earlier ones and write the file."""
    folder = Path(folder)
    now = time.time() if now is None else now
    saves = [p.stat().st_mtime for p in folder.glob(SAVES)] if folder.is_dir() else []
    prev = _read(folder)
    if prev is None:
        seg = Segments(0.0, 1, complete=not saves)
    else:
        last = max(saves, default=prev["started"])
        seg = Segments(prev["before"] + max(0.0, last - prev["started"]), prev["count"] + 1, prev["complete"],
                       prev[ADOPTED])
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=FILE, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump({"before": seg.before, "count": seg.count, "complete": seg.complete, "started": now,
                   RESUMED: {"seconds": seg.before, "epochs": epochs_saved(folder)},
                   **({ADOPTED: list(seg.adopted)} if seg.adopted else {})}, fh)
    os.replace(tmp, folder / FILE)
    return seg


def epochs_saved(folder: str | os.PathLike) -> int:
    """The epochs the checkpoints in ``folder`` hold, over every network of the run (0 for none or unreadable)."""
    import torch

    try:
        return sum(int(torch.load(p, map_location="cpu", weights_only=True).get("done", 0))
                   for p in sorted(Path(folder).glob(SAVES)))
    except Exception:  # a torn or foreign file: the run sets it aside when it resumes
        return 0


def resumed(data: dict) -> tuple[float, int] | None:
    """``(seconds, epochs)`` saved when the current segment of a run started, from its segments file's ``data``
    (None when it does not say: a file from before this field, or none)."""
    try:
        return float(data[RESUMED]["seconds"]), int(data[RESUMED]["epochs"])
    except (KeyError, TypeError, ValueError):
        return None


def adopted(data: dict) -> tuple[dict, ...]:
    """The carry notes of a segments file's ``data`` (empty for a run that never changed code)."""
    notes = data.get(ADOPTED) if isinstance(data, dict) else None
    return tuple(n for n in notes if isinstance(n, dict)) if isinstance(notes, list) else ()


def abandon(folder: str | os.PathLike) -> None:
    """After a run stopped with an error: remove ``folder`` (and an emptied parent) when it holds no checkpoint,
    so a run refused before any work leaves no file behind; a folder with checkpoints is kept for the resume."""
    folder = Path(folder)
    if not folder.is_dir() or any(folder.glob(SAVES)):
        return
    for p in folder.glob(f"{FILE}*"):
        p.unlink(missing_ok=True)
    for d in (folder, folder.parent):
        try:
            d.rmdir()                  # only if empty
        except OSError:
            break


def provenance_fields(seg: Segments) -> dict:
    """What a record says about its segments: nothing for a run done in one go."""
    out = {}
    if seg.count > 1:
        out["segments"] = seg.count
    if not seg.complete:
        out["seconds_complete"] = False   # an earlier start left checkpoints but no segments file
    if seg.adopted:
        out["checkpoint_adopted"] = list(seg.adopted)   # epochs before a carry were made by the older code
    return out
