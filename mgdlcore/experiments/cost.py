"""How long a run will take: FLOPs of its training steps, a per-epoch overhead and a per-run setup, fitted per
device to records.

A config's work is ``flops`` (forward and backward passes of the linear layers over all its epochs, counted as in
``benchmarks/_common.step_flops``: ``6 N sum(fan_in * fan_out)`` per step, the first layer without an input
gradient is not discounted), ``epochs`` (every SGDL model's and MGDL grade's epochs) and ``layer_epochs`` (those
epochs times the linear layers they train: an MGDL grade trains its own one or two, SGDL all of them, MSDL each
scale's). Its time on a device is ``setup + flops / rate + layer_epochs * overhead``: the setup is what a run costs
before its first step (data, warm-up, compilation), the rate says how fast the arithmetic runs, the overhead what
every layer of a step costs beyond it (its kernel launches or graph nodes, Python, small tensors: a step of the
five-layer eq. (26) runs about twice the kernels of a two-layer MGDL grade, and on a GPU takes about as much longer,
whatever their FLOPs). The three are fitted by bounded least squares on the log of the times to the
records made on that device type: the measured seconds of every trained record that ran to its end, tracked no
eigenvalues and was made by the code it is stamped with (an adopted record keeps the time its older code took; the
campaign passes only records that are current, since a stale one's time is older code's too). A batch of runs
trained together (a stacked sweep, ``mgdl-campaign --batch``) is one row: its wall time divided by what
:func:`batch_seconds` says the batch costs over one member (:func:`single_seconds`); on a GPU nearly every untracked
plain-GD run of the paper profile is such a member, so without them that model never leaves its defaults. A member's
work in a batch is :func:`stacked_work`: on a GPU MSDL's stacked model runs its scales as one batched layer, so its
steps launch a quarter of the kernels they launch alone (the H200's 19-rate MSDL sweeps took 471 s, priced at
1,485 s by the work alone and 392 s by the stacked work); the plan prices sweeps by it (:func:`member_seconds`).
So the model is calibrated by the machines that made the records; with fewer than ``MIN_RECORDS`` such records of
different runs (by their work: repeats, other images of one size and the members of one batch count once) of a
device type, the figures of the last benchmark on it are used (``BENCHMARK_DEFAULTS``), and the fit may move
each figure at most ``FIT_RANGE`` times away from them. Plain gradient descent and the other optimisers get a model
each (:func:`engine`): on a GPU plain GD replays CUDA graphs (``training.graphs``) and Adam runs eager, on the CPU
plain GD takes fused steps (``training.fused``), so their per-epoch overheads differ several-fold and one fit to both
would misjudge each. Plain GD that the CPU runs eager (:func:`fused_on_cpu`: MSDL, activations other than ReLU,
``lr_bound``'s probes) gets an :class:`EagerModel` instead (key "cpu gd eager"): such a step is hundreds of small
tensor operations, so its time follows their count and the elements they write (:func:`eager_step`, counted by
running one step), not the FLOPs of its linear layers; priced by the fused model, Sec. 7's MSDL runs came out
3-20 times too cheap.

Eigenvalue checks are counted (:func:`checks`): a run that tracks the eigenvalues of ``I - eta H`` (the
``eigenvalues`` kind every ``eval_every`` epochs, the tracked ``gd_dynamics`` tasks every ``track_every``, the
sharpness of ``lr_bound``) computes them at epoch 0, at every multiple of the interval and at the last epoch, for
each SGDL or MSDL model and each MGDL grade, in the trainable parameters of the network being trained. A check's
work with ``P`` such parameters and ``N`` training points is ``N P^2 + P^3`` for a dense Hessian by the closed form
(``analysis.hessian.mlp_output_loss_hessian``, then all eigenvalues by ``eigvalsh``), ``P h + P^3`` by autodiff
(smooth activations, MSDL: ``P`` Hessian-vector products) and ``products * h`` by Lanczos, with
``h = 12 N sum(fan_in * fan_out)`` a Hessian-vector product's FLOPs (two gradients' worth) and ``products`` the
products of one solve (:func:`lanczos_products`). A Lanczos product is a forward-over-reverse pass of thousands of
small eager operations, so its time follows their count (:func:`eager_hvp`), not ``h``: on the deep sReLU MSDL of
Sec. 7's variants (``P`` = 5,636, ``N`` = 1,024) one product is 3,562 operations for 0.069 MFLOP of ``h``, and with
the B-spline 8,962 for the same ``h``. On a device, checks
take ``count * check_setup + check_flops / check_rate`` plus, for Lanczos, ``per_op`` times the operations and
``per_element`` times the elements its products write (:class:`CheckModel`), fitted like the training figures to
the seconds beyond the training estimate of the tracked records of that device type (those that ran to their end,
diverged ones excluded, made by current code, not in a batch), within ``FIT_RANGE`` of ``CHECK_DEFAULTS``, which
are used alone until ``MIN_RECORDS`` such records exist. Not counted: the loss evaluations every ``eval_every``
epochs and after training; the early end of ``lr_bound``'s diverging probes (its training is priced as
:func:`stability_runs` full runs, an upper bound, so its records calibrate neither model); and a stopping rule
(``stop_below``) that ends a grade early (its checks are counted to the grade's end). The products of a Lanczos
solve depend on the spectrum the training has reached, which no config tells: :func:`lanczos_products` gives the
measured figure of each kind of run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..structures import MGDLStructure, MSDLStructure, SGDLStructure, get_structure

MIN_RECORDS = 4
FIT_RANGE = 30.0
SYNTHETIC_POINTS = 1024
# from benchmarks/README.md: one thread of this project's 2-core CPU (benchmarks/measured/cpu-2026-11-26-fused-lanczos:
# fused (26) epoch 1,070 us for 19.3 MFLOP, fused (30) grade-2 epoch 404 us for 6.5 MFLOP; the larger image steps
# run faster per FLOP, so the rate is a compromise) and one H100 (gpu_check.sh: sgdl28_step 4.0 TFLOP/s at 2.8 ms
# per step, synthetic_sweep_serial 2.1 ms per epoch per run)
# (rate FLOP/s, overhead s per layer-epoch, setup s per run); setup: this CPU ~1 s, a GPU's first run ~20 s
# and the H100's CUDA-graph benchmark (benchmarks/measured/h100-2026-11-26-graphs: plain GD of (26), 0.56 ms per
# epoch replayed against 1.92 eager); the per-epoch overheads of those benchmarks over the five linear layers of (26)
# and of (28). "cuda gd": the paper campaign's plain-GD records on an H200 (4 runs at a time on CUDA streams, 20 s
# setup and 4 TFLOP/s taken off): 65.7 us per layer-epoch for the 19-rate batches of (26) as single runs
# (single_seconds), 52.3 for those of (30), at most 61 for the tracked MGDL (31) of Sec. 6 (its 204 dense checks
# included); the H100 benchmark's 0.56 ms per epoch of (26) alone would give 112
# keys: device type, and " gd" for plain gradient descent (see engine)
BENCHMARK_DEFAULTS = {"cpu": (26e9, 6.0e-5, 1.0), "cuda": (4.0e12, 4.0e-4, 20.0),
                      "cpu gd": (26e9, 6.0e-5, 1.0), "cuda gd": (4.0e12, 5.5e-5, 20.0)}
# eigenvalue checks, (check_rate FLOP/s, check_setup s per check) per device type. cpu: solved from the
# paper-profile eigen tracks of (26) and (30) made on this CPU (results/eigenvalues, 10^6 GD epochs, a check every
# 10^4): SGDL 4,893 s against a training estimate of 1,559 s, i.e. 33.0 s for each of 101 dense checks of 4.57e10
# FLOPs (P = 3,265, N = 1,024); MGDL 4,202 s against 2,106 s, i.e. 5.2 s a check over 404 checks averaging 1.9e9
# FLOPs (grade 1: P = 97, grades 2-4: P = 1,089); 4.0 s + FLOPs / 1.6e9 gives both. These are what a check adds
# inside a long run on the shared 2-core machine, with the training estimate's shortfall on such runs (untracked
# 10^6-epoch runs of (26) took 2,300-2,730 s); an isolated check of (26) took 1.0-3.8 s (benchmarks/README.md,
# hessian_dense_26). cuda: the H100 benchmark (benchmarks/measured/h100-2026-11-26-quick: hessian_dense_26 0.61 s
# for 4.57e10 FLOPs, its eigenvalues on the host; lanczos_28_4096 2.85 s for 68 products of 5.7e9 FLOPs;
# lanczos_32_4096 1.61 s for 271 of 8.2e8), fitted by 0.3 s + FLOPs / 1.5e11; isolated checks, so probably low
CHECK_DEFAULTS = {"cpu": (1.6e9, 4.0), "cuda": (1.5e11, 0.3)}
# plain GD run eager on the CPU (:func:`fused_on_cpu` false), (per_op s, per_element s, setup s) per model key:
# fitted, with the setup held at this CPU's 1 s, to the 72 untracked cpu-profile records of Sec. 7's MSDL variants
# (results/msdl_variants, 3,000 GD epochs on 1,024 points, two runs at once on the 2-core CPU; adopted records, so
# the fit below does not see them). Their medians in ms per epoch, measured against this model: MSDL with ReLU 5.7
# against 4.7, sReLU 6.1 / 6.9, B-spline 11.6 / 14.0; the deeper MSDL 7.5 / 6.9, 10.8 / 10.6, 24.2 / 23.1. The
# fused steps' model ("cpu gd") priced them at 0.5 ms (MSDL) and 2.5 ms (the deeper one) per epoch.
EAGER_DEFAULTS = {"cpu gd eager": (1.12e-5, 2.76e-10, 1.0)}
# Hessian-vector products of one Lanczos check (analysis.hessian.both_ends, k = 10): the benchmark took 68 on SGDL
# (28) and 271-334 on grade 1 of MGDL (32) at 4,096 points, at initialisation (benchmarks/README.md, tol 1e-5)
LANCZOS_PRODUCTS = 200
# ... and on the synthetic problems, where a tracked run reaches the edge of stability: the deep sReLU MSDL of
# Sec. 7's variants (setting 1, eta 0.004, tol 1e-6, as the tracked runs call it) took 75 at initialisation and
# 6,036 at epoch 680,000 of its paper-profile run (scratch measurements, three processes on the 2-core CPU: 534 s
# for the check, 88 ms a product). Nearly all go to the small end of H, the ten largest eigenvalues of I - eta H
# (about 1): Lanczos for the large end alone ("LA") took 28 products at that checkpoint. The figure is what the
# checks of a 10^6-epoch run see after the first 150,000-250,000 epochs, which is most of them.
LANCZOS_PRODUCTS_SYNTHETIC = 6_000
# seconds per operation and per element written of a Lanczos product run eager, per device type: cpu, the eager
# training model's figures (EAGER_DEFAULTS; measured on the deep sReLU MSDL: 83 ms a product with three processes
# on the two cores, against 46 ms by these figures, so these are low by up to 1.8x for torch.func's forward-over-
# reverse); cuda, the H100's eager GD epoch of (26) (benchmarks/README.md, graph_eager_ms: 1.92 ms for the 102
# operations eager_step counts, 19 us each), with the products' FLOPs at the check rate (lanczos_32_4096: 271
# products of grade 1 of (32) at 4,096 points, 324 operations and 8.2e8 FLOPs each, took 5.9 ms a product, what
# the FLOPs alone give; so that benchmark cannot tell the cost of an operation)
# (per_op s, per_element s, whether the products' FLOPs are priced at the check rate too)
LANCZOS_EAGER_DEFAULTS = {"cpu": (*EAGER_DEFAULTS["cpu gd eager"][:2], False), "cuda": (1.9e-5, 0.0, True)}


@dataclass(frozen=True)
class Work:
    flops: float
    epochs: int
    layer_epochs: float = 0.0   # epochs times the linear layers each trains
    ops: float = 0.0        # tensor operations of every eager step (:func:`eager_step`; 0 where none runs eager)
    elements: float = 0.0   # elements those operations write


@dataclass(frozen=True)
class DeviceModel:
    """``seconds = setup + flops / rate + layer_epochs * overhead`` on one device type, and where its figures come
    from."""

    rate: float          # FLOP/s
    overhead: float      # seconds per layer of an epoch
    setup: float         # seconds per run
    source: str

    def seconds(self, work: Work) -> float:
        if not work.epochs:
            return 0.0
        return self.setup + work.flops / self.rate + work.layer_epochs * self.overhead

    def describe(self) -> str:
        return (f"{self.setup:.1f} s + {self.rate / 1e9:.1f} GFLOP/s + {self.overhead * 1e6:.1f} us per layer-epoch "
                f"({self.source})")


@dataclass(frozen=True)
class EagerModel:
    """``seconds = setup + ops * per_op + elements * per_element`` of plain GD run eager on the CPU: every tensor
    operation of a step costs a dispatch, and elementwise work in proportion to what it writes."""

    per_op: float        # seconds per operation
    per_element: float   # seconds per element written
    setup: float         # seconds per run
    source: str

    def seconds(self, work: Work) -> float:
        if not work.epochs:
            return 0.0
        return self.setup + work.ops * self.per_op + work.elements * self.per_element

    def describe(self) -> str:
        return (f"{self.setup:.1f} s + {self.per_op * 1e6:.1f} us per operation + {self.per_element * 1e9:.2f} ns "
                f"per element written ({self.source})")


@dataclass(frozen=True)
class Checks:
    """A run's eigenvalue checks: how many, their FLOPs in all, and the operations and elements written of their
    Lanczos products, run eager (:func:`eager_hvp`; zero for dense checks). See the module docstring."""

    count: int
    flops: float                 # dense checks' work
    lanczos_flops: float = 0.0   # the FLOPs of the Lanczos products
    ops: float = 0.0             # their operations ...
    elements: float = 0.0        # ... and the elements those write


@dataclass(frozen=True)
class CheckModel:
    """``seconds = count * setup + flops / rate + ops * per_op + elements * per_element`` of a run's eigenvalue
    checks on one device type, the Lanczos products' FLOPs added to ``flops`` where ``lanczos_by_flops`` (a GPU,
    where large products are bound by their arithmetic; on the CPU the elements term stands for it, as in
    :class:`EagerModel`)."""

    rate: float          # FLOP/s of check work
    setup: float         # seconds per check
    source: str
    per_op: float = 0.0          # seconds per operation of a Lanczos product
    per_element: float = 0.0     # seconds per element a Lanczos product writes
    lanczos_by_flops: bool = False

    def flops(self, checks: Checks) -> float:
        """The FLOPs priced at ``rate``."""
        return checks.flops + (checks.lanczos_flops if self.lanczos_by_flops else 0.0)

    def eager_seconds(self, checks: Checks) -> float:
        """The seconds of the Lanczos products' operations and elements."""
        return checks.ops * self.per_op + checks.elements * self.per_element

    def seconds(self, checks: Checks) -> float:
        return checks.count * self.setup + self.flops(checks) / self.rate + self.eager_seconds(checks)

    def describe(self) -> str:
        return (f"{self.setup:.1f} s per check + {self.rate / 1e9:.2f} GFLOP/s of check work + "
                f"{self.per_op * 1e6:.1f} us per operation and {self.per_element * 1e9:.2f} ns per element of a "
                f"Lanczos product ({self.source})")


