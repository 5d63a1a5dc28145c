"""Run profiles: ``paper`` (the paper's settings, GPU scale), ``cpu`` (reduced, about an hour per chapter on
2 CPU cores) and ``smoke`` (minutes, for CI). Each chapter's settings are a frozen dataclass; a profile
is a named value of it, and every record stores the settings it ran with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PROFILE_NAMES = ("paper", "cpu", "smoke")


@dataclass(frozen=True)
class RegressionProfile:
    """Image regression, Sec. 4 / Table 1."""

    name: str
    max_size: int | None                # longer image side is downsampled to this (None: native size)
    epochs: int                         # Adam epochs per SGDL model and per MGDL grade (paper: 10,000)
    learning_rate: float = 1e-3         # Adam learning rate (paper: 1e-3)
    eval_every: int = 100               # validation/test PSNR every this many epochs
    loss_every: int = 10                # keep the training loss of every this many epochs in the record
    sgdl: str = "28"                    # structure for SGDL (paper: (28), and (29) for Walnut)
    mgdl: str = "32"                    # structure for MGDL (paper: (32), and (33) for Walnut)
    structure_overrides: dict[str, tuple[str, str]] = field(default_factory=lambda: {"walnut": ("29", "33")})

    def structures_for(self, image: str) -> tuple[str, str]:
        return self.structure_overrides.get(image, (self.sgdl, self.mgdl))

    def to_dict(self) -> dict:
        return asdict(self)


REGRESSION_PROFILES = {
    "paper": RegressionProfile("paper", max_size=None, epochs=10_000),
    "cpu": RegressionProfile("cpu", max_size=128, epochs=3_000, eval_every=100, loss_every=5),
    "smoke": RegressionProfile("smoke", max_size=32, epochs=60, eval_every=20, loss_every=1),
}


def get_profile(profiles: dict, name: str):
    """``profiles[name]`` with a one-line error naming the accepted profiles."""
    if name not in profiles:
        raise ValueError(f"unknown profile {name!r}; accepted: {', '.join(profiles)}")
    return profiles[name]
