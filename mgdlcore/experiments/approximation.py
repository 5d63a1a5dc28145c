"""Multigrade approximation (beyond the paper; the 2026 abstract "Multigrade Neural Network Approximation").

The abstract proves that for any continuous target ``f`` there *exists* a fixed-width multigrade ReLU scheme whose
residuals ``e_k = f - sum_{j<=k} g_j`` decrease strictly across grades and converge uniformly to zero. This kind
measures what *training* does with such a scheme: MGDL (Sec. 3, eqs. (3)-(4)) with many grades of one fixed width,
each grade a shallow ReLU network (``grade_depth`` hidden layers of ``width`` units, one as in the paper's (30) and
(31)) that reads the frozen last hidden layer of the previous grade and is trained on the current residual by the
loss (3). The reference is the SGDL network with the same widths and hidden layers (the MGDL network unrolled:
``n_grades * grade_depth`` hidden layers of ``width``; it lacks only the ``n_grades - 1`` intermediate output
layers) trained end to end for the same total number of epochs, ``n_grades * epochs``.

Per step ``k`` (MGDL: after grade ``k``; SGDL: after ``k * epochs`` epochs; step 0: the zero predictor for MGDL, the
initial network for SGDL) the record holds the residual on a *dense* grid of ``n_dense`` points per axis (not only
the training points): its sup norm ``max |e_k|`` and its L2 norm ``sqrt(mean e_k^2)`` (the L2([0, 1]^d) norm by the
equal-weight rule on the grid), whether each decreased strictly, the training loss (3), and the settings that could
explain a failure (learning rate, grade depth, initialisation; for MGDL also the dead units and the rank of the
features each grade passes on). Targets: :mod:`mgdlcore.data.functions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..data.functions import TARGETS, TARGETS_1D, dimension, grid, make_target
from ..data.images import MIN_SIDE, REGISTRY, image_identity, load_identified
from ..device import resolve_device
from ..models import INITS
from ..structures import MGDLStructure, SGDLStructure
from ..training.grades import fit_mgdl, fit_network
from ..training.loop import TrainConfig, half_mse
from .config import ExperimentConfig, one_of, positive_float, positive_int
from .runner import Context, Outcome, register

METHODS = ("MGDL", "SGDL")
OPTIMIZERS = ("adam", "gd")
PLOT_POINTS_1D = 1025        # per-grade predictions kept for figures: every 4th point of the 4097-point dense grid
PLOT_SIDE_2D = 129           # 2D arrays kept for figures: at most 129 x 129 (a 257-point grid, every other point)


@dataclass(frozen=True, kw_only=True)
class ApproximationConfig(ExperimentConfig):
    """One fit of a continuous target by fixed-width MGDL with many grades, or by the matched SGDL."""

    KIND = "approximation"
    TASKS = ("approximation",)
    LABEL_FIELDS = ("learning_rate", "grade_depth", "init", "width", "n_grades", "epochs", "seed")

    task: str = "approximation"
    method: str = "MGDL"
    target: str = "sine"                       # sine | kink | setting2 (1D); surface | image (2D)
    phase_seed: int | None = None              # setting2: phases of eq. (5) from default_rng(phase_seed)
    image: str | None = None                   # target "image": registry name
    image_sha256: str | None = None
    size: int | None = None                    # target "image": longer side reduced to this (anti-aliased)
    n_train: int | None = 1024                 # training points (2D: per axis); None for the image (its pixels)
    n_dense: int = 4097                        # dense evaluation grid, points per axis (> training points)
    width: int = 32                            # units of every hidden layer of every grade ((30): 32, (31): 48)
    grade_depth: int = 1                       # hidden layers per grade (the abstract's scheme: 1)
    n_grades: int = 16                         # MGDL grades; SGDL: n_grades * grade_depth hidden layers
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    epochs: int = 2000                         # per MGDL grade; SGDL trains n_grades * epochs in all
    init: str = "he_normal"
    relu_prime_at_zero: int = 0
    loss_every: int = 10                       # training loss of every this many epochs kept in the record

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        one_of("target", self.target, TARGETS)
        if self.dtype != "float32":
            raise ValueError(f"dtype {self.dtype!r} is not supported here (the networks are built in float32)")
        if self.target == "setting2":
            positive_int("phase_seed", self.phase_seed, minimum=0)
        elif self.phase_seed is not None:
            raise ValueError(f"phase_seed applies to the target 'setting2' only; it must be None for {self.target!r}")
        if self.target == "image":
            if self.image not in REGISTRY:
                raise ValueError(f"target 'image' needs a registry image; accepted: {', '.join(REGISTRY)}, "
                                 f"got {self.image!r}")
            positive_int("size", self.size, minimum=MIN_SIDE)
            if self.n_train is not None:
                raise ValueError("n_train must be None for the target 'image' (its pixels are the training points)")
        else:
            for name in ("image", "image_sha256", "size"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to the target 'image' only; it must be None for {self.target!r}")
            positive_int("n_train", self.n_train, minimum=2)
        positive_int("n_dense", self.n_dense, minimum=3)
        train_side = self.size if self.target == "image" else self.n_train
        if self.n_dense <= train_side:
            raise ValueError(f"n_dense ({self.n_dense}) must exceed the training points per axis ({train_side}): "
                             "the sup norm is taken on a grid denser than the training points")
        positive_int("width", self.width)
        positive_int("grade_depth", self.grade_depth)
        positive_int("n_grades", self.n_grades)
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        positive_float("learning_rate", self.learning_rate)
        positive_int("epochs", self.epochs)
        positive_int("loss_every", self.loss_every)
        one_of("init", self.init, INITS)
        one_of("relu_prime_at_zero", self.relu_prime_at_zero, (0, 1))

    @property
    def dim(self) -> int:
        return dimension(self.target)

    def subject(self) -> str:
        return self.image if self.target == "image" else self.target

    def mgdl_structure(self) -> MGDLStructure:
        """``n_grades`` grades of ``grade_depth`` hidden layers of ``width`` (Appendix D notation, as (30)/(31))."""
        return MGDLStructure("approx", self.dim, ((self.width,) * self.grade_depth,) * self.n_grades)

    def sgdl_structure(self) -> SGDLStructure:
        """The MGDL network unrolled: ``n_grades * grade_depth`` hidden layers of ``width``, trained end to end."""
        return SGDLStructure("approx", self.dim, (self.width,) * (self.n_grades * self.grade_depth))


# ------------------------------------------------------------------------------------------------ residuals
def residual_norms(target: np.ndarray, prediction: np.ndarray) -> tuple[float | None, float | None]:
    """``(max |f - g|, sqrt(mean (f - g)^2))`` over the points given, in float64; ``(None, None)`` when the
    prediction is not finite (a diverged run)."""
    r = np.asarray(target, dtype=np.float64).ravel() - np.asarray(prediction, dtype=np.float64).ravel()
    if r.size == 0:
        raise ValueError("residual_norms needs at least one point")
    if not np.isfinite(r).all():
        return None, None
    return float(np.max(np.abs(r))), float(np.sqrt(np.mean(r * r)))


def strict_decreases(values: Sequence[float | None]) -> list[bool | None]:
    """For steps 1..K: whether ``values[k] < values[k - 1]`` strictly (None where either is missing)."""
    return [None if a is None or b is None else bool(b < a) for a, b in zip(values[:-1], values[1:])]


def _relative_changes(values: Sequence[float | None]) -> list[float | None]:
    return [None if a is None or b is None or a == 0 else (b - a) / a for a, b in zip(values[:-1], values[1:])]


@dataclass
class _Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_dense: torch.Tensor
    y_dense: torch.Tensor        # the target on the dense grid, as the networks see it
    f_dense: np.ndarray          # float64 target on the dense grid
    dense_shape: tuple[int, ...]
    notes: dict


def build_data(config: ApproximationConfig, device: torch.device | str = "cpu") -> _Data:
    """Training points and targets (float32 tensors) and the dense grid with the float64 target values."""
    dtype = getattr(torch, config.dtype)
    notes: dict = {}
    if config.target == "image":
        img = load_identified(config.image, config.image_sha256, None, size=config.size)
        target = make_target("image", image=img)
        h, w = img.shape
        a, b = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        x_train = np.stack([a.ravel(), b.ravel()], axis=1)
        y_train = img.ravel()
        notes.update(height=h, width_px=w)
    else:
        target = make_target(config.target, phase_seed=config.phase_seed)
        x_train = grid(config.dim, config.n_train)
        y_train = target(x_train)
    x_dense = grid(config.dim, config.n_dense)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    f_dense = target(x_dense)
    return _Data(t(x_train), t(y_train[:, None]), t(x_dense), t(f_dense[:, None]), f_dense,
                 (config.n_dense,) * config.dim, notes)


def _to_numpy(pred: torch.Tensor) -> np.ndarray:
    return pred.detach().cpu().double().numpy().ravel()


def _plot_view(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Dense-grid values thinned for figures: 1D every ``step``-th point (about PLOT_POINTS_1D), 2D a grid of at
    most PLOT_SIDE_2D per axis."""
    v = values.reshape(shape)
    if len(shape) == 1:
        step = max(1, (shape[0] - 1) // (PLOT_POINTS_1D - 1))
        return v[::step]
    step = max(1, math.ceil((shape[0] - 1) / (PLOT_SIDE_2D - 1)))
    return v[::step, ::step]


def _feature_diagnostics(grade: torch.nn.Module, features_in: torch.Tensor) -> dict:
    """Of the features a grade passes on (its last hidden layer) on the dense grid: the units that are zero at
    every point (dead), and the numerical rank of ``[features, 1]``."""
    with torch.no_grad():
        h = grade.features(features_in)
    dead = int((h.max(dim=0).values <= 0).sum())
    rank = int(torch.linalg.matrix_rank(torch.cat([h, torch.ones_like(h[:, :1])], 1).double()))
    return {"dead_units": dead, "feature_rank": rank}


def _summary(sup: list, l2: list) -> dict:
    """Scalars from the residual norms per step (index 0: before the first grade / at initialisation)."""
    dsup, dl2 = strict_decreases(sup), strict_decreases(l2)
    finite = [s for s in sup[1:] if s is not None]
    first_fail = next((k for k, d in enumerate(dsup, start=1) if not d), None)
    return {"n_steps": len(sup) - 1,
            "sup_initial": sup[0], "l2_initial": l2[0],
            "sup_final": sup[-1], "l2_final": l2[-1],
            "sup_best": min(finite) if finite else None,
            "n_sup_decreases": sum(bool(d) for d in dsup), "n_l2_decreases": sum(bool(d) for d in dl2),
            "n_sup_increases": sum(d is False and a is not None and b is not None and b > a
                                   for d, a, b in zip(dsup, sup[:-1], sup[1:])),
            "n_l2_increases": sum(d is False and a is not None and b is not None and b > a
                                  for d, a, b in zip(dl2, l2[:-1], l2[1:])),
            "first_sup_nondecrease": first_fail,
            "sup_strictly_decreasing": all(bool(d) for d in dsup),
            "l2_strictly_decreasing": all(bool(d) for d in dl2)}


def compute(config: ApproximationConfig, ctx: Context) -> Outcome:
    """Fit the target by MGDL (grade by grade) or the matched SGDL; residual norms on the dense grid per step."""
    data = build_data(config, ctx.device)
    f_dense = data.f_dense
    zero_sup, zero_l2 = residual_norms(f_dense, np.zeros_like(f_dense))
    metrics: dict = {"n_train": int(data.x_train.shape[0]), "n_dense_points": int(f_dense.size),
                     "target_sup": zero_sup, "target_l2": zero_l2, **data.notes,
                     "zero_predictor_loss": float(half_mse(data.y_train, torch.zeros_like(data.y_train)))}
    series: dict = {}
    if config.target == "setting2":
        from ..data.synthetic import KAPPAS, phases_for
        series.update(kappa=list(KAPPAS[2]), phases=list(phases_for(2, config.phase_seed)))
    arrays: dict[str, np.ndarray] = {"target": _plot_view(f_dense, data.dense_shape)}
    cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate, optimizer=config.optimizer,
                      eval_every=config.epochs, loss_every=config.loss_every, progress=ctx.progress,
                      description=f"{config.subject()} {config.method}")
    kw = dict(seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero)
    settings = {"width": config.width, "depth": config.grade_depth, "learning_rate": config.learning_rate,
                "init": config.init, "optimizer": config.optimizer, "epochs": config.epochs}

    if config.method == "MGDL":
        structure = config.mgdl_structure()
        model, results = fit_mgdl(structure, data.x_train, data.y_train, cfg,
                                  eval_sets={"dense": (data.x_dense, data.y_dense)}, **kw)
        sup, l2, losses = [zero_sup], [zero_l2], [metrics["zero_predictor_loss"]]
        grades, plots = [], []
        feats = data.x_dense
        for res, net in zip(results, model.grades):
            pred = _to_numpy(res.predictions["dense"])
            s, e = residual_norms(f_dense, pred)
            sup.append(s)
            l2.append(e)
            train_loss = float(half_mse(data.y_train, res.predictions["train"]))
            losses.append(train_loss if math.isfinite(train_loss) else None)
            diag = _feature_diagnostics(net, feats) if s is not None else {"dead_units": None, "feature_rank": None}
            with torch.no_grad():
                feats = net.features(feats)
            h = res.history
            grades.append({"grade": res.grade, **settings, "n_parameters": sum(p.numel() for p in net.parameters()),
                           "loss_epochs": h.loss_epochs, "loss": h.loss, "diverged_epoch": h.diverged_epoch,
                           "epochs_run": h.epochs_run, "seconds": h.seconds, **diag})
            plots.append(_plot_view(f_dense - pred, data.dense_shape))
        n_params = sum(p.numel() for p in model.parameters())
        diverged = any(r.history.diverged for r in results) or len(results) < config.n_grades
        final_pred = _to_numpy(results[-1].predictions["dense"])
        if config.dim == 1:
            arrays["grade_residuals"] = np.stack(plots)
        step_epochs = [k * config.epochs for k in range(len(sup))]
    else:
        structure = config.sgdl_structure()
        x_dense = data.x_dense

        def callbacks(net):
            def dense(epoch: int) -> dict[str, float]:
                with torch.no_grad():
                    s, e = residual_norms(f_dense, _to_numpy(net(x_dense)))
                    loss = float(half_mse(data.y_train, net(data.x_train)))
                nan = float("nan")
                return {"dense_sup": nan if s is None else s, "dense_l2": nan if e is None else e, "train_loss": loss}
            return [dense]

        total = replace(cfg, epochs=config.n_grades * config.epochs)
        net, hist = fit_network(structure, data.x_train, data.y_train, total, callbacks=callbacks, **kw)
        sup, l2 = list(hist.metrics.get("dense_sup", [])), list(hist.metrics.get("dense_l2", []))
        losses = list(hist.metrics.get("train_loss", []))
        step_epochs = list(hist.eval_epochs)
        grades = [{"grade": None, **settings, "epochs": total.epochs, "n_parameters": net.n_parameters(),
                   "loss_epochs": hist.loss_epochs, "loss": hist.loss, "diverged_epoch": hist.diverged_epoch,
                   "epochs_run": hist.epochs_run, "seconds": hist.seconds}]
        n_params = net.n_parameters()
        diverged = hist.diverged or len(sup) < config.n_grades + 1
        with torch.no_grad():
            final_pred = _to_numpy(net(x_dense))

    dsup, dl2 = strict_decreases(sup), strict_decreases(l2)
    series["grades"] = grades
    series["steps"] = [{"step": k, "epochs": step_epochs[k], "sup": sup[k], "l2": l2[k], "train_loss": losses[k],
                        "sup_decreased": None if k == 0 else dsup[k - 1],
                        "l2_decreased": None if k == 0 else dl2[k - 1],
                        "sup_change": None if k == 0 else _relative_changes(sup)[k - 1],
                        "l2_change": None if k == 0 else _relative_changes(l2)[k - 1]}
                       for k in range(len(sup))]
    metrics.update(_summary(sup, l2))
    metrics.update(n_parameters=int(n_params), diverged=bool(diverged),
                   train_loss_final=losses[-1] if losses else None,
                   sup_final_relative=None if sup[-1] is None else sup[-1] / zero_sup,
                   l2_final_relative=None if l2[-1] is None else l2[-1] / zero_l2)
    if np.isfinite(final_pred).all():     # arrays are stored in float16: residuals kept as such, not as f - g
        arrays["residual"] = _plot_view(f_dense - final_pred, data.dense_shape)
        if config.dim == 1:
            arrays["prediction_dense"] = final_pred
    return Outcome(metrics=metrics, series=series, arrays=arrays)