def _layer_sum(widths) -> int:
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def _layers(widths) -> int:
    return len(widths) - 1


def _parameters(widths) -> int:
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


# (height, width) of each registry image as its file holds it (the manifest of the paper's images; a test reads the
# files): a run's estimate never reads its image, so a plan is the same offline as online and fetches nothing
NATIVE_SHAPES = {"cameraman": (256, 256), "barbara": (512, 512), "butterfly": (512, 512), "pirate": (1024, 1024),
                 "chest": (1024, 1024), "resolution_chart": (256, 256)}
TYPICAL_SHAPE = (512, 512)   # an image of unknown size (Walnut) or one that cannot be read here


def _full_image(config) -> np.ndarray:
    """A stand-in of the image ``config`` names at its native size (zeros; a user's file is read, a registry image
    never: one of unknown size is taken to be ``TYPICAL_SHAPE``)."""
    path = getattr(config, "image_path", None)
    if path is None:
        return np.zeros(NATIVE_SHAPES.get(config.image, TYPICAL_SHAPE))
    from ..data.images import load_identified
    return load_identified(config.image, config.image_sha256, path)


@lru_cache(maxsize=None)
def _shape(kind: str, frozen: tuple) -> tuple[int, int]:
    """The (height, width) a config trains on: its image's native shape reduced by the kind's rule."""
    from ..data.images import resize
    from .runner import config_from_dict

    config = config_from_dict(dict(frozen))
    try:
        full = _full_image(config)
    except Exception:  # an image that cannot be read here
        full = np.zeros(TYPICAL_SHAPE)
    if kind == "eigenvalues":
        from .eigenvalues import prepare_image
        return prepare_image(full, crop=config.crop, invert=False, stride=config.stride, size=config.size).shape
    if kind == "gd_dynamics":
        from .gd_dynamics import subsample
        reduce = {"subsample": subsample, "antialias": resize}.get(config.resample)
        return (full if reduce is None else reduce(full, config.size)).shape
    return (full if config.size is None else resize(full, config.size)).shape


