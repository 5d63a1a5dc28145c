"""Neural-field baselines of Table 1: Fourier-feature MLPs (``FFN``) and SIREN on the Table-1 split.

The data, split, loss, optimiser, epochs, seeds and metrics are those of :mod:`~mgdlcore.experiments.regression`
(every other pixel for training, the odd-odd quarter for validation, all pixels for testing; full-batch Adam at a
constant learning rate; PSNR (34)); the networks (:mod:`~mgdlcore.baselines.neural_fields`) have the parameter count
of the SGDL network (28). The learning rate is Table 1's (10^-3) for the Fourier-feature MLP, as in Tancik et al.;
SIREN does not fit at that rate (it stays near a constant image: :func:`lr_check_configs` records it) and uses
Sitzmann et al.'s 10^-4. The unseen pixels (the three quarters not trained on) get a PSNR of their own.

Each network has one hyper-parameter that sets the frequencies it represents: ``sigma`` of the Fourier features,
``omega_0`` of SIREN's first layer. It is chosen per image and method on the **validation** pixels: one *selection*
record per grid value (``GRIDS``), trained with the profile's image size and a tenth of its epochs
(``SELECTION_SETTINGS``), and :func:`select` picks the value with the best final validation PSNR (test pixels
are never looked at). The *table* runs then train the chosen value with the profile's full settings
(``PROFILE_SETTINGS``, those of Table 1). :func:`configs` lists the selection runs of a profile and, for each
image and method whose selection is complete in the results folder, its table runs; a campaign therefore runs
twice: the first call makes the selection records, the second the table runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..baselines.neural_fields import (FOURIER_FREQUENCIES, FOURIER_HIDDEN, SIREN_HIDDEN, SIREN_HIDDEN_OMEGA,
                                       FourierFeatureMLP, Siren)
from ..data.grid import regression_data, split_masks
from ..data.images import image_identity, load_identified
from ..device import resolve_device
from ..metrics import loss_to_psnr, psnr, tail_range
from ..paper.values import SEC4_REGRESSION_LR
from ..training.grades import loss_callback
from ..training.loop import TrainConfig, half_mse, train
from . import regression
from .config import ExperimentConfig, one_of, positive_float, positive_int, runtime_only
from .runner import Context, Outcome, find_record, register

METHODS = ("FFN", "SIREN")
PARAMETER = {"FFN": "sigma", "SIREN": "omega_0"}     # the hyper-parameter chosen on validation, per method
# grids of the chosen hyper-parameter. sigma: frequencies of B in cycles per unit of the [0, 1)^2 coordinates
# (Tancik et al. found 10 best for natural images on this kind of split); omega_0: SIREN's first-layer factor on
# [-1, 1]^2 inputs (Sitzmann et al. use 30)
GRIDS = {"FFN": (1.0, 3.0, 10.0, 30.0), "SIREN": (10.0, 30.0, 60.0)}
# Adam's learning rate per method: Table 1's (the authors' code; also Tancik et al.'s) for FFN; Sitzmann et al.'s for
# SIREN, which at Table 1's rate does not fit at all (the record of lr_check_configs shows it)
LEARNING_RATES = {"FFN": SEC4_REGRESSION_LR, "SIREN": 1e-4}
LR_CHECK_IMAGE = "cameraman"
MATCHED_STRUCTURE = "28"                             # the SGDL network whose parameter count both networks match
SELECTION_METRIC = "psnr_val"                        # what select() maximises: validation pixels only


@dataclass(frozen=True, kw_only=True)
class FieldsConfig(ExperimentConfig):
    """One neural-field fit of an image on the Table-1 split. ``sigma`` is set for FFN only, ``omega_0`` and
    ``hidden_omega_0`` for SIREN only, ``n_frequencies`` for FFN only."""

    KIND = "fields"
    TASKS = ("fields",)
    LABEL_FIELDS = ("sigma", "omega_0", "learning_rate", "size", "epochs", "seed")

    task: str = "fields"
    method: str = "SIREN"                      # "FFN" (Fourier features + ReLU MLP) or "SIREN"
    image: str = "cameraman"                   # registry name, or "file:<name>" for a user's file
    image_sha256: str | None = None            # content hash of the image file (None: registry image without one)
    size: int | None = None                    # longer side downsampled to this, anti-aliased (None: native size)
    sigma: float | None = None                 # FFN: standard deviation of the entries of B
    n_frequencies: int | None = None           # FFN: rows of B (2x as many features)
    omega_0: float | None = 30.0               # SIREN: first-layer frequency factor
    hidden_omega_0: float | None = SIREN_HIDDEN_OMEGA   # SIREN: the other sine layers' factor
    hidden: tuple[int, ...] = SIREN_HIDDEN     # hidden widths (FFN: after the features)
    optimizer: str = "adam"                    # as Table 1
    learning_rate: float = 1e-4                # Adam's (constant, as Table 1); see LEARNING_RATES
    epochs: int = 60                           # full-batch steps
    eval_every: int = 20                       # validation/test PSNR every this many epochs
    loss_every: int = 1                        # training loss of every this many epochs kept in the record
    image_path: str | None = runtime_only()    # where a user's file lies on this machine

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        if self.size is not None:
            positive_int("size", self.size, minimum=16)
        own = {"FFN": ("sigma", "n_frequencies"), "SIREN": ("omega_0", "hidden_omega_0")}
        for method, names in own.items():
            for name in names:
                value = getattr(self, name)
                if method == self.method and value is None:
                    raise ValueError(f"{name} must be set for the method {self.method!r}")
                if method != self.method and value is not None:
                    raise ValueError(f"{name} must be None for the method {self.method!r} (it is {method}'s)")
        for name in ("sigma", "omega_0", "hidden_omega_0"):
            if getattr(self, name) is not None:
                positive_float(name, getattr(self, name))
        if self.n_frequencies is not None:
            positive_int("n_frequencies", self.n_frequencies)
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ValueError(f"hidden must be a non-empty tuple of widths, got {self.hidden!r}")
        for width in self.hidden:
            positive_int("hidden width", width)
        one_of("optimizer", self.optimizer, ("adam", "gd"))
        positive_float("learning_rate", self.learning_rate)
        positive_int("epochs", self.epochs)
        positive_int("eval_every", self.eval_every)
        positive_int("loss_every", self.loss_every)

    def subject(self) -> str:
        return self.image

    @property
    def value(self) -> float:
        """The chosen hyper-parameter's value (``sigma`` or ``omega_0``)."""
        return getattr(self, PARAMETER[self.method])

    @property
    def structure(self) -> str:
        """The SGDL structure whose parameter count this network matches (the cost model prices runs by it)."""
        return MATCHED_STRUCTURE


