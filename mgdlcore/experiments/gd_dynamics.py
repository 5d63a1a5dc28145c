"""Gradient-descent dynamics at one learning rate (Sec. 5, Figures 1 and 15; Sec. 7, Figures 25-28).

One config is one model trained by full-batch gradient descent (2)/(4) at one learning rate; a learning-rate sweep
is a list of configs, each recorded on its own. Data: the synthetic target of eq. (5) (``setting`` 1 or 2, with
its phases and validation seed) or an image (regression of Sec. 4: trained on every other pixel, tested on all).
Methods (Appendix D): SGDL (26) / MGDL (30) / MSDL on eq. (5), SGDL (28) / MGDL (32) on images. MGDL trains its
grades one after another with ``epochs`` GD steps *per grade* (:func:`~mgdlcore.training.grades.fit_mgdl`).

Tasks: ``"learning_rate"`` (Sec. 5: SGDL and MGDL) and ``"msdl"`` (Sec. 7: MSDL sweeps, and MSDL / MGDL runs
with the eigenvalues of ``I - eta H`` tracked every ``track_every`` epochs through
:func:`~mgdlcore.analysis.hessian.eigen_callback`; for MGDL ``H`` is the Hessian of the current grade's loss).
Beyond the paper: ``"activation"`` (smooth activations against ReLU), ``"msdl_variants"`` (Sec. 7's conjecture:
MSDL with compactly supported activations, ``mgdlcore.models.COMPACT_ACTIVATIONS``, and the deeper, wider
structure ``"msdl-deep"``; the paper's MSDL with ReLU at the same epochs as the reference) and ``"optimizer"`` (the paper's open question
on Adam: Adam, tracked through its iteration matrix ``I - eta P H`` with Adam's preconditioner ``P``, see
:mod:`~mgdlcore.analysis.preconditioned`; mini-batch SGD, an epoch being one step on ``batch_size`` points, tracked
through ``I - eta H`` of the full training loss; and plain GD on the same grid of epochs as the reference).

A run whose loss becomes non-finite is recorded with ``metrics["diverged"] = True`` and ``None`` for its final
values (NaN in Figure 1); it never raises.

Images: ``resample`` says how an image is reduced to ``size`` (longer side): ``"subsample"`` takes every
``s``-th pixel, ``img[::s, ::s]`` with ``s = ceil(longer side / size)`` (the authors' rule where their code reduces
an image: ``img[::2, ::2]`` of the resolution chart in their eigenvalue code), ``"antialias"`` resizes with an
anti-aliasing filter (:func:`~mgdlcore.data.images.resize`). ``invert`` takes ``1 - f`` (the authors invert the resolution
chart in their learning-rate and eigenvalue code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis.curves import oscillation
from ..analysis.hessian import OutputLoss, eigen_callback
from ..analysis.preconditioned import adam_preconditioner
from ..data.grid import regression_data
from ..data.images import MIN_SIDE, ImageError, image_identity, load_identified, resize
from ..data.synthetic import KAPPAS, N_TRAIN, check_phases, synthetic_data
from ..device import resolve_device
from ..metrics import loss_to_psnr, psnr
from ..models import ACTIVATIONS, COMPACT_ACTIVATIONS, INITS
from ..paper.values import (SEC4_REGRESSION_EPOCHS, SEC4_REGRESSION_LR, SEC5_AUTHOR_PHASES, SEC5_IMAGE_EPOCHS,
                            SEC5_IMAGES, SEC5_SYNTHETIC_EPOCHS, SEC6_N_EIGEN, SEC6_TRACK_EVERY, SEC7_TRACKED_LR)
from ..structures import MGDLStructure, MSDLStructure, SGDLStructure, get_structure
from ..training.grades import fit_mgdl, fit_network
from ..training.loop import TrainConfig, half_mse
from .config import ExperimentConfig, omitted_at_default, one_of, positive_float, positive_int, runtime_only
from .runner import Context, Outcome, RecordUnavailable, register, run

METHODS = ("SGDL", "MGDL", "MSDL")
TASK_METHODS = {"learning_rate": ("SGDL", "MGDL"), "msdl": ("MSDL", "MGDL"), "activation": ("SGDL", "MGDL"),
                "optimizer": ("SGDL", "MGDL"), "msdl_variants": ("MSDL",)}
OPTIMIZERS = ("gd", "adam", "sgd")   # full-batch GD (2); Adam; mini-batch SGD (task "optimizer")
# the paper's structures (Appendix D)
SYNTHETIC_STRUCTURES = {"SGDL": "26", "MGDL": "30", "MSDL": "msdl"}
IMAGE_STRUCTURES = {"SGDL": "28", "MGDL": "32"}
STRUCTURE_TYPES = {"SGDL": SGDLStructure, "MGDL": MGDLStructure, "MSDL": MSDLStructure}
RESAMPLE = ("subsample", "antialias")
EIGEN_METHODS = ("dense", "lanczos")
PREDICTION_POINTS = 1001          # synthetic tracked runs: the prediction on linspace(0, 1, 1001) (Figure 27)


@dataclass(frozen=True, kw_only=True)
class GDConfig(ExperimentConfig):
    """One full-batch GD run at one learning rate. Synthetic fields are None for an image, and the converse."""

    KIND = "gd_dynamics"
    TASKS = ("learning_rate", "msdl", "activation", "optimizer", "msdl_variants")

    task: str = "learning_rate"
    method: str = "MGDL"
    # synthetic data of eq. (5)
    setting: int | None = 1                    # 1: kappa = (1, 5.5, 10); 2: kappa = (1, 8.25, ..., 30)
    phase_seed: int | None = 0                 # phases from numpy default_rng(phase_seed) ...
    phases: tuple[float, ...] | None = None    # ... or given (then phase_seed is None)
    val_seed: int | None = 1                   # 1000 uniform validation points from default_rng(val_seed)
    # an image
    image: str | None = None                   # registry name, or "file:<name>" for a user's file
    image_sha256: str | None = None
    size: int | None = None                    # longer side reduced to this (None: native size)
    resample: str | None = None                # "subsample" | "antialias" (None iff size is None)
    invert: bool = False                       # 1 - f (the authors' resolution chart)
    # network and gradient descent
    structure: str = "30"                      # Appendix D equation number, or "msdl"
    learning_rate: float = 0.01                # eta of (2)
    epochs: int = 1000                         # per SGDL / MSDL model and per MGDL grade
    init: str = "he_normal"
    relu_prime_at_zero: int = 1
    activation: str = omitted_at_default("relu")   # "gelu" | "softplus" | "tanh" (task "activation"; beyond the paper)
    optimizer: str = omitted_at_default("gd")      # "adam" | "sgd" (task "optimizer"; beyond the paper)
    batch_size: int | None = omitted_at_default(None)   # points per step of mini-batch SGD (optimizer "sgd")
    eval_every: int = 100                      # training / validation loss every this many epochs
    loss_every: int = 10                       # the per-step training loss of every this many epochs is kept
    track_every: int | None = None             # eigenvalues of I - eta H every this many epochs (None: not tracked)
    n_eigen: int = 10                          # smallest and largest eigenvalues kept per check
    eigen_method: str = "dense"                # "dense" Hessian or "lanczos"
    image_path: str | None = runtime_only()    # where a user's file lies on this machine

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        if self.method not in TASK_METHODS[self.task]:
            raise ValueError(f"method {self.method!r} does not belong to task {self.task!r}; "
                             f"accepted: {', '.join(TASK_METHODS[self.task])}")
        if self.dtype != "float32":
            raise ValueError(f"dtype {self.dtype!r} is not supported here (the networks are built in float32)")
        synthetic = self.image is None
        if synthetic:
            one_of("synthetic setting", self.setting, tuple(KAPPAS))
            if (self.phase_seed is None) == (self.phases is None):
                raise ValueError("give exactly one of phase_seed and phases for the synthetic data")
            if self.phase_seed is not None:
                positive_int("phase_seed", self.phase_seed, minimum=0)
            else:
                check_phases(self.setting, self.phases)
            positive_int("val_seed", self.val_seed, minimum=0)
            for name in ("image_sha256", "size", "resample"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to an image only; it must be None for the synthetic data")
            if self.invert:
                raise ValueError("invert applies to an image only")
        else:
            if self.task not in ("learning_rate", "optimizer"):
                raise ValueError(f"task {self.task!r} runs on the synthetic data only (image must be None)")
            for name in ("setting", "phase_seed", "phases", "val_seed"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to the synthetic data only; it must be None for an image")
            if self.size is None:
                if self.resample is not None:
                    raise ValueError("resample needs a size (an image at its native size is not resampled)")
            else:
                positive_int("size", self.size, minimum=MIN_SIDE)
                one_of("resample", self.resample, RESAMPLE)
            if not isinstance(self.invert, bool):
                raise ValueError(f"invert must be True or False, got {self.invert!r}")
        s = get_structure(self.structure)
        if not isinstance(s, STRUCTURE_TYPES[self.method]) or s.input_dim != (1 if synthetic else 2):
            raise ValueError(f"structure ({self.structure}) is not a {1 if synthetic else 2}-D-input "
                             f"{self.method} structure")
        positive_float("learning_rate", self.learning_rate)
        positive_int("epochs", self.epochs)
        positive_int("eval_every", self.eval_every)
        positive_int("loss_every", self.loss_every)
        one_of("init", self.init, INITS)
        one_of("relu_prime_at_zero", self.relu_prime_at_zero, (0, 1))
        if self.method == "MSDL":
            if self.activation != "relu" and self.task != "msdl_variants":
                raise ValueError(f"activation {self.activation!r} of MSDL belongs to task 'msdl_variants'")
            one_of("activation", self.activation, ("relu", *COMPACT_ACTIVATIONS))
        else:
            one_of("activation", self.activation, ACTIVATIONS)
            if self.activation != "relu" and self.image is not None:
                raise ValueError(f"activation {self.activation!r} applies to SGDL and MGDL on the synthetic data only")
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        if self.optimizer != "gd" and self.task != "optimizer":
            raise ValueError(f"optimizer {self.optimizer!r} belongs to task 'optimizer' (task {self.task!r} runs "
                             "full-batch GD, eq. (2))")
        if (self.optimizer == "sgd") != (self.batch_size is not None):
            raise ValueError("batch_size is needed for optimizer 'sgd' (mini-batch SGD) and only for it")
        if self.batch_size is not None:
            positive_int("batch_size", self.batch_size)
            if synthetic and self.batch_size > N_TRAIN:
                raise ValueError(f"batch_size {self.batch_size} exceeds the {N_TRAIN} training points of eq. (5)")
        if self.track_every is not None:
            positive_int("track_every", self.track_every)
            if self.track_every % self.eval_every:
                raise ValueError(f"track_every ({self.track_every}) must be a multiple of eval_every "
                                 f"({self.eval_every})")
        positive_int("n_eigen", self.n_eigen)
        one_of("eigen_method", self.eigen_method, EIGEN_METHODS)

    def subject(self) -> str:
        if self.task == "msdl_variants":
            return f"setting{self.setting}-{self.structure}-{self.activation}"
        if self.task == "optimizer":
            base = self.image if self.image is not None else f"setting{self.setting}"
            return f"{base}-{self.optimizer}{self.batch_size or ''}"
        if self.image is not None:
            return self.image
        return f"setting{self.setting}" + (f"-{self.activation}" if self.task == "activation" else "")


# ------------------------------------------------------------------------------------------------ compute
def subsample(image: np.ndarray, size: int) -> np.ndarray:
    """``image[::s, ::s]`` with ``s = ceil(longer side / size)``: every ``s``-th pixel, no filtering."""
    s = max(1, math.ceil(max(image.shape) / size))
    return image[::s, ::s]


def load_config_image(config: GDConfig) -> np.ndarray:
    """The image ``config`` names, reduced by its ``resample`` rule and inverted if asked."""
    img = load_identified(config.image, config.image_sha256, config.image_path)
    if config.resample == "subsample":
        img = subsample(img, config.size)
    elif config.resample == "antialias":
        img = resize(img, config.size)
    if min(img.shape) < MIN_SIDE:
        raise ImageError(f"{config.image}: reduced to {img.shape}, a side below {MIN_SIDE} pixels; use a larger size")
    return 1.0 - img if config.invert else img


class _EigenTrack:
    """Calls an ``eigen_callback`` every ``every`` epochs and at the end; keeps the results with their epochs.
    ``optimizer`` is the training's optimiser (given by ``training.train``), for a preconditioned spectrum."""

    def __init__(self, cb, every: int, last: int, net: torch.nn.Module):
        self.cb, self.every, self.last, self.net = cb, every, last, net
        self.epochs: list[int] = []
        self.values: dict[str, list[float]] = {}
        self.optimizer = None

    def bind_optimizer(self, optimizer) -> None:
        self.optimizer = optimizer

    def __call__(self, epoch: int) -> None:
        if epoch % self.every and epoch != self.last:
            return None
        if not all(bool(torch.isfinite(p).all()) for p in self.net.parameters()):
            return None                      # parameters overflowed: nothing to compute (the run has diverged)
        values = self.cb(epoch)
        if not values:                       # not defined at this epoch (Adam's preconditioner before its first step)
            return None
        self.epochs.append(epoch)
        for k, v in values.items():
            self.values.setdefault(k, []).append(float(v))
        return None

    def state_dict(self) -> dict:
        """The eigenvalues so far (plain data), for checkpoints inside a run."""
        return {"epochs": list(self.epochs), "values": {k: list(v) for k, v in self.values.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.epochs, self.values = list(state["epochs"]), {k: list(v) for k, v in state["values"].items()}

    def series(self, k: int) -> dict:
        v = self.values
        if not self.epochs:
            return {"eig_epochs": [], "eig_min": [], "eig_max": [], "n_le_minus1": [], "n_near_minus1": []}
        return {"eig_epochs": self.epochs,
                "eig_min": [list(row) for row in zip(*(v[f"eig_min_{j}"] for j in range(k)))],
                "eig_max": [list(row) for row in zip(*(v[f"eig_max_{j}"] for j in range(k)))],
                "n_le_minus1": v.get("n_le_minus1", []), "n_near_minus1": v.get("n_near_minus1", [])}


def _eigen_summary(grades: list[dict]) -> dict:
    """Lowest eigenvalue of ``I - eta H`` seen, most eigenvalues <= -1 at one check, share of checks whose
    smallest eigenvalue is <= -1 (all grades), and the number of checks."""
    mins = [row[0] for g in grades for row in g.get("eig_min", [])]
    counts = [c for g in grades for c in g.get("n_le_minus1", [])]
    if not mins:
        return {"eig_min": None, "max_n_le_minus1": None, "frac_below_minus1": None, "n_checks": 0}
    return {"eig_min": float(min(mins)), "max_n_le_minus1": int(max(counts)) if counts else None,
            "frac_below_minus1": float(np.mean(np.asarray(mins) <= -1.0)), "n_checks": len(mins)}


def _finite(v) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def compute(config: GDConfig, ctx: Context) -> Outcome:
    """Train ``config.method`` by GD at ``config.learning_rate``; final losses, oscillation, eigenvalue tracks."""
    dtype = getattr(torch, config.dtype)
    metrics: dict = {}
    series: dict = {}
    if config.image is None:
        data = synthetic_data(config.setting, phase_seed=config.phase_seed or 0, phases=config.phases,
                              val_seed=config.val_seed, device=ctx.device, dtype=dtype)
        x, y = data.x_train, data.y_train
        evals = {"train": (x, y), "val": (data.x_val, data.y_val)}
        series.update(kappa=list(data.kappa), phases=list(data.phases))
        metrics.update(n_train=x.shape[0], n_val=data.x_val.shape[0])
    else:
        img = load_config_image(config)
        data = regression_data(img, ctx.device, dtype=dtype)
        x, y = data.x["train"], data.y["train"]
        evals = {"train": (x, y), "val": (data.x["val"], data.y["val"])}
        metrics.update(n_train=x.shape[0], height=img.shape[0], width=img.shape[1])
    metrics["zero_predictor_loss"] = float(half_mse(y, torch.zeros_like(y)))
    structure = get_structure(config.structure)
    cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate,
                      optimizer="adam" if config.optimizer == "adam" else "gd",
                      eval_every=config.eval_every, loss_every=config.loss_every, progress=ctx.progress,
                      description=f"{config.subject()} {config.method} lr={config.learning_rate:g}")
    kw = dict(seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero, eval_sets=evals)
    if config.activation != "relu":
        kw["activation"] = config.activation
    if config.batch_size is not None:
        kw["batch_size"] = config.batch_size
    tracks: list[_EigenTrack] = []

    def tracker(net, features, target):
        if config.track_every is None:
            return []
        track = _EigenTrack(None, config.track_every, config.epochs, net)
        precondition = (lambda: adam_preconditioner(track.optimizer, net)) if config.optimizer == "adam" else None
        track.cb = eigen_callback(net, OutputLoss(features, lambda out: half_mse(target, out)), config.learning_rate,
                                  k=config.n_eigen, method=config.eigen_method, preconditioner=precondition)
        tracks.append(track)
        return [track]

    if config.method == "MGDL":
        model, results = fit_mgdl(structure, x, y, cfg, grade_callbacks=lambda g, net, f, r: tracker(net, f, r), **kw)
        histories = [r.history for r in results]
        n_params = [sum(p.numel() for p in g.parameters()) for g in model.grades]
        complete = len(results) == structure.n_grades
    else:
        model, hist = fit_network(structure, x, y, cfg, callbacks=lambda net: tracker(net, x, y), **kw)
        histories, n_params, complete = [hist], [sum(p.numel() for p in model.parameters())], True

    grades = []
    for i, h in enumerate(histories):
        g = {"grade": i + 1 if config.method == "MGDL" else None, "n_parameters": n_params[i],
             "loss_epochs": h.loss_epochs, "loss": h.loss, "eval_epochs": h.eval_epochs,
             "train_loss": h.metrics.get("train_loss", []), "val_loss": h.metrics.get("val_loss", []),
             "diverged_epoch": h.diverged_epoch, "epochs_run": h.epochs_run, "seconds": h.seconds}
        if tracks:
            g.update(tracks[i].series(config.n_eigen))
        grades.append(g)
    series["grades"] = grades

    diverged = any(h.diverged for h in histories)
    last = grades[-1]
    final_train = None if diverged or not last["train_loss"] else _finite(last["train_loss"][-1])
    final_val = None if diverged or not last["val_loss"] else _finite(last["val_loss"][-1])
    diverged = diverged or final_train is None or not complete   # a non-finite final loss counts as divergence
    metrics.update(
        diverged=diverged,
        diverged_grade=next((i + 1 for i, h in enumerate(histories) if h.diverged), None)
        if config.method == "MGDL" else None,
        diverged_epoch=next((h.diverged_epoch for h in histories if h.diverged), None),
        final_train_loss=None if diverged else final_train,
        final_val_loss=None if diverged else final_val,
        n_parameters=sum(n_params),
    )
    osc = oscillation([g["loss"] for g in grades])
    metrics.update(frac_increases=osc["frac_increases"], max_jump=osc["max_jump"])
    if tracks:
        metrics.update(_eigen_summary(grades))

    arrays: dict[str, np.ndarray] = {}
    if config.image is not None:
        pred = None
        if not diverged:
            with torch.no_grad():
                pred = data.as_image(model(data.x["test"]))
        good = pred is not None and bool(np.isfinite(pred).all())
        metrics.update(psnr_test=psnr(img, pred) if good else None,
                       psnr_train=loss_to_psnr(metrics["final_train_loss"]) if good else None,
                       psnr_val=loss_to_psnr(metrics["final_val_loss"]) if good else None)
    elif tracks and not diverged:
        grid = torch.linspace(0.0, 1.0, PREDICTION_POINTS, device=ctx.device, dtype=dtype)[:, None]
        with torch.no_grad():
            arrays["prediction"] = model(grid)[:, 0].double().cpu().numpy()
    return Outcome(metrics=metrics, series=series, arrays=arrays)


register(GDConfig, compute, tolerances={"final_train_loss": 1e-4, "final_val_loss": 1e-4, "psnr_test": 0.1,
                                        "psnr_train": 0.1, "psnr_val": 0.1, "eig_min": 0.05})


# ------------------------------------------------------------------------------------------------ profiles
_SYN_LRS = (0.001, 0.003, 0.006, 0.01, 0.03, 0.06, 0.1, 0.3, 0.5)
# task "optimizer" on eq. (5): (optimizer, learning rate, batch size); GD at 0.1 is the reference (its SGDL spectrum
# leaves (-1, 1) there), Adam at its usual rate and ten times it, mini-batch SGD at GD's rate on 64 of 1,024 points
_OPT_RUNS = (("gd", 0.1, None), ("adam", 0.001, None), ("adam", 0.01, None), ("sgd", 0.1, 64))
# task "msdl_variants": the paper's MSDL and a deeper, wider one, each with ReLU and the compactly supported activations
# (tracked: dense Hessian for "msdl", 964 parameters; Lanczos for "msdl-deep", 5,636, whose dense Hessian by autodiff
# takes minutes per check on a CPU and, with the B-spline, more memory (about 23 GB) than a 24 GB machine has; on a
# GPU the dense Hessian for both: at the edge of stability a Lanczos check of both ends takes about 6,000
# Hessian-vector products of thousands of small kernels each, hours per run, where the dense one takes seconds)
_VAR_STRUCTURES = ("msdl", "msdl-deep")
_VAR_ACTS = ("relu", *COMPACT_ACTIVATIONS)
PROFILE_SETTINGS = {
    # synthetic: GD epochs per model / grade (paper: 10^6) and learning rates (paper: from [0.001, 0.5]);
    # images: epochs (paper: 10^5), longer side and reduction rule (paper: native size), learning rates
    # (paper: from [0.001, 1]); tracked runs (Sec. 7): epochs, eigenvalues every track_every epochs (paper: 10^4);
    # phases: the authors' phases of eq. (5) ("legacy" threefry, the JAX default before 0.5; see SEC5_AUTHOR_PHASES),
    # None: numpy's from phase_seed; paper: the loss kept every 1,000 epochs (1,001 values per model or grade over
    # 10^6 epochs, so a record stays near 100 kB)
    "paper": dict(settings=(1, 2), synthetic_epochs=SEC5_SYNTHETIC_EPOCHS,
                  synthetic_lrs=(0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06,
                                 0.08, 0.1, 0.2, 0.3, 0.4, 0.5),
                  image_epochs=SEC5_IMAGE_EPOCHS, image_size=None, resample=None,
                  image_lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0), images=SEC5_IMAGES,
                  track_epochs=SEC5_SYNTHETIC_EPOCHS, track_every=SEC6_TRACK_EVERY, eval_every=1_000, loss_every=1_000,
                  n_eigen=SEC6_N_EIGEN, phases="legacy",
                  act_settings=(1, 2), act_list=ACTIVATIONS, act_epochs=SEC5_SYNTHETIC_EPOCHS,
                  act_lrs=(0.01, 0.1, 0.3, 0.5), act_track_lr=0.1, act_track_every=SEC6_TRACK_EVERY,
                  opt_settings=(1, 2), opt_runs=_OPT_RUNS, opt_epochs=SEC5_SYNTHETIC_EPOCHS,
                  opt_eval_every=1_000, opt_track_every=SEC6_TRACK_EVERY, opt_images=("cameraman",),
                  opt_image_epochs=SEC4_REGRESSION_EPOCHS, opt_image_size=None, opt_image_track_every=1_000,
                  var_settings=(1, 2), var_structures=_VAR_STRUCTURES, var_acts=_VAR_ACTS,
                  var_epochs=SEC5_SYNTHETIC_EPOCHS, var_lrs=(0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
                                                              0.02, 0.03, 0.05, 0.1),
                  var_track_every=SEC6_TRACK_EVERY),
    "cpu": dict(settings=(1, 2), synthetic_epochs=10_000, synthetic_lrs=_SYN_LRS,
                image_epochs=2_000, image_size=64, resample="subsample",
                image_lrs=(0.001, 0.01, 0.03, 0.1, 0.3, 1.0), images=SEC5_IMAGES,
                track_epochs=10_000, track_every=1_000, eval_every=100, loss_every=10, n_eigen=10,
                act_settings=(1,), act_list=ACTIVATIONS, act_epochs=3_000, act_lrs=(0.01, 0.1, 0.3, 0.5),
                act_track_lr=0.1, act_track_every=1_000,
                opt_settings=(1, 2), opt_runs=_OPT_RUNS, opt_epochs=3_000, opt_eval_every=50, opt_track_every=250,
                opt_images=("cameraman",), opt_image_epochs=3_000, opt_image_size=128, opt_image_track_every=1_000,
                var_settings=(1, 2), var_structures=_VAR_STRUCTURES, var_acts=_VAR_ACTS, var_epochs=3_000,
                var_lrs=(0.001, 0.003, 0.006, 0.01, 0.03, 0.06, 0.1), var_track_every=500),
    "smoke": dict(settings=(1,), synthetic_epochs=60, synthetic_lrs=(0.01, 0.1, 0.5),
                  image_epochs=10, image_size=16, resample="subsample", image_lrs=(0.01, 1.0),
                  images=("resolution_chart",),
                  track_epochs=20, track_every=20, eval_every=20, loss_every=5, n_eigen=5,
                  act_settings=(1,), act_list=("relu", "tanh"), act_epochs=40, act_lrs=(0.1,), act_track_lr=0.1,
                  act_track_every=40,
                  opt_settings=(1,), opt_runs=(("gd", 0.1, None), ("adam", 0.01, None), ("sgd", 0.1, 64)),
                  opt_epochs=40, opt_eval_every=20, opt_track_every=40, opt_images=(), opt_image_epochs=10,
                  opt_image_size=16, opt_image_track_every=10,
                  var_settings=(1,), var_structures=("msdl",), var_acts=("relu", "srelu"), var_epochs=40,
                  var_lrs=(0.01,), var_track_every=40),
}


