"""Learning-rate robustness under plain gradient descent (Sec. 5, Figures 1 and 15) and MSDL vs MGDL (Sec. 7).

One *point* of a sweep is one model trained by full-batch GD (eq. (2)/(4)) at one learning rate:

* ``task="synthetic"``: eq. (5), setting 1 or 2; SGDL (26), MGDL (30) or MSDL (Appendix D). He-normal
  initialisation, zero biases and ReLU'(0) = 1, as in the authors' synthetic and MSDL code.
* ``task="image"``: image regression of Sec. 4 on a (downsampled) image; SGDL (28) or MGDL (32), with the
  stax-default-like ``glorot_normal`` initialisation of the authors' image code.

Every point writes one atomic JSON record (``records.write_record``) and an existing record of the same
experiment is read back instead of retrained, so an interrupted sweep resumes where it stopped. A run whose loss
becomes non-finite is recorded with ``diverged = True`` and ``None`` for its final values (NaN in the plots,
as in Figure 1); it never raises. ``run_tracked`` trains one model at one learning rate while recording the
extreme eigenvalues of ``I - eta H`` (Sec. 6-7) through ``mgdlcore.hessian.eigen_callback``.

``lr_interval`` gives the learning-rate interval over which a method stays below a loss threshold
(the paper's "loss < 0.001 for eta in [0.03, 0.08]").
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..data.grid import regression_data
from ..device import resolve_device
from ..training.grades import fit_mgdl, fit_network
from ..data.images import image_label, load_image
from ..metrics import psnr
from ..experiments.profiles import get_profile
from ..experiments.records import provenance, record_path, write_record
from ..experiments.regression import loss_to_psnr
from ..structures import get_structure
from ..data.synthetic import synthetic_data
from ..training.loop import History, TrainConfig, half_mse

TASKS = ("synthetic", "image")
SYNTHETIC_METHODS = {"SGDL": "26", "MGDL": "30", "MSDL": "msdl"}
IMAGE_METHODS = {"SGDL": "28", "MGDL": "32"}

# The paper's claims of Sec. 5 (Figure 1): loss threshold and the learning-rate interval where it is met.
PAPER_INTERVALS = {
    (1, "SGDL"): {"threshold": 1e-3, "interval": (0.03, 0.08)},
    (1, "MGDL"): {"threshold": 1e-3, "interval": (0.01, 0.3)},
    (2, "SGDL"): {"threshold": 1e-2, "interval": None, "note": "fails to converge for eta > 0.006, best at 0.005"},
    (2, "MGDL"): {"threshold": 1e-2, "interval": (0.08, 0.3)},
}
PAPER_THRESHOLDS = {1: 1e-3, 2: 1e-2}
# Learning rates of the paper's MSDL vs MGDL runs (Figures 25-26).
PAPER_TRACKED_LR = {(1, "MSDL"): 0.004, (1, "MGDL"): 0.06, (2, "MSDL"): 0.006, (2, "MGDL"): 0.2}


@dataclass(frozen=True)
class LRProfile:
    """Sizes of the learning-rate and MSDL experiments (Secs. 5 and 7)."""

    name: str
    synthetic_epochs: int                 # GD epochs per SGDL/MSDL model and per MGDL grade (paper: 10^6)
    synthetic_lrs: tuple[float, ...]      # learning rates of the synthetic sweeps (paper: from [0.001, 0.5])
    image_epochs: int                     # GD epochs per SGDL model and per MGDL grade (paper: 10^5)
    image_size: int | None                # longer image side (None: native size, as in the paper)
    image_lrs: tuple[float, ...]          # learning rates of the image sweeps (paper: from [0.001, 1])
    images: tuple[str, ...]               # images of the image sweep (paper: the four below)
    track_epochs: int                     # GD epochs of an eigenvalue-tracked run, per model / grade (paper: 10^6)
    track_every: int                      # epochs between eigenvalue computations (paper: 10^4)
    eval_every: int = 100                 # epochs between train/validation loss evaluations
    loss_every: int = 20                  # keep the training loss of every this many epochs in the record
    n_eigen: int = 10                     # smallest and largest eigenvalues kept (paper: 10)

    def to_dict(self) -> dict:
        return asdict(self)


_SYN_LRS = (0.001, 0.003, 0.006, 0.01, 0.03, 0.06, 0.1, 0.3, 0.5)
LR_PROFILES = {
    "paper": LRProfile("paper", synthetic_epochs=1_000_000,
                       synthetic_lrs=(0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.02, 0.03, 0.04, 0.05,
                                      0.06, 0.08, 0.1, 0.2, 0.3, 0.4, 0.5),
                       image_epochs=100_000, image_size=None,
                       image_lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0),
                       images=("resolution_chart", "cameraman", "barbara", "pirate"),
                       track_epochs=1_000_000, track_every=10_000, eval_every=1000, loss_every=100),
    "cpu": LRProfile("cpu", synthetic_epochs=10_000, synthetic_lrs=_SYN_LRS,
                     image_epochs=2_000, image_size=64, image_lrs=(0.001, 0.01, 0.03, 0.1, 0.3, 1.0),
                     images=("resolution_chart", "cameraman", "barbara", "pirate"),
                     track_epochs=10_000, track_every=1_000, eval_every=100, loss_every=10),
    "smoke": LRProfile("smoke", synthetic_epochs=60, synthetic_lrs=(0.01, 0.1, 0.5),
                       image_epochs=10, image_size=16, image_lrs=(0.01, 1.0), images=("resolution_chart",),
                       track_epochs=20, track_every=20, eval_every=20, loss_every=5, n_eigen=5),
}


def structure_for(task: str, method: str) -> str:
    """The paper's structure of ``method`` for ``task``: (26)/(30)/MSDL on eq. (5), (28)/(32) on images."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    table = SYNTHETIC_METHODS if task == "synthetic" else IMAGE_METHODS
    if method not in table:
        raise ValueError(f"unknown method {method!r} for task {task!r}; accepted: {', '.join(table)}")
    return table[method]


