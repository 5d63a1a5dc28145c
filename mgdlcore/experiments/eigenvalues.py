"""Eigenvalues of ``I - eta H`` during gradient descent, SGDL vs MGDL (Sec. 6, Figures 2-3 and 16-24).

Config :class:`EigenConfig`; compute :func:`compute`; profile function :func:`configs`. Plain GD (2)/(4) trains the
network; every ``eval_every`` epochs the ``k`` smallest and largest eigenvalues of ``I - eta H_F(W^k)`` are recorded
at the parameters before that epoch's update (:class:`~mgdlcore.analysis.spectra.EigenTracker`). For MGDL, ``F`` is the
current grade's loss and ``H`` its Hessian in that grade's parameters. Cases (structures of Appendix D):

* ``synthetic``: eq. (5), setting 1 or 2, SGDL (26) / MGDL (30), loss (1)/(3) on the 1024 training points.
* ``image``: regression on the even rows and columns of an image, SGDL (27) / MGDL (31). The authors' image rule:
  Barbara's top-right quarter (``crop``), the resolution chart inverted (``invert``), then ``img[::stride, ::stride]``.
* ``image_full``: the same data with the Table-1 networks (28) / (32), by Lanczos (not in the paper).
* ``denoising``: the penalised ROF objective of Appendix C on a noisy image, every pixel a training point, SGDL (27)
  / MGDL (31), by ``training.rof.fit_restoration`` with ``eps_l = 1`` (as the authors' eigenvalue scripts).

``stop_below`` (the authors' MGDL image script: -0.95) ends a grade at the first recorded epoch after its start
whose smallest eigenvalue is below it; None trains every grade for ``epochs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis.curves import oscillation
from ..analysis.hessian import OutputLoss
from ..analysis.spectra import EIG_METHODS, EigenTracker
from ..data.grid import regression_data
from ..data.images import image_identity, load_identified, resize
from ..data.synthetic import check_phases, synthetic_data
from ..device import resolve_device
from ..metrics import psnr
from ..paper.values import (SEC5_AUTHOR_PHASES, SEC6_AUTHORS_STOP_BELOW, SEC6_DENOISING_ALPHA, SEC6_DENOISING_PENALTIES,
                            SEC6_LEARNING_RATES)
from ..physics.noise import degrade
from ..physics.operators import ForwardDifference, Identity
from ..structures import MGDLStructure, SGDLStructure, get_structure
from ..training.grades import fit_mgdl, fit_network
from ..training.loop import History, TrainConfig, half_mse
from ..training.objectives import rof_objective
from ..training.rof import fit_restoration
from .config import ExperimentConfig, omitted_at_default, one_of, positive_float, positive_int, runtime_only
from .runner import Context, Outcome, register

METHODS = ("SGDL", "MGDL")
CASES = ("synthetic", "image", "image_full", "denoising")
STRUCTURES = {"synthetic": ("26", "30"), "image": ("27", "31"), "image_full": ("28", "32"), "denoising": ("27", "31")}
CROPS = ("top_right_quarter",)
INITS = ("he_normal", "glorot_normal", "torch_default")
# the authors' image rule per registry image: (crop, invert); stride by case (image: [::2]; denoising: [::2][::4])
AUTHORS_IMAGE_RULE = {"barbara": ("top_right_quarter", False), "resolution_chart": (None, True)}
AUTHORS_STRIDE = {"image": 2, "image_full": 2, "denoising": 8}


@dataclass(frozen=True, kw_only=True)
class EigenConfig(ExperimentConfig):
    """One GD run of SGDL or MGDL with the eigenvalues of ``I - eta H`` tracked (Sec. 6)."""

    KIND = "eigenvalues"
    TASKS = ("eigenvalues",)

    task: str = "eigenvalues"
    method: str = "MGDL"
    case: str = "synthetic"
    setting: int | None = 1                    # synthetic: eq. (5) setting 1 or 2
    phase_seed: int | None = 0                 # synthetic: phases of eq. (5) from default_rng(phase_seed) ...
    phases: tuple[float, ...] | None = omitted_at_default(None)   # ... or given: the authors' (phase_seed None)
    image: str | None = None                   # registry name or "file:<name>" (image cases)
    image_sha256: str | None = None
    crop: str | None = None                    # "top_right_quarter": the authors' Barbara
    invert: bool = False                       # 1 - f: the authors' resolution chart
    stride: int | None = None                  # keep img[::stride, ::stride] (the authors' rule)
    size: int | None = None                    # else: longer side anti-aliased to this (None: no resizing)
    structure: str = "30"
    epochs: int = 20_000                       # per SGDL model and per MGDL grade
    learning_rate: float = 0.06
    optimizer: str = "gd"
    eval_every: int = 2_000                    # eigenvalues every this many epochs (and at both ends)
    loss_every: int = 10                       # training loss of every this many epochs kept in the record
    k: int = 10                                # smallest and largest eigenvalues tracked
    eig_method: str = "dense"                  # "dense" (exact counts) or "lanczos" (the k extremes)
    lanczos_tol: float | None = None
    stop_below: float | None = None            # authors' MGDL image script: -0.95
    beta: float | None = None                  # denoising: penalties and prox relaxation of (20)
    lam: float | None = None
    alpha: float | None = None
    noise_level: float | None = None           # denoising: noise std on the 0-255 scale
    noise_seed: int | None = None
    init: str = "he_normal"                    # the authors' eigenvalue scripts: He normal, zero biases
    relu_prime_at_zero: int = 1                # the authors' eigenvalue scripts: ReLU'(0) = 1
    image_path: str | None = runtime_only()

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        one_of("case", self.case, CASES)
        s = get_structure(self.structure)
        expected = SGDLStructure if self.method == "SGDL" else MGDLStructure
        if not isinstance(s, expected):
            raise ValueError(f"structure ({self.structure}) is not an {self.method} structure")
        if self.case == "synthetic":
            one_of("setting", self.setting, (1, 2))
            if (self.phase_seed is None) == (self.phases is None):
                raise ValueError("give exactly one of phase_seed and phases for the synthetic data")
            if self.phases is not None:
                check_phases(self.setting, self.phases)
            else:
                positive_int("phase_seed", self.phase_seed, minimum=0)
            if self.image is not None:
                raise ValueError("image must be None for the synthetic case")
        else:
            if self.setting is not None or self.phase_seed is not None or self.phases is not None:
                raise ValueError(f"setting, phase_seed and phases must be None for the {self.case} case")
            if not self.image:
                raise ValueError(f"the {self.case} case needs an image")
            one_of("crop", self.crop, (None, *CROPS))
            if self.stride is not None:
                positive_int("stride", self.stride)
            if self.size is not None:
                positive_int("size", self.size, minimum=16)
            if self.stride is not None and self.size is not None:
                raise ValueError("give stride or size, not both")
        if s.input_dim != (1 if self.case == "synthetic" else 2):
            raise ValueError(f"structure ({self.structure}) does not take the input of the {self.case} case")
        positive_int("epochs", self.epochs)
        positive_float("learning_rate", self.learning_rate)
        one_of("optimizer", self.optimizer, ("gd",))
        positive_int("eval_every", self.eval_every)
        positive_int("loss_every", self.loss_every)
        positive_int("k", self.k)
        one_of("eig_method", self.eig_method, EIG_METHODS)
        if (self.lanczos_tol is None) == (self.eig_method == "lanczos"):
            raise ValueError("lanczos_tol is set exactly when eig_method is 'lanczos'")
        if self.lanczos_tol is not None:
            positive_float("lanczos_tol", self.lanczos_tol)
        if self.stop_below is not None and not isinstance(self.stop_below, (int, float)):
            raise ValueError(f"stop_below must be a number or None, got {self.stop_below!r}")
        rof = ("beta", "lam", "alpha", "noise_level", "noise_seed")
        if self.case == "denoising":
            for name in ("beta", "lam", "alpha", "noise_level"):
                positive_float(name, getattr(self, name))
            positive_int("noise_seed", self.noise_seed, minimum=0)
        elif any(getattr(self, n) is not None for n in rof):
            raise ValueError(f"{', '.join(rof)} apply to the denoising case only")
        one_of("init", self.init, INITS)
        one_of("relu_prime_at_zero", self.relu_prime_at_zero, (0, 1))

    def subject(self) -> str:
        if self.case == "synthetic":
            return f"setting{self.setting}"
        if self.case == "denoising":
            return f"{self.image}-denoising{self.noise_level:g}"
        return self.image + ("-full" if self.case == "image_full" else "")


# ------------------------------------------------------------------------------------------------ data
def prepare_image(img: np.ndarray, *, crop: str | None, invert: bool, stride: int | None, size: int | None
                  ) -> np.ndarray:
    """The authors' image rule: optional top-right quarter, ``1 - f``, then ``img[::stride, ::stride]`` (or an
    anti-aliased resize of the longer side to ``size``)."""
    if crop == "top_right_quarter":
        h, w = img.shape
        img = img[: h // 2, w // 2:]
    if invert:
        img = 1.0 - img
    if stride is not None:
        img = img[::stride, ::stride]
    elif size is not None:
        img = resize(img, size)
    if min(img.shape) < 8:
        raise ValueError(f"the image rule leaves {img.shape} pixels; use a smaller stride or a larger size")
    return np.ascontiguousarray(img, dtype=np.float64)


def config_image(config: EigenConfig) -> np.ndarray:
    full = load_identified(config.image, config.image_sha256, config.image_path)
    return prepare_image(full, crop=config.crop, invert=config.invert, stride=config.stride, size=config.size)


# ------------------------------------------------------------------------------------------------ compute
def _grade_series(track, hist: History, loss_every: int) -> dict:
    """One SGDL model / MGDL grade: its eigenvalue track, loss (kept every ``loss_every``, cut at a stop) and
    oscillation of the per-epoch loss (``analysis.curves.oscillation``)."""
    end = track.stopped_epoch if track.stopped_epoch is not None else hist.epochs_run
    pairs = [(e, v) for e, v in zip(hist.loss_epochs, hist.loss) if e < end]
    osc = oscillation([[v for _, v in pairs]])
    kept = pairs[::loss_every]
    return {**track.to_dict(), "epochs_run": end, "loss_epochs": [e for e, _ in kept], "loss": [v for _, v in kept],
            "diverged_epoch": hist.diverged_epoch, "seconds": hist.seconds, **osc}


def _tracker_kw(config: EigenConfig) -> dict:
    kw = dict(k=config.k, method=config.eig_method, stop_below=config.stop_below)
    if config.lanczos_tol is not None:
        kw["tol"] = config.lanczos_tol
    return kw


def _regression(config: EigenConfig, x, y, evals, cfg: TrainConfig) -> tuple[list, list]:
    structure = get_structure(config.structure)
    kw = dict(seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero, eval_sets=evals)
    trackers: list[EigenTracker] = []
    if config.method == "SGDL":
        def cbs(net):
            trackers.append(EigenTracker(net, OutputLoss(x, lambda o: half_mse(y, o)), config.learning_rate,
                                         **_tracker_kw(config)))
            return trackers[-1:]

        _, hist = fit_network(structure, x, y, cfg, callbacks=cbs, **kw)
        hists = [hist]
    else:
        def gcbs(grade, net, f, r):
            trackers.append(EigenTracker(net, OutputLoss(f, lambda o, r=r: half_mse(r, o)), config.learning_rate,
                                         grade=grade, **_tracker_kw(config)))
            return trackers[-1:]

        _, grades = fit_mgdl(structure, x, y, cfg, grade_callbacks=gcbs, **kw)
        hists = [g.history for g in grades]
    for t in trackers:
        t.release()
    return trackers, hists


def _denoising(config: EigenConfig, cfg: TrainConfig, device, dtype) -> tuple[list, list, dict, dict]:
    clean = config_image(config)
    observed = degrade(clean, Identity(), config.noise_level, noise_seed=config.noise_seed)
    y = torch.as_tensor(observed, dtype=dtype, device=device)
    A, B = Identity(), ForwardDifference()  # noqa: N806
    trackers: list[EigenTracker] = []

    def callbacks(grade, net, inputs, to_image, current_u):
        def phi(o):            # the objective (24) as a function of the network's outputs, u as GD sees it
            return rof_objective(to_image(o), current_u(), y, A, B, beta=config.beta, lam=config.lam)

        trackers.append(EigenTracker(net, OutputLoss(inputs, phi), config.learning_rate, grade=grade,
                                     **_tracker_kw(config)))
        return trackers[-1:]

    fit = fit_restoration(get_structure(config.structure), observed, A, cfg, alpha=config.alpha, beta=config.beta,
                          lam=config.lam, seed=config.seed, init=config.init,
                          relu_prime_at_zero=config.relu_prime_at_zero, clean=clean, device=device, dtype=dtype,
                          scale_grades=False, callbacks=callbacks)
    for t in trackers:
        t.release()
    images = {"clean": clean, "observed": observed, **fit.images}
    psnrs = {name: psnr(clean, img) for name, img in fit.images.items()}
    return trackers, fit.histories, images, psnrs


def compute(config: EigenConfig, ctx: Context) -> Outcome:
    """Train ``config.method`` by GD on ``config.case`` with the eigenvalues of ``I - eta H`` tracked."""
    dtype = getattr(torch, config.dtype)
    cfg = TrainConfig(epochs=config.epochs, learning_rate=config.learning_rate, optimizer="gd",
                      eval_every=config.eval_every, loss_every=1, progress=ctx.progress,
                      description=f"{config.subject()} {config.method}")
    metrics: dict = {}
    arrays: dict[str, np.ndarray] = {}
    series: dict = {}
    if config.case == "synthetic":
        d = synthetic_data(config.setting, phase_seed=config.phase_seed or 0, phases=config.phases, device=ctx.device,
                           dtype=dtype)
        metrics["n_train"] = int(d.x_train.shape[0])
        trackers, hists = _regression(config, d.x_train, d.y_train, {"val": (d.x_val, d.y_val)}, cfg)
    elif config.case in ("image", "image_full"):
        img = config_image(config)
        data = regression_data(img, ctx.device, dtype=dtype)
        metrics.update(n_train=data.n("train"), height=img.shape[0], width=img.shape[1])
        trackers, hists = _regression(config, data.x["train"], data.y["train"],
                                      {"val": (data.x["val"], data.y["val"])}, cfg)
    else:
        trackers, hists, images, psnrs = _denoising(config, cfg, ctx.device, dtype)
        clean = images["clean"]
        metrics.update(n_train=int(clean.size), height=clean.shape[0], width=clean.shape[1],
                       psnr_observed=psnr(clean, images["observed"]), psnr_final=list(psnrs.values())[-1])
        series["psnr_per_model"] = [{"name": k, "psnr": v} for k, v in psnrs.items()]
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in images.items()}
    grades = [_grade_series(t.track, h, config.loss_every) for t, h in zip(trackers, hists)]
    for g, h in zip(grades, hists):
        if "val_loss" in h.metrics:
            g["val_loss"] = h.metrics["val_loss"][: len(g["epochs"])]
        if "psnr" in h.metrics:
            g["psnr"] = h.metrics["psnr"][: len(g["epochs"])]
    series["grades"] = grades
    vals = [v for v in (grades[-1].get("val_loss") or []) if v is not None] if grades else []
    metrics["final_val_loss"] = vals[-1] if vals else None
    mins = [t.track.minimum() for t in trackers]
    counts = [c for t in trackers for c in t.track.n_le_minus1 if c is not None]
    first = trackers[0].track.smallest[0][0] if trackers and trackers[0].track.smallest else None
    metrics.update(
        min_eig=min((m for m in mins if m is not None), default=None),
        min_eig_at_init=first,
        max_n_le_minus1=max(counts, default=None),
        evals_with_le_minus1=sum(1 for c in counts if c > 0), n_evals=len(counts),
        n_stopped=sum(t.track.stopped_epoch is not None for t in trackers),
        final_loss=next((v for v in reversed(grades[-1]["loss"]) if v is not None), None) if grades else None,
        frac_increases=oscillation([g["loss"] for g in grades])["frac_increases"],
        max_jump=max((g["max_jump"] for g in grades if g["max_jump"] is not None), default=None),
        diverged=any(h.diverged for h in hists),
        n_parameters=sum(t.track.n_parameters for t in trackers))
    return Outcome(metrics=metrics, series=series, arrays=arrays)


register(EigenConfig, compute, tolerances={"min_eig": 0.02, "min_eig_at_init": 0.02, "psnr_final": 0.1})


# ------------------------------------------------------------------------------------------------ profiles
PROFILE_SETTINGS = {
    # per case: epochs per SGDL model / MGDL grade and the eigenvalue interval; then the loss kept every, k, the
    # Lanczos tolerance, the largest network given a dense Hessian, and image strides replacing the authors'
    "paper": {"synthetic": dict(epochs=1_000_000, eval_every=10_000), "image": dict(epochs=500_000, eval_every=10_000),
              "image_full": dict(epochs=10_000, eval_every=1_000), "denoising": dict(epochs=100_000, eval_every=5_000),
              "loss_every": 100, "k": 10, "lanczos_tol": 1e-5, "dense_max": 10_000, "stride": {},
              "phases": "legacy",     # the authors' phases of eq. (5), as Secs. 5 and 7 (SEC5_AUTHOR_PHASES)
              "image_seeds": (0, 1, 2)},
    "cpu": {"synthetic": dict(epochs=20_000, eval_every=2_000), "image": dict(epochs=4_000, eval_every=1_000),
            "image_full": dict(epochs=100, eval_every=100), "denoising": dict(epochs=6_000, eval_every=2_000),
            "loss_every": 10, "k": 10, "lanczos_tol": 1e-5, "dense_max": 3_300,
            "stride": {("image", "butterfly"): 4}, "image_seeds": (0, 1, 2)},
    "smoke": {"synthetic": dict(epochs=20, eval_every=20), "image": dict(epochs=20, eval_every=20),
              "image_full": dict(epochs=1, eval_every=1), "denoising": dict(epochs=20, eval_every=20),
              "loss_every": 1, "k": 3, "lanczos_tol": 1e-3, "dense_max": 1_200,
              "stride": {("image", "resolution_chart"): 16, ("image_full", "resolution_chart"): 16,
                         ("denoising", "butterfly"): 32}, "image_seeds": (0,)},
}
# "image_seeds": the initialisations of the image pairs (SGDL, MGDL) of Figures 3, 18-20. At the captions' rates GD
# starts far beyond eta * lambda_max(H) = 2 (Theorem 1); whether SGDL survives its first steps depends on the draw
# (at seed 0 it diverges on Cameraman and Barbara, at seeds 1-4 it trains), so one seed cannot decide those claims
DENOISING_NOISE_SEED = 0


def _lr(case: str, subject: str, method: str) -> float:
    return SEC6_LEARNING_RATES[(subject, method)] if case != "denoising" else SEC6_LEARNING_RATES[("denoising", method)]


def _n_parameters(widths: Sequence[int]) -> int:
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def _eig_method(structure: str, method: str, dense_max: int) -> str:
    """Dense when the largest network trained (SGDL, or the largest MGDL grade) has at most ``dense_max``
    parameters, else Lanczos."""
    s = get_structure(structure)
    widths = [s.widths] if method == "SGDL" else [s.grade_widths(g) for g in range(1, s.n_grades + 1)]
    return "dense" if max(map(_n_parameters, widths)) <= dense_max else "lanczos"


def make_config(case: str, method: str, profile: str, *, setting: int | None = None, image: str | None = None,
                noise_level: float | None = None, stop_below: float | None = None, seed: int = 0,
                device: str = "auto", **overrides) -> EigenConfig:
    """The config of one Sec.-6 run under ``profile`` (``overrides`` replace any field).

    Learning rates are the paper's figure captions (denoising: the authors' code), ``paper.values``.
    """
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    one_of("case", case, CASES)
    one_of("method", method, METHODS)
    s = PROFILE_SETTINGS[profile]
    structure = STRUCTURES[case][METHODS.index(method)]
    eig = "lanczos" if case == "image_full" else _eig_method(structure, method, s["dense_max"])
    fields = dict(case=case, method=method, structure=structure, seed=seed, device=resolve_device(device).type,
                  loss_every=s["loss_every"], k=s["k"], eig_method=eig,
                  lanczos_tol=s["lanczos_tol"] if eig == "lanczos" else None, stop_below=stop_below, **s[case])
    if case == "synthetic":
        setting = setting if setting is not None else 1
        fields.update(setting=setting, learning_rate=_lr(case, f"setting{setting}", method),
                      **(dict(phase_seed=None, phases=tuple(SEC5_AUTHOR_PHASES[s["phases"]][setting]))
                         if s.get("phases") else dict(phase_seed=0)))
    else:
        name = image or ("butterfly" if case == "denoising" else "resolution_chart")
        label, sha, path = image_identity(name)
        crop, invert = AUTHORS_IMAGE_RULE.get(label, (None, False))
        stride = s["stride"].get((case, label), AUTHORS_STRIDE[case])
        fields.update(setting=None, phase_seed=None, image=label, image_sha256=sha, image_path=path, crop=crop,
                      invert=invert, stride=stride, learning_rate=_lr(case, label, method))
        if case == "denoising":
            beta, lam = SEC6_DENOISING_PENALTIES[method]
            fields.update(beta=beta, lam=lam, alpha=SEC6_DENOISING_ALPHA,
                          noise_level=float(noise_level if noise_level is not None else 10),
                          noise_seed=DENOISING_NOISE_SEED)
    fields.update(overrides)
    return EigenConfig(**fields)


def configs(profile: str, *, images: Sequence[str] = ("resolution_chart", "cameraman", "barbara", "butterfly"),
            seeds: Sequence[int] | None = None, device: str = "auto") -> list[EigenConfig]:
    """Sec. 6 under ``profile``: synthetic settings 1-2, the image case on ``images`` (MGDL also with the authors'
    stopping rule), the Table-1 networks on the resolution chart (not in smoke), denoising of Figures 21-24
    (Butterfly and Barbara at noise 10 and 30; smoke: Butterfly at noise 10). ``seeds`` None: every run at seed
    0, and the image pairs also at the profile's further ``image_seeds``; a list: every run at each of them."""
    from ..paper.values import SEC6_DENOISING_CASES

    out = []
    smoke = profile == "smoke"
    if seeds is None:
        for seed in PROFILE_SETTINGS[profile]["image_seeds"]:
            if seed != 0:
                out += [make_config("image", m, profile, image=image, seed=seed, device=device)
                        for image in (images[:1] if smoke else images) for m in METHODS]
        seeds = (0,)
    for seed in seeds:
        kw = dict(seed=seed, device=device)
        for setting in ((1,) if smoke else (1, 2)):
            out += [make_config("synthetic", m, profile, setting=setting, **kw) for m in METHODS]
        for image in (images[:1] if smoke else images):
            out += [make_config("image", m, profile, image=image, **kw) for m in METHODS]
            out.append(make_config("image", "MGDL", profile, image=image, stop_below=SEC6_AUTHORS_STOP_BELOW, **kw))
        if not smoke:
            out += [make_config("image_full", m, profile, image="resolution_chart", **kw) for m in METHODS]
        for image, level in SEC6_DENOISING_CASES[:1] if smoke else SEC6_DENOISING_CASES:
            out += [make_config("denoising", m, profile, image=image, noise_level=level, **kw) for m in METHODS]
    return out


def run_all(configs_: Sequence[EigenConfig], *, results_dir, profile: str, train: str = "missing",
            progress: bool = False) -> dict:
    """``{label: Record}`` for every config (label: ``report.eigen.case_label``, unique where ``config.label()`` is
    not, e.g. with and without the stopping rule), or ``{label: reason}`` where ``runner.run_many`` reports none."""
    from ..report.eigen import case_label
    from .runner import run_many

    out: dict = {}
    for config in configs_:
        recs, why = run_many([config], results_dir=results_dir, profile=profile, train=train, progress=progress)
        out[case_label(config)] = recs[0] if recs else next(iter(why.values()))
    return out
