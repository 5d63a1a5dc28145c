"""Graphed blocks of GD epochs: the bookkeeping (warm-up, whole replays, eager remainder, losses, divergence)
gives the eager loop's run bit for bit. Emulated here (``MGDL_CUDA_GRAPHS=emulate``); on a GPU the capture
itself is compared with the eager loop by ``benchmarks/gpu_check.sh``."""

import pytest
import torch

from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.models import build_network
from mgdlcore.structures import get_structure
from mgdlcore.training import graphs
from mgdlcore.training.grades import loss_callback
from mgdlcore.training.loop import TrainConfig, half_mse, train


def run(lr, epochs, monkeypatch, mode, eval_every=100, optimizer="gd"):
    monkeypatch.setenv(graphs.ENV, mode)
    d = synthetic_data(1)
    net = build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1)
    cfg = TrainConfig(epochs=epochs, learning_rate=lr, optimizer=optimizer, eval_every=eval_every, loss_every=3,
                      progress=False)
    hist = train(lambda: half_mse(d.y_train, net(d.x_train)), list(net.parameters()), cfg,
                 callbacks=[loss_callback(net, {"val": (d.x_val, d.y_val)})])
    return hist, [p.detach().clone() for p in net.parameters()]


@pytest.fixture
def replays(monkeypatch):
    calls = []
    original = graphs.GraphedEpochs.run
    monkeypatch.setattr(graphs.GraphedEpochs, "run", lambda self, out: (calls.append(self.length), original(self, out)))
    return calls


@pytest.mark.parametrize("lr, epochs, eval_every", [(0.05, 737, 100), (0.3, 900, 40)])
def test_graphed_blocks_equal_eager_loop(lr, epochs, eval_every, monkeypatch, replays):
    eager, eager_params = run(lr, epochs, monkeypatch, "0", eval_every)
    assert not replays
    graphed, graphed_params = run(lr, epochs, monkeypatch, "emulate", eval_every)
    assert replays and set(replays) == {graphs.block_length(eval_every, epochs)}
    assert graphed.diverged == eager.diverged and graphed.diverged_epoch == eager.diverged_epoch
    assert graphed.epochs_run == eager.epochs_run and graphed.loss_epochs == eager.loss_epochs
    assert graphed.loss == eager.loss                     # bit for bit, NaN-free slots included
    assert graphed.eval_epochs == eager.eval_epochs and graphed.metrics == eager.metrics
    if not eager.diverged:
        for p, q in zip(graphed_params, eager_params):
            assert torch.equal(p, q)


def quadratic_run(monkeypatch, mode):
    """GD on 0.5 * 3 * w^2 at step 1 from w = 1e-30: |w| doubles each epoch, the loss overflows near epoch 150."""
    monkeypatch.setenv(graphs.ENV, mode)
    w = torch.nn.Parameter(torch.full((4,), 1e-30))
    cfg = TrainConfig(epochs=600, learning_rate=1.0, optimizer="gd", eval_every=20, progress=False)
    return train(lambda: 1.5 * (w**2).sum(), [w], cfg)


def test_divergence_is_caught_at_the_same_epoch(monkeypatch, replays):
    eager = quadratic_run(monkeypatch, "0")
    graphed = quadratic_run(monkeypatch, "emulate")
    assert eager.diverged and 100 < eager.diverged_epoch < 200
    assert len(replays) > 3                               # it diverged inside a graphed block, several blocks in
    assert (graphed.diverged_epoch, graphed.epochs_run) == (eager.diverged_epoch, eager.epochs_run)
    assert graphed.loss == eager.loss


def test_adam_and_short_runs_stay_eager(monkeypatch, replays):
    run(1e-3, 400, monkeypatch, "emulate", 100, optimizer="adam")
    run(0.05, 20, monkeypatch, "emulate", 10)             # shorter than warm-up and two graphs
    assert not replays


def test_block_length():
    assert graphs.block_length(1000, 10**6) == 250
    assert graphs.block_length(100, 10**4) == 100
    assert graphs.block_length(7, 10**4) == 0            # graphs of fewer than MIN_LENGTH epochs do not pay
    assert graphs.block_length(1000, 300) == 0            # too short a run to repay a capture


def test_graph_length_policy(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setenv(graphs.ENV, "1")
    assert graphs.graph_length(cpu, "gd", 1000, 10**6, stateful=False) == 0
    assert graphs.graph_length(cuda, "gd", 1000, 10**6, stateful=False) == 250
    assert graphs.graph_length(cuda, "adam", 1000, 10**6, stateful=False) == 0
    assert graphs.graph_length(cuda, "gd", 1000, 10**6, stateful=True) == 0
    monkeypatch.setenv(graphs.ENV, "0")
    assert graphs.graph_length(cuda, "gd", 1000, 10**6, stateful=False) == 0
    monkeypatch.setenv(graphs.ENV, "yes")
    with pytest.raises(ValueError, match="MGDL_CUDA_GRAPHS='yes'; accepted: 1, 0, emulate"):
        graphs.mode()
