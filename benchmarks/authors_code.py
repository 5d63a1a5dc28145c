"""Plain gradient-descent speed against the authors' own JAX code on the same problem, as a ratio in one run.

The authors' synthetic-data code (Fang & Xu's repository "Why-MGDL-outperforms-SGDL", directory
``Impact-of-Learning-Rate-on-SGDL-and-MGDL/Synthetic-Data-Regression``) is read from a checkout passed as
``--authors DIR``; nothing of it is copied here. Their ``sgdl.py`` and ``mgdl.py`` do not compile as published (a
stray ``else ...:`` in ``analysis``), so they cannot be imported: the benchmark compiles, from their files, the
top-level function ``create_network`` and the lines of ``train_model`` that build the jitted loss, gradient and
``optimizers.sgd`` update, and evaluates their loop's own update line
``opt_update(i, model_grad_loss(get_params(opt_state), train_data[0], train_data[1]), opt_state)`` as the step.
Their data come from their ``SpectralBiasDataSetting1.generate_data("constant", 10)`` (1,024 training points, as
``mgdlcore.data.synthetic`` builds them).

Cases, each on the CPU with one thread (the process is pinned to one CPU before jax is imported, see below):

* ``authors_sgdl26`` / ``ours_sgdl26_fused``: epochs per second of one full-batch GD epoch (eta 0.01, float32) of
  SGDL (26), [1] -> [32] x 4 -> [1], on the 1,024 points of eq. (5), setting 1: theirs = their step (two jitted
  calls, gradient then update, as their loop makes them; the state is blocked on after every step), ours =
  ``mgdlcore.training.fused`` (what ``training.train`` runs for plain GD on the CPU). ratio = ours / theirs in
  epochs/s (> 1: ours faster). The unit adds microseconds per epoch and GFLOP/s (``_common.step_flops``).
* ``authors_sgdl26_fori``: their gradient and update, 100 epochs inside one ``jax.lax.fori_loop`` jitted as a whole
  (not what their code does; what JAX reaches without per-step dispatch); ratio = / their step.
* ``authors_mgdl30_grade2`` / ``ours_mgdl30_grade2_fused`` (+ ``_fori``): the same for grade 2 of MGDL (30),
  [32]_F -> [32] -> [1], on the frozen features of a grade 1 at its initialisation, against the residual;
  theirs from ``mgdl.py``'s ``create_network(opt, 2)``.
* ``loss_<net>_authors`` / ``loss_<net>_ours``: the loss (1) after 100 GD epochs at eta 0.005 from the authors'
  initial parameters (``init_params``, copied into our network) on their data, float32; ratio = ours / theirs.
  Their gradient takes ReLU'(0) = 1/2 (``jax.grad`` of ``np.maximum(z, 0)`` splits ties), ours 1 (``relu_right``,
  as their ``Hessian.py`` and the book): with zero initial biases every unit sits on the kink at x = 0 in the
  first epoch, so the losses agree to rounding plus that one point's share of the first step.
  ``loss_<net>_rel_diff``: ``|ours - theirs| / theirs``.

Timing: ``--rounds`` rounds (default 5), each timing both implementations for ``--seconds`` (default 2; ``--quick``:
3 rounds of 1 s) after a warm-up (compilation included there), in alternating order; the value is the median
over rounds, and the unit gives microseconds per epoch. Every round restarts from the initial parameters.

One thread: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (set here unless given) does not keep XLA's CPU
client on one thread (jax 0.10: a 1024^3 matmul still ran on four threads, by per-thread CPU time); pinning the
process to one CPU before jax is imported does (the work then runs in one thread). ``--cpu N`` picks the CPU
(default: the first this process may use); torch runs with ``torch.set_num_threads(1)`` on the same CPU.

    PYTHONPATH=/path/to/jax-site python benchmarks/authors_code.py --authors DIR [--quick] [--json FILE]
        [--rounds R] [--seconds S] [--cpu N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import textwrap
import time
from argparse import Namespace
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYNTH = Path("Impact-of-Learning-Rate-on-SGDL-and-MGDL/Synthetic-Data-Regression")
FILES = {"sgdl": SYNTH / "SGDL/sgdl.py", "mgdl": SYNTH / "MGDL/mgdl.py",
         "data": SYNTH / "SGDL/SpectralBiasDataSetting1.py"}
UPDATE = "opt_update(i, model_grad_loss(get_params(opt_state), train_data[0], train_data[1]), opt_state)"
STEP_FIRST, STEP_LAST = "model_pred = jit(", "opt_update = jit(opt_update)"
LR_TIME, LR_CHECK, CHECK_EPOCHS, FORI_EPOCHS = 0.01, 0.005, 100, 100


def fail(message: str) -> None:
    print(f"authors_code.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_authors(path: str | None) -> Path:
    """The checkout root, or a one-line error (exit 2) saying what is missing."""
    if not path:
        fail("--authors DIR is required (the root of a checkout of Fang & Xu's Why-MGDL-outperforms-SGDL)")
    root = Path(path)
    if not root.exists():
        fail(f"--authors {path}: no such directory")
    if not root.is_dir():
        fail(f"--authors {path}: not a directory")
    for rel in FILES.values():
        if not (root / rel).is_file():
            fail(f"--authors {path}: {rel} not found (is DIR the root of the authors' repository?)")
    return root


# ------------------------------------------------------------------------------------------------ their code
def top_level_block(lines: list[str], name: str, path: Path) -> tuple[int, str]:
    """``(first line index, source)`` of the top-level ``def name`` in ``lines``."""
    start = next((i for i, s in enumerate(lines) if s.startswith(f"def {name}(")), None)
    if start is None:
        fail(f"{path}: no top-level 'def {name}(' (the authors' code has changed)")
    end = next((j for j in range(start + 1, len(lines)) if lines[j][:1] not in ("", " ", "\t", "\n")), len(lines))
    return start, "".join(lines[start:end])


def load_authors(root: Path, which: str, jax_ns: dict) -> dict:
    """Their ``create_network`` and the jitted-step lines of their ``train_model``, compiled from their file with
    its line numbers; returns the namespace (``create_network``, ``build_step(opt, model_fn)``)."""
    path = root / FILES[which]
    lines = path.read_text().splitlines(keepends=True)
    ns = dict(jax_ns)
    start, src = top_level_block(lines, "create_network", path)
    exec(compile("\n" * start + src, str(path), "exec"), ns)
    t0, body = top_level_block(lines, "train_model", path)
    body_lines = body.splitlines(keepends=True)
    first = next((i for i, s in enumerate(body_lines) if s.strip().startswith(STEP_FIRST)), None)
    last = next((i for i, s in enumerate(body_lines) if s.strip() == STEP_LAST), None)
    if first is None or last is None or UPDATE not in body:
        fail(f"{path}: train_model no longer builds its step as expected (the authors' code has changed)")
    step_src = textwrap.dedent("".join(body_lines[first:last + 1]))
    step_code = compile("\n" * (t0 + first) + step_src, str(path), "exec")
    update_code = compile(f"lambda i, opt_state, train_data: {UPDATE}", str(path), "eval")

    def build_step(opt: Namespace, model_fn) -> dict:
        step_ns = dict(ns, opt=opt, model_fn=model_fn)
        exec(step_code, step_ns)
        step_ns["step"] = eval(update_code, step_ns)
        return step_ns

    ns["build_step"] = build_step
    return ns


def authors_data(root: Path):
    """Their ``generate_data("constant", 10)`` of setting 1 (plots go to matplotlib's Agg backend)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    spec = importlib.util.spec_from_file_location("authors_spectral_bias_setting1", root / FILES["data"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data, _ = mod.generate_data("constant", 10)
    return data


# ------------------------------------------------------------------------------------------------ main
def header(ctx, jax, jaxlib_version: str, root: Path, cpu: int) -> str:
    import datetime
    import platform

    import torch
    from run import cpu_name, git_commit

    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        authors = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                 check=True).stdout.strip() or "?"
    except (OSError, subprocess.CalledProcessError):
        authors = "no git"
    return (f"# {date} | {platform.platform()}, {cpu_name()} ({os.cpu_count()} cpus) | torch {torch.__version__} | "
            f"jax {jax.__version__} (jaxlib {jaxlib_version}) | threads 1, pinned to cpu {cpu} | "
            f"XLA_FLAGS {os.environ.get('XLA_FLAGS', '')} | commit {git_commit()} | authors {root} ({authors}) | "
            f"{'quick' if ctx.quick else 'full'}")


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--authors", metavar="DIR", help="root of a checkout of the authors' repository")
    p.add_argument("--quick", action="store_true", help="3 rounds of 1 s per implementation")
    p.add_argument("--json", type=Path, help="write the rows as a JSON list to this file")
    p.add_argument("--rounds", type=int, help="interleaved rounds per case (default 5; --quick: 3)")
    p.add_argument("--seconds", type=float, help="seconds per implementation and round (default 2; --quick: 1)")
    p.add_argument("--cpu", type=int, help="the CPU to pin the process to (default: the first allowed)")
    a = p.parse_args(argv)
    root = check_authors(a.authors)
    if str(HERE) not in sys.path:        # _common and run, as when the script runs from benchmarks/
        sys.path.insert(0, str(HERE))
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[0] if a.cpu is None else a.cpu
    if cpu not in allowed:
        fail(f"--cpu {cpu}: not among this process's CPUs {allowed}")
    if "jax" not in sys.modules:          # both must precede the first import of jax to take effect
        os.sched_setaffinity(0, {cpu})
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    try:
        import jax
        import jax.numpy as jnp
        import jaxlib
        from jax.example_libraries import optimizers
    except ImportError as err:
        fail(f"jax is not importable ({err}); install it outside the repository, e.g. "
             f"pip install --target DIR 'jax[cpu]' and PYTHONPATH=DIR")
    return run(a, root, cpu, jax, jnp, getattr(jaxlib, "__version__", "?"), optimizers)


