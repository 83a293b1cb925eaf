# Unit tests for module 03 (activations): values against reference formulas, a float64 gradient
# check for every activation Function (and a test that fails if one is not covered), numerical
# stability at +-1000, the layer-object interface, and parity with PyTorch when it is installed.
import math

import numpy as np
import pytest

from tinytorch import (Tensor, gradcheck, ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax,
                       relu, sigmoid, tanh, gelu, softmax, log_softmax)
from tinytorch.core.autograd import registered_functions

RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0):
    return Tensor(RNG.standard_normal(shape) * scale, requires_grad=True)


def away_from_zero(*shape):
    x = RNG.uniform(0.1, 3.0, shape) * RNG.choice([-1.0, 1.0], shape)
    return Tensor(x, requires_grad=True)


def ref_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def ref_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- values -----------------------------------------------------------------------------------
def test_values_match_reference_formulas():
    x = Tensor(np.linspace(-5, 5, 41).reshape(1, 41))
    xd = x.data.astype(np.float64)
    assert np.allclose(relu(x).data, np.maximum(xd, 0))
    assert np.allclose(sigmoid(x).data, 1 / (1 + np.exp(-xd)), atol=1e-6)
    assert np.allclose(tanh(x).data, np.tanh(xd), atol=1e-6)
    assert np.allclose(gelu(x).data, ref_gelu(xd), atol=1e-5)
    assert np.allclose(softmax(x).data, ref_softmax(xd), atol=1e-6)
    assert np.allclose(log_softmax(x).data, np.log(ref_softmax(xd)), atol=1e-5)


@pytest.mark.parametrize("fn", [relu, sigmoid, tanh, gelu, softmax, log_softmax])
def test_float32_in_float32_out(fn):
    x = Tensor(RNG.standard_normal((3, 5)), requires_grad=True)
    out = fn(x)
    assert out.dtype == np.float32 and out.shape == (3, 5)
    out.backward(np.ones((3, 5), dtype=np.float32))
    assert x.grad.dtype == np.float32


def test_softmax_axis_and_normalisation():
    x = rand(2, 3, 4)
    for axis in (0, 1, -1):
        p = softmax(x, axis=axis)
        assert np.allclose(p.data.sum(axis=axis), 1.0, atol=1e-6)
        assert np.allclose(Softmax(axis=axis)(x).data, p.data)
        assert np.allclose(LogSoftmax(axis=axis)(x).data, log_softmax(x, axis=axis).data)
        assert np.allclose(np.exp(log_softmax(x, axis=axis).data), p.data, atol=1e-6)


# ---- gradients --------------------------------------------------------------------------------
CASES = [
    ("ReLUFunction", "plain", relu, lambda: [away_from_zero(3, 4)]),
    ("SigmoidFunction", "plain", sigmoid, lambda: [rand(3, 4, scale=3.0)]),
    ("TanhFunction", "plain", tanh, lambda: [rand(3, 4, scale=2.0)]),
    ("GELUFunction", "plain", gelu, lambda: [rand(3, 4, scale=3.0)]),
    ("SoftmaxFunction", "last-axis", softmax, lambda: [rand(3, 4)]),
    ("SoftmaxFunction", "axis-0", lambda x: softmax(x, axis=0), lambda: [rand(3, 4)]),
    ("SoftmaxFunction", "attention-shaped", lambda x: softmax(x, axis=-1), lambda: [rand(2, 2, 3, 3)]),
    ("LogSoftmaxFunction", "last-axis", log_softmax, lambda: [rand(3, 4)]),
    ("LogSoftmaxFunction", "axis-1", lambda x: log_softmax(x, axis=1), lambda: [rand(2, 3, 4)]),
]


@pytest.mark.parametrize("name,case,fn,make", CASES, ids=["%s-%s" % (c[0], c[1]) for c in CASES])
def test_gradcheck(name, case, fn, make):
    inputs = make()
    assert fn(*inputs)._ctx.fn.__name__ == name
    assert gradcheck(fn, inputs)


def test_every_activation_has_a_gradient_check():
    registered = {f.__name__ for f in registered_functions("tinytorch.core.activations").values()}
    covered = {c[0] for c in CASES}
    assert registered and registered == covered


def test_relu_gradient_at_zero_is_zero():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    relu(x).sum().backward()
    assert x.grad.data.tolist() == [0.0, 0.0, 1.0]


# ---- numerical stability ----------------------------------------------------------------------
@pytest.mark.parametrize("fn", [relu, sigmoid, tanh, gelu, softmax, log_softmax])
def test_no_nan_or_inf_at_large_magnitudes(fn):
    x = Tensor([[-1000.0, -100.0, 0.0, 100.0, 1000.0]], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        out = fn(x)
        out.backward(np.ones(out.shape, dtype=np.float32))
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad.data))


def test_limits_at_large_magnitudes():
    x = Tensor([-1000.0, 1000.0])
    assert np.allclose(sigmoid(x).data, [0.0, 1.0])
    assert np.allclose(tanh(x).data, [-1.0, 1.0])
    assert np.allclose(gelu(x).data, [0.0, 1000.0])
    row = Tensor([[1000.0, 0.0, -1000.0]])
    assert np.allclose(softmax(row).data, [[1.0, 0.0, 0.0]])
    assert np.allclose(log_softmax(row).data, [[0.0, -1000.0, -2000.0]])
    same = Tensor([[1000.0, 1000.0]])
    assert np.allclose(softmax(same).data, [[0.5, 0.5]])


# ---- layer objects ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax])
def test_layer_objects(cls):
    act = cls()
    x = rand(2, 3)
    assert isinstance(act(x), Tensor) and np.allclose(act(x).data, act.forward(x).data)
    assert act.parameters() == [] and list(act.named_parameters()) == []
    assert act.eval() is act and not act.training and act.train().training
    assert cls.__name__ in repr(act)


# ---- parity with PyTorch ----------------------------------------------------------------------
def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x_np = (RNG.standard_normal((4, 7)) * 4).astype(np.float32)
    w_np = RNG.standard_normal((4, 7)).astype(np.float32)
    pairs = [(relu, torch.relu), (sigmoid, torch.sigmoid), (tanh, torch.tanh),
             (gelu, lambda t: F.gelu(t, approximate="tanh")),
             (softmax, lambda t: torch.softmax(t, dim=-1)), (log_softmax, lambda t: F.log_softmax(t, dim=-1)),
             (lambda t: softmax(t, axis=0), lambda t: torch.softmax(t, dim=0))]
    for ours, theirs in pairs:
        x = Tensor(x_np, requires_grad=True)
        xt = torch.tensor(x_np, requires_grad=True)
        out, out_t = ours(x), theirs(xt)
        (out * Tensor(w_np)).sum().backward()
        (out_t * torch.tensor(w_np)).sum().backward()
        assert np.allclose(out.data, out_t.detach().numpy(), atol=1e-5, rtol=1e-5)
        assert np.allclose(x.grad.data, xt.grad.numpy(), atol=1e-5, rtol=1e-5)
