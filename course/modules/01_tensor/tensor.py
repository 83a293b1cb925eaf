# Module 01 (tensor): the Tensor data structure every later TinyTorch module builds on.
# A Tensor wraps a NumPy array (float32 by default) and offers arithmetic with broadcasting, matmul,
# reductions, shape operations and indexing. Here every operation is forward-only; module 02
# (autograd) makes the very same operations differentiable.
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
# # Module 01: Tensor
#
# Everything a neural network computes -- inputs, weights, activations, gradients -- is an
# n-dimensional array of numbers. A `Tensor` is such an array plus (from module 02 on) the
# bookkeeping needed to differentiate through it.
#
# We do not write the number crunching ourselves: NumPy already runs it in optimised C and BLAS.
# Our job is the *interface*: a small object that owns a NumPy array (`.data`) and gives it the
# operators a deep-learning framework needs.
#
# Design decisions you will see below (and why):
#
# * **float32 by default.** Deep learning does not need float64 precision, and float32 halves the
#   memory traffic and doubles the SIMD throughput. Python numbers and float64 NumPy arrays are
#   converted to float32; integer NumPy arrays (class labels, indices) keep their integer dtype.
# * **No needless copies.** `Tensor(array)` shares the array's memory when no conversion is needed,
#   exactly like `torch.from_numpy`. `.numpy()` returns the array itself.
# * **`__slots__`.** A training step creates thousands of Tensors; fixed slots make each one smaller
#   and attribute access faster than a per-object `__dict__`.
# * **Broadcasting is NumPy's.** `a + b` for shapes `(32, 10)` and `(10,)` just works, because we hand
#   the arrays to NumPy. (Module 02 shows how gradients have to "un-broadcast".)

# %%
#| default_exp core.tensor

# %%
#| export
import numpy as np

# %% [markdown]
# ## Creating tensors
#
# `Tensor(data, requires_grad=False, dtype=None)` accepts Python numbers, nested lists, NumPy arrays
# or another Tensor. The attributes `requires_grad`, `grad` and `_ctx` are only *used* from module 02
# on (they describe the computation graph), but they live here because they belong to every Tensor.

# %%
#| export
def _to_array(data, dtype=None):
    """Convert `data` to an np.ndarray following TinyTorch's dtype rules (float32 by default)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        kind = data.dtype.kind
        if kind == "f" and data.dtype != np.float32:
            return data.astype(np.float32)
        return data                       # float32 stays as is, int/bool arrays keep their dtype
    arr = np.asarray(data)
    if arr.dtype.kind in "fiu" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)      # Python numbers and lists become float32
    return arr


def _data(x):
    """The NumPy array behind a Tensor; other values are passed through unchanged."""
    return x.data if isinstance(x, Tensor) else x


def _index(idx):
    """Replace Tensors inside an index (t[mask], t[idx_tensor, 0]) by their arrays."""
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    if isinstance(idx, list):
        return np.asarray(idx)
    return idx


def _shape_args(shape):
    """Allow both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


# %% [markdown]
# ## The Tensor class
#
# Read the class top to bottom: construction, properties, arithmetic, matmul, reductions, shape
# operations, indexing, element-wise math, comparisons, conversion.
#
# Every operation computes a *new* NumPy array and wraps it in a new Tensor. Nothing is modified in
# place, which is what makes automatic differentiation (module 02) possible: old values are still
# around when the backward pass needs them.

