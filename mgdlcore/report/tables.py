"""Tables and checks built from result records, for the book's chapters."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..data.images import REGISTRY, ImageError
from ..paper.values import TABLE1
from ..experiments.regression import METHODS, RegressionRun, run_regression


def run_regression_table(images: Sequence[str], profile: str, *, device: str = "auto", seed: int = 0,
                         results_dir=None, methods: Sequence[str] = METHODS, progress: bool = True
                         ) -> tuple[dict[str, dict[str, RegressionRun]], dict[str, str]]:
    """Run (or reuse) every method on every image; images that cannot be loaded are returned as ``missing``."""
    runs: dict[str, dict[str, RegressionRun]] = {}
    missing: dict[str, str] = {}
    for image in images:
        try:
            for method in methods:
                runs.setdefault(image, {})[method] = run_regression(image, method, profile, device=device, seed=seed,
                                                                    results_dir=results_dir, progress=progress)
        except ImageError as err:
            missing[image] = str(err)
            runs.pop(image, None)
    return runs, missing


def short_commit(commit: str) -> str:
    """``abcdef1234+dirty`` from a full commit string (the dirty flag is kept)."""
    sha, _, rest = str(commit).partition("+")
    return sha[:10] + (f"+{rest}" if rest else "")


def _fmt(x, nd=2) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def regression_markdown_table(runs: dict[str, dict[str, RegressionRun]]) -> str:
    """Table 1 with our TrPSNR/TePSNR beside the paper's, and the interpolation references (test PSNR)."""
    head = ("| Image | Method | TrPSNR (ours) | TePSNR (ours) | TrPSNR (paper) | TePSNR (paper) | "
            "profile, size, epochs | device | commit |\n|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for image, by_method in runs.items():
        for method, run in by_method.items():
            r = run.record
            paper = TABLE1.get(r["image"], {}).get(method, (None, None))
            size = "x".join(str(s) for s in r["image_shape"])
            train = "exact" if method in ("bilinear", "bicubic") else _fmt(r.get("psnr_train"))
            diverged = " (diverged)" if r.get("diverged") else ""
            rows.append(f"| {REGISTRY[image].paper_name if image in REGISTRY else r['image']} | {method}{diverged} | "
                        f"{train} | {_fmt(r.get('psnr_test'))} | {_fmt(paper[0])} | {_fmt(paper[1])} | "
                        f"{r['profile']}, {size}, {r['epochs']} | {r['device']} | {short_commit(r['commit'])} |")
    return "\n".join(rows)


def interpolation_at_paper_size_table(images: Sequence[str], *, results_dir=None) -> str:
    """The paper's Table 1 test PSNRs beside bilinear/bicubic interpolation of the same training grid at the
    paper's (native) image size. Interpolation needs no training, so this *is* the paper's setting."""
    rows = ["| Image | size | SGDL (paper) | MGDL (paper) | bilinear (ours) | bicubic (ours) | commit |",
            "|---|---|---|---|---|---|---|"]
    for image in images:
        try:
            lin = run_regression(image, "bilinear", "paper", results_dir=results_dir, progress=False).record
            cub = run_regression(image, "bicubic", "paper", results_dir=results_dir, progress=False).record
        except ImageError:
            continue
        paper = TABLE1.get(lin["image"], {})
        size = "x".join(str(s) for s in lin["image_shape"])
        name = REGISTRY[image].paper_name if image in REGISTRY else lin["image"]
        rows.append(f"| {name} | {size} | {_fmt(paper.get('SGDL', (None, None))[1])} | "
                    f"{_fmt(paper.get('MGDL', (None, None))[1])} | {_fmt(lin['psnr_test'])} | {_fmt(cub['psnr_test'])} | "
                    f"{short_commit(cub['commit'])} |")
    return "\n".join(rows)


def check_against_reference(values: dict[str, float], reference: dict[str, float], tolerance: float,
                            what: str = "PSNR") -> list[str]:
    """Names whose value is missing or further than ``tolerance`` from the reference; checks every reference key."""
    bad = []
    for key, ref in reference.items():
        got = values.get(key)
        if got is None or not math.isfinite(got) or abs(got - ref) > tolerance:
            bad.append(f"{key}: {what} {got} vs reference {ref} (tolerance {tolerance})")
    return bad


def regression_values(runs: dict[str, dict[str, RegressionRun]]) -> dict[str, float]:
    """Flat ``{"image/method/psnr_test": value}`` view of the runs (test and train PSNR of SGDL and MGDL)."""
    out = {}
    for by_method in runs.values():
        for method, run in by_method.items():
            fields = ("psnr_test",) if method in ("bilinear", "bicubic") else ("psnr_train", "psnr_test")
            for field in fields:  # interpolation reproduces the training pixels: its TrPSNR is round-off
                v = run.record.get(field)
                if v is not None:
                    out[f"{run.record['image']}/{method}/{field}"] = float(v)
    return out


def load_reference(path: str | Path, profile: str) -> tuple[dict[str, float], float] | None:
    """``(values, tolerance)`` for ``profile`` from a reference file, or None when it has none."""
    data = json.loads(Path(path).read_text())
    entry = data.get(profile)
    if entry is None:
        return None
    return entry["values"], float(entry["tolerance_db"])


def write_reference(path: str | Path, profile: str, values: dict[str, float], tolerance_db: float, note: str) -> None:
    """Set the reference of ``profile`` in a reference file (other profiles are kept)."""
    from ..experiments.records import write_json_atomic

    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[profile] = {"tolerance_db": tolerance_db, "note": note, "values": {k: round(v, 3) for k, v in values.items()}}
    write_json_atomic(path, data)


def paper_reference_table1(images: Iterable[str]) -> dict[str, float]:
    """The paper's Table 1 in the flat form of ``regression_values`` (SGDL and MGDL only)."""
    out = {}
    for image in images:
        for method, (tr, te) in TABLE1.get(image, {}).items():
            out[f"{image}/{method}/psnr_train"] = tr
            out[f"{image}/{method}/psnr_test"] = te
    return out
