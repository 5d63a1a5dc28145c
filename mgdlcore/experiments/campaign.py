"""``mgdl-campaign PROFILE``: run every config of a profile that has no current record, one line per finished run.

    mgdl-campaign cpu --only 'regression*' --results results
    mgdl-campaign paper --plan                  # list what is pending with its estimated time on CPU and GPU
    mgdl-campaign cpu --workers 2               # two runs at a time on a Dask LocalCluster (one process each)
    mgdl-campaign paper --scheduler tcp://host:8786   # on an existing Dask cluster (e.g. from dask-jobqueue)
    mgdl-campaign paper --device cuda --workers 1 --runs-per-worker 16   # 16 small runs at once on one GPU
    mgdl-campaign paper --batch --only 'learning_rate setting*'   # each learning-rate sweep as one stacked model

Pending runs go cheapest first (``--order``), by the cost model of :mod:`mgdlcore.experiments.cost`. A config is
skipped when its record is current (same key, same code path: see ``runner.find_record``). A failing
run is reported in one line (exception type and message) and the campaign goes on; the exit status is 1 when any
run failed. Records are written as each run finishes, so an interrupted campaign resumes where it stopped.
``--batch`` trains the configs that differ only in their learning rate together (``runner.batch_groups``; one
line per group), on a GPU at about the cost of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import importlib
import logging
import sys
import time
from pathlib import Path

import torch

from ..device import resolve_device
from .profiles import PROFILE_NAMES, all_configs
from .runner import batch_groups, find_record, kind_of, run, run_batch


def matches(config, patterns: list[str]) -> bool:
    """Whether ``config``'s label (``task subject method``) or its task matches one of the glob ``patterns``."""
    if not patterns:
        return True
    names = (config.long_label(), config.task, f"{config.task}/{config.subject()}/{config.method}")
    return any(fnmatch.fnmatch(n, p) for p in patterns for n in names)


def for_device(config, device: str):
    """``config`` as its kind's profiles list it for ``device``: the kind module's ``for_device`` where it has one
    (a run whose other settings depend on the device), else the same config on ``device``."""
    module = importlib.import_module(kind_of(config.task).module)
    twin = getattr(module, "for_device", None)
    return twin(config, device) if twin is not None else dataclasses.replace(config, device=device)


def pending(profile: str, results_dir: Path, patterns: list[str], device: str = "auto", *, planned_for: str | None = None):
    """``(config, reason)`` for every config of ``profile`` matching ``patterns`` without a current record.

    ``planned_for="cuda"``: the configs a GPU would run (their records and parked checkpoints), listed on a machine
    that may lack one; only for planning, nothing is trained."""
    out = []
    configs = all_configs(profile, device="cpu" if planned_for else device)
    if planned_for:
        configs = [for_device(c, planned_for) for c in configs]
    for config in configs:
        if matches(config, patterns):
            rec, why = find_record(config, results_dir, move_corrupt=False)
            if rec is None:
                out.append((config, why))
    return out


def estimates(todo: list, results_dir: Path) -> tuple[dict, list[tuple[float, float, float]]]:
    """The cost models (see :mod:`mgdlcore.experiments.cost`) fitted to the records in ``results_dir``, and ``(cpu
    seconds, gpu seconds, gpu seconds as a member of a stacked sweep)`` for each pending ``(config, reason)``."""
    from . import cost
    from .records import scan

    from .runner import staleness

    # only records the current code made: a stale record's seconds were taken by older code
    models = cost.fit([r for r in scan(results_dir)[0] if staleness(r) is None])
    out = []
    for config, _ in todo:
        out.append((cost.seconds(models, "cpu", config), cost.seconds(models, "cuda", config),
                    cost.member_seconds(models, "cuda", config)))
    return models, out


