# Unit tests for module 06 (losses): values against float64 references, gradients, target handling
# and error messages, numerical stability at extreme logits/probabilities, float32 outputs, gradient
# checks of every Function the module defines (plus a coverage test), and parity with PyTorch for
# MSE, cross-entropy ((N, C) and (N, T, C)), BCE-with-logits and BCE when PyTorch is installed.
import numpy as np
import pytest

from tinytorch import Tensor, gradcheck, no_grad
from tinytorch.core.autograd import registered_functions
from tinytorch.core.losses import (MSELoss, CrossEntropyLoss, BCEWithLogitsLoss, BinaryCrossEntropyLoss,
                                   mse_loss, cross_entropy, binary_cross_entropy_with_logits,
                                   binary_cross_entropy)

RNG = np.random.default_rng(606)


def rand(*shape, requires_grad=True, dtype=np.float64):
    return Tensor(RNG.standard_normal(shape).astype(dtype), requires_grad=requires_grad, dtype=dtype)


def functions_in_graph(out):
    # nodes link to their inputs' nodes; a leaf Tensor (or None: no gradient) ends a path
    names, stack, seen = set(), [out._ctx], set()
    while stack:
        node = stack.pop()
        if node is None or isinstance(node, Tensor) or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.fn.__name__)
        stack.extend(node.parents)
    return names


