# Module 03 (activations): the nonlinearities of TinyTorch -- ReLU, Sigmoid, Tanh, GELU, Softmax and
# LogSoftmax -- each a single fused autograd Function that stays finite for inputs like +-1000,
# plus callable layer objects (ReLU(), Softmax(axis=-1), ...) and functional forms (relu, softmax, ...).
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Module 03: Activations
#
# A stack of linear layers is still one linear map: `W2 @ (W1 @ x) = (W2 @ W1) @ x`. Without a
# nonlinearity between them, depth buys nothing. Activation functions bend the space so that
# networks can represent curved decision boundaries.
#
# Two engineering points run through this module:
#
# * **Fused Functions.** `sigmoid(x)` could be written with module 01 operations,
#   `1 / (1 + (-x).exp())`, but that records four graph nodes and allocates four arrays. A single
#   `Function` with a hand-written `backward` does one pass forward and one pass backward, and its
#   derivative can reuse the output (`sigmoid' = s * (1 - s)`).
# * **Numerical stability.** `exp(1000)` overflows to `inf` in float32 (anything above ~88 does), and
#   `inf / inf` is `nan`. Each function below is written so that only safe values are exponentiated.

# %%
#| default_exp core.activations

# %%
#| export
import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function

# %% [markdown]
# ## ReLU: max(0, x)
#
# Cheap, and its gradient is exactly 1 for active units, so it does not shrink signals flowing back
# through many layers (the vanishing-gradient problem of sigmoid/tanh). The derivative at exactly 0
# is taken to be 0, as in PyTorch.
#
# The backward only needs to know *where* the input was positive, so the node saves that boolean
# mask (1 byte per element) rather than the float32 output (4 bytes): a quarter of the memory kept
# alive until the backward, and `g * mask` is cheaper than comparing again.

# %%
#| exporti
class ReLUFunction(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.positive = out > 0
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.positive


# %% [markdown]
# ## Sigmoid: 1 / (1 + e^-x)
#
# Squashes to (0, 1). The textbook formula overflows for very negative x (`e^1000`). The stable
# version only exponentiates `-|x|`, which lies in (0, 1]:
#
# * for x >= 0:  1 / (1 + e^-|x|)
# * for x < 0:   e^-|x| / (1 + e^-|x|)   (the same value, rearranged)

# %%
#| exporti
class SigmoidFunction(Function):
    @staticmethod
    def forward(ctx, x):
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1, e) / (1 + e)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):
        s = ctx.out
        return g * s * (1 - s)


# %% [markdown]
# ## Tanh
#
# Like sigmoid but centred on zero, range (-1, 1). NumPy's `tanh` is already stable; the derivative
# reuses the output: tanh' = 1 - tanh^2.

# %%
#| exporti
class TanhFunction(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):
        return g * (1 - ctx.out * ctx.out)


# %% [markdown]
# ## GELU (tanh approximation)
#
# GELU(x) = x * Phi(x), where Phi is the standard normal CDF: a smooth ReLU used by BERT and GPT.
# We use the **tanh approximation** from the GELU paper (also what GPT-2 uses, and what PyTorch
# computes with `approximate="tanh"`):
#
#     GELU(x) ~ 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)
#
# Its derivative, by the product and chain rules:
#
#     0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
#
# For |x| = 1000 we get tanh(u) = +-1 exactly, so the output is x or 0 -- no overflow, since
# x^3 = 1e9 is far below float32's limit of 3e38.

# %%
#| exporti
_SQRT_2_OVER_PI = 0.7978845608028654
_GELU_C = 0.044715


def _gelu_gate(x):
    """h = 0.5 (1 + tanh(u)), u = sqrt(2/pi) (x + c x^3), in one fresh array (constants folded)."""
    h = x * x
    h *= _SQRT_2_OVER_PI * _GELU_C
    h += _SQRT_2_OVER_PI
    h *= x
    np.tanh(h, out=h)
    h *= 0.5
    h += 0.5
    return h


_TILE = 16384                         # elements per tile: 64 KB of float32, a few fit in L2 cache


def _tiles(x):
    """Flat slices of about _TILE elements covering x.reshape(-1)."""
    n = x.size
    return [slice(i, min(i + _TILE, n)) for i in range(0, n, _TILE)]


class GELUFunction(Function):
    # Written for speed: in a transformer's MLP the activations are the model's largest arrays.
    # * Tiles: both passes run over tiles of ~16k elements. The temporaries of a tile stay in the
    #   CPU cache and are reused by the next tile; the whole-array temporaries they replace would
    #   each be fresh memory, page-faulted in by the operating system on every call -- which cost
    #   more than the arithmetic. The only array of full size is the result.
    # * The forward keeps nothing but x (the graph keeps it anyway); the backward recomputes the
    #   gate h = 0.5 (1 + tanh(u)) -- activation checkpointing in miniature: one tanh costs less
    #   than holding an activation-sized array from the forward to the backward.
    # * With h, the derivative needs no (1 - tanh^2) array, because 1 - tanh(u)^2 = 4 h (1 - h):
    #       d/dx = h + x * 2 du * h * (1 - h) = h * (1 + a * (1 - h)),   a = 2 x du.
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        flat = x.reshape(-1)
        out = np.empty_like(flat)
        for tile in _tiles(flat):
            np.multiply(_gelu_gate(flat[tile]), flat[tile], out=out[tile])   # 0.5 x (1 + tanh(u))
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        flat, g = ctx.x.reshape(-1), np.broadcast_to(g, ctx.x.shape).reshape(-1)
        grad = np.empty(flat.shape, dtype=np.result_type(flat, g))
        for tile in _tiles(flat):
            x = flat[tile]
            h = _gelu_gate(x)
            a = x * x
            a *= 6 * _SQRT_2_OVER_PI * _GELU_C
            a += 2 * _SQRT_2_OVER_PI
            a *= x                    # a = 2 x du,  du = sqrt(2/pi) (1 + 3 c x^2)
            a *= 1 - h                # a (1 - h)
            a += 1
            a *= h                    # h (1 + a (1 - h)): the derivative
            np.multiply(a, g[tile], out=grad[tile])
        return grad.reshape(ctx.x.shape)


