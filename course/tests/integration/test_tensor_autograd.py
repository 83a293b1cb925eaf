# Integration tests for modules 01-03 together: whole small networks written with raw Tensor
# operations and activations are gradient-checked end to end, train with hand-written SGD, agree with
# PyTorch when it is installed, and evaluate under no_grad without building a graph.
import numpy as np
import pytest

from tinytorch import Tensor, gradcheck, no_grad, relu, tanh, gelu, softmax, log_softmax, concatenate, stack


def mlp_params(rng, sizes):
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(Tensor(rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), requires_grad=True))
        params.append(Tensor(np.zeros(n_out), requires_grad=True))
    return params


def mlp_forward(x, params):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = relu(h)
    return h


def nll(logits, y):
    """Cross-entropy from log_softmax and fancy indexing (the unfused way)."""
    logp = log_softmax(logits, axis=-1)
    return -logp[np.arange(len(y)), y].mean()


def make_blobs(rng, n_per_class=40):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    x = np.concatenate([c + 0.5 * rng.standard_normal((n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return x.astype(np.float32), y


def test_gradcheck_through_a_whole_network():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((5, 3)))
    y = np.array([0, 2, 1, 1, 0])
    params = mlp_params(rng, [3, 4, 3])
    for p in params:
        p.data += 0.1 * rng.standard_normal(p.shape).astype(np.float32)  # keep ReLU away from kinks
    assert gradcheck(lambda *ps: nll(mlp_forward(x, ps), y), params)


def test_gradcheck_attention_like_block():
    rng = np.random.default_rng(1)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True) for _ in range(3))

    def attention(q, k, v):
        scores = q @ k.transpose(-1, -2) / np.sqrt(4.0)
        out = softmax(scores, axis=-1) @ v
        heads = stack([out, gelu(out)], axis=1)                 # (2, 2, 3, 4)
        return concatenate([heads.reshape(2, -1), tanh(v).sum(axis=1)], axis=1).max(axis=0)

    assert gradcheck(attention, [q, k, v])


def test_training_with_hand_written_sgd_reduces_the_loss():
    rng = np.random.default_rng(2)
    x_np, y = make_blobs(rng)
    x = Tensor(x_np)
    params = mlp_params(rng, [2, 16, 3])
    losses = []
    for _ in range(60):
        loss = nll(mlp_forward(x, params), y)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32
            p.data -= 0.5 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with no_grad():
        logits = mlp_forward(x, params)
    assert not logits.requires_grad
    accuracy = (logits.argmax(axis=1) == Tensor(y)).mean().item()
    assert accuracy > 0.9
    assert all(p.dtype == np.float32 for p in params)


def test_network_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x_np, y = make_blobs(rng, n_per_class=5)
    params = mlp_params(rng, [2, 8, 8, 3])
    torch_params = [torch.tensor(p.data, requires_grad=True) for p in params]

    loss = nll(mlp_forward(Tensor(x_np), params), y)
    loss.backward()

    h = torch.tensor(x_np)
    for i in range(0, len(torch_params), 2):
        h = h @ torch_params[i] + torch_params[i + 1]
        if i + 2 < len(torch_params):
            h = torch.relu(h)
    loss_t = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    loss_t.backward()

    assert np.isclose(loss.item(), loss_t.item(), atol=1e-5, rtol=1e-5)
    for p, pt in zip(params, torch_params):
        assert np.allclose(p.grad.data, pt.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_graph_is_released_and_rebuilt_every_step():
    w = Tensor(np.ones(3), requires_grad=True)
    for step in range(3):
        # a dynamic graph: Python control flow decides the graph on every forward pass
        out = (w * 2).sum() if step % 2 == 0 else (w ** 2).sum()
        out.backward()
    assert np.allclose(w.grad.data, 2 + 2 + 2)   # 2 + 2w + 2 with w = 1