def _target_label(task: str, target) -> str:
    if task == "synthetic":
        if target not in (1, 2, "1", "2"):
            raise ValueError(f"unknown synthetic setting {target!r}; accepted: 1, 2")
        return f"setting{int(target)}"
    return image_label(target)


def _record_task(method: str) -> str:
    return "msdl" if method == "MSDL" else "learning_rate"


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _history_dict(h: History, grade: int | None) -> dict:
    return {"grade": grade, "loss_epochs": h.loss_epochs, "loss": h.loss, "eval_epochs": h.eval_epochs,
            "metrics": h.metrics, "diverged": h.diverged, "diverged_epoch": h.diverged_epoch,
            "epochs_run": h.epochs_run, "seconds": h.seconds}


def _eigen_module():
    """``mgdlcore.hessian`` if it is available, else None."""
    try:
        from ..analysis import hessian
    except ImportError:
        return None
    return hessian if hasattr(hessian, "eigen_callback") else None


def _base_record(task, target, method, lr, prof: LRProfile, seed, variant, tracked: bool) -> dict:
    structure = structure_for(task, method)
    if task == "synthetic":
        epochs = prof.track_epochs if tracked else prof.synthetic_epochs
        init, relu0 = "he_normal", 1
    else:
        epochs, init, relu0 = prof.image_epochs, "glorot_normal", 0
    return {
        "task": "msdl" if tracked else _record_task(method),
        "experiment": task,
        "image": _target_label(task, target),
        "method": method,
        "profile": prof.name,
        "structure": structure,
        "structure_text": get_structure(structure).describe(),
        "epochs": epochs,
        "epochs_meaning": "per grade" if method == "MGDL" else "per model",
        "learning_rate": float(lr),
        "optimizer": "gd",
        "init": init,
        "relu_prime_at_zero": relu0,
        "seed": seed,
        "variant": variant,
        "settings": prof.to_dict(),
    }