# %%
#| export
class Tensor:
    """An n-dimensional array of numbers backed by NumPy (float32 by default)."""

    __slots__ = ("data", "requires_grad", "grad", "_ctx", "__weakref__")

    # Make NumPy hand `ndarray + Tensor` over to Tensor.__radd__ instead of looping over our object.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError("only floating-point tensors can require gradients, not %s" % self.data.dtype)
        self.requires_grad = bool(requires_grad)
        self.grad = None      # filled in by backward() (module 02): a Tensor of the same shape
        self._ctx = None      # the graph node that produced this Tensor (module 02)

    # ---- properties ---------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def T(self):
        """All axes reversed (the usual transpose for a matrix)."""
        return self.transpose()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20, edgeitems=2,
                               prefix="Tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += ", dtype=%s" % self.data.dtype
        if self._ctx is not None:
            extra += ", grad_fn=<%s>" % getattr(self._ctx, "fn", type(self._ctx)).__name__
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return "Tensor(%s%s)" % (body, extra)

    # Tensors are used as dictionary keys (optimizer state), so hashing is by identity even though
    # == is element-wise.
    __hash__ = object.__hash__

    def __bool__(self):
        return bool(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    # ---- arithmetic (broadcasting is NumPy's) --------------------------------------------
    def __add__(self, other):
        return Tensor(self.data + _data(other))

    def __radd__(self, other):
        return Tensor(_data(other) + self.data)

    def __sub__(self, other):
        return Tensor(self.data - _data(other))

    def __rsub__(self, other):
        return Tensor(_data(other) - self.data)

    def __mul__(self, other):
        return Tensor(self.data * _data(other))

    def __rmul__(self, other):
        return Tensor(_data(other) * self.data)

    def __truediv__(self, other):
        return Tensor(self.data / _data(other))

    def __rtruediv__(self, other):
        return Tensor(_data(other) / self.data)

    def __pow__(self, exponent):
        return Tensor(self.data ** _data(exponent))

    def __rpow__(self, base):
        return Tensor(_data(base) ** self.data)

    def __neg__(self):
        return Tensor(-self.data)

    # ---- matrix multiplication -----------------------------------------------------------
    # np.matmul treats the last two axes as matrices and broadcasts the leading "batch" axes:
    # (B, T, D) @ (D, H) -> (B, T, H);  (B, h, T, d) @ (B, h, d, T) -> (B, h, T, T).
    def __matmul__(self, other):
        return Tensor(np.matmul(self.data, _data(other)))

    def __rmatmul__(self, other):
        return Tensor(np.matmul(_data(other), self.data))

    def matmul(self, other):
        return self @ other

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return Tensor(np.sum(self.data, axis=axis, keepdims=keepdims))

    def mean(self, axis=None, keepdims=False):
        x = self.data if self.data.dtype.kind == "f" else self.data.astype(np.float32)
        return Tensor(np.mean(x, axis=axis, keepdims=keepdims))

    def max(self, axis=None, keepdims=False):
        return Tensor(np.max(self.data, axis=axis, keepdims=keepdims))

    def min(self, axis=None, keepdims=False):
        # min(x) = -max(-x): no new operation needed, and it is differentiable once max is.
        return -((-self).max(axis=axis, keepdims=keepdims))

    def argmax(self, axis=None):
        """Indices of the maxima (an integer Tensor; not differentiable)."""
        return Tensor(np.argmax(self.data, axis=axis))

    # ---- shape operations ------------------------------------------------------------------
    def reshape(self, *shape):
        return Tensor(self.data.reshape(_shape_args(shape)))

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_axis=0):
        """Merge all axes from `start_axis` on: (N, C, H, W).flatten(1) -> (N, C*H*W)."""
        return self.reshape(self.shape[:start_axis] + (-1,))

    def unsqueeze(self, axis):
        shape = list(self.shape)
        shape.insert(axis if axis >= 0 else len(shape) + axis + 1, 1)
        return self.reshape(tuple(shape))

    def squeeze(self, axis=None):
        if axis is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        axis = axis % self.ndim
        if self.shape[axis] != 1:
            return self
        return self.reshape(self.shape[:axis] + self.shape[axis + 1:])

    def permute(self, *axes):
        return Tensor(np.transpose(self.data, _shape_args(axes)))

    def transpose(self, *axes):
        """transpose() reverses all axes; transpose(a0, a1) swaps two axes (like PyTorch);
        transpose(p0, p1, ..., pn) with all axes is a full permutation."""
        axes = _shape_args(axes)
        if len(axes) == 0:
            axes = tuple(range(self.ndim - 1, -1, -1))
        elif len(axes) == 2:
            a0, a1 = axes[0] % self.ndim, axes[1] % self.ndim
            perm = list(range(self.ndim))
            perm[a0], perm[a1] = perm[a1], perm[a0]
            axes = tuple(perm)
        return self.permute(*axes)

    # ---- indexing --------------------------------------------------------------------------
    # Basic indexing (ints, slices, None, ...) and NumPy "fancy" indexing (integer arrays, boolean
    # masks) are both supported: x[0], x[:, 1:3], x[idx], x[np.arange(N), labels], x[x > 0].
    def __getitem__(self, idx):
        return Tensor(self.data[_index(idx)])

    def __setitem__(self, idx, value):
        # In-place writes are handy for building data, but they would silently corrupt a recorded
        # computation graph, so they are refused on tensors that are part of one.
        if self._ctx is not None:
            raise RuntimeError("in-place assignment to a Tensor that is part of a computation graph")
        self.data[_index(idx)] = _data(value)

    # ---- element-wise math -----------------------------------------------------------------
    def exp(self):
        return Tensor(np.exp(self.data))

    def log(self):
        return Tensor(np.log(self.data))

    def sqrt(self):
        return Tensor(np.sqrt(self.data))

    def abs(self):
        return Tensor(np.abs(self.data))

    def pow(self, exponent):
        return self ** exponent

    # ---- comparisons: element-wise, return boolean Tensors that never carry gradients --------
    def __lt__(self, other):
        return Tensor(self.data < _data(other))

    def __le__(self, other):
        return Tensor(self.data <= _data(other))

    def __gt__(self, other):
        return Tensor(self.data > _data(other))

    def __ge__(self, other):
        return Tensor(self.data >= _data(other))

    def __eq__(self, other):
        return Tensor(self.data == _data(other))

    def __ne__(self, other):
        return Tensor(self.data != _data(other))

    # ---- conversion --------------------------------------------------------------------------
    def item(self):
        """The single value of a one-element Tensor as a Python number."""
        return self.data.item()

    def numpy(self):
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def astype(self, dtype):
        """A new Tensor with the data converted to `dtype` (not differentiable)."""
        return Tensor(self.data.astype(dtype), dtype=dtype)

    def float(self):
        return self.astype(np.float32)

    def detach(self):
        """A Tensor sharing the same data but cut off from any computation graph."""
        return Tensor(self.data)

    def backward(self, grad=None):
        raise RuntimeError("backward() needs module 02 (autograd): import tinytorch")

    # ---- joining (called by concatenate()/stack() below; module 02 replaces these) ------------
    @staticmethod
    def _concatenate(tensors, axis):
        return Tensor(np.concatenate([_data(t) for t in tensors], axis=axis))

    @staticmethod
    def _stack(tensors, axis):
        return Tensor(np.stack([_data(t) for t in tensors], axis=axis))