def build(config: FieldsConfig) -> torch.nn.Module:
    """The freshly initialised network of ``config``, its draws from ``torch.Generator().manual_seed(seed)``."""
    gen = torch.Generator().manual_seed(config.seed)
    if config.method == "FFN":
        return FourierFeatureMLP(config.sigma, n_frequencies=config.n_frequencies, hidden=config.hidden,
                                 generator=gen)
    return Siren(config.omega_0, hidden=config.hidden, hidden_omega_0=config.hidden_omega_0, generator=gen)


def compute(config: FieldsConfig, ctx: Context) -> Outcome:
    """Fit the network to the training pixels; PSNR (34) on the training, validation, unseen and all pixels."""
    img = load_identified(config.image, config.image_sha256, config.image_path, size=config.size)
    masks = split_masks(img.shape)
    masks["unseen"] = ~masks["train"]
    dtype = getattr(torch, config.dtype)
    data = regression_data(img, ctx.device, dtype=dtype)
    net = build(config).to(device=ctx.device, dtype=dtype)
    x, y = data.x["train"], data.y["train"]
    cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate, optimizer=config.optimizer,
                      eval_every=config.eval_every, loss_every=config.loss_every, progress=ctx.progress,
                      description=f"{config.image} {config.method} {PARAMETER[config.method]}={config.value:g}")
    evals = {"val": (data.x["val"], data.y["val"]), "test": (data.x["test"], data.y["test"])}
    hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg, callbacks=[loss_callback(net, evals)])
    with torch.no_grad():
        recon = data.as_image(net(data.x["test"]))
    val = [loss_to_psnr(v) for v in hist.metrics.get("val_loss", [])]
    test = [loss_to_psnr(v) for v in hist.metrics.get("test_loss", [])]
    finite_val = [(v, i) for i, v in enumerate(val) if v is not None]
    best = max(finite_val)[1] if finite_val else None
    metrics: dict = {"n_train": int(masks["train"].sum()), "height": img.shape[0], "width": img.shape[1],
                     "n_parameters": sum(p.numel() for p in net.parameters()), "diverged": hist.diverged,
                     "final_epoch": hist.epochs_run,
                     "best_val_epoch": hist.eval_epochs[best] if best is not None else None,
                     "psnr_val_best": val[best] if best is not None else None,
                     "psnr_test_at_best_val": test[best] if best is not None else None}
    metrics["psnr_test_tail_min"], metrics["psnr_test_tail_max"] = tail_range(test, 0.05)
    finite = bool(np.isfinite(recon).all())
    for name, m in masks.items():
        metrics[f"psnr_{name}"] = psnr(img[m], recon[m]) if finite else None
    series = {"grades": [{"grade": None, "loss_epochs": hist.loss_epochs, "loss": hist.loss,
                          "eval_epochs": hist.eval_epochs, "psnr_val": val, "psnr_test": test,
                          "diverged_epoch": hist.diverged_epoch, "seconds": hist.seconds}]}
    return Outcome(metrics=metrics, series=series, arrays={"target": img, config.method: recon})


