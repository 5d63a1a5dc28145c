r"""Image denoising and deblurring with SGDL and MGDL (Sec. 4, Tables 2-3, Appendix C).

The image is a function on the pixel grid ``[0, 1)^2``; a network ``N_Theta`` evaluated on every pixel gives the
image matrix ``N_Theta``. With the observed image ``f_obs = A f + noise``, the forward operator ``A`` (identity or
Gaussian blur, :mod:`mgdlcore.operators`) and the forward differences ``B``, the penalised ROF objective of
Appendix C is

.. math:: \mathcal{L}(\Theta, u) = \tfrac12 \|f_{obs} - A N_\Theta\|_F^2 + \tfrac{\beta}{2}\|u - B N_\Theta\|_F^2
          + \lambda \|u\|_{1,1},

minimised by the proximity-gradient scheme (20)-(21): per epoch, ``u <- prox_{alpha lambda/beta ||.||_1}(alpha B N +
(1 - alpha) u)`` at the current parameters, then one Adam step on ``Theta`` with ``u`` fixed. Both use the
pre-update parameters, so one network forward per epoch serves both.

The norms are **sums** over pixels, as in the authors' code (not means). Adam's step is invariant to a constant
factor on the loss (up to its ``eps = 1e-8``), so sums and means give the same iterates; what matters is the ratio of
the three terms, which is the same per pixel for every image size.

MGDL (Appendix C.2): grade ``l`` has the image ``g_l = eps_l N_l(frozen features) + g_{l-1}`` with ``eps_1 = 1`` and
``eps_l`` the root-mean-square of ``g_{l-1} - f_obs`` (the authors' ``NewscaleFactor``); every grade minimises the
objective on its total image ``g_l``; ``u`` carries over from grade to grade.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.grid import pixel_grid
from ..device import resolve_device
from ..data.images import image_label, load_image
from ..metrics import psnr
from ..models import build_grade, build_network
from ..physics.operators import ForwardDifference, GaussianBlur, Identity, LinearOperator
from ..experiments.profiles import get_profile
from ..experiments.records import provenance, record_path, save_arrays_atomic, write_record
from ..structures import get_structure
from ..training.loop import History, TrainConfig, train
from ..training.objectives import prox_step, rof_objective, soft_threshold  # noqa: F401

TASKS = ("denoising", "deblurring")
NETWORK_METHODS = ("SGDL", "MGDL")
CLASSICAL_METHODS = {"denoising": ("observed", "tv", "tv_oracle"),
                     "deblurring": ("observed", "wiener", "wiener_oracle", "tv", "tv_oracle")}
LEVELS = {"denoising": (10, 20, 30, 40, 50, 60), "deblurring": (3, 5, 7)}
DEBLUR_NOISE = 3.0  # noise standard deviation (0-255 scale) added to the blurred image


# ----------------------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class RestorationProfile:
    """Denoising / deblurring, Sec. 4 / Tables 2-3 / Appendix C."""

    name: str
    max_size: int | None              # longer image side downsampled to this before corruption (None: native)
    epochs: int                       # Adam epochs per SGDL model and per MGDL grade (paper: 20,000)
    learning_rate: float = 1e-3       # Adam learning rate for Theta (paper's code: 1e-3)
    alpha: float = 0.99               # relaxation in the prox step (20)
    beta: float = 0.1                 # penalty weight of ||u - B N||^2
    lam: float = 0.01                 # TV weight lambda
    eval_every: int = 100             # PSNR against the clean image every this many epochs (paper's code: 100)
    loss_every: int = 100             # keep the objective of every this many epochs in the record
    sgdl: str = "29"                  # SGDL structure (paper: (29))
    mgdl: str = "33"                  # MGDL structure (paper: (33))
    n_grades: int | None = None       # MGDL grades trained (None: all four of (33))
    noise_seed: int = 0               # seed of the Gaussian noise (numpy default_rng)

    def to_dict(self) -> dict:
        return asdict(self)


RESTORATION_PROFILES = {
    "paper": RestorationProfile("paper", max_size=None, epochs=20_000),
    "cpu": RestorationProfile("cpu", max_size=64, epochs=1_000, eval_every=50, loss_every=10),
    "smoke": RestorationProfile("smoke", max_size=32, epochs=40, eval_every=10, loss_every=1),
}


# ----------------------------------------------------------------------------------------------- pieces
def forward_operator(task: str, blur_sigma: float | None = None) -> LinearOperator:
    """``A`` of the task: the identity for denoising, Gaussian blur of ``blur_sigma`` pixels for deblurring."""
    if task == "denoising":
        return Identity()
    if task == "deblurring":
        if blur_sigma is None:
            raise ValueError("deblurring needs blur_sigma")
        return GaussianBlur(blur_sigma)
    raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")


def degrade(clean: np.ndarray, A: LinearOperator, noise_level: float, *, noise_seed: int = 0) -> np.ndarray:  # noqa: N803
    """``f_obs = A f + noise`` with i.i.d. ``N(0, (noise_level/255)^2)`` noise from ``default_rng(noise_seed)``.

    No clipping, as in the authors' code (their noise comes from JAX ``PRNGKey(0)``, which numpy cannot reproduce:
    the realisation differs, its law does not).
    """
    clean = np.asarray(clean, dtype=np.float64)
    blurred = A.A(torch.as_tensor(clean)).numpy()
    noise = np.random.default_rng(noise_seed).standard_normal(clean.shape) * (noise_level / 255.0)
    return blurred + noise


@dataclass
class RestorationFit:
    """The result of fitting one network (SGDL) or all grades (MGDL) with the scheme (20)-(21)."""

    images: dict[str, np.ndarray]          # "SGDL" or "grade 1".."grade L": the image after training
    histories: list[History]               # one per model / grade; metrics["psnr"] every eval_every epochs
    scales: list[float]                    # eps_l per grade (SGDL: [1.0])
    u: Tensor                              # the auxiliary variable at the end (2H, W)


def _psnr_callback(image_fn: Callable[[], Tensor], clean: Tensor) -> Callable[[int], dict]:
    def cb(epoch: int) -> dict:
        with torch.no_grad():
            mse = torch.mean((image_fn().double() - clean.double()) ** 2)
        return {"psnr": float(-10.0 * torch.log10(mse))}

    return cb


def fit_rof(image_fn: Callable[[], Tensor], params: Sequence[torch.nn.Parameter], f_obs: Tensor, A: LinearOperator,  # noqa: N803
            B: LinearOperator, u: Tensor, config: TrainConfig, *, alpha: float, beta: float, lam: float,  # noqa: N803
            clean: Tensor | None = None) -> tuple[History, Tensor]:
    """Run the proximity-gradient scheme (20)-(21) on ``params`` from ``u``; returns the history and the final ``u``.

    ``image_fn()`` gives the current image ``(H, W)`` as a differentiable function of ``params``. Each epoch does
    one forward: ``B image`` at the pre-update parameters feeds the prox step (20) and, with the new ``u``, the
    objective whose gradient gives the Adam step (21). With ``clean``, the PSNR against it is recorded every
    ``config.eval_every`` epochs (``History.metrics["psnr"]``).
    """
    state = {"u": u}

    def loss_fn() -> Tensor:
        img = image_fn()
        bn = B.A(img)
        with torch.no_grad():
            state["u"] = prox_step(state["u"], bn, alpha=alpha, beta=beta, lam=lam)
        return rof_objective(img, state["u"], f_obs, A, B, beta=beta, lam=lam, bn=bn)

    cbs = [_psnr_callback(image_fn, clean)] if clean is not None else []
    hist = train(loss_fn, params, config, callbacks=cbs)
    return hist, state["u"]


def fit_restoration(method: str, f_obs: np.ndarray, A: LinearOperator, config: TrainConfig, *,  # noqa: N803
                    structure: str, alpha: float = 0.99, beta: float = 0.1, lam: float = 0.01, seed: int = 0,
                    n_grades: int | None = None, clean: np.ndarray | None = None,
                    device: torch.device | str = "cpu") -> RestorationFit:
    """Fit SGDL (one network of ``structure``) or MGDL (the grades of ``structure``) to ``f_obs`` (Appendix C).

    The network input is the full pixel grid on ``[0, 1)^2`` (``data.pixel_grid``), in float32 on ``device``.
    """
    dev = torch.device(device)
    h, w = f_obs.shape
    x = torch.as_tensor(pixel_grid((h, w)).reshape(-1, 2), dtype=torch.float32, device=dev)
    y = torch.as_tensor(f_obs, dtype=torch.float32, device=dev)
    ref = torch.as_tensor(clean, dtype=torch.float32, device=dev) if clean is not None else None
    B = ForwardDifference()  # noqa: N806
    u = torch.zeros((2 * h, w), dtype=torch.float32, device=dev)
    kw = dict(alpha=alpha, beta=beta, lam=lam, clean=ref)
    struct = get_structure(structure)
    if method == "SGDL":
        net = build_network(struct, seed=seed).to(dev)

        def image_fn() -> Tensor:
            return net(x).reshape(h, w)

        hist, u = fit_rof(image_fn, list(net.parameters()), y, A, B, u, config, **kw)
        with torch.no_grad():
            img = image_fn().double().cpu().numpy()
        return RestorationFit({"SGDL": img}, [hist], [1.0], u)
    if method != "MGDL":
        raise ValueError(f"unknown network method {method!r}; accepted: {', '.join(NETWORK_METHODS)}")
    feats = x
    acc = torch.zeros((h, w), dtype=torch.float32, device=dev)
    eps = 1.0
    images, hists, scales = {}, [], []
    for grade in range(1, (n_grades or struct.n_grades) + 1):
        net = build_grade(struct, grade, seed=seed).to(dev)

        def image_fn(net=net, feats=feats, acc=acc, eps=eps) -> Tensor:
            return eps * net(feats).reshape(h, w) + acc

        cfg = replace(config, description=f"{config.description} grade {grade}".strip())
        hist, u = fit_rof(image_fn, list(net.parameters()), y, A, B, u, cfg, **kw)
        with torch.no_grad():
            out, feats = net.forward_with_features(feats)
            acc = eps * out.reshape(h, w) + acc
        net.requires_grad_(False)
        images[f"grade {grade}"] = acc.double().cpu().numpy()
        hists.append(hist)
        scales.append(eps)
        if hist.diverged:
            break
        eps = float(torch.sqrt(torch.mean((acc.double() - y.double()) ** 2)))
    return RestorationFit(images, hists, scales, u)


# ----------------------------------------------------------------------------------------------- runner
@dataclass
class RestorationRun:
    """A record and its images: ``clean``, ``observed`` and the method's output(s) (one per grade for MGDL)."""

    record: dict
    images: dict[str, np.ndarray]


