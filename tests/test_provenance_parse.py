"""provenance.parse_source: one thread at a time, and retried when CPython 3.11's AST constructor reports the
recursion-depth mismatch that a parse in another thread can cause (cpython gh-106905)."""

import ast
from types import SimpleNamespace

import pytest

from mgdlcore.experiments import provenance


MISMATCH = "AST constructor recursion depth mismatch (before=72, after=84)"


def test_a_parse_that_fails_with_the_mismatch_is_tried_again_and_other_errors_are_not(monkeypatch):
    calls = []

    def parser(failures: int, message: str = MISMATCH):
        """An ``ast.parse`` for provenance alone (pytest keeps the real one) that fails ``failures`` times."""
        calls.clear()

        def parse(source, *args, **kw):
            calls.append(source)
            if len(calls) <= failures:
                raise SystemError(message)
            return ast.parse(source, *args, **kw)
        monkeypatch.setattr(provenance, "ast", SimpleNamespace(parse=parse))

    parser(2)
    assert isinstance(provenance.parse_source("x = 1"), ast.Module) and len(calls) == 3
    parser(10**6)
    with pytest.raises(SystemError, match="mismatch"):
        provenance.parse_source("x = 1")
    assert len(calls) == provenance.PARSE_TRIES
    parser(10**6, "something else")
    with pytest.raises(SystemError, match="something else"):
        provenance.parse_source("x = 1")
    assert len(calls) == 1


def test_the_listings_parse_through_it(monkeypatch):
    """The listing of a module (experiments.listings) parses through parse_source, so it is retried too."""
    from mgdlcore.experiments import listings

    seen = []
    real = provenance.parse_source
    monkeypatch.setattr(provenance, "parse_source", lambda source: seen.append(source) or real(source))
    listings.listing_names({"m": "A = 1\ndef configs():\n    return A\n"}, lambda module, name: None)
    assert seen == ["A = 1\ndef configs():\n    return A\n"]
