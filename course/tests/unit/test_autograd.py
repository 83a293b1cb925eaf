# Unit tests for module 02 (autograd): every differentiable Tensor operation is gradient-checked in
# float64, a coverage test fails if an operation (a registered Function) has no gradient check, and
# the engine itself is tested: broadcasting, accumulation, no_grad, detach, 10,000-op chains, the
# Function extension point, and parity with PyTorch when it is installed.
import weakref

import numpy as np
import pytest

from tinytorch import Tensor, concatenate, stack, gradcheck, no_grad, enable_grad, is_grad_enabled
from tinytorch.core.autograd import Function, registered_functions, set_grad_enabled

RNG = np.random.default_rng(1234)


def rand(*shape):
    return Tensor(RNG.standard_normal(shape), requires_grad=True)


def positive(*shape):
    return Tensor(RNG.uniform(0.5, 2.0, shape), requires_grad=True)


def away_from_zero(*shape):
    x = RNG.uniform(0.3, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)
    return Tensor(x, requires_grad=True)


def distinct(*shape):
    """Values with well separated entries, so max() has a unique winner everywhere."""
    x = RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.1
    return Tensor(x, requires_grad=True)


def functions_in_graph(out):
    """Names of the Function classes recorded in the graph that produced `out`."""
    # nodes link to their inputs' nodes; a leaf Tensor (or None: no gradient) ends a path
    names, stack_, seen = set(), [out._ctx], set()
    while stack_:
        node = stack_.pop()
        if node is None or isinstance(node, Tensor) or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.fn.__name__)
        stack_.extend(node.parents)
    return names


