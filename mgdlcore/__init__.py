"""mgdlcore: the computations behind the executable paper on multi-grade deep learning.

Fang & Xu (2025), "Computational Advantages of Multi-Grade Deep Learning: Convergence Analysis
and Performance Insights". Notebooks in ``chapters/`` narrate and plot; everything they compute
lives here and is tested in ``tests/``.
"""

from .allocator import tune_allocator
from .device import resolve_device
from .metrics import psnr
from .models import MLP, MultiGradeModel
from .structures import STRUCTURES, MGDLStructure, MSDLStructure, SGDLStructure, get_structure

__all__ = [
    "MLP",
    "MGDLStructure",
    "MSDLStructure",
    "MultiGradeModel",
    "SGDLStructure",
    "STRUCTURES",
    "get_structure",
    "psnr",
    "resolve_device",
]
__version__ = "0.1.0"

tune_allocator()  # before any large tensor is allocated; see mgdlcore.allocator