def _points(config) -> int:
    """Points per training step: the synthetic grid, every other pixel (regression) or every pixel (restoration);
    for the approximation study its training points (per axis in 2D; an image target's pixels)."""
    d = config.to_dict()
    if type(config).KIND == "approximation":
        side = config.size if config.target == "image" else config.n_train
        return side ** config.dim
    if d.get("image") is None:
        return SYNTHETIC_POINTS
    kind = type(config).KIND
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items()))
    h, w = _shape(kind, frozen)
    whole = kind == "restoration" or (kind == "eigenvalues" and getattr(config, "case", "") == "denoising")
    return h * w if whole else math.ceil(h / 2) * math.ceil(w / 2)


def work(config) -> Work:
    """The FLOPs and epochs of training ``config``'s networks (zero for classical references), and for a run the CPU
    trains eager (:func:`fused_on_cpu` false), the operations and elements of its steps (:func:`eager_step`)."""
    epochs = int(getattr(config, "epochs", 0) or 0)
    structure = getattr(config, "structure", None)
    if epochs and structure is None and hasattr(config, "mgdl_structure"):
        # the approximation study builds its networks from its fields; SGDL trains all grades' epochs end to end
        s = config.mgdl_structure() if config.method == "MGDL" else config.sgdl_structure()
        if isinstance(s, SGDLStructure):
            epochs *= config.n_grades
    elif not epochs or structure is None:
        return Work(0.0, 0)
    else:
        s = get_structure(structure)
    n = _points(config)
    act = getattr(config, "activation", None) or "relu"
    if type(config).KIND == "stability":
        w, nets = _stability_work(config, s, n), _stability_nets(config, s, act)
    elif isinstance(s, MGDLStructure):
        grades = getattr(config, "n_grades", None) or s.n_grades
        w = Work(sum(6.0 * n * _layer_sum(s.grade_widths(g)) * epochs for g in range(1, grades + 1)),
                 epochs * grades, float(sum(_layers(s.grade_widths(g)) * epochs for g in range(1, grades + 1))))
        nets = [(("mlp", s.grade_widths(g), act), epochs) for g in range(1, grades + 1)]
    elif isinstance(s, MSDLStructure):
        widths = (s.input_dim, *s.hidden, s.output_dim)
        w = Work(6.0 * n * _layer_sum(widths) * len(s.scales) * epochs, epochs,
                 float(_layers(widths) * len(s.scales) * epochs))
        nets = [(("msdl", s.name, act), epochs)]
    else:
        assert isinstance(s, SGDLStructure)
        w = Work(6.0 * n * _layer_sum(s.widths) * epochs, epochs, float(_layers(s.widths) * epochs))
        nets = [(("mlp", s.widths, act), epochs)]
    if engine(config) != "gd" or fused_on_cpu(config):
        return w
    steps = [(eager_step(net, n), e) for net, e in nets]
    return replace(w, ops=float(sum(o * e for (o, _), e in steps)), elements=float(sum(m * e for (_, m), e in steps)))