# (Function name, case id, fn, input factory). Each Function of modules 01/02 needs at least one case.
CASES = [
    ("Add", "broadcast-row", lambda a, b: a + b, lambda: [rand(3, 4), rand(4)]),
    ("Add", "broadcast-both", lambda a, b: a + b, lambda: [rand(2, 1, 3), rand(4, 1)]),
    ("Add", "scalar-both-sides", lambda a: (a + 2.0) + (1.5 + a), lambda: [rand(3)]),
    ("Add", "ndarray-operand", lambda a: a + np.ones((2, 3)), lambda: [rand(3)]),
    ("Sub", "broadcast", lambda a, b: a - b, lambda: [rand(3, 4), rand(3, 1)]),
    ("Sub", "reflected", lambda a: 1.0 - a, lambda: [rand(2, 3)]),
    ("Mul", "broadcast", lambda a, b: a * b, lambda: [rand(2, 3, 4), rand(3, 1)]),
    ("Mul", "same-tensor-twice", lambda a: a * a, lambda: [rand(4)]),
    ("Mul", "scalar", lambda a: 3.0 * a * 0.5, lambda: [rand(2, 2)]),
    ("Div", "broadcast", lambda a, b: a / b, lambda: [rand(3, 4), positive(4)]),
    ("Div", "reflected", lambda a: 2.0 / a, lambda: [positive(3)]),
    ("Neg", "plain", lambda a: -a, lambda: [rand(2, 3)]),
    ("Pow", "cube", lambda a: a ** 3, lambda: [rand(3, 2)]),
    ("Pow", "square", lambda a: a ** 2, lambda: [rand(3)]),
    ("Pow", "fractional", lambda a: a ** 0.5, lambda: [positive(4)]),
    ("Pow", "negative", lambda a: a.pow(-1.5), lambda: [positive(4)]),
    ("Pow", "tensor-exponent", lambda a, b: a ** b, lambda: [positive(3, 2), rand(2)]),
    ("Pow", "reflected", lambda a: 2.0 ** a, lambda: [rand(3)]),
    ("MatMul", "2d", lambda a, b: a @ b, lambda: [rand(3, 4), rand(4, 2)]),
    ("MatMul", "batched", lambda a, b: a @ b, lambda: [rand(2, 3, 4), rand(2, 4, 5)]),
    ("MatMul", "linear-layer", lambda a, b: a @ b, lambda: [rand(2, 3, 4), rand(4, 2)]),
    ("MatMul", "broadcast-batch", lambda a, b: a @ b, lambda: [rand(2, 1, 3, 4), rand(3, 4, 2)]),
    ("MatMul", "2d-times-batch", lambda a, b: a @ b, lambda: [rand(3, 4), rand(2, 4, 2)]),
    ("MatMul", "vector-matrix", lambda a, b: a @ b, lambda: [rand(4), rand(4, 3)]),
    ("MatMul", "vector-batch", lambda a, b: a @ b, lambda: [rand(4), rand(2, 4, 3)]),
    ("MatMul", "matrix-vector", lambda a, b: a @ b, lambda: [rand(2, 3, 4), rand(4)]),
    ("MatMul", "dot", lambda a, b: a @ b, lambda: [rand(5), rand(5)]),
    ("Sum", "all", lambda a: a.sum(), lambda: [rand(2, 3, 4)]),
    ("Sum", "axis", lambda a: a.sum(axis=1), lambda: [rand(2, 3, 4)]),
    ("Sum", "axes-keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), lambda: [rand(2, 3, 4)]),
    ("Sum", "negative-axis", lambda a: a.sum(axis=-1), lambda: [rand(2, 3)]),
    ("Mean", "all", lambda a: a.mean(), lambda: [rand(2, 3, 4)]),
    ("Mean", "axis-keepdims", lambda a: a.mean(axis=0, keepdims=True), lambda: [rand(3, 4)]),
    ("Mean", "axes", lambda a: a.mean(axis=(1, -1)), lambda: [rand(2, 3, 4)]),
    ("Max", "all", lambda a: a.max(), lambda: [distinct(3, 4)]),
    ("Max", "axis", lambda a: a.max(axis=1), lambda: [distinct(3, 4)]),
    ("Max", "axis-keepdims", lambda a: a.max(axis=0, keepdims=True), lambda: [distinct(3, 4)]),
    ("Max", "ties-share", lambda a: a.max(axis=1),
     lambda: [Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)]),
    ("Max", "min-via-max", lambda a: a.min(axis=0), lambda: [distinct(3, 4)]),
    ("Exp", "plain", lambda a: a.exp(), lambda: [rand(3, 2)]),
    ("Log", "plain", lambda a: a.log(), lambda: [positive(3, 2)]),
    ("Sqrt", "plain", lambda a: a.sqrt(), lambda: [positive(3, 2)]),
    ("Abs", "plain", lambda a: a.abs(), lambda: [away_from_zero(3, 2)]),
    ("Reshape", "plain", lambda a: a.reshape(4, 3) * Tensor(np.arange(12.0).reshape(4, 3)),
     lambda: [rand(2, 6)]),
    ("Reshape", "tuple-and-minus-one", lambda a: a.reshape((3, -1)), lambda: [rand(2, 6)]),
    ("Reshape", "flatten-unsqueeze-squeeze", lambda a: a.flatten(1).unsqueeze(0).squeeze(0),
     lambda: [rand(2, 3, 2)]),
    ("Permute", "permute", lambda a: a.permute(2, 0, 1), lambda: [rand(2, 3, 4)]),
    ("Permute", "transpose-swap", lambda a: a.transpose(-1, -2), lambda: [rand(2, 3, 4)]),
    ("Permute", "T", lambda a: a.T @ a, lambda: [rand(3, 2)]),
    ("GetItem", "slice", lambda a: a[1:, ::2], lambda: [rand(3, 4)]),
    ("GetItem", "int-and-negative-step", lambda a: a[1, ::-1], lambda: [rand(3, 4)]),
    ("GetItem", "none-ellipsis", lambda a: a[None, ..., 1], lambda: [rand(2, 3)]),
    ("GetItem", "bool-mask", lambda a: a[a.data > 0], lambda: [rand(4, 3)]),
    ("GetItem", "rows-with-repeats", lambda a: a[np.array([[0, 2], [2, 2]])], lambda: [rand(3, 4)]),
    ("GetItem", "negative-repeats", lambda a: a[np.array([-1, 2, 0, -3])], lambda: [rand(3, 2)]),
    ("GetItem", "index-tensor", lambda a: a[Tensor(np.array([1, 1, 0]))], lambda: [rand(2, 2)]),
    ("GetItem", "pairs", lambda a: a[np.arange(3), np.array([1, 0, 1])], lambda: [rand(3, 2)]),
    ("GetItem", "slice-and-list", lambda a: a[:, [0, 0, 2]], lambda: [rand(2, 3)]),
    ("GetItem", "list", lambda a: a[[1, 1, 0]], lambda: [rand(2, 3)]),
    ("Concatenate", "axis0", lambda a, b, c: concatenate([a, b, c]), lambda: [rand(1, 3), rand(2, 3), rand(1, 3)]),
    ("Concatenate", "axis-last", lambda a, b: concatenate((a, b), axis=-1), lambda: [rand(2, 1), rand(2, 3)]),
    ("Stack", "axis0", lambda a, b: stack([a, b]), lambda: [rand(2, 3), rand(2, 3)]),
    ("Stack", "axis-last", lambda a, b, c: stack([a, b, c], axis=-1), lambda: [rand(2, 3), rand(2, 3), rand(2, 3)]),
]


