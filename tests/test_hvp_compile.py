"""When Hessian-vector products go through ``torch.compile`` (analysis.hessian.HvpCompiler), and that they stay right.

One test compiles for real (a few seconds on the CPU); the others replace ``torch.compile`` to reach the fallbacks.
"""

import numpy as np
import pytest
import torch

from mgdlcore.analysis import hessian
from mgdlcore.analysis.hessian import (
    HvpCompiler,
    OutputLoss,
    compile_mode,
    hvp_function,
    lanczos_iteration_eigenvalues,
    loss_hessian,
)
from mgdlcore.models import MLP
from mgdlcore.training.loop import half_mse


def problem(dtype=torch.float64, widths=(2, 6, 5, 1)):
    g = torch.Generator().manual_seed(3)
    net = MLP(widths, generator=g, init="he_normal", relu_prime_at_zero=1).to(dtype)
    x = torch.rand(29, widths[0], generator=g, dtype=dtype)
    y = torch.cos(2 * x.sum(1, keepdim=True))
    return net, OutputLoss(x, lambda o: half_mse(y, o))


@pytest.fixture
def compiler(monkeypatch):
    """A fresh compiler for the test (what it learns does not leak into other tests)."""
    fresh = HvpCompiler()
    monkeypatch.setattr(hessian, "HVP_COMPILER", fresh)
    return fresh


def test_compiled_products_match_the_dense_hessian_and_lanczos_agrees(monkeypatch, compiler):
    monkeypatch.setenv("MGDL_COMPILE_HVP", "always")
    net, loss = problem()
    H = loss_hessian(net, loss, closed_form=False).numpy()
    hvp = hvp_function(net, loss)
    v = np.random.default_rng(0).standard_normal(H.shape[0])
    np.testing.assert_allclose(hvp(v), H @ v, rtol=1e-10, atol=1e-12)
    assert len(compiler.compiled) == 1 and not compiler.refused
    lr = 1.5 / np.linalg.eigvalsh(H)[-1]
    got = lanczos_iteration_eigenvalues(hvp_function(net, loss), H.shape[0], lr, k=3, tol=1e-12)
    a = np.sort(1 - lr * np.linalg.eigvalsh(H))
    np.testing.assert_allclose(got.smallest, a[:3], atol=1e-9)
    np.testing.assert_allclose(got.largest, a[::-1][:3], atol=1e-9)


class CountingCompile:
    """Stands in for ``torch.compile``: returns the eager function times ``factor`` and counts the calls."""

    def __init__(self, factor=1.0):
        self.calls, self.factor = 0, factor

    def __call__(self, fn, **kwargs):
        self.calls += 1
        return lambda th, v: self.factor * fn(th, v)


def test_auto_compiles_a_structure_once_its_eager_products_took_about_a_compile(monkeypatch, compiler):
    fake = CountingCompile()
    monkeypatch.setattr(torch, "compile", fake)
    monkeypatch.setenv("MGDL_COMPILE_HVP", "auto")
    monkeypatch.setattr(hessian, "COMPILE_AFTER_SECONDS", 1e9)
    net, loss = problem()
    v = np.ones(sum(p.numel() for p in net.parameters()))
    for _ in range(3):
        hvp_function(net, loss)(v)
    assert fake.calls == 0 and not compiler.compiled
    assert sum(compiler.spent.values()) > 0
    monkeypatch.setattr(hessian, "COMPILE_AFTER_SECONDS", 0.0)
    hvp = hvp_function(net, loss)
    hvp(v)
    hvp(v)
    assert fake.calls == 1 and len(compiler.compiled) == 1   # once per hvp_function, not per product
    monkeypatch.setenv("MGDL_COMPILE_HVP", "never")
    hvp_function(net, loss)(v)
    assert fake.calls == 1