register(ApproximationConfig, compute, tolerances={"sup_final": 1e-5, "l2_final": 1e-5, "sup_best": 1e-5,
                                                    "train_loss_final": 1e-7})


# ------------------------------------------------------------------------------------------------ profiles
PHASE_SEED = 0                                  # setting 2: numpy's phases from default_rng(0) (ours)
WIDTHS = {1: 32, 2: 48}                         # the paper's fixed widths: (30) in 1D, (31) in 2D
MAIN_TARGETS = ("sine", "kink", "setting2", "surface", "image")
IMAGE = "cameraman"
PROFILE_SETTINGS = {
    #        grades, epochs per grade (1D, 2D), training points (1D; 2D per axis; image side), dense grid per axis
    #        (1D, 2D), the failure study's targets, seeds
    "paper": dict(n_grades=24, epochs_1d=10_000, epochs_2d=5_000, n_train_1d=1024, n_train_2d=64, image_size=64,
                  n_dense_1d=4097, n_dense_2d=257, loss_every=10, study_targets=TARGETS_1D, seeds=(0, 1, 2)),
    "cpu": dict(n_grades=16, epochs_1d=2_000, epochs_2d=1_000, n_train_1d=1024, n_train_2d=32, image_size=32,
                n_dense_1d=4097, n_dense_2d=257, loss_every=10, study_targets=TARGETS_1D, seeds=(0,)),
    "smoke": dict(n_grades=3, epochs_1d=100, epochs_2d=40, n_train_1d=256, n_train_2d=16, image_size=16,
                  n_dense_1d=4097, n_dense_2d=49, loss_every=5, study_targets=("kink",), seeds=(0,)),
}
# base settings of a grade (ours): Adam at 10^-3 as the paper's image experiments, He-normal weights and zero
# biases as the authors' synthetic experiments, one hidden layer per grade as the abstract's scheme
BASE = dict(optimizer="adam", learning_rate=1e-3, init="he_normal", grade_depth=1)
# the failure study: one setting changed at a time from BASE (MGDL only)
VARIANTS = {
    "base": {},
    "learning rate 1e-2": dict(learning_rate=1e-2),
    "learning rate 1e-4": dict(learning_rate=1e-4),
    "grade depth 2": dict(grade_depth=2),
    "init glorot_normal": dict(init="glorot_normal"),
    "init torch_default": dict(init="torch_default"),
}
SMOKE_VARIANTS = ("base", "learning rate 1e-2", "grade depth 2")


