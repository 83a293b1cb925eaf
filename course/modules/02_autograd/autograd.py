# Module 02 (autograd): reverse-mode automatic differentiation for TinyTorch.
# Introduces `Function` (the extension point every later module uses for fused operations), makes
# every Tensor operation from module 01 differentiable, and provides backward(), no_grad(),
# detach() and a float64 finite-difference gradcheck().
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
# # Module 02: Autograd
#
# Training a network means following the gradient of a loss with respect to millions of weights.
# Writing those derivatives by hand is error-prone; *reverse-mode automatic differentiation*
# computes all of them in one backward sweep that costs about as much as the forward pass.
#
# The idea, in three steps:
#
# 1. **Record.** Every operation that touches a Tensor with `requires_grad=True` remembers what it
#    did: which operation, which inputs, and whatever intermediate values its derivative needs.
#    The records link the output back to its inputs, forming a graph that is rebuilt on every
#    forward pass (a *dynamic* graph -- plain Python control flow just works).
# 2. **Order.** `loss.backward()` sorts the graph topologically so that each node is processed only
#    after every node that uses it.
# 3. **Apply the chain rule.** Walking that order, each operation turns the gradient of its output
#    into gradients of its inputs (a vector-Jacobian product). Gradients arriving at the same tensor
#    from several paths are summed.
#
# ## How this module extends module 01 -- and why this way
#
# Module 01's Tensor already has `+`, `@`, `sum`, ... but they only compute values. Rather than
# rewriting the class, we describe each operation's math once, as a `Function` with a `forward`
# and a `backward`, and then *bind* those Functions onto `Tensor` (`Tensor.__mul__ = ...`).
#
# * **One place for bookkeeping.** `Function.apply` unwraps Tensors, runs `forward` on plain NumPy
#   arrays, and records the graph node. Each operation only states its math; nothing about graphs.
# * **One extension point.** Later modules add fused operations (Conv2d, cross-entropy, LayerNorm)
#   by writing a `Function` subclass -- exactly like the built-in operations here, and exactly like
#   `torch.autograd.Function`. Fused Functions are much faster than chains of small ops.
# * **Lessons stay separate.** Module 01 can be read without knowing anything about gradients, and
#   module 01 never imports module 02 (modules only depend on lower numbers).
#
# Binding happens when this module is imported; the `tinytorch` package imports every module, so
# all Tensor operations are differentiable as soon as you `import tinytorch`.

# %%
#| default_exp core.autograd

# %%
#| export
import functools

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Grad mode: `no_grad()`
#
# Evaluation and optimizer updates do not need a graph. Inside `with no_grad():` operations still
# compute values but record nothing, which saves memory and time.

# %%
#| export
class _GradMode:
    enabled = True      # a class attribute: one global switch, cheap to read in every operation


def is_grad_enabled():
    """True when operations currently record the graph."""
    return _GradMode.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode):
        self.prev = _GradMode.enabled
        self.mode = bool(mode)
        _GradMode.enabled = self.mode     # also works as a plain function call, like PyTorch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev
        return False