def _existing(results_dir, record: dict) -> dict | None:
    if results_dir is None:
        return None
    path = record_path(results_dir, record)
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
    return None


def _fit(structure_name: str, method: str, x, y, cfg: TrainConfig, *, seed, init, relu0, eval_sets,
         eigen: tuple[float, int, str] | None = None):
    """Train SGDL/MSDL (one network) or MGDL (all grades); returns (predict_fn, histories, n_parameters)."""
    structure = get_structure(structure_name)
    hess = _eigen_module() if eigen is not None else None
    if eigen is not None and hess is None:
        raise RuntimeError("eigenvalue tracking needs mgdlcore.hessian.eigen_callback, which is not available")
    if method == "MGDL":
        grade_cbs = None
        if hess is not None:
            lr, k, how = eigen

            def grade_cbs(grade, net, feats, residual):
                return [hess.eigen_callback(net, lambda m, f=feats, r=residual: half_mse(r, m(f)), lr, k=k,
                                            method=how)]

        model, grades = fit_mgdl(structure, x, y, cfg, seed=seed, init=init, relu_prime_at_zero=relu0,
                                 eval_sets=eval_sets, grade_callbacks=grade_cbs)
        hists = [g.history for g in grades]
        n_params = [sum(p.numel() for p in g.parameters()) for g in model.grades]
        predict = model if len(grades) == structure.n_grades else None
        return predict, hists, n_params
    cbs = ()
    if hess is not None:
        lr, k, how = eigen

        def cbs(net):
            return [hess.eigen_callback(net, lambda m: half_mse(y, m(x)), lr, k=k, method=how)]

    net, hist = fit_network(structure, x, y, cfg, seed=seed, init=init, relu_prime_at_zero=relu0,
                            eval_sets=eval_sets, callbacks=cbs)
    return net, [hist], sum(p.numel() for p in net.parameters())


def _last(h: History, key: str) -> float | None:
    vals = h.metrics.get(key) or []
    return _finite(vals[-1]) if vals and not h.diverged else None


