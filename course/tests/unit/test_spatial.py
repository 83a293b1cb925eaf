"""Unit tests of module 10 (spatial): Conv2d, MaxPool2d and AvgPool2d against naive loops,
finite-difference gradient checks for every Function of the module, and PyTorch parity when
torch is installed. Imports only the installed `tinytorch` package."""
import weakref

import numpy as np
import pytest

import tinytorch
from tinytorch.core.autograd import gradcheck, registered_functions
from tinytorch.core.spatial import AvgPool2dFunction, Conv2dFunction, MaxPool2dFunction
from tinytorch import AvgPool2d, Conv2d, MaxPool2d, Tensor

GRADCHECKED = {Conv2dFunction, MaxPool2dFunction, AvgPool2dFunction}


def naive_conv(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


def naive_pool(x, k, s, reduce):
    n, c, h, w = x.shape
    ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = reduce(x[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]], axis=(2, 3))
    return out


@pytest.mark.parametrize("stride,pad,kernel", [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 0, 2), ((1, 2), (2, 0), (3, 2))])
def test_conv2d_matches_naive_loops(stride, pad, kernel):
    rng = np.random.default_rng(0)
    conv = Conv2d(3, 5, kernel, stride=stride, padding=pad)
    conv.bias.data[:] = rng.standard_normal(5)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    y = conv(Tensor(x))
    ref = naive_conv(x, conv.weight.data, conv.bias.data, conv.stride, conv.padding)
    assert y.shape == ref.shape and y.dtype == np.float32
    assert np.allclose(y.data, ref, atol=1e-4)


def test_conv2d_layer_basics():
    conv = Conv2d(2, 4, 3)
    assert conv.weight.shape == (4, 2, 3, 3) and conv.bias.shape == (4,)
    assert len(conv.parameters()) == 2
    assert len(Conv2d(2, 4, 3, bias=False).parameters()) == 1
    bound = np.sqrt(6.0 / 18)
    assert np.abs(conv.weight.data).max() <= bound
    with pytest.raises(ValueError):
        conv(Tensor(np.zeros((1, 3, 5, 5))))         # wrong number of channels
    with pytest.raises(ValueError):
        conv(Tensor(np.zeros((2, 5, 5))))            # not NCHW
    with pytest.raises(ValueError):
        conv(Tensor(np.zeros((1, 2, 2, 2))))         # kernel larger than the image


@pytest.mark.parametrize("stride,pad", [((1, 1), (1, 1)), ((2, 2), (0, 0)), ((2, 1), (0, 1))])
def test_conv2d_gradcheck(stride, pad):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: Conv2dFunction.apply(x, w, b, stride, pad), [x, w, b])
    assert gradcheck(lambda x, w: Conv2dFunction.apply(x, w, None, stride, pad), [x, w])


def test_conv2d_skips_input_gradient_for_data():
    conv = Conv2d(1, 2, 3, padding=1)
    x = Tensor(np.random.rand(2, 1, 4, 4))
    conv(x).sum().backward()
    assert x.grad is None and conv.weight.grad.shape == (2, 1, 3, 3)
    assert np.allclose(conv.bias.grad.data, 2 * 16)     # every output pixel contributes 1


def test_pooling_values():
    x = Tensor(np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4))
    assert MaxPool2d(2)(x).data[0, 0].tolist() == [[5, 7], [13, 15]]
    assert AvgPool2d(2)(x).data[0, 1].tolist() == [[18.5, 20.5], [26.5, 28.5]]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    for k, s in [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (1, 3))]:
        assert np.allclose(MaxPool2d(k, s)(Tensor(x)).data, naive_pool(x, k, s, np.max), atol=1e-6)
        assert np.allclose(AvgPool2d(k, s)(Tensor(x)).data, naive_pool(x, k, s, np.mean), atol=1e-6)
    assert MaxPool2d(2).stride == (2, 2) and MaxPool2d(3, 1).stride == (1, 1)
    with pytest.raises(ValueError):
        MaxPool2d(5)(Tensor(np.zeros((1, 1, 4, 4))))