class no_grad:
    """`with no_grad(): ...` or `@no_grad()`: operations inside record no graph."""

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = type(self)                 # no_grad or enable_grad

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Re-enable recording inside a no_grad() block."""

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = True
        return self


# %% [markdown]
# ## The extension point: `Function`
#
# A Function subclass provides two static methods:
#
# * `forward(ctx, *args, **kwargs) -> np.ndarray` receives NumPy arrays (Tensors are unwrapped) or
#   plain values, computes the result, and stores on `ctx` whatever `backward` will need.
# * `backward(ctx, grad_out) -> tuple` receives the gradient of the loss w.r.t. the output and returns
#   one gradient per *positional* argument of `forward` (`None` for arguments that need none).
#   `ctx.needs_input_grad[i]` tells whether argument i wants a gradient, so work can be skipped.
#   Never modify `grad_out` in place: the same array may be shared with other parts of the graph.
#
# `apply` does the rest. Gradients may keep broadcast shapes: the engine sums them back to the
# input's shape (see `_unbroadcast`). Every subclass is registered in `Function.registry`, which the
# tests use to make sure no operation escapes a gradient check.
#
# ### What a graph node keeps alive -- and why it matters for speed
#
# The node (`ctx`) lives until the loss and the graph are dropped, so everything it references stays
# in memory for the whole forward *and* backward pass. It therefore links to the **nodes** of its
# inputs (`ctx.parents`), never to the input Tensors: an intermediate result such as a convolution's
# output is then freed as soon as the next layer has read it, unless that layer's `forward` saved it
# because its derivative needs it. Each Function saves only that: ReLU a boolean mask (a quarter of
# its float32 input), pooling the winners of its windows, a convolution its (padded) input.
#
# Memory is time here: a training step that holds tens of megabytes at its peak makes the C library
# return the memory to the operating system when the step ends, and every page of it (4 KB) is then
# handed back one page fault at a time in the next step -- a few thousand faults, several
# milliseconds, per step of a small CNN. A lean graph keeps the step's memory small enough to stay
# with the process and be reused.
#
# For the same reason `backward()` *releases* each node's saved arrays as soon as that node's own
# backward has run (as PyTorch does): the backward pass visits the newest nodes first, so the
# activations it no longer needs are returned while it still runs and the gradients it allocates
# next reuse their memory instead of growing the process. A node keeps only what the graph walk
# needs (`fn`, `parents`, `output_shape`, `needs_input_grad`). A second `backward()` through the
# same graph then has nothing to work with and says so; `backward(retain_graph=True)` keeps
# everything, for the rare case that needs two passes over one graph.

# %%
#| export
class Context:
    """Scratch space handed to forward/backward (store anything on it), and the graph node of the
    result: `fn` (the Function), `parents` (per positional argument, where its gradient goes: the
    node that produced it, the leaf Tensor itself, or None) and `output_shape`."""

    released = False      # set once backward() has dropped what forward() stored (see _release)

    def save_for_backward(self, *arrays):
        self.saved = arrays


def _release(node):
    """Drop everything forward() stored on `node` (the saved arrays); keep what the graph walk needs."""
    stored = node.__dict__
    # a fresh attribute dict with only the graph fields: the old one, and with it this node's reference
    # to every saved array, goes at once (one dict built per node: this runs for every op of every step)
    node.__dict__ = {"fn": stored["fn"], "parents": stored["parents"], "output_shape": stored["output_shape"],
                     "needs_input_grad": stored["needs_input_grad"], "released": True}


class Function:
    """Base class of every differentiable operation (like torch.autograd.Function)."""

    registry = {}        # "module.ClassName" -> Function subclass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Function.registry["%s.%s" % (cls.__module__, cls.__qualname__)] = cls

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # 1. Unwrap: forward() works on plain NumPy arrays.
        # Where each input's gradient would go, found in the same pass: the node that produced it, or
        # the input itself when it is a leaf (a weight) — not the produced Tensors, so that their
        # arrays can be freed once nothing else holds them.
        raw, needs, parents = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                needs.append(a.requires_grad)
                parents.append((a if a._ctx is None else a._ctx) if a.requires_grad else None)
            else:
                raw.append(a)
                needs.append(False)
                parents.append(None)
        for k, v in kwargs.items():        # keyword arguments are never differentiated
            if isinstance(v, Tensor):
                kwargs[k] = v.data
        # 2. Record only if grad mode is on and some input wants a gradient.
        record = _GradMode.enabled and True in needs
        ctx = Context()
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(args)
        # 3. Compute.
        out = cls.forward(ctx, *raw, **kwargs)
        if type(out) is not np.ndarray:    # e.g. np.sum returns a NumPy scalar
            out = np.asarray(out)
        # 4. Wrap, linking the result to its graph node.
        result = Tensor.__new__(Tensor)    # skip __init__: `out` is already a proper array
        result.data = out
        result.grad = None
        result.requires_grad = record
        if record:
            ctx.fn = cls                   # which backward to call
            ctx.parents = tuple(parents)   # where each input's gradient goes (step 1)
            ctx.output_shape = out.shape   # _unbroadcast's target for gradients sent to this node
            result._ctx = ctx
        else:
            result._ctx = None
        return result


def _node_of(tensor):
    """A Tensor's place in the graph: the node that produced it, or the Tensor itself if it is a leaf."""
    return tensor if tensor._ctx is None else tensor._ctx