def variant_label(task: str, level: float) -> str:
    return f"{'noise' if task == 'denoising' else 'blur'}={level:g}"


def _check_level(task: str, level) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number, got {level!r}") from None
    if not (math.isfinite(lv) and lv > 0):
        raise ValueError(f"level must be > 0 (noise sigma on the 0-255 scale, or blur sigma in pixels), got {level!r}")
    return lv


def corrupted_input(task: str, image: str, level: float, profile: str = "cpu") -> tuple[np.ndarray, np.ndarray,
                                                                                          LinearOperator, float]:
    """``(clean, observed, A, noise_level)`` for a task, image and level under ``profile``'s size and noise seed."""
    prof = get_profile(RESTORATION_PROFILES, profile)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    lv = _check_level(task, level)
    clean = load_image(image, size=prof.max_size)
    A = forward_operator(task, lv if task == "deblurring" else None)  # noqa: N806
    noise = lv if task == "denoising" else DEBLUR_NOISE
    return clean, degrade(clean, A, noise, noise_seed=prof.noise_seed), A, noise


def run_restoration(task: str, image: str, method: str, level: float, profile: str = "cpu", *,
                    device: str = "auto", seed: int = 0, results_dir: str | os.PathLike | None = None,
                    reuse: bool = True, progress: bool = True) -> RestorationRun:
    """Restore ``image`` corrupted for ``task`` at ``level`` with ``method``; write (or reuse) its record.

    ``level`` is the noise standard deviation on the 0-255 scale (denoising) or the blur standard deviation in
    pixels (deblurring, with noise 3/255). ``method`` is ``SGDL``, ``MGDL`` or a classical reference of
    :data:`CLASSICAL_METHODS` (``observed`` is the corrupted input itself; names ending in ``_oracle`` choose their
    parameter on the clean image and are labelled so). With ``reuse`` and an existing record of the same experiment
    in ``results_dir``, that record and its images are returned without recomputing.
    """
    prof = get_profile(RESTORATION_PROFILES, profile)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    accepted = NETWORK_METHODS + CLASSICAL_METHODS[task]
    if method not in accepted:
        raise ValueError(f"unknown method {method!r} for {task}; accepted: {', '.join(accepted)}")
    dev = resolve_device(device)
    clean, observed, A, noise = corrupted_input(task, image, level, profile)  # noqa: N806
    lv = _check_level(task, level)
    network = method in NETWORK_METHODS
    structure = (prof.sgdl if method == "SGDL" else prof.mgdl) if network else None
    record = {
        "task": task, "image": image_label(image), "image_source": str(image), "method": method,
        "profile": prof.name, "structure": structure,
        "structure_text": get_structure(structure).describe() if structure else None,
        "epochs": prof.epochs if network else 0,
        "learning_rate": prof.learning_rate if network else None,
        "optimizer": "adam" if network else None,
        "seed": seed, "variant": variant_label(task, lv),
        "noise_level": noise, "blur_sigma": lv if task == "deblurring" else None,
        "blur_kernel_size": A.kernel.shape[0] if task == "deblurring" else None,
        "boundary": "half-sample symmetric" if task == "deblurring" else None,
        "noise_seed": prof.noise_seed, "image_shape": list(clean.shape),
        "alpha": prof.alpha if network else None, "beta": prof.beta if network else None,
        "lambda": prof.lam if network else None, "settings": prof.to_dict(),
        "oracle": method.endswith("_oracle"),
    }
    if results_dir is not None:
        path = record_path(results_dir, record)
        arrays = path.with_suffix(".npz")
        if reuse and path.is_file() and arrays.is_file():
            with np.load(arrays) as z:
                imgs = {k: z[k].astype(np.float64) for k in z.files}
            return RestorationRun(json.loads(path.read_text()), imgs)

    t0 = time.perf_counter()
    images = {"clean": clean, "observed": observed}
    if network:
        torch.manual_seed(seed)  # nothing should draw from it; set for third-party code paths
        cfg = TrainConfig(epochs=prof.epochs, learning_rate=prof.learning_rate, optimizer="adam",
                          eval_every=prof.eval_every, loss_every=prof.loss_every, progress=progress,
                          description=f"{record['image']} {method} {record['variant']}")
        fit = fit_restoration(method, observed, A, cfg, structure=structure, alpha=prof.alpha, beta=prof.beta,
                              lam=prof.lam, seed=seed, n_grades=prof.n_grades, clean=clean, device=dev)
        images.update(fit.images)
        final = list(fit.images.values())[-1]
        record["diverged"] = any(hh.diverged for hh in fit.histories)
        record["scales"] = fit.scales
        hist_rows, flat_e, flat_p, offset = [], [], [], 0
        for i, hh in enumerate(fit.histories):
            ps = hh.metrics.get("psnr", [])
            hist_rows.append({"grade": i + 1 if method == "MGDL" else None, "scale": fit.scales[i],
                              "loss_epochs": hh.loss_epochs, "loss": hh.loss, "eval_epochs": hh.eval_epochs,
                              "psnr": ps, "diverged_epoch": hh.diverged_epoch, "seconds": hh.seconds})
            flat_e += [offset + e for e in hh.eval_epochs]
            flat_p += ps
            offset += hh.epochs_run
        record["history"] = hist_rows
        record["psnr_history"] = {"epochs": flat_e, "psnr": flat_p}
        if method == "MGDL":
            record["psnr_per_grade"] = [
                {"grade": int(k.split()[-1]), "psnr": psnr(clean, v) if np.isfinite(v).all() else None}
                for k, v in fit.images.items()]
        record["epoch_seconds"] = [hh.seconds / max(hh.epochs_run, 1) for hh in fit.histories]
    else:
        from ..baselines.classical import classical_reference

        out, info = classical_reference(method, observed, A, noise_level=noise, clean=clean)
        images[method] = out
        final = out
        record["diverged"] = False
        record["classical"] = info
    record["seconds"] = time.perf_counter() - t0
    record["psnr"] = psnr(clean, final) if np.isfinite(final).all() else None
    record["psnr_observed"] = psnr(clean, observed)
    record.update(provenance(dev))
    if results_dir is not None:
        save_arrays_atomic(record_path(results_dir, record).with_suffix(".npz"), images)
        write_record(results_dir, record)
    return RestorationRun(record, images)


