"""``mgdl-results verify``: are the committed records still what the current code computes?

    mgdl-results verify [--results DIR] [--rerun N] [--per-task] [--prefix-epochs E] [--jobs J] [--only PATTERN]
    mgdl-results adopt [--results DIR] [--jobs J] [--dry-run]

Every ``*.json`` under ``--results`` is checked; the command exits 1 and lists each record that

* cannot be read, is not schema ``config.SCHEMA``, or lacks a top-level field;
* has a ``key`` that is not the hash of its ``config`` (the config was edited) or a config that no experiment kind
  accepts;
* was made at a commit that is not an ancestor of HEAD (made on another branch, or history rewritten);
* is *stale*: a module on its kind's code path changed since it was made. "Changed" is decided by the code
  fingerprint (``provenance.code``): a hash, per module, of the syntax tree without docstrings of every package
  module the kind's runner imports, bookkeeping modules left out (see ``provenance.code_fingerprint``). Editing
  prose or comments does not make a record stale; editing code does, even when the commit is an ancestor.

``--rerun N`` then re-executes the N cheapest valid records that this machine can run (a GPU record needs a GPU;
by their recorded seconds; with ``--per-task`` the N cheapest of each task; ``--min-seconds S`` leaves out records that took less, ``--trained-only`` those that
trained no network, such as classical references), each with the thread count it was made with, with the current code in a temporary folder and fails when a metric moves beyond its
tolerance (absolute, per metric, declared by the kind; 1e-6 relative for metrics without one) or ``diverged``
differs. ``--prefix-epochs E`` makes the reruns of trained image records cheap: such a record is re-executed for
its first ``E`` epochs only (MGDL: the first ``E`` epochs of grade 1), and its training-loss curve over those epochs
must match the recorded one within 1e-6 (relative): training does not depend on the total number of epochs, so the
prefix of a run is the run of the prefix. Records without a loss curve per grade are rerun in full. A record from a dirty tree is accepted when its code fingerprint matches: the fingerprint, not the
commit, says which code made it.

``adopt`` is for a change of code that should move no number (a checkpoint, a faster path): see :func:`adopt`.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import math
import sys
import tempfile
from pathlib import Path

from . import parking
from .config import SCHEMA
from .provenance import git_state, is_ancestor
from .records import Record, RecordError, compact, read_record, record_files, split_series
from .runner import config_from_dict, kind_of, run, staleness

DEFAULT_RELATIVE = 1e-6
PREFIX_RELATIVE = 1e-6   # loss curve of a prefix rerun against the recorded curve


def runnable_devices() -> set[str]:
    """The config devices this machine can make records on ("cpu", and "cuda" where a GPU is present)."""
    import torch

    return {"cpu"} | ({"cuda"} if torch.cuda.is_available() else set())


def _rerun_all(recs: list[Record], prefixes: list[int | None], jobs: int) -> list[tuple[Record | None, str | None]]:
    """:func:`_rerun_one` of each record (in the given order), ``jobs`` at a time in spawned processes."""
    if jobs > 1 and len(recs) > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            return list(pool.map(_rerun_one, [str(r.path) for r in recs], prefixes))
    return [_rerun_one(str(r.path), p) for r, p in zip(recs, prefixes)]


def check_record(rec: Record) -> list[str]:
    """Everything wrong with one readable record (empty when it is valid and current)."""
    problems = []
    try:
        config = config_from_dict(rec.config)
    except (ValueError, TypeError) as exc:
        return [f"config not accepted: {exc}"]
    if config.key != rec.key:
        problems.append("key differs from the key of its config as the current code builds it")
    commit = rec.provenance.get("commit")
    if commit is None:
        problems.append("no commit in provenance")
    elif git_state()[0] is not None:
        anc = is_ancestor(commit)
        if anc is False:
            problems.append(f"commit {commit[:10]} is not an ancestor of HEAD")
    why = staleness(rec)
    if why:
        problems.append(f"stale: {why}")
    return problems


def verify(results_dir: str | Path, only: list[str] | None = None,
           awaiting: list[str] | None = None) -> tuple[list[Record], list[str]]:
    """``(valid records, problem lines)`` for every record under ``results_dir``.

    With a list ``awaiting``, a record stale only because the code changed and made on a device type this
    machine lacks (a GPU's, checked here on a CPU) goes there instead of the problems: nothing here can rerun it,
    and ``mgdl-results adopt --device cuda`` on a GPU resolves it."""
    valid, lines = [], []
    here = runnable_devices()
    root = Path(results_dir)
    for path in record_files(root):
        rel = path.relative_to(root)
        if only and not any(fnmatch.fnmatch(str(rel), p) for p in only):
            continue
        try:
            rec = read_record(path, series=True)
        except RecordError as exc:
            lines.append(f"{rel}: {exc}")
            continue
        problems = check_record(rec)
        elsewhere = rec.config.get("device", "cpu") not in here
        if problems and awaiting is not None and elsewhere and all(p.startswith("stale: code changed")
                                                                    for p in problems):
            awaiting.extend(f"{rel}: {p}" for p in problems)
        elif problems:
            lines.extend(f"{rel}: {p}" for p in problems)
        else:
            valid.append(rec)
    return valid, lines


def compare_metrics(old: Record, new: Record) -> list[str]:
    """Metrics of a rerun that moved beyond the kind's tolerance."""
    tol = kind_of(old.config["task"]).tolerances
    out = []
    for name, a in old.metrics.items():
        b = new.metrics.get(name)
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            if a != b:
                out.append(f"{name}: {a} -> {b}")
            continue
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            limit = tol.get(name, DEFAULT_RELATIVE * max(abs(a), 1e-12))
            if not (math.isfinite(b) and abs(a - b) <= limit):
                out.append(f"{name}: {a:.6g} -> {b:.6g} (tolerance {limit:.3g})")
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def loss_curve(series: dict) -> dict[int, float | None] | None:
    """``{epoch: loss}`` of the first model / grade of a record's series, or None when it has no such curve."""
    grades = series.get("grades") if isinstance(series, dict) else None
    if not (isinstance(grades, list) and grades and isinstance(grades[0], dict)
            and "loss_epochs" in grades[0] and "loss" in grades[0]):
        return None
    return dict(zip(grades[0]["loss_epochs"], grades[0]["loss"]))


def prefix_config(config, epochs: int):
    """``config`` trained for its first ``epochs`` epochs only (MGDL: grade 1 only)."""
    changes = {"epochs": epochs}
    if config.method == "MGDL" and hasattr(config, "n_grades"):
        changes["n_grades"] = 1
    return dataclasses.replace(config, **changes)


def compare_prefix(old: Record, new: Record, epochs: int) -> list[str]:
    """Epochs below ``epochs`` where the rerun's loss differs from the recorded loss beyond PREFIX_RELATIVE."""
    a, b = loss_curve(old.series), loss_curve(new.series)
    common = sorted(e for e in set(a) & set(b) if e < epochs)
    if not common:
        return [f"no common epoch below {epochs} in the loss curves"]
    out = []
    for e in common:
        x, y = a[e], b[e]
        if (x is None) != (y is None) or (x is not None and abs(x - y) > PREFIX_RELATIVE * max(abs(x), 1e-30)):
            out.append(f"loss at epoch {e}: {x!r} -> {y!r}")
    return out[:3] + ([f"... {len(out) - 3} more epochs"] if len(out) > 3 else [])


def rerun(records: list[Record], n: int, *, per_task: bool = False, min_seconds: float = 0.0,
          trained_only: bool = False, jobs: int = 1, prefix_epochs: int | None = None) -> list[str]:
    """Re-execute the ``n`` cheapest records (of each task with ``per_task``) that took at least ``min_seconds``
    (and, with ``trained_only``, trained a network: ``epochs > 0``), each with the thread count it was made with
    (float sums depend on it), ``jobs`` at a time in separate processes; with ``prefix_epochs`` records with a loss
    curve are rerun for that many epochs only (see the module docstring); problem lines."""

    here = runnable_devices()

    def eligible(r: Record) -> bool:
        trained = (r.config.get("epochs") or 0) > 0
        return ((r.provenance.get("seconds") or 0.0) >= min_seconds and (trained or not trained_only)
                and r.config.get("device", "cpu") in here)      # a GPU record is rerun where there is a GPU

    ranked = sorted(filter(eligible, records), key=lambda r: (r.provenance.get("seconds") or math.inf, r.key))
    if per_task:
        chosen, counts = [], {}
        for r in ranked:
            t = r.config["task"]
            if counts.get(t, 0) < n:
                chosen.append(r)
                counts[t] = counts.get(t, 0) + 1
    else:
        chosen = ranked[:n]
    lines = []
    # a prefix rerun where it is shorter than the record and the record has a loss curve to compare
    prefixes = {r.key: prefix_epochs if (prefix_epochs and (r.config.get("epochs") or 0) > prefix_epochs
                                         and loss_curve(r.series) is not None) else None for r in chosen}
    if jobs > 1:   # longest first, so that the long reruns do not end up last on one worker
        chosen = sorted(chosen, key=lambda r: -(r.provenance.get("seconds") or 0.0))
    outcomes = _rerun_all(chosen, [prefixes[r.key] for r in chosen], jobs)
    for rec, (new, error) in zip(chosen, outcomes):
        if error is not None:
            lines.append(f"{rec.path.name}: rerun failed: {error}")
            continue
        prefix = prefixes[rec.key]
        moved = compare_metrics(rec, new) if prefix is None else compare_prefix(rec, new, prefix)
        status = "moved: " + "; ".join(moved) if moved else "reproduced"
        what = "" if prefix is None else f", first {prefix} epochs"
        print(f"  rerun {config_from_dict(rec.config).long_label()}{what} ({rec.provenance.get('seconds', 0):.1f} s "
              f"recorded in full, {new.provenance['seconds']:.1f} s now): {status}", flush=True)
        lines.extend(f"{rec.path.name}: {m}" for m in moved)
    return lines


def _rerun_one(path: str, prefix_epochs: int | None = None) -> tuple[Record | None, str | None]:
    """Re-execute the record at ``path`` (its first ``prefix_epochs`` epochs only, when given) with the thread count
    it was made with, in a temporary folder: ``(new record, None)`` or ``(None, "ExceptionType: message")``. Runs in
    a worker process with ``--jobs``."""
    import torch

    rec = read_record(Path(path))
    config = config_from_dict(rec.config)
    if prefix_epochs is not None:
        config = prefix_config(config, prefix_epochs)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(rec.provenance.get("threads") or threads))
    try:
        with tempfile.TemporaryDirectory(prefix="mgdl-rerun-") as tmp:
            return run(config, results_dir=tmp, profile=rec.profile, train="always", progress=False), None
    except Exception as exc:  # report and go on
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(threads)


