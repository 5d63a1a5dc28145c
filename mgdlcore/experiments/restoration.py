r"""Image denoising and deblurring (Sec. 4, Tables 2-3, Appendix C) with SGDL, MGDL and classical references.

Config :class:`RestorationConfig`; compute :func:`compute`; profile function :func:`configs`. The clean image ``f``
is corrupted as ``f_obs = A f + noise`` (:func:`mgdlcore.physics.noise.degrade`) with ``A`` the identity
(denoising, noise sigma ``level`` on the 0-255 scale) or a Gaussian blur of ``level`` pixels with ``6 level + 1``
taps (deblurring, noise sigma ``deblur_noise``). SGDL (29) and MGDL (33) minimise the penalised ROF objective of
Appendix C by the proximity-gradient scheme (20)-(21) (:mod:`mgdlcore.training.rof`). The classical references
(:mod:`mgdlcore.baselines.classical`) restore the same corrupted input: ``observed`` (the input itself), ``tv`` and
``wiener`` with their parameter chosen by the discrepancy principle, and the ``*_oracle`` variants, which choose it
with the clean image (an upper bound, not a competitor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..baselines.classical import classical_reference
from ..data.images import image_identity, load_identified
from ..device import resolve_device
from ..metrics import psnr, tail_range
from ..paper.values import (SEC4_BLUR_LEVELS, SEC4_DEBLUR_NOISE, SEC4_NOISE_LEVELS, SEC4_RESTORATION_EPOCHS,
                            SEC4_RESTORATION_EVAL_EVERY, SEC4_RESTORATION_LR, SEC4_ROF_ALPHA, SEC4_ROF_BETA,
                            SEC4_ROF_LAMBDA)
from ..physics.noise import degrade
from ..physics.operators import GaussianBlur, Identity, LinearOperator, kernel_taps
from ..structures import MGDLStructure, SGDLStructure, get_structure
from ..training.loop import TrainConfig
from ..training.rof import fit_restoration
from .config import ExperimentConfig, one_of, positive_float, positive_int, runtime_only
from .runner import Context, Outcome, register

NETWORKS = ("SGDL", "MGDL")
CLASSICAL = {"denoising": ("observed", "tv", "tv_oracle"),
             "deblurring": ("observed", "wiener", "wiener_oracle", "tv", "tv_oracle")}
TASKS = ("denoising", "deblurring")
METHODS = {task: NETWORKS + CLASSICAL[task] for task in TASKS}
INITS = ("glorot_normal", "he_normal", "torch_default")
STRUCTURES = {"SGDL": "29", "MGDL": "33"}          # Sec. 4: (29) and (33) for both tasks
LEVELS = {"denoising": SEC4_NOISE_LEVELS, "deblurring": SEC4_BLUR_LEVELS}
IMAGES = ("butterfly", "pirate", "chest")          # Tables 2-3
FLOAT_FIELDS = ("level", "deblur_noise", "learning_rate", "alpha", "beta", "lam")
NETWORK_FIELDS = ("structure", "optimizer", "learning_rate", "alpha", "beta", "lam", "init", "relu_prime_at_zero")


def forward_operator(task: str, level: float) -> LinearOperator:
    """``A`` of the task: the identity (denoising) or the Gaussian blur of ``level`` pixels (deblurring)."""
    one_of("task", task, TASKS)
    return Identity() if task == "denoising" else GaussianBlur(level)


@dataclass(frozen=True, kw_only=True)
class RestorationConfig(ExperimentConfig):
    """One restoration run. Network settings are None for the classical references."""

    KIND = "restoration"
    TASKS = TASKS

    task: str = "denoising"
    method: str = "MGDL"
    image: str = "butterfly"                   # registry name, or "file:<name>" for a user's file
    image_sha256: str | None = None            # content hash of the image file
    size: int | None = None                    # longer side downsampled to this, anti-aliased (None: native size)
    level: float = 30.0                        # denoising: noise sigma (0-255 scale); deblurring: blur sigma (pixels)
    deblur_noise: float | None = None          # deblurring: noise sigma (0-255 scale; paper: 3); None for denoising
    noise_seed: int = 0                        # numpy default_rng seed of the noise
    structure: str | None = None               # Appendix D equation number, "29" (SGDL) or "33" (MGDL)
    n_grades: int | None = None                # MGDL grades trained (None: all of the structure)
    optimizer: str | None = "adam"             # (21): Adam
    learning_rate: float | None = SEC4_RESTORATION_LR   # authors' code
    epochs: int = 0                            # per SGDL model and per MGDL grade (authors' code: 20,000)
    alpha: float | None = SEC4_ROF_ALPHA       # relaxation of the prox step (20) (authors' code)
    beta: float | None = SEC4_ROF_BETA         # weight of beta/2 ||u - B N||^2 (authors' code)
    lam: float | None = SEC4_ROF_LAMBDA        # TV weight lambda (authors' code)
    eval_every: int = SEC4_RESTORATION_EVAL_EVERY   # PSNR against the clean image every this many epochs
    loss_every: int = 100                      # objective of every this many epochs kept in the record
    init: str | None = "glorot_normal"         # the authors' image code: JAX stax defaults
    relu_prime_at_zero: int | None = 0
    image_path: str | None = runtime_only()    # where a user's file lies on this machine

    def __post_init__(self) -> None:
        # an integer and a float of the same value are one setting: store floats, so that both give one key
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS[self.task])
        if self.size is not None:
            positive_int("size", self.size, minimum=16)
        positive_float("level", self.level)
        positive_int("noise_seed", self.noise_seed, minimum=0)
        if self.task == "denoising":
            if self.deblur_noise is not None:
                raise ValueError("deblur_noise must be None for denoising (the noise sigma is the level)")
        else:
            if self.deblur_noise is None or self.deblur_noise < 0 or not np.isfinite(self.deblur_noise):
                raise ValueError(f"deblurring needs deblur_noise, a noise sigma >= 0 (0-255 scale), got "
                                 f"{self.deblur_noise!r}")
            taps = kernel_taps(self.level)
            if self.size is not None and taps > self.size:
                raise ValueError(f"blur sigma {self.level:g} needs a {taps}-tap kernel, larger than the image size "
                                 f"{self.size}; use size >= {taps} or a smaller blur")
        if self.method not in NETWORKS:
            for name in NETWORK_FIELDS + ("n_grades",):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} must be None for the classical method {self.method!r}")
            if self.epochs != 0:
                raise ValueError(f"epochs must be 0 for the classical method {self.method!r}")
            return
        s = get_structure(self.structure)
        expected = SGDLStructure if self.method == "SGDL" else MGDLStructure
        if not isinstance(s, expected) or s.input_dim != 2:
            raise ValueError(f"structure ({self.structure}) is not a 2-D-input {self.method} structure")
        if self.n_grades is not None:
            if self.method != "MGDL":
                raise ValueError("n_grades applies to MGDL only")
            if not isinstance(self.n_grades, int) or not 1 <= self.n_grades <= s.n_grades:
                raise ValueError(f"n_grades must be an integer in 1..{s.n_grades} for ({self.structure}), "
                                 f"got {self.n_grades!r}")
        one_of("optimizer", self.optimizer, ("adam", "gd"))
        for name in ("learning_rate", "alpha", "beta", "lam"):
            positive_float(name, getattr(self, name))
        if self.alpha > 1:
            raise ValueError(f"alpha must be in (0, 1] (the relaxation of (20)), got {self.alpha!r}")
        positive_int("epochs", self.epochs)
        positive_int("eval_every", self.eval_every)
        positive_int("loss_every", self.loss_every)
        one_of("init", self.init, INITS)
        one_of("relu_prime_at_zero", self.relu_prime_at_zero, (0, 1))

    @property
    def noise_level(self) -> float:
        """The noise sigma on the 0-255 scale."""
        return self.level if self.task == "denoising" else self.deblur_noise

    def subject(self) -> str:
        return f"{self.image}-{self.level:g}"

    def label(self) -> str:
        return f"{self.task} {self.image} {'noise' if self.task == 'denoising' else 'blur'} {self.level:g} {self.method}"


def corrupted_input(config: RestorationConfig) -> tuple[np.ndarray, np.ndarray, LinearOperator]:
    """``(clean, observed, A)`` of a config; a blur wider than the image raises a one-line ValueError."""
    clean = load_identified(config.image, config.image_sha256, config.image_path, size=config.size)
    A = forward_operator(config.task, config.level)  # noqa: N806
    if isinstance(A, GaussianBlur):
        A.check_image_shape(clean.shape)
    return clean, degrade(clean, A, config.noise_level, noise_seed=config.noise_seed), A


def compute(config: RestorationConfig, ctx: Context) -> Outcome:
    """Restore the corrupted image with ``config.method``; PSNR (34) against the clean image."""
    clean, observed, A = corrupted_input(config)  # noqa: N806
    metrics: dict = {"height": clean.shape[0], "width": clean.shape[1], "psnr_observed": psnr(clean, observed),
                     "noise_level": config.noise_level}
    if isinstance(A, GaussianBlur):
        metrics["blur_taps"] = int(A.kernel.shape[0])
    series: dict = {}
    arrays = {"clean": clean, "observed": observed}
    if config.method in NETWORKS:
        structure = get_structure(config.structure)
        cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate, optimizer=config.optimizer,
                          eval_every=config.eval_every, loss_every=config.loss_every, progress=ctx.progress,
                          description=config.label())
        fit = fit_restoration(structure, observed, A, cfg, alpha=config.alpha, beta=config.beta, lam=config.lam,
                              seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero,
                              n_grades=config.n_grades, clean=clean, device=ctx.device,
                              dtype=getattr(torch, config.dtype))
        arrays.update(fit.images)
        final = list(fit.images.values())[-1]
        metrics["diverged"] = any(h.diverged for h in fit.histories)
        series["grades"] = [{
            "grade": i + 1 if config.method == "MGDL" else None, "scale": fit.scales[i],
            "loss_epochs": h.loss_epochs, "loss": h.loss, "eval_epochs": h.eval_epochs,
            "psnr": h.metrics.get("psnr", []), "diverged_epoch": h.diverged_epoch, "seconds": h.seconds,
            "epochs_run": h.epochs_run} for i, h in enumerate(fit.histories)]
        curve = [p for g in series["grades"] for p in g["psnr"]]
        finite = [p for p in curve if p is not None]
        metrics["psnr_max"] = max(finite) if finite else None
        metrics["psnr_tail_min"], metrics["psnr_tail_max"] = tail_range(series["grades"][-1]["psnr"], 0.05)
        if config.method == "MGDL":
            series["psnr_per_grade"] = [{"grade": int(k.split()[-1]),
                                         "psnr": psnr(clean, v) if np.isfinite(v).all() else None}
                                        for k, v in fit.images.items()]
    else:
        final, info = classical_reference(config.method, observed, A, noise_level=config.noise_level, clean=clean)
        arrays[config.method] = final
        metrics["diverged"] = False
        metrics["parameter"] = info.get("parameter")
        metrics["at_grid_edge"] = info.get("at_grid_edge")
        series["classical"] = [{k: v for k, v in info.items() if k not in ("parameter", "at_grid_edge")}]
    metrics["psnr"] = psnr(clean, final) if np.isfinite(final).all() else None
    return Outcome(metrics=metrics, series=series, arrays=arrays)


register(RestorationConfig, compute, tolerances={"psnr": 0.1, "psnr_observed": 1e-6, "psnr_max": 0.1,
                                                   "psnr_tail_min": 0.1, "psnr_tail_max": 0.1})


# ------------------------------------------------------------------------------------------------ profiles
PROFILE_SETTINGS = {
    #        longer side, epochs per model / grade, eval_every, loss_every, images, levels per task; the networks of
    #        seed_images are trained from each of seeds (the others from seed 0)
    "paper": dict(size=None, epochs=SEC4_RESTORATION_EPOCHS, eval_every=SEC4_RESTORATION_EVAL_EVERY, loss_every=100,
                  images=IMAGES, levels=LEVELS),
    "cpu": dict(size=64, epochs=1_000, eval_every=50, loss_every=10, images=IMAGES, levels=LEVELS,
                seed_images=("butterfly",), seeds=(0, 1, 2)),
    "smoke": dict(size=32, epochs=40, eval_every=10, loss_every=1, images=("butterfly",),
                  levels={"denoising": (30,), "deblurring": (3,)}),
}
DETAIL_LEVEL = {"denoising": 30, "deblurring": 5}   # the point a chapter shows in detail when it is in the grid


def make_config(task: str, image: str, method: str, level: float, profile: str, *, seed: int = 0,
                device: str = "auto", **overrides) -> RestorationConfig:
    """The config of one Table-2/3 run under ``profile`` (``overrides`` replace any field)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("task", task, TASKS)
    one_of("method", method, METHODS[task])
    label, sha, path = image_identity(image)
    s = PROFILE_SETTINGS[profile]
    fields = dict(task=task, image=label, image_sha256=sha, image_path=path, size=s["size"], method=method,
                  level=float(level), seed=seed, device=resolve_device(device).type,
                  deblur_noise=float(SEC4_DEBLUR_NOISE) if task == "deblurring" else None)
    if method in NETWORKS:
        fields.update(structure=STRUCTURES[method], epochs=s["epochs"], eval_every=s["eval_every"],
                      loss_every=s["loss_every"])
    else:
        fields.update({name: None for name in NETWORK_FIELDS}, n_grades=None, epochs=0, seed=0,
                      device="cpu")   # numpy on the CPU wherever it runs; no seed (the noise has its own)
    fields.update(overrides)
    return RestorationConfig(**fields)


def configs(profile: str, tasks: Sequence[str] = TASKS, images: Sequence[str] | None = None,
            levels: Sequence[float] | None = None, *, methods: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, device: str = "auto") -> list[RestorationConfig]:
    """Tables 2-3 under ``profile``: every task x image x level x method x seed, image by image.

    ``images`` / ``levels`` default to the profile's grid (``levels`` applies to every task given); ``methods``
    to all of a task's; ``seeds`` to seed 0, and the profile's ``seeds`` for its ``seed_images``. Classical
    references run once (they have no seed).
    """
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    s = PROFILE_SETTINGS[profile]
    out = []
    for task in ([tasks] if isinstance(tasks, str) else tasks):
        one_of("task", task, TASKS)
        for image in (s["images"] if images is None else images):
            for level in (s["levels"][task] if levels is None else levels):
                for method in (METHODS[task] if methods is None else methods):
                    given = seeds if seeds is not None else (
                        s.get("seeds", (0,)) if image in s.get("seed_images", ()) else (0,))
                    for seed in (given if method in NETWORKS else (0,)):
                        out.append(make_config(task, image, method, level, profile, seed=seed, device=device))
    return out