def load_restoration_images(record: dict) -> dict[str, np.ndarray]:
    """The arrays saved beside a record loaded with ``records.load_records`` (needs its ``_path``)."""
    with np.load(Path(record["_path"]).with_suffix(".npz")) as z:
        return {k: z[k].astype(np.float64) for k in z.files}


# ----------------------------------------------------------------------------------------------- tables
def expected_record_path(task: str, image: str, method: str, level: float, profile: str = "cpu", *, seed: int = 0,
                         results_dir: str | os.PathLike = "results") -> Path:
    """Where :func:`run_restoration` writes (and looks for) the record of one experiment; nothing is computed."""
    prof = get_profile(RESTORATION_PROFILES, profile)
    network = method in NETWORK_METHODS
    structure = (prof.sgdl if method == "SGDL" else prof.mgdl) if network else None
    stub = {"task": task, "image": image_label(image), "method": method, "profile": prof.name,
            "structure": structure, "epochs": prof.epochs if network else 0,
            "learning_rate": prof.learning_rate if network else None, "seed": seed,
            "variant": variant_label(task, _check_level(task, level))}
    return record_path(results_dir, stub)


def methods_for(task: str) -> tuple[str, ...]:
    """All methods a chapter reports for ``task``: SGDL, MGDL and the classical references."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    return NETWORK_METHODS + CLASSICAL_METHODS[task]


def point_complete(task: str, image: str, level: float, profile: str = "cpu", *, seed: int = 0,
                   results_dir: str | os.PathLike = "results") -> bool:
    """Whether every method's record (and arrays) of one sweep point exists in ``results_dir``."""
    for m in methods_for(task):
        p = expected_record_path(task, image, m, level, profile, seed=seed, results_dir=results_dir)
        if not (p.is_file() and p.with_suffix(".npz").is_file()):
            return False
    return True