def run_lr_point(task: str, target, method: str, learning_rate: float, profile: str = "cpu", *,
                 device: str = "auto", seed: int = 0, results_dir: str | os.PathLike | None = None,
                 reuse: bool = True, progress: bool = False, track: bool = False) -> dict:
    """Train ``method`` on ``target`` (setting 1|2, or an image) by GD at ``learning_rate``; return its record.

    ``track=True`` (synthetic only) also records the ``n_eigen`` smallest and largest eigenvalues of
    ``I - eta H`` every ``track_every`` epochs for ``track_epochs`` epochs, and the prediction on a fine grid
    (Figures 25-27); such records go to the task ``msdl``. With ``reuse`` and an existing record of the same
    experiment in ``results_dir`` that record is returned untouched.
    """
    prof = get_profile(LR_PROFILES, profile)
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if track and task != "synthetic":
        raise ValueError("eigenvalue tracking is implemented for the synthetic task only")
    variant = (f"tracked, every {prof.track_every}" if track
               else ("sweep" if task == "synthetic" else f"sweep, max_size={prof.image_size}"))
    record = _base_record(task, target, method, learning_rate, prof, seed, variant, track)
    if reuse and (old := _existing(results_dir, record)) is not None:
        return old
    dev = resolve_device(device)
    torch.manual_seed(seed)
    eval_every = prof.track_every if track else prof.eval_every
    cfg = TrainConfig(epochs=record["epochs"], learning_rate=float(learning_rate), optimizer="gd",
                      eval_every=eval_every, loss_every=prof.loss_every, progress=progress,
                      description=f"{record['image']} {method} lr={learning_rate:g}")
    t0 = time.perf_counter()
    if task == "synthetic":
        data = synthetic_data(int(target), device=dev)
        x, y = data.x_train, data.y_train
        evals = {"train": (x, y), "val": (data.x_val, data.y_val)}
        record["data"] = {"kappa": list(data.kappa), "phases": list(data.phases), "n_train": x.shape[0],
                          "n_val": data.x_val.shape[0], "phase_seed": 0, "val_seed": 1}
    else:
        img = load_image(target, size=prof.image_size)
        data = regression_data(img, dev)
        x, y = data.x["train"], data.y["train"]
        evals = {"train": (x, y), "val": (data.x["val"], data.y["val"])}
        record["image_shape"] = list(img.shape)
        record["image_source"] = str(target)
        record["n_train"] = x.shape[0]
    eigen = (float(learning_rate), prof.n_eigen, "dense") if track else None
    predict, hists, n_params = _fit(record["structure"], method, x, y, cfg, seed=seed, init=record["init"],
                                    relu0=record["relu_prime_at_zero"], eval_sets=evals, eigen=eigen)
    record["n_parameters"] = n_params
    record["diverged"] = any(h.diverged for h in hists)
    record["diverged_grade"] = next((i + 1 for i, h in enumerate(hists) if h.diverged), None)
    record["history"] = [_history_dict(h, i + 1 if method == "MGDL" else None) for i, h in enumerate(hists)]
    final = hists[-1]
    record["final_train_loss"] = None if record["diverged"] else _last(final, "train_loss")
    record["final_val_loss"] = None if record["diverged"] else _last(final, "val_loss")
    if record["final_train_loss"] is None:
        record["diverged"] = True      # a loss that is not finite at the end counts as divergence (NaN in Fig. 1)
    if task == "image":
        ok = not record["diverged"] and predict is not None
        with torch.no_grad():
            full = data.as_image(predict(data.x["test"])) if ok else None
        good = full is not None and bool(np.isfinite(full).all())
        record["psnr_test"] = psnr(img, full) if good else None
        record["psnr_val"] = loss_to_psnr(record["final_val_loss"]) if good else None
        record["psnr_train"] = loss_to_psnr(record["final_train_loss"]) if good else None
    if track and predict is not None and not record["diverged"]:
        grid = torch.linspace(0.0, 1.0, 1001, device=dev)[:, None]
        with torch.no_grad():
            record["prediction"] = {"x": grid[:, 0].cpu().tolist(), "y": predict(grid)[:, 0].cpu().tolist()}
    record["seconds"] = time.perf_counter() - t0
    record.update(provenance(dev))
    if results_dir is not None:
        write_record(results_dir, record)
    return record


def run_sweep(task: str, target, method: str, profile: str = "cpu", *, learning_rates: Sequence[float] | None = None,
              device: str = "auto", seed: int = 0, results_dir=None, reuse: bool = True,
              progress: bool = False) -> list[dict]:
    """``run_lr_point`` at every learning rate of the profile (or ``learning_rates``), in increasing order."""
    prof = get_profile(LR_PROFILES, profile)
    lrs = learning_rates if learning_rates is not None else (
        prof.synthetic_lrs if task == "synthetic" else prof.image_lrs)
    return [run_lr_point(task, target, method, float(lr), profile, device=device, seed=seed,
                         results_dir=results_dir, reuse=reuse, progress=progress) for lr in sorted(lrs)]


def final_values(records: Sequence[dict], key: str = "final_train_loss") -> tuple[np.ndarray, np.ndarray]:
    """``(learning_rates, values)`` sorted by learning rate; diverged runs and missing values are NaN."""
    pairs = sorted((r["learning_rate"], np.nan if r.get("diverged") or r.get(key) is None else float(r[key]))
                   for r in records)
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def lr_intervals(learning_rates, values, threshold: float, *, below: bool = True) -> list[tuple[float, float]]:
    """All maximal runs of consecutive grid learning rates whose value is below (or above) ``threshold``.

    NaN (a diverged run) never passes. Returned as ``(lowest, highest)`` learning rate of each run.
    """
    lrs = np.asarray(learning_rates, float)
    vals = np.asarray(values, float)
    if lrs.shape != vals.shape:
        raise ValueError(f"learning_rates and values differ in shape: {lrs.shape} vs {vals.shape}")
    order = np.argsort(lrs)
    lrs, vals = lrs[order], vals[order]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(vals) & ((vals < threshold) if below else (vals > threshold))
    runs, start = [], None
    for i, good in enumerate(ok):
        if good and start is None:
            start = i
        if not good and start is not None:
            runs.append((float(lrs[start]), float(lrs[i - 1])))
            start = None
    if start is not None:
        runs.append((float(lrs[start]), float(lrs[-1])))
    return runs


