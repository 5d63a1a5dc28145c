"""Choosing the torch device from a user's string ("auto" | "cpu" | "cuda")."""

from __future__ import annotations

import torch

ACCEPTED = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``device``.

    ``"auto"`` takes CUDA when available and the CPU otherwise. Asking for ``"cuda"`` (or
    ``"cuda:N"``) on a machine without a usable GPU raises a one-line ``ValueError``.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but this machine has no CUDA GPU; use 'cpu' or 'auto'")
        return torch.device(name)
    raise ValueError(f"unknown device {device!r}; accepted: {', '.join(ACCEPTED)} (or 'cuda:N')")


def describe_device(device: torch.device) -> str:
    """A short human-readable name of ``device`` for result records (e.g. 'cuda: NVIDIA H100')."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return "cpu"
