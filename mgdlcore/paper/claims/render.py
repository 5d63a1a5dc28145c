"""The claims with their verdicts as Markdown, for the book's claims page and for chapters."""

from __future__ import annotations

from pathlib import Path

from .base import PAPER_PROFILE, Claim, Verdict, load_pool


def _text(text: str) -> str:
    """Plain text for Markdown: no raw HTML (``<image>`` is a placeholder, not a tag), one line."""
    return str(text).replace("<", "\\<").replace("\n", " ")


def select(claims: list[Claim], section: int | str | None) -> list[Claim]:
    """Claims of a section: ``5`` or ``"5"`` (Sec. 5), ``"Table 2"``, or a claim-id prefix such as ``"S6."``."""
    if section is None:
        return list(claims)
    if isinstance(section, int) or (isinstance(section, str) and section.isdigit()):
        return [c for c in claims if c.sec == int(section)]
    if not isinstance(section, str):
        raise ValueError(f"section must be a number, a section text or a claim-id prefix, got {section!r}")
    return [c for c in claims if section in c.section or c.id.startswith(section)]


def verdicts(claims: list[Claim], results_dir: str | Path, profile: str = PAPER_PROFILE) -> list[Verdict]:
    """Every claim's verdict (paper profile) or indication (other profiles), reading the records once."""
    pool = load_pool(results_dir)
    return [c.evaluate(profile=profile, records=pool) for c in claims]


def _evidence(v: Verdict) -> str:
    text = v.evidence or "—"
    if v.provenance:
        text += " (" + "; ".join(v.provenance) + ")"
    return text


def render_claims(claims: list[Claim], results: list[Verdict], indications: list[Verdict] | None = None) -> str:
    """Markdown, one block per claim: id, section, verdict (and another profile's indication), the paper's
    statement, and the evidence with its provenance (a list reads better than a seven-column table)."""
    blocks = []
    for i, (c, v) in enumerate(zip(claims, results)):
        head = f"**`{c.id}`** · {_text(c.section)} · verdict **{_text(v.label)}**"
        lines = [f"- *Our evidence:* {_text(_evidence(v))}"]
        if indications is not None:
            w = indications[i]
            head += f" · {_text(w.label)}"
            lines.append(f"- *{w.profile}-profile evidence:* {_text(_evidence(w))}")
        blocks.append(f"{head}\n\n> {_text(c.statement)}\n\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def render_markdown(section: int | str | None = None, results_dir: str | Path | None = None,
                    profile: str = PAPER_PROFILE, *, indication_profile: str | None = None,
                    indication_results_dir: str | Path | None = None) -> str:
    """The claims of ``section`` (all when None) with their verdicts from the records of ``profile``.

    ``results_dir`` None -> ``mgdlcore.report.paths.default_results_dir(profile)``. A profile other than
    ``paper`` gives indications, labelled with the profile. ``indication_profile`` adds that profile's
    indications beside each verdict (its records from ``indication_results_dir``, default as above).
    """
    from ...report.paths import default_results_dir
    from . import CLAIMS

    chosen = select(CLAIMS, section)
    if not chosen:
        raise ValueError(f"no claim matches section {section!r}")
    results_dir = default_results_dir(profile) if results_dir is None else results_dir
    extra = None
    if indication_profile is not None:
        other = default_results_dir(indication_profile) if indication_results_dir is None else indication_results_dir
        extra = verdicts(chosen, other, indication_profile)
    return render_claims(chosen, verdicts(chosen, results_dir, profile), extra)


def summary(results: list[Verdict]) -> dict[str, int]:
    """How many claims got each status."""
    out: dict[str, int] = {}
    for v in results:
        out[v.status] = out.get(v.status, 0) + 1
    return out


def render_readings(claims: list[Claim]) -> str:
    """Markdown list: how each claim is read as a test on records, and which records it needs."""
    return "\n".join(f"- `{c.id}`: {_text(c.reading or 'as stated')}. Records: {_text(c.needs_text())}."
                     for c in claims)
