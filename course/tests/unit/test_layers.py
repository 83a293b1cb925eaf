# Unit tests for module 04 (layers): Parameter, Module bookkeeping (parameter discovery, train/eval,
# zero_grad, state_dict/load_state_dict, buffers), ModuleList, Linear (values, initialisation,
# fused Function gradient check), Dropout (inverted, identity in eval), Flatten, a coverage test that
# every Function of the module is gradient-checked, and parity with PyTorch when it is installed.
import math

import numpy as np
import pytest

from tinytorch import Tensor, gradcheck, no_grad
from tinytorch.core.autograd import registered_functions
from tinytorch.core.layers import Module, Parameter, ModuleList, Linear, Dropout, Flatten, LinearFunction
from tinytorch.core.activations import ReLU

RNG = np.random.default_rng(404)


def rand(*shape, requires_grad=True):
    return Tensor(RNG.standard_normal(shape), requires_grad=requires_grad)


def functions_in_graph(out):
    """Names of the Function classes recorded in the graph that produced `out`."""
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


class Block(Module):
    def __init__(self, n=4):
        super().__init__()
        self.fc = Linear(n, n)
        self.drop = Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))


class Net(Module):
    def __init__(self):
        super().__init__()
        self.scale = Parameter(np.ones(4))
        self.frozen = Tensor(np.ones(4))                   # requires_grad=False: not a parameter
        self.blocks = ModuleList([Block(), ReLU(), Block()])
        self.head = Linear(4, 2)

    def forward(self, x):
        for layer in self.blocks:
            x = layer(x)
        return self.head(x * self.scale)


# ---- Parameter --------------------------------------------------------------------------------
def test_parameter_is_a_float32_tensor_that_requires_grad():
    p = Parameter(np.arange(3))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float32
    assert "Parameter" in repr(p)
    assert not Parameter([1.0], requires_grad=False).requires_grad
    y = (p * 2).sum()
    y.backward()
    assert np.allclose(p.grad.data, 2.0)


# ---- Module: discovery ------------------------------------------------------------------------
def test_named_parameters_are_found_recursively_in_assignment_order():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.2.fc.weight",
                     "blocks.2.fc.bias", "head.weight", "head.bias"]
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert all(p.requires_grad for p in net.parameters())


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["blocks", "head"]
    assert net.children() == [net.blocks, net.head]
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "blocks", "blocks.0", "blocks.0.fc", "blocks.0.drop", "blocks.2",
                     "blocks.2.fc", "blocks.2.drop", "head"]
    assert len(net.modules()) == len(names)


