"""Write ``approximation.json``: the smoke-profile values chapter 08 checks, from one smoke run of the current code.

Run once from the repository root (``python chapters/references/make_approximation.py``); the file is then fixed and
a later smoke run must land within the tolerance written into it.
"""

import json
import tempfile

import torch

from mgdlcore.report import approximation as report
from mgdlcore.report.paths import references_path

LOG10_TOLERANCE = 0.1     # decades, on the final sup and L2 residuals on the dense grid

if __name__ == "__main__":
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        main, study, pending = report.collect("smoke", device="cpu", results_dir=tmp)
        if pending:
            raise SystemExit(f"runs without a record: {pending}")
        values = report.check_values(main)
    out = {"smoke": {
        "note": f"smoke-profile values computed once (CPU, one thread, torch {torch.__version__}, seed 0) and fixed; "
                "log10 of the final sup and L2 residual on the dense grid (null: diverged)",
        "tolerance": LOG10_TOLERANCE,
        "values": {k: None if v is None else round(v, 4) for k, v in sorted(values.items())}}}
    references_path("approximation").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