@pytest.mark.parametrize("name,case,fn,make", CASES, ids=["%s-%s" % (c[0], c[1]) for c in CASES])
def test_gradcheck(name, case, fn, make):
    inputs = make()
    assert name in functions_in_graph(fn(*inputs)), "case does not exercise %s" % name
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("name,case,fn,make", CASES, ids=["%s-%s" % (c[0], c[1]) for c in CASES])
def test_ops_keep_float32(name, case, fn, make):
    inputs = [Tensor(t.data.astype(np.float32), requires_grad=True) for t in make()]
    out = fn(*inputs)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in inputs:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


def test_every_operation_has_a_gradient_check():
    registered = set()
    for module in ("tinytorch.core.tensor", "tinytorch.core.autograd"):
        registered |= {f.__name__ for f in registered_functions(module).values()}
    covered = {c[0] for c in CASES}
    assert registered, "no Functions registered"
    assert registered - covered == set(), "operations without a gradient check"
    assert covered - registered == set(), "checks for operations that do not exist"


# ---- the engine ---------------------------------------------------------------------------------
def test_graph_keeps_no_intermediate_array_alive():
    """A node links to its inputs' nodes, not to the input Tensors: an intermediate result that no
    backward needs is freed as soon as nothing else refers to it."""
    x = rand(50, 50)
    h = x * 2.0
    kept = weakref.ref(h.data)
    loss = (h + 1.0).sum()                 # Add saves nothing, Sum only a shape
    del h
    assert kept() is None, "the graph keeps an intermediate array alive"
    loss.backward()
    assert np.allclose(x.grad.data, 2.0)


def test_backward_releases_saved_arrays():
    x = rand(50, 40)
    h = x.exp()                            # Exp saves its output for the backward
    kept = weakref.ref(h.data)
    loss = (h * 2.0).sum()
    del h
    assert kept() is not None, "Exp's node needs its output until its backward has run"
    loss.backward()
    assert kept() is None, "backward() must release a node's saved arrays once it has used them"
    assert np.allclose(x.grad.data, 2 * np.exp(x.data), rtol=1e-5)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()                    # the second pass has nothing left to work with


def test_retain_graph_allows_a_second_backward():
    x = rand(3)
    loss = (x.exp() * x).sum()             # d/dx = e^x (1 + x)
    loss.backward(retain_graph=True)
    loss.backward()
    expected = 2 * np.exp(x.data.astype(np.float64)) * (1 + x.data)
    assert np.allclose(x.grad.data, expected, rtol=1e-5), "gradients of both passes accumulate"


def test_ten_thousand_op_chain():
    x = Tensor(2.0, requires_grad=True)
    y = x
    for i in range(10000):
        y = y * 1.0001 if i % 2 else y + 0.5
    y.backward()
    assert np.isclose(x.grad.item(), 1.0001 ** 5000, rtol=1e-3)
    del y                                  # freeing the long chain must not overflow the stack either


def test_diamond_graph_and_reuse():
    x = Tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = x * x
    y = (a * b + a + b.exp()).sum()        # dy/dx = 6x^2 + 2 + 2x e^{x^2}
    y.backward()
    xv = x.data.astype(np.float64)
    assert np.allclose(x.grad.data, 6 * xv ** 2 + 2 + 2 * xv * np.exp(xv ** 2), rtol=1e-5)


def test_gradient_accumulation_and_zero_grad():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for _ in range(3):
        (w * w).sum().backward()
    assert np.allclose(w.grad.data, 3 * 2 * w.data)
    w.zero_grad()
    assert w.grad is None
    (w * 1).sum().backward()
    assert np.allclose(w.grad.data, 1)


def test_leaf_gradients_are_private_copies():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()              # both receive the same gradient array
    a.grad.data *= 10                     # an optimizer modifying a gradient in place ...
    assert np.allclose(b.grad.data, 1)    # ... must not touch another parameter's gradient


def test_broadcasting_gradients_sum_over_repeated_axes():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    bias = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    col = Tensor([[2.0], [3.0]], requires_grad=True)
    scalar = Tensor(2.0, requires_grad=True)
    (x * col + bias * scalar).sum().backward()
    assert bias.grad.shape == (3,) and np.allclose(bias.grad.data, 2 * 2.0)
    assert col.grad.shape == (2, 1) and np.allclose(col.grad.data, x.data.sum(axis=1, keepdims=True))
    assert scalar.grad.shape == () and np.isclose(scalar.grad.item(), 6.0 * 2)
    assert np.allclose(x.grad.data, np.broadcast_to(col.data, (2, 3)))


def test_backward_needs_scalar_or_explicit_grad():
    x = rand(3)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.backward()
    y.backward(np.array([1.0, 0.0, 2.0]))
    assert np.allclose(x.grad.data, [2.0, 0.0, 4.0])
    with pytest.raises(RuntimeError):
        Tensor([1.0]).backward()           # nothing requires grad


