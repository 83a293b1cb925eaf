# Integration tests for modules 04-06 together: gradients flow from every loss through layers
# (Linear, Dropout, Flatten, activations, Sequential/MLP) into every parameter, match finite
# differences end to end, accumulate and reset correctly, handle (B, T, C) sequence outputs, and are
# good enough to fit small problems with plain gradient descent; a full MLP + cross-entropy step
# matches PyTorch when it is installed.
import numpy as np
import pytest

from tinytorch import Tensor, gradcheck, no_grad
from tinytorch.core.activations import ReLU, Tanh, Sigmoid
from tinytorch.core.layers import Module, Linear, Dropout, Flatten
from tinytorch.core.dense import Sequential, MLP, create_mlp
from tinytorch.core.losses import (MSELoss, CrossEntropyLoss, BCEWithLogitsLoss, BinaryCrossEntropyLoss,
                                   cross_entropy)

RNG = np.random.default_rng(4606)


def sgd(model, lr):
    for p in model.parameters():
        p.data -= lr * p.grad.data


def three_blobs(n_per_class=60):
    centers = np.array([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
    x = np.concatenate([c + RNG.standard_normal((n_per_class, 2)) for c in centers]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per_class)
    return x, y


@pytest.mark.parametrize("loss_name", ["mse", "cross_entropy", "bce_logits", "bce"])
def test_every_loss_sends_gradients_to_every_parameter(loss_name):
    model = Sequential(Flatten(), Linear(6, 8), ReLU(), Dropout(0.2), Linear(8, 3))
    x = Tensor(RNG.standard_normal((5, 2, 3)).astype(np.float32))
    out = model(x)
    if loss_name == "mse":
        loss = MSELoss()(out, RNG.standard_normal((5, 3)))
    elif loss_name == "cross_entropy":
        loss = CrossEntropyLoss()(out, RNG.integers(0, 3, 5))
    elif loss_name == "bce_logits":
        loss = BCEWithLogitsLoss()(out, RNG.random((5, 3)))
    else:
        loss = BinaryCrossEntropyLoss()(Sigmoid()(out), RNG.random((5, 3)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape and p.grad.dtype == np.float32, name
        assert np.all(np.isfinite(p.grad.data)) and np.abs(p.grad.data).sum() > 0, name


def test_end_to_end_gradients_match_finite_differences():
    model = MLP([4, 6, 5, 3], activation=Tanh)
    x = Tensor(RNG.standard_normal((7, 4)))
    y = RNG.integers(0, 3, 7)
    slots = [(layer, attr) for layer in model if isinstance(layer, Linear) for attr in ("weight", "bias")]

    def loss_of(*params):                                   # the loss as a function of all weights
        for (layer, attr), p in zip(slots, params):
            setattr(layer, attr, p)
        return cross_entropy(model(x), y)

    assert gradcheck(loss_of, model.parameters())


def test_gradients_through_linear_on_sequences_with_cross_entropy():
    """A language-model head: (B, T, D) -> Linear -> (B, T, V) logits, targets (B, T)."""
    head = Linear(8, 11)
    h = Tensor(RNG.standard_normal((2, 5, 8)).astype(np.float32), requires_grad=True)
    y = RNG.integers(0, 11, (2, 5))
    cross_entropy(head(h), y).backward()
    grads_3d = [h.grad.data.copy(), head.weight.grad.data.copy(), head.bias.grad.data.copy()]

    head.zero_grad()
    h2 = Tensor(h.data.reshape(10, 8).copy(), requires_grad=True)
    cross_entropy(head(h2), y.reshape(10)).backward()
    assert np.allclose(grads_3d[0].reshape(10, 8), h2.grad.data, atol=1e-6)
    assert np.allclose(grads_3d[1], head.weight.grad.data, atol=1e-6)
    assert np.allclose(grads_3d[2], head.bias.grad.data, atol=1e-6)


def test_gradients_accumulate_until_zero_grad():
    model = create_mlp(3, [4], 2)
    x, y = Tensor(RNG.standard_normal((6, 3))), RNG.integers(0, 2, 6)
    cross_entropy(model(x), y).backward()
    first = [p.grad.data.copy() for p in model.parameters()]
    cross_entropy(model(x), y).backward()
    assert all(np.allclose(p.grad.data, 2 * g) for p, g in zip(model.parameters(), first))
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    cross_entropy(model(x), y).backward()
    assert all(np.allclose(p.grad.data, g) for p, g in zip(model.parameters(), first))


def test_dropout_blocks_gradients_of_dropped_units():
    class Probe(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(3, 50)
            self.drop = Dropout(0.5)
            self.out = Linear(50, 2)

        def forward(self, x):
            self.hidden = self.drop(self.fc(x))
            return self.out(self.hidden)

    net = Probe()
    x = Tensor(RNG.standard_normal((1, 3)).astype(np.float32))
    cross_entropy(net(x), [1]).backward()
    dropped = net.hidden.data[0] == 0
    assert dropped.any() and (~dropped).any()
    assert np.all(net.fc.bias.grad.data[dropped] == 0), "no gradient through dropped units"
    assert np.all(net.fc.bias.grad.data[~dropped] != 0)
    assert len(net.parameters()) == 4, "the cached activation is not a parameter"


def test_eval_mode_and_no_grad_for_inference():
    model = MLP([2, 16, 3], dropout=0.5)
    x = Tensor(RNG.standard_normal((4, 2)))
    model.eval()
    with no_grad():
        a, b = model(x), model(x)
        loss = cross_entropy(a, [0, 1, 2, 0])
    assert np.array_equal(a.data, b.data) and not loss.requires_grad


def test_mlp_classifies_three_blobs_with_cross_entropy():
    np.random.seed(0)
    x, y = three_blobs()
    model = MLP([2, 16, 3])
    loss_fn = CrossEntropyLoss()
    xt = Tensor(x)
    first = None
    for _ in range(150):
        loss = loss_fn(model(xt), y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        sgd(model, 0.1)
    accuracy = (model(xt).data.argmax(axis=1) == y).mean()
    assert loss.item() < first / 3 and accuracy > 0.95, (first, loss.item(), accuracy)


def test_logistic_regression_with_bce_with_logits():
    np.random.seed(1)
    x = RNG.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1] > 0).astype(np.float32)
    model = Linear(2, 1)
    for _ in range(200):
        loss = BCEWithLogitsLoss()(model(Tensor(x)), y)     # (200, 1) logits vs (200,) targets
        model.zero_grad()
        loss.backward()
        sgd(model, 1.0)
    accuracy = ((model(Tensor(x)).data[:, 0] > 0) == (y > 0.5)).mean()
    assert accuracy > 0.97
    w = model.weight.data[:, 0]
    assert w[0] > 0 and w[1] < 0 and np.isclose(w[1] / w[0], -2.0, rtol=0.25)


def test_linear_regression_recovers_the_true_weights_with_mse():
    np.random.seed(2)
    true_w = np.array([[2.0], [-1.0], [0.5]], dtype=np.float32)
    x = RNG.standard_normal((100, 3)).astype(np.float32)
    y = x @ true_w + 0.3
    model = Linear(3, 1)
    for _ in range(300):
        loss = MSELoss()(model(Tensor(x)), y)
        model.zero_grad()
        loss.backward()
        sgd(model, 0.1)
    assert np.allclose(model.weight.data, true_w, atol=1e-3)
    assert np.allclose(model.bias.data, 0.3, atol=1e-3)


def test_a_training_step_matches_pytorch():
    torch = pytest.importorskip("torch")
    model = MLP([5, 7, 4])
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    y = RNG.integers(0, 4, 6)

    loss = cross_entropy(model(Tensor(x)), y)
    loss.backward()

    linears = [layer for layer in model if isinstance(layer, Linear)]
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 4))
    with torch.no_grad():
        for ours, theirs in zip(linears, [ref[0], ref[2]]):
            theirs.weight.copy_(torch.tensor(ours.weight.data.T))
            theirs.bias.copy_(torch.tensor(ours.bias.data))
    lt = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
    lt.backward()

    assert np.isclose(loss.item(), lt.item(), atol=1e-5, rtol=1e-5)
    for ours, theirs in zip(linears, [ref[0], ref[2]]):
        assert np.allclose(ours.weight.grad.data, theirs.weight.grad.numpy().T, atol=1e-5)
        assert np.allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), atol=1e-5)
