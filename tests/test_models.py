import numpy as np
import pytest
import torch

from mgdlcore.models import MLP, MultiGradeModel, build_grade, build_network, relu_right
from mgdlcore.structures import get_structure


def test_mlp_matches_hand_computation(generator):
    net = MLP((3, 5, 4, 2), generator=generator)
    x = torch.randn(7, 3, generator=generator)
    W = [layer.weight.detach().numpy().T for layer in (*net.hidden, net.out)]
    b = [layer.bias.detach().numpy() for layer in (*net.hidden, net.out)]
    h = x.numpy()
    for j in range(2):
        h = np.maximum(h @ W[j] + b[j], 0)
    expected = h @ W[2] + b[2]
    np.testing.assert_allclose(net(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.features(x).detach().numpy(), h, rtol=1e-5, atol=1e-6)


def test_same_seed_same_network_and_different_seed_differs():
    a = build_network(get_structure("26"), seed=3)
    b = build_network(get_structure("26"), seed=3)
    c = build_network(get_structure("26"), seed=4)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize("init, w_std, zero_bias", [("he_normal", (2 / 400) ** 0.5, True),
                                                     ("glorot_normal", (2 / 800) ** 0.5, False)])
def test_initialisation_statistics(init, w_std, zero_bias):
    net = MLP((400, 400, 1), generator=torch.Generator().manual_seed(0), init=init)
    w = net.hidden[0].weight.detach()
    assert abs(float(w.std()) - w_std) < 0.03 * w_std
    assert (float(net.hidden[0].bias.detach().abs().max()) == 0.0) == zero_bias


def test_relu_prime_at_zero():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad(relu_right(x).sum(), x)
    assert g.tolist() == [0.0, 1.0, 1.0]
    (g0,) = torch.autograd.grad(torch.relu(x).sum(), x)
    assert g0.tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="0 or 1"):
        MLP((1, 2, 1), relu_prime_at_zero=2)


def test_frozen_grade_gets_no_gradient(generator):
    s = get_structure("30")
    model = MultiGradeModel()
    model.add_grade(build_grade(s, 1))
    new = build_grade(s, 2)
    x = torch.rand(11, 1, generator=generator)
    _, feats = model.grade_outputs(x)
    loss = (model(x) + new(feats)).pow(2).sum()
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.grades[0].parameters())
    assert all(p.grad is not None for p in new.parameters())


def test_mgdl_prediction_is_sum_of_grades(generator):
    s = get_structure("31")
    model = MultiGradeModel()
    grades = [build_grade(s, g, seed=5) for g in (1, 2, 3)]
    for g, scale in zip(grades, (1.0, 0.5, 0.25)):
        model.add_grade(g, scale)
    x = torch.rand(13, 2, generator=generator)
    # by hand: grade l reads the last hidden layer of grade l-1
    h1 = grades[0].features(x)
    h2 = grades[1].features(h1)
    expected = grades[0](x) + 0.5 * grades[1](h1) + 0.25 * grades[2](h2)
    torch.testing.assert_close(model(x), expected)