def hours(seconds: float) -> str:
    """``"1.2 h"``, ``"3.4 min"`` or ``"56 s"``."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_folder(results_dir: Path, group: list) -> Path:
    """The checkpoint folder of a run (a one-config ``group``) or of a stacked group, as the current code names it
    (its parked copy has the same name under ``.parked/``)."""
    from .runner import batch_checkpoint_folder, checkpoint_folder, current_code

    return (checkpoint_folder(results_dir, group[0], current_code(group[0].task)) if len(group) == 1
            else batch_checkpoint_folder(results_dir, group))


def saved_progress(results_dir: Path, group: list) -> tuple[float, str, int, int] | None:
    """``(seconds of training saved, "checkpoint" or "parked", epochs saved, epochs in all)`` of a pending run (or
    stacked group: its epochs are not counted, 0 of 0) from its checkpoints here or parked; None without any."""
    from .cost import work
    from .parking import progress, saved

    config, folder = group[0], run_folder(results_dir, group)
    found = progress(folder)
    if found is None:
        return None
    if len(group) > 1:
        return (*found, 0, 0)
    return (*found, sum(int(p.get("done", 0)) for p in saved(folder)), work(config).epochs)


def _saved(results_dir: Path, group: list) -> str:
    """``; resumes after 1.0 h (parked)`` where the run (or stacked group) has checkpoints here or parked, and for a
    single run the epochs its checkpoints hold and the time left at the pace they were trained at."""
    from .parking import resumed

    found = saved_progress(results_dir, group)
    if found is None:
        return ""
    seconds, where, done, total = found
    text = f"; resumes after {hours(seconds)} ({where})"
    if 0 < done < total:
        since = resumed(run_folder(results_dir, group))
        text += f", {done:,} of {total:,} epochs: {time_left(seconds, done, total, since)}"
    return text


def time_left(seconds: float, done: int, total: int, since: tuple[float, int] | None) -> str:
    """What a run with ``done`` of ``total`` epochs saved after ``seconds`` has left: at the pace since it last
    resumed (``since``: seconds and epochs saved then) where that start resumed saved epochs and has saved more,
    then at the whole run's pace."""
    whole = hours(seconds * (total / done - 1))
    if since is None or not (0 < since[1] < done) or seconds <= since[0]:
        return f"~{whole} left at that pace"
    pace = (done - since[1]) / (seconds - since[0])
    return (f"~{hours((total - done) / pace)} left at the pace since it last resumed ({done - since[1]:,} epochs in "
            f"{hours(seconds - since[0])}), ~{whole} at the whole run's")


