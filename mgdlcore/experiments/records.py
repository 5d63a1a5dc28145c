"""Result records: one JSON file per run, arrays in a sibling ``.npz``; one schema for every experiment.

A record has the top-level fields

* ``schema``: int, the version of this layout (``SCHEMA``);
* ``key``: sha256 hex digest of the canonical JSON of ``{"schema", "config"}``
  (:func:`~mgdlcore.experiments.config.config_key`);
* ``config``: the full config as a dict (``task``, ``method`` and, where there is one, ``image``, ...);
* ``metrics``: dict of scalars (numbers, booleans or None), e.g. ``psnr_test``, ``diverged``;
* ``series``: dict of lists: curves over epochs or grades (loss, PSNR, eigenvalues);
* ``arrays``: names of the arrays in the sibling ``.npz`` (images the figures need), possibly empty;
* ``provenance``: ``commit``, ``dirty``, ``code`` (fingerprint of the code path), ``device``, ``torch``,
  ``seconds``, ``created``, ...;
* ``profile``: the profile whose function produced the config (``smoke`` / ``cpu`` / ``paper``), or ``custom``.

Files are written atomically (temporary file + ``os.replace``); the ``.npz`` first, the JSON last, so a JSON
file that exists is a complete record. The file name ``<task>/<method>-<subject>-<key[:16]>.json`` is only a
locator: the record holds the facts, and readers check the key against the config.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import SCHEMA, ExperimentConfig, config_key

TOP_LEVEL = ("schema", "key", "config", "metrics", "series", "arrays", "provenance", "profile")

_umask = os.umask(0)
os.umask(_umask)
FILE_MODE = 0o666 & ~_umask


class RecordError(ValueError):
    """A record file that cannot be used: unreadable, not this schema, or inconsistent with itself."""


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    text = json.dumps(_clean(obj), indent=1, allow_nan=False) + "\n"
    return _atomic_write(Path(path), lambda fh: fh.write(text.encode()))


def save_arrays_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays as float16 (images on [0, 1]: 3 significant digits, enough for figures) to ``.npz`` atomically."""
    return _atomic_write(Path(path), lambda fh: np.savez_compressed(
        fh, **{k: np.asarray(v, dtype=np.float16) for k, v in arrays.items()}))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", str(text)).strip("_") or "x"


def record_path(results_dir: str | os.PathLike, config: ExperimentConfig) -> Path:
    """``results_dir/<task>/<method>-<subject>-<key[:16]>.json``."""
    name = f"{_slug(config.method)}-{_slug(config.subject())}-{config.key[:16]}.json"
    return Path(results_dir) / _slug(config.task) / name


