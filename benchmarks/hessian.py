"""Timing of the Hessian paths of ``mgdlcore.analysis.hessian`` (Sec. 6).

1. Dense Hessian of the loss of SGDL (26) on the 1024 training points of eq. (5) (3,265 parameters), by the
   closed form (``OutputLoss``, float32 and float64) and by autodiff (``torch.func``, float32), then all its
   eigenvalues (``iteration_eigenvalues``, float64 as in the records, and float32), and one GD epoch for comparison.
2. Lanczos (``both_ends``, the 10 smallest and 10 largest eigenvalues of H) on the Table-1 networks: SGDL (28) and grade 1
   of MGDL (32), on the training pixels of an image of side ``--size`` (``(size/2)^2`` points; 512 gives the
   65,536 training pixels of Table 1): seconds per Hessian-vector product and for the Lanczos solve.

Run: ``python benchmarks/hessian.py [--size 128] [--threads 2] [--skip-lanczos-solve]``. Prints one JSON line per
measurement (machine, torch version and thread count included).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import emit, lanczos, synthetic_net, timed

from mgdlcore.analysis.hessian import OutputLoss, iteration_eigenvalues, loss_hessian, n_trainable
from mgdlcore.data.grid import regression_data
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import half_mse


def dense_synthetic(repeat: int) -> None:
    net, d = synthetic_net("26")
    loss = OutputLoss(d.x_train, lambda o: half_mse(d.y_train, o))
    loss_hessian(net, loss)                                                   # warm-up (first torch.func use)
    H, t_h = timed(lambda: loss_hessian(net, loss), repeat)
    _, t_h64 = timed(lambda: loss_hessian(net, loss, dtype=torch.float64), repeat)
    _, t_ad = timed(lambda: loss_hessian(net, loss, closed_form=False), 1)
    _, t_e = timed(lambda: iteration_eigenvalues(H, 0.08), repeat)
    _, t_e32 = timed(lambda: iteration_eigenvalues(H, 0.08, dtype=torch.float32), repeat)
    opt = torch.optim.SGD(net.parameters(), lr=1e-6)

    def epoch():
        for _ in range(100):
            opt.zero_grad()
            loss(net).backward()
            opt.step()

    _, t_ep = timed(epoch, repeat)
    emit(case="dense (26), 1024 points", parameters=n_trainable(net), hessian_closed_form_f32_s=t_h,
         hessian_closed_form_f64_s=t_h64, hessian_autodiff_f32_s=t_ad, eigvalsh_f64_s=t_e, total_s=t_h + t_e,
         eigvalsh_f32_s=t_e32, total_f32_s=t_h + t_e32,
         gd_epoch_s=t_ep / 100)


def lanczos_table1(size: int, solve: bool) -> None:
    img = np.random.default_rng(0).random((size, size))
    data = regression_data(img)
    x, y = data.x["train"], data.y["train"]
    nets = {"(28) SGDL": build_network(get_structure("28"), seed=0, init="he_normal", relu_prime_at_zero=1),
            "(32) MGDL grade 1": build_grade(get_structure("32"), 1, seed=0, init="he_normal", relu_prime_at_zero=1)}
    for name, net in nets.items():
        _lanczos_one(name, net, x, y, solve)


def _lanczos_one(name, net, x, y, solve: bool) -> None:
    r = lanczos(net, x, y, solve=solve)
    row = dict(case=f"lanczos {name}", points=r["points"], parameters=r["parameters"], hvp_s=r["hvp_s"])
    if solve:
        row.update(lanczos_both_ends_s=r["lanczos_s"], hvp_calls=r["hvp_calls"], lambda_max=r["lambda_max"],
                   lambda_min=r["lambda_min"])
    emit(**row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="image side for the Lanczos part (512: 65,536 points)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-dense", action="store_true")
    ap.add_argument("--skip-lanczos-solve", action="store_true", help="time one HVP only")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if not a.skip_dense:
        dense_synthetic(a.repeat)
    lanczos_table1(a.size, not a.skip_lanczos_solve)


if __name__ == "__main__":
    main()