def registered_functions(module=None):
    """All Function subclasses defined so far, optionally only those of one module
    (e.g. registered_functions("tinytorch.core.activations"))."""
    return {name: f for name, f in Function.registry.items() if module is None or f.__module__ == module}


# %% [markdown]
# ## Un-broadcasting
#
# If `b` has shape `(10,)` and is added to `a` of shape `(32, 10)`, NumPy silently repeats `b` 32
# times. Each copy contributed to the output, so `b`'s gradient is the *sum* of the output gradient
# over the repeated axis. `_unbroadcast` sums away leading axes that were added and axes that were
# stretched from size 1.

# %%
#| export
def _unbroadcast(grad, shape):
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        raise ValueError("gradient of shape %s does not match tensor shape %s" % (grad.shape, shape))
    return grad


# %% [markdown]
# ## The backward pass
#
# `backward()` first collects the graph -- nodes (Contexts) and leaf Tensors -- in topological
# order with an explicit stack instead of recursion. A recursive depth-first search needs one Python frame per node and dies with
# `RecursionError` around 1,000 nested operations; an RNN unrolled over a long sequence easily
# exceeds that. The explicit stack handles chains of any length.
#
# Then it walks that order from the output back to the leaves. Gradients of intermediate results
# live in a dictionary (keyed by node) and are dropped as soon as they have been passed on; only *leaf* tensors
# (those you created with `requires_grad=True`, e.g. weights) keep theirs in `.grad`, where they
# **accumulate** across backward calls until you reset them (`zero_grad`).

# %%
#| export
def _topological_order(root):
    """Nodes and leaves reachable from `root`, each after all of its inputs."""
    if not isinstance(root, Context):     # backward() on a leaf itself
        return [root]
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)            # every input of `node` is already in `order`
            continue
        if id(node) in visited:           # marked here, not when pushed: a node pushed early may
            continue                      # be reached again deeper down, and must then wait for it
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if parent is None or id(parent) in visited:
                continue
            if isinstance(parent, Context):
                stack.append((parent, False))
            else:
                # A leaf has no inputs: it goes into the order at once, without the trip through the
                # stack (a third of the nodes of a small network are weights and biases). That is
                # before every node that uses it, since those are added only after all their inputs.
                visited.add(id(parent))
                order.append(parent)
    return order


def _accumulate_leaf(leaf, grad):
    dtype = leaf.data.dtype if leaf.data.dtype.kind == "f" else np.float32
    if leaf.grad is None:
        # A private copy: `grad` may be shared with other tensors, and optimizers may modify
        # .grad in place (clipping, weight decay). astype() copies and converts in one call, and
        # the Tensor is built like Function.apply builds its results, without __init__'s dtype
        # rules (the array already has the right dtype): this runs for every weight on every step.
        stored = Tensor.__new__(Tensor)
        stored.data = grad.astype(dtype)
        stored.requires_grad, stored.grad, stored._ctx = False, None, None
        leaf.grad = stored
    else:
        leaf.grad.data += grad