def test_intermediate_results_are_not_parameters():
    class Caching(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(3, 2)

        def forward(self, x):
            self.last = self.fc(x)                         # requires grad, but is not a leaf
            return self.last

    m = Caching()
    m(rand(4, 3))
    assert [n for n, _ in m.named_parameters()] == ["fc.weight", "fc.bias"]


def test_plain_requires_grad_tensors_are_parameters():
    class Raw(Module):
        def __init__(self):
            super().__init__()
            self.w = Tensor(np.ones((2, 2)), requires_grad=True)

    assert [n for n, _ in Raw().named_parameters()] == ["w"]


def test_shared_parameters_are_listed_once():
    net = Net()
    net.head.weight = net.blocks[0].fc.weight[:, :2].detach()      # unrelated tensor: not a param
    assert "head.weight" not in dict(net.named_parameters())
    net = Net()
    net.blocks[2].fc.weight = net.blocks[0].fc.weight                # tied weights
    params = net.parameters()
    assert len(params) == 6 and len({id(p) for p in params}) == 6


def test_a_module_without_super_init_still_works():
    class Lazy(Module):
        def __init__(self):                                 # forgot super().__init__()
            self.fc = Linear(2, 2)

    m = Lazy()
    assert m.training and len(m.parameters()) == 2
    assert not m.eval().training


def test_call_runs_forward_and_base_forward_is_abstract():
    with pytest.raises(NotImplementedError):
        Module()(1)
    net = Net().eval()
    x = rand(3, 4, requires_grad=False)
    assert np.array_equal(net(x).data, net.forward(x).data)


# ---- Module: zero_grad, train/eval -------------------------------------------------------------
def test_zero_grad_clears_every_gradient():
    net = Net()
    net(rand(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_module():
    net = Net()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.blocks[2].drop.training


# ---- Module: state_dict -----------------------------------------------------------------------
def test_state_dict_round_trip():
    a, b = Net(), Net()
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    params_before = [id(p) for p in b.parameters()]
    b.load_state_dict(state)
    assert [id(p) for p in b.parameters()] == params_before, "loading writes in place"
    x = rand(6, 4, requires_grad=False)
    assert np.array_equal(a.eval()(x).data, b.eval()(x).data)
    for name, p in b.named_parameters():
        assert np.array_equal(p.data, state[name]) and p.dtype == np.float32


def test_state_dict_holds_copies():
    net = Net()
    state = net.state_dict()
    net.head.weight.data -= 1.0                            # an optimizer step updates in place
    assert not np.allclose(state["head.weight"], net.head.weight.data)
    state["head.bias"][:] = 5.0
    assert not np.allclose(net.head.bias.data, 5.0)


def test_load_state_dict_checks_keys_and_shapes():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError):
        net.load_state_dict(state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra"]
    bad = {name: np.zeros_like(value) for name, value in net.state_dict().items()}
    bad["head.weight"] = np.zeros((3, 3))
    before = net.state_dict()
    with pytest.raises(ValueError):
        net.load_state_dict(bad)
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items()), "nothing changed"


def test_load_state_dict_accepts_tensors_and_other_dtypes():
    layer = Linear(2, 3)
    layer.load_state_dict({"weight": Tensor(np.ones((2, 3))), "bias": np.arange(3, dtype=np.float64)})
    assert np.allclose(layer.weight.data, 1) and np.allclose(layer.bias.data, [0, 1, 2])
    assert layer.bias.dtype == np.float32


def test_buffers_are_saved_unless_non_persistent():
    class WithBuffers(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(2, 2)
            self.register_buffer("running", np.zeros(2, dtype=np.float32))
            self.register_buffer("mask", np.ones((2, 2), dtype=np.float32), persistent=False)

    a, b = WithBuffers(), WithBuffers()
    a.running += 3.0
    assert set(a.state_dict()) == {"fc.weight", "fc.bias", "running"}
    b.load_state_dict(a.state_dict())
    assert np.allclose(b.running, 3.0)
    outer = ModuleList([a])
    assert "0.running" in outer.state_dict()


# ---- ModuleList -------------------------------------------------------------------------------
def test_module_list_behaves_like_a_list():
    items = ModuleList([Linear(2, 3), ReLU()])
    items.append(Linear(3, 1))
    assert len(items) == 3 and isinstance(items[1], ReLU) and isinstance(items[-1], Linear)
    assert [type(m).__name__ for m in items] == ["Linear", "ReLU", "Linear"]
    sub = items[::2]
    assert isinstance(sub, ModuleList) and len(sub) == 2 and sub[1] is items[2]
    assert [n for n, _ in items.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    items.extend([Linear(1, 1)])
    items[1] = Flatten()
    assert len(items) == 4 and isinstance(items[1], Flatten)
    assert "ReLU" in repr(ModuleList([ReLU()])) and repr(ModuleList()) == "ModuleList()"


# ---- Linear -----------------------------------------------------------------------------------
def test_linear_forward_is_x_at_w_plus_b():
    layer = Linear(5, 3)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (3,)
    x = rand(4, 5, requires_grad=False)
    x32 = Tensor(x.data.astype(np.float32))
    y = layer(x32)
    assert y.shape == (4, 3) and y.dtype == np.float32
    assert np.allclose(y.data, x32.data @ layer.weight.data + layer.bias.data, atol=1e-5)
    assert "LinearFunction" in functions_in_graph(y)


def test_linear_accepts_any_leading_axes_and_arrays():
    layer = Linear(5, 3)
    assert layer(rand(2, 7, 5)).shape == (2, 7, 3)
    assert layer(rand(5)).shape == (3,)
    assert layer(np.ones((2, 5), dtype=np.float32)).shape == (2, 3)
    assert layer(Tensor(np.ones((2, 5), dtype=np.int64))).dtype == np.float32
    with pytest.raises(ValueError):
        layer(rand(2, 4))


def test_linear_without_bias():
    layer = Linear(3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = rand(4, 3, requires_grad=False)
    assert np.allclose(layer(x).data, x.data.astype(np.float32) @ layer.weight.data, atol=1e-5)
    assert "bias=False" in repr(layer)


def test_kaiming_and_xavier_initialisation():
    np.random.seed(0)
    layer = Linear(500, 400)
    bound = math.sqrt(6 / 500)
    w = layer.weight.data
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert np.isclose(w.var(), 2 / 500, rtol=0.05), "Kaiming: Var(w) = 2 / fan_in"
    assert np.all(layer.bias.data == 0)
    xavier = Linear(500, 400, init="xavier").weight.data
    assert np.isclose(xavier.var(), 2 / 900, rtol=0.05), "Xavier: Var(w) = 2 / (fan_in + fan_out)"
    with pytest.raises(ValueError):
        Linear(2, 2, init="zeros")


def test_initialisation_is_reproducible_with_the_global_seed():
    np.random.seed(7)
    a = Linear(4, 4).weight.data.copy()
    np.random.seed(7)
    assert np.array_equal(a, Linear(4, 4).weight.data)


def test_kaiming_keeps_the_signal_scale_through_a_deep_relu_stack():
    np.random.seed(1)
    x = Tensor(np.random.randn(256, 256))
    h = x
    with no_grad():
        for _ in range(20):
            h = ReLU()(Linear(256, 256)(h))
    ratio = np.sqrt((h.data ** 2).mean()) / np.sqrt((x.data ** 2).mean())
    assert 0.3 < ratio < 3.0, ratio


def test_linear_skips_the_input_gradient_for_data():
    layer = Linear(3, 2)
    x = rand(4, 3, requires_grad=False)
    layer(x).sum().backward()
    assert x.grad is None
    assert np.allclose(layer.weight.grad.data, x.data.sum(axis=0)[:, None].repeat(2, axis=1), atol=1e-5)
    assert np.allclose(layer.bias.grad.data, 4.0)


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3), (3,)], ids=["2d", "3d", "1d"])
def test_gradcheck_LinearFunction(shape):
    x, w, b = rand(*shape), rand(3, 2), rand(2)
    assert gradcheck(lambda x, w, b: LinearFunction.apply(x, w, b), [x, w, b])


def test_gradcheck_LinearFunction_without_bias():
    x, w = rand(2, 4, 3), rand(3, 5)
    assert gradcheck(lambda x, w: LinearFunction.apply(x, w), [x, w])


def test_gradcheck_linear_layer():
    layer = Linear(3, 4)
    x = rand(5, 3)
    assert gradcheck(layer, [x])

    def with_weights(w, b):                                 # the layer as a function of its weights
        layer.weight, layer.bias = w, b
        return layer(x)

    assert gradcheck(with_weights, [layer.weight, layer.bias])


def test_every_layers_function_has_a_gradient_check():
    registered = {f.__name__ for f in registered_functions("tinytorch.core.layers").values()}
    tested = {name[len("test_gradcheck_"):].split("_without")[0] for name in globals()
              if name.startswith("test_gradcheck_")}
    assert registered == {"LinearFunction"}
    assert registered <= tested, "Functions without a gradient check: %s" % (registered - tested)


# ---- Dropout ----------------------------------------------------------------------------------
def test_dropout_is_inverted_in_training():
    np.random.seed(0)
    drop = Dropout(0.25)
    x = Tensor(np.ones((400, 500), dtype=np.float32))
    y = drop(x).data
    assert y.dtype == np.float32
    assert set(np.unique(y).tolist()) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01, "drops a fraction p"
    assert abs(y.mean() - 1.0) < 0.01, "keeps the expected value"


def test_dropout_is_the_identity_in_eval_and_for_p0():
    x = rand(3, 4)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0)(x) is x
    assert np.all(Dropout(1.0)(x).data == 0)
    with pytest.raises(ValueError):
        Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask():
    x = Tensor(np.ones((50, 40)), requires_grad=True)
    y = Dropout(0.5)(x)
    (y * 3.0).sum().backward()
    assert np.allclose(x.grad.data, 3.0 * y.data)


def test_dropout_is_reproducible_with_the_global_seed():
    x = Tensor(np.ones((10, 10)))
    np.random.seed(3)
    a = Dropout(0.5)(x).data
    np.random.seed(3)
    assert np.array_equal(a, Dropout(0.5)(x).data)
    assert not np.array_equal(a, Dropout(0.5)(x).data), "fresh mask on every call"


# ---- Flatten ----------------------------------------------------------------------------------
def test_flatten_keeps_the_batch_axis():
    x = rand(2, 3, 4, 5)
    assert Flatten()(x).shape == (2, 60)
    assert Flatten(start_dim=2)(x).shape == (2, 3, 20)
    assert Flatten(start_dim=0)(x).shape == (120,)
    assert np.array_equal(Flatten()(x).data.reshape(x.shape), x.data)


def test_flatten_gradient_has_the_input_shape():
    x = rand(2, 3, 2)
    assert gradcheck(Flatten(), [x])
    Flatten()(x).sum().backward()
    assert x.grad.shape == (2, 3, 2)


def test_repr_shows_the_tree():
    text = repr(Net())
    assert "(blocks): ModuleList(" in text and "(head): Linear(in_features=4, out_features=2" in text
    assert "Dropout(p=0.5)" in text and "ReLU()" in text


# ---- parity with PyTorch ----------------------------------------------------------------------
def test_linear_matches_pytorch():
    torch = pytest.importorskip("torch")
    layer = Linear(6, 4)
    layer.bias.data[:] = RNG.standard_normal(4).astype(np.float32)
    x_np = RNG.standard_normal((3, 5, 6)).astype(np.float32)
    g_np = RNG.standard_normal((3, 5, 4)).astype(np.float32)

    x = Tensor(x_np.copy(), requires_grad=True)
    y = layer(x)
    y.backward(g_np)

    xt = torch.tensor(x_np, requires_grad=True)
    wt = torch.tensor(layer.weight.data.T.copy(), requires_grad=True)    # torch stores (out, in)
    bt = torch.tensor(layer.bias.data.copy(), requires_grad=True)
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(g_np))

    assert np.allclose(y.data, yt.detach().numpy(), atol=1e-5)
    assert np.allclose(x.grad.data, xt.grad.numpy(), atol=1e-5)
    assert np.allclose(layer.weight.grad.data, wt.grad.numpy().T, atol=1e-5)
    assert np.allclose(layer.bias.grad.data, bt.grad.numpy(), atol=1e-5)