def test_maxpool_ties_send_gradient_to_one_input():
    x = Tensor(np.ones((1, 1, 2, 2), dtype=np.float32), requires_grad=True)
    MaxPool2d(2)(x).sum().backward()
    assert x.grad.data.ravel().tolist() == [1, 0, 0, 0]     # the first maximum, like PyTorch


@pytest.mark.parametrize("k,s", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2)), ((2, 2), (3, 3))])
def test_pooling_gradcheck(k, s):
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 2, 7, 7)), requires_grad=True)
    assert gradcheck(lambda t: MaxPool2dFunction.apply(t, k, s), [x])
    assert gradcheck(lambda t: AvgPool2dFunction.apply(t, k, s), [x])


def test_small_cnn_end_to_end_gradients():
    rng = np.random.default_rng(4)
    model = tinytorch.Sequential(Conv2d(1, 3, 3, padding=1), tinytorch.ReLU(), MaxPool2d(2),
                                 Conv2d(3, 2, 3, padding=1), AvgPool2d(2), tinytorch.Flatten())
    x = Tensor(rng.standard_normal((2, 1, 8, 8)), requires_grad=True)
    assert model(x).shape == (2, 8)
    assert gradcheck(lambda x: model(x), [x])


def test_relu_and_pooling_free_the_arrays_between_layers():
    """ReLU saves a boolean mask, pooling the winners or only the input's shape, and a graph node
    links to its inputs' nodes, not to the input Tensors: the float arrays between the layers of a
    CNN are freed during the forward pass instead of being kept until the backward."""
    rng = np.random.default_rng(5)
    conv = Conv2d(1, 2, 3, padding=1)
    x = Tensor(rng.standard_normal((2, 1, 8, 8)).astype(np.float32))
    for pool in (MaxPool2d(2), AvgPool2d(2)):
        h = conv(x)
        conv_out = weakref.ref(h.data)
        r = tinytorch.ReLU()(h)
        del h
        relu_out = weakref.ref(r.data)
        out = pool(r)
        del r
        assert conv_out() is None, "the graph keeps the convolution's output alive"
        assert relu_out() is None, "the graph keeps ReLU's output alive"
        conv.weight.grad = None
        out.sum().backward()
        assert conv.weight.grad is not None and np.abs(conv.weight.grad.data).sum() > 0


def test_every_spatial_function_is_gradchecked():
    defined = set(registered_functions("tinytorch.core.spatial").values())
    assert defined == GRADCHECKED, "Function without a gradient check: %s" % (defined - GRADCHECKED)


# ---- PyTorch parity (skipped when torch is not installed) ----------------------------------------
def test_conv_and_pool_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    conv = Conv2d(2, 4, 3, stride=2, padding=1)
    conv.bias.data[:] = rng.standard_normal(4)
    tx = Tensor(x, requires_grad=True)
    out = MaxPool2d(2)(conv(tx))
    avg = AvgPool2d(3, 1)(tx)
    g_out = rng.standard_normal(out.shape).astype(np.float32)
    g_avg = rng.standard_normal(avg.shape).astype(np.float32)
    (out * Tensor(g_out)).sum().backward()
    (avg * Tensor(g_avg)).sum().backward()

    px = torch.tensor(x, requires_grad=True)
    pw = torch.tensor(conv.weight.data.copy(), requires_grad=True)
    pb = torch.tensor(conv.bias.data.copy(), requires_grad=True)
    pout = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(px, pw, pb, stride=2, padding=1), 2)
    pavg = torch.nn.functional.avg_pool2d(px, 3, 1)
    ((pout * torch.tensor(g_out)).sum() + (pavg * torch.tensor(g_avg)).sum()).backward()
    assert np.allclose(out.data, pout.detach().numpy(), atol=1e-5)
    assert np.allclose(avg.data, pavg.detach().numpy(), atol=1e-5)
    assert np.allclose(tx.grad.data, px.grad.numpy(), atol=1e-5)
    assert np.allclose(conv.weight.grad.data, pw.grad.numpy(), atol=1e-5)
    assert np.allclose(conv.bias.grad.data, pb.grad.numpy(), atol=1e-5)
