"""The scaling study of Table 1 (``experiments.scaling``) as a table and a figure, drawn from records only."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from ..experiments import scaling
from ..experiments.records import Record
from ..experiments.runner import run_many
from .paths import resolve_results_dir
from .provenance import provenance_caption


def collect(profile: str, *, train: str = "missing", device: str = "auto", results_dir=None,
            progress: bool = False) -> tuple[list[Record], dict[str, str]]:
    """The records of the study's points under ``profile`` and ``{label: reason}`` for those without one."""
    configs = scaling.configs(profile, device=device)
    return run_many(configs, results_dir=resolve_results_dir(results_dir, profile), profile=profile, train=train,
                    progress=progress)


def _points(records: Sequence[Record]) -> dict[tuple[int, int], dict[str, float | None]]:
    """``{(side in px, epochs): {method: test PSNR}}``; bicubic under epochs 0 (it does not train)."""
    out: dict[tuple[int, int], dict[str, float | None]] = {}
    for r in records:
        side = max(r.metrics.get("height") or 0, r.metrics.get("width") or 0)
        value = None if r.diverged else r.metrics.get("psnr_test")
        out.setdefault((side, int(r.config.get("epochs") or 0)), {})[r.config["method"]] = value
    return out


def gap_markdown(records: Sequence[Record]) -> str:
    """Rows (image side, epochs): SGDL, MGDL and MGDL - SGDL test PSNR, and bicubic at that side."""
    pts = _points(records)
    bicubic = {side: v.get("bicubic") for (side, e), v in pts.items() if e == 0}
    lines = ["| image side (px) | epochs per model / grade | SGDL | MGDL | MGDL − SGDL | bicubic |",
             "|---|---|---|---|---|---|"]

    def f(x):
        return "–" if x is None else f"{x:.2f}"

    for side, epochs in sorted(k for k in pts if k[1] > 0):
        v = pts[(side, epochs)]
        s, m = v.get("SGDL"), v.get("MGDL")
        gap = None if s is None or m is None else m - s
        lines.append(f"| {side} | {epochs:,} | {f(s)} | {f(m)} | {'–' if gap is None else f'{gap:+.2f}'} | "
                     f"{f(bicubic.get(side))} |")
    return "\n".join(lines)


def trend_text(records: Sequence[Record]) -> str:
    """Which way the MGDL - SGDL gap moves with the image side (at the most epochs) and with the epochs (at the
    largest side), from the points that have both methods; says so when there are too few."""
    pts = _points(records)
    gaps = {k: v["MGDL"] - v["SGDL"] for k, v in pts.items()
            if k[1] > 0 and v.get("MGDL") is not None and v.get("SGDL") is not None}
    if not gaps:
        return "No point of the study has both SGDL and MGDL yet."
    parts = []

    def direction(seq, what):
        (a, ga), (b, gb) = seq[0], seq[-1]
        word = "grows" if gb > ga else "shrinks" if gb < ga else "stays"
        return f"the gap {word} from {ga:+.2f} dB to {gb:+.2f} dB as the {what} goes from {a:,} to {b:,}"

    most = max(e for _, e in gaps)
    by_side = sorted((side, g) for (side, e), g in gaps.items() if e == most)
    if len(by_side) > 1:
        parts.append(direction(by_side, "image side (px)") + f" (at {most:,} epochs)")
    largest = max(side for side, _ in gaps)
    by_epochs = sorted((e, g) for (side, e), g in gaps.items() if side == largest)
    if len(by_epochs) > 1:
        parts.append(direction(by_epochs, "number of epochs") + f" (at {largest} px)")
    if not parts:
        return f"One point so far: MGDL − SGDL = {next(iter(gaps.values())):+.2f} dB; no trend yet."
    return "; ".join(parts) + "."


def figure(records: Sequence[Record]):
    """Test PSNR against the image side, one line per method and epoch count, bicubic in black (Cameraman)."""
    pts = _points(records)
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    epochs = sorted({e for _, e in pts if e > 0})
    styles = {"SGDL": "--", "MGDL": "-"}
    for i, e in enumerate(epochs):
        for method, ls in styles.items():
            xy = sorted((side, v[method]) for (side, ee), v in pts.items() if ee == e and v.get(method) is not None)
            if xy:
                ax.plot(*zip(*xy), ls=ls, marker="o", ms=3, color=f"C{i}", label=f"{method}, {e:,} epochs")
    xy = sorted((side, v["bicubic"]) for (side, e), v in pts.items() if e == 0 and v.get("bicubic") is not None)
    if xy:
        ax.plot(*zip(*xy), color="k", marker="s", ms=3, label="bicubic")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("image side (px)")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(f"{scaling.IMAGE.capitalize()}: toward the paper's setting", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def caption(records: Sequence[Record]) -> str:
    return (f"Test PSNR of SGDL (28), MGDL (32) and bicubic interpolation on Cameraman as the image side and the "
            f"epochs grow toward the paper's setting ({provenance_caption(records)}).")
