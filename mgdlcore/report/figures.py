"""Figures of the book (matplotlib), drawn from records and arrays; no computation beyond rearranging."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_loss_history(record, ax=None, *, label: str | None = None, color=None):
    """Training loss against epoch from a record's ``series["grades"]``; MGDL grades end to end, dotted boundaries."""
    ax = ax or plt.gca()
    offset = 0
    for i, h in enumerate(record.series.get("grades") or []):
        epochs = np.asarray(h["loss_epochs"], float) + offset
        loss = np.array([np.nan if v is None else v for v in h["loss"]], float)
        ax.semilogy(epochs, loss, color=color, lw=0.8, label=label if i == 0 else None)
        if h.get("grade") and h["grade"] > 1:
            ax.axvline(offset, color="0.6", ls=":", lw=0.8)
        offset += (h["loss_epochs"][-1] + 1) if h["loss_epochs"] else 0
    ax.set_xlabel("epoch (grades end to end)" if record.config.get("method") == "MGDL" else "epoch")
    ax.set_ylabel("training loss")
    return ax


def show_images(images: dict[str, np.ndarray], *, titles: dict[str, str] | None = None, ncols: int | None = None,
                size: float = 2.2):
    """A row (or grid) of grayscale images on [0, 1] with titles."""
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for ax, (key, img) in zip(axes.flat, images.items()):
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title((titles or {}).get(key, key), fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
