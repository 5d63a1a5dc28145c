"""Eigenvalue analysis of GD for SGDL and MGDL (Sec. 6, Figures 2-3 and 16-24).

During plain GD (2) the ``k`` smallest and largest eigenvalues of ``I - eta H_F(W^k)`` are recorded every
``eval_every`` epochs at the parameters *before* that epoch's update (``hessian.eigen_callback``), next to the
loss. For MGDL, ``F`` is the loss of the current grade and ``H`` its Hessian in that grade's parameters only.

Tasks (structures from Appendix D):

* ``"synthetic"``: eq. (5), setting 1 or 2, SGDL (26) / MGDL (30), half-MSE loss on the 1024 training points.
* ``"image"``: image regression on a pixel subset, SGDL (27) / MGDL (31): the image is downsampled (the authors
  take ``img[::2, ::2]`` of the 256 px resolution chart: 128 x 128), trained on its even rows and columns
  (64 x 64 = 4096 points). The resolution chart is inverted (``1 - f``) as in the authors' code.
* ``"image_full"``: the same data with the Table-1 networks (28) / (32), by Lanczos only (the paper calls a
  Hessian of these too expensive).
* ``"denoising"``: the ROF-penalised loss of Appendix C on a small noisy image, SGDL (27) / MGDL (31) fed with
  all pixel coordinates: ``1/2 ||N - f||^2 + beta/2 ||B N - u||^2 + lambda ||u||_1`` (sums), ``B`` the forward
  differences of ``operators.ForwardDifference``, ``u`` updated by the prox step (20) before every GD step and
  carried across grades. The MGDL grade loss is taken on the total image ``acc + g_l`` (no ``eps_l`` scaling,
  as in the authors' eigenvalue code); the prox reads ``B`` of the total image (the authors' eigenvalue code
  reads ``B g_l`` of the grade output alone).

Every network uses He-normal init (zero biases), ReLU'(0) = 1 (``models.relu_right``) and plain GD, as the
authors' eigenvalue code. Eigenvalues come from the dense Hessian when the trainable parameters number at most
``profile.dense_max_params`` (exact counts), else from Lanczos (the ``k`` extremes; counts among those ``k``).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..data.grid import regression_data
from ..device import resolve_device
from ..training.grades import fit_mgdl, fit_network
from ..analysis.hessian import OutputLoss, eigen_callback, iteration_eigenvalues, loss_hessian, n_trainable
from ..data.images import image_label, load_image
from ..models import build_grade, build_network
from ..physics.operators import ForwardDifference
from ..experiments.profiles import get_profile
from ..experiments.records import provenance, record_path, write_record
from ..training.objectives import prox_step
from ..structures import get_structure
from ..data.synthetic import synthetic_data
from ..training.loop import History, TrainConfig, half_mse, train

TASK = "eigenvalues"
TASKS = ("synthetic", "image", "image_full", "denoising")
METHODS = ("SGDL", "MGDL")
STRUCTURES = {"synthetic": ("26", "30"), "image": ("27", "31"), "image_full": ("28", "32"), "denoising": ("27", "31")}

# learning rates of the paper's figures (Fig. 2, 16, 3) and the authors' denoising code
PAPER_LR = {
    ("synthetic", 1, "SGDL"): 0.08, ("synthetic", 1, "MGDL"): 0.06,
    ("synthetic", 2, "SGDL"): 0.005, ("synthetic", 2, "MGDL"): 0.2,
    ("image", None, "SGDL"): 0.02, ("image", None, "MGDL"): 0.2,
    ("image_full", None, "SGDL"): 0.02, ("image_full", None, "MGDL"): 0.2,
    ("denoising", None, "SGDL"): 1e-5, ("denoising", None, "MGDL"): 5e-5,
}
# the authors' denoising penalties: SGDL main_run (beta 1e-2, lambda 1e-1), MGDL (beta 1e-3, lambda 1e-4)
DENOISING_PENALTIES = {"SGDL": (1e-2, 1e-1), "MGDL": (1e-3, 1e-4)}
DENOISING_ALPHA = 0.99


@dataclass(frozen=True)
class EigenProfile:
    """Epochs (SGDL, and per MGDL grade), eigenvalue interval and data sizes per task."""

    name: str
    synthetic_epochs: int          # paper: 1e6 (SGDL and per grade), eigenvalues every 1e4
    synthetic_eval_every: int
    image_size: int                # image side after downsampling (authors: 128, train 64 x 64)
    image_epochs: int              # paper: 5e5, every 1e4
    image_eval_every: int
    full_epochs: int               # the Table-1 networks (28)/(32) by Lanczos
    full_eval_every: int
    denoise_image: str
    denoise_size: int              # authors: the image / 8
    denoise_epochs: int            # paper: 1e5 per grade, every 2000 (SGDL) / 5000 (MGDL)
    denoise_eval_every: int
    noise_level: float = 10.0      # on the 0..255 scale
    loss_every: int = 10           # loss kept in the record every this many epochs
    k: int = 10
    dense_max_params: int = 3300   # dense Hessian at most this size (SGDL (26): 3,265), else Lanczos
    dense_at_end: bool = True      # one dense eigenvalue count at the final parameters when P <= 4000
    lanczos_tol: float = 1e-5

    def to_dict(self) -> dict:
        return asdict(self)

    def schedule(self, task: str) -> tuple[int, int]:
        return {"synthetic": (self.synthetic_epochs, self.synthetic_eval_every),
                "image": (self.image_epochs, self.image_eval_every),
                "image_full": (self.full_epochs, self.full_eval_every),
                "denoising": (self.denoise_epochs, self.denoise_eval_every)}[task]


EIGEN_PROFILES = {
    "paper": EigenProfile("paper", synthetic_epochs=1_000_000, synthetic_eval_every=10_000, image_size=128,
                          image_epochs=500_000, image_eval_every=10_000, full_epochs=10_000, full_eval_every=1_000,
                          denoise_image="butterfly", denoise_size=32, denoise_epochs=100_000,
                          denoise_eval_every=2_000, loss_every=100, dense_max_params=10_000),
    "cpu": EigenProfile("cpu", synthetic_epochs=20_000, synthetic_eval_every=2_000, image_size=128,
                        image_epochs=4_000, image_eval_every=1_000, full_epochs=100, full_eval_every=100,
                        denoise_image="butterfly", denoise_size=32, denoise_epochs=4_000, denoise_eval_every=1_000,
                        loss_every=10, dense_max_params=3_300),
    "smoke": EigenProfile("smoke", synthetic_epochs=40, synthetic_eval_every=40, image_size=16, image_epochs=40,
                          image_eval_every=20, full_epochs=2, full_eval_every=2, denoise_image="butterfly",
                          denoise_size=12, denoise_epochs=40, denoise_eval_every=20, loss_every=1, k=3,
                          dense_max_params=3_300, dense_at_end=False, lanczos_tol=1e-3),
}


def default_learning_rate(task: str, method: str, setting: int | None = None) -> float:
    """The learning rate of the paper's figure for this case."""
    return PAPER_LR[(task, setting if task == "synthetic" else None, method)]


