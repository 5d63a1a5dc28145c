"""A claim of the paper as data: its statement, the records it needs, a predicate, and the verdict rules.

A verdict on the paper's claim (``confirmed``, ``refuted``, ``undecided``) comes only from ``paper``-profile
records. Records of any other profile (``cpu``, ``smoke``) give an *indication* (``holds``, ``fails``,
``undecided``) labelled with that profile, never a verdict on the paper's setting.

Records are grouped by seed; the predicate runs once per seed that has every record it needs. A claim is
confirmed (holds) when it holds in every decided seed, refuted (fails) when it fails in at least one; the
evidence says in how many seeds it holds. A predicate raises :class:`Undecided` when a record or a metric it
needs is missing, so a missing number never passes as a verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...experiments.config import config_key
from ...experiments.records import Record, scan

PAPER_PROFILE = "paper"
VERDICTS = ("confirmed", "refuted", "undecided")        # paper profile
INDICATIONS = ("holds", "fails", "undecided")           # any other profile


class Undecided(Exception):
    """Raised by a predicate when the records cannot decide the claim; the message is the reason."""


@dataclass(frozen=True)
class Finding:
    """What a predicate found for one seed: whether the statement holds, and the numbers behind it."""

    holds: bool
    evidence: str


def subject_of(config: Mapping) -> str | None:
    """The thing a record is about: ``"setting1"``/``"setting2"`` (eq. (5)), an image name, or ``"denoising"``.

    Reads ``case`` (eigenvalue records), ``setting``/``target`` (synthetic runs) or ``image``.
    """
    case = config.get("case")
    if isinstance(case, str) and case:
        m = re.fullmatch(r"(?:setting|synthetic)[_\- ]?([12])", case)
        if m:
            return f"setting{m.group(1)}"
        if case == "synthetic" and config.get("setting") in (1, 2):
            return f"setting{config['setting']}"
        if case == "image" and config.get("image"):
            return str(config["image"])
        if case == "image_full" and config.get("image"):
            return f"{config['image']}_full"
        return case
    setting = config.get("setting")
    if setting in (1, 2, "1", "2"):
        return f"setting{int(setting)}"
    target = config.get("target")
    if isinstance(target, str):
        m = re.fullmatch(r"(?:setting|synthetic)[_\- ]?([12])", target)
        if m:
            return f"setting{m.group(1)}"
    if target in (1, 2):
        return f"setting{target}"
    image = config.get("image")
    return str(image) if image else None


@dataclass(frozen=True)
class Query:
    """Which records a claim needs: task(s), subject (see :func:`subject_of`), method and config filters.

    ``where``: config fields that must be equal. ``where_if_present``: fields that must be equal when the config
    has them (e.g. a learning rate of the paper's figure). ``needs``: metrics a record must carry to be used.
    """

    task: tuple[str, ...]
    subject: str | None = None
    method: str | None = None
    where: tuple[tuple[str, object], ...] = ()
    where_if_present: tuple[tuple[str, object], ...] = ()
    needs: tuple[str, ...] = ()
    listed: Callable[[Mapping, str], Mapping | None] | None = None

    def matches(self, config: Mapping, profile: str | None = None) -> bool:
        """Whether a record's config is one this query needs; with ``profile`` and ``listed``, also whether it is
        the very run ``profile`` lists for that replicate (``listed(config, profile)``: that run's config as a dict,
        or None), so that a run at another size or epoch count never stands for a table cell."""
        if config.get("task") not in self.task:
            return False
        if self.method is not None and config.get("method") != self.method:
            return False
        if self.subject is not None and subject_of(config) != self.subject:
            return False
        if any(not _equal(config.get(k), v) for k, v in self.where):
            return False
        if not all(k not in config or config[k] is None or _equal(config[k], v) for k, v in self.where_if_present):
            return False
        return profile is None or self.listed is None or _is_listed(self.listed, config, profile)

    def describe(self) -> str:
        parts = ["/".join(self.task)]
        if self.subject:
            parts.append(self.subject)
        if self.method:
            parts.append(self.method)
        parts += [f"{k}={v}" for k, v in self.where + self.where_if_present]
        return " ".join(parts)


def _is_listed(listed: Callable[[Mapping, str], Mapping | None], config: Mapping, profile: str) -> bool:
    own = listed(config, profile)
    return own is not None and config_key(dict(own)) == config_key(dict(config))


def _equal(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list):
        a = tuple(a)
    return a == b


@dataclass(frozen=True)
class Verdict:
    """The outcome of a claim for one profile.

    ``status``: ``confirmed | refuted | undecided`` for the paper profile; ``holds | fails | undecided`` (an
    indication) for any other. ``reason`` says why a claim is undecided; ``evidence`` gives the numbers;
    ``keys`` are the record keys used; ``provenance`` one line (profile, device, seed, commit) per record group.
    """

    claim_id: str
    profile: str
    status: str
    reason: str = ""
    evidence: str = ""
    keys: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()

    @property
    def is_indication(self) -> bool:
        return self.profile != PAPER_PROFILE

    @property
    def label(self) -> str:
        if self.status == "undecided":
            return f"undecided ({self.reason})"
        if self.is_indication:
            return f"indication ({self.profile} profile): {self.status}"
        return self.status


Predicate = Callable[[Mapping[str, list[Record]]], Finding]


@dataclass(frozen=True)
class Claim:
    """One quantitative statement of the paper.

    ``id``: stable identifier; ``section``: e.g. ``"Sec. 5, Figure 1"``; ``statement``: the paper's words (quoted
    or closely paraphrased); ``reading``: how the statement is turned into a test on records (our choices);
    ``queries``: the records it needs, by name; ``predicate``: a function of ``{name: [records of one seed]}``;
    ``optional``: names of queries that may find nothing (the predicate gets an empty list and decides what that
    means: an "at least one of" claim can be confirmed by one alternative before the others are run). ``parts``:
    the ids of the claims whose conjunction it is, if any (its records are theirs).
    """

    id: str
    section: str
    statement: str
    queries: Mapping[str, Query]
    predicate: Predicate
    reading: str = ""
    values: tuple[str, ...] = field(default=())  # names in mgdlcore.paper.values the claim uses
    optional: tuple[str, ...] = field(default=())
    parts: tuple[str, ...] = field(default=())  # ids of the claims it is the conjunction of (e.g. T1.all)

    @property
    def sec(self) -> int:
        m = re.search(r"Sec\. (\d+)", self.section)
        return int(m.group(1)) if m else 0

    def needs_text(self) -> str:
        return "; ".join(f"{name}: {q.describe()}" for name, q in self.queries.items())

    def evaluate(self, results_dir: str | Path | None = None, profile: str = PAPER_PROFILE, *,
                 records: Iterable[Record | Mapping] | None = None) -> Verdict:
        """The verdict (paper profile) or indication (other profiles) from the records of ``profile``.

        ``records`` may be given instead of ``results_dir`` (Record objects or dicts shaped like ``Record.data``).
        """
        if not isinstance(profile, str) or not profile:
            raise ValueError(f"profile must be a non-empty string, got {profile!r}")
        pool = load_pool(results_dir) if records is None else [as_record(r) for r in records]
        pool = [r for r in pool if r.profile == profile]
        selection = {name: [r for r in pool if q.matches(r.config, profile)] for name, q in self.queries.items()}
        missing = [name for name, recs in selection.items() if not recs and name not in self.optional]
        if missing:
            what = "; ".join(self.queries[n].describe() for n in missing)
            return Verdict(self.id, profile, "undecided", reason=f"no {profile}-profile record of {what}")
        for name, q in self.queries.items():
            usable = [r for r in selection[name] if all(metric_value(r, m) is not None or
                                                         (m != "diverged" and r.diverged) for m in q.needs)]
            if not usable and name not in self.optional:
                return Verdict(self.id, profile, "undecided",
                               reason=f"{profile}-profile records of {q.describe()} lack {', '.join(q.needs)}")
            selection[name] = usable
        return self._decide(selection, profile)

    def _decide(self, selection: Mapping[str, list[Record]], profile: str) -> Verdict:
        seeds = sorted({_seed(r) for recs in selection.values() for r in recs}, key=str)
        decided: list[tuple[object, Finding, list[Record]]] = []
        reasons = []
        for seed in seeds:
            sub = {n: [r for r in recs if _seed(r) == seed] for n, recs in selection.items()}
            lacking = [n for n, recs in sub.items() if not recs and n not in self.optional]
            if lacking:
                reasons.append(f"seed {seed}: no record of {', '.join(lacking)}")
                continue
            try:
                decided.append((seed, self.predicate(sub), [r for recs in sub.values() for r in recs]))
            except Undecided as exc:
                reasons.append(f"seed {seed}: {exc}")
        if not decided:
            return Verdict(self.id, profile, "undecided", reason="; ".join(reasons) or "no complete seed")
        held = sum(f.holds for _, f, _ in decided)
        ok = held == len(decided)
        names = ("confirmed", "refuted") if profile == PAPER_PROFILE else ("holds", "fails")
        parts = [f"seed {s}: {f.evidence}" if len(decided) > 1 or reasons else f.evidence for s, f, _ in decided]
        if len(decided) > 1:
            parts.insert(0, f"holds in {held} of {len(decided)} seeds")
        if reasons:
            parts.append("not decided: " + "; ".join(reasons))
        used = [r for _, _, recs in decided for r in recs]
        keys = tuple(dict.fromkeys(r.key for r in used))
        prov = tuple(dict.fromkeys(_provenance(r) for r in used))
        return Verdict(self.id, profile, names[0] if ok else names[1], evidence="; ".join(parts), keys=keys,
                       provenance=prov)


REPLICATE_FIELDS = ("seed", "phase_seed", "phases", "noise_seed")


def _seed(record: Record):
    """The replicate a record belongs to: its seed, where the config has them the data's random draws, and the
    device type when it is not the CPU (float32 on a GPU is another rounding path: its runs are not paired with the
    CPU's)."""
    c = record.config
    extra = [f"{k} {tuple(c[k]) if isinstance(c[k], list) else c[k]}" for k in REPLICATE_FIELDS[1:]
             if c.get(k) is not None and not (k in ("phase_seed", "noise_seed") and c[k] == 0)]
    if c.get("device") not in (None, "cpu"):       # a GPU run of a seed is a replicate of its own, never mixed
        extra.append(f"on {c['device']}")
    return ", ".join([str(c.get("seed"))] + extra)


def _provenance(record: Record) -> str:
    try:
        return record.provenance_text()
    except (KeyError, TypeError):
        return f"profile {record.profile}, seed {record.config.get('seed')}"


def as_record(obj: Record | Mapping) -> Record:
    """A :class:`~mgdlcore.experiments.records.Record` from a Record or a dict shaped like ``Record.data``."""
    if isinstance(obj, Record):
        return obj
    if isinstance(obj, Mapping) and {"config", "metrics", "profile"} <= set(obj):
        data = {"key": obj.get("key", ""), "provenance": obj.get("provenance", {}), **obj}
        return Record(dict(data))
    raise ValueError(f"expected a Record or a dict with config, metrics and profile, got {type(obj).__name__}")


def load_pool(results_dir: str | Path | None) -> list[Record]:
    """Every readable record under ``results_dir`` (files in an older layout are left out: they are no records)."""
    if results_dir is None:
        raise ValueError("give results_dir or records")
    records, _problems = scan(results_dir)
    return records


# ----------------------------------------------------------------------------------------------------------------
# helpers for predicates
# ----------------------------------------------------------------------------------------------------------------

# names the experiment kinds use for the same quantity (eigenvalues kind / gd_dynamics kind)
ALIASES = {
    "eig_min": ("eig_min", "min_eig"),
    "frac_increases": ("frac_increases", "oscillation_frac_increases"),
    "frac_below_minus1": ("frac_below_minus1", "frac_checks_le_minus1"),
    "final_train_loss": ("final_train_loss",),
}


def metric_value(record: Record, name: str):
    """The value of metric ``name`` under any of its aliases, or a derived one; None when absent."""
    m = record.metrics
    for alias in ALIASES.get(name, (name,)):
        value = m.get(alias)
        if value is not None:
            return value
    if name == "frac_below_minus1" and m.get("evals_with_le_minus1") is not None and m.get("n_evals"):
        return m["evals_with_le_minus1"] / m["n_evals"]
    return None


def metric(record: Record, name: str) -> float:
    """A finite metric of ``record``; raises :class:`Undecided` when it is missing or not a number."""
    value = metric_value(record, name)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Undecided(f"record {record.key[:10]} has no metric {name}")
    return float(value)


def final_loss(record: Record, name: str) -> float:
    """A final loss of ``record``; +inf for a diverged run (it ends with no prediction, NaN in the paper's figures)."""
    if record.diverged:
        return math.inf
    value = metric(record, name)
    return value if math.isfinite(value) else math.inf


def grade_tracks(record: Record) -> list[list[tuple[int, float]]]:
    """(epoch, smallest eigenvalue of I - eta H) at each check, per model / grade of an eigenvalue-tracked record.

    Reads ``series["grades"]`` as the eigenvalues kind writes it (``epochs``, ``smallest``) or as the gd_dynamics
    kind does (``eig_epochs``, ``eig_min``: rows of the k smallest), or flat ``eigen_epochs`` / ``eig_min`` (one
    track). Grades without a track are left out.
    """
    grades = record.series.get("grades")
    tracks = []
    if isinstance(grades, list) and grades and isinstance(grades[0], dict):
        for g in grades:
            for ek, vk in (("epochs", "smallest"), ("eig_epochs", "eig_min")):
                if g.get(ek) and g.get(vk):
                    tracks.append(list(zip(g[ek], g[vk])))
                    break
    elif record.series.get("eigen_epochs") and record.series.get("eig_min"):
        tracks.append(list(zip(record.series["eigen_epochs"], record.series["eig_min"])))
    out = []
    for pairs in tracks:
        track = []
        for e, v in pairs:
            v = min((x for x in v if x is not None), default=None) if isinstance(v, list) else v
            if v is not None:
                track.append((int(e), float(v)))
        if track:
            out.append(track)
    return out


def min_track(record: Record) -> list[tuple[int, float]]:
    """:func:`grade_tracks` of the first model / grade; :class:`Undecided` when the record has none."""
    tracks = grade_tracks(record)
    if not tracks:
        raise Undecided(f"record {record.key[:10]} has no eigenvalue track")
    return tracks[0]


def min_after_first_check(record: Record) -> float | None:
    """The smallest eigenvalue of I - eta H over every check but each model's / grade's first (taken before its
    first step; the authors' eigenvalue figures leave it out); None without such checks."""
    return min((v for track in grade_tracks(record) for _, v in track[1:]), default=None)


def one(records: list[Record], what: str) -> Record:
    """The one record of a query for a seed (the newest if several exist)."""
    if not records:
        raise Undecided(f"no record of {what}")
    return max(records, key=lambda r: str(r.provenance.get("created", "")))


def by_config(records: list[Record], name: str) -> dict:
    """Records keyed by one config field (the newest record per value)."""
    out: dict = {}
    for r in sorted(records, key=lambda r: str(r.provenance.get("created", ""))):
        value = r.config.get(name)
        if value is not None:
            out[value] = r
    return out


def fmt(x: float) -> str:
    return f"{x:.4g}"