@dataclass
class Record:
    """One record as read from (or about to be written to) disk."""

    data: dict
    path: Path | None = None

    @property
    def key(self) -> str:
        return self.data["key"]

    @property
    def config(self) -> dict:
        return self.data["config"]

    @property
    def metrics(self) -> dict:
        return self.data["metrics"]

    @property
    def series(self) -> dict:
        return self.data.get("series", {})

    @property
    def provenance(self) -> dict:
        return self.data["provenance"]

    @property
    def profile(self) -> str:
        return self.data["profile"]

    @property
    def diverged(self) -> bool:
        return bool(self.metrics.get("diverged"))

    def __getitem__(self, name: str):
        """``record["psnr_test"]``: a metric, else a config field."""
        if name in self.metrics:
            return self.metrics[name]
        return self.config[name]

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    @property
    def arrays_path(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".npz")

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored beside the record (float64 copies); empty if it has none."""
        if not self.data.get("arrays"):
            return {}
        with np.load(self.arrays_path) as z:
            return {k: z[k].astype(np.float64) for k in z.files}

    def provenance_text(self) -> str:
        """``profile, device, seed, commit`` in one line, for captions."""
        p = self.provenance
        commit = (p.get("commit") or "unknown")[:7] + ("+dirty" if p.get("dirty") else "")
        return f"profile {self.profile}, {p.get('device')}, seed {self.config.get('seed')}, commit {commit}"


def make_record(config: ExperimentConfig, *, metrics: dict, series: dict, arrays: list[str], provenance: dict,
                profile: str) -> Record:
    data = {"schema": SCHEMA, "key": config.key, "config": config.to_dict(), "metrics": _clean(metrics),
            "series": _clean(series), "arrays": sorted(arrays), "provenance": _clean(provenance), "profile": profile}
    return Record(data)


def write_record(results_dir: str | os.PathLike, config: ExperimentConfig, record: Record,
                 arrays: dict[str, np.ndarray] | None = None) -> Record:
    """Write ``record`` (and its arrays first) atomically where ``config`` belongs; returns it with its path."""
    path = record_path(results_dir, config)
    if arrays:
        save_arrays_atomic(path.with_suffix(".npz"), arrays)
    write_json_atomic(path, record.data)
    record.path = path
    return record


def read_record(path: str | os.PathLike) -> Record:
    """Read and check one record file; a file that cannot be used raises :class:`RecordError` saying why."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path.name}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path.name}: not a JSON object")
    if data.get("schema") != SCHEMA:
        raise RecordError(f"{path.name}: schema {data.get('schema')!r}, expected {SCHEMA}")
    missing = [k for k in TOP_LEVEL if k not in data]
    if missing:
        raise RecordError(f"{path.name}: missing field(s) {', '.join(missing)}")
    if not isinstance(data["config"], dict) or config_key(data["config"]) != data["key"]:
        raise RecordError(f"{path.name}: key does not match its config (edited or corrupt)")
    if data["arrays"] and not path.with_suffix(".npz").is_file():
        raise RecordError(f"{path.name}: its arrays file {path.with_suffix('.npz').name} is missing")
    return Record(data, path)


def move_aside(path: Path, reason: str) -> Path:
    """Rename a bad record (and its arrays) to ``*.corrupt`` so that it is recomputed, and warn once."""
    target = path.with_name(path.name + ".corrupt")
    os.replace(path, target)
    npz = path.with_suffix(".npz")
    if npz.is_file():
        os.replace(npz, npz.with_name(npz.name + ".corrupt"))
    warnings.warn(f"record moved aside and will be recomputed: {reason}", stacklevel=3)
    return target


def record_files(results_dir: str | os.PathLike) -> list[Path]:
    """The ``*.json`` files under ``results_dir`` that should be records, sorted. Hidden folders
    (``.checkpoints/``: the state of runs in progress) hold no records and are left out."""
    found = []
    # hidden folders are pruned before they are entered: a run in progress may delete its checkpoint folder at any
    # moment, and a folder that vanishes mid-walk is skipped (os.walk ignores it) instead of failing the scan
    for folder, subfolders, files in os.walk(results_dir):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(Path(folder) / name for name in files if name.endswith(".json"))
    return sorted(found)


def scan(results_dir: str | os.PathLike) -> tuple[list[Record], list[str]]:
    """Every record under ``results_dir`` (see :func:`record_files`), and one line per file that could not be used
    (never silently skipped)."""
    records, problems = [], []
    for path in record_files(results_dir):
        try:
            records.append(read_record(path))
        except RecordError as exc:
            problems.append(str(exc))
    return records, problems


def load_records(results_dir: str | os.PathLike, *, profile: str | None = None, **match) -> list[Record]:
    """Records under ``results_dir`` whose config fields equal ``match`` (and of ``profile``, if given).

    Unusable files are reported with a warning, not skipped silently.
    """
    records, problems = scan(results_dir)
    for p in problems:
        warnings.warn(f"unusable record: {p}", stacklevel=2)
    return [r for r in records if (profile is None or r.profile == profile)
            and all(r.config.get(k) == (list(v) if isinstance(v, tuple) else v) for k, v in match.items())]