# %% [markdown]
# ## Softmax and LogSoftmax
#
# Softmax turns a vector of scores into probabilities: `exp(x_i) / sum_j exp(x_j)`.
# Subtracting the maximum first changes nothing mathematically (the factor e^-max cancels) but
# guarantees every exponent is <= 0, so nothing overflows and the largest term is exactly 1, so the
# sum is never 0.
#
# LogSoftmax computes `x - max - log(sum(exp(x - max)))` directly. Taking `log(softmax(x))` instead
# would give `log(0) = -inf` for very unlikely classes.
#
# Backward (with s = softmax(x), g = incoming gradient, sums over the softmax axis):
#
# * softmax:      s * (g - sum(g * s))
# * log-softmax:  g - s * sum(g)

# %%
#| exporti
class SoftmaxFunction(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx, g):
        s = ctx.out
        return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True))


class LogSoftmaxFunction(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx, g):
        return g - np.exp(ctx.out) * g.sum(axis=ctx.axis, keepdims=True)


# %% [markdown]
# ## Functional forms and layer objects
#
# `relu(x)` is handy inside a `forward` method; `ReLU()` is an object you can put in a
# `Sequential`. The objects have no parameters, but answer the same questions a layer does
# (`parameters()`, `train()`, `eval()`), so containers can treat them uniformly.

# %%
#| export
def relu(x):
    return ReLUFunction.apply(x)


def sigmoid(x):
    return SigmoidFunction.apply(x)


def tanh(x):
    return TanhFunction.apply(x)


def gelu(x):
    """GELU, tanh approximation (as GPT-2 and PyTorch's approximate="tanh")."""
    return GELUFunction.apply(x)


def softmax(x, axis=-1):
    return SoftmaxFunction.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmaxFunction.apply(x, axis=axis)


# %%
#| exporti
class _Activation:
    """Shared behaviour of the activation objects: callable, parameter-free."""

    training = True

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        return []

    def named_parameters(self, prefix=""):
        return []

    def zero_grad(self):
        pass

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        return "%s()" % type(self).__name__


# %%
#| export
class ReLU(_Activation):
    def forward(self, x):
        return relu(x)


class Sigmoid(_Activation):
    def forward(self, x):
        return sigmoid(x)


class Tanh(_Activation):
    def forward(self, x):
        return tanh(x)


class GELU(_Activation):
    """GELU, tanh approximation."""

    def forward(self, x):
        return gelu(x)


class Softmax(_Activation):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        return softmax(x, axis=self.axis)

    def __repr__(self):
        return "Softmax(axis=%d)" % self.axis


class LogSoftmax(_Activation):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        return log_softmax(x, axis=self.axis)

    def __repr__(self):
        return "LogSoftmax(axis=%d)" % self.axis


# %% [markdown]
# ## Checks

# %%
def test_unit_values():
    x = Tensor([-2.0, 0.0, 3.0])
    assert np.allclose(ReLU()(x).data, [0, 0, 3])
    assert np.allclose(Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    assert np.allclose(Tanh()(x).data, np.tanh(x.data))
    assert np.allclose(GELU()(Tensor([0.0, 100.0])).data, [0.0, 100.0])
    p = Softmax()(Tensor([[1.0, 2.0, 3.0]]))
    assert np.allclose(p.data.sum(), 1.0) and p.dtype == np.float32
    assert np.allclose(LogSoftmax()(Tensor([[1.0, 2.0, 3.0]])).data, np.log(p.data))


def test_unit_stability():
    x = Tensor([[-1000.0, 0.0, 1000.0]])
    for act in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(), LogSoftmax()):
        out = act(x)
        assert np.all(np.isfinite(out.data)), act
    assert np.allclose(Sigmoid()(x).data, [[0, 0.5, 1]])
    assert np.allclose(Softmax()(x).data, [[0, 0, 1]])


def test_unit_gradients():
    from tinytorch.core.autograd import gradcheck
    x = Tensor(np.random.randn(3, 4), requires_grad=True)
    for fn in (relu, sigmoid, tanh, gelu, softmax, log_softmax):
        assert gradcheck(fn, [x])
    assert gradcheck(lambda t: softmax(t, axis=0), [x])


# %%
if __name__ == "__main__":
    test_unit_values()
    test_unit_stability()
    test_unit_gradients()
    print("activations: all checks passed")
