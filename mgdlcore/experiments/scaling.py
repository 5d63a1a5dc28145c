"""Scaling study of Table 1: the MGDL - SGDL test-PSNR gap on Cameraman as the image size and the number of epochs
grow towards the paper's setting (256 x 256, 10^4 Adam epochs per model and per grade).

Is a result of the reduced ``cpu`` profile a property of the reduction or of the method? The points are ordinary
regression configs (:func:`~mgdlcore.experiments.regression.make_config` with ``size`` and ``epochs`` replaced), so
a point that is also a Table-1 run (128 px and 3,000 epochs in the ``cpu`` profile; native size and 10^4 epochs in
the ``paper`` profile) shares its record. Epochs: 1/10, 3/10 and all of the paper's. Sizes: 64 and 128 px on this
machine (``cpu``), and the native 256 px as well in the ``paper`` profile (a GPU). Bicubic interpolation of the
same training pixels is the classical reference at every size.
"""

from __future__ import annotations

from ..paper.values import SEC4_REGRESSION_EPOCHS
from . import regression
from .config import one_of

IMAGE = "cameraman"
FRACTIONS = (0.1, 0.3, 1.0)            # of the paper's epochs
SIZES = {"paper": (64, 128, None), "cpu": (64, 128), "smoke": (16, 32)}   # None: native size
FULL_EPOCHS = {"paper": SEC4_REGRESSION_EPOCHS, "cpu": SEC4_REGRESSION_EPOCHS, "smoke": 60}


def epochs_grid(profile: str) -> list[int]:
    """The epoch counts of the study under ``profile`` (per SGDL model and per MGDL grade)."""
    one_of("profile", profile, tuple(SIZES))
    return [max(1, round(FULL_EPOCHS[profile] * f)) for f in FRACTIONS]


def configs(profile: str, *, device: str = "auto") -> list[regression.RegressionConfig]:
    """Every point of the study under ``profile``: size x epochs x (SGDL, MGDL), and bicubic per size.

    A point is built with the settings of the profile it belongs to: the native size with the ``paper`` profile's,
    a reduced size with the ``cpu`` profile's (``smoke``: the smoke profile's), so that it is the very config of a
    Table-1 run where one exists."""
    out = []
    for size in SIZES[profile]:
        base = "paper" if size is None else ("smoke" if profile == "smoke" else "cpu")
        for epochs in epochs_grid(profile):
            for method in regression.NETWORKS:
                out.append(regression.make_config(IMAGE, method, base, device=device, size=size, epochs=epochs))
        out.append(regression.make_config(IMAGE, "bicubic", base, size=size))
    return out
