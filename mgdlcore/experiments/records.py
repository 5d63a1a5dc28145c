"""Result records: one JSON file per run, arrays in a sibling ``.npz``; one schema for every experiment.

A record has the top-level fields

* ``schema``: int, the version of this layout (``SCHEMA``);
* ``key``: sha256 hex digest of the canonical JSON of ``{"schema", "config"}``
  (:func:`~mgdlcore.experiments.config.config_key`);
* ``config``: the full config as a dict (``task``, ``method`` and, where there is one, ``image``, ...);
* ``metrics``: dict of scalars (numbers, booleans or None), e.g. ``psnr_test``, ``diverged``;
* ``series``: dict of lists: curves over epochs or grades (loss, PSNR, eigenvalues);
* ``arrays``: names of the arrays in the sibling ``.npz`` (images the figures need), possibly empty;
  long numeric lists of ``series`` (loss curves of 10^6 epochs) are kept exactly, as float64 or int64 columns, in
  a second sibling ``<name>.series.npz`` and stand in the JSON as ``{"$series": "<column>"}``
  (:func:`split_series`); :attr:`Record.series` gives them back as the lists they were;
* ``provenance``: ``commit``, ``dirty``, ``code`` (fingerprint of the code path), ``device``, ``torch``,
  ``seconds``, ``created``, ...;
* ``profile``: the profile whose function produced the config (``smoke`` / ``cpu`` / ``paper``), or ``custom``.

Files are written atomically (temporary file + ``os.replace``); the ``.npz`` files first, the JSON last, so a JSON
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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import SCHEMA, ExperimentConfig, config_key

TOP_LEVEL = ("schema", "key", "config", "metrics", "series", "arrays", "provenance", "profile")

SERIES_MIN = 64            # numeric lists of series at least this long go to the series file
SERIES_REF = "$series"     # {"$series": column}: a list kept in the series file
SERIES_SUFFIX = ".series.npz"

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


def series_path(path: str | os.PathLike) -> Path:
    """``<name>.series.npz`` beside the record file ``<name>.json``."""
    path = Path(path)
    return path.with_name(path.stem + SERIES_SUFFIX)


def _column(values: list) -> np.ndarray | None:
    """The exact column of a long list of floats (None for NaN) or of ints; None for any other list."""
    if len(values) < SERIES_MIN:
        return None
    if all(type(v) is int for v in values):
        return np.array(values, dtype=np.int64)
    if all(type(v) is float or v is None for v in values) and any(type(v) is float for v in values):
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return None


def split_series(series, name: str = "series") -> tuple[object, dict[str, np.ndarray]]:
    """``(series with each long numeric list replaced by {"$series": column}, {column: array})``.

    Floats are kept as float64 (None, the JSON form of a non-finite value, as NaN) and ints as int64, so that
    :func:`join_series` gives back the same lists, value for value and type for type."""
    columns: dict[str, np.ndarray] = {}

    def walk(obj, where: str):
        if isinstance(obj, dict):
            return {k: walk(v, f"{where}.{k}") for k, v in obj.items()}
        if isinstance(obj, list):
            col = _column(obj)
            if col is not None:
                columns[where] = col
                return {SERIES_REF: where}
            return [walk(v, f"{where}.{i}") for i, v in enumerate(obj)]
        return obj

    return walk(series, name), columns


def series_columns(series) -> list[str]:
    """The columns that ``series`` refers to (empty for a series held in the JSON alone)."""
    if isinstance(series, dict):
        if set(series) == {SERIES_REF}:
            return [series[SERIES_REF]]
        return [c for v in series.values() for c in series_columns(v)]
    if isinstance(series, list):
        return [c for v in series for c in series_columns(v)]
    return []


def join_series(series, columns: dict[str, np.ndarray]):
    """The inverse of :func:`split_series`: each ``{"$series": column}`` replaced by its list."""
    if isinstance(series, dict):
        if set(series) == {SERIES_REF}:
            col = columns[series[SERIES_REF]]
            if col.dtype.kind == "f":
                return [None if math.isnan(v) else v for v in col.tolist()]
            return col.tolist()
        return {k: join_series(v, columns) for k, v in series.items()}
    if isinstance(series, list):
        return [join_series(v, columns) for v in series]
    return series


def save_series_atomic(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> Path:
    """Write the exact columns of a record's series (float64 / int64, compressed) to ``.series.npz`` atomically."""
    return _atomic_write(Path(path), lambda fh: np.savez_compressed(fh, **columns))