def _backward(tensor, grad=None, retain_graph=False):
    """Backpropagate from `tensor`; leaf tensors with requires_grad=True accumulate into .grad.
    Each node's saved arrays are released once its backward has run, unless retain_graph=True."""
    if not tensor.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError("backward() without a gradient needs a single-element tensor; "
                               "pass grad= for shape %s" % (tensor.shape,))
        grad = np.ones_like(tensor.data)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=tensor.data.dtype)
        grad = np.broadcast_to(grad, tensor.shape)

    root = _node_of(tensor)
    grads = {id(root): grad}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if not isinstance(node, Context):     # a leaf: keep the gradient
            _accumulate_leaf(node, g)
            continue
        if node.released:
            raise RuntimeError(
                "backward() through a graph a second time: the first backward() released the arrays "
                "this %s node saved; call the first one as backward(retain_graph=True) to keep them"
                % node.fn.__name__)
        in_grads = node.fn.backward(node, g)
        if not retain_graph:
            _release(node)
        if not isinstance(in_grads, (tuple, list)):
            in_grads = (in_grads,)
        for parent, pg in zip(node.parents, in_grads):
            if parent is None or pg is None:  # no gradient wanted, or none given
                continue
            if type(pg) is not np.ndarray:
                pg = np.asarray(pg)
            shape = parent.output_shape if isinstance(parent, Context) else parent.data.shape
            if pg.shape != shape:             # tested here: most gradients already have their shape
                pg = _unbroadcast(pg, shape)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg   # not +=: the first array may be shared
            else:
                grads[key] = pg


def _zero_grad(tensor):
    """Forget the accumulated gradient of `tensor`."""
    tensor.grad = None


# %% [markdown]
# ## The operations of module 01, now with derivatives
#
# Each class states the forward computation and its vector-Jacobian product. `g` is the gradient of
# the loss with respect to the output. A few notes on the math:
#
# * `a * b`: d/da = g * b, d/db = g * a.   `a / b`: d/da = g / b, d/db = -g * a / b^2 = -(g / b) * out.
# * `a ** b`: d/da = g * b * a^(b-1); when b is a Tensor too, d/db = g * out * log(a).
# * `A @ B`: d/dA = g @ B^T, d/dB = A^T @ g (batched: transpose the last two axes).
# * `sum`: every input element contributed once, so the gradient is g repeated (broadcast) back.
# * `max`: only the maximal elements got through; ties share the gradient equally (as torch.amax).
# * reshape / permute / indexing only move numbers around; the backward moves them back.

# %%
#| exporti
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        ga = g * ctx.b if ctx.needs_input_grad[0] else None
        gb = g * ctx.a if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.b, ctx.out = b, out
        return out

    @staticmethod
    def backward(ctx, g):
        ga = g / ctx.b
        gb = -ga * ctx.out if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.a, ctx.b, ctx.out = a, b, out
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, (int, float)) and b == 2:
                ga = g * (2 * a)
            else:
                ga = g * (b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            log_a = np.log(a) if isinstance(a, np.ndarray) else np.log(np.asarray(a, ctx.out.dtype))
            gb = g * ctx.out * log_a
        return ga, gb


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        if b.ndim == 2 and a.ndim > 2:
            # (..., K) @ (K, N): one large 2-D GEMM is faster than many small batched ones
            return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[1],))
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:                    # dot product
            return g * b, g * a
        if a.ndim == 1:                                    # (K,) @ (..., K, N) -> (..., N)
            if ctx.needs_input_grad[0]:
                ga = np.matmul(g[..., None, :], np.swapaxes(b, -1, -2))[..., 0, :]
            if ctx.needs_input_grad[1]:
                gb = a[:, None] * g[..., None, :]
            return ga, gb
        if b.ndim == 1:                                    # (..., M, K) @ (K,) -> (..., M)
            if ctx.needs_input_grad[0]:
                ga = g[..., :, None] * b
            if ctx.needs_input_grad[1]:
                gb = np.matmul(np.swapaxes(a, -1, -2), g[..., :, None])[..., 0]
            return ga, gb
        if b.ndim == 2 and a.ndim > 2:                     # the Linear-layer case, as 2-D GEMMs
            k, n = b.shape
            if ctx.needs_input_grad[0]:
                ga = (g.reshape(-1, n) @ b.T).reshape(a.shape)
            if ctx.needs_input_grad[1]:
                gb = a.reshape(-1, k).T @ g.reshape(-1, n)
            return ga, gb
        if ctx.needs_input_grad[0]:
            ga = np.matmul(g, np.swapaxes(b, -1, -2))
        if ctx.needs_input_grad[1]:
            gb = np.matmul(np.swapaxes(a, -1, -2), g)
        return ga, gb


