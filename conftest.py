"""Test-session defaults: notebooks run in the smoke profile, write to a temporary folder, and read the
paper's images from ../shared/data/images when that folder exists (CI places it there). The rerun-line tests
run first and write to the same temporary folder, so the nbval pass over chapters/ reuses their smoke runs.
``make test`` sets ``MGDL_PROFILE=paper`` and ``MGDL_TRAIN=never`` for its nbval pass instead (the rerun lines have
checked the smoke profile already): every page renders the paper profile from a copy of the committed records."""

import os
import tempfile
from pathlib import Path

_here = Path(__file__).resolve().parent
_shared = _here.parent / "shared" / "data" / "images"
if "MGDL_DATA_DIR" not in os.environ and _shared.is_dir():
    os.environ["MGDL_DATA_DIR"] = str(_shared)
os.environ.setdefault("MGDL_PROFILE", "smoke")
os.environ.setdefault("MGDL_RESULTS_DIR", tempfile.mkdtemp(prefix="mgdl-results-"))
os.environ.setdefault("MPLBACKEND", "Agg")
