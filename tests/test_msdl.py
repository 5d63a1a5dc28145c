"""MSDL (Sec. 7, Appendix D): four subnetworks [1] -> [8] x 4 -> [1] on the inputs x, 2x, 4x, 8x, outputs summed."""

import numpy as np
import pytest
import torch

from mgdlcore.models import MultiScaleMLP, build_network
from mgdlcore.structures import MSDLStructure, get_structure


def _numpy_subnet(x: np.ndarray, layers) -> np.ndarray:
    h = x
    for w, b in layers[:-1]:
        h = np.maximum(h @ w.T + b, 0.0)
    w, b = layers[-1]
    return h @ w.T + b


def _layers(sub) -> list[tuple[np.ndarray, np.ndarray]]:
    mods = [*sub.hidden, sub.out]
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in mods]


def test_forward_by_hand_tiny():
    """Two scales (1, 3), one hidden layer of 2 units, weights set by hand; output computed on paper."""
    net = MultiScaleMLP(MSDLStructure("t", 1, (2,), (1.0, 3.0)))
    with torch.no_grad():
        a, b = net.subnets
        a.hidden[0].weight.copy_(torch.tensor([[1.0], [-2.0]]))
        a.hidden[0].bias.copy_(torch.tensor([0.0, 1.0]))
        a.out.weight.copy_(torch.tensor([[2.0, 1.0]]))
        a.out.bias.copy_(torch.tensor([0.5]))
        b.hidden[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        b.hidden[0].bias.copy_(torch.tensor([-1.0, 0.0]))
        b.out.weight.copy_(torch.tensor([[1.0, -1.0]]))
        b.out.bias.copy_(torch.tensor([-0.25]))
    x = torch.tensor([[0.0], [0.25], [1.0]])
    # subnet 1 on x:  2 relu(x) + relu(1 - 2x) + 0.5      -> 1.5, 1.5, 2.5
    # subnet 2 on 3x: relu(3x - 1) - relu(3x) - 0.25       -> -0.25, -1.0, -1.25
    expected = torch.tensor([[1.25], [0.5], [1.25]])
    torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-6)


def test_forward_matches_numpy_for_paper_structure():
    """The paper's MSDL: sum over s of N_s(a_s x) with a = (1, 2, 4, 8), against a float64 numpy evaluation."""
    structure = get_structure("msdl")
    net = build_network(structure, seed=7, init="he_normal", relu_prime_at_zero=1).double()
    x = np.linspace(-0.3, 1.3, 37)[:, None]
    expected = sum(_numpy_subnet(a * x, _layers(sub)) for a, sub in zip((1.0, 2.0, 4.0, 8.0), net.subnets))
    got = net(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # each subnetwork reads its own scale: silencing all but the scale-4 one leaves N_3(4x)
    with torch.no_grad():
        for i in (0, 1, 3):
            for p in net.subnets[i].parameters():
                p.zero_()
    np.testing.assert_allclose(net(torch.tensor(x)).detach().numpy(),
                               _numpy_subnet(4.0 * x, _layers(net.subnets[2])), rtol=1e-12, atol=1e-12)


def test_parameter_and_neuron_counts():
    """Per subnetwork (1*8+8) + 3*(8*8+8) + (8+1) = 241 parameters; 964 in all; 128 hidden neurons like MGDL (30)."""
    structure = get_structure("msdl")
    net = build_network(structure, init="he_normal")
    assert [sum(p.numel() for p in s.parameters()) for s in net.subnets] == [241] * 4
    assert sum(p.numel() for p in net.parameters()) == 964
    assert tuple(net.scales.tolist()) == (1.0, 2.0, 4.0, 8.0)
    mgdl = get_structure("30")
    assert len(structure.scales) * sum(structure.hidden) == sum(sum(g) for g in mgdl.grades) == 128


def test_he_init_zero_biases_and_independent_subnets():
    net = build_network(get_structure("msdl"), seed=0, init="he_normal", relu_prime_at_zero=1)
    for sub in net.subnets:
        for layer in (*sub.hidden, sub.out):
            assert torch.count_nonzero(layer.bias) == 0
    w = [s.hidden[1].weight for s in net.subnets]
    assert not torch.equal(w[0], w[1])                      # drawn in sequence, not copies
    # He normal: std sqrt(2 / fan_in) = 0.5 for the 8 -> 8 layers (loose check over 4 x 3 x 64 = 768 draws)
    allw = torch.cat([layer.weight.reshape(-1) for s in net.subnets for layer in list(s.hidden)[1:]])
    assert allw.std().item() == pytest.approx(0.5, rel=0.1)


def test_relu_prime_at_zero_reaches_every_subnet():
    """With zero biases, x = 0 puts every first-layer unit on the kink; ReLU'(0) = 1 lets the gradient through."""
    net = build_network(get_structure("msdl"), seed=1, init="he_normal", relu_prime_at_zero=1)
    x = torch.zeros(1, 1)
    net(x).sum().backward()
    for sub in net.subnets:
        assert sub.hidden[0].bias.grad.abs().sum() > 0
    net0 = build_network(get_structure("msdl"), seed=1, init="he_normal", relu_prime_at_zero=0)
    net0(x).sum().backward()
    for sub in net0.subnets:
        assert sub.hidden[0].bias.grad.abs().sum() == 0