def adopt(results_dir: str | Path, *, jobs: int = 1, dry_run: bool = False,
          devices: set[str] | None = None) -> tuple[int, list[str]]:
    """Records that are stale only because their code changed, re-stamped with the current fingerprint where the
    change is shown not to move results: ``(records adopted, problem lines)``.

    Records are grouped by task, recorded fingerprint and device type (a change may move a GPU's code path, e.g. CUDA
    graphs, and not the CPU's, so a CPU rerun never vouches for GPU records); ``devices`` limits the groups to
    those device types (default: all). From each group the cheapest record that trained a network
    to its end (a classical reference when none did) is rerun *in full* with the current
    code and must reproduce every metric within its tolerance and its whole training-loss curve within 1e-6
    (relative). Then every record of the group gets ``provenance.code`` = the current fingerprint and
    ``provenance.adopted`` = the old fingerprint, the record that was rerun and the commit. A group whose rerun
    moved, or that has no record runnable here (e.g. GPU records only), stays stale and is reported.
    """
    import json

    from .records import write_json_atomic
    from .runner import current_code

    groups: dict[tuple[str, str], list[Record]] = {}
    for path in record_files(results_dir):
        try:
            rec = read_record(path)
        except RecordError:
            continue
        problems = check_record(rec)
        device = rec.config.get("device", "cpu")
        if devices is not None and device not in devices:
            continue
        if problems and all(p.startswith("stale: code changed") for p in problems):
            key = (rec.config["task"], json.dumps(rec.provenance.get("code"), sort_keys=True), device,
                   rec.provenance.get("code_path"))
            groups.setdefault(key, []).append(rec)
    here = runnable_devices()
    samples, lines = {}, []
    for key, recs in groups.items():
        if key[2] not in here:
            lines.append(f"{key[0]}: {len(recs)} stale {key[2]} record(s); no {key[2]} here to check the change")
            continue
        trained = [r for r in recs if (r.config.get("epochs") or 0) > 0 and not r.diverged]
        pool = sorted(trained or recs, key=lambda r: (r.provenance.get("seconds") or math.inf, r.key))
        samples[key] = pool[0]
    chosen = list(samples.values())
    print(f"{sum(map(len, groups.values()))} record(s) stale by code only, in {len(groups)} group(s); "
          f"rerunning {len(chosen)} in full", flush=True)
    if dry_run:
        for key, rec in samples.items():
            print(f"  {key[0]} ({key[2]}): {len(groups[key])} record(s), would rerun {rec.path.name}")
        return 0, lines
    chosen = sorted(chosen, key=lambda r: -(r.provenance.get("seconds") or 0.0))   # longest first
    outcomes = dict(zip([r.key for r in chosen], _rerun_all(chosen, [None] * len(chosen), jobs)))
    commit = git_state()[0]
    adopted = 0
    for key, sample in samples.items():
        new, error = outcomes[sample.key]
        if error is not None:
            lines.append(f"{sample.path.name}: rerun failed: {error}")
            continue
        moved = compare_metrics(sample, new)
        if loss_curve(sample.series) is not None:
            moved += compare_prefix(sample, new, (sample.config.get("epochs") or 0) + 1)
        print(f"  {key[0]} ({key[2]}): rerun of {sample.path.name} ({sample.provenance.get('seconds', 0):.1f} s): "
              + ("moved: " + "; ".join(moved) if moved else "reproduced"), flush=True)
        if moved:
            lines.extend(f"{sample.path.name}: {m}" for m in moved)
            continue
        code = current_code(key[0], key[3])
        for rec in groups[key]:
            data = json.loads(rec.path.read_text())
            old = data["provenance"]["code"]
            data["provenance"]["code"] = code
            data["provenance"]["adopted"] = {"from_code": old, "checked_by": sample.path.name, "commit": commit}
            write_json_atomic(rec.path, data)
            adopted += 1
        if key[3] is None:      # a batch's checkpoints are named by its members, not carried
            for name in carry_checkpoints(results_dir, key[0], key[2], json.loads(key[1]), code,
                                          {"checked_by": sample.path.name, "commit": commit}):
                print(f"  {key[0]} ({key[2]}): checkpoints carried to the current code: {name}", flush=True)
    return adopted, lines


