"""Unit tests for module 13 (kernels): every naive/fast kernel pair agrees, im2col/col2im are adjoint,
the fused loss is stable, and the differentiable kernels pass gradcheck. Timings are never asserted."""
import numpy as np
import pytest

from tinytorch import Tensor, gradcheck
from tinytorch.core.kernels import (
    KernelComparison, compare_kernels, conv2d_naive, conv2d_vectorized, conv_output_size, fold_patches,
    format_comparisons, im2col_conv2d, kernel_suite, matmul_naive, matmul_tiled, matmul_vectorized,
    softmax_cross_entropy, softmax_cross_entropy_fused, softmax_cross_entropy_naive, softmax_cross_entropy_unfused, softmax_naive,
    softmax_vectorized, time_kernel, unfold_patches)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_time_kernel_returns_positive_median():
    calls = []
    seconds = time_kernel(lambda: calls.append(1), repeat=4, warmup=2)
    assert seconds >= 0.0
    assert len(calls) == 6
    with pytest.raises(ValueError):
        time_kernel(lambda: None, repeat=0)


@pytest.mark.parametrize("shape", [((5, 7), (7, 3)), ((33, 40), (40, 35)), ((1, 1), (1, 1))])
def test_matmul_variants_agree(rng, shape):
    a = rng.standard_normal(shape[0]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(matmul_naive(a, b), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(matmul_tiled(a, b, tile=16), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(matmul_vectorized(a, b), ref, rtol=1e-4, atol=1e-4)


def test_matmul_shape_errors():
    with pytest.raises(ValueError):
        matmul_naive(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError):
        matmul_tiled(np.ones((2, 3)), np.ones((4, 3)))


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2))])
def test_conv_variants_agree(rng, stride, padding):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    slow = conv2d_naive(x, w, b, stride=stride, padding=padding)
    fast = conv2d_vectorized(x, w, b, stride=stride, padding=padding)
    assert slow.shape == fast.shape
    np.testing.assert_allclose(slow, fast, rtol=1e-4, atol=1e-4)


def test_conv_output_size_and_errors():
    assert conv_output_size(8, 3) == 6
    assert conv_output_size(8, 3, stride=2, padding=1) == 4
    with pytest.raises(ValueError):
        conv_output_size(2, 5)
    with pytest.raises(ValueError):
        conv2d_vectorized(np.ones((1, 2, 5, 5)), np.ones((1, 3, 3, 3)))


def test_unfold_rows_are_receptive_fields(rng):
    x = rng.standard_normal((1, 2, 4, 4))
    cols = unfold_patches(x, 2, stride=2)
    assert cols.shape == (4, 8)
    np.testing.assert_array_equal(cols[0], x[0, :, 0:2, 0:2].reshape(-1))
    np.testing.assert_array_equal(cols[3], x[0, :, 2:4, 2:4].reshape(-1))


def test_fold_is_adjoint_of_unfold(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    cols = unfold_patches(x, 3, stride=2, padding=1)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * fold_patches(c, x.shape, 3, stride=2, padding=1)))


