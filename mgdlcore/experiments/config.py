"""The configuration of one run: a frozen dataclass per experiment kind that holds every setting that changes a result.

A config is the identity of a result. Its canonical JSON (``to_dict``) plus the record schema version is hashed
into the record's ``key``; two runs share a key exactly when every setting is the same. Fields marked
``runtime_only`` (for example where a user's image file lies on this machine) are not part of the config: they say
how to find an input, while the input's content is identified by a field that is (its sha256).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any, ClassVar

SCHEMA = 1
DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64")


def runtime_only(default=None):
    """A dataclass field that is not part of the config's identity (not in ``to_dict``, not in the key)."""
    return dataclasses.field(default=default, compare=False, metadata={"runtime_only": True})


def omitted_at_default(default):
    """A dataclass field left out of ``to_dict`` (and so of the key) while it holds ``default``: a setting added
    after records exist keeps the keys of those records, which all ran at the default."""
    return dataclasses.field(default=default, metadata={"omit_at_default": True})


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a config value must be finite, got {value!r}")
        return value
    return value


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, tuples as lists: the text that is hashed."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(config_dict: dict, schema: int = SCHEMA) -> str:
    """sha256 hex digest of the canonical JSON of ``{"schema": schema, "config": config_dict}``."""
    return hashlib.sha256(canonical_json({"schema": schema, "config": config_dict}).encode()).hexdigest()


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Base of every experiment config. Subclasses set ``KIND`` and add their fields, all with defaults.

    Common fields: ``task`` (what is computed), ``method``, ``seed`` (initialisation), ``device`` (``"cpu"`` or
    ``"cuda"``, resolved: a record made on a GPU is a different result from one made on a CPU), ``dtype`` and
    ``tf32`` (TensorFloat-32 matmuls on a GPU).
    """

    KIND: ClassVar[str] = ""
    TASKS: ClassVar[tuple[str, ...]] = ()

    task: str
    method: str
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    tf32: bool = False

    # -------------------------------------------------------------------------------------------- identity
    def to_dict(self) -> dict:
        """The full config as plain JSON-able values (tuples as lists); runtime-only fields left out."""
        return {f.name: _canonical(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not f.metadata.get("runtime_only")
                and not (f.metadata.get("omit_at_default") and getattr(self, f.name) == f.default)}

    @property
    def key(self) -> str:
        return config_key(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, **runtime) -> ExperimentConfig:
        """The config a record's ``config`` describes; unknown or missing fields raise a one-line ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("runtime_only")}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        return cls(**{k: _tuplify(v) for k, v in data.items()}, **runtime)

    # -------------------------------------------------------------------------------------------- checks
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a one-line ``ValueError`` naming the bad setting and what is accepted. Subclasses extend it."""
        if self.TASKS and self.task not in self.TASKS:
            raise ValueError(f"unknown task {self.task!r} for {type(self).__name__}; accepted: {', '.join(self.TASKS)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be resolved to one of {', '.join(DEVICES)} in a config, got {self.device!r}"
                             " (use mgdlcore.device.resolve_device('auto'))")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; accepted: {', '.join(DTYPES)}")
        if self.tf32 and self.device != "cuda":
            raise ValueError("tf32=True applies to CUDA matmuls only; use it with device='cuda'")

    # -------------------------------------------------------------------------------------------- naming
    def subject(self) -> str:
        """What the run is about (image or target), for file names and tables. Subclasses override."""
        return "-"

    def label(self) -> str:
        """A short human-readable name: task, subject, method."""
        return f"{self.task} {self.subject()} {self.method}"

    LABEL_FIELDS: ClassVar[tuple[str, ...]] = ("case", "level", "learning_rate", "n_grades", "stop_below", "size",
                                                "epochs", "track_every", "seed")

    def long_label(self) -> str:
        """``label()`` with the fields that tell runs apart (learning rate, level, size, epochs, seed, ...); seed 0
        and 0 epochs (nothing trained) are left out."""
        extra = [f"{name}={getattr(self, name):g}" if isinstance(getattr(self, name), float) else
                 f"{name}={getattr(self, name)}" for name in self.LABEL_FIELDS
                 if getattr(self, name, None) is not None and not (name in ("seed", "epochs") and not getattr(self, name))]
        draw = phase_set_name(getattr(self, "setting", None), getattr(self, "phases", None))
        if draw not in (None, "legacy"):       # the paper profile's phases (the authors' draw) go unnamed
            extra.append(f"phases={draw}")
        return " ".join([self.label(), *extra])


def phase_set_name(setting, phases) -> str | None:
    """Which draw of the phases of eq. (5) ``phases`` is: "legacy" or "partitionable" (the authors' PRNGKey(0)
    under either threefry, ``values.SEC5_AUTHOR_PHASES``), "custom" for any other, None when there are none."""
    if phases is None:
        return None
    from ..paper.values import SEC5_AUTHOR_PHASES

    return next((name for name, by_setting in SEC5_AUTHOR_PHASES.items()
                 if tuple(by_setting.get(setting, ())) == tuple(phases)), "custom")


def positive_int(name: str, value, *, minimum: int = 1) -> None:
    """One-line check that ``value`` is an integer >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def positive_float(name: str, value) -> None:
    """One-line check that ``value`` is a finite number > 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def one_of(name: str, value, accepted) -> None:
    """One-line check that ``value`` is one of ``accepted``."""
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(map(str, accepted))}")