def carry_checkpoints(results_dir: str | Path, task: str, device: str, old_code: dict, code: dict,
                      note: dict) -> list[str]:
    """Hand the checkpoints of ``task``'s unfinished runs on ``device`` made by ``old_code`` to ``code``, once
    :func:`adopt` has shown that change not to move results (so that a long run resumes instead of starting over):
    the folders are renamed (``parking.carry``), and the run's record will say, in
    ``provenance.checkpoint_adopted``, the older code, the record whose rerun vouched for the change and the commit.
    The device is told by the configs of every profile (a folder's name carries only the config's key)."""
    from .runner import checkpoint_name, code_digest

    keys = config_keys(task, device)
    renames = {checkpoint_name(task, k, old_code): checkpoint_name(task, k, code) for k in keys}
    return parking.carry(results_dir, renames, {"from_code": code_digest(old_code), **note})


def config_keys(task: str, device: str) -> set[str]:
    """The keys of every profile's configs of ``task`` on ``device``."""
    from .profiles import PROFILE_NAMES, all_configs

    return {c.key for profile in PROFILE_NAMES for c in all_configs(profile, device=device) if c.task == task}


def compact_all(results_dir: str | Path) -> int:
    """``mgdl-results compact``: :func:`~mgdlcore.experiments.records.compact` every record; prints the sizes and
    any record that could not be compacted (left as it was). Exit status 1 if there was one."""
    n = before = after = 0
    problems = []
    for path in record_files(results_dir):
        try:
            b, a = compact(path)
        except RecordError as exc:
            problems.append(str(exc))
            continue
        n, before, after = n + (a != b), before + b, after + a
    for line in problems:
        print(f"  PROBLEM {line}")
    print(f"{n} record(s) compacted; records and series files: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgdl-results", description="Check committed result records.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check keys, commits and code fingerprints; optionally rerun the cheapest")
    v.add_argument("--results", default=None, help="records folder (default: the repository's results/)")
    v.add_argument("--rerun", type=int, default=0, metavar="N", help="re-execute the N cheapest valid records")
    v.add_argument("--per-task", action="store_true", help="with --rerun: the N cheapest of each task")
    v.add_argument("--min-seconds", type=float, default=0.0,
                   help="with --rerun: only records that took at least this long (skips instant references)")
    v.add_argument("--trained-only", action="store_true",
                   help="with --rerun: only records that trained a network (config epochs > 0)")
    v.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="with --rerun: re-execute J records at a time, one process each (one per core)")
    v.add_argument("--prefix-epochs", type=int, default=None, metavar="E",
                   help="with --rerun: rerun trained image records for their first E epochs only and compare the "
                        "loss curve (cheap; records without a loss curve are rerun in full)")
    v.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="glob on the record's path below --results, e.g. 'regression/*' (repeatable)")
    a = sub.add_parser("adopt", help="re-stamp records stale only by code once a full rerun shows the change "
                                      "moves nothing")
    a.add_argument("--results", default=None, help="records folder (default: the repository's results/)")
    a.add_argument("--jobs", type=int, default=1, metavar="J", help="re-execute J records at a time")
    a.add_argument("--dry-run", action="store_true", help="list the groups and the records that would be rerun")
    a.add_argument("--device", action="append", choices=("cpu", "cuda"), default=None,
                   help="only records made on this device type (repeatable; default: all)")
    c = sub.add_parser("compact", help="move the long series of records (loss curves) from their JSON into exact "
                                        "float64/int64 series files; the records read back the same")
    c.add_argument("--results", default=None, help="records folder (default: the repository's results/)")
    k = sub.add_parser("park", help="copy the checkpoints of unfinished runs to results/.parked/ (committed, so that "
                                     "a fresh clone resumes them)")
    k.add_argument("--results", default=None, help="records folder (default: the repository's results/)")
    k.add_argument("--max-mb", type=float, default=parking.DEFAULT_MAX_MB,
                   help=f"refuse when the parked folders would exceed this size in all (default {parking.DEFAULT_MAX_MB:g})")
    k.add_argument("--list", action="store_true", help="only list what is parked")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..report.paths import repo_root

    results = Path(args.results) if args.results else repo_root() / "results"
    if not results.is_dir():
        print(f"mgdl-results: no results folder at {results}", file=sys.stderr)
        return 2
    if args.command == "park":
        if not args.list:
            try:
                parking.park(results, max_mb=args.max_mb)
            except ValueError as err:
                print(f"mgdl-results park: {err}", file=sys.stderr)
                return 2
        items = parking.parked(results)
        for item in items:
            print(f"  {item.name}: {item.bytes / 1e6:.2f} MB, {item.seconds / 3600:.2f} h of training")
        print(f"{len(items)} parked checkpoint folder(s) in {results / parking.PARKED}"
              + ("" if args.list or not items else "; commit them to resume elsewhere"))
        return 0
    if args.command == "compact":
        return compact_all(results)
    if args.command == "adopt":
        n, problems = adopt(results, jobs=max(1, args.jobs), dry_run=args.dry_run,
                            devices=set(args.device) if args.device else None)
        for line in problems:
            print(f"  PROBLEM {line}")
        print(f"{n} record(s) adopted")
        return 1 if problems else 0
    if args.rerun < 0:
        print(f"mgdl-results: --rerun must be >= 0, got {args.rerun}", file=sys.stderr)
        return 2
    if args.prefix_epochs is not None and args.prefix_epochs < 1:
        print(f"mgdl-results: --prefix-epochs must be >= 1, got {args.prefix_epochs}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"mgdl-results: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    awaiting: list[str] = []
    valid, problems = verify(results, args.only, awaiting)
    print(f"{len(valid)} valid record(s), {len(problems)} problem(s) in {results} (schema {SCHEMA})")
    loose = sum(bool(split_series(r.data.get("series", {}))[1]) for r in valid)
    if loose:
        print(f"{loose} record(s) keep long series in their JSON; `mgdl-results compact` moves them to series files")
    for line in problems:
        print(f"  PROBLEM {line}")
    if awaiting:
        print(f"{len(awaiting)} record(s) of a device this machine lacks are stale by code and await "
              "`mgdl-results adopt` on that device (the book shows them with a note):")
        for line in awaiting:
            print(f"  AWAITING {line}")
    if args.rerun:
        moved = rerun(valid, args.rerun, per_task=args.per_task, min_seconds=args.min_seconds,
                      trained_only=args.trained_only, jobs=args.jobs, prefix_epochs=args.prefix_epochs)
        for line in moved:
            print(f"  PROBLEM {line}")
        problems += moved
    if problems:
        print(f"verify failed: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("verify passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
