"""The paper's quantitative claims (Secs. 4-7) as data, with verdicts computed from records.

``CLAIMS`` lists every claim; ``claim(id)`` finds one; ``Claim.evaluate(results_dir, profile)`` gives a
:class:`Verdict`; :func:`render_markdown` renders the claims with verdicts for the book.
"""

from __future__ import annotations

from .base import INDICATIONS, PAPER_PROFILE, VERDICTS, Claim, Finding, Query, Undecided, Verdict, subject_of
from .eigen import eigen_claims, msdl_claims, msdl_conjecture_claims
from .learning_rate import learning_rate_claims
from .render import render_claims, render_markdown, render_readings, select, summary, verdicts
from .tables import table_claims

CLAIMS: list[Claim] = (table_claims() + learning_rate_claims() + eigen_claims() + msdl_claims()
                       + msdl_conjecture_claims())
_BY_ID = {c.id: c for c in CLAIMS}
if len(_BY_ID) != len(CLAIMS):
    raise RuntimeError("duplicate claim ids")


def claim(claim_id: str) -> Claim:
    """The claim with this id; a one-line ValueError lists none if it is unknown."""
    if claim_id not in _BY_ID:
        raise ValueError(f"unknown claim {claim_id!r}; see mgdlcore.paper.claims.CLAIMS for the ids")
    return _BY_ID[claim_id]


__all__ = ["CLAIMS", "INDICATIONS", "PAPER_PROFILE", "VERDICTS", "Claim", "Finding", "Query", "Undecided", "Verdict",
           "claim", "render_claims", "render_markdown", "render_readings", "select", "subject_of", "summary", "verdicts"]
