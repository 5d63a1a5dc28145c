"""``mgdl-campaign PROFILE``: run every config of a profile that has no current record, one line per finished run.

    mgdl-campaign cpu --only 'regression*' --results results
    mgdl-campaign paper --plan                  # list what is pending, run nothing
    mgdl-campaign cpu --workers 2               # two runs at a time on a Dask LocalCluster (one process each)
    mgdl-campaign paper --scheduler tcp://host:8786   # on an existing Dask cluster (e.g. from dask-jobqueue)

A config is skipped when its record is current (same key, same code path: see ``runner.find_record``). A failing
run is reported in one line (exception type and message) and the campaign goes on; the exit status is 1 when any
run failed. Records are written as each run finishes, so an interrupted campaign resumes where it stopped.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import sys
import time
from pathlib import Path

import torch

from .profiles import PROFILE_NAMES, all_configs
from .runner import find_record, run


def matches(config, patterns: list[str]) -> bool:
    """Whether ``config``'s label (``task subject method``) or its task matches one of the glob ``patterns``."""
    if not patterns:
        return True
    names = (config.long_label(), config.task, f"{config.task}/{config.subject()}/{config.method}")
    return any(fnmatch.fnmatch(n, p) for p in patterns for n in names)


def pending(profile: str, results_dir: Path, patterns: list[str], device: str = "auto"):
    """``(config, reason)`` for every config of ``profile`` matching ``patterns`` without a current record."""
    out = []
    for config in all_configs(profile, device=device):
        if matches(config, patterns):
            rec, why = find_record(config, results_dir, move_corrupt=False)
            if rec is None:
                out.append((config, why))
    return out


def cost_model(results_dir: Path) -> dict[tuple, float]:
    """Median recorded seconds per (task, method, profile) over the records in ``results_dir``: a rough estimate
    of a pending run's cost on the machine that made them (its thread count and load included)."""
    from statistics import median

    from .records import scan

    seconds: dict[tuple, list[float]] = {}
    for rec in scan(results_dir)[0]:
        seconds.setdefault((rec.config["task"], rec.config["method"], rec.profile), []).append(
            float(rec.provenance.get("seconds") or 0.0))
    return {k: median(v) for k, v in seconds.items()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgdl-campaign", description=__doc__.split("\n\n")[0])
    p.add_argument("profile", choices=PROFILE_NAMES)
    p.add_argument("--results", default=None, help="results folder (default: the profile's, see report.paths)")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="glob on 'task subject method' or the task, e.g. 'regression cameraman*' (repeatable)")
    p.add_argument("--plan", action="store_true", help="list the pending runs and exit")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch threads (>= 1)")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="tqdm progress of each run (auto: when stderr is a terminal)")
    p.add_argument("--budget-minutes", type=float, default=None, help="start no new run after this many minutes")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="run on a Dask LocalCluster of this many single-threaded worker processes")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster (scheduler address, e.g. tcp://host:8786)")
    return p


def run_on_worker(config_dict: dict, results: str, profile: str, threads: int | None) -> tuple[bool, float]:
    """One campaign run inside a Dask worker: ``(diverged, seconds)``."""
    from .runner import config_from_dict

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    rec = run(config_from_dict(config_dict), results_dir=results, profile=profile, progress=False)
    return rec.diverged, time.perf_counter() - t0


def run_distributed(todo: list, args, results: Path, costs: dict) -> list[str]:
    """Run ``todo`` on Dask workers, longest first, one run per worker at a time; the labels of failed runs."""
    from dask.distributed import Client, LocalCluster, as_completed

    todo = sorted(todo, key=lambda cw: -(costs.get((cw[0].task, cw[0].method, args.profile)) or 0.0))
    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    slots = max(1, len(client.scheduler_info()["workers"]))
    failed, start, queue, n = [], time.perf_counter(), list(todo), len(todo)
    labels = {}

    def submit_next():
        if not queue:
            return None
        if args.budget_minutes is not None and time.perf_counter() - start > 60 * args.budget_minutes:
            print(f"budget of {args.budget_minutes:g} min spent; {len(queue)} run(s) left", flush=True)
            queue.clear()
            return None
        config, _ = queue.pop(0)
        future = client.submit(run_on_worker, config.to_dict(), str(results), args.profile, args.threads or 1,
                               pure=False)
        labels[future.key] = config.long_label()
        return future

    try:
        running = as_completed([f for f in (submit_next() for _ in range(min(slots, n))) if f is not None])
        finished = 0
        for future in running:
            finished += 1
            label = labels[future.key]
            try:
                diverged, seconds = future.result()
                print(f"[{finished}/{n}] {label} {'diverged' if diverged else 'ok'} in {seconds:.1f} s", flush=True)
            except Exception as exc:  # one failing run must not stop the others
                failed.append(label)
                print(f"[{finished}/{n}] FAILED {label}: {type(exc).__name__}: {exc}", flush=True)
            nxt = submit_next()
            if nxt is not None:
                running.add(nxt)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..report.paths import resolve_results_dir

    if args.threads is not None:
        if args.threads < 1:
            print(f"mgdl-campaign: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    if args.workers is not None and args.workers < 1:
        print(f"mgdl-campaign: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    results = resolve_results_dir(args.results, args.profile)
    try:
        todo = pending(args.profile, results, args.only, args.device)
    except ValueError as exc:
        print(f"mgdl-campaign: {exc}", file=sys.stderr)
        return 2
    print(f"{len(todo)} pending run(s) of profile {args.profile!r} in {results}")
    if args.plan:
        costs = cost_model(results)
        total, unknown = 0.0, 0
        for config, why in todo:
            est = costs.get((config.task, config.method, args.profile))
            total += est or 0.0
            unknown += est is None
            print(f"  {config.long_label()}  [{why}]  ~{'?' if est is None else f'{est:.0f} s'}")
        print(f"estimated {total / 3600:.2f} h from the median time of recorded runs of the same task and method"
              + (f"; {unknown} run(s) without an estimate" if unknown else ""))
        return 0
    if args.workers is not None or args.scheduler is not None:
        failed = run_distributed(todo, args, results, cost_model(results))
        if failed:
            print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    # a progress bar (epoch, loss) on a terminal; logs of background campaigns get only the one line per run
    progress = {"auto": sys.stderr.isatty(), "on": True, "off": False}[args.progress]
    failed = []
    start = time.perf_counter()
    for i, (config, _) in enumerate(todo, 1):
        if args.budget_minutes is not None and time.perf_counter() - start > 60 * args.budget_minutes:
            print(f"budget of {args.budget_minutes:g} min spent; {len(todo) - i + 1} run(s) left")
            break
        t0 = time.perf_counter()
        try:
            rec = run(config, results_dir=results, profile=args.profile, progress=progress)
        except Exception as exc:  # one failing run must not stop the others
            failed.append(config.long_label())
            print(f"[{i}/{len(todo)}] FAILED {config.long_label()}: {type(exc).__name__}: {exc}", flush=True)
            continue
        state = "diverged" if rec.diverged else "ok"
        print(f"[{i}/{len(todo)}] {config.long_label()} {state} in {time.perf_counter() - t0:.1f} s", flush=True)
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
