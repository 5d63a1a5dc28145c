"""``run(config) -> Record``: the one path from a config to a record, for every experiment kind.

A kind registers its config class and a *compute* function (``compute(config, context) -> Outcome``) with
:func:`register`. ``run`` then

1. checks everything before any work starts: the config (its ``validate``), the device, a writable results folder;
2. reuses the record of the same config if one exists, is readable, matches its key and was made by the current
   code of the kind's code path (:func:`~mgdlcore.experiments.provenance.code_fingerprint`); a corrupt record is moved aside
   (``*.corrupt``) and recomputed; a stale one is recomputed (or, with ``train="never"``, reported);
3. otherwise computes, times, adds provenance and writes the record atomically (arrays first, JSON last) under a
   lock file, so two processes never write the same record twice.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..device import resolve_device
from ..training.checkpoint import checkpointing
from .config import ExperimentConfig
from .profiles import KIND_MODULES
from . import parking, segments
from .parking import CHECKPOINTS
from .provenance import changed_modules, code_fingerprint, git_state, provenance
from .records import Record, RecordError, make_record, move_aside, read_record, record_path, write_record

TRAIN_MODES = ("missing", "never", "always")
MAX_ARRAY_SIZE = 256 * 256   # arrays larger than this (native-size images) are not stored: results/ stays small



@dataclass
class Outcome:
    """What a compute function returns: scalar metrics, curves, and arrays for figures."""

    metrics: dict
    series: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Context:
    """What a compute function may use besides its config."""

    device: torch.device
    progress: bool = True


@dataclass(frozen=True)
class Kind:
    name: str
    config_class: type[ExperimentConfig]
    compute: Callable[[ExperimentConfig, Context], Outcome]
    module: str                                 # the module whose import closure is the kind's code path
    tolerances: dict[str, float]                # metric name -> absolute tolerance for reruns ("*": default rel.)


@dataclass(frozen=True)
class BatchKind:
    """Configs of a task trained together: ``key(config)`` (equal for configs that can share one computation, None
    for a config that runs alone) and ``compute(configs, context) -> [Outcome]``, defined in ``module``."""

    key: Callable[[ExperimentConfig], str | None]
    compute: Callable
    module: str


KINDS: dict[str, Kind] = {}        # by task name
BATCHES: dict[str, list[BatchKind]] = {}   # by task name: the batched computations that may take its configs
BATCH_MODULES = ("gd_sweep", "msdl_sweep")   # importing them registers the batched computations
_KIND_MODULES = KIND_MODULES      # importing them registers every kind (a study module registers none)


def register(config_class: type[ExperimentConfig], compute, *, tolerances: dict[str, float] | None = None) -> None:
    """Register ``compute`` for every task of ``config_class``."""
    kind = Kind(config_class.KIND, config_class, compute, compute.__module__, dict(tolerances or {}))
    for task in config_class.TASKS:
        KINDS[task] = kind


def register_batch(config_class: type[ExperimentConfig], key, compute) -> None:
    """Register a batched computation (see :class:`BatchKind`) for every task of ``config_class`` (a config goes to
    the first one whose key takes it)."""
    batch = BatchKind(key, compute, compute.__module__)
    for task in config_class.TASKS:
        if batch not in BATCHES.setdefault(task, []):
            BATCHES[task].append(batch)


def _load_kinds() -> list[str]:
    """Import the kind modules not yet registered; one line per module that failed to import."""
    errors = []
    for name in (*_KIND_MODULES, *BATCH_MODULES):
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # a broken kind module must not hide the others
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return errors


def kind_of(task: str) -> Kind:
    if task not in KINDS:
        errors = _load_kinds()
        if task not in KINDS:
            extra = f" (kind modules that failed to import: {'; '.join(errors)})" if errors else ""
            raise ValueError(f"unknown task {task!r}; accepted: {', '.join(sorted(KINDS))}{extra}")
    return KINDS[task]


def config_from_dict(data: dict, **runtime) -> ExperimentConfig:
    """Rebuild a config from a record's ``config`` (its ``task`` picks the class)."""
    if not isinstance(data, dict) or "task" not in data:
        raise ValueError("a config dict needs a 'task' field")
    return kind_of(data["task"]).config_class.from_dict(data, **runtime)


_FINGERPRINTS: dict[str, dict[str, str]] = {}


def current_code(task: str, code_path: str | None = None) -> dict[str, str]:
    """The code fingerprint of ``task``'s code path in this checkout (cached per process); ``code_path``: of that
    module instead (a record's ``provenance.code_path``: the batched computation that made it)."""
    module = kind_of(task).module if code_path is None else f"{__package__.rsplit('.', 1)[0]}.{code_path}"
    if module not in _FINGERPRINTS:
        _FINGERPRINTS[module] = code_fingerprint(module)
    return _FINGERPRINTS[module]


