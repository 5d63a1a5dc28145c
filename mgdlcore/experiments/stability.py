"""Learning-rate bounds against observed divergence (beyond the paper: open question (b) of the summary).

GD on a quadratic with Hessian ``H`` is stable exactly when ``eta < 2 / lambda_max(H)``; Sec. 6 of the paper reads
convergence from the eigenvalues of ``I - eta H`` staying in (-1, 1]. For a network ``H`` moves during training
(its largest eigenvalue is the *sharpness*), and GD often trains at the *edge of stability*, with the sharpness
hovering at ``2 / eta`` (Cohen et al., 2021). For one network, SGDL (26) or grade ``k`` of MGDL (30) on eq. (5)
(the earlier grades first trained by GD at ``base_lr``), a record holds

* ``lambda_max(H)`` at initialisation and the bound ``2 / lambda_max``;
* the observed divergence threshold: a bisection in ``log(eta)`` on "the loss becomes non-finite within ``epochs``
  GD epochs from the same initialisation", as the interval ``[largest stable, smallest diverged]``;
* the sharpness along a run at the largest stable step size found, every ``track_every`` epochs.

Config :class:`StabilityConfig`; compute :func:`compute`; profile function :func:`configs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..analysis.hessian import OutputLoss, extreme_eigenvalues, hvp_function
from ..data.synthetic import synthetic_data
from ..device import resolve_device
from ..models import build_grade, build_network
from ..paper.values import SEC5_AUTHOR_PHASES
from ..structures import get_structure
from ..training.grades import fit_mgdl
from ..training.loop import TrainConfig, half_mse, train
from .config import ExperimentConfig, one_of, positive_float, positive_int
from .runner import Context, Outcome, register

METHODS = ("SGDL", "MGDL")
LEARNT = 0.9     # a run learnt when its final loss is below this fraction of the best constant fit's loss
STRUCTURES = {"SGDL": "26", "MGDL": "30"}


@dataclass(frozen=True, kw_only=True)
class StabilityConfig(ExperimentConfig):
    """One network of Sec. 5 (SGDL, or one MGDL grade) and its learning-rate bound against its divergence threshold."""

    KIND = "stability"
    TASKS = ("lr_bound",)

    task: str = "lr_bound"
    method: str = "SGDL"
    setting: int = 1                           # eq. (5): 1 or 2
    phases: tuple[float, ...] | None = None    # the authors' phases (None: numpy's from seed 0)
    structure: str = "26"
    grade: int | None = None                   # MGDL: the grade studied (earlier grades trained first)
    base_lr: float | None = None               # MGDL: GD step size of the earlier grades
    base_epochs: int | None = None             # MGDL: GD epochs of each earlier grade
    epochs: int = 1000                         # horizon of a divergence probe
    lr_lo: float = 0.01                        # bisection bracket of the threshold
    lr_hi: float = 8.0
    n_bisect: int = 6                          # bisection steps in log(eta) after checking the bracket
    track_every: int = 100                     # sharpness every this many epochs of the tracked run
    init: str = "he_normal"                    # the authors' synthetic code
    relu_prime_at_zero: int = 1

    def validate(self) -> None:
        super().validate()
        one_of("method", self.method, METHODS)
        one_of("setting", self.setting, (1, 2))
        if self.structure != STRUCTURES[self.method]:
            raise ValueError(f"{self.method} runs structure ({STRUCTURES[self.method]}), got {self.structure!r}")
        if self.method == "MGDL":
            positive_int("grade", self.grade)
            if self.grade > get_structure(self.structure).n_grades:
                raise ValueError(f"grade must be <= {get_structure(self.structure).n_grades}, got {self.grade}")
            positive_float("base_lr", self.base_lr)
            positive_int("base_epochs", self.base_epochs)
        elif (self.grade, self.base_lr, self.base_epochs) != (None, None, None):
            raise ValueError("grade, base_lr and base_epochs are for MGDL; leave them None for SGDL")
        positive_int("epochs", self.epochs)
        positive_float("lr_lo", self.lr_lo)
        positive_float("lr_hi", self.lr_hi)
        if not self.lr_lo < self.lr_hi:
            raise ValueError(f"lr_lo must be below lr_hi, got {self.lr_lo} and {self.lr_hi}")
        positive_int("n_bisect", self.n_bisect, minimum=0)
        positive_int("track_every", self.track_every)

    def subject(self) -> str:
        return f"setting{self.setting}" + (f"-grade{self.grade}" if self.grade else "")


def divergence_threshold(diverges: Callable[[float], bool], lo: float, hi: float, steps: int
                         ) -> tuple[float | None, float | None, list[tuple[float, bool]]]:
    """``(largest stable, smallest diverged, probes)`` by bisection in ``log(eta)`` on ``[lo, hi]``.

    ``None`` on a side means the bracket did not hold there (``lo`` diverged, or ``hi`` did not). Assumes that
    divergence is monotone in ``eta`` between the probes; ``probes`` lists every ``(eta, diverged)`` tried.
    """
    probes = []

    def probe(eta: float) -> bool:
        out = bool(diverges(eta))
        probes.append((eta, out))
        return out

    if probe(lo):
        return None, lo, probes
    if not probe(hi):
        return hi, None, probes
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi, probes


def sharpness(net: torch.nn.Module, features: torch.Tensor, target: torch.Tensor) -> float:
    """``lambda_max`` of the Hessian of the loss (1) of ``net`` at ``features``, by Lanczos on Hessian-vector
    products (``scipy.sparse.linalg.eigsh``; no dense matrix)."""
    loss = OutputLoss(features, lambda out: half_mse(target, out))
    n = sum(p.numel() for p in net.parameters())
    return float(extreme_eigenvalues(hvp_function(net, loss), n, 1, "LA", tol=1e-8)[0])


def problem(config: StabilityConfig, device: torch.device):
    """``(make, features, target, base_diverged)``: a function returning the network at its initialisation, and
    the inputs and target of its loss (for MGDL grade ``k``: the features and residual left by grades ``1..k-1``
    trained first by GD at ``base_lr``; ``base_diverged`` says whether one of them diverged)."""
    dtype = getattr(torch, config.dtype)
    data = synthetic_data(config.setting, phases=config.phases, device=device, dtype=dtype)
    x, y = data.x_train, data.y_train
    structure = get_structure(config.structure)
    kw = dict(seed=config.seed, init=config.init, relu_prime_at_zero=config.relu_prime_at_zero)
    if config.method == "SGDL":
        return (lambda: build_network(structure, **kw).to(device=device, dtype=dtype)), x, y, None
    features, target, base_diverged = x, y, None
    if config.grade > 1:
        base = TrainConfig(epochs=config.base_epochs, learning_rate=config.base_lr, optimizer="gd",
                           eval_every=max(1, config.base_epochs // 10), progress=False)
        model, results = fit_mgdl(structure, x, y, base, n_grades=config.grade - 1, **kw)
        base_diverged = any(r.history.diverged for r in results)
        with torch.no_grad():
            outs, features = model.grade_outputs(x)
            target = y - torch.stack(outs).sum(0)
    return (lambda: build_grade(structure, config.grade, **kw).to(device=device, dtype=dtype)), features, target, \
        base_diverged


def compute(config: StabilityConfig, ctx: Context) -> Outcome:
    """Bound at initialisation, observed threshold, sharpness along the run at the largest stable step size."""
    make, features, target, base_diverged = problem(config, ctx.device)
    metrics: dict = {"base_diverged": base_diverged}
    if base_diverged:
        return Outcome(metrics={**metrics, "diverged": True})

    def run(eta: float, callbacks=()):
        net = make()
        cfg = TrainConfig(epochs=config.epochs, learning_rate=eta, optimizer="gd", progress=False,
                          eval_every=config.track_every, loss_every=max(1, config.epochs // 500))
        return net, train(lambda: half_mse(target, net(features)), list(net.parameters()), cfg, callbacks=callbacks)

    lam0 = sharpness(make(), features, target)
    finals: dict[float, float | None] = {}

    def diverges(eta: float) -> bool:
        hist = run(eta)[1]
        finals[eta] = None if hist.diverged or not hist.loss else hist.loss[-1]
        return hist.diverged

    stable, diverged, probes = divergence_threshold(diverges, config.lr_lo, config.lr_hi, config.n_bisect)

    def stays_flat(eta: float) -> bool:
        """Not learning: diverged, or a final loss not below LEARNT x the constant fit's."""
        if eta not in finals:
            diverges(eta)
        return finals[eta] is None or finals[eta] >= LEARNT * constant
    constant = float(half_mse(target, target.mean().expand_as(target)))
    top = stable if stable is not None else config.lr_hi
    learns_up_to, flat_from, learn_probes = divergence_threshold(stays_flat, config.lr_lo, top, config.n_bisect)
    track_epochs, track = [], []
    if stable is not None:
        holder: dict = {}

        def record_sharpness(epoch: int) -> None:
            if epoch % config.track_every == 0 or epoch == config.epochs:
                track_epochs.append(epoch)
                track.append(sharpness(holder["net"], features, target))

        # the tracked run: the same initialisation at the largest stable step size found
        net = make()
        holder["net"] = net
        cfg = TrainConfig(epochs=config.epochs, learning_rate=stable, optimizer="gd", progress=False,
                          eval_every=config.track_every, loss_every=max(1, config.epochs // 500))
        hist = train(lambda: half_mse(target, net(features)), list(net.parameters()), cfg,
                     callbacks=[record_sharpness])
        tracked_loss = (hist.loss_epochs, hist.loss)
        final = hist.loss[-1] if hist.loss and not hist.diverged else None
    else:
        tracked_loss, final = ([], []), None
    bound = 2.0 / lam0 if lam0 > 0 else None
    mid = math.sqrt(stable * diverged) if stable is not None and diverged is not None else None
    finite = [s for s in track if math.isfinite(s)]
    metrics.update(
        diverged=False, n_parameters=sum(p.numel() for p in make().parameters()),
        lambda_max_init=lam0, bound_init=bound, threshold_stable=stable, threshold_diverged=diverged,
        threshold_ratio=None if mid is None or bound is None else mid / bound,
        sharpness_final=finite[-1] if finite else None, sharpness_max=max(finite) if finite else None,
        edge_of_stability=None if not finite or stable is None else stable * max(finite) / 2.0,
        n_probes=len(probes), tracked_final_loss=final,
        # the loss of the best constant fit: a "stable" run at that level has learnt nothing (e.g. dead units)
        constant_fit_loss=constant, learn_threshold_lo=learns_up_to, learn_threshold_hi=flat_from)
    series = {"probes": [[eta, d, finals[eta]] for eta, d in probes],   # step size, diverged, final loss
              "learn_probes": [[eta, flat, finals[eta]] for eta, flat in learn_probes],   # ..., learnt nothing
              "sharpness_epochs": track_epochs, "sharpness": track,
              "loss_epochs": tracked_loss[0], "loss": tracked_loss[1]}
    return Outcome(metrics=metrics, series=series)


register(StabilityConfig, compute, tolerances={"*": 1e-6, "lambda_max_init": 1e-4, "bound_init": 1e-4})

PROFILE_SETTINGS = {
    # divergence horizon, bisection steps, earlier MGDL grades (GD epochs, step size), sharpness every
    "paper": dict(settings=(1, 2), epochs=100_000, n_bisect=7, base_epochs=100_000, base_lr=0.1, track_every=10_000),
    "cpu": dict(settings=(1, 2), epochs=3_000, n_bisect=7, base_epochs=3_000, base_lr=0.1, track_every=300),
    "smoke": dict(settings=(1,), epochs=150, n_bisect=3, base_epochs=150, base_lr=0.1, track_every=50),
}


def make_config(setting: int, method: str, profile: str, *, grade: int | None = None, device: str = "auto",
                **overrides) -> StabilityConfig:
    """The config of one network under ``profile`` (the authors' phases of eq. (5), their initialisation)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    s = PROFILE_SETTINGS[profile]
    fields = dict(method=method, setting=setting, phases=tuple(SEC5_AUTHOR_PHASES["legacy"][setting]),
                  structure=STRUCTURES.get(method, "?"), epochs=s["epochs"], n_bisect=s["n_bisect"],
                  track_every=s["track_every"], device=resolve_device(device).type)
    if method == "MGDL":
        fields.update(grade=grade, base_lr=s["base_lr"], base_epochs=s["base_epochs"])
    fields.update(overrides)
    return StabilityConfig(**fields)


def configs(profile: str, *, device: str = "auto") -> list[StabilityConfig]:
    """SGDL (26) and every grade of MGDL (30) in each setting of ``profile`` (smoke: grades 1-2)."""
    one_of("profile", profile, tuple(PROFILE_SETTINGS))
    s = PROFILE_SETTINGS[profile]
    grades = range(1, 3) if profile == "smoke" else range(1, get_structure(STRUCTURES["MGDL"]).n_grades + 1)
    out = []
    for setting in s["settings"]:
        out.append(make_config(setting, "SGDL", profile, device=device))
        out += [make_config(setting, "MGDL", profile, grade=g, device=device) for g in grades]
    return out