def stability_runs(config) -> int:
    """Full-length trainings of one ``lr_bound`` record at most (``experiments.stability``): the bracket's two
    probes and ``n_bisect`` bisection probes of divergence, ``n_bisect`` more of "learns anything" (its bracket ends
    are probes already made), and the tracked run at the largest stable step size. A diverging probe stops early,
    so this is an upper bound."""
    return 2 * config.n_bisect + 3


def _stability_work(config, s, n: int) -> Work:
    """An ``lr_bound`` record's training: its probes and tracked run (:func:`stability_runs`) of the network studied
    (SGDL, or one MGDL grade), and, for a grade, the earlier grades trained once first (``base_epochs`` each)."""
    runs, epochs = stability_runs(config), config.epochs
    if isinstance(s, MGDLStructure):
        grade = s.grade_widths(config.grade)
        base = [s.grade_widths(g) for g in range(1, config.grade)]
        flops = 6.0 * n * (runs * epochs * _layer_sum(grade) + config.base_epochs * sum(map(_layer_sum, base)))
        layers = runs * epochs * _layers(grade) + config.base_epochs * sum(map(_layers, base))
        return Work(flops, runs * epochs + config.base_epochs * len(base), float(layers))
    return Work(6.0 * n * _layer_sum(s.widths) * runs * epochs, runs * epochs, float(_layers(s.widths) * runs * epochs))


