# Module 04 (layers): the building blocks every TinyTorch model is made of.
# `Module` (parameter discovery, train/eval, state_dict), `Parameter`, `ModuleList`, and the first
# layers: `Linear` (a fused matmul + bias autograd Function), `Dropout` (inverted dropout) and `Flatten`.
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
# # Module 04: Layers
#
# With Tensors (module 01) and autograd (module 02) we can already train a model: create weight
# tensors with `requires_grad=True`, compute a loss, call `backward()`, and nudge every weight.
# What gets tedious is the *bookkeeping*: a real network has dozens of weight tensors, spread over
# layers nested inside blocks nested inside a model. The optimizer needs all of them, `zero_grad`
# must reach all of them, dropout layers must learn whether we are training or evaluating, and a
# checkpoint must save all of them under stable names.
#
# `Module` does that bookkeeping once, for every layer and every model:
#
# * **Parameters are discovered, not declared.** Assign a `Parameter` (or a leaf Tensor with
#   `requires_grad=True`) or another `Module` to an attribute, and `parameters()` finds it by looking
#   through the object's attributes. Nested modules are searched recursively, and the dotted path
#   (`"blocks.0.attn.weight"`) becomes the parameter's name.
# * **One switch for train/eval.** `model.eval()` flips `training` on every sub-module, so layers such
#   as Dropout behave differently at test time without the caller knowing which layers care.
# * **state_dict.** `{name: array}` is all you need to save and restore a model.
#
# The API deliberately mirrors `torch.nn.Module`, so what you learn here transfers directly.

# %%
#| default_exp core.layers

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function

# %% [markdown]
# ## Parameter
#
# A `Parameter` is simply a Tensor that wants gradients. Having a separate class documents intent
# (`self.weight = Parameter(...)` reads as "this is learned") and gives a clearer `repr`. It is a
# subclass of `Tensor`, so every Tensor operation works on it unchanged.

# %%
#| export
class Parameter(Tensor):
    """A Tensor that is a learnable weight: requires_grad=True by default."""

    __slots__ = ()        # Tensor uses __slots__; keep Parameters just as small

    def __init__(self, data, requires_grad=True):
        # Integer arrays keep their dtype in a Tensor, but a weight must be a float: convert them.
        is_float = np.asarray(data.data if isinstance(data, Tensor) else data).dtype.kind == "f"
        super().__init__(data, requires_grad=requires_grad, dtype=None if is_float else np.float32)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# %% [markdown]
# ## Module
#
# How does `parameters()` find the weights? It looks at the instance's attributes (`vars(self)`,
# in the order they were assigned) and keeps
#
# * **Tensors with `requires_grad=True` that are leaves** (not produced by an operation). The "leaf"
#   condition matters: if a layer caches an intermediate result (`self.last_out = out`), that tensor
#   also requires grad, but it is not a weight and must not be handed to the optimizer;
# * **Modules**, which are searched recursively; their parameters get the attribute name as prefix.
#
# Looking the attributes up when asked (instead of registering them in `__setattr__`, as PyTorch
# does) keeps attribute access as fast as on any Python object, and keeps working if a subclass
# forgets to call `super().__init__()`.
#
# A parameter shared by two layers (weight tying: a GPT's embedding and output layer) is reported
# once, so an optimizer never updates it twice. Plain Python lists of modules are *not* searched;
# use `ModuleList` (below) so that membership is explicit.
#
# `state_dict()` returns *copies* of the arrays. Optimizers update weights in place, so a
# state_dict made of references would silently keep changing after you took it -- fatal for "keep
# the best checkpoint so far". `load_state_dict()` writes *into* the existing arrays, so an optimizer
# that holds the parameters keeps working after a restore.
#
# Some layers own arrays that are not learned but belong to the model's state (a running average, a
# pruning mask). `register_buffer(name, array)` stores such an array as an attribute and includes it
# in `state_dict()` (unless `persistent=False`, for things that can be recomputed, like a causal mask).

# %%
#| export
def _is_parameter(value):
    """A learnable weight: a leaf Tensor that requires grad (see the explanation above)."""
    return isinstance(value, Tensor) and value.requires_grad and value._ctx is None


