"""The last Lanczos eigenvalue check of a tracked run's checkpoint against the dense Hessian at the same parameters.

A tracked run on a synthetic problem (``track_every``, ``eigen_method="lanczos"``: Sec. 7's MSDL variants, whose
verdicts count the checks at or below -1) keeps, in its checkpoint, the parameters after the last completed block
and the eigenvalues of ``I - eta H`` its callback computed there, before that epoch's update
(``analysis.hessian.lanczos_iteration_eigenvalues``: ARPACK on float32 Hessian-vector products). This script
rebuilds the run's network and data from its config, loads those parameters, forms the whole Hessian by autodiff
(``analysis.hessian.loss_hessian``, ``vmap`` over the identity, ``--chunk`` columns at a time) and takes all its
eigenvalues with LAPACK (``iteration_eigenvalues``): an independent path to the same numbers, with the exact count
at or below -1. It does so twice: in float32, the precision of the run's products, so that the difference is
Lanczos's own; and in float64, so that it also shows what float32 rounding of the Hessian moves. It prints one JSON
line: the ``k`` smallest and ``k`` largest eigenvalues of each path, the largest absolute difference of each dense
path from Lanczos's, the counts at or below -1 and the seconds of each dense path.

The state is read where the campaign keeps it (``results/.checkpoints``) if it was saved at a check (a run also
saves between checks, every ``MGDL_CHECKPOINT_SECONDS``), else from the run's committed parked copy
(``results/.parked``). Exit status 1 when a difference exceeds its tolerance (``--tolerance``, float32, default
1e-5; ``--tolerance64``, float64, default 1e-4) or a count at or below -1 differs; 2, with one line, before any
work, for a key that names no checkpoint saved at a check here or a run this check does not cover (one network
trained by plain GD on a synthetic problem, tracked by Lanczos).

Run: ``python benchmarks/lanczos_crosscheck.py --key 6428907f [--results results] [--chunk 64]`` (the key prefix of
the config, as in the checkpoint folder ``<task>-<key>-<code>``; memory grows with ``--chunk``: 64 columns of the
deep B-spline MSDL at 1,024 points take about 3 GB).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mgdlcore.analysis.hessian import OutputLoss, iteration_eigenvalues, loss_hessian
from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.experiments import parking, profiles
from mgdlcore.experiments.parking import CHECKPOINTS, PARKED
from mgdlcore.experiments.gd_dynamics import GDConfig
from mgdlcore.models import build_network
from mgdlcore.structures import MGDLStructure, get_structure
from mgdlcore.training.loop import half_mse


def fail(message: str) -> None:
    print(f"lanczos_crosscheck.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def checkpoint_state(results: Path, key: str, scratch: Path) -> dict:
    """The saved state of the run whose key starts with ``key`` whose parameters are those of its last check: the
    live checkpoint under ``results/.checkpoints`` if it was saved at a check, else the parked copy under
    ``results/.parked`` (unpacked into ``scratch`` by ``parking.restore``; nothing under ``results`` changes).
    A run also saves between checks (``MGDL_CHECKPOINT_SECONDS``): such a state is past its last check."""
    live = sorted((results / CHECKPOINTS).glob(f"*-{key}*-*/train-000.pt"))
    parked = sorted(f for f in (results / PARKED).glob(f"*-{key}*-*") if f.is_dir())
    if len(live) > 1 or len(parked) > 1 or not (live or parked):
        fail(f"{len(live)} live and {len(parked)} parked checkpoints of a key starting {key!r} under {results}; "
             "need one of either")
    files = list(live)
    if parked:
        shutil.copytree(parked[0], scratch / PARKED / parked[0].name)
        parking.restore(scratch / CHECKPOINTS / parked[0].name)
        files.append(scratch / CHECKPOINTS / parked[0].name / "train-000.pt")
    seen = []
    for path in files:
        state = torch.load(path, weights_only=True)
        checked = state["callbacks"][0]["epochs"]
        if checked and checked[-1] == state["done"]:
            return state
        seen.append(f"{state['done']:,} epochs done, last check at {checked[-1] if checked else None}")
    fail(f"no checkpoint of {key!r} was saved at a check ({'; '.join(seen)}); try again after the next check")


def find_config(key: str) -> GDConfig:
    """The config whose key starts with ``key``, among every profile's, if this check covers it."""
    matches = {c.key: c for p in profiles.PROFILE_NAMES for c in profiles.all_configs(p) if c.key.startswith(key)}
    if len(matches) != 1:
        fail(f"{len(matches)} configs of the profiles have a key starting {key!r}; give a longer prefix")
    config = next(iter(matches.values()))
    covered = (isinstance(config, GDConfig) and config.image is None and config.track_every
               and config.eigen_method == "lanczos" and config.optimizer == "gd"
               and not isinstance(get_structure(config.structure), MGDLStructure))
    if not covered:
        fail(f"{config.long_label()}: not one network trained by plain GD on a synthetic problem and tracked by "
             "Lanczos")
    return config


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="key prefix of the tracked run's config (8 hex digits or more)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    p.add_argument("--chunk", type=int, default=64, help="Hessian columns at a time (default 64)")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="largest absolute difference from the float32 dense path accepted (default 1e-5)")
    p.add_argument("--tolerance64", type=float, default=1e-4,
                   help="largest absolute difference from the float64 dense path accepted (default 1e-4)")
    p.add_argument("--json", type=Path, help="also write the row to this file")
    a = p.parse_args(argv)
    if len(a.key) < 8 or any(ch not in "0123456789abcdef" for ch in a.key):
        fail(f"--key must be 8 or more lowercase hex digits, got {a.key!r}")
    if a.chunk < 1 or a.tolerance <= 0 or a.tolerance64 <= 0:
        fail(f"--chunk must be >= 1 and --tolerance, --tolerance64 > 0, got {a.chunk}, {a.tolerance:g}, "
             f"{a.tolerance64:g}")
    config = find_config(a.key)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        state = checkpoint_state(a.results, a.key, Path(scratch))
    track = state["callbacks"][0]
    data = synthetic_data(config.setting, phase_seed=config.phase_seed or 0, phases=config.phases,
                          val_seed=config.val_seed)
    net = build_network(get_structure(config.structure), seed=config.seed, init=config.init,
                        relu_prime_at_zero=config.relu_prime_at_zero, activation=config.activation)
    with torch.no_grad():
        for q, v in zip(net.parameters(), state["params"], strict=True):
            q.copy_(v)
    x, y = data.x_train, data.y_train
    k, row, problems = config.n_eigen, {}, []
    lanczos_small = [track["values"][f"eig_min_{j}"][-1] for j in range(k)]
    lanczos_large = [track["values"][f"eig_max_{j}"][-1] for j in range(k)]
    lanczos_count = int(track["values"]["n_le_minus1"][-1])
    row.update(run=config.long_label(), key=config.key[:16], epoch=int(track["epochs"][-1]), done=int(state["done"]),
               lanczos_smallest=lanczos_small, lanczos_largest=lanczos_large, lanczos_n_le_minus1=lanczos_count)
    for name, model, tol in (("dense32", net, a.tolerance), ("dense64", copy.deepcopy(net).double(), a.tolerance64)):
        xd, yd = x.to(next(model.parameters()).dtype), y.to(next(model.parameters()).dtype)
        t0 = time.perf_counter()
        h = loss_hessian(model, OutputLoss(xd, lambda o, yd=yd: half_mse(yd, o)), closed_form=False,
                         chunk_size=a.chunk)
        dense = iteration_eigenvalues(h, config.learning_rate, k)
        seconds = time.perf_counter() - t0
        diff = float(np.max(np.abs(np.r_[np.subtract(dense.smallest, lanczos_small),
                                         np.subtract(dense.largest, lanczos_large)])))
        row.update({f"{name}_smallest": list(dense.smallest), f"{name}_largest": list(dense.largest),
                    f"{name}_max_abs_diff": diff, f"{name}_n_le_minus1": dense.n_le_minus1,
                    f"{name}_seconds": seconds, "parameters": dense.n})
        if diff > tol:
            problems.append(f"{name}: eigenvalues differ from Lanczos's by {diff:.2e} (> {tol:g})")
        if dense.n_le_minus1 != lanczos_count:
            problems.append(f"{name}: {dense.n_le_minus1} at or below -1, Lanczos {lanczos_count}")
    row["torch"] = torch.__version__
    print(json.dumps(row), flush=True)
    if a.json:
        a.json.write_text(json.dumps(row, indent=1) + "\n")
    for line in problems:
        print(f"lanczos_crosscheck.py: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
