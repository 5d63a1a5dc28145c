"""Image regression (Sec. 4, Table 1, Figures 5-6): fit an image from every other pixel, test on all pixels.

Config :class:`RegressionConfig`; compute :func:`compute`; profile function :func:`configs`. Methods: SGDL
(one deep network, (28), or (29) for Walnut), MGDL (grades of (32), or (33) for Walnut), and the classical
references ``bilinear`` / ``bicubic`` interpolation of the same training grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.grid import regression_data, split_masks
from ..data.images import image_identity, load_identified
from ..baselines.interpolation import interpolate_training_grid
from ..device import resolve_device
from ..metrics import loss_to_psnr, psnr, tail_range
from ..paper.values import SEC4_REGRESSION_EPOCHS, SEC4_REGRESSION_LR
from ..structures import MGDLStructure, SGDLStructure, get_structure
from ..training.grades import fit_mgdl, fit_network
from ..training.loop import TrainConfig
from .config import ExperimentConfig, one_of, positive_float, positive_int, runtime_only
from .runner import Context, Outcome, register

NETWORKS = ("SGDL", "MGDL")
INTERPOLATIONS = ("bilinear", "bicubic")
METHODS = NETWORKS + INTERPOLATIONS
INITS = ("glorot_normal", "he_normal", "torch_default")
# the paper's structures (Appendix D): (28)/(32), and (29)/(33) for Walnut
STRUCTURES = {"SGDL": "28", "MGDL": "32"}
STRUCTURE_OVERRIDES = {"walnut": {"SGDL": "29", "MGDL": "33"}}


@dataclass(frozen=True, kw_only=True)
class RegressionConfig(ExperimentConfig):
    """One image-regression run. Network settings are None for the interpolation methods."""

    KIND = "regression"
    TASKS = ("regression",)

    task: str = "regression"
    method: str = "MGDL"
    image: str = "cameraman"                   # registry name, or "file:<name>" for a user's file
    image_sha256: str | None = None            # content hash of the image file (None: registry image without one)
    size: int | None = None                    # longer side downsampled to this, anti-aliased (None: native size)
    structure: str | None = None               # Appendix D equation number, e.g. "28"
    n_grades: int | None = None                # MGDL grades trained (None: all of the structure)
    optimizer: str | None = "adam"             # paper: Adam
    learning_rate: float | None = SEC4_REGRESSION_LR   # the authors' code
    epochs: int = 0                            # per SGDL model and per MGDL grade (authors' code: 10,000)
    eval_every: int = 100                      # validation/test PSNR every this many epochs
    loss_every: int = 10                       # training loss of every this many epochs kept in the record
    init: str | None = "glorot_normal"         # the authors' image code: JAX stax defaults
    relu_prime_at_zero: int | None = 0
    image_path: str | None = runtime_only()    # where a user's file lies on this machine

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        if self.size is not None:
            positive_int("size", self.size, minimum=16)
        network = self.method in NETWORKS
        if not network:
            for name in ("structure", "n_grades", "optimizer", "learning_rate", "init", "relu_prime_at_zero"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} must be None for the interpolation method {self.method!r}")
            if self.epochs != 0:
                raise ValueError(f"epochs must be 0 for the interpolation method {self.method!r}")
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
        positive_float("learning_rate", self.learning_rate)
        positive_int("epochs", self.epochs)
        positive_int("eval_every", self.eval_every)
        positive_int("loss_every", self.loss_every)
        one_of("init", self.init, INITS)
        one_of("relu_prime_at_zero", self.relu_prime_at_zero, (0, 1))

    def subject(self) -> str:
        return self.image


def compute(config: RegressionConfig, ctx: Context) -> Outcome:
    """Fit ``config.method`` to the image; PSNR (34) on the training, validation and test (all) pixels."""
    img = load_identified(config.image, config.image_sha256, config.image_path, size=config.size)
    masks = split_masks(img.shape)
    recon: dict[str, np.ndarray] = {}
    metrics: dict = {"n_train": int(masks["train"].sum()), "height": img.shape[0], "width": img.shape[1]}
    series: dict = {}
    if config.method in INTERPOLATIONS:
        recon[config.method] = interpolate_training_grid(img, config.method)
        metrics["diverged"] = False
    else:
        dtype = getattr(torch, config.dtype)
        data = regression_data(img, ctx.device, dtype=dtype)
        structure = get_structure(config.structure)
        cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate, optimizer=config.optimizer,
                          eval_every=config.eval_every, loss_every=config.loss_every, progress=ctx.progress,
                          description=f"{config.image} {config.method}")
        evals = {"val": (data.x["val"], data.y["val"]), "test": (data.x["test"], data.y["test"])}
        kw = dict(seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero, eval_sets=evals)
        if config.method == "SGDL":
            net, hist = fit_network(structure, data.x["train"], data.y["train"], cfg, **kw)
            with torch.no_grad():
                recon["SGDL"] = data.as_image(net(data.x["test"]))
            histories = [hist]
            metrics["n_parameters"] = sum(p.numel() for p in net.parameters())
        else:
            model, grades = fit_mgdl(structure, data.x["train"], data.y["train"], cfg, n_grades=config.n_grades, **kw)
            for g in grades:
                recon[f"grade {g.grade}"] = data.as_image(g.predictions["test"])
            histories = [g.history for g in grades]
            metrics["n_parameters"] = sum(p.numel() for p in model.parameters())
        metrics["diverged"] = any(h.diverged for h in histories)
        series["grades"] = [{
            "grade": i + 1 if config.method == "MGDL" else None,
            "loss_epochs": h.loss_epochs, "loss": h.loss, "eval_epochs": h.eval_epochs,
            "psnr_val": [loss_to_psnr(v) for v in h.metrics.get("val_loss", [])],
            "psnr_test": [loss_to_psnr(v) for v in h.metrics.get("test_loss", [])],
            "diverged_epoch": h.diverged_epoch, "seconds": h.seconds} for i, h in enumerate(histories)]
        # SGDL oscillates (Figure 5): the final epoch is one draw; keep the best-validation and the tail range too
        last = series["grades"][-1]
        val, test = last["psnr_val"], last["psnr_test"]
        finite_val = [(v, i) for i, v in enumerate(val) if v is not None]
        metrics["psnr_test_at_best_val"] = test[max(finite_val)[1]] if finite_val else None
        metrics["psnr_test_tail_min"], metrics["psnr_test_tail_max"] = tail_range(test, 0.05)

    def scores(pred: np.ndarray) -> dict:
        if not np.isfinite(pred).all():
            return {f"psnr_{name}": None for name in masks}
        return {f"psnr_{name}": psnr(img[m], pred[m]) for name, m in masks.items()}

    final = recon[list(recon)[-1]]
    metrics.update(scores(final))
    if config.method == "MGDL":
        series["psnr_per_grade"] = [{"grade": int(k.split()[-1]), **scores(v)} for k, v in recon.items()]
    return Outcome(metrics=metrics, series=series, arrays={"target": img, **recon})


register(RegressionConfig, compute, tolerances={"psnr_train": 0.1, "psnr_val": 0.1, "psnr_test": 0.1,
                                                  "psnr_test_at_best_val": 0.1, "psnr_test_tail_min": 0.1,
                                                  "psnr_test_tail_max": 0.1})


# ------------------------------------------------------------------------------------------------ profiles
PROFILE_SETTINGS = {
    #          longer side, epochs per model/grade, eval_every, loss_every, initialisation seeds of the networks
    "paper": dict(size=None, epochs=SEC4_REGRESSION_EPOCHS, eval_every=100, loss_every=10, seeds=(0,)),
    "cpu": dict(size=128, epochs=3_000, eval_every=100, loss_every=5, seeds=(0, 1, 2)),
    "smoke": dict(size=32, epochs=60, eval_every=20, loss_every=1, seeds=(0,)),
}


def make_config(image: str, method: str, profile: str, *, seed: int = 0, device: str = "auto",
                **overrides) -> RegressionConfig:
    """The config of one Table-1 run under ``profile`` (``overrides`` replace any field)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("method", method, METHODS)
    if method not in NETWORKS and seed != 0:
        raise ValueError(f"the interpolation method {method!r} has no seed; use seed=0")
    label, sha, path = image_identity(image)
    s = PROFILE_SETTINGS[profile]
    fields = dict(image=label, image_sha256=sha, image_path=path, size=s["size"], method=method, seed=seed,
                  device=resolve_device(device).type)
    if method in NETWORKS:
        fields.update(structure=STRUCTURE_OVERRIDES.get(label, STRUCTURES)[method], epochs=s["epochs"],
                      eval_every=s["eval_every"], loss_every=s["loss_every"])
    else:
        fields.update(structure=None, n_grades=None, optimizer=None, learning_rate=None, epochs=0, init=None,
                      relu_prime_at_zero=None, device="cpu")   # numpy on the CPU wherever it runs
    fields.update(overrides)
    return RegressionConfig(**fields)


def configs(profile: str, images: Sequence[str] = ("cameraman", "barbara", "butterfly", "pirate", "chest"), *,
            methods: Sequence[str] = METHODS, seeds: Sequence[int] | None = None, device: str = "auto"
            ) -> list[RegressionConfig]:
    """Table 1 under ``profile``: every image x method x seed (``seeds`` None: the profile's), seed by seed, so that a
    campaign finishes the first seed of every image first; interpolations once (they have no seed)."""
    seeds = PROFILE_SETTINGS[profile]["seeds"] if seeds is None else tuple(seeds)
    out = []
    for i, seed in enumerate(seeds):
        for image in images:
            for method in methods:
                if method in NETWORKS or i == 0:
                    out.append(make_config(image, method, profile, seed=seed if method in NETWORKS else 0,
                                           device=device))
    return out
