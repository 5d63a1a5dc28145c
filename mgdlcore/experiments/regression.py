"""The image-regression experiment of Sec. 4 (Table 1, Figures 5-6): one image, one method, one profile."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.grid import regression_data, split_masks
from ..device import resolve_device
from ..training.grades import fit_mgdl, fit_network
from ..data.images import image_label, load_image
from ..baselines.interpolation import interpolate_training_grid
from ..metrics import psnr
from ..experiments.profiles import REGRESSION_PROFILES, RegressionProfile, get_profile
from ..experiments.records import provenance, record_path, save_arrays_atomic, write_record
from ..structures import get_structure
from ..training.loop import TrainConfig

TASK = "regression"
METHODS = ("SGDL", "MGDL", "bilinear", "bicubic")
INTERPOLATIONS = ("bilinear", "bicubic")


def loss_to_psnr(loss: float | None) -> float | None:
    """PSNR (34) on [0, 1] images from the loss (1): ``mse = 2 * loss``."""
    if loss is None or not math.isfinite(loss) or loss <= 0:
        return None
    return -10.0 * math.log10(2.0 * loss)


@dataclass
class RegressionRun:
    """A record and the reconstructed images (all pixels) it summarises: one per grade for MGDL."""

    record: dict
    reconstructions: dict[str, np.ndarray]


def _base_record(image: str, method: str, profile: RegressionProfile, seed: int, shape) -> dict:
    sgdl, mgdl = profile.structures_for(image_label(image))
    structure = {"SGDL": sgdl, "MGDL": mgdl}.get(method)
    return {
        "task": TASK,
        "image": image_label(image),
        "image_source": str(image),
        "method": method,
        "profile": profile.name,
        "structure": structure,
        "structure_text": get_structure(structure).describe() if structure else None,
        "epochs": profile.epochs if structure else 0,
        "learning_rate": profile.learning_rate if structure else None,
        "optimizer": "adam" if structure else None,
        "seed": seed,
        "variant": f"max_size={profile.max_size}",
        "image_shape": list(shape),
        "settings": profile.to_dict(),
    }


def run_regression(image: str, method: str, profile: str = "cpu", *, device: str = "auto", seed: int = 0,
                   results_dir: str | os.PathLike | None = None, reuse: bool = True,
                   progress: bool = True) -> RegressionRun:
    """Fit ``method`` to ``image`` under ``profile``; write (or reuse) its record in ``results_dir``.

    ``image`` is a registry name or an image path. With ``reuse`` and an existing record of the same
    experiment (same key fields) in ``results_dir``, that record and its images are returned untouched.
    """
    prof = get_profile(REGRESSION_PROFILES, profile)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    dev = resolve_device(device)
    img = load_image(image, size=prof.max_size)        # errors surface before anything is written
    record = _base_record(image, method, prof, seed, img.shape)
    if results_dir is not None:
        path = record_path(results_dir, record)
        arrays_path = path.with_suffix(".npz")
        if reuse and path.is_file() and method in INTERPOLATIONS:  # instant to recompute: no arrays stored
            return RegressionRun(json.loads(path.read_text()), {method: interpolate_training_grid(img, method)})
        if reuse and path.is_file() and arrays_path.is_file():
            with np.load(arrays_path) as z:
                recs = {k: z[k].astype(np.float64) for k in z.files}
            return RegressionRun(json.loads(path.read_text()), recs)

    masks = split_masks(img.shape)
    t0 = time.perf_counter()
    recon: dict[str, np.ndarray] = {}
    if method in INTERPOLATIONS:
        out = interpolate_training_grid(img, method)
        recon[method] = out
        record.update(diverged=False, history=None)
    else:
        torch.manual_seed(seed)  # nothing should draw from it; set for third-party code paths
        data = regression_data(img, dev)
        structure = get_structure(record["structure"])
        cfg = TrainConfig(epochs=prof.epochs, learning_rate=prof.learning_rate, optimizer="adam",
                          eval_every=prof.eval_every, loss_every=prof.loss_every, progress=progress,
                          description=f"{record['image']} {method}")
        evals = {"val": (data.x["val"], data.y["val"]), "test": (data.x["test"], data.y["test"])}
        if method == "SGDL":
            net, hist = fit_network(structure, data.x["train"], data.y["train"], cfg, seed=seed, eval_sets=evals)
            with torch.no_grad():
                recon["SGDL"] = data.as_image(net(data.x["test"]))
            histories = [hist]
            record["n_parameters"] = sum(p.numel() for p in net.parameters())
        else:
            model, grades = fit_mgdl(structure, data.x["train"], data.y["train"], cfg, seed=seed, eval_sets=evals)
            for g in grades:
                recon[f"grade {g.grade}"] = data.as_image(g.predictions["test"])
            histories = [g.history for g in grades]
            record["n_parameters"] = [sum(p.numel() for p in grade.parameters()) for grade in model.grades]
        record["diverged"] = any(h.diverged for h in histories)
        record["history"] = [
            {"grade": i + 1 if method == "MGDL" else None,
             "loss_epochs": h.loss_epochs, "loss": h.loss, "eval_epochs": h.eval_epochs,
             "psnr_val": [loss_to_psnr(v) for v in h.metrics.get("val_loss", [])],
             "psnr_test": [loss_to_psnr(v) for v in h.metrics.get("test_loss", [])],
             "diverged_epoch": h.diverged_epoch, "seconds": h.seconds}
            for i, h in enumerate(histories)
        ]
    record["seconds"] = time.perf_counter() - t0

    def scores(pred: np.ndarray) -> dict:
        return {f"psnr_{name}": psnr(img[m], pred[m]) for name, m in masks.items()}

    record["n_train"] = int(masks["train"].sum())
    final = recon[list(recon)[-1]]
    record.update(scores(final) if np.isfinite(final).all() else {"psnr_train": None, "psnr_val": None,
                                                                    "psnr_test": None})
    if method == "MGDL":
        record["psnr_per_grade"] = [
            {"grade": int(k.split()[-1]), **(scores(v) if np.isfinite(v).all() else {})} for k, v in recon.items()
        ]
    record.update(provenance(dev))
    if results_dir is not None:
        if method not in INTERPOLATIONS:
            save_arrays_atomic(record_path(results_dir, record).with_suffix(".npz"), recon)
        write_record(results_dir, record)
    return RegressionRun(record, recon)