def load_series(path: str | os.PathLike, names: list[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` of a series file; :class:`RecordError` if it is missing, unreadable or lacks one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            columns = {n: z[n] for n in names if n in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RecordError(f"{path.name}: unreadable series file ({type(exc).__name__}: {exc})") from None
    missing = [n for n in names if n not in columns]
    if missing:
        raise RecordError(f"{path.name}: lacks the series column(s) {', '.join(missing)}")
    return columns


@dataclass
class Record:
    """One record as read from (or about to be written to) disk."""

    data: dict
    path: Path | None = None
    _series: dict | None = field(default=None, repr=False, compare=False)

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
        """The series, with the lists kept in the series file read back (once)."""
        if self._series is None:
            raw = self.data.get("series", {})
            names = series_columns(raw)
            if names and self.path is None:
                raise RecordError("a record whose series are in a series file has no path")
            self._series = join_series(raw, load_series(series_path(self.path), names)) if names else raw
        return self._series

    @property
    def provenance(self) -> dict:
        return self.data["provenance"]

    @property
    def profile(self) -> str:
        return self.data["profile"]

    @property
    def diverged(self) -> bool:
        return bool(self.metrics.get("diverged"))

    @property
    def diverged_epoch(self) -> int | None:
        """The epoch at which a diverged run stopped (the metric where the kind keeps one, else the first model's
        or grade's in the series), or None for a run that did not diverge or kept no epoch."""
        if not self.diverged:
            return None
        epoch = self.metrics.get("diverged_epoch")
        if epoch is None:
            epoch = next((g["diverged_epoch"] for g in (self.series or {}).get("grades", [])
                          if isinstance(g, dict) and g.get("diverged_epoch") is not None), None)
        return epoch

    @property
    def divergence(self) -> str:
        """"diverged at epoch N" for a diverged run ("diverged" where it kept no epoch), else ""."""
        if not self.diverged:
            return ""
        epoch = self.diverged_epoch
        return "diverged" if epoch is None else f"diverged at epoch {epoch:,}"

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
    series, columns = split_series(record.data.get("series", {}))
    if columns:
        save_series_atomic(series_path(path), columns)
    write_json_atomic(path, {**record.data, "series": series})
    record.path = path
    return record


def read_record(path: str | os.PathLike, *, series: bool = False) -> Record:
    """Read and check one record file; a file that cannot be used raises :class:`RecordError` saying why.

    ``series``: also read its series file now (else on first use of :attr:`Record.series`), so that a missing or
    corrupt one is found here."""
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
    if series_columns(data["series"]) and not series_path(path).is_file():
        raise RecordError(f"{path.name}: its series file {series_path(path).name} is missing")
    rec = Record(data, path)
    if series:
        rec.series  # noqa: B018  (reads and checks the series file)
    return rec


def move_aside(path: Path, reason: str) -> Path:
    """Rename a bad record (and its arrays) to ``*.corrupt`` so that it is recomputed, and warn once."""
    target = path.with_name(path.name + ".corrupt")
    os.replace(path, target)
    for npz in (path.with_suffix(".npz"), series_path(path)):
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


def compact(path: str | os.PathLike) -> tuple[int, int]:
    """Move the long numeric lists of one record's series into its series file (:func:`split_series`), if any are
    still in its JSON: ``(bytes before, bytes after)`` of its JSON and series file.

    The record is read back and must give the same series, value for value and type for type; else its JSON is
    put back as it was and :class:`RecordError` says so. Nothing else of the record changes (its key, config,
    metrics and provenance stay)."""
    path = Path(path)
    size = lambda: path.stat().st_size + (series_path(path).stat().st_size if series_path(path).is_file() else 0)  # noqa: E731
    before = size()
    raw = json.loads(path.read_text())
    full = read_record(path, series=True).series
    series, columns = split_series(full)
    if series == raw["series"]:
        return before, before
    save_series_atomic(series_path(path), columns)
    write_json_atomic(path, {**raw, "series": series})
    try:
        back = read_record(path, series=True).series
    except RecordError:
        back = None
    if back is None or json.dumps(back) != json.dumps(full):
        write_json_atomic(path, raw)
        raise RecordError(f"{path.name}: its series did not read back the same from a series file; left as it was")
    return before, size()