def print_plan(todo: list, results_dir: Path, batch: bool = False) -> None:
    """Every pending run with its estimated time on this project's CPU (one thread) and on one GPU (training and
    eigenvalue checks), per-task subtotals and the total. ``batch``: each learning-rate sweep that ``--batch`` trains
    as one stacked model is one line, estimated by :func:`~mgdlcore.experiments.cost.batch_seconds`."""
    from .cost import batch_seconds

    models, est = estimates(todo, results_dir)
    for device, m in models.items():
        print(f"# cost model {device}: {m.describe()}")
    by_key = {config.key: (why, e) for (config, why), e in zip(todo, est)}
    groups = batch_groups([c for c, _ in todo]) if batch else [[c] for c, _ in todo]
    tasks: dict[str, list[float]] = {}
    total = [0.0, 0.0]
    for group in groups:
        runs = [by_key[c.key][1] for c in group]
        cpu = batch_seconds([c for c, _, _ in runs], "cpu")
        gpu = batch_seconds([m if len(group) > 1 else g for _, g, m in runs], "cuda")
        label = group[0].long_label() if len(group) == 1 else f"{_group_label(group)}, trained together"
        print(f"  {label}  [{by_key[group[0].key][0]}{_saved(results_dir, group)}]  ~{hours(cpu)} cpu, "
              f"~{hours(gpu)} gpu")
        t = tasks.setdefault(group[0].task, [0, 0.0, 0.0])
        t[0] += len(group)
        t[1] += cpu
        t[2] += gpu
        total[0] += cpu
        total[1] += gpu
    for task, (n, cpu, gpu) in tasks.items():
        print(f"# {task}: {n} run(s), ~{hours(cpu)} cpu, ~{hours(gpu)} gpu")
    print(f"estimated total: ~{hours(total[0])} on this CPU (one job at a time, one thread), "
          f"~{hours(total[1])} on one GPU (jobs one after another{'; sweeps stacked' if batch else ''}; eigenvalue "
          "checks counted, loss evaluations not)")


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
    p.add_argument("--order", choices=("cheapest", "longest", "profile", "claims"), default=None,
                   help="order of the pending runs by estimated time (default: cheapest first, so a budget "
                        "finishes the most runs; longest first with --workers/--scheduler, so no long run "
                        "ends up last); profile: as the profile lists them; claims: first the runs that decide "
                        "the most undecided claims of the paper for the time (see --by-claim), then the others")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="run on a Dask LocalCluster of this many single-threaded worker processes")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster (scheduler address, e.g. tcp://host:8786)")
    p.add_argument("--runs-per-worker", type=int, default=1, metavar="K",
                   help="with --workers: runs at a time in each worker process, one thread each (on a GPU each "
                        "run has its own CUDA stream, so small runs overlap on one card)")
    p.add_argument("--batch", action="store_true",
                   help="train the runs that differ only in their learning rate as one stacked model (one job)")
    p.add_argument("--claim", action="append", default=[], metavar="PATTERN",
                   help="only the runs that undecided claims of the paper read, by glob on the claim's id, e.g. "
                        "'S6.*' or 'S7.setting1.conjecture' (repeatable; mgdlcore.paper.claims.deciding)")
    p.add_argument("--by-claim", action="store_true",
                   help="with --plan: the undecided claims in the order that decides the most for the time, each "
                        "with its pending runs and their estimated time")
    return p


def run_group(configs: list, results: str | Path, profile: str, progress: bool = False) -> tuple[int, float]:
    """A group of :func:`~mgdlcore.experiments.runner.batch_groups` trained at once: ``(diverged, seconds)``."""
    t0 = time.perf_counter()
    with own_stream(configs[0].device):
        recs = run_batch(configs, results_dir=results, profile=profile, progress=progress)
    return sum(r.diverged for r in recs), time.perf_counter() - t0


def group_on_worker(config_dicts: list[dict], results: str, profile: str, threads: int | None) -> tuple[int, float]:
    """:func:`run_group` inside a Dask worker."""
    from .runner import config_from_dict

    if threads:
        torch.set_num_threads(threads)
    return run_group([config_from_dict(d) for d in config_dicts], results, profile)


def run_on_worker(config_dict: dict, results: str, profile: str, threads: int | None) -> tuple[bool, float]:
    """One campaign run inside a Dask worker: ``(diverged, seconds)``."""
    from .runner import config_from_dict

    if threads:
        torch.set_num_threads(threads)
    config = config_from_dict(config_dict)
    t0 = time.perf_counter()
    with own_stream(config.device):
        rec = run(config, results_dir=results, profile=profile, progress=False)
    return rec.diverged, time.perf_counter() - t0


def own_stream(device: str):
    """A new CUDA stream as the current one for a run on a GPU (runs in threads then overlap), else nothing."""
    dev = resolve_device(device)
    if dev.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.stream(torch.cuda.Stream(dev))


def _group_label(group: list) -> str:
    c = group[0]
    rates = ", ".join(f"{g.learning_rate:g}" for g in group) if hasattr(c, "learning_rate") else ""
    return f"{c.long_label()} and {len(group) - 1} more" + (f" (learning rates {rates})" if rates else "")


def run_distributed(todo: list, args, results: Path) -> list[str]:
    """Run ``todo`` on Dask workers in the given order, one run per worker at a time; the labels of failed runs."""
    from dask.distributed import Client, LocalCluster, as_completed

    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.runs_per_worker, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    slots = max(1, sum(client.nthreads().values()))
    failed, start, queue, n = [], time.perf_counter(), list(todo), len(todo)
    labels = {}

    def submit_next():
        if not queue:
            return None
        if args.budget_minutes is not None and time.perf_counter() - start > 60 * args.budget_minutes:
            print(f"budget of {args.budget_minutes:g} min spent; {len(queue)} run(s) left", flush=True)
            queue.clear()
            return None
        item = queue.pop(0)
        if args.batch:
            future = client.submit(group_on_worker, [c.to_dict() for c in item], str(results), args.profile,
                                   args.threads or 1, pure=False)
            labels[future.key] = _group_label(item)
            return future
        config, _ = item
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
                state = f"{int(diverged)} diverged" if args.batch else ("diverged" if diverged else "ok")
                print(f"[{finished}/{n}] {label} {state} in {seconds:.1f} s", flush=True)
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


def by_claims(todo: list, args, results: Path, planned_for: str | None) -> list | None:
    """``--claim``: the pending runs that the undecided claims matching the patterns read. ``--plan --by-claim``:
    prints those claims in the order that decides the most for the time (:mod:`mgdlcore.paper.claims.deciding`)
    and returns None. ``--order claims``: the runs in that order (the others after them)."""
    from ..paper.claims import CLAIMS, deciding

    verdicts = deciding.verdicts_of(CLAIMS, args.profile, results)
    wanted = deciding.undecided(CLAIMS, verdicts, args.claim)
    configs = deciding.runs_of(wanted, [c for c, _ in todo], args.profile) if args.claim else [c for c, _ in todo]
    keep = {c.key for c in configs}
    todo = [(c, why) for c, why in todo if c.key in keep]
    if args.claim:
        print(f"{len(todo)} of them read by {len(wanted)} undecided claim(s) matching {', '.join(args.claim)}")
    if not (args.plan and args.by_claim) and args.order != "claims":
        return todo
    device = "cuda" if planned_for or any(c.device == "cuda" for c in configs) else "cpu"
    steps, without = _decision_order(todo, wanted, verdicts, args.profile, results, device)
    if args.plan and args.by_claim:
        print(deciding.decision_markdown(steps, without, device))
        return None
    why = dict((c.key, w) for c, w in todo)
    return [(c, why[c.key]) for c in deciding.run_order(steps, configs)]


def _decision_order(todo: list, wanted: list, verdicts: dict, profile: str, results: Path, device: str):
    """The greedy order of the ``wanted`` claims over the pending ``todo``, priced on ``device`` by the cost model."""
    from ..paper.claims import deciding

    configs = [c for c, _ in todo]
    _, est = estimates(todo, results)
    seconds = {c.key: e[device == "cuda"] for c, e in zip(configs, est)}
    members = {c.key: e[2] if device == "cuda" else e[0] for c, e in zip(configs, est)}
    return deciding.decision_order(wanted, verdicts, configs, profile,
                                   deciding.Costs(configs, seconds, device, members))


def decision_plan(profile: str, results: str | Path, device: str = "cuda") -> tuple[list, list]:
    """What would decide each undecided claim of ``profile``: ``(steps, without)`` of
    :func:`mgdlcore.paper.claims.deciding.decision_order`, priced on ``device`` (a GPU's runs are planned on a
    machine without one), as ``mgdl-campaign PROFILE --plan --by-claim --device DEVICE`` prints them. Reads the
    records and the profile's listing, never an image (the cost model knows the images' sizes)."""
    from ..paper.claims import CLAIMS, deciding

    results = Path(results)
    planned_for = "cuda" if device == "cuda" and not torch.cuda.is_available() else None
    todo = pending(profile, results, [], device, planned_for=planned_for)
    verdicts = deciding.verdicts_of(CLAIMS, profile, results)
    return _decision_order(todo, deciding.undecided(CLAIMS, verdicts), verdicts, profile, results, device)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..report.paths import resolve_results_dir

    if args.threads is not None:
        if args.threads < 1:
            print(f"mgdl-campaign: --threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    if args.order is None:
        args.order = "longest" if (args.workers is not None or args.scheduler is not None) else "cheapest"
    if args.workers is not None and args.workers < 1:
        print(f"mgdl-campaign: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.runs_per_worker < 1 or (args.runs_per_worker > 1 and args.workers is None):
        print(f"mgdl-campaign: --runs-per-worker must be >= 1 and needs --workers, got {args.runs_per_worker}",
              file=sys.stderr)
        return 2
    results = resolve_results_dir(args.results, args.profile)
    # --plan --device cuda on a machine without a GPU: plan what a GPU would run (its records, its parked runs)
    planned_for = ("cuda" if args.plan and str(args.device).lower().startswith("cuda") and not torch.cuda.is_available()
                   else None)
    try:
        todo = pending(args.profile, results, args.only, args.device, planned_for=planned_for)
    except ValueError as exc:
        print(f"mgdl-campaign: {exc}", file=sys.stderr)
        return 2
    print(f"{len(todo)} pending run(s) of profile {args.profile!r} in {results}"
          + (" for a CUDA GPU (planned on a machine without one)" if planned_for else ""))
    if args.claim or args.by_claim or args.order == "claims":
        todo = by_claims(todo, args, results, planned_for)
        if todo is None:
            return 0
    if args.plan:
        print_plan(todo, results, batch=args.batch)
        return 0
    if args.order not in ("profile", "claims") and todo:
        device = "cuda" if any(c.device == "cuda" for c, _ in todo) else "cpu"
        seconds = dict(zip((c.key for c, _ in todo), (e[device == "cuda"] for e in estimates(todo, results)[1])))
        todo.sort(key=lambda cw: seconds[cw[0].key], reverse=args.order == "longest")
    if args.batch:
        todo = batch_groups([c for c, _ in todo])
        print(f"{len(todo)} group(s) trained together (--batch)")
    if args.workers is not None or args.scheduler is not None:
        failed = run_distributed(todo, args, results)
        if failed:
            print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    # a progress bar (epoch, loss) on a terminal; logs of background campaigns get only the one line per run
    progress = {"auto": sys.stderr.isatty(), "on": True, "off": False}[args.progress]
    failed = []
    start = time.perf_counter()
    for i, item in enumerate(todo, 1):
        if args.budget_minutes is not None and time.perf_counter() - start > 60 * args.budget_minutes:
            print(f"budget of {args.budget_minutes:g} min spent; {len(todo) - i + 1} run(s) left")
            break
        if args.batch:
            try:
                diverged, seconds = run_group(item, results, args.profile, progress)
            except Exception as exc:  # one failing group must not stop the others
                failed.append(_group_label(item))
                print(f"[{i}/{len(todo)}] FAILED {_group_label(item)}: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(f"[{i}/{len(todo)}] {_group_label(item)}: {diverged} diverged, in {seconds:.1f} s", flush=True)
            continue
        config, _ = item
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
