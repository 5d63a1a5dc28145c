"""The status of the records behind the book: per profile and task, how many of the profile's configs have a
current record, which are pending and why, and what ``mgdl-results verify`` finds wrong (the reproducibility page)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..experiments.campaign import hours, pending, saved_progress
from ..experiments.profiles import all_configs
from ..experiments.runner import find_on_any_device
from ..experiments.verify import verify


def _reason_class(why: str) -> str:
    return "stale" if why.startswith("stale") else "corrupt" if why.startswith("corrupt") else "missing"


def record_status(results_dir: str | Path, profiles: tuple[str, ...] = ("cpu", "paper")) -> list[dict]:
    """One row per (profile, task): ``configs`` (as listed for this machine's device), ``current``, ``missing``,
    ``stale``, ``corrupt`` counts, ``elsewhere``: the missing ones that have a current record made on another
    device (a GPU's, read by the book all the same), and ``in_progress``: the pending runs that resume from
    checkpoints (here or parked), as ``(label, seconds, where, epochs saved, epochs in all)``."""
    rows = []
    for profile in profiles:
        total = Counter(c.task for c in all_configs(profile, device="auto"))
        todo = pending(profile, Path(results_dir), [], "auto")
        by_task: dict[str, Counter] = {}
        started: dict[str, list] = {}
        for config, why in todo:
            reason = _reason_class(why)
            if reason == "missing" and find_on_any_device([config], Path(results_dir), stale_elsewhere=True):
                reason = "elsewhere"
            by_task.setdefault(config.task, Counter())[reason] += 1
            if (found := saved_progress(Path(results_dir), [config])) is not None:
                started.setdefault(config.task, []).append((config.long_label(), *found))
        for task in sorted(total):
            reasons = by_task.get(task, Counter())
            rows.append({"profile": profile, "task": task, "configs": total[task],
                         "current": total[task] - sum(reasons.values()),
                         "missing": reasons["missing"], "elsewhere": reasons["elsewhere"],
                         "stale": reasons["stale"], "corrupt": reasons["corrupt"],
                         "in_progress": started.get(task, [])})
    return rows


def status_markdown(results_dir: str | Path, profiles: tuple[str, ...] = ("cpu", "paper")) -> str:
    """:func:`record_status` and the problems ``verify`` reports, as Markdown (a table and lists)."""
    rows = record_status(results_dir, profiles)
    head = ("| profile | task | configs | current records | on another device | missing | stale | corrupt | "
            "in progress |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    body = "".join(f"| {r['profile']} | {r['task']} | {r['configs']} | {r['current']} | {r['elsewhere']} | "
                   f"{r['missing']} | {r['stale']} | {r['corrupt']} | {len(r['in_progress'])} |\n" for r in rows)
    body += ("\nConfigs and current records are those of this machine's device; \"on another device\" counts the "
             "runs without one here that have a current record made on another (a GPU's), which the book reads "
             "all the same.\n")
    started = [(r["profile"], *run) for r in rows for run in r["in_progress"]]
    if started:
        body += ("\nIn progress (pending runs that resume from their checkpoints, committed under `results/.parked/` "
                 "so that a fresh clone resumes them; no number of the book is read from them):\n")
        body += "".join(f"\n- {profile}: {label}: {done:,} of {total:,} epochs, {hours(seconds)} of training saved "
                        f"({where})" for profile, label, seconds, where, done, total in started)
        body += "\n"
    valid, problems = verify(results_dir)
    tail = (f"\n`mgdl-results verify` on the committed records: {len(valid)} valid, {len(problems)} problem(s).\n")
    tail += "".join(f"\n- {line}" for line in problems)
    return head + body + tail