def run(a, root: Path, cpu: int, jax, jnp, jaxlib_version: str, optimizers) -> list[dict]:
    import json

    import numpy as np
    import torch
    from run import CPU, Ctx

    from mgdlcore.data.synthetic import synthetic_data
    from mgdlcore.models import build_grade, build_network
    from mgdlcore.structures import get_structure

    ctx = Ctx(CPU, a.quick, a.seconds or (1.0 if a.quick else 2.0))
    rounds = a.rounds or (3 if a.quick else 5)
    jax_ns = dict(jax=jax, np=jnp, jit=jax.jit, grad=jax.grad, random=jax.random, optimizers=optimizers)
    data = authors_data(root)
    print(header(ctx, jax, jaxlib_version, root, cpu), flush=True)
    print(f"{'case':<32} {'value':>11}  {'unit':<36} {'reference':<30} ratio", flush=True)
    t_start = time.perf_counter()

    x_t = torch.as_tensor(np.asarray(data["train_X"]).T.copy())               # (1024, 1): their (1, N) transposed
    y_t = torch.as_tensor(np.asarray(data["train_Y"]).T.copy())
    ours_data = synthetic_data(1, phases=[float(v) for v in np.asarray(data["opt"].phi)])
    if x_t.shape != ours_data.x_train.shape:
        fail(f"the authors' data have {x_t.shape[0]} training points, ours {ours_data.x_train.shape[0]}")
    s30 = get_structure("30")
    grade1 = build_grade(s30, 1, seed=0, init="he_normal", relu_prime_at_zero=1)
    with torch.no_grad():
        out1, feats = grade1.forward_with_features(x_t)
    nets = {  # name: (their file, their opt, grade, our network, x, y)
        "sgdl26": ("sgdl", Namespace(num_channel=[1, 32, 32, 32, 32, 1]), None,
                   build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1), x_t, y_t),
        "mgdl30_grade2": ("mgdl", Namespace(num_channel={"grade2": [32, 32, 1]}), 2,
                          build_grade(s30, 2, seed=0, init="he_normal", relu_prime_at_zero=1), feats, y_t - out1),
    }
    loaded: dict[str, dict] = {}
    for name, (which, opt, grade, net, x, y) in nets.items():
        if which not in loaded:
            loaded[which] = load_authors(root, which, jax_ns)
        one_network(ctx, jax, jnp, rounds, name, loaded[which], opt, grade, net, x, y)
    print(f"# {time.perf_counter() - t_start:.0f} s; medians of {rounds} interleaved rounds of {ctx.seconds:g} s; "
          f"data: the authors' (their y - ours with their phases: max "
          f"{float((y_t.double() - ours_data.y_train.double()).abs().max()):.1e})", flush=True)
    if a.json:
        a.json.write_text(json.dumps(ctx.rows, indent=1) + "\n")
    return ctx.rows