def collect_table(results_dir: str | os.PathLike, task: str, profile: str, *, seed: int = 0
                  ) -> dict[tuple[str, float], dict[str, dict]]:
    """Records of ``task`` / ``profile`` / ``seed`` in ``results_dir``, as ``{(image, level): {method: record}}``.

    ``level`` is the noise level (denoising) or the blur sigma (deblurring).
    """
    from ..experiments.records import load_records

    table: dict[tuple[str, float], dict[str, dict]] = {}
    for rec in load_records(results_dir, task=task, profile=profile, seed=seed):
        level = rec["noise_level"] if task == "denoising" else rec["blur_sigma"]
        table.setdefault((rec["image"], float(level)), {})[rec["method"]] = rec
    return table


def missing_points(results_dir: str | os.PathLike, task: str, profile: str, images, levels=None, *,
                   seed: int = 0) -> list[tuple[str, float]]:
    """The ``(image, level)`` points of the grid whose records are not all in ``results_dir``."""
    levels = LEVELS[task] if levels is None else levels
    return [(im, float(lv)) for im in images for lv in levels
            if not point_complete(task, im, lv, profile, seed=seed, results_dir=results_dir)]


METHOD_LABELS = {"SGDL": "SGDL (29)", "MGDL": "MGDL (33)", "observed": "corrupted input", "tv": "TV (discrepancy)",
                 "tv_oracle": "TV (oracle)", "wiener": "Wiener (discrepancy)", "wiener_oracle": "Wiener (oracle)"}


def format_table(task: str, table: dict[tuple[str, float], dict[str, dict]], images, levels=None,
                 paper: dict | None = None) -> str:
    """A Markdown table in the shape of Table 2 / 3: rows (level, method), for each image our PSNR and the paper's.

    ``table`` is :func:`collect_table`'s output; ``paper`` is ``paper_values.TABLE2`` or ``TABLE3``. Missing
    records show as a dash; oracle rows are labelled as such.
    """
    levels = LEVELS[task] if levels is None else levels
    head = "| " + ("noise" if task == "denoising" else "blur") + " | method | " + " | ".join(
        f"{im} (ours) | {im} (paper)" for im in images) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(images))]
    for lv in levels:
        for m in methods_for(task):
            cells = []
            for im in images:
                rec = table.get((im, float(lv)), {}).get(m)
                ours = "-" if rec is None or rec.get("psnr") is None else f"{rec['psnr']:.2f}"
                pv = (paper or {}).get(im, {}).get(m, {}).get(int(lv)) if m in NETWORK_METHODS else None
                cells += [ours, "" if pv is None else f"{pv:.2f}"]
            lines.append(f"| {lv:g} | {METHOD_LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
