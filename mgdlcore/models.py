"""ReLU networks of the paper: the SGDL network N_D (Sec. 2), the grades of MGDL (Sec. 3) and MSDL (Sec. 7).

Parameters are drawn from an explicit ``torch.Generator`` (see ``init_linear_`` for the schemes), so a seed
fixes a network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .structures import MGDLStructure, MSDLStructure, SGDLStructure

INITS = ("glorot_normal", "he_normal", "torch_default")


def init_linear_(layer: nn.Linear, generator: torch.Generator, init: str = "glorot_normal") -> None:
    """Initialise ``layer`` from ``generator``.

    ``glorot_normal``: W ~ N(0, 2/(fan_in+fan_out)), b ~ N(0, 0.01^2) (the authors' image experiments, JAX stax
    defaults); ``he_normal``: W ~ N(0, 2/fan_in), b = 0 (the authors' synthetic, eigenvalue and MSDL experiments);
    ``torch_default``: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (``torch.nn.Linear``).
    """
    fan_in, fan_out = layer.in_features, layer.out_features
    w = torch.empty(layer.weight.shape)
    b = torch.empty(layer.bias.shape)
    if init == "glorot_normal":
        w.normal_(0.0, (2.0 / (fan_in + fan_out)) ** 0.5, generator=generator)
        b.normal_(0.0, 0.01, generator=generator)
    elif init == "he_normal":
        w.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
        b.zero_()
    elif init == "torch_default":
        bound = fan_in**-0.5
        w.uniform_(-bound, bound, generator=generator)
        b.uniform_(-bound, bound, generator=generator)
    else:
        raise ValueError(f"unknown init {init!r}; accepted: {', '.join(INITS)}")
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)


def relu_right(x: Tensor) -> Tensor:
    """ReLU whose autograd derivative at 0 is 1 (the authors' ``relu_grad = where(x >= 0, 1, 0)``).

    ``torch.relu`` takes ReLU'(0) = 0. The two differ only on the kink, which matters for eq. (5): x = 0
    is a training point, and with zero biases every first-layer unit sits on the kink there.
    Works with double backward and ``torch.func`` (second derivative 0).
    """
    return torch.where(x >= 0, x, torch.zeros_like(x))


# smooth activations (C^infinity, as Theorems 1-2 of the paper assume C^2) beside the paper's ReLU
SMOOTH_ACTIVATIONS = {"gelu": torch.nn.functional.gelu, "softplus": torch.nn.functional.softplus,
                      "tanh": torch.tanh}
ACTIVATIONS = ("relu", *SMOOTH_ACTIVATIONS)


def srelu(x: Tensor) -> Tensor:
    """``ReLU(x) ReLU(1 - x)``: supported on [0, 1], continuous, kinks at 0 and 1 (the sReLU of MscaleDNN [21])."""
    return torch.relu(x) * torch.relu(1.0 - x)


def bspline2(x: Tensor) -> Tensor:
    """``ReLU(x)^2 - 3 ReLU(x-1)^2 + 3 ReLU(x-2)^2 - ReLU(x-3)^2``: twice the quadratic B-spline on [0, 3],
    continuously differentiable, piecewise quadratic (the compactly supported activation of MscaleDNN [21])."""
    r = torch.relu
    return r(x) ** 2 - 3.0 * r(x - 1.0) ** 2 + 3.0 * r(x - 2.0) ** 2 - r(x - 3.0) ** 2


# compactly supported activations for MSDL (Sec. 7's conjecture, after [21]); not C^2 either
COMPACT_ACTIVATIONS = {"srelu": srelu, "bspline2": bspline2}


class MLP(nn.Module):
    """``N_D(x) = W_D^T H_{D-1}(x) + b_D`` with ``H_j = ReLU(W_j^T H_{j-1} + b_j)`` (Sec. 2).

    ``widths = (d_0, d_1, ..., d_D)``: input, hidden widths, output. ``relu_prime_at_zero`` (0 or 1) picks
    the derivative autograd uses on the kink: 0 is ``torch.relu``, 1 is ``relu_right``. ``activation`` other than
    ``"relu"`` (``"gelu"``, ``"softplus"``, ``"tanh"``) replaces ReLU in every hidden layer (beyond the paper).
    """

    def __init__(self, widths: Sequence[int], *, generator: torch.Generator | None = None,
                 init: str = "glorot_normal", relu_prime_at_zero: int = 0, activation: str = "relu"):
        super().__init__()
        if relu_prime_at_zero not in (0, 1):
            raise ValueError(f"relu_prime_at_zero must be 0 or 1, got {relu_prime_at_zero!r}")
        if activation not in ACTIVATIONS and activation not in COMPACT_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; accepted: "
                             f"{', '.join((*ACTIVATIONS, *COMPACT_ACTIVATIONS))}")
        self.relu_prime_at_zero = relu_prime_at_zero
        self.activation = activation
        self.act = ({**SMOOTH_ACTIVATIONS, **COMPACT_ACTIVATIONS}[activation] if activation != "relu"
                    else relu_right if relu_prime_at_zero == 1 else torch.relu)
        if len(widths) < 3:
            raise ValueError(f"an MLP needs at least one hidden layer, got widths {tuple(widths)}")
        self.widths = tuple(int(w) for w in widths)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.widths[:-2], self.widths[1:-1]))
        self.out = nn.Linear(self.widths[-2], self.widths[-1])
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        for layer in (*self.hidden, self.out):
            init_linear_(layer, gen, init)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer ``H_{D-1}(x)``: what the next grade of MGDL reads."""
        for layer in self.hidden:
            x = self.act(layer(x))
        return x

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.out(h), h

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class MultiGradeModel(nn.Module):
    """The trained part of an MGDL model: frozen grades, summed (Sec. 3).

    Grade ``l`` reads the last hidden layer of grade ``l-1``; the prediction is
    ``bar g_L(x) = sum_l scale_l * g_l(x)`` where ``scale_l = 1`` for regression and ``eps_l`` in the
    image-restoration form of Appendix C.2.
    """

    def __init__(self) -> None:
        super().__init__()
        self.grades = nn.ModuleList()
        self.scales: list[float] = []

    def add_grade(self, grade: MLP, scale: float = 1.0) -> None:
        """Freeze ``grade`` and append it."""
        grade.requires_grad_(False)
        grade.eval()
        self.grades.append(grade)
        self.scales.append(float(scale))

    @property
    def n_grades(self) -> int:
        return len(self.grades)

    def grade_outputs(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """Each grade's scaled output at ``x``, and the features the next grade would read."""
        outs = []
        feats = x
        for grade, scale in zip(self.grades, self.scales):
            out, feats = grade.forward_with_features(feats)
            outs.append(scale * out)
        return outs, feats

    def forward(self, x: Tensor) -> Tensor:
        outs, _ = self.grade_outputs(x)
        if not outs:
            raise RuntimeError("the multi-grade model has no grades yet")
        return torch.stack(outs).sum(0)


class MultiScaleMLP(nn.Module):
    """MSDL (Sec. 7, [21]): ``sum_i N^{(i)}(a_i x)`` with one subnetwork per scale ``a_i``."""

    def __init__(self, structure: MSDLStructure, *, generator: torch.Generator | None = None,
                 init: str = "he_normal", relu_prime_at_zero: int = 0, activation: str = "relu"):
        super().__init__()
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        widths = (structure.input_dim, *structure.hidden, structure.output_dim)
        self.subnets = nn.ModuleList(MLP(widths, generator=gen, init=init, relu_prime_at_zero=relu_prime_at_zero,
                                         activation=activation)
                                     for _ in structure.scales)
        self.register_buffer("scales", torch.tensor(structure.scales, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([net(a * x) for net, a in zip(self.subnets, self.scales)]).sum(0)


def build_network(structure: SGDLStructure | MSDLStructure, *, seed: int = 0, init: str = "glorot_normal",
                  relu_prime_at_zero: int = 0, activation: str = "relu") -> nn.Module:
    """A freshly initialised SGDL or MSDL network for ``structure`` (SGDL: ReLU or a smooth activation; MSDL: ReLU
    or a compactly supported one)."""
    gen = torch.Generator().manual_seed(seed)
    if isinstance(structure, SGDLStructure):
        if activation in COMPACT_ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is for MSDL networks; accepted for SGDL: "
                             f"{', '.join(ACTIVATIONS)}")
        return MLP(structure.widths, generator=gen, init=init, relu_prime_at_zero=relu_prime_at_zero,
                   activation=activation)
    if isinstance(structure, MSDLStructure):
        if activation != "relu" and activation not in COMPACT_ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not for MSDL networks; accepted: relu, "
                             f"{', '.join(COMPACT_ACTIVATIONS)}")
        return MultiScaleMLP(structure, generator=gen, init=init, relu_prime_at_zero=relu_prime_at_zero,
                             activation=activation)
    raise TypeError(f"build_network takes an SGDL or MSDL structure, got {type(structure).__name__}; "
                    "MGDL grades are built one at a time with build_grade")


def build_grade(structure: MGDLStructure, grade: int, *, seed: int = 0, init: str = "glorot_normal",
                relu_prime_at_zero: int = 0, activation: str = "relu") -> MLP:
    """A freshly initialised trainable network for ``grade`` (1-based) of an MGDL structure."""
    gen = torch.Generator().manual_seed(seed * 1000 + grade)
    return MLP(structure.grade_widths(grade), generator=gen, init=init, relu_prime_at_zero=relu_prime_at_zero,
               activation=activation)
