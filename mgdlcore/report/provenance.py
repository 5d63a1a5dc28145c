"""One-line provenance of a set of records for table and figure captions: profile, device, seeds, commits."""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments.records import Record


def _commit(rec: Record) -> str:
    p = rec.provenance
    return (p.get("commit") or "unknown")[:7] + ("+dirty" if p.get("dirty") else "")


def provenance_caption(records: Sequence[Record]) -> str:
    """``profile cpu · device cpu · seeds 0, 1, 2 · commits 1a2b3c4`` for the records shown (sorted, unique)."""
    if not records:
        return "no records"
    profiles = sorted({r.profile for r in records})
    devices = sorted({r.provenance.get("device", "?") for r in records})
    seeds = sorted({r.config.get("seed") for r in records if r.config.get("seed") is not None})
    commits = sorted({_commit(r) for r in records})
    return (f"profile {', '.join(profiles)} · device {', '.join(devices)} · seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))} · commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}")