def make_config(target: str, method: str, profile: str, *, seed: int = 0, device: str = "auto",
                **overrides) -> ApproximationConfig:
    """The config of one run under ``profile`` (``overrides`` replace any field)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("method", method, METHODS)
    s = PROFILE_SETTINGS[profile]
    dim = dimension(target)
    d = "1d" if dim == 1 else "2d"
    fields = dict(target=target, method=method, seed=seed, device=resolve_device(device).type,
                  n_grades=s["n_grades"], epochs=s[f"epochs_{d}"], n_dense=s[f"n_dense_{d}"], width=WIDTHS[dim],
                  loss_every=s["loss_every"], n_train=s[f"n_train_{d}"], **BASE)
    if target == "setting2":
        fields["phase_seed"] = PHASE_SEED
    if target == "image":
        label, sha, _ = image_identity(overrides.pop("image", IMAGE))
        fields.update(image=label, image_sha256=sha, size=s["image_size"], n_train=None)
    fields.update(overrides)
    return ApproximationConfig(**fields)


def main_configs(profile: str, targets: Sequence[str] = MAIN_TARGETS, *, seeds: Sequence[int] | None = None,
                 device: str = "auto") -> list[ApproximationConfig]:
    """MGDL and the matched SGDL on every target, base settings, seed by seed."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    seeds = PROFILE_SETTINGS[profile]["seeds"] if seeds is None else tuple(seeds)
    return [make_config(t, m, profile, seed=seed, device=device) for seed in seeds for t in targets for m in METHODS]


def study_configs(profile: str, targets: Sequence[str] | None = None, *, seed: int = 0, device: str = "auto"
                  ) -> list[tuple[str, ApproximationConfig]]:
    """The failure study: ``(variant, config)`` of MGDL on each study target, one grade setting changed at a time
    (``VARIANTS``; the smoke profile runs ``SMOKE_VARIANTS``)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    targets = PROFILE_SETTINGS[profile]["study_targets"] if targets is None else tuple(targets)
    names = SMOKE_VARIANTS if profile == "smoke" else tuple(VARIANTS)
    return [(name, make_config(t, "MGDL", profile, seed=seed, device=device, **VARIANTS[name]))
            for t in targets for name in names]


def configs(profile: str, *, device: str = "auto") -> list[ApproximationConfig]:
    """Every run of ``profile``: the main comparison, then the failure study (each config once)."""
    out, seen = [], set()
    for config in [*main_configs(profile, device=device), *(c for _, c in study_configs(profile, device=device))]:
        if config.key not in seen:
            seen.add(config.key)
            out.append(config)
    return out