def _setting(subject) -> int | None:
    """1 or 2 for a synthetic subject (``1``, ``"1"``, ``"setting1"``), None for an image."""
    text = str(subject)
    text = text[len("setting"):] if text.startswith("setting") else text
    return int(text) if text in ("1", "2") else None


def make_config(task: str, subject, method: str, learning_rate: float, profile: str, *, tracked: bool = False,
                seed: int = 0, device: str = "auto", **overrides) -> GDConfig:
    """The config of one run under ``profile``: ``subject`` is a synthetic setting (1, 2 or ``"setting1"``) or an
    image (registry name or path). ``tracked`` adds the eigenvalue tracks of Sec. 7. ``overrides`` replace fields.

    Initialisation as in the authors' code: He-normal weights, zero biases and ReLU'(0) = 1 on eq. (5);
    Glorot-normal weights and N(0, 0.01^2) biases (JAX ``stax`` defaults) and ReLU'(0) = 0 on images.
    """
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("task", task, GDConfig.TASKS)
    one_of("method", method, METHODS)
    s = PROFILE_SETTINGS[profile]
    setting = _setting(subject)
    fields = dict(task=task, method=method, learning_rate=float(learning_rate), seed=seed,
                  device=resolve_device(device).type, eval_every=s["eval_every"], loss_every=s["loss_every"],
                  n_eigen=s["n_eigen"])
    if setting is not None:
        fields.update(setting=setting, structure=SYNTHETIC_STRUCTURES[method], init="he_normal", relu_prime_at_zero=1,
                      epochs=s["track_epochs"] if tracked else s["synthetic_epochs"])
        if s.get("phases"):      # the authors' phases of eq. (5) instead of numpy's (see SEC5_AUTHOR_PHASES)
            fields.update(phase_seed=None, phases=tuple(SEC5_AUTHOR_PHASES[s["phases"]][setting]))
    else:
        if method not in IMAGE_STRUCTURES:
            raise ValueError(f"method {method!r} runs on the synthetic data only; accepted for images: "
                             f"{', '.join(IMAGE_STRUCTURES)}")
        label, sha, path = image_identity(subject)
        fields.update(setting=None, phase_seed=None, val_seed=None, image=label, image_sha256=sha, image_path=path,
                      size=s["image_size"], resample=s["resample"], invert=label == "resolution_chart",
                      structure=IMAGE_STRUCTURES[method], init="glorot_normal", relu_prime_at_zero=0,
                      epochs=s["image_epochs"])
    if tracked:
        fields["track_every"] = s["track_every"]
    fields.update(overrides)
    return GDConfig(**fields)


