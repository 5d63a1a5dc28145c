import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from mgdlcore.analysis.hessian import (
    OutputLoss,
    both_ends,
    eigen_callback,
    extreme_eigenvalues,
    flat_loss,
    flat_parameters,
    hvp_function,
    iteration_eigenvalues,
    lanczos_iteration_eigenvalues,
    loss_hessian,
    mlp_output_loss_hessian,
    n_trainable,
)
from mgdlcore.models import MLP
from mgdlcore.training.loop import TrainConfig, half_mse, train


def small_problem(relu_prime_at_zero=0, init="glorot_normal", x=None, widths=(2, 5, 7, 1), dtype=torch.float64):
    g = torch.Generator().manual_seed(7)
    net = MLP(widths, generator=g, init=init, relu_prime_at_zero=relu_prime_at_zero).to(dtype)
    if x is None:
        x = torch.rand(37, widths[0], generator=g, dtype=dtype)
    y = torch.sin(3 * x.sum(1, keepdim=True)) + 0.1
    return net, (lambda m: half_mse(y, m(x)))


def fd_hessian(net, loss, h, one_sided=False):
    """Finite differences of the autodiff gradient, column by column."""
    f = flat_loss(net, loss)
    theta = flat_parameters(net)
    grad = torch.func.grad(f)
    g0 = grad(theta)
    cols = []
    for j in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[j] = h
        cols.append((grad(theta + e) - g0) / h if one_sided else (grad(theta + e) - grad(theta - e)) / (2 * h))
    return torch.stack(cols, 1)


def test_dense_hessian_matches_finite_differences():
    net, loss = small_problem()
    H = loss_hessian(net, loss, chunk_size=17)
    assert H.shape == (n_trainable(net),) * 2 == (2 * 5 + 5 + 5 * 7 + 7 + 7 + 1,) * 2
    torch.testing.assert_close(H, H.T)
    Hfd = fd_hessian(net, loss, 1e-6)
    torch.testing.assert_close(H, 0.5 * (Hfd + Hfd.T), atol=1e-7, rtol=1e-6)


def test_relu_prime_at_zero_picks_the_one_sided_hessian_at_the_kink():
    """He init has zero biases, so at the input x = 0 of eq. (5) every unit sits on the kink. For one hidden
    layer (grade 1 of (30)) ReLU'(0) = 1 agrees with the forward difference (a bias step up switches its unit
    on), ReLU'(0) = 0 with the backward difference. (With two or more hidden layers the gradient jumps at such
    a point, and the autodiff Hessian there is a convention, not a limit of difference quotients.)"""
    x = torch.linspace(0, 1, 9, dtype=torch.float64)[:, None]
    for rp, sign in ((1, 1.0), (0, -1.0)):
        net, loss = small_problem(relu_prime_at_zero=rp, init="he_normal", x=x, widths=(1, 6, 1))
        H = loss_hessian(net, loss)
        Hfd = fd_hessian(net, loss, sign * 1e-7, one_sided=True)
        torch.testing.assert_close(H, 0.5 * (Hfd + Hfd.T), atol=2e-5, rtol=1e-4)
    h1 = loss_hessian(*small_problem(1, "he_normal", x, (1, 6, 1)))
    h0 = loss_hessian(*small_problem(0, "he_normal", x, (1, 6, 1)))
    assert (h1 - h0).abs().max() > 1e-3  # the choice matters at x = 0


def test_hvp_matches_dense_hessian():
    net, loss = small_problem()
    H = loss_hessian(net, loss).numpy()
    hvp = hvp_function(net, loss)
    v = np.random.default_rng(0).standard_normal((H.shape[0], 3))
    np.testing.assert_allclose(hvp(v[:, 0]), H @ v[:, 0], atol=1e-10)
    np.testing.assert_allclose(hvp(v), H @ v, atol=1e-10)


@pytest.mark.parametrize("which", ["LA", "SA"])
@pytest.mark.parametrize("rotated", [False, True])
def test_lanczos_extremes_match_dense_eigvalsh_on_diag_1_to_50(which, rotated):
    """diag(1..50), and the same spectrum in a random orthonormal basis: Lanczos's 5 extremes are eigvalsh's."""
    M = np.diag(np.arange(1.0, 51.0))
    if rotated:
        Q = np.linalg.qr(np.random.default_rng(3).standard_normal((50, 50)))[0]
        M = Q @ M @ Q.T
    lam = scipy.linalg.eigvalsh(M)
    vals = extreme_eigenvalues(lambda v: M @ v, 50, 5, which, tol=1e-12)
    np.testing.assert_allclose(vals, lam[-5:] if which == "LA" else lam[:5], rtol=1e-9)


