# Module 05 (dense): composing layers into networks.
# `Sequential` runs a list of layers one after another (activation objects from module 03 included);
# `MLP` / `create_mlp` build the classic multi-layer perceptron: Linear -> activation -> ... -> Linear.
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
# # Module 05: Dense networks
#
# Module 04 gave us single layers. Most networks are, at least in parts, a *chain*: the output of
# one layer is the input of the next. Writing a `forward` method for every chain is boilerplate, so
# frameworks provide a container that does it: `Sequential`.
#
# With `Sequential` and `Linear` we can build the oldest deep-learning architecture, the
# **multi-layer perceptron** (MLP): Linear layers with a nonlinearity between them.
#
# Why the nonlinearity? Two Linear layers in a row are still one linear map
# (`(x @ W1) @ W2 = x @ (W1 @ W2)`), so stacking them adds no expressive power. A ReLU between them
# bends the function; with enough hidden units, a one-hidden-layer MLP can approximate any
# continuous function on a bounded domain (the universal approximation theorem). Depth makes many
# functions far cheaper to represent than width alone.
#
# There is deliberately *no* activation after the last layer: a classifier's output layer produces
# logits, and the loss (module 06) applies a fused log-softmax itself -- faster and numerically
# safer than softmax followed by a log.

# %%
#| default_exp core.dense

# %%
#| export
from tinytorch.core.layers import ModuleList, Linear, Dropout
from tinytorch.core.activations import ReLU

# %% [markdown]
# ## Sequential
#
# `Sequential(layer1, layer2, ...)` calls the layers in order. It is a `ModuleList` (module 04), so
# it is indexable (`model[0]`, `model[1:]` gives a new Sequential sharing the same layers), has a
# length, can be extended with `append`, and its parameters are named by position
# (`"0.weight"`, `"2.bias"`).
#
# Items only need to be callable: Modules (Linear, Dropout, another Sequential), activation objects
# from module 03 (`ReLU()`), or even plain functions (`lambda x: x * 2`). Only Modules contribute
# parameters and react to `train()`/`eval()`.

# %%
#| export
def _check_callable(layer):
    if not callable(layer):
        raise TypeError("Sequential items must be callable layers, got %r" % (layer,))
    return layer


class Sequential(ModuleList):
    """Apply layers one after another: Sequential(Linear(2, 8), ReLU(), Linear(8, 1))."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = layers[0]                    # Sequential([a, b]) works as well as Sequential(a, b)
        super().__init__([_check_callable(layer) for layer in layers])

    def append(self, layer):
        return super().append(_check_callable(layer))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._items[index])
        return self._items[index]

    def forward(self, x):
        for layer in self._items:
            x = layer(x)
        return x


# %% [markdown]
# ## MLP
#
# `MLP(sizes)` turns a list of layer widths into a network. `MLP([2, 64, 64, 3])` is
#
# ```
# Linear(2, 64) -> ReLU -> Linear(64, 64) -> ReLU -> Linear(64, 3)
# ```
#
# `activation` may be a class (a fresh instance is made for every hidden layer), an instance or a
# function (used as is), or `None` for a purely linear model. `dropout > 0` adds a `Dropout` after
# every hidden activation -- the usual place, so the next Linear layer sees the thinned activations.
#
# An MLP *is* a Sequential, so everything above (indexing, named parameters, `eval()`) works on it.
# `create_mlp(input_size, hidden_sizes, output_size)` is the same thing with the widths spelled out.

# %%
#| export
def _activation_layer(activation):
    """A class becomes a fresh instance per layer; instances and functions are used as they are."""
    return activation() if isinstance(activation, type) else activation


class MLP(Sequential):
    """Multi-layer perceptron: Linear layers of the given widths with an activation between them."""

    def __init__(self, sizes, activation=ReLU, dropout=0.0):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError("MLP needs at least an input and an output size, got %r" % (sizes,))
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(Linear(sizes[i], sizes[i + 1]))
            is_hidden = i < len(sizes) - 2        # no activation after the output layer
            if is_hidden and activation is not None:
                layers.append(_activation_layer(activation))
            if is_hidden and dropout > 0:
                layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes = sizes


def create_mlp(input_size, hidden_sizes, output_size, activation=ReLU, dropout=0.0):
    """MLP([input_size, *hidden_sizes, output_size]); hidden_sizes may be one int or a list."""
    if isinstance(hidden_sizes, int):
        hidden_sizes = [hidden_sizes]
    return MLP([input_size] + list(hidden_sizes) + [output_size], activation=activation, dropout=dropout)


# %% [markdown]
# ## Checks
#
# The last check trains a tiny MLP on XOR -- the classic function no linear model can represent --
# with a hand-written mean squared error and plain gradient descent (losses and optimizers come in
# modules 06 and 07).

# %%
import numpy as np
from tinytorch.core.tensor import Tensor
from tinytorch.core.activations import Tanh


def test_unit_sequential():
    model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    assert len(model) == 3 and isinstance(model[1], ReLU)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model(Tensor(np.random.randn(5, 3))).shape == (5, 2)
    model.append(ReLU())
    assert len(model) == 4 and isinstance(model[:2], Sequential) and len(model[:2]) == 2
    assert np.all(model(Tensor(np.random.randn(5, 3))).data >= 0)


def test_unit_mlp():
    mlp = MLP([2, 16, 16, 3])
    assert [type(layer).__name__ for layer in mlp] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert len(mlp.parameters()) == 6
    net = create_mlp(2, [8], 1, activation=Tanh, dropout=0.1)
    assert [type(layer).__name__ for layer in net] == ["Linear", "Tanh", "Dropout", "Linear"]


def test_unit_xor():
    np.random.seed(0)
    x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = Tensor([[0], [1], [1], [0]])
    model = MLP([2, 8, 1], activation=Tanh)
    for _ in range(500):
        loss = ((model(x) - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.2 * p.grad.data
    assert loss.item() < 0.01, loss.item()


# %%
if __name__ == "__main__":
    test_unit_sequential()
    test_unit_mlp()
    test_unit_xor()
    print("dense: all checks passed")