def lr_interval(learning_rates, values, threshold: float, *, below: bool = True) -> tuple[float, float] | None:
    """The widest (in ``log(high/low)``, then in number of points) run of ``lr_intervals``; None if none passes."""
    lrs = np.sort(np.asarray(learning_rates, float))
    runs = lr_intervals(learning_rates, values, threshold, below=below)
    if not runs:
        return None

    def width(run):
        lo, hi = run
        return (math.log(hi / lo), int(np.sum((lrs >= lo) & (lrs <= hi))))

    return max(runs, key=width)


def largest_stable_lr(records: Sequence[dict]) -> float | None:
    """The largest learning rate of the sweep below which no run diverged (None if the smallest diverged)."""
    best = None
    for r in sorted(records, key=lambda r: r["learning_rate"]):
        if r.get("diverged"):
            break
        best = r["learning_rate"]
    return best


def format_interval(interval: tuple[float, float] | None) -> str:
    return "none" if interval is None else f"[{interval[0]:g}, {interval[1]:g}]"


def check_records(records: Sequence[dict], reference: dict, tolerance_log10: float) -> list[str]:
    """Compare records with a reference ``{"<image>/<method>/<lr>": value or None}``.

    ``value`` is ``log10`` of the final training loss (``None``: diverged). A value must be within
    ``tolerance_log10`` decades; a diverged reference must be a diverged run, and the converse.
    """
    got = {}
    for r in records:
        v = r.get("final_train_loss")
        got[f"{r['image']}/{r['method']}/{r['learning_rate']:g}"] = (
            None if r.get("diverged") or v is None or v <= 0 else math.log10(v))
    bad = []
    for key, ref in reference.items():
        if key not in got:
            bad.append(f"{key}: no record")
            continue
        v = got[key]
        if (ref is None) != (v is None):
            bad.append(f"{key}: diverged={v is None}, reference diverged={ref is None}")
        elif ref is not None and abs(v - ref) > tolerance_log10:
            bad.append(f"{key}: log10 loss {v:.2f} vs reference {ref:.2f} (tolerance {tolerance_log10})")
    return bad


def reference_values(records: Sequence[dict]) -> dict:
    """The reference form of ``check_records`` for ``records`` (used to write ``chapters/references``)."""
    out = {}
    for r in records:
        v = r.get("final_train_loss")
        out[f"{r['image']}/{r['method']}/{r['learning_rate']:g}"] = (
            None if r.get("diverged") or v is None or v <= 0 else round(math.log10(v), 3))
    return out


# ---------------------------------------------------------------- summaries and figures (read records only)

def oscillation_fraction(record: dict) -> float | None:
    """Fraction of consecutive kept training losses (every ``loss_every`` epochs) where the loss went *up*.

    About 0 for a smooth decay, large for an oscillating loss. For MGDL the grades are taken one by one.
    """
    ups = total = 0
    for h in record.get("history") or []:
        vals = np.array([np.nan if v is None else v for v in h["loss"]], float)
        vals = vals[np.isfinite(vals)]
        if vals.size > 1:
            ups += int(np.sum(np.diff(vals) > 0))
            total += vals.size - 1
    return ups / total if total else None