def test_both_ends_from_one_lanczos_run_match_eigvalsh():
    """A rotated spectrum with both signs: both_ends gives eigvalsh's 4 smallest and 4 largest; where ARPACK stops
    early (maxiter=1) it falls back to two runs and keeps the shapes (NaN where not converged)."""
    lam = np.concatenate([np.linspace(-7.0, -0.5, 20), np.linspace(0.1, 30.0, 40)])
    Q = np.linalg.qr(np.random.default_rng(5).standard_normal((60, 60)))[0]
    M = Q @ np.diag(lam) @ Q.T
    small, large = both_ends(lambda v: M @ v, 60, 4, tol=1e-12)
    np.testing.assert_allclose(small, np.sort(lam)[:4], rtol=1e-9)
    np.testing.assert_allclose(large, np.sort(lam)[-4:], rtol=1e-9)
    small, large = both_ends(lambda v: M @ v, 60, 4, tol=1e-14, maxiter=1, ncv=9)
    assert small.shape == large.shape == (4,)
    with pytest.raises(ValueError, match="need 0 < 2k < n"):
        both_ends(lambda v: M @ v, 60, 30)


def test_lanczos_agrees_with_dense_on_a_network():
    net, loss = small_problem(widths=(3, 11, 9, 1))
    H = loss_hessian(net, loss)
    lam = scipy.linalg.eigvalsh(H.numpy())
    hvp = hvp_function(net, loss)
    n = H.shape[0]
    np.testing.assert_allclose(extreme_eigenvalues(hvp, n, 4, "LA", tol=1e-10), lam[-4:], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(extreme_eigenvalues(hvp, n, 4, "SA", tol=1e-10), lam[:4], rtol=1e-6, atol=1e-9)
    lr = 1.9 / lam[-1]
    dense = iteration_eigenvalues(H, lr, k=4)
    lanc = lanczos_iteration_eigenvalues(hvp, n, lr, k=4, tol=1e-10)
    np.testing.assert_allclose(lanc.smallest, dense.smallest, atol=1e-8)
    np.testing.assert_allclose(lanc.largest, dense.largest, atol=1e-8)


def test_iteration_eigenvalues_counts_repeated_eigenvalues():
    lam = np.array([-1.0, 0.0, 0.0, 3.0, 5.01, 5.01, 5.01, 10.0])
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))[0]
    res = iteration_eigenvalues(Q @ np.diag(lam) @ Q.T, lr=0.4, k=3)
    # I - 0.4 H has eigenvalues 1.4, 1, 1, -0.2, -1.004 (three times), -3
    np.testing.assert_allclose(res.smallest, [-3, -1.004, -1.004], atol=1e-12)
    np.testing.assert_allclose(res.largest, [1.4, 1, 1], atol=1e-12)
    assert res.n_le_minus1 == 4 and res.n_near_minus1 == 4 and res.n == 8
    m = res.to_metrics()
    assert m["eig_min_0"] == pytest.approx(-3) and m["eig_max_0"] == pytest.approx(1.4) and m["n_le_minus1"] == 4


class Quadratic(nn.Module):
    def __init__(self, w0):
        super().__init__()
        self.w = nn.Parameter(w0.clone())

    def forward(self, x):
        return self.w


@pytest.mark.parametrize("factor, diverges", [(0.98, False), (1.02, True)])
def test_gd_on_quadratic_diverges_exactly_above_2_over_lambda_max(factor, diverges):
    """Theorem 1: GD on F(w) = w^T A w / 2 converges iff eta < 2 / lambda_max(A)."""
    lam = np.array([0.3, 1.0, 2.5, 4.0, 7.0])
    Q = np.linalg.qr(np.random.default_rng(2).standard_normal((5, 5)))[0]
    A = torch.tensor(Q @ np.diag(lam) @ Q.T)
    model = Quadratic(torch.ones(5, dtype=torch.float64))

    def loss(m):
        w = m(None)
        return 0.5 * w @ A @ w

    H = loss_hessian(model, loss)
    torch.testing.assert_close(H, A)
    lr = factor * 2 / lam.max()
    assert iteration_eigenvalues(H, lr).n_le_minus1 == int(diverges)
    cfg = TrainConfig(epochs=3000, learning_rate=lr, optimizer="gd", eval_every=1000, progress=False)
    hist = train(lambda: loss(model), list(model.parameters()), cfg)
    final = hist.loss[-1] if hist.loss[-1] is not None else float("inf")
    if diverges:
        assert final > 1e10 or hist.diverged
    else:
        assert final < 1e-12 and not hist.diverged