def _stability_nets(config, s, act: str) -> list:
    """The networks of an ``lr_bound`` record's training (:func:`_stability_work`) with their epochs; the earlier
    grades train fused but are priced eager with the probes (an upper bound, as the probes are)."""
    runs, epochs = stability_runs(config), config.epochs
    if isinstance(s, MGDLStructure):
        return [(("mlp", s.grade_widths(config.grade), act), runs * epochs),
                *((("mlp", s.grade_widths(g), act), config.base_epochs) for g in range(1, config.grade))]
    return [(("mlp", s.widths, act), runs * epochs)]


def n_checks(epochs: int, every: int) -> int:
    """Checks of one model or grade trained ``epochs`` epochs with a check every ``every``: ``training.train`` calls
    its callbacks at epoch 0, at every multiple of ``every`` and after the last epoch."""
    return math.ceil(epochs / every) + 1


def checks(config) -> Checks:
    """The eigenvalue checks of training ``config`` (none for a run that tracks no eigenvalues)."""
    kind = type(config).KIND
    extra = 0                                    # checks per network beyond n_checks
    if kind == "eigenvalues":
        every, method, closed = config.eval_every, config.eig_method, True
    elif kind == "gd_dynamics" and config.track_every:
        every, method = config.track_every, config.eigen_method
        closed = config.activation == "relu" and config.method != "MSDL"     # else the Hessian is by autodiff
        extra = -1 if config.optimizer == "adam" else 0     # Adam's preconditioner is undefined at epoch 0
    elif kind == "stability":
        every, method, closed, extra = config.track_every, "lanczos", False, 1   # and the sharpness at init
    else:
        return Checks(0, 0.0)
    s = get_structure(config.structure)
    copies = 1
    act = getattr(config, "activation", None) or "relu"
    if isinstance(s, MGDLStructure):
        grades = [config.grade] if kind == "stability" else range(1, s.n_grades + 1)
        nets = [(s.grade_widths(g), ("mlp", s.grade_widths(g), act)) for g in grades]
    elif isinstance(s, MSDLStructure):             # one network of len(scales) subnetworks, summed
        nets, copies = [((s.input_dim, *s.hidden, s.output_dim), ("msdl", s.name, act))], len(s.scales)
    else:
        nets = [(s.widths, ("mlp", s.widths, act))]
    each = max(0, n_checks(config.epochs, every) + extra)
    n = _points(config)
    flops = lanczos_flops = ops = elements = 0.0
    for widths, net in nets:
        p, hvp = copies * _parameters(widths), 12.0 * n * copies * _layer_sum(widths)
        if method == "lanczos":
            products = each * lanczos_products(config)
            o, m = eager_hvp(net, n)
            lanczos_flops, ops, elements = lanczos_flops + products * hvp, ops + products * o, elements + products * m
        else:
            flops += each * ((n * float(p) ** 2 if closed else p * hvp) + float(p) ** 3)
    return Checks(each * len(nets), flops, lanczos_flops, ops, elements)


