"""The claims table as Markdown, for the book's claims page and for chapters."""

from __future__ import annotations

from pathlib import Path

from .base import PAPER_PROFILE, Claim, Verdict, load_pool


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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


def render_table(claims: list[Claim], results: list[Verdict]) -> str:
    """A Markdown table: id, section, the paper's statement, our evidence with provenance, the verdict."""
    rows = ["| claim | where | the paper's statement | our evidence | verdict |", "|---|---|---|---|---|"]
    for c, v in zip(claims, results):
        evidence = v.evidence or "—"
        if v.provenance:
            evidence += " (" + "; ".join(v.provenance) + ")"
        rows.append(f"| `{c.id}` | {_cell(c.section)} | {_cell(c.statement)} | {_cell(evidence)} | "
                    f"**{_cell(v.label)}** |")
    return "\n".join(rows)


def render_markdown(section: int | str | None = None, results_dir: str | Path | None = None,
                    profile: str = PAPER_PROFILE) -> str:
    """The claims of ``section`` (all when None) with their verdicts from the records of ``profile``.

    ``results_dir`` None -> ``mgdlcore.report.paths.default_results_dir(profile)``. A profile other than
    ``paper`` gives indications, labelled with the profile.
    """
    from ...report.paths import default_results_dir
    from . import CLAIMS

    chosen = select(CLAIMS, section)
    if not chosen:
        raise ValueError(f"no claim matches section {section!r}")
    results_dir = default_results_dir(profile) if results_dir is None else results_dir
    return render_table(chosen, verdicts(chosen, results_dir, profile))


def summary(results: list[Verdict]) -> dict[str, int]:
    """How many claims got each status."""
    out: dict[str, int] = {}
    for v in results:
        out[v.status] = out.get(v.status, 0) + 1
    return out