@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_eigen_callback_reports_pre_update_eigenvalues(method):
    net, loss = small_problem(dtype=torch.float64)
    lr = 0.5
    before = iteration_eigenvalues(loss_hessian(net, loss), lr, k=3)
    cfg = TrainConfig(epochs=4, learning_rate=lr, optimizer="gd", eval_every=2, progress=False)
    kw = {"tol": 1e-10} if method == "lanczos" else {}
    hist = train(lambda: loss(net), list(net.parameters()), cfg,
                 callbacks=[eigen_callback(net, loss, lr, k=3, method=method, **kw)])
    assert hist.eval_epochs == [0, 2, 4]
    assert set(hist.metrics) == {"eig_min_0", "eig_min_1", "eig_min_2", "eig_max_0", "eig_max_1", "eig_max_2",
                                 "n_le_minus1", "n_near_minus1"}
    assert hist.metrics["eig_min_0"][0] == pytest.approx(before.smallest[0], abs=1e-8)
    assert hist.metrics["eig_max_2"][0] == pytest.approx(before.largest[2], abs=1e-8)
    assert hist.metrics["eig_min_0"][2] != pytest.approx(before.smallest[0], abs=1e-8)


def test_frozen_parameters_are_excluded():
    net, loss = small_problem()
    net.hidden[0].requires_grad_(False)
    assert n_trainable(net) == 5 * 7 + 7 + 7 + 1
    assert loss_hessian(net, loss).shape == (50, 50)


@pytest.mark.parametrize("widths, rp", [((2, 9, 3, 8, 4, 1), 0), ((2, 9, 3, 8, 4, 1), 1), ((3, 1, 1), 1)])
def test_closed_form_hessian_matches_autograd_and_finite_differences(widths, rp):
    """Both sample-sum orders of the cross-layer term (wide vs narrow layers), non-adjacent layers, a 1-unit
    hidden layer; half-MSE (diagonal output Hessian) and a coupled quadratic-plus-cubic loss of the outputs."""
    g = torch.Generator().manual_seed(11)
    net = MLP(widths, generator=g, init="glorot_normal", relu_prime_at_zero=rp).double()
    x = torch.rand(29, widths[0], generator=g, dtype=torch.float64) - 0.3
    y = torch.cos(2 * x.sum(1, keepdim=True))
    C = torch.randn(29, 29, generator=g, dtype=torch.float64)  # noqa: N806
    for phi in (lambda o: half_mse(y, o), lambda o: 0.5 * torch.sum((C @ o - y) ** 2) + torch.sum(o**3) / 3):
        loss = OutputLoss(x, phi)
        H = loss_hessian(net, loss)                                  # closed form
        ref = loss_hessian(net, loss, closed_form=False)             # autograd
        torch.testing.assert_close(H, ref, atol=1e-12, rtol=1e-10)
        assert torch.equal(H, H.T)
        Hfd = fd_hessian(net, loss, 1e-6)
        torch.testing.assert_close(H, 0.5 * (Hfd + Hfd.T), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("rp", [0, 1])
def test_closed_form_follows_relu_prime_at_zero_on_the_kink(rp):
    """Zero biases and x = 0 put every unit of the first layer on the kink (eq. (5) at initialisation)."""
    g = torch.Generator().manual_seed(5)
    net = MLP((1, 6, 4, 1), generator=g, init="he_normal", relu_prime_at_zero=rp).double()
    x = torch.linspace(0, 1, 9, dtype=torch.float64)[:, None]
    loss = OutputLoss(x, lambda o: half_mse(torch.sin(3 * x), o))
    torch.testing.assert_close(mlp_output_loss_hessian(net, x, loss.phi), loss_hessian(net, loss, closed_form=False),
                               atol=1e-12, rtol=1e-10)


def test_closed_form_float32_and_fallbacks():
    net, _ = small_problem(dtype=torch.float32, widths=(2, 5, 7, 1))
    x = torch.rand(37, 2, generator=torch.Generator().manual_seed(3))
    loss = OutputLoss(x, lambda o: half_mse(torch.sin(x[:, :1]), o))
    H32 = loss_hessian(net, loss)
    assert H32.dtype == torch.float32
    torch.testing.assert_close(H32, loss_hessian(net, loss, closed_form=False), atol=1e-5, rtol=1e-4)
    H64 = loss_hessian(net, loss, dtype=torch.float64)
    assert H64.dtype == torch.float64
    torch.testing.assert_close(H64.float(), H32, atol=1e-5, rtol=1e-4)
    net.hidden[0].requires_grad_(False)             # frozen layer: the autograd path, trainable part only
    assert loss_hessian(net, loss).shape == (50, 50)


def test_iteration_eigenvalues_float32_agrees_with_float64():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((41, 41)))
    lam = np.concatenate([np.linspace(0.1, 20, 38), [24.9, 25.3, 30.0]])  # lr = 0.08: 2/lr = 25
    h = (q * lam) @ q.T
    e64 = iteration_eigenvalues(h, 0.08, k=5)
    e32 = iteration_eigenvalues(h, 0.08, k=5, dtype=torch.float32)
    assert e64.n_le_minus1 == e32.n_le_minus1 == 2
    np.testing.assert_allclose(e32.smallest, e64.smallest, atol=1e-5)
    np.testing.assert_allclose(e64.smallest[:3], np.sort(1 - 0.08 * lam)[:3], atol=1e-10)