# %% [markdown]
# ## Joining tensors and creating common tensors
#
# `concatenate` and `stack` are functions (they take a *list* of tensors). They delegate to static
# methods on `Tensor`, so that module 02 can make them differentiable by swapping those methods --
# code that imported `concatenate` earlier picks up the new behaviour automatically.

# %%
#| export
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis: shapes (2, 3) and (4, 3) -> (6, 3) with axis=0."""
    return Tensor._concatenate(list(tensors), axis)


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis: three (2, 3) tensors -> (3, 2, 3) with axis=0."""
    return Tensor._stack(list(tensors), axis)


def zeros(*shape, requires_grad=False):
    return Tensor(np.zeros(_shape_args(shape), dtype=np.float32), requires_grad=requires_grad)


def ones(*shape, requires_grad=False):
    return Tensor(np.ones(_shape_args(shape), dtype=np.float32), requires_grad=requires_grad)


def randn(*shape, requires_grad=False, seed=None):
    """Standard-normal float32 Tensor; pass `seed` for reproducible values."""
    rng = np.random.default_rng(seed)
    return Tensor(rng.standard_normal(_shape_args(shape), dtype=np.float32), requires_grad=requires_grad)


def arange(*args, dtype=np.float32):
    return Tensor(np.arange(*args, dtype=dtype), dtype=dtype)