class Module:
    """Base class of all layers and models: finds parameters, switches train/eval, saves state."""

    training = True       # a class default, so it exists even if __init__ was not called

    def __init__(self):
        self.training = True

    # ---- running the module ------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError("%s must implement forward()" % type(self).__name__)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- the module tree ---------------------------------------------------------------------
    def named_children(self):
        """Direct sub-modules as (attribute name, module) pairs, in assignment order."""
        return [(name, value) for name, value in vars(self).items() if isinstance(value, Module)]

    def children(self):
        return [module for _, module in self.named_children()]

    def named_modules(self, prefix=""):
        """This module and all sub-modules (each once) as (dotted name, module); self has name ''."""
        result, seen, stack = [], set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            result.append((name, module))
            children = module.named_children()
            for child_name, child in reversed(children):    # reversed: pop() keeps the order
                stack.append((name + "." + child_name if name else child_name, child))
        return result

    def modules(self):
        return [module for _, module in self.named_modules()]

    # ---- parameters --------------------------------------------------------------------------
    def _local_parameters(self):
        """Parameters held directly by this module (not by its children)."""
        return [(name, value) for name, value in vars(self).items() if _is_parameter(value)]

    def named_parameters(self):
        """All parameters of the tree as (dotted name, parameter), shared ones only once."""
        result, seen = [], set()
        for prefix, module in self.named_modules():
            for name, param in module._local_parameters():
                if id(param) not in seen:
                    seen.add(id(param))
                    result.append((prefix + "." + name if prefix else name, param))
        return result

    def parameters(self):
        return [param for _, param in self.named_parameters()]

    def zero_grad(self):
        """Forget accumulated gradients (set them to None: cheaper than filling with zeros)."""
        for param in self.parameters():
            param.grad = None

    # ---- train / eval ------------------------------------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- state -------------------------------------------------------------------------------
    def register_buffer(self, name, value, persistent=True):
        """Store a non-learned array as attribute `name`; persistent buffers go into state_dict."""
        setattr(self, name, value)
        buffers = self.__dict__.setdefault("_buffer_names", [])
        if persistent and name not in buffers:
            buffers.append(name)

    def _state_arrays(self):
        """name -> the live array of every parameter and persistent buffer."""
        state = {name: param.data for name, param in self.named_parameters()}
        for prefix, module in self.named_modules():
            for name in module.__dict__.get("_buffer_names", ()):
                value = getattr(module, name, None)
                if value is not None:             # a buffer may be unset (None) for now
                    state[prefix + "." + name if prefix else name] = _data_of(value)
        return state

    def state_dict(self):
        """{name: np.ndarray}: copies of all parameters and persistent buffers."""
        return {name: array.copy() for name, array in self._state_arrays().items()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays from `state` into this module's parameters and buffers (in place).
        With strict=True, missing or unexpected names are an error. Returns (missing, unexpected)."""
        own = self._state_arrays()
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if strict and (missing or unexpected):
            raise KeyError("load_state_dict: missing keys %s, unexpected keys %s" % (missing, unexpected))
        values = {name: np.asarray(_data_of(state[name])) for name in own if name in state}
        for name, value in values.items():       # check every shape before changing anything
            if value.shape != own[name].shape:
                raise ValueError("load_state_dict: %r has shape %s in the state but %s in the model"
                                 % (name, value.shape, own[name].shape))
        for name, value in values.items():
            own[name][...] = value               # in place, converting to the parameter's dtype
        return missing, unexpected

    # ---- printing ----------------------------------------------------------------------------
    def extra_repr(self):
        """Shown inside the parentheses of this module's repr, e.g. Linear(in=3, out=2)."""
        return ""

    def __repr__(self):
        children = self.named_children()
        if not children:
            return "%s(%s)" % (type(self).__name__, self.extra_repr())
        lines = ["%s(" % type(self).__name__]
        for name, child in children:
            lines.append("  (%s): %s" % (name, repr(child).replace("\n", "\n  ")))
        lines.append(")")
        return "\n".join(lines)


def _data_of(value):
    return value.data if isinstance(value, Tensor) else value


def _short_repr(item):
    """repr of a list item; objects without a custom repr (e.g. activations) print as `ReLU()`."""
    if type(item).__repr__ is object.__repr__:
        return "%s()" % type(item).__name__
    return repr(item)


# %% [markdown]
# ## ModuleList
#
# A list whose items are part of the module tree: their parameters are found, `train()`/`eval()`
# reach them, and their names are their positions (`"0.weight"`, `"1.weight"`, ...).
#
# Items do not have to be Modules: any callable is accepted (e.g. an activation object from module
# 03 or a plain function). Such items simply have no parameters and no train/eval state.
# `Sequential` (module 05) is a ModuleList that also knows how to run its items in order.

# %%
#| export
class ModuleList(Module):
    """A list of layers that takes part in parameter discovery, train/eval and state_dict."""

    def __init__(self, modules=None):
        super().__init__()
        self._items = list(modules) if modules is not None else []

    def append(self, module):
        self._items.append(module)
        return self

    def extend(self, modules):
        self._items.extend(modules)
        return self

    def insert(self, index, module):
        self._items.insert(index, module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._items[index])
        return self._items[index]

    def __setitem__(self, index, module):
        self._items[index] = module

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def named_children(self):
        items = [(str(i), item) for i, item in enumerate(self._items) if isinstance(item, Module)]
        return items + super().named_children()

    def __repr__(self):
        if not self._items:
            return "%s()" % type(self).__name__
        lines = ["%s(" % type(self).__name__]
        for i, item in enumerate(self._items):
            lines.append("  (%d): %s" % (i, _short_repr(item).replace("\n", "\n  ")))
        lines.append(")")
        return "\n".join(lines)


# %% [markdown]
# ## Linear: y = x @ W + b
#
# A fully connected layer maps `in_features` numbers to `out_features` numbers. We store the weight
# as `(in_features, out_features)` so that the forward pass is literally `x @ W + b` for a batch `x`
# of shape `(N, in)` -- or `(B, T, in)` for sequences; the matmul acts on the last axis.
#
# ### Why a fused Function?
# `x @ self.weight + self.bias` would work (autograd differentiates both operations). Writing the
# layer as one `Function` is faster, which matters because Linear layers do most of the work in an
# MLP or a transformer:
#
# * the leading axes are merged first, so `(B, T, in) @ (in, out)` is **one** large matrix multiply
#   (BLAS is at its best on big 2-D problems);
# * the bias is added **in place** into the matmul result: no second output-sized array;
# * the backward pass needs three products, each one call:
#   `dL/dx = g @ W^T`, `dL/dW = x^T @ g`, `dL/db = sum of g over all rows`;
#   and `ctx.needs_input_grad` lets it skip `dL/dx` for the input layer, whose input is data.
#
# ### Initialisation: Kaiming (He) uniform
# If weights are too large, activations grow layer after layer and explode; too small, and they
# shrink towards zero along with the gradients. The fix is to pick the weight variance so that the
# variance of the signal stays the same from layer to layer.
#
# An output unit sums `fan_in` products `x_i * w_i`, so `Var(y) = fan_in * Var(w) * E[x^2]`. ReLU
# zeroes half of its input, which halves `E[x^2]`; to compensate, **Kaiming/He** initialisation uses
# `Var(w) = 2 / fan_in`. A uniform distribution on `[-b, b]` has variance `b^2 / 3`, hence
# `b = sqrt(6 / fan_in)`. Biases start at zero (the random weights already break symmetry).
#
# This course's MLPs and CNNs use ReLU, so Kaiming is the default. For layers followed by tanh or
# sigmoid, or by nothing (attention projections, output layers), `init="xavier"` (Glorot) is a common
# alternative: `Var(w) = 2 / (fan_in + fan_out)`, i.e. `b = sqrt(6 / (fan_in + fan_out))`, which
# balances the forward signal and the backward gradient for activations that are linear around 0.
#
# Initial values come from NumPy's global generator, so `np.random.seed(...)` (or module 09's
# `seed_everything`) makes model construction reproducible.

# %%
#| exporti
class LinearFunction(Function):
    """out = x @ weight + bias, with x of shape (..., in) and weight of shape (in, out)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        x2d = x.reshape(-1, x.shape[-1])          # a view for contiguous x: no copy
        out = x2d @ weight
        if bias is not None:
            out += bias                           # in place: no extra output-sized array
        ctx.x2d, ctx.weight, ctx.x_shape = x2d, weight, x.shape
        return out.reshape(x.shape[:-1] + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad_out):
        g2d = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (g2d @ ctx.weight.T).reshape(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            grad_w = ctx.x2d.T @ g2d
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            # np.add.reduce is what .sum() calls, without its Python-level wrapper: for a small
            # layer that wrapper takes as long as the addition itself
            grad_b = np.add.reduce(g2d, axis=0)
        return grad_x, grad_w, grad_b


# %%
#| export
class Linear(Module):
    """Fully connected layer: y = x @ weight + bias, weight of shape (in_features, out_features)."""

    def __init__(self, in_features, out_features, bias=True, init="kaiming"):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        if init == "kaiming":
            bound = math.sqrt(6.0 / self.in_features)
        elif init == "xavier":
            bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        else:
            raise ValueError("init must be 'kaiming' or 'xavier', got %r" % (init,))
        weight = np.random.uniform(-bound, bound, (self.in_features, self.out_features))
        self.weight = Parameter(weight.astype(np.float32))
        self.bias = Parameter(np.zeros(self.out_features, dtype=np.float32)) if bias else None

    def forward(self, x):
        if not isinstance(x, Tensor) or x.dtype.kind != "f":
            x = Tensor(x, dtype=np.float32)       # integer inputs would make a float64 output
        if x.shape[-1] != self.in_features:
            raise ValueError("Linear expected inputs with %d features in the last axis, got shape %s"
                             % (self.in_features, x.shape))
        if self.bias is None:
            return LinearFunction.apply(x, self.weight)
        return LinearFunction.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return "in_features=%d, out_features=%d, bias=%s" % (
            self.in_features, self.out_features, self.bias is not None)


# %% [markdown]
# ## Dropout
#
# During training, Dropout zeroes each activation with probability `p`. The network cannot rely on
# any single unit, which reduces overfitting (a bit like training an ensemble of thinned networks).
#
# **Inverted dropout.** The surviving activations are multiplied by `1 / (1 - p)` *during training*,
# so the expected value of every activation is unchanged. At evaluation time Dropout is then the
# identity: no rescaling, no randomness, no cost. (Without the rescaling, every layer after it would
# see inputs that are `1 - p` times smaller at test time than they were during training.)
#
# The mask is a constant Tensor, so `x * mask` is differentiated by autograd's ordinary
# multiplication: the gradient flows through the kept units (times the same scale) and is zero for
# the dropped ones. The random numbers are drawn in float32 (4x cheaper than NumPy's default float64)
# from a generator seeded from NumPy's global one, so `np.random.seed` makes runs reproducible.

# %%
#| export
class Dropout(Module):
    """Inverted dropout: zero with probability p and scale by 1/(1-p) in training; identity in eval."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError("dropout probability must be in [0, 1], got %r" % (p,))
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if self.p == 1.0:                         # everything dropped (avoid dividing by zero)
            return x * 0.0
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        keep = rng.random(x.shape, dtype=np.float32) >= self.p
        mask = keep * np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        return x * Tensor(mask, dtype=mask.dtype)

    def extra_repr(self):
        return "p=%g" % self.p


# %% [markdown]
# ## Flatten
#
# Convolutional layers produce `(N, C, H, W)`; a Linear classifier wants `(N, features)`.
# `Flatten` keeps the batch axis (and any axis before `start_dim`) and merges the rest. It is a
# reshape, so it costs nothing for contiguous data and autograd reshapes the gradient back.

# %%
#| export
class Flatten(Module):
    """Merge all axes from start_dim on: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        return x.reshape(x.shape[:self.start_dim] + (-1,))

    def extra_repr(self):
        return "start_dim=%d" % self.start_dim


# %% [markdown]
# ## Checks
#
# Run `PYTHONPATH=course python course/modules/04_layers/layers.py` after exporting.

# %%
from tinytorch.core.autograd import gradcheck


class _TwoLayer(Module):
    def __init__(self):
        super().__init__()
        self.hidden = Linear(4, 8)
        self.drop = Dropout(0.5)
        self.out = Linear(8, 3)
        self.scale = Parameter(np.ones(3))

    def forward(self, x):
        return self.out(self.drop(self.hidden(x))) * self.scale


def test_unit_parameter_discovery():
    net = _TwoLayer()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"], names
    assert len(net.parameters()) == 5 and all(p.requires_grad for p in net.parameters())
    net.out.weight = net.hidden.weight            # a shared (tied) parameter is listed once
    assert len(net.parameters()) == 4


def test_unit_linear():
    layer = Linear(5, 3)
    x = Tensor(np.random.randn(4, 5))
    y = layer(x)
    assert y.shape == (4, 3) and y.dtype == np.float32
    assert np.allclose(y.data, x.data @ layer.weight.data + layer.bias.data, atol=1e-5)
    assert layer(Tensor(np.random.randn(2, 6, 5))).shape == (2, 6, 3), "works on (B, T, in) too"
    assert np.abs(Linear(1000, 10).weight.data).max() <= math.sqrt(6 / 1000)
    x = Tensor(np.random.randn(2, 3, 5), requires_grad=True)
    assert gradcheck(lambda x, w, b: LinearFunction.apply(x, w, b), [x, layer.weight, layer.bias])


def test_unit_dropout_and_modes():
    net = _TwoLayer()
    drop = Dropout(0.5)
    x = Tensor(np.ones((200, 100)))
    y = drop(x).data
    assert set(np.unique(y)) <= {0.0, 2.0} and abs(y.mean() - 1.0) < 0.05, "inverted dropout"
    net.eval()
    assert not net.drop.training and not net.hidden.training, "eval() reaches every sub-module"
    assert net.drop(x) is x, "identity in eval mode"
    net.train()
    assert net.drop.training


def test_unit_state_dict():
    a, b = _TwoLayer(), _TwoLayer()
    state = a.state_dict()
    assert set(state) == {"scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"}
    b.load_state_dict(state)
    x = Tensor(np.random.randn(2, 4))
    a.eval(), b.eval()
    assert np.allclose(a(x).data, b(x).data)
    a.hidden.weight.data += 1.0                   # state_dict holds copies, not references
    assert not np.allclose(state["hidden.weight"], a.hidden.weight.data)


def test_unit_flatten():
    assert Flatten()(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 60)


# %%
if __name__ == "__main__":
    test_unit_parameter_discovery()
    test_unit_linear()
    test_unit_dropout_and_modes()
    test_unit_state_dict()
    test_unit_flatten()
    print("layers: all checks passed")
