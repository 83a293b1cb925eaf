# Unit tests for module 01 (tensor): creation and dtype rules, arithmetic with broadcasting, batched
# matmul, reductions, shape operations, indexing, element-wise math, comparisons, joining and
# conversion. Gradients of these operations are checked in test_autograd.py.
import numpy as np
import pytest

from tinytorch import Tensor, concatenate, stack, zeros, ones, randn, arange

RNG = np.random.default_rng(0)


def randt(*shape):
    return Tensor(RNG.standard_normal(shape).astype(np.float32))


# ---- creation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [1, 2.5, [1, 2, 3], [[1.0, 2.0], [3.0, 4.0]], np.float64(3.0)])
def test_python_data_becomes_float32(data):
    assert Tensor(data).dtype == np.float32


def test_array_dtype_rules():
    assert Tensor(np.zeros(3)).dtype == np.float32                      # float64 -> float32
    assert Tensor(np.arange(3)).dtype == np.arange(3).dtype             # integer arrays keep dtype
    assert Tensor(np.array([True, False])).dtype == np.bool_
    assert Tensor([1, 2], dtype=np.int64).dtype == np.int64
    assert Tensor(np.zeros(3), dtype=np.float64).dtype == np.float64


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError):
        Tensor(np.arange(3), requires_grad=True)
    assert Tensor([1, 2], requires_grad=True).dtype == np.float32      # Python ints become float32


def test_from_a_list_of_tensors():
    a = Tensor([1.0, 2.0])
    assert Tensor([a, a]).shape == (2, 2)


def test_no_copy_when_not_needed():
    a = np.ones((2, 2), dtype=np.float32)
    t = Tensor(a)
    assert t.data is a and t.numpy() is a
    assert Tensor(t).data is a


def test_attributes():
    t = Tensor(np.zeros((2, 3, 4)))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and len(t) == 2
    assert not t.requires_grad and t.grad is None
    assert Tensor([1.0], requires_grad=True).requires_grad


def test_repr_is_useful():
    r = repr(Tensor([[1.0, 2.0]], requires_grad=True))
    assert r.startswith("Tensor(") and "1." in r and "requires_grad=True" in r
    assert "int64" in repr(Tensor(np.arange(3, dtype=np.int64)))
    assert "grad_fn=<Mul>" in repr(Tensor([1.0], requires_grad=True) * 2)
    assert "..." in repr(Tensor(np.zeros((100, 100))))          # large tensors are summarised


def test_helpers():
    assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).data.sum() == 0
    assert ones(4).data.sum() == 4 and ones(4).dtype == np.float32
    assert randn(3, 2, seed=1).dtype == np.float32
    assert np.array_equal(randn(3, seed=1).data, randn(3, seed=1).data)
    assert np.array_equal(arange(4).data, [0, 1, 2, 3]) and arange(4).dtype == np.float32
    assert ones(2, requires_grad=True).requires_grad


# ---- arithmetic -------------------------------------------------------------------------------
def test_arithmetic_matches_numpy_with_broadcasting():
    a, b = randt(4, 1, 3), randt(5, 1)
    for got, want in [(a + b, a.data + b.data), (a - b, a.data - b.data), (a * b, a.data * b.data),
                      (a / (b.abs() + 1), a.data / (np.abs(b.data) + 1)), (-a, -a.data),
                      (a ** 2, a.data ** 2)]:
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.allclose(got.data, want, atol=1e-6)


def test_scalars_and_arrays_on_either_side():
    a = Tensor([1.0, 2.0, 4.0])
    assert np.allclose((2 + a).data, [3, 4, 6]) and np.allclose((a + 2).data, [3, 4, 6])
    assert np.allclose((10 - a).data, [9, 8, 6]) and np.allclose((a - 1).data, [0, 1, 3])
    assert np.allclose((3 * a).data, [3, 6, 12]) and np.allclose((8 / a).data, [8, 4, 2])
    assert np.allclose((2 ** a).data, [2, 4, 16]) and np.allclose(a.pow(0.5).data, np.sqrt(a.data))
    out = np.array([1.0, 1.0, 1.0]) + a                       # ndarray on the left
    assert isinstance(out, Tensor) and np.allclose(out.data, [2, 3, 5])
    assert isinstance(np.ones((3, 3)) @ a, Tensor)


def test_float32_is_preserved():
    a = randt(3)
    for out in (a * 0.5, a + 1, a / 3, a ** 2, a * np.float64(0.5), a + np.ones(3), a * np.sqrt(2.0),
                a.mean(), a.exp(), 1.0 - a):
        assert out.dtype == np.float32, out


# ---- matmul -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((2, 3), (3,)), ((4,), (4,))])
def test_matmul_shapes_and_values(sa, sb):
    a, b = randt(*sa), randt(*sb)
    want = np.matmul(a.data, b.data)
    got = a @ b
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(got.data, want, atol=1e-5)
    assert np.allclose(a.matmul(b).data, want, atol=1e-5)


# ---- reductions -------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(axis, keepdims):
    x = randt(2, 3, 4)
    for name in ("sum", "mean", "max", "min"):
        got = getattr(x, name)(axis=axis, keepdims=keepdims)
        want = getattr(np, name)(x.data, axis=axis, keepdims=keepdims)
        assert got.shape == np.shape(want), name
        assert np.allclose(got.data, want, atol=1e-6), name