def eigen_summary(record: dict) -> dict:
    """From a tracked record: the lowest eigenvalue of ``I - eta H`` seen, the largest number of eigenvalues
    <= -1 at one checkpoint, and the fraction of checkpoints (all grades) with the smallest eigenvalue <= -1."""
    mins, counts = [], []
    for h in record.get("history") or []:
        m = h["metrics"]
        mins += [v for v in m.get("eig_min_0", []) if v is not None]
        counts += [int(v) for v in m.get("n_le_minus1", []) if v is not None and v >= 0]
    if not mins:
        return {"eig_min": None, "max_n_le_minus1": None, "frac_below_minus1": None, "n_checkpoints": 0}
    return {"eig_min": float(min(mins)), "max_n_le_minus1": int(max(counts)) if counts else None,
            "frac_below_minus1": float(np.mean(np.array(mins) <= -1.0)), "n_checkpoints": len(mins)}


def interval_table(sweeps: dict, thresholds: dict | None = None) -> str:
    """Markdown table: per (setting, method) the learning-rate interval with final training loss below the
    paper's threshold, ours beside the paper's, with the largest stable learning rate and the best run."""
    thresholds = thresholds or PAPER_THRESHOLDS
    rows = ["| Setting | Method | threshold | interval (ours) | interval (paper) | largest lr without divergence | "
            "best lr, loss (ours) | profile, epochs | device | commit |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (setting, method), recs in sweeps.items():
        if not recs:
            continue
        lrs, vals = final_values(recs)
        thr = thresholds[setting]
        ours = lr_interval(lrs, vals, thr)
        paper = PAPER_INTERVALS.get((setting, method))
        ptxt = "–" if paper is None else (format_interval(paper["interval"]) if paper["interval"] else paper["note"])
        best = int(np.nanargmin(vals)) if np.isfinite(vals).any() else None
        btxt = "–" if best is None else f"{lrs[best]:g}, {vals[best]:.2e}"
        r0 = recs[0]
        rows.append(f"| {setting} | {method} ({r0['structure']}) | {thr:g} | {format_interval(ours)} | {ptxt} | "
                    f"{largest_stable_lr(recs)} | {btxt} | {r0['profile']}, {r0['epochs']} {r0['epochs_meaning']} | "
                    f"{r0['device']} | {str(r0['commit'])[:10]} |")
    return "\n".join(rows)


def plot_sweep(ax, records: Sequence[dict], *, key: str = "final_train_loss", label: str = "", color=None,
               log: bool = True, marker: str = "o"):
    """``key`` against the learning rate (log axes); diverged runs drawn as 'x' on the top edge, labelled NaN."""
    lrs, vals = final_values(records, key)
    ax.plot(lrs, vals, marker=marker, color=color, label=label, lw=1)
    bad = ~np.isfinite(vals)
    if bad.any():
        ax.plot(lrs[bad], np.full(bad.sum(), 1.03), "x", color=color, ms=7, mew=2, clip_on=False,
                transform=ax.get_xaxis_transform(), label=f"{label} diverged (NaN)" if label else None)
    ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate $\\eta$")
    return ax


def plot_eigen_track(ax, record: dict, k: int | None = None):
    """The ``k`` smallest (solid) and largest (dashed) eigenvalues of ``I - eta H`` against the epoch; MGDL grades
    end to end. Dotted lines at -1 and 1."""
    offset = 0
    first = True
    for h in record.get("history") or []:
        m = h["metrics"]
        ep = np.asarray(h["eval_epochs"], float) + offset
        kk = k or len([n for n in m if n.startswith("eig_min_")])
        for j in range(kk):
            for name, ls in ((f"eig_min_{j}", "-"), (f"eig_max_{j}", "--")):
                if name in m:
                    v = np.array([np.nan if x is None else x for x in m[name]], float)
                    ax.plot(ep[:len(v)], v, ls, color=f"C{j % 10}", lw=0.8,
                            label=(f"index {j}" if first and ls == "-" else None))
        first = False
        if h.get("grade") and h["grade"] > 1:
            ax.axvline(offset, color="0.6", ls=":", lw=0.8)
        offset += h.get("epochs_run") or (h["eval_epochs"][-1] if h["eval_epochs"] else 0)
    for y in (-1.0, 1.0):
        ax.axhline(y, color="k", ls=":", lw=0.8)
    ax.set_xlabel("epoch (grades end to end)" if record.get("method") == "MGDL" else "epoch")
    ax.set_ylabel("eigenvalues of $I-\\eta H$")
    return ax


def _first_diverged(records: Sequence[dict]) -> float | None:
    return next((r["learning_rate"] for r in sorted(records, key=lambda r: r["learning_rate"]) if r.get("diverged")),
                None)


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("agrees" if ok else "differs")


def _iv_width(iv) -> float:
    return 0.0 if iv is None else math.log(iv[1] / iv[0]) + 1e-12


def section5_claims(sweeps: dict, image_sweeps: dict, thresholds: dict | None = None) -> list[dict]:
    """Each claim of Sec. 5 beside what the records show, with a verdict computed from the records.

    ``sweeps[(setting, method)]`` and ``image_sweeps[(image, method)]`` are lists of records; ``thresholds`` are
    the loss thresholds used for "trains well" (default: the paper's, 0.001 and 0.01).
    """
    thresholds = thresholds or PAPER_THRESHOLDS
    rows = []

    def iv(s, m, thr):
        return lr_interval(*final_values(sweeps[(s, m)]), thr) if (s, m) in sweeps else None

    def stable_text(s, m):
        recs = sweeps[(s, m)]
        fd = _first_diverged(recs)
        return (f"{m}: no divergence up to {largest_stable_lr(recs)}, "
                + ("none diverged on the grid" if fd is None else f"first divergence at {fd:g}"))

    if (1, "SGDL") in sweeps and (1, "MGDL") in sweeps:
        t = thresholds[1]
        a, b = iv(1, "SGDL", t), iv(1, "MGDL", t)
        rows.append({"claim": "Setting 1: SGDL reaches loss < 0.001 for eta in [0.03, 0.08], MGDL over [0.01, 0.3]",
                     "ours": f"loss < {t:g}: SGDL {format_interval(a)}, MGDL {format_interval(b)}",
                     "verdict": ("no run reaches the threshold" if a is None and b is None
                                 else _verdict(_iv_width(b) > _iv_width(a)) + " (MGDL's interval is the wider)")})
        fd = _first_diverged(sweeps[(1, "SGDL")])
        ls = largest_stable_lr(sweeps[(1, "SGDL")])
        rows.append({"claim": "Setting 1: SGDL fails to converge for eta > 0.3", "ours": stable_text(1, "SGDL"),
                     "verdict": _verdict(fd is not None and ls is not None and ls <= 0.3 < fd * 1.0001)})
    if (2, "SGDL") in sweeps and (2, "MGDL") in sweeps:
        t = thresholds[2]
        a, b = iv(2, "SGDL", t), iv(2, "MGDL", t)
        ls = largest_stable_lr(sweeps[(2, "SGDL")])
        rows.append({"claim": "Setting 2: SGDL struggles to converge for eta > 0.006 (best at 0.005)",
                     "ours": stable_text(2, "SGDL"),
                     "verdict": _verdict(ls is not None and ls <= 0.006)})
        rows.append({"claim": "Setting 2: MGDL stays below 0.01 for eta in [0.08, 0.3]",
                     "ours": f"loss < {t:g}: SGDL {format_interval(a)}, MGDL {format_interval(b)}; "
                             + stable_text(2, "MGDL"),
                     "verdict": ("no run reaches the threshold" if b is None
                                 else _verdict(b[0] <= 0.1 and b[1] >= 0.3))})
    for s in (1, 2):
        if (s, "SGDL") in sweeps and (s, "MGDL") in sweeps:
            sa, sb = largest_stable_lr(sweeps[(s, "SGDL")]) or 0.0, largest_stable_lr(sweeps[(s, "MGDL")]) or 0.0
            rows.append({"claim": f"Setting {s}: MGDL is robust over a wider range of learning rates than SGDL",
                         "ours": f"largest eta without divergence: SGDL {sa:g}, MGDL {sb:g}",
                         "verdict": _verdict(sb > sa) if sb != sa else "no difference on this grid"})
    images = sorted({im for im, _ in image_sweeps})
    for im in images:
        if (im, "SGDL") not in image_sweeps or (im, "MGDL") not in image_sweeps:
            continue
        _, ps = final_values(image_sweeps[(im, "SGDL")], "psnr_test")
        lrs, pm = final_values(image_sweeps[(im, "MGDL")], "psnr_test")
        better = [(np.isnan(a) and not np.isnan(b)) or b > a for a, b in zip(ps, pm)]
        rows.append({"claim": f"{im}: MGDL more accurate than SGDL at every learning rate (Figure 15)",
                     "ours": f"MGDL's test PSNR higher at {sum(better)} of {len(better)} learning rates",
                     "verdict": _verdict(all(better))})
        hi = max(lrs)
        ds = next(r["diverged"] for r in image_sweeps[(im, "SGDL")] if r["learning_rate"] == hi)
        dm = next(r["diverged"] for r in image_sweeps[(im, "MGDL")] if r["learning_rate"] == hi)
        claim = (f"{im}: SGDL fails near eta = 1, MGDL stays stable" if im in ("cameraman", "pirate")
                 else f"{im}: (no failure claimed at eta = 1)")
        rows.append({"claim": claim, "ours": f"at eta = {hi:g}: SGDL diverged={ds}, MGDL diverged={dm}",
                     "verdict": _verdict(ds and not dm) if im in ("cameraman", "pirate") else "–"})
    return rows


def section7_claims(tracked: dict, sweeps: dict) -> list[dict]:
    """Each claim of Sec. 7 beside what the records show (``tracked[(setting, method)]`` is one record,
    ``sweeps[(setting, method)]`` a list of records)."""
    rows = []
    for s in sorted({s for s, _ in tracked}):
        if (s, "MSDL") not in tracked or (s, "MGDL") not in tracked:
            continue
        a, b = eigen_summary(tracked[(s, "MSDL")]), eigen_summary(tracked[(s, "MGDL")])
        fa, fb = a["frac_below_minus1"], b["frac_below_minus1"]
        rows.append({"claim": f"Setting {s}: MSDL has eigenvalues of I - eta H near or below -1 more often than MGDL",
                     "ours": f"checks with smallest eigenvalue <= -1: MSDL {fa:.2f}, MGDL {fb:.2f}; lowest: "
                             f"MSDL {a['eig_min']:.2f}, MGDL {b['eig_min']:.2f}",
                     "verdict": _verdict(None if fa is None or fb is None else (fa > fb or a["eig_min"] < b["eig_min"]))})
        oa, ob = oscillation_fraction(tracked[(s, "MSDL")]), oscillation_fraction(tracked[(s, "MGDL")])
        rows.append({"claim": f"Setting {s}: hence MSDL's training loss oscillates more than MGDL's",
                     "ours": f"fraction of logged steps where the loss rose: MSDL {oa:.3f}, MGDL {ob:.3f}",
                     "verdict": ("–" if oa is None or ob is None else
                                 "no clear difference" if abs(oa - ob) < 0.05 else _verdict(oa > ob))})
        if (s, "MSDL") in sweeps and (s, "MGDL") in sweeps:
            sa, sb = largest_stable_lr(sweeps[(s, "MSDL")]) or 0.0, largest_stable_lr(sweeps[(s, "MGDL")]) or 0.0
            rows.append({"claim": f"Setting {s}: MSDL is more sensitive to the learning rate (Figure 28)",
                         "ours": f"largest eta without divergence: MSDL {sa:g}, MGDL {sb:g}",
                         "verdict": _verdict(sa < sb)})
    return rows


def claims_markdown(rows: list[dict]) -> str:
    out = ["| Paper's claim | Our runs | Verdict |", "|---|---|---|"]
    out += [f"| {r['claim']} | {r['ours']} | {r['verdict']} |" for r in rows]
    return "\n".join(out)