def configs(profile: str, tasks: Sequence[str] = GDConfig.TASKS, *, settings: Sequence[int] | None = None,
            images: Sequence[str] | None = None, seed: int = 0, device: str = "auto") -> list[GDConfig]:
    """The runs of ``profile``: synthetic sweeps of Sec. 5 (SGDL, MGDL), then Sec. 7 (MSDL sweeps, and MSDL / MGDL
    at the paper's learning rates with eigenvalues tracked), then smooth activations against ReLU (task
    ``"activation"``, beyond the paper: a sweep and one tracked run per network and activation), then MSDL variants
    (task ``"msdl_variants"``, beyond the paper: a sweep and one tracked run per structure and activation), then Adam and
    mini-batch SGD against GD (task ``"optimizer"``, beyond the paper: tracked runs on eq. (5) and Table 1's
    regression with Adam), then the image sweeps of Sec. 5 (Figure 15).
    ``settings`` / ``images`` None: the profile's."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    for t in tasks:
        one_of("task", t, GDConfig.TASKS)
    s = PROFILE_SETTINGS[profile]
    settings = s["settings"] if settings is None else settings
    kw = dict(seed=seed, device=device)
    out = []
    if "learning_rate" in tasks:
        out += [make_config("learning_rate", st, m, lr, profile, **kw)
                for st in settings for m in ("SGDL", "MGDL") for lr in s["synthetic_lrs"]]
    if "msdl" in tasks:
        for st in settings:
            out += [make_config("msdl", st, "MSDL", lr, profile, **kw) for lr in s["synthetic_lrs"]]
            out += [make_config("msdl", st, m, SEC7_TRACKED_LR[(st, m)], profile, tracked=True, **kw)
                    for m in ("MSDL", "MGDL")]
    if "activation" in tasks:   # beyond the paper: smooth activations against ReLU (Theorems 1-2 assume C^2)
        for st in (st for st in s["act_settings"] if st in settings):
            for m in ("SGDL", "MGDL"):
                for act in s["act_list"]:
                    common = dict(activation=act, epochs=s["act_epochs"], **kw)
                    out += [make_config("activation", st, m, lr, profile, **common) for lr in s["act_lrs"]]
                    out.append(make_config("activation", st, m, s["act_track_lr"], profile, tracked=True,
                                           track_every=s["act_track_every"], **common))
    if "msdl_variants" in tasks:   # beyond the paper: Sec. 7's conjecture (a sweep and one tracked run per variant)
        for st in (st for st in s["var_settings"] if st in settings):
            for struct in s["var_structures"]:
                for act in s["var_acts"]:
                    common = dict(structure=struct, activation=act, epochs=s["var_epochs"], **kw)
                    out += [make_config("msdl_variants", st, "MSDL", lr, profile, **common) for lr in s["var_lrs"]]
                    tracked = make_config("msdl_variants", st, "MSDL", SEC7_TRACKED_LR[(st, "MSDL")], profile,
                                          tracked=True, track_every=s["var_track_every"], **common)
                    out.append(for_device(tracked, tracked.device))
    if "optimizer" in tasks:    # beyond the paper: Adam (I - eta P H) and mini-batch SGD against GD
        for st in (st for st in s["opt_settings"] if st in settings):
            out += [make_config("optimizer", st, m, lr, profile, tracked=True, optimizer=opt, batch_size=bs,
                                epochs=s["opt_epochs"], eval_every=s["opt_eval_every"],
                                track_every=s["opt_track_every"], **kw)
                    for m in ("SGDL", "MGDL") for opt, lr, bs in s["opt_runs"]]
        for im in s["opt_images"]:   # Table 1's regression: Adam at its rate
            out += [make_config("optimizer", im, m, SEC4_REGRESSION_LR, profile, tracked=True, optimizer="adam",
                                epochs=s["opt_image_epochs"], size=s["opt_image_size"],
                                resample=None if s["opt_image_size"] is None else "antialias",
                                track_every=s["opt_image_track_every"], eigen_method="lanczos", **kw)
                    for m in IMAGE_STRUCTURES]
    if "learning_rate" in tasks:
        out += [make_config("learning_rate", im, m, lr, profile, **kw)
                for im in (s["images"] if images is None else images) for m in IMAGE_STRUCTURES for lr in s["image_lrs"]]
    return out


def for_device(config: GDConfig, device: str) -> GDConfig:
    """``config`` as the profiles list it for a run on ``device`` (``"cpu"`` or ``"cuda"``): the device, and for a
    tracked run of Sec. 7's deeper, wider variant the eigenvalue method (Lanczos on a CPU, the dense Hessian on a
    GPU; see ``_VAR_STRUCTURES``). ``mgdl-campaign --plan --device cuda`` on a machine without a GPU plans with it."""
    from dataclasses import replace

    method = config.eigen_method
    if config.task == "msdl_variants" and config.track_every and config.structure == "msdl-deep":
        method = "dense" if device == "cuda" else "lanczos"
    return replace(config, device=device, eigen_method=method)


def run_all(configs: Sequence[GDConfig], *, results_dir, profile: str, train: str = "missing",
            progress: bool = False) -> tuple[list, list[str]]:
    """The records of ``configs`` (in order; those without one left out) and, for each config without a record
    (``train="never"``), one line saying which and why."""
    records, pending = [], []
    for config in configs:
        try:
            records.append(run(config, results_dir=results_dir, profile=profile, train=train, progress=progress))
        except RecordUnavailable as exc:
            pending.append(str(exc))
    return records, pending
