"""Result records: one JSON file per run that carries its own configuration and provenance.

Written atomically (temporary file + ``os.replace``), so an interrupted run never leaves a half
record; the book's tables are read back from these files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..device import describe_device

# permissions of written files: what a plain open() would give under the current umask
_umask = os.umask(0)
os.umask(_umask)
FILE_MODE = 0o666 & ~_umask

# fields that identify a run: two records with the same values describe the same experiment
KEY_FIELDS = ("task", "image", "method", "profile", "structure", "epochs", "learning_rate", "seed", "variant")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of this checkout of mgdlcore, with ``+dirty`` if tracked package or chapter files differ."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: torch.device) -> dict:
    """Where and with what a result was computed."""
    return {
        "device": describe_device(device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "commit": git_commit(),
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def record_key(record: dict) -> str:
    """A short hash of the identifying fields of a record."""
    key = {k: record.get(k) for k in KEY_FIELDS}
    return hashlib.sha256(json.dumps(_clean(key), sort_keys=True).encode()).hexdigest()[:10]


def record_path(results_dir: str | os.PathLike, record: dict) -> Path:
    """``results_dir/<task>/<image>-<method>-<key>.json``; the file name is a locator, the record holds the facts."""
    return Path(results_dir) / str(record["task"]) / f"{record['image']}-{record['method']}-{record_key(record)}.json"


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            json.dump(_clean(obj), fh, indent=1, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_arrays_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays (as float16, compressed) to an ``.npz`` file atomically: the images behind a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: v.astype(np.float16) for k, v in arrays.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(results_dir: str | os.PathLike, record: dict) -> Path:
    """Write one result record atomically and return its path."""
    missing = [k for k in ("task", "image", "method", "profile") if k not in record]
    if missing:
        raise ValueError(f"a record needs the fields {missing}")
    return write_json_atomic(record_path(results_dir, record), record)


def load_records(results_dir: str | os.PathLike, **match) -> list[dict]:
    """All records under ``results_dir`` whose fields equal ``match`` (e.g. ``task="regression", profile="cpu"``)."""
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and all(rec.get(k) == v for k, v in match.items()):
            rec["_path"] = str(path)
            out.append(rec)
    return out