def record_code(record: Record) -> dict[str, str]:
    """The current fingerprint of the code path that made ``record``."""
    return current_code(record.config["task"], record.provenance.get("code_path"))


def staleness(record: Record) -> str | None:
    """Why ``record`` is not what the current code would compute (changed modules), or None if it is current."""
    changed = changed_modules(record.provenance.get("code"), record_code(record))
    return f"code changed since it was made: {', '.join(changed)}" if changed else None


class RecordUnavailable(LookupError):
    """``train="never"`` and no current record of the config exists; the message says why."""


def check_writable(results_dir: str | os.PathLike) -> Path:
    """Create ``results_dir`` if needed and check that a file can be created in it; one-line error otherwise."""
    root = Path(results_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"results_dir {str(root)!r} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"results_dir {str(root)!r} is not writable ({exc.strerror})") from None
    return root


def _lock_is_stale(lock: Path) -> bool:
    """A lock left by a process of this machine that no longer runs (killed mid-run) is stale."""
    try:
        host, pid = lock.read_text().split(":")
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


@contextmanager
def _lock(path: Path):
    """Hold ``<record>.lock`` (created atomically) while computing a record: a second process gets a clear error."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    if lock.exists() and _lock_is_stale(lock):
        lock.unlink(missing_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise RuntimeError(f"another process is computing this record (lock file {lock.name}; remove it if no "
                           "process is running)") from None
    try:
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}".encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def find_record(config: ExperimentConfig, results_dir: str | os.PathLike, *, move_corrupt: bool = True
                ) -> tuple[Record | None, str | None]:
    """The current record of ``config`` in ``results_dir`` and None, or None and the reason there is none."""
    path = record_path(results_dir, config)
    if not path.is_file():
        return None, "no record"
    try:
        rec = read_record(path, series=True)
    except RecordError as exc:
        if move_corrupt:
            move_aside(path, str(exc))
        return None, f"corrupt record: {exc}"
    if rec.config != config.to_dict():
        return None, "a record with another config sits at this path"
    reason = staleness(rec)
    if reason:
        return None, f"stale record ({reason})"
    return rec, None


def hvp_counts() -> dict[str, int]:
    """The Hessian-vector products this thread has taken so far, compiled and eager (``analysis.hessian``; looked
    up, not imported, so that the runner does not put that module on every kind's code path)."""
    hessian = sys.modules.get(f"{__package__.rsplit('.', 1)[0]}.analysis.hessian")
    return hessian.HVP_COMPILER.counts() if hessian is not None else {"compiled": 0, "eager": 0}


def hvp_products(before: dict[str, int]) -> dict:
    """What a record says about the Hessian-vector products of its last start (``provenance.hvp_products``: how many
    were compiled and how many eager; both agree to float rounding, see ``analysis.hessian.HvpCompiler``); nothing
    for a run that took none."""
    now = hvp_counts()
    taken = {k: now[k] - before.get(k, 0) for k in now}
    return {"hvp_products": taken} if any(taken.values()) else {}


def checkpoint_folder(results_dir: str | os.PathLike, config: ExperimentConfig, code: dict[str, str]) -> Path:
    """``<results>/.checkpoints/<task>-<key>-<code>/``: the checkpoints of one config made by one version of its
    code path (a checkpoint of other code is never resumed); removed once the record is written."""
    return Path(results_dir) / CHECKPOINTS / checkpoint_name(config.task, config.key, code)


def checkpoint_name(task: str, key: str, code: dict[str, str]) -> str:
    """The name of the checkpoint folder of the config with ``key`` made by code ``code`` (its fingerprint)."""
    return f"{task}-{key[:16]}-{code_digest(code)}"


def code_digest(code: dict[str, str]) -> str:
    """A short digest of a code fingerprint (``provenance.code``), as checkpoint folders are named by it."""
    return hashlib.sha256(json.dumps(code, sort_keys=True).encode()).hexdigest()[:8]


def find_on_any_device(configs, results_dir: str | os.PathLike, *, stale_elsewhere: bool = False,
                       every_device: bool = False) -> list[Record]:
    """The current records of ``configs`` made on any device (the config's own first, then the others), for
    showing results made elsewhere, e.g. paper-profile records from a GPU in a book built on a CPU. Configs
    without a record on any device are left out; nothing is computed.

    ``stale_elsewhere``: also a record made on *another* device that is stale only because the code changed
    since (this machine cannot rerun it to adopt it); :func:`staleness` of such a record says so, and the
    book says it beside the number (:func:`~mgdlcore.report.provenance.stale_note`).

    ``every_device``: the record of every device that made one, not only the first found."""
    from .config import DEVICES

    out = []
    for config in configs:
        for device in (config.device, *(d for d in DEVICES if d != config.device)):
            other = dataclasses.replace(config, device=device)
            rec, why = find_record(other, results_dir, move_corrupt=False)
            if rec is None and stale_elsewhere and device != config.device and why.startswith("stale record"):
                rec = read_record(record_path(results_dir, other))
            if rec is not None:
                out.append(rec)
                if not every_device:
                    break
    return out


def run(config: ExperimentConfig, *, results_dir: str | os.PathLike | None = None, profile: str = "custom",
        train: str = "missing", progress: bool = True) -> Record:
    """The record of ``config``: reused from ``results_dir`` when current, computed otherwise.

    ``train``: ``"missing"`` (compute what has no current record), ``"never"`` (only read; raises
    :class:`RecordUnavailable` with the reason) or ``"always"`` (recompute and overwrite).
    ``profile`` is written into a new record (the profile function that made ``config``).
    """
    if train not in TRAIN_MODES:
        raise ValueError(f"unknown train mode {train!r}; accepted: {', '.join(TRAIN_MODES)}")
    kind = kind_of(config.task)
    if not isinstance(config, kind.config_class):
        raise TypeError(f"task {config.task!r} needs a {kind.config_class.__name__}, got {type(config).__name__}")
    if results_dir is not None and train != "always":
        rec, why = find_record(config, results_dir, move_corrupt=train != "never")
        if rec is not None:
            return rec
        if train == "never":
            raise RecordUnavailable(f"{config.long_label()}: {why}")
    elif train == "never":
        raise RecordUnavailable(f"{config.long_label()}: no results_dir to read from")
    device = resolve_device(config.device)
    if results_dir is not None:
        check_writable(results_dir)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(config.tf32)
        torch.backends.cudnn.allow_tf32 = bool(config.tf32)
    ctx = Context(device=device, progress=progress)
    code, git = current_code(config.task), git_state()       # both as the run starts

    def compute(seg: segments.Segments) -> Record:
        t0, products = time.perf_counter(), hvp_counts()
        out = kind.compute(config, ctx)
        seconds = seg.before + time.perf_counter() - t0
        arrays = {k: v for k, v in out.arrays.items() if np.size(v) <= MAX_ARRAY_SIZE}
        extra = {**segments.provenance_fields(seg), **hvp_products(products)}
        prov = provenance(device, seconds=seconds, code=code, extra=extra, git=git)
        return make_record(config, metrics=out.metrics, series=out.series, arrays=list(arrays), provenance=prov,
                           profile=profile), arrays

    if results_dir is None:
        return compute(segments.Segments(0.0, 1, True))[0]
    folder = checkpoint_folder(results_dir, config, code)
    with _lock(record_path(results_dir, config)):
        parking.restore(folder)        # a run parked by another machine resumes here
        seg = segments.begin(folder)   # a resumed run's seconds count its earlier segments
        try:
            with checkpointing(folder):
                rec, arrays = compute(seg)
        except BaseException:
            segments.abandon(folder)   # failed before its first checkpoint (bad input): leave nothing behind
            raise
        out = write_record(results_dir, config, rec, arrays)
        shutil.rmtree(folder, ignore_errors=True)
        parking.discard(folder)
        return out


def _batch_kind(config: ExperimentConfig) -> tuple[BatchKind, str] | None:
    """The batched computation that takes ``config`` and its key, or None."""
    _load_batches()
    for batch in BATCHES.get(config.task, []):
        key = batch.key(config)
        if key is not None:
            return batch, key
    return None


@functools.cache
def _load_batches() -> None:
    """Import the kind and batch modules once per process (registering every batched computation)."""
    _load_kinds()


def batch_of(config: ExperimentConfig) -> tuple[str, str, str] | None:
    """``(task, module, key)`` shared by the configs that can be trained together with ``config``, or None."""
    found = _batch_kind(config)
    return None if found is None else (config.task, found[0].module, found[1])


def batch_groups(configs) -> list[list[ExperimentConfig]]:
    """``configs`` in groups that :func:`run_batch` trains together (in order of first appearance); a config that
    cannot be batched is a group of its own."""
    groups: dict = {}
    for i, config in enumerate(configs):
        groups.setdefault(batch_of(config) or i, []).append(config)
    return list(groups.values())


def batch_checkpoint_folder(results_dir: str | os.PathLike, todo: Sequence[ExperimentConfig]) -> Path:
    """``<results>/.checkpoints/<task>-batch-<digest>/``: the checkpoints of the batched computation of the configs
    ``todo`` (those of a group without a record) by one version of its code path."""
    batch = _batch_kind(todo[0])[0]
    code = current_code(todo[0].task, batch.module.split(".", 1)[1])
    digest = hashlib.sha256(json.dumps([sorted(c.key for c in todo), code], sort_keys=True).encode()).hexdigest()
    return Path(results_dir) / CHECKPOINTS / f"{todo[0].task}-batch-{digest[:16]}"


def run_batch(configs, *, results_dir: str | os.PathLike, profile: str = "custom", train: str = "missing",
              progress: bool = True) -> list[Record]:
    """The records of ``configs`` (one group of :func:`batch_groups`), those without a current record computed in
    one batched computation; a group of one goes through :func:`run`.

    Each record is written as :func:`run` writes it, with ``provenance.code_path`` (the batched module, whose code
    fingerprint the record carries), ``provenance.batch`` (how many configs were trained together) and the
    group's wall time as its seconds. The group is checkpointed and resumed like a single run.
    """
    configs = list(configs)
    if train not in ("missing", "always"):
        raise ValueError(f"run_batch computes; train must be 'missing' or 'always', got {train!r}")
    keys = {batch_of(c) for c in configs}
    if len(configs) > 1 and (None in keys or len(keys) != 1):
        raise ValueError("run_batch needs configs of one batch (see batch_groups)")
    found: dict[str, Record] = {}
    if train == "missing":
        for config in configs:
            rec, _ = find_record(config, results_dir)
            if rec is not None:
                found[config.key] = rec
    todo = [c for c in configs if c.key not in found]
    if len(todo) <= 1:
        found.update({c.key: run(c, results_dir=results_dir, profile=profile, train=train, progress=progress)
                      for c in todo})
        return [found[c.key] for c in configs]
    batch = _batch_kind(todo[0])[0]
    device = resolve_device(todo[0].device)
    check_writable(results_dir)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(todo[0].tf32)
        torch.backends.cudnn.allow_tf32 = bool(todo[0].tf32)
    code_path = batch.module.split(".", 1)[1]
    code, git = current_code(todo[0].task, code_path), git_state()
    folder = batch_checkpoint_folder(results_dir, todo)
    with ExitStack() as stack:
        for config in todo:
            stack.enter_context(_lock(record_path(results_dir, config)))
        parking.restore(folder)
        seg = segments.begin(folder)
        t0 = time.perf_counter()
        try:
            with checkpointing(folder):
                outs = batch.compute(todo, Context(device=device, progress=progress))
        except BaseException:
            segments.abandon(folder)
            raise
        seconds = seg.before + time.perf_counter() - t0
        extra = {**segments.provenance_fields(seg), "code_path": code_path, "batch": len(todo)}
        for config, out in zip(todo, outs):
            arrays = {k: v for k, v in out.arrays.items() if np.size(v) <= MAX_ARRAY_SIZE}
            prov = provenance(device, seconds=seconds, code=code, extra=extra, git=git)
            rec = make_record(config, metrics=out.metrics, series=out.series, arrays=list(arrays), provenance=prov,
                              profile=profile)
            found[config.key] = write_record(results_dir, config, rec, arrays)
        shutil.rmtree(folder, ignore_errors=True)
        parking.discard(folder)
    return [found[c.key] for c in configs]


def run_many(configs, *, results_dir, profile: str, train: str = "missing", progress: bool = True
             ) -> tuple[list[Record], dict[str, str]]:
    """:func:`run` over ``configs``: the records, and ``{label: one-line reason}`` for each config without one.

    A run that cannot be done (record unavailable with ``train="never"``, an image that cannot be fetched, a
    failing computation) is reported, never silently dropped, and does not stop the others. Bad *settings* are
    not caught here: configs are validated when they are built, before this is called.
    """
    if train != "never" and results_dir is not None:
        check_writable(results_dir)
    records, pending = [], {}
    for config in configs:
        try:
            records.append(run(config, results_dir=results_dir, profile=profile, train=train, progress=progress))
        except RecordUnavailable as exc:
            pending[config.long_label()] = str(exc).split(": ", 1)[-1]
        except (OSError, RuntimeError, ValueError) as exc:
            pending[config.long_label()] = f"{type(exc).__name__}: {exc}"
    return records, pending