def lanczos_products(config) -> int:
    """Hessian-vector products of one Lanczos check of ``config``: ``LANCZOS_PRODUCTS_SYNTHETIC`` for a run tracked
    on a synthetic problem, where the small end of the Hessian becomes a cluster Lanczos resolves slowly, else
    ``LANCZOS_PRODUCTS`` (measured at initialisation on the Table-1 networks)."""
    synthetic = type(config).KIND == "gd_dynamics" and getattr(config, "image", None) is None
    return LANCZOS_PRODUCTS_SYNTHETIC if synthetic else LANCZOS_PRODUCTS


def engine(config) -> str:
    """``"gd"`` for a run by plain gradient descent (eq. (2)/(4): fused steps on the CPU, CUDA graphs on a GPU),
    ``""`` for the other optimisers (Adam, mini-batch SGD)."""
    return "gd" if getattr(config, "optimizer", "gd") == "gd" else ""


# the kinds whose networks train through ``training.grades`` full batch, which hands ``training.fused`` its steps
_FUSED_KINDS = ("eigenvalues", "gd_dynamics", "regression", "restoration", "approximation")


def fused_on_cpu(config) -> bool:
    """Whether plain GD of ``config`` takes the fused steps of :mod:`~mgdlcore.training.fused` on the CPU (as
    ``fused_epoch`` decides): full-batch training through ``training.grades`` of SGDL or MGDL networks with ReLU.
    MSDL, the other activations, ``lr_bound``'s probes and the fields study's networks train eager."""
    if engine(config) != "gd" or type(config).KIND not in _FUSED_KINDS:
        return False
    if getattr(config, "batch_size", None) is not None:
        return False
    structure = getattr(config, "structure", None)
    if structure is not None and isinstance(get_structure(structure), MSDLStructure):
        return False
    return (getattr(config, "activation", None) or "relu") == "relu"


@lru_cache(maxsize=None)
def eager_step(net: tuple, n: int) -> tuple[int, int]:
    """``(operations, elements written)`` of one eager plain-GD step of ``training.train`` (zero the gradients, the
    loss (1), back-propagation, ``torch.optim.SGD``'s step, the loss kept) on ``n`` points, counted by running the
    step in a ``TorchDispatchMode``. ``net``: ``("mlp", widths, activation)`` or ``("msdl", structure, activation)``."""
    import torch

    from ..training.loop import half_mse

    model, x, y = _network_and_points(net, n)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    slot = torch.empty((), dtype=torch.float64)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = half_mse(y, model(x))
        loss.backward()
        opt.step()
        slot.copy_(loss.detach())

    return _count_operations(step)


@lru_cache(maxsize=None)
def eager_hvp(net: tuple, n: int) -> tuple[int, int]:
    """``(operations, elements written)`` of one Hessian-vector product of a Lanczos check on ``n`` points
    (``analysis.hessian.hvp_function``: forward-over-reverse by ``torch.func``, on a vector), counted like
    :func:`eager_step`."""
    import numpy as np

    from ..analysis.hessian import OutputLoss, hvp_function, n_trainable
    from ..training.loop import half_mse

    model, x, y = _network_and_points(net, n)
    hvp = hvp_function(model, OutputLoss(x, lambda out: half_mse(y, out)))
    v = np.ones(n_trainable(model))
    return _count_operations(lambda: hvp(v))


def _network_and_points(net: tuple, n: int):
    """A network ``("mlp", widths, activation)`` or ``("msdl", structure, activation)`` and ``n`` random points."""
    import torch

    from ..models import MLP, build_network

    kind, spec, act = net
    if kind == "msdl":
        structure = get_structure(spec)
        model, in_dim = build_network(structure, activation=act), structure.input_dim
    else:
        model, in_dim = MLP(spec, activation=act), spec[0]
    gen = torch.Generator().manual_seed(0)
    return model, torch.rand(n, in_dim, generator=gen), torch.rand(n, 1, generator=gen)


