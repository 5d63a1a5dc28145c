"""Adam's iteration matrix I - eta P H and mini-batch SGD (task "optimizer", beyond the paper)."""

import numpy as np
import pytest
import torch

from mgdlcore.analysis.hessian import OutputLoss, loss_hessian
from mgdlcore.analysis.preconditioned import adam_preconditioner, momentum_stability_bound
from mgdlcore.analysis.spectra import spectrum
from mgdlcore.experiments.gd_dynamics import configs, make_config
from mgdlcore.experiments.runner import run
from mgdlcore.models import MLP, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.grades import fit_network
from mgdlcore.training.loop import TrainConfig, half_mse
from mgdlcore.training.minibatch import MiniBatches


def _problem(dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    net = MLP((1, 6, 6, 1), generator=g, init="he_normal").to(dtype)
    x = torch.rand(40, 1, generator=g, dtype=dtype)
    y = torch.sin(6 * x)
    return net, x, y


def _adam_steps(net, x, y, steps=5, lr=0.01):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        half_mse(y, net(x)).backward()
        opt.step()
    return opt


# ------------------------------------------------------------------------------------------------ preconditioner
def test_adam_preconditioner_is_the_step_adam_takes():
    """theta_after - theta_before = -lr * m_hat * P for the step just taken (P from the state after it)."""
    net, x, y = _problem()
    lr = 0.01
    opt = _adam_steps(net, x, y, steps=4, lr=lr)
    before = torch.cat([p.detach().reshape(-1).clone() for p in net.parameters()])
    opt.zero_grad()
    half_mse(y, net(x)).backward()
    opt.step()
    after = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    p_diag = adam_preconditioner(opt, net)
    beta1 = opt.param_groups[0]["betas"][0]
    m_hat = torch.cat([opt.state[p]["exp_avg"].reshape(-1) for p in net.parameters()]) / (1 - beta1 ** 5)
    torch.testing.assert_close(after - before, -lr * m_hat * p_diag, rtol=1e-9, atol=1e-12)


def test_adam_preconditioner_before_the_first_step_and_for_other_optimisers():
    net, x, y = _problem()
    assert adam_preconditioner(torch.optim.Adam(net.parameters()), net) is None
    with pytest.raises(TypeError, match="needs a torch.optim.Adam"):
        adam_preconditioner(torch.optim.SGD(net.parameters(), lr=0.1), net)


@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_preconditioned_spectrum_is_that_of_the_nonsymmetric_matrix(method):
    """Eigenvalues of I - lr P H by numpy's general (non-symmetric) eig, against the D H D paths."""
    net, x, y = _problem()
    opt = _adam_steps(net, x, y)
    p_diag = adam_preconditioner(opt, net)
    loss = OutputLoss(x, lambda o: half_mse(y, o))
    h = loss_hessian(net, loss).numpy()
    lr = 0.01
    ev = np.linalg.eigvals(np.eye(len(h)) - lr * p_diag.numpy()[:, None] * h)
    assert np.abs(ev.imag).max() < 1e-8 * np.abs(ev).max()
    ev = np.sort(ev.real)
    res = spectrum(net, loss, lr, 3, method, preconditioner=p_diag)
    np.testing.assert_allclose(res.smallest, ev[:3], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.largest, ev[::-1][:3], rtol=1e-6, atol=1e-8)
    plain = spectrum(net, loss, lr, 3, method)          # the preconditioner changes the answer
    assert abs(plain.smallest[0] - res.smallest[0]) > 1e-3


def test_preconditioner_must_fit_the_network():
    net, x, y = _problem()
    loss = OutputLoss(x, lambda o: half_mse(y, o))
    with pytest.raises(ValueError, match="positive vector of length"):
        spectrum(net, loss, 0.1, 2, preconditioner=torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("beta1", [0.0, 0.5, 0.9])
def test_momentum_stability_bound_by_iterating_a_quadratic(beta1):
    """Heavy ball in Adam's form (m <- b m + (1 - b) g, x <- x - m) on f = a x^2 / 2: bounded just above the bound,
    growing just below (1 - a is the eigenvalue of the iteration matrix)."""
    def final(a):
        x, m = 1.0, 0.0
        for _ in range(4000):
            m = beta1 * m + (1 - beta1) * a * x
            x = x - m
        return abs(x)

    edge = 1.0 - momentum_stability_bound(beta1)       # the largest stable eta * mu
    assert final(edge * 0.99) < 1.0 and final(edge * 1.01) > 1e3
    assert momentum_stability_bound(0.9) == pytest.approx(-37.0)


# ------------------------------------------------------------------------------------------------ mini-batches
def test_minibatches_cover_each_pass_once_and_depend_on_the_step_only():
    b = MiniBatches(103, 10, seed=4)
    steps = [b.next() for _ in range(30)]               # three passes of 10 steps
    for p in range(3):
        seen = torch.cat(steps[10 * p:10 * p + 10])
        assert len(set(seen.tolist())) == 100 and all(len(s) == 10 for s in steps[10 * p:10 * p + 10])
    assert not torch.equal(torch.cat(steps[:10]), torch.cat(steps[10:20]))
    fresh = MiniBatches(103, 10, seed=4)
    assert torch.equal(fresh.indices(27), steps[27]) and torch.equal(fresh.indices(3), steps[3])
    assert not torch.equal(MiniBatches(103, 10, seed=5).indices(3), steps[3])
    with pytest.raises(ValueError, match="batch_size must be between 1 and"):
        MiniBatches(10, 11)


def test_sgd_steps_on_the_batches_it_says():
    """fit_network with batch_size: step k's recorded loss is the loss (1) on batch k of MiniBatches (seeded by the
    run's seed) at the parameters before the step; the same steps done by hand give the same losses."""
    structure = get_structure("26")
    x = torch.linspace(0, 1, 40)[:, None]
    y = torch.sin(6 * x)
    cfg = TrainConfig(epochs=7, learning_rate=0.05, optimizer="gd", progress=False)
    _, hist = fit_network(structure, x, y, cfg, seed=2, init="he_normal", batch_size=8)
    net = build_network(structure, seed=2, init="he_normal")
    ref, opt, losses = MiniBatches(40, 8, seed=2), torch.optim.SGD(net.parameters(), lr=0.05), []
    for k in range(7):
        idx = ref.indices(k)
        opt.zero_grad()
        loss = half_mse(y[idx], net(x[idx]))
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-6)
    _, full = fit_network(structure, x, y, cfg, seed=2, init="he_normal")
    assert abs(full.loss[1] - hist.loss[1]) > 1e-6


# ------------------------------------------------------------------------------------------------ experiment task
def _opt_cfg(**kw):
    base = dict(epochs=20, eval_every=10, track_every=10, n_eigen=3, device="cpu")
    base.update(kw)
    return make_config("optimizer", 1, base.pop("method", "MGDL"), base.pop("lr", 0.01), "smoke", tracked=True,
                       **base)


def test_adam_run_tracks_the_preconditioned_matrix_from_its_first_step(tmp_path):
    rec = run(_opt_cfg(optimizer="adam"), results_dir=tmp_path, profile="smoke", progress=False)
    grades = rec.series["grades"]
    assert len(grades) == 4 and all(g["eig_epochs"] == [10, 20] for g in grades)
    gd = run(_opt_cfg(optimizer="gd"), results_dir=tmp_path, profile="smoke", progress=False)
    assert gd.series["grades"][0]["eig_epochs"] == [0, 10, 20]
    assert rec.key != gd.key and rec.config["optimizer"] == "adam" and "optimizer" not in gd.config
    assert rec.metrics["final_train_loss"] != gd.metrics["final_train_loss"]


def test_sgd_run_and_its_key(tmp_path):
    a = _opt_cfg(optimizer="sgd", batch_size=64, lr=0.1, method="SGDL")
    assert a.subject() == "setting1-sgd64" and _opt_cfg(optimizer="sgd", batch_size=32, lr=0.1, method="SGDL").key != a.key
    rec = run(a, results_dir=tmp_path, profile="smoke", progress=False)
    assert rec.metrics["n_checks"] == 3 and not rec.metrics["diverged"]


@pytest.mark.parametrize("kw, match", [
    ({"optimizer": "sgd"}, "batch_size is needed for optimizer 'sgd'"),
    ({"optimizer": "adam", "batch_size": 8}, "batch_size is needed for optimizer 'sgd'"),
    ({"optimizer": "sgd", "batch_size": 2000}, "batch_size 2000 exceeds the 1024 training points"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
])
def test_bad_optimizer_settings_are_one_line_errors(kw, match):
    with pytest.raises(ValueError, match=match) as err:
        _opt_cfg(**kw)
    assert "\n" not in str(err.value)


def test_other_tasks_run_full_batch_gd_only():
    with pytest.raises(ValueError, match="optimizer 'adam' belongs to task 'optimizer'"):
        make_config("learning_rate", 1, "SGDL", 0.01, "smoke", device="cpu", optimizer="adam")


def test_profile_runs_of_the_task():
    cpu = configs("cpu", ("optimizer",), device="cpu")
    syn = [c for c in cpu if c.image is None]
    assert len(syn) == 2 * 2 * 4 and {c.optimizer for c in syn} == {"gd", "adam", "sgd"}
    assert all(c.track_every and c.epochs == 3000 for c in syn)
    img = [c for c in cpu if c.image]
    assert {(c.image, c.method, c.optimizer, c.eigen_method, c.size) for c in img} == {
        ("cameraman", "SGDL", "adam", "lanczos", 128), ("cameraman", "MGDL", "adam", "lanczos", 128)}
    assert len({c.key for c in cpu}) == len(cpu)