def _normalize_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(ax % ndim for ax in axis))
    return (axis % ndim,)


def _expand_reduced(g, axis, keepdims):
    """Give a reduced gradient its reduced axes back (size 1) so it broadcasts to `in_shape`."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, _normalize_axis(axis, a.ndim), keepdims
        return np.sum(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand_reduced(g, ctx.axis, ctx.keepdims)
        return np.broadcast_to(g, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, _normalize_axis(axis, a.ndim), keepdims
        out = np.mean(a, axis=axis, keepdims=keepdims)
        ctx.count = a.size // max(out.size, 1) if a.size else 1
        return out

    @staticmethod
    def backward(ctx, g):
        g = _expand_reduced(g, ctx.axis, ctx.keepdims) * (1.0 / ctx.count)
        return np.broadcast_to(g, ctx.shape)


class Max(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = np.max(a, axis=axis, keepdims=True)
        ctx.a, ctx.out_keep = a, out
        ctx.axis, ctx.keepdims = _normalize_axis(axis, a.ndim), keepdims
        return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis=axis))

    @staticmethod
    def backward(ctx, g):
        g = _expand_reduced(g, ctx.axis, ctx.keepdims)
        if ctx.axis is None:
            g = np.reshape(g, (1,) * ctx.a.ndim)
        mask = ctx.a == ctx.out_keep
        count = mask.sum(axis=ctx.axis, keepdims=True)
        return mask * (g / count)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.out = np.exp(a)
        return ctx.out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.out = np.sqrt(a)
        return ctx.out

    @staticmethod
    def backward(ctx, g):
        return g * 0.5 / ctx.out


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.a)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.axes)), None


def _has_int_array(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in items)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, idx):
        ctx.shape, ctx.dtype, ctx.idx = a.shape, a.dtype, idx
        return a[idx]

    @staticmethod
    def backward(ctx, g):
        idx, shape = ctx.idx, ctx.shape
        grad = np.zeros(shape, dtype=g.dtype)
        if not _has_int_array(idx):
            grad[idx] = g                  # slices, ints, masks: every element picked at most once
        elif isinstance(idx, np.ndarray):
            # Rows picked by an integer array (an embedding lookup) may repeat, and repeats must add
            # up. Sort the picks, then add each run of equal rows with one vectorised reduceat
            # (much faster than np.add.at).
            flat = idx.reshape(-1) % shape[0]          # negative indices count from the end
            rows = g.reshape((flat.size,) + shape[1:])
            order = np.argsort(flat, kind="stable")
            sorted_idx = flat[order]
            uniq, starts = np.unique(sorted_idx, return_index=True)
            if len(uniq) == flat.size:
                grad[sorted_idx] = rows[order]
            elif flat.size:
                grad[uniq] = np.add.reduceat(rows[order], starts, axis=0)
        else:
            # General fancy indexing: find which flat input position every output element came
            # from, then let bincount add up the repeats.
            positions = np.arange(grad.size).reshape(shape)[idx].reshape(-1)
            summed = np.bincount(positions, weights=g.reshape(-1), minlength=grad.size)
            grad = summed.astype(g.dtype).reshape(shape)
        return grad, None


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.stack(arrays, axis=axis)
        ctx.axis, ctx.n = axis % out.ndim, len(arrays)
        return out

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return tuple(g[lead + (i,)] for i in range(ctx.n))


# %% [markdown]
# ## Binding the Functions onto Tensor
#
# Python looks methods up on the class, so replacing `Tensor.__add__` changes `a + b` for every
# Tensor, including those created before this module was imported. Non-Tensor operands are
# converted first: Python numbers stay numbers (so float32 stays float32), anything else
# (lists, arrays) becomes a Tensor.

# %%
#| exporti
def _operand(x):
    # Exactly int/float/bool: NumPy scalars such as np.float64 (a float subclass!) would upcast a
    # float32 array to float64, so they are converted to float32 Tensors like arrays and lists.
    if isinstance(x, Tensor) or type(x) in (int, float, bool):
        return x
    return Tensor(x)


def _install():
    T = Tensor
    T.__add__ = lambda self, other: Add.apply(self, _operand(other))
    T.__radd__ = lambda self, other: Add.apply(_operand(other), self)
    T.__sub__ = lambda self, other: Sub.apply(self, _operand(other))
    T.__rsub__ = lambda self, other: Sub.apply(_operand(other), self)
    T.__mul__ = lambda self, other: Mul.apply(self, _operand(other))
    T.__rmul__ = lambda self, other: Mul.apply(_operand(other), self)
    T.__truediv__ = lambda self, other: Div.apply(self, _operand(other))
    T.__rtruediv__ = lambda self, other: Div.apply(_operand(other), self)
    T.__pow__ = lambda self, exponent: Pow.apply(self, _operand(exponent))
    T.__rpow__ = lambda self, base: Pow.apply(_operand(base), self)
    T.__neg__ = lambda self: Neg.apply(self)
    T.__matmul__ = lambda self, other: MatMul.apply(self, _operand(other))
    T.__rmatmul__ = lambda self, other: MatMul.apply(_operand(other), self)
    T.sum = lambda self, axis=None, keepdims=False: Sum.apply(self, axis=axis, keepdims=keepdims)
    T.max = lambda self, axis=None, keepdims=False: Max.apply(self, axis=axis, keepdims=keepdims)
    T.exp = lambda self: Exp.apply(self)
    T.log = lambda self: Log.apply(self)
    T.sqrt = lambda self: Sqrt.apply(self)
    T.abs = lambda self: Abs.apply(self)
    T.__getitem__ = _getitem
    T.reshape = _reshape
    T.permute = _permute
    T.mean = _mean
    T.backward = _backward
    T.zero_grad = _zero_grad
    T._concatenate = staticmethod(lambda tensors, axis: Concatenate.apply(*tensors, axis=axis))
    T._stack = staticmethod(lambda tensors, axis: Stack.apply(*tensors, axis=axis))


def _getitem(self, idx):
    if isinstance(idx, Tensor):
        idx = idx.data
    elif isinstance(idx, tuple):
        idx = tuple(i.data if isinstance(i, Tensor) else (np.asarray(i) if isinstance(i, list) else i)
                    for i in idx)
    elif isinstance(idx, list):
        idx = np.asarray(idx)
    return GetItem.apply(self, idx)


def _reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(self, shape)


def _permute(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Permute.apply(self, tuple(axes))


def _mean(self, axis=None, keepdims=False):
    if self.data.dtype.kind != "f":       # mean of a boolean mask (accuracy) is a float32 number
        return Tensor(np.mean(self.data.astype(np.float32), axis=axis, keepdims=keepdims))
    return Mean.apply(self, axis=axis, keepdims=keepdims)


_install()


# %% [markdown]
# ## Checking gradients numerically: `gradcheck`
#
# A derivative can be approximated without any calculus: nudge one input element by a tiny `eps`
# and see how the output moves, `(f(x + eps) - f(x - eps)) / (2 eps)`. That is far too slow for
# training (one evaluation per weight!) but perfect for testing a backward implementation.
#
# `gradcheck(fn, inputs)` runs `fn` on float64 copies of the inputs (float32 would drown the tiny
# differences in rounding error), compares the analytic gradients from `backward` with the
# finite differences, and raises an `AssertionError` describing the worst mismatch. If the output
# is not a scalar, it checks the gradient of `sum(out * R)` for a fixed random `R`, which exercises
# every output element.
#
# Which inputs are checked: those with `requires_grad=True`, or, if none is marked, every
# floating-point Tensor. Other arguments (integer targets, Python values) are passed unchanged.

# %%
#| export
def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare backward() with central finite differences in float64; returns True or raises."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = list(inputs)
    tensors = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.data.dtype.kind == "f"]
    check = [i for i in tensors if inputs[i].requires_grad] or tensors
    if not check:
        raise ValueError("gradcheck needs at least one floating-point Tensor input")
    args = list(inputs)
    for i in tensors:
        args[i] = Tensor(np.array(inputs[i].data, dtype=np.float64), requires_grad=i in check,
                         dtype=np.float64)

    with enable_grad():
        out = fn(*args)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise AssertionError("gradcheck: fn must return a Tensor that depends on the checked inputs")
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(weights)

    def objective():
        with no_grad():
            value = fn(*args)
        return float(np.sum(np.asarray(value.data, dtype=np.float64) * weights))

    for i in check:
        x = args[i].data
        analytic = np.zeros(x.shape) if args[i].grad is None else args[i].grad.data
        numeric = np.zeros(x.shape)
        flat_x, flat_n = x.reshape(-1), numeric.reshape(-1)
        for j in range(flat_x.size):
            old = flat_x[j]
            flat_x[j] = old + eps
            f_plus = objective()
            flat_x[j] = old - eps
            f_minus = objective()
            flat_x[j] = old
            flat_n[j] = (f_plus - f_minus) / (2 * eps)
        err = np.abs(analytic - numeric)
        bad = err > atol + rtol * np.abs(numeric)
        if bad.any():
            pos = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), x.shape)
            raise AssertionError(
                "gradcheck failed for input %d (shape %s): at index %s analytic=%.6g numeric=%.6g; "
                "max abs error %.3g, %d of %d elements outside atol=%g rtol=%g"
                % (i, x.shape, tuple(int(p) for p in pos), analytic[pos], numeric[pos], err.max(),
                   int(bad.sum()), x.size, atol, rtol))
    return True


# %% [markdown]
# ## Checks

# %%
def test_unit_simple_graph():
    x = Tensor([2.0, 3.0], requires_grad=True)
    y = (x * x + 3 * x).sum()            # dy/dx = 2x + 3
    y.backward()
    assert np.allclose(x.grad.data, [7.0, 9.0])
    assert x.grad.dtype == np.float32


def test_unit_accumulation_and_no_grad():
    w = Tensor([1.0, -1.0], requires_grad=True)
    (w * 2).sum().backward()
    (w * 2).sum().backward()
    assert np.allclose(w.grad.data, [4.0, 4.0]), "gradients accumulate"
    with no_grad():
        z = w * 3
    assert not z.requires_grad and z._ctx is None
    assert not w.detach().requires_grad


def test_unit_broadcast_grad():
    a = Tensor(np.ones((4, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a * b + b).sum().backward()
    assert b.grad.shape == (3,) and np.allclose(b.grad.data, 8.0)


def test_unit_long_chain():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_unit_gradcheck():
    a = Tensor(np.random.rand(2, 3) + 0.5, requires_grad=True)
    b = Tensor(np.random.rand(3, 4), requires_grad=True)
    assert gradcheck(lambda a, b: ((a @ b).exp().sum(axis=1) / a.sum()).log(), [a, b])
    assert gradcheck(lambda a: (a ** 3).max(axis=0), [a])
    assert gradcheck(lambda a: a[:, [0, 0, 2]].transpose().reshape(6), [a])


# %%
if __name__ == "__main__":
    test_unit_simple_graph()
    test_unit_accumulation_and_no_grad()
    test_unit_broadcast_grad()
    test_unit_long_chain()
    test_unit_gradcheck()
    print("autograd: all checks passed")