def oscillation_stats(loss: list[float | None]) -> dict[str, float | None]:
    """How much a loss curve (every epoch) goes up: the fraction of epochs whose loss rose, and the largest
    one-step ratio ``loss[k+1] / loss[k]``."""
    v = np.array([np.nan if x is None else x for x in loss], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return {"frac_increases": None, "max_jump": None}
    r = v[1:] / np.maximum(v[:-1], 1e-300)
    return {"frac_increases": float(np.mean(v[1:] > v[:-1])), "max_jump": float(np.max(r))}


def _eig_callbacks(net, loss_of_net, lr, prof: EigenProfile, force_lanczos: bool = False):
    dense = not force_lanczos and n_trainable(net) <= prof.dense_max_params
    method = "dense" if dense else "lanczos"
    kw = {} if dense else {"tol": prof.lanczos_tol}
    return [eigen_callback(net, loss_of_net, lr, k=prof.k, method=method, **kw)], method


def _grade_entry(grade, hist: History, prof: EigenProfile, eig_method: str, n_params: int, final: dict | None):
    loss_full = hist.loss
    entry = {
        "grade": grade, "n_parameters": n_params, "eig_method": eig_method,
        "eval_epochs": hist.eval_epochs,
        "eig_min": [[hist.metrics[f"eig_min_{j}"][i] for j in range(prof.k)] for i in range(len(hist.eval_epochs))],
        "eig_max": [[hist.metrics[f"eig_max_{j}"][i] for j in range(prof.k)] for i in range(len(hist.eval_epochs))],
        "n_le_minus1": hist.metrics.get("n_le_minus1", []),
        "n_near_minus1": hist.metrics.get("n_near_minus1", []),
        "val_loss": hist.metrics.get("val_loss"),
        "loss_epochs": hist.loss_epochs[::prof.loss_every],
        "loss": loss_full[::prof.loss_every],
        "diverged_epoch": hist.diverged_epoch, "seconds": hist.seconds,
        **oscillation_stats(loss_full),
        "final_dense": final,
    }
    return entry


def _final_dense(net, loss_of_net, lr, prof) -> dict | None:
    """Exact eigenvalue counts at the final parameters (the network may have been frozen by ``fit_mgdl``)."""
    if not prof.dense_at_end or sum(p.numel() for p in net.parameters()) > 4000:
        return None
    flags = [p.requires_grad for p in net.parameters()]
    net.requires_grad_(True)
    try:
        res = iteration_eigenvalues(loss_hessian(net, loss_of_net), lr, prof.k)
    finally:
        for p, f in zip(net.parameters(), flags):
            p.requires_grad_(f)
    return {"smallest": list(res.smallest), "largest": list(res.largest), "n_le_minus1": res.n_le_minus1,
            "n_near_minus1": res.n_near_minus1}


def _config(prof, task, lr, label) -> TrainConfig:
    epochs, every = prof.schedule(task)
    return TrainConfig(epochs=epochs, learning_rate=lr, optimizer="gd", eval_every=every, loss_every=1,
                       progress=False, description=label)


def _regression_case(task, x, y, evals, method, structure, lr, prof, seed, rp, label):
    cfg = _config(prof, task, lr, label)
    force = task == "image_full"
    grades = []
    if method == "SGDL":
        meta = {}
        loss_of_net = OutputLoss(x, lambda o: half_mse(y, o))

        def cbs(net):
            out, meta["m"] = _eig_callbacks(net, loss_of_net, lr, prof, force)
            meta["p"] = n_trainable(net)
            return out

        net, hist = fit_network(structure, x, y, cfg, seed=seed, init="he_normal", relu_prime_at_zero=rp,
                                eval_sets=evals, callbacks=cbs)
        final = None if hist.diverged or force else _final_dense(net, loss_of_net, lr, prof)
        grades.append(_grade_entry(None, hist, prof, meta["m"], meta["p"], final))
        return grades
    metas, finals, sizes = {}, {}, {}

    def gcbs(grade, net, f, r):
        loss_of_net = OutputLoss(f, lambda o, r=r: half_mse(r, o))
        out, metas[grade] = _eig_callbacks(net, loss_of_net, lr, prof, force)
        finals[grade] = (net, loss_of_net)
        sizes[grade] = n_trainable(net)
        return out

    _, results = fit_mgdl(structure, x, y, cfg, seed=seed, init="he_normal", relu_prime_at_zero=rp,
                          eval_sets=evals, grade_callbacks=gcbs)
    for g in results:
        net, lf = finals[g.grade]
        final = None if g.history.diverged or force else _final_dense(net, lf, lr, prof)
        grades.append(_grade_entry(g.grade, g.history, prof, metas[g.grade], sizes[g.grade], final))
    return grades


def denoising_data(prof: EigenProfile, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clean image of side ``prof.denoise_size`` and its noisy version (noise ``noise_level/255``, seed ``seed``)."""
    clean = load_image(prof.denoise_image, size=prof.denoise_size)
    noise = np.random.default_rng(seed).standard_normal(clean.shape) * (prof.noise_level / 255.0)
    return clean, clean + noise


def _denoising_case(method, structure, lr, prof, seed, rp, dev, label):
    clean, noisy = denoising_data(prof, seed)
    shape = clean.shape
    grid = np.stack(np.meshgrid(np.arange(shape[0]) / shape[0], np.arange(shape[1]) / shape[1], indexing="ij"), -1)
    x = torch.as_tensor(grid.reshape(-1, 2), dtype=torch.float32, device=dev)
    y = torch.as_tensor(noisy, dtype=torch.float32, device=dev)
    B = ForwardDifference()  # noqa: N806
    beta, lam = DENOISING_PENALTIES[method]
    u = torch.zeros((2 * shape[0], shape[1]), dtype=torch.float32, device=dev)
    acc = torch.zeros(shape, dtype=torch.float32, device=dev)
    cfg = _config(prof, "denoising", lr, label)
    nets = [build_network(structure, seed=seed, init="he_normal", relu_prime_at_zero=rp)] if method == "SGDL" \
        else None
    n_grades = 1 if method == "SGDL" else structure.n_grades
    grades, psnrs = [], []
    feats = x
    for grade in range(1, n_grades + 1):
        net = (nets[0] if nets else build_grade(structure, grade, seed=seed, init="he_normal",
                                                relu_prime_at_zero=rp)).to(dev)

        def phi(o, a=acc):
            img = a + o.reshape(shape)
            return 0.5 * torch.sum((img - y) ** 2) + 0.5 * beta * torch.sum((B.A(img) - u) ** 2)

        loss_of_net = OutputLoss(feats, phi)

        def loss_fn(net=net, f=feats, a=acc):
            img = a + net(f).reshape(shape)
            with torch.no_grad():
                u.copy_(prox_step(u, B.A(img.detach()), alpha=DENOISING_ALPHA, beta=beta, lam=lam))
            return (0.5 * torch.sum((img - y) ** 2) + 0.5 * beta * torch.sum((B.A(img) - u) ** 2)
                    + lam * torch.sum(torch.abs(u)))

        cbs, meth = _eig_callbacks(net, loss_of_net, lr, prof)
        hist = train(loss_fn, list(net.parameters()), cfg, callbacks=cbs)
        final = None if hist.diverged else _final_dense(net, loss_of_net, lr, prof)
        grades.append(_grade_entry(grade if method == "MGDL" else None, hist, prof, meth, n_trainable(net), final))
        with torch.no_grad():
            out, feats = net.forward_with_features(feats)
            acc = acc + out.reshape(shape)
        mse = float(torch.mean((acc.double().cpu() - torch.as_tensor(clean)) ** 2))
        psnrs.append(-10 * math.log10(mse) if mse > 0 and math.isfinite(mse) else None)
        if hist.diverged:
            break
    noisy_mse = float(np.mean((noisy - clean) ** 2))
    extra = {"psnr_per_grade": psnrs, "psnr_noisy": -10 * math.log10(noisy_mse), "beta": beta, "lambda": lam,
             "alpha": DENOISING_ALPHA, "noise_level": prof.noise_level, "image_shape": list(shape)}
    return grades, extra


def case_label(task: str, setting: int | None, image: str | None, prof: EigenProfile) -> str:
    if task == "synthetic":
        return f"setting{setting}"
    if task == "denoising":
        return f"{prof.denoise_image}-denoising"
    return image_label(image) + ("-full" if task == "image_full" else "")


def run_eigen_analysis(task: str, method: str, *, setting: int | None = 1, image: str = "resolution_chart",
                       lr: float | None = None, profile: str = "cpu", device: str = "auto", seed: int = 0,
                       results_dir: str | os.PathLike | None = None, reuse: bool = True,
                       relu_prime_at_zero: int = 1) -> dict:
    """Train ``method`` on ``task`` by GD, recording the eigenvalues of ``I - lr H``; write (or reuse) a record.

    ``lr=None`` takes the paper's learning rate for the case (``PAPER_LR``).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    if task == "synthetic" and setting not in (1, 2):
        raise ValueError(f"synthetic setting must be 1 or 2, got {setting!r}")
    prof = get_profile(EIGEN_PROFILES, profile)
    dev = resolve_device(device)
    lr = float(lr) if lr is not None else default_learning_rate(task, method, setting)
    sname = STRUCTURES[task][0 if method == "SGDL" else 1]
    structure = get_structure(sname)
    epochs, every = prof.schedule(task)
    record = {
        "task": TASK, "case": task, "image": case_label(task, setting, image, prof), "method": method,
        "profile": prof.name, "structure": sname, "structure_text": structure.describe(), "epochs": epochs,
        "eval_every": every, "learning_rate": lr, "optimizer": "gd", "seed": seed,
        "variant": f"relu_prime_at_zero={relu_prime_at_zero}", "init": "he_normal",
        "relu_prime_at_zero": relu_prime_at_zero, "settings": prof.to_dict(),
    }
    if results_dir is not None:
        path = record_path(results_dir, record)
        if reuse and path.is_file():
            return json.loads(path.read_text())
    torch.manual_seed(seed)
    label = f"{record['image']} {method}"
    t0 = time.perf_counter()
    if task == "synthetic":
        d = synthetic_data(setting, device=dev)
        record.update(kappa=list(d.kappa), phases=list(d.phases), phase_seed=0, val_seed=1, n_train=1024)
        grades = _regression_case(task, d.x_train, d.y_train, {"val": (d.x_val, d.y_val)}, method, structure,
                                  lr, prof, seed, relu_prime_at_zero, label)
    elif task in ("image", "image_full"):
        img = 1.0 - load_image(image, size=prof.image_size)      # inverted as the authors' resolution chart
        data = regression_data(img, dev)
        record.update(image_shape=list(img.shape), n_train=data.n("train"), inverted=True)
        grades = _regression_case(task, data.x["train"], data.y["train"], {"val": (data.x["val"], data.y["val"])},
                                  method, structure, lr, prof, seed, relu_prime_at_zero, label)
    else:
        grades, extra = _denoising_case(method, structure, lr, prof, seed, relu_prime_at_zero, dev, label)
        record.update(extra)
    record["grades"] = grades
    record["diverged"] = any(g["diverged_epoch"] is not None for g in grades)
    record["max_n_le_minus1"] = max((max([c for c in g["n_le_minus1"] if c is not None] or [0]) for g in grades),
                                    default=0)
    record["evals_with_eig_le_minus1"] = sum(sum(1 for c in g["n_le_minus1"] if c and c > 0) for g in grades)
    record["n_evals"] = sum(len(g["n_le_minus1"]) for g in grades)
    mins = [v[0] for g in grades for v in g["eig_min"] if v[0] is not None]
    record["min_eig"] = min(mins) if mins else None
    record["final_loss"] = grades[-1]["loss"][-1] if grades[-1]["loss"] else None
    record["seconds"] = time.perf_counter() - t0
    record.update(provenance(dev))
    if results_dir is not None:
        write_record(results_dir, record)
    return record