def one_network(ctx, jax, jnp, rounds: int, name: str, ns: dict, opt: Namespace, grade, net, x, y) -> None:
    """The loss check and the interleaved timing of one network: theirs from ``ns``, ours ``net`` on ``(x, y)``."""
    import numpy as np
    import torch
    from _common import num_threads, step_flops, time_it
    from run import CPU

    from mgdlcore.training.fused import FusedGDEpoch
    from mgdlcore.training.loop import half_mse

    model_fn, init_params = ns["create_network"](opt) if grade is None else ns["create_network"](opt, grade)
    params0 = init_params()
    layers = [*net.hidden, net.out]
    if [tuple(w.shape) for w, _ in params0] != [tuple(lay.weight.shape[::-1]) for lay in layers]:
        fail(f"{name}: the authors' layer shapes differ from ours")
    w0 = [(torch.as_tensor(np.asarray(w).T.copy()), torch.as_tensor(np.asarray(b)[:, 0].copy())) for w, b in params0]

    def reset() -> None:
        """Our network to the authors' initial parameters (their W is ours transposed, their b a column)."""
        with torch.no_grad():
            for lay, (w, b) in zip(layers, w0):
                lay.weight.copy_(w)
                lay.bias.copy_(b)

    train_data = [jnp.asarray(x.numpy().T), jnp.asarray(y.numpy().T)]      # their layout: (features, N)
    slot = torch.empty((), dtype=torch.float64)

    # -- the same computation: CHECK_EPOCHS epochs at LR_CHECK from the same start, on the same data
    opt.learning_rate = LR_CHECK
    check = ns["build_step"](opt, model_fn)
    state = check["opt_init"](params0)
    for i in range(CHECK_EPOCHS):
        state = check["step"](i, state, train_data)
    loss_theirs = float(check["model_loss"](check["get_params"](state), *train_data))
    reset()
    fast = FusedGDEpoch(net, x, y, LR_CHECK)
    with num_threads(1):
        for _ in range(CHECK_EPOCHS):
            fast(slot)
        with torch.no_grad():
            loss_ours = float(half_mse(y, net(x)))
    unit = f"loss (1), {CHECK_EPOCHS} GD epochs, eta {LR_CHECK}, float32"
    ctx.add(f"loss_{name}_authors", loss_theirs, unit)
    ctx.add(f"loss_{name}_ours", loss_ours, unit + ", same start", f"loss_{name}_authors")
    ctx.add(f"loss_{name}_rel_diff", abs(loss_ours - loss_theirs) / abs(loss_theirs), "|ours - authors| / authors")

    # -- speed at LR_TIME, interleaved
    opt.learning_rate = LR_TIME
    timed = ns["build_step"](opt, model_fn)
    step, opt_init, opt_update = timed["step"], timed["opt_init"], timed["opt_update"]
    model_grad_loss, get_params = timed["model_grad_loss"], timed["get_params"]
    box: dict = {}

    def theirs() -> None:
        box["s"] = step(box["i"], box["s"], train_data)
        box["i"] += 1
        jax.block_until_ready(box["s"])

    @jax.jit
    def fori(opt_state, xs, ys):
        return jax.lax.fori_loop(0, FORI_EPOCHS, lambda i, s: opt_update(i, model_grad_loss(get_params(s), xs, ys), s),
                                 opt_state)

    def theirs_fori() -> None:
        box["f"] = fori(box["f"], *train_data)
        jax.block_until_ready(box["f"])

    fast = FusedGDEpoch(net, x, y, LR_TIME)
    impls = {"authors": theirs, "fori": theirs_fori, "ours": lambda: fast(slot)}
    times: dict[str, list[float]] = {k: [] for k in impls}
    with num_threads(1):
        for r in range(rounds):
            box.update(s=opt_init(params0), i=0, f=opt_init(params0))
            reset()
            for k in (list(impls) if r % 2 == 0 else list(impls)[::-1]):
                times[k].append(time_it(impls[k], CPU, ctx.seconds, warmup=3 if k == "fori" else 20))
    per_epoch = {k: statistics.median(v) / (FORI_EPOCHS if k == "fori" else 1) for k, v in times.items()}
    flops = step_flops([lay.weight.shape[1] for lay in layers] + [1], x.shape[0])

    def unit_of(k: str, what: str) -> str:
        return (f"epochs/s, {per_epoch[k] * 1e6:.0f} us/epoch, {flops / per_epoch[k] / 1e9:.1f} GFLOP/s, "
                f"N={x.shape[0]}, {what}")

    ctx.add(f"authors_{name}", 1 / per_epoch["authors"], unit_of("authors", "jax, their step"))
    ctx.add(f"authors_{name}_fori", 1 / per_epoch["fori"], unit_of("fori", "jax, fori_loop"), f"authors_{name}")
    ctx.add(f"ours_{name}_fused", 1 / per_epoch["ours"], unit_of("ours", "torch, fused"), f"authors_{name}")


if __name__ == "__main__":
    main()