def test_softmax_variants_agree(rng):
    z = (rng.standard_normal((16, 7)) * 5).astype(np.float32)
    np.testing.assert_allclose(softmax_naive(z), softmax_vectorized(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(softmax_vectorized(z).sum(axis=1), 1.0, rtol=1e-5)


def test_fused_cross_entropy_matches_separate(rng):
    z = (rng.standard_normal((20, 6)) * 3).astype(np.float32)
    t = rng.integers(0, 6, size=20)
    loss_a, grad_a = softmax_cross_entropy_naive(z, t)
    loss_b, grad_b = softmax_cross_entropy_fused(z, t)
    loss_c, grad_c = softmax_cross_entropy_unfused(z, t)
    assert np.isclose(float(loss_a), float(loss_b), rtol=1e-5)
    assert np.isclose(float(loss_c), float(loss_b), rtol=1e-5)
    np.testing.assert_allclose(grad_a, grad_b, atol=1e-6)
    np.testing.assert_allclose(grad_c, grad_b, atol=1e-6)


def test_fused_cross_entropy_is_stable_where_separate_is_not():
    z = np.array([[200.0, 0.0, -200.0]], dtype=np.float32)
    loss, grad = softmax_cross_entropy_fused(z, [2])
    assert np.isfinite(loss) and abs(float(loss) - 400.0) < 1e-3
    assert np.all(np.isfinite(grad))
    with np.errstate(all="ignore"):
        try:
            naive_loss, _ = softmax_cross_entropy_naive(z, [2])
        except ValueError:  # math.log(0.0): the unfused kernel breaks down
            naive_loss = np.inf
    assert not np.isfinite(naive_loss)


def test_cross_entropy_target_validation():
    z = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError):
        softmax_cross_entropy_fused(z, [0, 3])
    with pytest.raises(ValueError):
        softmax_cross_entropy_fused(z, [0])
    with pytest.raises(TypeError):
        softmax_cross_entropy_fused(z, [0.5, 1.0])


def test_compare_kernels_detects_mismatch():
    a = np.ones((3, 3), dtype=np.float32)
    good = compare_kernels("same", matmul_naive, matmul_vectorized, a, a, repeat=1)
    assert isinstance(good, KernelComparison) and good.equal and good.max_abs_diff < 1e-6
    bad = compare_kernels("off", matmul_naive, lambda x, y: x @ y + 1.0, a, a, repeat=1)
    assert not bad.equal and bad.max_abs_diff == pytest.approx(1.0)
    assert good.speedup > 0
    big = np.full((4, 4), 1000.0, dtype=np.float32)     # tolerance is relative to the largest value
    near = compare_kernels("near", lambda x: x, lambda x: x + 1e-3, big, repeat=1)
    assert near.equal
    nan = compare_kernels("nan", lambda x: x, lambda x: x * np.nan, big, repeat=1)
    assert not nan.equal


def test_kernel_suite_all_pairs_equal():
    rows = kernel_suite(scale=1, repeat=1)
    assert len(rows) == 6
    assert all(r.equal for r in rows), format_comparisons(rows)
    table = format_comparisons(rows)
    assert "conv2d" in table and "speedup" in table


def test_im2col_conv2d_forward_matches_kernel(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out = im2col_conv2d(Tensor(x), Tensor(w), Tensor(b), stride=1, padding=1)
    assert isinstance(out, Tensor) and out.shape == (2, 4, 6, 6)
    np.testing.assert_allclose(out.data, conv2d_naive(x, w, b, padding=1), rtol=1e-4, atol=1e-4)


def test_gradcheck_im2col_conv2d(rng):
    x = Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: im2col_conv2d(x, w, b, stride=2, padding=1), [x, w, b])
    assert gradcheck(lambda x, w: im2col_conv2d(x, w, stride=1, padding=0), [x, w])


def test_gradcheck_softmax_cross_entropy(rng):
    z = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    t = rng.integers(0, 5, size=4)
    assert gradcheck(lambda z: softmax_cross_entropy(z, t), [z])


def test_softmax_cross_entropy_backward_values(rng):
    z = Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    t = np.array([0, 3, 1])
    loss = softmax_cross_entropy(z, Tensor(t))
    loss.backward()
    p = softmax_vectorized(z.data)
    p[np.arange(3), t] -= 1.0
    np.testing.assert_allclose(z.grad.data, p / 3, atol=1e-6)


def test_parity_with_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                     stride=2, padding=1).numpy()
    np.testing.assert_allclose(conv2d_vectorized(x, w, b, stride=2, padding=1), ref, atol=1e-5)
    z = rng.standard_normal((8, 4)).astype(np.float32)
    t = rng.integers(0, 4, size=8)
    ref_loss = torch.nn.functional.cross_entropy(torch.from_numpy(z), torch.from_numpy(t)).item()
    assert abs(float(softmax_cross_entropy_fused(z, t)[0]) - ref_loss) < 1e-5