def test_closed_form_hessian_of_a_one_unit_network_by_hand():
    """o = w2 relu(w1 x + b1) + b2 with the unit active on every sample, loss (1): H = mean(J J^T + r M) with
    J = (w2 x, w2, a, 1) and the only second derivatives d2o/dw1 dw2 = x, d2o/db1 dw2 = 1 (order w1, b1, w2, b2)."""
    net = MLP((1, 1, 1), generator=torch.Generator().manual_seed(0), relu_prime_at_zero=0).to(torch.float64)
    w1, b1, w2, b2 = 0.7, 0.2, -1.3, 0.05
    with torch.no_grad():
        net.hidden[0].weight.fill_(w1), net.hidden[0].bias.fill_(b1), net.out.weight.fill_(w2), net.out.bias.fill_(b2)
    x = np.linspace(0.1, 1.0, 9)
    y = np.sin(3 * x)
    a = w1 * x + b1
    r = w2 * a + b2 - y
    J = np.stack([w2 * x, np.full_like(x, w2), a, np.ones_like(x)])
    H = J @ J.T / x.size
    H[0, 2] = H[2, 0] = H[0, 2] + np.mean(r * x)
    H[1, 2] = H[2, 1] = H[1, 2] + np.mean(r)
    xt, yt = torch.tensor(x[:, None]), torch.tensor(y[:, None])
    loss = OutputLoss(xt, lambda o: half_mse(yt, o))
    np.testing.assert_allclose(loss_hessian(net, loss).numpy(), H, atol=1e-12)                    # closed form
    np.testing.assert_allclose(loss_hessian(net, loss, closed_form=False).numpy(), H, atol=1e-12)  # autodiff


def test_closed_form_with_a_non_diagonal_output_hessian():
    """phi with a coupling between outputs (a difference penalty, as the ROF objective): Q J by Hessian-vector
    products of phi equals autodiff of the whole loss."""
    net, _ = small_problem(widths=(2, 6, 5, 1))
    x = torch.rand(12, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.cos(4 * x[:, :1])

    def phi(o):
        return 0.5 * torch.sum((o - y) ** 2) + 0.7 * torch.sum(torch.diff(o, dim=0) ** 2) + 0.1 * torch.sum(o ** 3)

    loss = OutputLoss(x, phi)
    torch.testing.assert_close(loss_hessian(net, loss), loss_hessian(net, loss, closed_form=False),
                               atol=1e-10, rtol=1e-9)


def test_hessians_in_threads_at_once():
    """Runs in threads of one campaign worker take Hessian-vector products at once (forward AD is process-wide)."""
    from concurrent.futures import ThreadPoolExecutor

    from mgdlcore.analysis.hessian import OutputLoss, loss_hessian
    from mgdlcore.models import MLP
    from mgdlcore.training.loop import half_mse

    x = torch.linspace(0, 1, 64, dtype=torch.float64)[:, None]
    nets = [MLP((1, 12, 12, 1), generator=torch.Generator().manual_seed(s), activation="tanh").double() for s in range(4)]

    def hessian(net):
        return [loss_hessian(net, OutputLoss(x, lambda out: half_mse(x, out)), chunk_size=8) for _ in range(6)]

    alone = [hessian(net)[0] for net in nets]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(hessian, nets))
    for a, hs in zip(alone, together):
        for h in hs:
            torch.testing.assert_close(h, a)