def _count_operations(run) -> tuple[int, int]:
    """``(operations, elements written)`` of one call of ``run``, counted in a ``TorchDispatchMode`` after a first
    call (which allocates what later calls reuse)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        ops = elements = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.ops += 1
            self.elements += sum(t.numel() for t in (out if isinstance(out, (tuple, list)) else (out,))
                                 if isinstance(t, torch.Tensor))
            return out

    run()
    with Count() as count:
        run()
    return count.ops, count.elements


def model_key(device: str, config) -> str:
    """The key of ``config``'s model on ``device`` ("cpu", "cuda"): the device, plus " gd" for plain GD, and on the
    CPU " gd eager" for plain GD that takes no fused steps (:func:`fused_on_cpu`)."""
    if isinstance(config, dict):
        from .runner import config_from_dict
        config = config_from_dict(config)
    kind = engine(config)
    if kind and device == "cpu" and not fused_on_cpu(config):
        kind = "gd eager"
    return f"{device} {kind}" if kind else device


def stacked_work(config) -> Work:
    """:func:`work` of ``config`` as a member of a stacked sweep (``mgdl-campaign --batch``) on a GPU: the same,
    except that MSDL's stacked model (``training.batched_msdl``) runs its scales as one batched layer too, so a step
    launches the kernels of one subnetwork's layers, not of ``len(scales)`` subnetworks' (its FLOPs stay)."""
    w = work(config)
    structure = getattr(config, "structure", None)
    s = get_structure(structure) if isinstance(structure, str) else None
    if isinstance(s, MSDLStructure):
        return replace(w, layer_epochs=w.layer_epochs / len(s.scales))
    return w


def member_seconds(models: dict[str, DeviceModel | EagerModel | CheckModel], device: str, config) -> float:
    """Estimated seconds of ``config`` as a member of a stacked sweep on ``device``, to be combined by
    :func:`batch_seconds`: on a GPU by :func:`stacked_work`; on the CPU as :func:`seconds` alone (MSDL's eager steps
    there are priced by their operations alone, which no stacked record has calibrated)."""
    if device != "cuda":
        return seconds(models, device, config)
    return models[model_key(device, config)].seconds(stacked_work(config)) + models[f"{device} checks"].seconds(
        checks(config))


def seconds(models: dict[str, DeviceModel | EagerModel | CheckModel], device: str, config) -> float:
    """Estimated seconds of training ``config`` on ``device`` by the model of its engine, and of its eigenvalue
    checks by the device's check model (key ``"<device> checks"``)."""
    training = models[model_key(device, config)].seconds(work(config))
    return training + models[f"{device} checks"].seconds(checks(config))


# each member of a stacked sweep (``mgdl-campaign --batch``) beyond the first costs this fraction of one run: the
# ``synthetic_sweep_stacked`` benchmark (19 learning rates of (26) and of a (30) grade) measured 1.27x and 1.32x one
# run on an H200 (so 0.015-0.018 per member), and a gain of only 1.11-1.15x over serial runs on this 2-core CPU
BATCH_EXTRA = {"cpu": 0.88, "cuda": 0.018}


def batch_seconds(single: list[float], device: str) -> float:
    """Estimated seconds of a stacked sweep whose members would take ``single`` seconds each run alone."""
    if not single:
        return 0.0
    return max(single) * (1.0 + BATCH_EXTRA["cuda" if device == "cuda" else "cpu"] * (len(single) - 1))


def single_seconds(seconds: float, size: int, device: str) -> float:
    """What one member of a batch of ``size`` runs that took ``seconds`` together would take alone: the inverse of
    :func:`batch_seconds` for equal members (the members of a stacked sweep differ only in their learning rate)."""
    return seconds / (1.0 + BATCH_EXTRA["cuda" if device == "cuda" else "cpu"] * (size - 1))


def _fit_positive(start, predict, seconds: np.ndarray) -> list[float]:
    """Positive parameters ``p``, each within a factor ``FIT_RANGE`` of ``start``, that minimise the squared
    relative errors ``log(predict(p)) - log(seconds)`` (fitted in ``log p``, by ``scipy.optimize.least_squares``)."""
    from scipy.optimize import least_squares

    x0, span = np.log(np.asarray(start, dtype=float)), math.log(FIT_RANGE)
    sol = least_squares(lambda theta: np.log(predict(np.exp(theta))) - np.log(seconds), x0=x0,
                        bounds=(x0 - span, x0 + span))
    return [float(v) for v in np.exp(sol.x)]


def _fit_setup_and_two_terms(data: list[tuple[Work, float]], terms, start) -> list[float]:
    """``(a, b, setup)`` of ``seconds = setup + a x + b y`` with ``(x, y) = terms(work)``, fitted to the
    ``(work, seconds)`` rows of one model from ``start`` (:func:`_fit_positive`)."""
    x, y, t = (np.array(col, dtype=float) for col in zip(*((*terms(w), t) for w, t in data)))
    return _fit_positive(start, lambda p: p[2] + p[0] * x + p[1] * y, t)


def _too_few(designs) -> bool:
    """Whether fewer than ``MIN_RECORDS`` different runs (by their work) are among ``designs``: three figures are
    not told apart by repeats of two or three runs (the paper campaign's batches on a GPU are three such runs)."""
    return len(set(designs)) < MIN_RECORDS


