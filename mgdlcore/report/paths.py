"""Where things are, independent of the working directory: the repository, results folders, chapter references.

Chapters run under papermill from the repository root or from ``chapters/``; every path they use comes from here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_ENV = "MGDL_RESULTS_DIR"
COMMITTED_PROFILES = ("cpu", "paper")     # profiles whose records the book shows, committed in results/


def repo_root() -> Path:
    return REPO_ROOT


def default_results_dir(profile: str) -> Path:
    """``$MGDL_RESULTS_DIR`` if set; else the committed ``results/`` for the cpu and paper profiles, and the
    git-ignored ``runs/<profile>/`` for anything else (a user's smoke run never mixes with the book's records)."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if profile in COMMITTED_PROFILES:
        return REPO_ROOT / "results"
    return REPO_ROOT / "runs" / profile


def resolve_results_dir(results_dir, profile: str) -> Path:
    """A chapter's ``results_dir`` parameter: None -> :func:`default_results_dir`; a relative path is taken from
    the repository root (not from the working directory)."""
    if results_dir in (None, ""):
        return default_results_dir(profile)
    path = Path(results_dir).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path)


def references_path(name: str) -> Path:
    """``chapters/references/<name>.json``."""
    return REPO_ROOT / "chapters" / "references" / f"{name}.json"


def load_references(name: str) -> dict:
    return json.loads(references_path(name).read_text())


def as_list(value, *, item=str) -> list:
    """A list parameter as papermill passes it: a list, a JSON list string, or a comma-separated string.

    ``item`` converts each element (e.g. ``float``); a bad element raises a one-line ValueError.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"could not read {value!r} as a JSON list") from None
        else:
            value = [v.strip() for v in text.split(",") if v.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return [item(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"could not read {value!r} as a list of {item.__name__}") from None
