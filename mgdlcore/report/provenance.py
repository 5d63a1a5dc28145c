"""One-line provenance of a set of records for table and figure captions: profile, device, seeds, commits."""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments.records import Record


def _commit(rec: Record) -> str:
    p = rec.provenance
    return (p.get("commit") or "unknown")[:7] + ("+dirty" if p.get("dirty") else "")


def stale_note(records: Sequence[Record]) -> str:
    """A sentence for records shown although the code changed since they were made (made on a device this
    machine lacks, see ``find_on_any_device(stale_elsewhere=True)``); empty when every record is current."""
    from ..experiments.runner import staleness

    stale = [(r, staleness(r)) for r in records if r.provenance.get("code")]   # a record without one: no claim
    stale = [(r, why) for r, why in stale if why]
    if not stale:
        return ""
    devices = sorted({r.config.get("device", "?") for r, _ in stale})
    modules = sorted({m.strip() for _, why in stale for m in why.split(":", 1)[1].split(",")})
    return (f"{len(stale)} of these {len(records)} records were made by code that has changed since "
            f"({', '.join(modules)}) and wait for a rerun on {', '.join(devices)} "
            f"(`mgdl-results adopt --device {devices[0]}`) to show that the change leaves them as they are")


def provenance_caption(records: Sequence[Record]) -> str:
    """``profile cpu · device cpu · seeds 0, 1, 2 · commits 1a2b3c4`` for the records shown (sorted, unique)."""
    if not records:
        return "no records"
    profiles = sorted({r.profile for r in records})
    devices = sorted({r.provenance.get("device", "?") for r in records})
    seeds = sorted({r.config.get("seed") for r in records if r.config.get("seed") is not None})
    commits = sorted({_commit(r) for r in records})
    note = stale_note(records)
    return (f"profile {', '.join(profiles)} · device {', '.join(devices)} · seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))} · commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"
            + (f" · {note}" if note else ""))
