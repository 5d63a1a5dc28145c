"""What compiling would buy on the CPU for Sec. 7's MSDL runs: eager against ``torch.compile``, as ratios in one run.

On the CPU, MSDL's gradient-descent step and the Hessian-vector product of its Lanczos checks run eager: thousands of
small tensor operations each (``mgdlcore.experiments.cost.eager_step`` and ``eager_hvp`` count them), so their time
is dispatch, not arithmetic. The tracked runs of Sec. 7's conjecture (``chapters/13_msdl_variants``) spend most of
their hours in those products: near the edge of stability one check of both ends takes about 6,000 of them
(``cost.LANCZOS_PRODUCTS_SYNTHETIC``). This benchmark measures, for each MSDL network of Sec. 7 on the 1,024 training
points of eq. (5), setting 2 (the authors' legacy phases), at its initial parameters (seed 0), float32, one thread:

* ``hvp``: seconds per Hessian-vector product of the book's path (``analysis.hessian.hvp_function``:
  ``torch.func.jvp`` of ``torch.func.grad``, eager) and of the same function through ``torch.compile`` (compiled
  once; its compile seconds are given); ``hvp_rel_diff``: the largest ``|compiled - eager| / |eager|`` over three
  random vectors. ``ratio`` = eager / compiled seconds (> 1: compiled faster).
* ``epoch``: seconds per full-batch GD epoch of the book's eager path (what ``training.train`` runs for MSDL on the
  CPU: ``zero_grad``, ``half_mse(y, net(x)).backward()``, ``torch.optim.SGD.step``) and of one compiled function
  doing the same step on a flat parameter vector (``torch.func.grad``); ``loss_rel_diff``: the relative difference of
  the two losses after ``--epochs-check`` epochs from the same start (eta 0.006).
* ``check_projection``: the seconds of one Lanczos check at 6,000 products, eager and compiled (products only).

Timing: ``--rounds`` rounds (default 3), each timing eager then compiled for ``--seconds`` (default 2) after a
warm-up; the value is the median over rounds. Nothing of the book's run path changes here: a compiled path in the
package would change the code fingerprint of every tracked record (``mgdl-results verify``), CPU and GPU, so this
measures what such a change would buy before it is made. Exit status 1 when a compiled result differs from the
eager one by more than ``--tolerance`` (relative; default 1e-4), 2 for bad arguments.

Run: ``python benchmarks/compiled_steps.py [--json FILE] [--quick]``. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import emit
from torch.func import grad, jvp

from mgdlcore.analysis.hessian import OutputLoss, flat_loss, flat_parameters, hvp_function
from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.experiments.cost import LANCZOS_PRODUCTS_SYNTHETIC
from mgdlcore.models import build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import half_mse

NETWORKS = {"msdl_relu": ("msdl", "relu"), "msdl_deep_srelu": ("msdl-deep", "srelu"),
            "msdl_deep_bspline2": ("msdl-deep", "bspline2")}
LEGACY_PHASES_SETTING2 = (3.609693, 0.626346, 2.470299, 5.618288, 3.748338)
LEARNING_RATE = 0.006


def per_call(fn, seconds: float) -> float:
    """Seconds per call of ``fn`` over at least ``seconds`` (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / n


def build(name: str, data):
    structure, activation = NETWORKS[name]
    kw = {} if activation == "relu" else {"activation": activation}
    return build_network(get_structure(structure), seed=0, init="he_normal", relu_prime_at_zero=1, **kw)


def hvp_case(name: str, data, args) -> tuple[dict, list[str]]:
    net = build(name, data)
    loss = OutputLoss(data.x_train, lambda o: half_mse(data.y_train, o))
    eager = hvp_function(net, loss)
    theta = flat_parameters(net).detach()
    g = grad(flat_loss(net, loss))

    def one(th, v):
        return jvp(g, (th,), (v,))[1]

    compiled = torch.compile(one, dynamic=False)
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(theta.numel()) for _ in range(3)]
    t0 = time.perf_counter()
    compiled(theta, torch.as_tensor(vs[0], dtype=theta.dtype))
    compile_s = time.perf_counter() - t0
    diff = max(float(np.linalg.norm(compiled(theta, torch.as_tensor(v, dtype=theta.dtype)).double().numpy() - eager(v))
                     / np.linalg.norm(eager(v))) for v in vs)
    vt = torch.as_tensor(vs[0], dtype=theta.dtype)
    te, tc = [], []
    for _ in range(args.rounds):
        te.append(per_call(lambda: eager(vs[0]), args.seconds))
        tc.append(per_call(lambda: compiled(theta, vt), args.seconds))
    e, c = statistics.median(te), statistics.median(tc)
    row = dict(case=f"hvp_{name}", parameters=int(theta.numel()), points=int(data.x_train.shape[0]), eager_s=e,
               compiled_s=c, ratio=e / c, compile_s=compile_s, hvp_rel_diff=diff,
               check_projection_eager_s=e * LANCZOS_PRODUCTS_SYNTHETIC,
               check_projection_compiled_s=c * LANCZOS_PRODUCTS_SYNTHETIC)
    bad = [f"{name}: compiled Hessian-vector product differs from eager by {diff:.2e}"] if diff > args.tolerance else []
    return row, bad