def reference_cross_entropy(z, y):
    z = np.asarray(z, dtype=np.float64)
    logp = z - z.max(axis=-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(logp, np.asarray(y)[..., None], axis=-1).mean()


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- MSE --------------------------------------------------------------------------------------
def test_mse_value_and_gradient():
    pred = Tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    target = RNG.standard_normal((4, 3)).astype(np.float32)
    loss = MSELoss()(pred, target)
    assert loss.shape == () and loss.dtype == np.float32
    assert np.isclose(loss.item(), ((pred.data - target) ** 2).mean(), rtol=1e-6)
    loss.backward()
    assert np.allclose(pred.grad.data, 2 * (pred.data - target) / 12, atol=1e-6)
    assert pred.grad.dtype == np.float32


def test_mse_reshapes_a_same_sized_target_instead_of_broadcasting():
    pred = Tensor([[1.0], [2.0], [3.0]])
    assert np.isclose(mse_loss(pred, [1.0, 2.0, 5.0]).item(), 4 / 3)
    with pytest.raises(ValueError):
        mse_loss(pred, [1.0, 2.0])


def test_mse_target_can_require_grad():
    pred, target = rand(3), rand(3)
    mse_loss(pred, target).backward()
    assert np.allclose(target.grad.data, -pred.grad.data)


def test_gradcheck_mse_loss():
    target = rand(2, 3, requires_grad=False)
    assert gradcheck(lambda p: mse_loss(p, target), [rand(2, 3)])
    assert gradcheck(mse_loss, [rand(5), rand(5)])


# ---- cross-entropy ----------------------------------------------------------------------------
def test_cross_entropy_matches_reference_2d_and_3d():
    z = RNG.standard_normal((8, 5)).astype(np.float32)
    y = RNG.integers(0, 5, 8)
    loss = CrossEntropyLoss()(Tensor(z), y)
    assert loss.shape == () and loss.dtype == np.float32
    assert np.isclose(loss.item(), reference_cross_entropy(z, y), atol=1e-5)
    z3 = RNG.standard_normal((2, 7, 11)).astype(np.float32) * 3
    y3 = RNG.integers(0, 11, (2, 7))
    assert np.isclose(cross_entropy(Tensor(z3), y3).item(), reference_cross_entropy(z3, y3), atol=1e-5)
    assert "CrossEntropyFunction" in functions_in_graph(cross_entropy(rand(2, 3), [0, 1]))


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    z = Tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    y = np.array([2, 0, 1, 1])
    cross_entropy(z, y).backward()
    expected = (softmax(z.data.astype(np.float64)) - np.eye(3)[y]) / 4
    assert np.allclose(z.grad.data, expected, atol=1e-6) and z.grad.dtype == np.float32


def test_cross_entropy_3d_gradient_equals_the_flattened_2d_one():
    z = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    y = RNG.integers(0, 6, (3, 4))
    a = Tensor(z.copy(), requires_grad=True)
    b = Tensor(z.reshape(12, 6).copy(), requires_grad=True)
    cross_entropy(a, y).backward()
    cross_entropy(b, y.reshape(12)).backward()
    assert a.grad.shape == (3, 4, 6)
    assert np.allclose(a.grad.data.reshape(12, 6), b.grad.data)


def test_cross_entropy_is_stable_at_huge_logits():
    z = Tensor(np.array([[1e4, 0.0, -1e4], [1e30, -1e30, 0.0], [50.0, 50.0, 50.0]], dtype=np.float32),
               requires_grad=True)
    loss = cross_entropy(z, [2, 0, 1])
    assert np.isfinite(loss.item())
    assert np.isclose(loss.item(), (2e4 + 0.0 + np.log(3)) / 3, rtol=1e-5)
    loss.backward()
    assert np.all(np.isfinite(z.grad.data))
    assert np.allclose(z.grad.data[0], [1 / 3, 0, -1 / 3], atol=1e-7)


def test_cross_entropy_target_forms():
    z = rand(3, 4, requires_grad=False)
    expected = cross_entropy(z, np.array([0, 3, 1])).item()
    for targets in ([0, 3, 1], np.array([0, 3, 1], dtype=np.int32), Tensor(np.array([0, 3, 1])),
                    Tensor([0, 3, 1]), np.array([0.0, 3.0, 1.0])):
        assert cross_entropy(z, targets).item() == expected


@pytest.mark.parametrize("logits_shape,targets,error", [
    ((3, 4), np.array([0.5, 1, 2]), "integers"),
    ((3, 4), np.array([0, 1]), "shape"),
    ((3, 4), np.array([[0], [1], [2]]), "shape"),
    ((3, 4), np.array([0, 4, 1]), "in \\[0, 4\\)"),
    ((3, 4), np.array([0, -1, 1]), "in \\[0, 4\\)"),
    ((4,), np.array(1), "\\(N, C\\)"),
    ((3, 4), np.array(["a", "b", "c"]), "integer"),
], ids=["fractional", "too-short", "column", "too-large", "negative", "1d-logits", "strings"])
def test_cross_entropy_rejects_bad_targets(logits_shape, targets, error):
    with pytest.raises(ValueError, match=error):
        cross_entropy(Tensor(np.zeros(logits_shape)), targets)


def test_cross_entropy_backward_twice_accumulates():
    z = rand(4, 3)
    loss = cross_entropy(z, [0, 1, 2, 0])
    loss.backward(retain_graph=True)                        # keep the saved softmax for a second pass
    first = z.grad.data.copy()
    loss.backward()                                         # the saved softmax must be untouched
    assert np.allclose(z.grad.data, 2 * first)


def test_cross_entropy_under_no_grad_records_nothing():
    z = rand(2, 3)
    with no_grad():
        loss = cross_entropy(z, [0, 1])
    assert not loss.requires_grad and loss._ctx is None


def test_gradcheck_CrossEntropyFunction():
    assert gradcheck(lambda z: cross_entropy(z, np.array([1, 0, 3])), [rand(3, 4)])
    assert gradcheck(lambda z: cross_entropy(z, np.array([[0, 2], [1, 1]])), [rand(2, 2, 3)])
    assert gradcheck(lambda z: cross_entropy(z * 20.0, np.array([0, 1])), [rand(2, 5)], atol=1e-4)


# ---- BCE with logits --------------------------------------------------------------------------
def naive_bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()


def test_bce_with_logits_value_and_gradient():
    x = Tensor(RNG.standard_normal((5, 3)).astype(np.float32) * 2, requires_grad=True)
    y = (RNG.random((5, 3)) > 0.5).astype(np.float32)
    loss = BCEWithLogitsLoss()(x, y)
    p = 1 / (1 + np.exp(-x.data.astype(np.float64)))
    assert loss.dtype == np.float32 and np.isclose(loss.item(), naive_bce(p, y), rtol=1e-5)
    loss.backward()
    assert np.allclose(x.grad.data, (p - y) / 15, atol=1e-6)
    assert "BCEWithLogitsFunction" in functions_in_graph(loss)


def test_bce_with_logits_is_stable_at_extreme_logits():
    x = Tensor(np.array([1e4, -1e4, 100.0, -100.0, 0.0], dtype=np.float32), requires_grad=True)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    loss = binary_cross_entropy_with_logits(x, y)
    assert np.isclose(loss.item(), (1e4 + 1e4 + 0 + 0 + np.log(2)) / 5, rtol=1e-6)
    loss.backward()
    assert np.allclose(x.grad.data, np.array([1, -1, 0, 0, -0.5]) / 5, atol=1e-7)


def test_bce_with_logits_soft_targets_and_shapes():
    x = rand(4, 1)
    y = np.array([0.1, 0.9, 0.5, 0.0])
    assert np.isclose(binary_cross_entropy_with_logits(x, y).item(),
                      naive_bce(1 / (1 + np.exp(-x.data.ravel())), y))
    with pytest.raises(ValueError):
        binary_cross_entropy_with_logits(x, np.zeros(3))


def test_gradcheck_BCEWithLogitsFunction():
    y = Tensor(RNG.random((3, 4)))
    assert gradcheck(lambda x: binary_cross_entropy_with_logits(x, y), [rand(3, 4)])
    # with respect to both logits and (soft) targets
    assert gradcheck(binary_cross_entropy_with_logits, [rand(6), Tensor(RNG.random(6), requires_grad=True)])


# ---- BCE on probabilities ---------------------------------------------------------------------
def test_binary_cross_entropy_value_and_gradient():
    p = Tensor(RNG.uniform(0.05, 0.95, (4, 3)).astype(np.float32), requires_grad=True)
    y = (RNG.random((4, 3)) > 0.5).astype(np.float32)
    loss = BinaryCrossEntropyLoss()(p, y)
    assert loss.dtype == np.float32 and np.isclose(loss.item(), naive_bce(p.data.astype(np.float64), y), rtol=1e-5)
    loss.backward()
    pd = p.data.astype(np.float64)
    assert np.allclose(p.grad.data, (pd - y) / (pd * (1 - pd)) / 12, rtol=1e-4)
    assert "BinaryCrossEntropyFunction" in functions_in_graph(loss)


def test_binary_cross_entropy_clips_certain_probabilities():
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    loss = binary_cross_entropy(p, y)
    assert np.isfinite(loss.item()) and 7.0 < loss.item() < 8.2     # two wrong ones, each ~16
    loss.backward()
    g = p.grad.data
    assert np.all(np.isfinite(g)) and g[0] < 0 and g[1] > 0, "a push in the right direction"
    assert np.isfinite(BinaryCrossEntropyLoss(eps=1e-3)(p, y).item())
    assert "eps=0.001" in repr(BinaryCrossEntropyLoss(eps=1e-3))


def test_gradcheck_BinaryCrossEntropyFunction():
    y = Tensor(RNG.random((3, 4)))
    p = Tensor(RNG.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    assert gradcheck(lambda p: binary_cross_entropy(p, y), [p])
    assert gradcheck(binary_cross_entropy, [Tensor(RNG.uniform(0.1, 0.9, 5), requires_grad=True),
                                            Tensor(RNG.random(5), requires_grad=True)])


def test_every_losses_function_has_a_gradient_check():
    registered = {f.__name__ for f in registered_functions("tinytorch.core.losses").values()}
    tested = {name[len("test_gradcheck_"):] for name in globals() if name.startswith("test_gradcheck_")}
    assert registered == {"CrossEntropyFunction", "BCEWithLogitsFunction", "BinaryCrossEntropyFunction"}
    assert registered <= tested, "Functions without a gradient check: %s" % (registered - tested)


def test_loss_objects_are_callable_with_forward_and_repr():
    for loss_fn in (MSELoss(), CrossEntropyLoss(), BCEWithLogitsLoss(), BinaryCrossEntropyLoss()):
        assert callable(loss_fn) and hasattr(loss_fn, "forward") and type(loss_fn).__name__ in repr(loss_fn)


# ---- parity with PyTorch ----------------------------------------------------------------------
def _grads_match(ours, theirs):
    return np.allclose(ours, theirs.detach().numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(16, 10), (4, 8, 65)], ids=["NC", "NTC"])
def test_cross_entropy_matches_pytorch(shape):
    torch = pytest.importorskip("torch")
    z = (RNG.standard_normal(shape) * 4).astype(np.float32)
    y = RNG.integers(0, shape[-1], shape[:-1])
    ours = Tensor(z.copy(), requires_grad=True)
    loss = cross_entropy(ours, y)
    loss.backward()
    zt = torch.tensor(z, requires_grad=True)
    # PyTorch wants the class axis at position 1 for (N, T, C) inputs; flattening is equivalent
    lt = torch.nn.functional.cross_entropy(zt.reshape(-1, shape[-1]), torch.tensor(y.reshape(-1)))
    lt.backward()
    assert np.isclose(loss.item(), lt.item(), atol=1e-5, rtol=1e-5)
    assert _grads_match(ours.grad.data, zt.grad)


def test_cross_entropy_matches_pytorch_at_large_logits():
    torch = pytest.importorskip("torch")
    z = (RNG.standard_normal((8, 6)) * 1e3).astype(np.float32)
    y = RNG.integers(0, 6, 8)
    ours = Tensor(z.copy(), requires_grad=True)
    loss = cross_entropy(ours, y)
    loss.backward()
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
    lt.backward()
    assert np.isclose(loss.item(), lt.item(), rtol=1e-5)
    assert _grads_match(ours.grad.data, zt.grad)


def test_bce_with_logits_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = (RNG.standard_normal((32, 4)) * 5).astype(np.float32)
    x[0, :] = [80.0, -80.0, 1e3, -1e3]
    y = RNG.random((32, 4)).astype(np.float32)
    ours = Tensor(x.copy(), requires_grad=True)
    loss = binary_cross_entropy_with_logits(ours, y)
    loss.backward()
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(y))
    lt.backward()
    assert np.isclose(loss.item(), lt.item(), atol=1e-5, rtol=1e-5)
    assert _grads_match(ours.grad.data, xt.grad)


