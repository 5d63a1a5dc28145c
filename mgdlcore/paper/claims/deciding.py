"""What would decide the undecided claims: the pending runs each one reads, and what they would cost.

For every claim without a verdict in a profile: the runs of that profile that have no current record and that one
of the claim's queries reads, as the profile lists them (:meth:`~mgdlcore.paper.claims.base.Query.matches`), and
their time by the cost model of :mod:`mgdlcore.experiments.cost` (fitted to the committed records), with each
learning-rate sweep stacked as ``mgdl-campaign --batch`` trains it. The claims come in a greedy order: next is the
claim whose runs not counted yet give the most claims all their runs per second they add (itself and the others that
read no further run: three claims on one pair of runs come before one claim on a run that is a little cheaper), so
that a budget spent in this order decides the most claims (a run that several claims read is counted once, for the
first). These are estimates, not records.

``mgdl-campaign PROFILE --claim 'S6.*'`` runs (or, with ``--plan``, lists) only the runs of the claims it names;
``--plan --by-claim`` prints the order below, and ``--order claims`` runs in that order (:func:`run_order`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .base import Claim, Verdict


@dataclass(frozen=True)
class Step:
    """One undecided claim in the greedy order: its pending runs, the time they take alone, the time they add to the
    runs of the claims before it, and the time of all runs up to it (seconds on one device)."""

    claim: str
    reason: str
    runs: int
    new_runs: int
    seconds: float
    added: float
    cumulative: float
    new_keys: tuple[str, ...] = ()   # the keys of the runs first counted at this step


def runs_read(claim: Claim, configs: Iterable, profile: str) -> list:
    """The configs among ``configs`` that one of ``claim``'s queries reads, as ``profile`` lists them; for a claim
    that is the conjunction of others (``parts``), those that theirs read."""
    from . import claim as by_id

    queries = [q for part in claim.parts for q in by_id(part).queries.values()] if claim.parts \
        else list(claim.queries.values())
    return [c for c in configs if any(q.matches(c.to_dict(), profile) for q in queries)]


def undecided(claims: Sequence[Claim], verdicts: Mapping[str, Verdict], patterns: Sequence[str] = ()) -> list[Claim]:
    """The claims without a verdict whose id matches one of the glob ``patterns`` (all of them for none)."""
    return [c for c in claims if verdicts[c.id].status == "undecided"
            and (not patterns or any(fnmatch.fnmatchcase(c.id, p) for p in patterns))]


class Costs:
    """The time of any set of pending runs trained as ``--batch`` trains them: each learning-rate sweep
    (:func:`~mgdlcore.experiments.runner.batch_groups`) as one stacked model
    (:func:`~mgdlcore.experiments.cost.batch_seconds`), any other run alone. ``seconds``: each run alone, by key;
    ``members``: each run as a member of its stacked sweep (:func:`~mgdlcore.experiments.cost.member_seconds`;
    default: as alone), used where two or more runs of one sweep are trained together."""

    def __init__(self, todo: Sequence, seconds: Mapping[str, float], device: str,
                 members: Mapping[str, float] | None = None):
        from ...experiments.runner import batch_groups

        self.device = device
        self.group: dict[str, int] = {}
        self.alone: dict[str, float] = {}
        self.member: dict[str, float] = {}
        for i, group in enumerate(batch_groups(list(todo))):
            for c in group:
                self.group[c.key], self.alone[c.key] = i, float(seconds[c.key])
                self.member[c.key] = float((members or seconds)[c.key])

    def __call__(self, keys: Iterable[str]) -> float:
        from ...experiments.cost import batch_seconds

        groups: dict[int, list[str]] = {}
        for k in set(keys):
            groups.setdefault(self.group[k], []).append(k)
        return sum(batch_seconds([(self.member if len(v) > 1 else self.alone)[k] for k in v], self.device)
                   for v in groups.values())


def decision_order(claims: Sequence[Claim], verdicts: Mapping[str, Verdict], todo: Sequence, profile: str,
                   costs: Costs) -> tuple[list[Step], list[tuple[str, str]]]:
    """``(steps, [(claim, reason)] of the claims no pending run reads)`` over the undecided ``claims``: each step
    the claim whose runs among ``todo`` complete the most claims (itself included) per second they add to those of
    the steps before it, a claim that adds nothing first (ties: fewer runs, then the claims' order); the claims it
    completes follow it, each adding nothing."""
    needs = {c.id: {r.key for r in runs_read(c, todo, profile)} for c in claims}
    left = [c for c in claims if needs[c.id]]
    steps: list[Step] = []
    counted: set[str] = set()
    total = 0.0
    while left:
        added = {c.id: costs(counted | needs[c.id]) - total for c in left}
        completed = {c.id: sum(needs[d.id] <= counted | needs[c.id] for d in left) for c in left}
        per_second = {c.id: float("inf") if round(added[c.id], 3) <= 0 else completed[c.id] / added[c.id]
                      for c in left}
        best = min(left, key=lambda c: (-per_second[c.id], len(needs[c.id])))
        new = needs[best.id] - counted
        counted |= needs[best.id]
        total += added[best.id]
        steps.append(Step(best.id, verdicts[best.id].reason, len(needs[best.id]), len(new), costs(needs[best.id]),
                          added[best.id], total, tuple(sorted(new))))
        left.remove(best)
    return steps, [(c.id, verdicts[c.id].reason) for c in claims if not needs[c.id]]


def decision_markdown(steps: Sequence[Step], without: Sequence[tuple[str, str]], device: str) -> str:
    """The greedy order as a Markdown table, then the undecided claims that no pending run reads, with the reason."""
    from ...experiments.campaign import hours

    where = "one GPU" if device == "cuda" else "one CPU thread"
    lines = ["| # | claim | pending runs it reads (not read before) | their time alone | time it adds | time so far |",
             "|---|---|---|---|---|---|"]
    for i, s in enumerate(steps, 1):
        lines.append(f"| {i} | `{s.claim}` | {s.runs} ({s.new_runs}) | {hours(s.seconds)} | {hours(max(0.0, s.added))} | "
                     f"{hours(s.cumulative)} |")
    text = (f"Estimated on {where}, sweeps stacked:\n\n" + "\n".join(lines)) if steps else \
        "No undecided claim reads a pending run."
    if without:
        text += ("\n\nUndecided, and no pending run of the profile reads them (something other than a run is "
                 "missing):\n\n" + "\n".join(f"- `{claim}`: {reason}" for claim, reason in without))
    return text


def verdicts_of(claims: Sequence[Claim], profile: str, results_dir) -> dict[str, Verdict]:
    """``{claim id: verdict}`` from the records of ``profile`` in ``results_dir``."""
    from .render import verdicts

    return {v.claim_id: v for v in verdicts(list(claims), results_dir, profile)}


def runs_of(claims: Sequence[Claim], todo: Iterable, profile: str) -> list:
    """The configs among ``todo`` that one of ``claims`` reads (in the order of ``todo``)."""
    todo = list(todo)
    keys = {c.key for claim in claims for c in runs_read(claim, todo, profile)}
    return [c for c in todo if c.key in keys]


def run_order(steps: Sequence[Step], todo: Sequence) -> list:
    """``todo`` (configs) in the order of ``steps``: the runs first counted at step 1, then at step 2, ...; the runs
    that no undecided claim reads last, in their order in ``todo``."""
    rank = {k: i for i, s in enumerate(steps) for k in s.new_keys}
    return sorted(todo, key=lambda c: rank.get(c.key, len(steps)))