def test_no_grad_records_nothing():
    w = Tensor([1.0, 2.0], requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = w * 3 + 1
        with enable_grad():
            z = w * 2
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    assert z.requires_grad
    assert np.allclose(y.data, [4.0, 7.0])


def test_no_grad_as_decorator_and_on_exception():
    @no_grad()
    def evaluate(t):
        return t * 2

    w = Tensor([1.0], requires_grad=True)
    assert not evaluate(w).requires_grad
    with pytest.raises(ValueError):
        with no_grad():
            raise ValueError("boom")
    assert is_grad_enabled(), "grad mode restored after an exception"
    with set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert is_grad_enabled()

    @enable_grad()
    def train_step(t):
        return t * 2

    with no_grad():
        assert train_step(w).requires_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d._ctx is None
    y = (d * x).sum()
    y.backward()
    assert np.allclose(x.grad.data, d.data)      # d treated as a constant
    assert x.detach().data is x.data


def test_no_graph_without_requires_grad():
    a = Tensor([1.0, 2.0])
    out = (a * 2).exp().sum()
    assert not out.requires_grad and out._ctx is None


def test_comparisons_never_require_grad():
    x = rand(3)
    for m in (x < 0, x <= 0, x > 0, x >= 0, x == 0, x != 0):
        assert not m.requires_grad and m.dtype == np.bool_


def test_in_place_assignment_refused_inside_graph():
    y = rand(3) * 2
    with pytest.raises(RuntimeError):
        y[0] = 1.0


# ---- the Function extension point -----------------------------------------------------------------
class ScaledCube(Function):
    """A user-defined Function: out = scale * x^3 (scale is a plain value, not differentiated)."""

    @staticmethod
    def forward(ctx, x, scale, shift=0.0):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x ** 3 + shift

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * 3 * ctx.scale * x ** 2, None


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, g):
        return g * ctx.x               # wrong on purpose: should be 2 * x


class TwoInputs(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        ctx.seen = None
        ctx.in_forward = ctx.needs_input_grad      # available in forward too, as in PyTorch
        return a * b

    @staticmethod
    def backward(ctx, g):
        ctx.seen = ctx.needs_input_grad
        return (g * ctx.b if ctx.needs_input_grad[0] else None,
                g * ctx.a if ctx.needs_input_grad[1] else None)


def test_custom_function():
    x = rand(2, 3)
    out = ScaledCube.apply(x, 2.0, shift=Tensor(1.0))
    assert isinstance(out, Tensor) and out.requires_grad and out.dtype == np.float32
    assert np.allclose(out.data, 2.0 * x.data ** 3 + 1.0, rtol=1e-5)
    assert gradcheck(lambda t: ScaledCube.apply(t, 0.5), [x])
    assert "%s.ScaledCube" % __name__ in registered_functions()


def test_custom_function_needs_input_grad():
    a, b = rand(3), Tensor(np.ones(3))
    out = TwoInputs.apply(a, b)
    out.sum().backward(retain_graph=True)        # keeps what forward stored, read below
    assert out._ctx.needs_input_grad == (True, False) and out._ctx.seen == (True, False)
    assert out._ctx.in_forward == (True, False)
    assert np.allclose(a.grad.data, 1.0)
    with no_grad():
        assert TwoInputs.apply(a, b)._ctx is None


def test_gradcheck_catches_a_wrong_backward():
    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(lambda t: WrongSquare.apply(t), [rand(3)])


def test_gradcheck_passes_other_arguments_through():
    labels = np.array([2, 0])
    assert gradcheck(lambda logits, y: logits[np.arange(2), y].sum(), [rand(2, 3), labels])


# ---- parity with PyTorch --------------------------------------------------------------------------
def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (4, 5), (5,), (3, 1)]]

    def program(lib, x, w, b, c, ids):
        h = (x @ w + b) * c                            # (2, 3, 5)
        h = h.max(axis=1) if lib == "tt" else h.amax(dim=1)
        h = h[ids] / (h.abs() + 1.0).sqrt().sum()       # gather rows with repeats
        if lib == "tt":
            return ((h ** 2).mean(axis=0) - h.exp().log()).sum()
        return ((h ** 2).mean(dim=0) - h.exp().log()).sum()

    ids = np.array([1, 1, 0])
    tt_in = [Tensor(a, requires_grad=True) for a in xs]
    to_in = [torch.tensor(a, requires_grad=True) for a in xs]
    out_tt = program("tt", *tt_in, ids)
    out_to = program("torch", *to_in, torch.tensor(ids))
    out_tt.backward()
    out_to.backward()
    assert np.allclose(out_tt.item(), out_to.item(), atol=1e-5, rtol=1e-5)
    for a, b in zip(tt_in, to_in):
        assert np.allclose(a.grad.data, b.grad.numpy(), atol=1e-5, rtol=1e-5)