def test_mse_matches_pytorch():
    torch = pytest.importorskip("torch")
    p = RNG.standard_normal((10, 3)).astype(np.float32)
    t = RNG.standard_normal((10, 3)).astype(np.float32)
    ours = Tensor(p.copy(), requires_grad=True)
    loss = mse_loss(ours, t)
    loss.backward()
    pt = torch.tensor(p, requires_grad=True)
    lt = torch.nn.functional.mse_loss(pt, torch.tensor(t))
    lt.backward()
    assert np.isclose(loss.item(), lt.item(), atol=1e-5, rtol=1e-5)
    assert _grads_match(ours.grad.data, pt.grad)


def test_binary_cross_entropy_matches_pytorch():
    torch = pytest.importorskip("torch")
    p = RNG.uniform(0.01, 0.99, (12, 2)).astype(np.float32)
    y = (RNG.random((12, 2)) > 0.5).astype(np.float32)
    ours = Tensor(p.copy(), requires_grad=True)
    loss = binary_cross_entropy(ours, y)
    loss.backward()
    pt = torch.tensor(p, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy(pt, torch.tensor(y))
    lt.backward()
    assert np.isclose(loss.item(), lt.item(), atol=1e-5, rtol=1e-5)
    assert np.allclose(ours.grad.data, pt.grad.numpy(), rtol=1e-4, atol=1e-5)
