"""Checkpoints parked in the repository, so that a long run resumes on another machine or after a fresh clone.

In-run checkpoints live in ``<results>/.checkpoints/`` (ignored by git) and vanish with the machine. A run of
10^6 epochs can outlast a working session; ``mgdl-results park`` copies the folders of unfinished runs to
``<results>/.parked/`` (tracked, so a commit carries them). When a run starts and finds no checkpoint folder of
its own, :func:`restore` copies its parked folder back, and the run resumes from it; once the record is written,
:func:`discard` removes the parked copy too. A parked folder belongs to one config (or batch) and one version of
its code path, exactly as the checkpoint folder it copies: checkpoints of other code are never resumed.

Parked files are xz-compressed (a 10^6-epoch loss history of 8 MB parks in about 1.5 MB) and decompressed on restore,
byte for byte.

Wall time stays honest across machines: git does not keep file times, so :func:`park` writes into the parked
``segments.json`` the seconds spent up to the last checkpoint (``before``) and :func:`restore` starts the clock of
the restored folder at its newest checkpoint, so the time between park and restore is not counted.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import segments

PARKED = ".parked"          # tracked folder of parked checkpoint folders inside a results folder
CHECKPOINTS = ".checkpoints"     # folder of in-run checkpoints inside a results folder (ignored by git)
DEFAULT_MAX_MB = 20.0       # parked checkpoints are committed: keep them small


@dataclass(frozen=True)
class Parked:
    """One parked checkpoint folder: its name, size in bytes and the training seconds it holds."""

    name: str
    bytes: int
    seconds: float


PACKED = ".xz"             # suffix of a parked (compressed) checkpoint file


def _saves(folder: Path) -> list[Path]:
    return sorted(folder.glob(segments.SAVES))


def _packed(folder: Path) -> list[Path]:
    return sorted(folder.glob(segments.SAVES + PACKED))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _seconds_done(folder: Path) -> tuple[float, int, bool]:
    """(seconds up to the newest checkpoint, starts so far, whether that count is complete) of a checkpoint folder
    (or of a parked one, which says it in its segments file)."""
    last = max((p.stat().st_mtime for p in _saves(folder) + _packed(folder)), default=0.0)
    try:
        data = json.loads((folder / segments.FILE).read_text())
        if data.get("parked"):
            return float(data["before"]), int(data["count"]), bool(data["complete"])
        return float(data["before"]) + max(0.0, last - float(data["started"])), int(data["count"]), \
            bool(data["complete"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0, 1, False   # no segments file: the earlier time is unknown


def _segments_data(folder: Path) -> dict:
    try:
        return json.loads((folder / segments.FILE).read_text())
    except (OSError, ValueError):
        return {}


def _resumed_field(folder: Path) -> dict:
    """The segments file's record of where the current segment started and of checkpoints carried to newer code,
    to carry over (empty where it has neither)."""
    data = _segments_data(folder)
    found, notes = segments.resumed(data), segments.adopted(data)
    return ({} if found is None else {segments.RESUMED: {"seconds": found[0], "epochs": found[1]}}) | \
        ({segments.ADOPTED: list(notes)} if notes else {})


def resumed(folder: str | os.PathLike) -> tuple[float, int] | None:
    """``(seconds, epochs)`` saved when the current segment of the run checkpointed in ``folder`` started, from its
    checkpoint folder or else its parked copy (:func:`mgdlcore.experiments.segments.resumed`)."""
    folder = Path(folder)
    copy = folder.parent.parent / PARKED / folder.name
    for f in (folder, copy):
        if f.is_dir() and (_saves(f) or _packed(f)):
            return segments.resumed(_segments_data(f))
    return None


def _copy_atomic(src: Path, dest: Path, segments_data: dict, *, pack: bool) -> None:
    """Copy the checkpoint files of ``src`` to ``dest`` (replacing it) with ``segments_data`` as its segments file:
    compressed (``pack``, from a checkpoint folder) or decompressed (from a parked one)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        for p in (_saves(src) if pack else _packed(src)):
            target = tmp / (p.name + PACKED if pack else p.name[:-len(PACKED)])
            with (open(p, "rb") if pack else lzma.open(p, "rb")) as fin, \
                    (lzma.open(target, "wb", preset=6) if pack else open(target, "wb")) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        (tmp / segments.FILE).write_text(json.dumps(segments_data, sort_keys=True))
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def park(results_dir: str | os.PathLike, *, max_mb: float = DEFAULT_MAX_MB) -> list[Parked]:
    """Copy every checkpoint folder of ``results_dir`` that holds a checkpoint to ``<results>/.parked/``.

    Refuses (ValueError, nothing copied) when the parked folders would exceed ``max_mb`` megabytes in all."""
    results_dir = Path(results_dir)
    root = results_dir / CHECKPOINTS
    folders = [f for f in sorted(root.iterdir()) if f.is_dir() and _saves(f)] if root.is_dir() else []
    dest_root = results_dir / PARKED
    staging = Path(tempfile.mkdtemp(dir=results_dir, prefix=".parking-"))   # compressed first, to know the size
    try:
        for folder in folders:
            before, count, complete = _seconds_done(folder)
            _copy_atomic(folder, staging / folder.name,
                         {"parked": True, "before": before, "count": count, "complete": complete,
                          **_resumed_field(folder)}, pack=True)
        kept = {f.name: _size(f) for f in dest_root.iterdir() if f.is_dir() and not f.name.startswith(".")} \
            if dest_root.is_dir() else {}
        new = {f.name: _size(staging / f.name) for f in folders}
        total = sum({**kept, **new}.values()) / 1e6
        if total > max_mb:
            raise ValueError(f"parked checkpoints would take {total:.1f} MB, above the limit of {max_mb:g} MB "
                             "(--max-mb raises it; parked files are committed)")
        out = []
        dest_root.mkdir(parents=True, exist_ok=True)
        for folder in folders:
            dest = dest_root / folder.name
            old = dest.with_name(f".{dest.name}.old")
            if dest.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(dest, old)
            os.replace(staging / folder.name, dest)
            shutil.rmtree(old, ignore_errors=True)
            out.append(Parked(folder.name, _size(dest), _seconds_done(dest)[0]))
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def restore(folder: str | os.PathLike) -> bool:
    """If the checkpoint ``folder`` (``<results>/.checkpoints/<name>``) has no checkpoint but a parked copy exists,
    copy it back and start its clock at its newest checkpoint; True when something was restored."""
    folder = Path(folder)
    if folder.is_dir() and _saves(folder):
        return False
    parked = folder.parent.parent / PARKED / folder.name
    if not parked.is_dir() or not _packed(parked):
        return False
    try:
        data = json.loads((parked / segments.FILE).read_text())
        before, count, complete = float(data["before"]), int(data["count"]), bool(data["complete"])
    except (OSError, ValueError, KeyError, TypeError):
        before, count, complete = 0.0, 1, False
    shutil.rmtree(folder, ignore_errors=True)
    _copy_atomic(parked, folder, {}, pack=False)
    last = max(p.stat().st_mtime for p in _saves(folder))
    (folder / segments.FILE).write_text(json.dumps(
        {"before": before, "count": count, "complete": complete, "started": last, **_resumed_field(parked)}))
    return True