def test_a_compiled_product_that_differs_stays_eager_with_a_warning(monkeypatch, compiler):
    monkeypatch.setattr(torch, "compile", CountingCompile(factor=1.001))
    monkeypatch.setenv("MGDL_COMPILE_HVP", "always")
    net, loss = problem()
    H = loss_hessian(net, loss).numpy()
    v = np.random.default_rng(1).standard_normal(H.shape[0])
    with pytest.warns(RuntimeWarning, match="differs from the eager one by 1.0e-03"):
        out = hvp_function(net, loss)(v)
    np.testing.assert_allclose(out, H @ v, rtol=1e-10, atol=1e-12)
    assert compiler.refused and not compiler.compiled and compiler.unavailable is None


def test_a_failed_compile_leaves_every_product_eager(monkeypatch, compiler):
    def broken(fn, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setenv("MGDL_COMPILE_HVP", "always")
    net, loss = problem()
    H = loss_hessian(net, loss).numpy()
    v = np.random.default_rng(2).standard_normal(H.shape[0])
    with pytest.warns(RuntimeWarning, match="torch.compile failed .RuntimeError: InvalidCxxCompiler"):
        np.testing.assert_allclose(hvp_function(net, loss)(v), H @ v, rtol=1e-10, atol=1e-12)
    assert compiler.unavailable is not None
    other, loss2 = problem(widths=(2, 4, 1))
    assert not compiler.due(hessian._structure(other, loss2, hessian.flat_parameters(other)), "always")


def test_the_structure_tells_activations_and_shapes_apart():
    a, loss = problem()
    b, _ = problem(widths=(2, 6, 4, 1))
    key = lambda n: hessian._structure(n, loss, hessian.flat_parameters(n))  # noqa: E731
    assert key(a) == key(problem()[0]) and key(a) != key(b)
    smooth = MLP((2, 6, 5, 1), generator=torch.Generator().manual_seed(3), activation="srelu").double()
    assert key(smooth) != key(a)


def test_a_bad_compile_mode_is_one_line_naming_the_accepted_ones(monkeypatch):
    monkeypatch.setenv("MGDL_COMPILE_HVP", "sometimes")
    with pytest.raises(ValueError, match=r"^MGDL_COMPILE_HVP='sometimes' is not a compile mode; accepted: auto, "
                                         r"always, never$"):
        compile_mode()
    net, loss = problem()
    with pytest.raises(ValueError, match="not a compile mode"):
        hvp_function(net, loss)
    monkeypatch.setenv("MGDL_COMPILE_HVP", "")
    assert compile_mode() == "auto"


def test_a_record_says_how_many_of_its_products_were_compiled(tmp_path, monkeypatch, compiler):
    """``provenance.hvp_products``: this run's products, compiled and eager (not other threads', not earlier runs')."""
    import threading
    from dataclasses import dataclass

    from mgdlcore.experiments import runner
    from mgdlcore.experiments.config import ExperimentConfig

    @dataclass(frozen=True, kw_only=True)
    class ProductsConfig(ExperimentConfig):
        KIND = "hvp_toy"
        TASKS = ("hvp_toy",)
        task: str = "hvp_toy"
        method: str = "products"
        n: int = 3

    def compute(config, ctx):
        net, loss = problem()
        hvp = hvp_function(net, loss)
        v = np.ones(sum(p.numel() for p in net.parameters()))
        for _ in range(config.n):
            hvp(v)
        beside = threading.Thread(target=lambda: [hvp_function(*problem())(v) for _ in range(2)])   # another run's
        beside.start()
        beside.join()
        return runner.Outcome(metrics={"n": float(config.n)}, series={}, arrays={})

    runner.register(ProductsConfig, compute)
    monkeypatch.setattr(torch, "compile", CountingCompile())
    monkeypatch.setenv("MGDL_COMPILE_HVP", "never")
    rec = runner.run(ProductsConfig(n=3), results_dir=tmp_path)
    assert rec.provenance["hvp_products"] == {"compiled": 0, "eager": 3}
    monkeypatch.setenv("MGDL_COMPILE_HVP", "always")
    rec = runner.run(ProductsConfig(n=4), results_dir=tmp_path)
    assert rec.provenance["hvp_products"] == {"compiled": 4, "eager": 0}