def test_mean_of_a_mask_is_float32():
    x = Tensor([1.0, -2.0, 3.0, 4.0])
    acc = (x > 0).mean()
    assert acc.dtype == np.float32 and np.isclose(acc.item(), 0.75)
    assert (x > 0).sum().item() == 3


def test_argmax():
    x = Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]])
    assert x.argmax(axis=1).data.tolist() == [1, 0] and x.argmax().item() == 3


# ---- shapes -----------------------------------------------------------------------------------
def test_reshape_variants():
    x = arange(24)
    assert x.reshape(2, 3, 4).shape == (2, 3, 4)
    assert x.reshape((4, -1)).shape == (4, 6)
    assert x.view(6, 4).shape == (6, 4)
    y = x.reshape(2, 3, 4)
    assert y.flatten(1).shape == (2, 12) and y.flatten().shape == (24,)
    assert y.unsqueeze(0).shape == (1, 2, 3, 4) and y.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert y.unsqueeze(1).squeeze(1).shape == (2, 3, 4) and ones(1, 3, 1).squeeze().shape == (3,)
    with pytest.raises(ValueError):
        x.reshape(5, 5)


def test_transpose_and_permute():
    x = randt(2, 3, 4)
    assert np.array_equal(x.transpose().data, x.data.transpose())
    assert np.array_equal(x.T.data, x.data.T)
    assert np.array_equal(x.transpose(0, 2).data, np.swapaxes(x.data, 0, 2))     # swap two axes
    assert np.array_equal(x.transpose(-1, -2).data, np.swapaxes(x.data, -1, -2))
    assert np.array_equal(x.transpose(1, 2, 0).data, x.data.transpose(1, 2, 0))  # full permutation
    assert np.array_equal(x.permute(2, 0, 1).data, x.data.transpose(2, 0, 1))
    assert np.array_equal(x.permute((1, 0, 2)).data, x.data.transpose(1, 0, 2))
    m = randt(2, 3)
    assert m.transpose(0, 1).shape == (3, 2) and m.transpose(1, 0).shape == (3, 2)


# ---- indexing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("idx", [0, -1, (1, 2), slice(1, None), (slice(None), 1), (Ellipsis, 0),
                                 (None, 0), (slice(None, None, -1),), np.array([2, 0, 2]),
                                 (np.arange(3), np.array([0, 3, 1])), np.array([True, False, True])])
def test_indexing_matches_numpy(idx):
    x = randt(3, 4)
    assert np.array_equal(x[idx].data, x.data[idx])


def test_indexing_with_tensors_and_lists():
    x = randt(3, 4)
    assert np.array_equal(x[Tensor(np.array([1, 1]))].data, x.data[[1, 1]])
    assert np.array_equal(x[x > 0].data, x.data[x.data > 0])
    assert np.array_equal(x[[0, 2]].data, x.data[[0, 2]])
    assert np.array_equal(x[:, [0, 0]].data, x.data[:, [0, 0]])


def test_iteration_and_setitem():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = [r.data.tolist() for r in x]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    x[0, 1] = 9.0
    x[Tensor(np.array([1]))] = Tensor([7.0, 7.0])
    assert x.data.tolist() == [[1.0, 9.0], [7.0, 7.0]]


# ---- element-wise math and comparisons --------------------------------------------------------
def test_elementwise_math():
    x = Tensor([0.25, 1.0, 4.0])
    assert np.allclose(x.sqrt().data, [0.5, 1, 2])
    assert np.allclose(x.log().data, np.log(x.data)) and np.allclose(x.exp().data, np.exp(x.data))
    assert np.allclose((-x).abs().data, x.data)
    assert all(t.dtype == np.float32 for t in (x.sqrt(), x.log(), x.exp(), x.abs()))


def test_comparisons_return_boolean_tensors():
    x, y = Tensor([1.0, 2.0, 3.0]), Tensor([3.0, 2.0, 1.0])
    assert (x < y).data.tolist() == [True, False, False]
    assert (x <= y).data.tolist() == [True, True, False]
    assert (x > 2).data.tolist() == [False, False, True]
    assert (x >= 2).data.tolist() == [False, True, True]
    assert (x == y).data.tolist() == [False, True, False]
    assert (x != y).data.tolist() == [True, False, True]
    assert isinstance(x == y, Tensor) and (x == y).dtype == np.bool_


def test_tensors_are_hashable_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b}) == 2


# ---- joining and conversion -------------------------------------------------------------------
def test_concatenate_and_stack():
    a, b = randt(2, 3), randt(4, 3)
    assert np.array_equal(concatenate([a, b]).data, np.concatenate([a.data, b.data]))
    assert concatenate((a.T, b.T), axis=1).shape == (3, 6)
    c = randt(2, 3)
    assert np.array_equal(stack([a, c]).data, np.stack([a.data, c.data]))
    assert stack([a, c], axis=-1).shape == (2, 3, 2)
    with pytest.raises(ValueError):
        stack([a, b])


def test_item_numpy_and_bool():
    assert Tensor(3.5).item() == 3.5 and isinstance(Tensor([[2.0]]).item(), float)
    with pytest.raises(ValueError):
        Tensor([1.0, 2.0]).item()
    assert isinstance(randt(2).numpy(), np.ndarray)
    assert np.asarray(Tensor([1.0, 2.0])).dtype == np.float32
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))
    assert Tensor([1, 2]).astype(np.int32).dtype == np.int32
    assert Tensor(np.arange(3)).float().dtype == np.float32