def fit(records) -> dict[str, DeviceModel | EagerModel | CheckModel]:
    """One :class:`DeviceModel` per device type and engine (keys of ``BENCHMARK_DEFAULTS``: "cpu", "cuda", and
    "cpu gd", "cuda gd" for plain gradient descent), an :class:`EagerModel` for plain GD run eager on the CPU (key
    "cpu gd eager"), each from the trained ``records``' seconds, then one
    :class:`CheckModel` per device type (keys "cpu checks", "cuda checks") from the seconds of the records that
    tracked eigenvalues beyond the training estimate."""
    from .runner import batch_of, config_from_dict

    rows: dict[str, list[tuple[Work, float]]] = {}
    tracked: list[tuple[str, object, Work, Checks, float]] = []
    batches: dict[tuple, tuple[object, Work]] = {}
    for rec in records:
        seconds = rec.provenance.get("seconds")
        if not seconds or (rec.config.get("epochs") or 0) == 0 or rec.diverged:
            continue                            # nothing trained, or stopped early: not a full run's time
        if rec.provenance.get("adopted") or rec.provenance.get("seconds_complete") is False:
            continue                            # seconds taken by older code, or of the last segments only
        try:
            config = config_from_dict(rec.config)
            w = work(config)
            c = checks(config)
        except (ValueError, TypeError):
            continue
        device = rec.config.get("device", "cpu")
        size = rec.provenance.get("batch")
        if size:
            # the wall time of a batch of runs trained together: one row per batch, for one of its members, by
            # the work it does in the batch (:func:`stacked_work`; MSDL's on the CPU calibrates nothing, see there)
            msdl = isinstance(getattr(config, "structure", None), str) and isinstance(
                get_structure(config.structure), MSDLStructure)
            if isinstance(size, int) and size > 0 and w.epochs and not c.count and not (msdl and device != "cuda"):
                member = stacked_work(config) if device == "cuda" else w
                batches.setdefault((device, batch_of(config), size, float(seconds)), (config, member))
            continue
        if rec.config["task"] == "eigenvalues" or rec.config.get("track_every"):
            # eigenvalue checks take much of the time: they calibrate the check model, not the training one
            # (lr_bound trains probes that work() does not count: no calibration)
            if w.epochs and c.count and type(config).KIND != "stability":
                tracked.append((device, config, w, c, float(seconds)))
            continue
        if w.epochs:
            rows.setdefault(model_key(device, config), []).append((w, float(seconds)))
    for (device, _, size, seconds), (config, w) in batches.items():
        rows.setdefault(model_key(device, config), []).append((w, single_seconds(seconds, size, device)))
    out: dict[str, DeviceModel | EagerModel | CheckModel] = {}
    for key, defaults in EAGER_DEFAULTS.items():
        data = rows.get(key, [])
        if _too_few(w for w, _ in data):
            out[key] = EagerModel(*defaults, "defaults")
            continue
        per_op, per_element, setup = _fit_setup_and_two_terms(data, lambda w: (w.ops, w.elements), defaults)
        out[key] = EagerModel(per_op, per_element, setup, f"fitted to {len(data)} {key} records")
    for device, defaults in BENCHMARK_DEFAULTS.items():
        data = rows.get(device, [])
        if _too_few(w for w, _ in data):
            out[device] = DeviceModel(*defaults, "benchmark defaults")
            continue
        # parameters: 1 / rate, overhead per layer-epoch, setup, each within FIT_RANGE of the benchmark's figure
        inv_rate, overhead, setup = _fit_setup_and_two_terms(data, lambda w: (w.flops, w.layer_epochs),
                                                             (1.0 / defaults[0], defaults[1], defaults[2]))
        out[device] = DeviceModel(1.0 / inv_rate, overhead, setup, f"fitted to {len(data)} {device} records")
    for device, (rate, setup) in CHECK_DEFAULTS.items():
        base = CheckModel(rate, setup, "defaults", *LANCZOS_EAGER_DEFAULTS[device])
        # the Lanczos products' operations and elements are priced at the defaults; the fit moves rate and setup
        data = [(out[model_key(d, config)].seconds(w) + base.eager_seconds(c), c.count, base.flops(c), t)
                for d, config, w, c, t in tracked if d == device]
        if _too_few((w, c) for d, _, w, c, _ in tracked if d == device):
            out[f"{device} checks"] = base
            continue
        train, n, f, t = (np.array(col, dtype=float) for col in zip(*data))
        # parameters: 1 / check rate, setup per check, within FIT_RANGE of the defaults; the training estimate is
        # fixed, so the checks take the seconds beyond it
        inv_rate, per_check = _fit_positive((1.0 / rate, setup), lambda p, train=train, n=n, f=f: train + p[1] * n
                                            + p[0] * f, t)
        out[f"{device} checks"] = replace(base, rate=1.0 / inv_rate, setup=per_check,
                                          source=f"fitted to {len(data)} tracked {device} records")
    return out