# %% [markdown]
# ## Checks
#
# Run this file (`python course/modules/01_tensor/tensor.py`) to execute the checks below.

# %%
def test_unit_creation():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float32, "Python data becomes float32"
    assert Tensor(np.arange(3)).dtype.kind == "i", "integer arrays keep their dtype"
    assert Tensor(np.ones(3)).dtype == np.float32, "float64 arrays become float32"
    assert Tensor(np.ones(3), dtype=np.float64).dtype == np.float64
    a = np.ones(4, dtype=np.float32)
    assert Tensor(a).data is a, "no copy when no conversion is needed"
    assert "Tensor(" in repr(t)


def test_unit_arithmetic():
    a = Tensor([[1.0, 2.0], [3.0, 4.0]])
    b = Tensor([10.0, 20.0])
    assert np.allclose((a + b).data, [[11, 22], [13, 24]]), "broadcasting"
    assert np.allclose((a - 1).data, [[0, 1], [2, 3]])
    assert np.allclose((2 * a).data, [[2, 4], [6, 8]])
    assert np.allclose((1 / a).data, [[1, 0.5], [1 / 3, 0.25]])
    assert np.allclose((a ** 2).data, [[1, 4], [9, 16]])
    assert np.allclose((-a).data, -a.data)
    assert (a * 0.5).dtype == np.float32, "Python scalars keep float32"


def test_unit_matmul_and_reductions():
    x = Tensor(np.random.randn(4, 3, 5))
    w = Tensor(np.random.randn(5, 2))
    assert (x @ w).shape == (4, 3, 2)
    assert np.allclose((x @ w).data, x.data @ w.data, atol=1e-5)
    assert x.sum().shape == () and x.sum(axis=1).shape == (4, 5)
    assert x.mean(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert np.isclose(x.max().item(), x.data.max())
    assert np.isclose(x.min().item(), x.data.min())


def test_unit_shapes_and_indexing():
    x = Tensor(np.arange(24).reshape(2, 3, 4).astype(np.float32))
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert x.transpose().shape == (4, 3, 2) and x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(1, 0, 2).shape == (3, 2, 4)
    assert x[0, 1].shape == (4,) and x[:, 1:3].shape == (2, 2, 4)
    assert x[np.array([1, 1, 0])].shape == (3, 3, 4)
    assert x[x > 20].shape == (3,)
    assert concatenate([x, x], axis=1).shape == (2, 6, 4)
    assert stack([x, x, x], axis=0).shape == (3, 2, 3, 4)


def test_unit_math_and_comparisons():
    x = Tensor([1.0, 4.0, 9.0])
    assert np.allclose(x.sqrt().data, [1, 2, 3])
    assert np.allclose(x.log().exp().data, x.data)
    assert np.allclose((-x).abs().data, x.data)
    assert (x > 2).data.tolist() == [False, True, True]
    assert (x == 4).data.tolist() == [False, True, False]
    assert Tensor(3.5).item() == 3.5 and isinstance(x.numpy(), np.ndarray)


# %%
if __name__ == "__main__":
    test_unit_creation()
    test_unit_arithmetic()
    test_unit_matmul_and_reductions()
    test_unit_shapes_and_indexing()
    test_unit_math_and_comparisons()
    print("tensor: all checks passed")
