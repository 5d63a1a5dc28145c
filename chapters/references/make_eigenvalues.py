"""Write ``eigenvalues.json``: the smoke-profile values chapter 06 checks, from one smoke run of the current code.

Run once from the repository root (``python chapters/references/make_eigenvalues.py``); the file is then fixed and
a later smoke run must land within the tolerances written into it.
"""

import json
import tempfile

import torch

from mgdlcore.experiments import eigenvalues
from mgdlcore.report import eigen as report
from mgdlcore.report.paths import references_path

EIGENVALUE_TOLERANCE = 0.02     # absolute, on eigenvalues of I - eta H
LOG10_LOSS_TOLERANCE = 0.01     # absolute on log10 of the final training loss (2.3 % relative)

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        runs = eigenvalues.run_all(eigenvalues.configs("smoke", device="cpu"), results_dir=tmp, profile="smoke")
        pending = {k: v for k, v in runs.items() if isinstance(v, str)}
        if pending:
            raise SystemExit(f"runs without a record: {pending}")
        values = report.check_values(runs)
    out = {"smoke": {
        "note": f"smoke-profile values computed once (CPU, torch {torch.__version__}, seed 0) and fixed; a rerun must "
                "land within the tolerances",
        "eigenvalue_tolerance": EIGENVALUE_TOLERANCE, "log10_loss_tolerance": LOG10_LOSS_TOLERANCE,
        "eigenvalues": {k: round(v, 5) for k, v in sorted(values["eigenvalues"].items())},
        "log10_loss": {k: round(v, 5) for k, v in sorted(values["log10_loss"].items())}}}
    references_path("eigenvalues").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