register(FieldsConfig, compute, tolerances={"psnr_train": 0.1, "psnr_val": 0.1, "psnr_test": 0.1,
                                              "psnr_unseen": 0.1, "psnr_test_at_best_val": 0.1,
                                              "psnr_val_best": 0.1, "psnr_test_tail_min": 0.1,
                                              "psnr_test_tail_max": 0.1})


# ------------------------------------------------------------------------------------------------ profiles
# the table runs: Table 1's settings of each profile (regression.PROFILE_SETTINGS), the same seeds
PROFILE_SETTINGS = {name: dict(s) for name, s in regression.PROFILE_SETTINGS.items()}
# the selection runs: the profile's image size (sigma and omega_0 set frequencies per unit of the coordinates, so
# they are chosen at the resolution they are used at), a tenth of its epochs, seed 0
SELECTION_SETTINGS = {
    "paper": dict(size=None, epochs=1_000, eval_every=50, loss_every=10, seed=0),
    "cpu": dict(size=128, epochs=300, eval_every=20, loss_every=5, seed=0),
    "smoke": dict(size=32, epochs=20, eval_every=5, loss_every=1, seed=0),
}


def make_config(image: str, method: str, profile: str, *, value: float | None = None, seed: int = 0,
                device: str = "auto", selection: bool = False, **overrides) -> FieldsConfig:
    """The config of one run of ``method`` on ``image`` under ``profile``: a table run (the profile's Table-1
    settings) or, with ``selection=True``, a selection run (``SELECTION_SETTINGS``, seed 0). ``value`` is the
    hyper-parameter (sigma or omega_0; None: the method's published default, 10 or 30); ``overrides`` replace
    any field."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("method", method, METHODS)
    label, sha, path = image_identity(image)
    s = SELECTION_SETTINGS[profile] if selection else PROFILE_SETTINGS[profile]
    if selection and seed != 0:
        raise ValueError("selection runs use seed 0")
    fields = dict(image=label, image_sha256=sha, image_path=path, size=s["size"], method=method, seed=seed,
                  epochs=s["epochs"], eval_every=s["eval_every"], loss_every=s["loss_every"],
                  learning_rate=LEARNING_RATES[method],
                  device=resolve_device(device).type)
    if method == "FFN":
        fields.update(sigma=10.0 if value is None else float(value), n_frequencies=FOURIER_FREQUENCIES,
                      hidden=FOURIER_HIDDEN, omega_0=None, hidden_omega_0=None)
    else:
        fields.update(omega_0=30.0 if value is None else float(value), hidden_omega_0=SIREN_HIDDEN_OMEGA,
                      hidden=SIREN_HIDDEN, sigma=None, n_frequencies=None)
    fields.update(overrides)
    return FieldsConfig(**fields)


DEFAULT_IMAGES = ("cameraman", "barbara", "butterfly", "pirate", "chest")


def selection_configs(profile: str, images: Sequence[str] = DEFAULT_IMAGES, *, methods: Sequence[str] = METHODS,
                      device: str = "auto") -> list[FieldsConfig]:
    """The selection runs of ``profile``: every image x method x grid value."""
    return [make_config(image, method, profile, value=v, device=device, selection=True)
            for image in images for method in methods for v in GRIDS[method]]


@dataclass(frozen=True)
class Selection:
    """The value chosen for one image and method, and the validation PSNR of every grid value."""

    image: str
    method: str
    value: float
    psnr_val: dict[float, float | None]     # grid value -> final validation PSNR (None: diverged)


def select(records: Iterable, grids: dict[str, Sequence[float]] = GRIDS) -> dict[tuple[str, str], Selection]:
    """``{(image, method): Selection}`` from selection records (objects with ``config`` and ``metrics`` dicts).

    Only images and methods with a record for every grid value are decided (a missing value must not change the
    choice silently). The value with the highest final validation PSNR (``SELECTION_METRIC``) wins; a diverged
    run or one without a finite validation PSNR never wins; ties go to the first value of the grid. No other
    metric (in particular no test PSNR) is read. Records of one image and method that differ in any setting besides
    the hyper-parameter (another learning rate, size or seed) raise a one-line ``ValueError``."""
    table: dict[tuple[str, str], dict[float, float | None]] = {}
    settings: dict[tuple[str, str], dict] = {}
    for r in records:
        c = r.config
        if c.get("task") != "fields":
            continue
        param = PARAMETER[c["method"]]
        rest = {k: v for k, v in c.items() if k != param}
        first = settings.setdefault((c["image"], c["method"]), rest)
        if rest != first:
            differ = sorted(k for k in set(rest) | set(first) if rest.get(k) != first.get(k))
            raise ValueError(f"selection records of {c['image']} {c['method']} differ in more than {param}: "
                             f"{', '.join(differ)}")
        value = float(c[param])
        score = r.metrics.get(SELECTION_METRIC)
        ok = score is not None and math.isfinite(score) and not r.metrics.get("diverged")
        table.setdefault((c["image"], c["method"]), {})[value] = float(score) if ok else None
    out = {}
    for (image, method), scores in table.items():
        grid = [float(v) for v in grids[method]]
        if not set(grid) <= set(scores):
            continue
        finite = [v for v in grid if scores[v] is not None]
        if not finite:
            continue
        best = max(finite, key=lambda v: (scores[v], -grid.index(v)))
        out[(image, method)] = Selection(image, method, best, {v: scores[v] for v in grid})
    return out


def table_configs(profile: str, selected: dict[tuple[str, str], Selection], images: Sequence[str] = DEFAULT_IMAGES,
                  *, methods: Sequence[str] = METHODS, seeds: Sequence[int] | None = None, device: str = "auto"
                  ) -> list[FieldsConfig]:
    """The table runs of ``profile`` for the images and methods in ``selected``, seed by seed (a campaign in
    profile order finishes the first seed of every image first)."""
    seeds = PROFILE_SETTINGS[profile]["seeds"] if seeds is None else tuple(seeds)
    out = []
    for seed in seeds:
        for image in images:
            label = image_identity(image)[0]
            for method in methods:
                if (label, method) in selected:
                    out.append(make_config(image, method, profile, value=selected[(label, method)].value,
                                           seed=seed, device=device))
    return out


def lr_check_configs(profile: str, images: Sequence[str] = DEFAULT_IMAGES, *, device: str = "auto"
                     ) -> list[FieldsConfig]:
    """SIREN (omega_0 = 30) at Table 1's learning rate instead of its own, one selection-sized run on
    ``LR_CHECK_IMAGE`` (when it is among ``images``): the evidence for ``LEARNING_RATES``."""
    if LR_CHECK_IMAGE not in images:
        return []
    return [make_config(LR_CHECK_IMAGE, "SIREN", profile, value=30.0, device=device, selection=True,
                        learning_rate=SEC4_REGRESSION_LR)]


def configs(profile: str, images: Sequence[str] = DEFAULT_IMAGES, *, methods: Sequence[str] = METHODS,
            seeds: Sequence[int] | None = None, device: str = "auto",
            results_dir: str | os.PathLike | None = None) -> list[FieldsConfig]:
    """The selection runs of ``profile``, the learning-rate check of SIREN (:func:`lr_check_configs`) and the table
    runs of every image and method whose selection records are all in ``results_dir`` (None: the profile's results
    folder, ``$MGDL_RESULTS_DIR`` when set)."""
    from ..report.paths import resolve_results_dir

    where = resolve_results_dir(results_dir, profile)
    grid = selection_configs(profile, images, methods=methods, device=device)
    found = [find_record(c, where, move_corrupt=False)[0] for c in grid] if where.is_dir() else []
    chosen = select(r for r in found if r is not None)
    check = lr_check_configs(profile, images, device=device) if "SIREN" in methods else []
    return grid + check + table_configs(profile, chosen, images, methods=methods, seeds=seeds, device=device)