def carry(results_dir: str | os.PathLike, renames: dict[str, str], note: dict) -> list[str]:
    """Rename the checkpoint folders ``renames`` (old name -> new name), in-run and parked, adding ``note`` to the
    ``adopted`` list of each one's segments file: the checkpoints of a run whose code changed in a way
    ``mgdl-results adopt`` showed not to move results, handed to the new code. Returns the folders carried; a
    folder whose new name is taken already is left as it is."""
    results_dir = Path(results_dir)
    out = []
    for root in (results_dir / CHECKPOINTS, results_dir / PARKED):
        for old, new in renames.items():
            src, dest = root / old, root / new
            if not src.is_dir() or dest.exists():
                continue
            data = _segments_data(src)
            data[segments.ADOPTED] = [*segments.adopted(data), note]
            fd, tmp = tempfile.mkstemp(dir=src, prefix=segments.FILE, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, sort_keys=True)
            os.replace(tmp, src / segments.FILE)
            os.replace(src, dest)
            out.append(f"{root.name}/{new}")
    return out


def discard(folder: str | os.PathLike) -> None:
    """Remove the parked copy of the checkpoint ``folder`` (its run has a record now)."""
    folder = Path(folder)
    shutil.rmtree(folder.parent.parent / PARKED / folder.name, ignore_errors=True)


def progress(folder: str | os.PathLike) -> tuple[float, str] | None:
    """``(seconds of training saved, "checkpoint" or "parked")`` for the checkpoint ``folder`` of a run, from its own
    checkpoints or else from its parked copy; None when neither exists."""
    folder = Path(folder)
    if folder.is_dir() and _saves(folder):
        return _seconds_done(folder)[0], "checkpoint"
    copy = folder.parent.parent / PARKED / folder.name
    if copy.is_dir() and _packed(copy):
        return _seconds_done(copy)[0], "parked"
    return None


def saved(folder: str | os.PathLike) -> list[dict]:
    """The newest checkpoint payloads of a run (one per network it trains, in order) from its checkpoint ``folder``,
    or else from its parked copy; [] when neither exists or none can be read. For reports on runs in progress:
    nothing is moved, restored or resumed."""
    import io

    import torch

    folder = Path(folder)
    copy = folder.parent.parent / PARKED / folder.name
    if folder.is_dir() and _saves(folder):
        blobs = [p.read_bytes for p in _saves(folder)]
    elif copy.is_dir() and _packed(copy):
        blobs = [lambda p=p: lzma.decompress(p.read_bytes()) for p in _packed(copy)]
    else:
        return []
    try:
        return [torch.load(io.BytesIO(blob()), map_location="cpu", weights_only=True) for blob in blobs]
    except Exception:  # a torn or foreign file: the run will set it aside when it resumes
        return []


def parked(results_dir: str | os.PathLike) -> list[Parked]:
    """The parked checkpoint folders of ``results_dir``."""
    root = Path(results_dir) / PARKED
    if not root.is_dir():
        return []
    out = []
    for f in sorted(root.iterdir()):
        if f.is_dir() and not f.name.startswith(".") and _packed(f):
            out.append(Parked(f.name, _size(f), _seconds_done(f)[0]))
    return out