def epoch_case(name: str, data, args) -> tuple[dict, list[str]]:
    x, y = data.x_train, data.y_train

    def eager_run(epochs: int):
        net = build(name, data)
        opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)

        def step():
            opt.zero_grad(set_to_none=True)
            half_mse(y, net(x)).backward()
            opt.step()

        for _ in range(epochs):
            step()
        return net, step

    net = build(name, data)
    f = flat_loss(net, OutputLoss(x, lambda o: half_mse(y, o)))
    g = grad(f)

    def gd(th):
        return th - LEARNING_RATE * g(th)

    compiled = torch.compile(gd, dynamic=False)
    theta0 = flat_parameters(net).detach().clone()
    t0 = time.perf_counter()
    compiled(theta0)
    compile_s = time.perf_counter() - t0
    th = theta0
    for _ in range(args.epochs_check):
        th = compiled(th)
    trained, step = eager_run(args.epochs_check)
    with torch.no_grad():
        loss_eager, loss_compiled = float(half_mse(y, trained(x))), float(f(th))
    diff = abs(loss_compiled - loss_eager) / abs(loss_eager)
    state = [theta0]

    def compiled_step():
        state[0] = compiled(state[0])

    te, tc = [], []
    for _ in range(args.rounds):
        te.append(per_call(step, args.seconds))
        tc.append(per_call(compiled_step, args.seconds))
    e, c = statistics.median(te), statistics.median(tc)
    row = dict(case=f"epoch_{name}", parameters=int(theta0.numel()), points=int(x.shape[0]), eager_s=e,
               compiled_s=c, ratio=e / c, compile_s=compile_s, epochs_check=args.epochs_check,
               loss_eager=loss_eager, loss_compiled=loss_compiled, loss_rel_diff=diff)
    bad = [f"{name}: compiled GD loss after {args.epochs_check} epochs differs from eager by {diff:.2e}"] \
        if diff > args.tolerance else []
    return row, bad


def fail(message: str) -> None:
    """One line on stderr and exit status 2 (bad arguments), before any work."""
    print(f"compiled_steps.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", nargs="+", default=list(NETWORKS), metavar="NAME",
                   help=f"networks to measure (default: all of {', '.join(NETWORKS)})")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case (default 3)")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per implementation and round (default 2)")
    p.add_argument("--epochs-check", type=int, default=200, help="GD epochs of the loss comparison (default 200)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest relative difference accepted (1e-4)")
    p.add_argument("--quick", action="store_true", help="1 round of 0.5 s, 20 epochs of loss comparison")
    p.add_argument("--json", type=Path, help="write the rows as a JSON list to this file")
    args = p.parse_args(argv)
    unknown = sorted(set(args.networks) - set(NETWORKS))
    if unknown:
        fail(f"unknown network(s) {', '.join(unknown)}; accepted: {', '.join(NETWORKS)}")
    if args.quick:
        args.rounds, args.seconds, args.epochs_check = 1, 0.5, 20
    if args.rounds < 1 or args.seconds <= 0 or args.epochs_check < 1 or args.tolerance <= 0:
        fail("--rounds and --epochs-check must be >= 1, --seconds and --tolerance > 0; got "
             f"{args.rounds}, {args.epochs_check}, {args.seconds:g}, {args.tolerance:g}")
    torch.set_num_threads(1)
    data = synthetic_data(2, phases=LEGACY_PHASES_SETTING2, val_seed=1)
    rows, problems = [], []
    for name in args.networks:
        for case in (hvp_case, epoch_case):
            row, bad = case(name, data, args)
            emit(**row)
            rows.append({**row, "torch": torch.__version__, "threads": torch.get_num_threads()})
            problems += bad
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    for line in problems:
        print(f"compiled_steps: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
