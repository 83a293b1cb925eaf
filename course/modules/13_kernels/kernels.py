# Module 13 (kernels): the systems lesson of speed. Naive Python-loop kernels (matmul, convolution,
# softmax + cross-entropy) stand beside their vectorised NumPy versions (BLAS matmul, im2col
# convolution, fused log-sum-exp cross-entropy); every pair is checked equal and timed against each
# other. The fast kernels are also wrapped as differentiable autograd Functions.
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
# # Module 13: Kernels -- why the same maths can be 1000x faster
#
# A *kernel* is the innermost piece of code that does the actual arithmetic of an operation:
# the loops of a matrix multiplication, of a convolution, of a softmax. Every model you built in
# modules 04-12 spends almost all of its time inside a handful of kernels, so their speed *is* the
# speed of the framework.
#
# This module writes each kernel twice:
#
# 1. **naive**: plain Python loops, one number at a time, exactly as the maths is written on paper;
# 2. **fast**: the same maths rearranged so that NumPy (and the BLAS library behind `@`) does the
#    loops in compiled code.
#
# and then *checks they agree* and *times them against each other*. Three ideas explain the gap:
#
# * **Interpreter overhead.** One Python-level `a * b + c` on floats costs ~50-100 ns of bytecode
#   dispatch and boxing; a compiled loop does the same in well under 1 ns (several per cycle with
#   SIMD). A loop over a million numbers in Python is therefore ~100x slower *before* anything else.
# * **Memory locality.** Fast kernels read memory in contiguous runs and reuse what is in the cache.
#   Blocked (tiled) matmul and im2col exist to turn scattered accesses into dense matrix products.
# * **Fewer passes over memory (fusion).** Computing `softmax`, then `log`, then picking the target
#   writes and re-reads three full arrays. A *fused* kernel computes the loss (and its gradient) in
#   one pass with fewer temporaries -- and, as a bonus, it is numerically safer.
#
# Timings depend on your machine, so the checks in this file test *equality*, never speed.

# %%
#| default_exp core.kernels

# %%
#| export
import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function

# %% [markdown]
# ## A small timing helper
#
# Timing code is surprisingly easy to get wrong. Two rules are enough for this module:
#
# * **warm up first**: the first call pays one-off costs (allocating buffers, loading BLAS threads,
#   filling caches), which is not what we want to measure;
# * **repeat and take the median**: other processes steal the CPU now and then; the median ignores
#   those outliers where the mean would not.
#
# Module 15 (benchmarking) builds a complete timer with more statistics on the same idea.

# %%
#| export
def time_kernel(fn: Callable, *args, repeat: int = 5, warmup: int = 1, **kwargs) -> float:
    """Median wall-clock seconds of `fn(*args, **kwargs)` over `repeat` runs after `warmup` runs."""
    if repeat < 1:
        raise ValueError("repeat must be >= 1")
    for _ in range(max(0, warmup)):
        fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# %% [markdown]
# ## Kernel 1: matrix multiplication
#
# `C[i, j] = sum_k A[i, k] * B[k, j]`: three nested loops, `M * N * K` multiply-adds. The naive
# version below is the definition, letter for letter. The *tiled* version keeps the loops but works
# on `tile x tile` blocks, so each block of `A` and `B` is reused many times while it sits in the
# cache -- this is how BLAS libraries are organised inside. The vectorised version simply calls
# `np.matmul`, i.e. an optimised, multi-threaded BLAS.

# %%
#| export
def matmul_naive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C = A @ B with three Python loops over scalars (the definition; slow on purpose)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError("matmul_naive needs 2-D arrays with matching inner sizes, got %s and %s"
                         % (a.shape, b.shape))
    m, k = a.shape
    n = b.shape[1]
    rows = a.tolist()   # Python floats: the loop below is pure interpreter work
    cols = b.T.tolist()
    out = np.zeros((m, n), dtype=np.result_type(a, b))
    for i in range(m):
        row = rows[i]
        for j in range(n):
            col = cols[j]
            acc = 0.0
            for p in range(k):
                acc += row[p] * col[p]
            out[i, j] = acc
    return out


def matmul_tiled(a: np.ndarray, b: np.ndarray, tile: int = 32) -> np.ndarray:
    """C = A @ B computed block by block (loops over tiles, NumPy inside each tile)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError("matmul_tiled needs 2-D arrays with matching inner sizes, got %s and %s"
                         % (a.shape, b.shape))
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), dtype=np.result_type(a, b))
    for i in range(0, m, tile):
        for j in range(0, n, tile):
            acc = out[i:i + tile, j:j + tile]          # a view: accumulate in place
            for p in range(0, k, tile):
                acc += a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]
    return out


def matmul_vectorized(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C = A @ B by BLAS (batched over leading axes like np.matmul)."""
    return np.matmul(a, b)


# %% [markdown]
# ## Kernel 2: convolution, naive versus im2col
#
# A 2-D convolution (NCHW layout, weight `(C_out, C_in, kh, kw)`) slides each filter over the
# image: `out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * x_pad[n, c, y*s + i, x*s + j]`.
#
# The naive kernel loops over every output pixel. **im2col** ("image to columns") instead copies
# every receptive field into one row of a matrix `cols` of shape `(N*OH*OW, C_in*kh*kw)`. Then the
# whole convolution is *one* matrix product `cols @ W.reshape(C_out, -1).T` -- the kernel we just
# made fast. The price is memory: each input pixel is copied up to `kh*kw` times. This
# memory-for-speed trade is exactly what cuDNN and most CPU frameworks make.
#
# We build the patches without any Python loop over pixels: `sliding_window_view` returns a
# *view* of all windows (no copy), slicing with `::stride` picks the strided ones, and a single
# `reshape` materialises `cols`. The backward pass needs the reverse, **col2im**: every patch
# gradient is added back to the pixels it came from. Overlapping windows add up, so we loop over the
# `kh*kw` kernel offsets (9 iterations for a 3x3 kernel, independent of the image size).

# %%
#| export
def _pair(value) -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError("expected an int or a pair, got %r" % (value,))
        return int(value[0]), int(value[1])
    return int(value), int(value)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial output size of a convolution / pooling window: floor((size + 2p - k) / s) + 1."""
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError("kernel %d (padding %d) does not fit into size %d" % (kernel, padding, size))
    return out


def unfold_patches(x: np.ndarray, kernel_size, stride=1, padding=0) -> np.ndarray:
    """im2col: (N, C, H, W) -> (N*OH*OW, C*kh*kw), one receptive field per row (rows in n, y, x order)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("unfold_patches expects NCHW input, got shape %s" % (x.shape,))
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    windows = windows[:, :, ::sh, ::sw][:, :, :oh, :ow]                         # (N, C, OH, OW, kh, kw)
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)


def fold_patches(cols: np.ndarray, input_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """col2im, the adjoint of unfold_patches: add every patch row back onto the (N, C, H, W) image."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n, c, h, w = input_shape
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    patches = np.asarray(cols).reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N,C,kh,kw,OH,OW)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=patches.dtype)
    for i in range(kh):          # loop over kernel offsets only (kh*kw iterations), never over pixels
        for j in range(kw):
            out[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += patches[:, :, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


def _conv_geometry(x_shape, w_shape, stride, padding):
    """Shapes every convolution kernel below needs: kernel, stride, padding and output size.
    Checked once here, so the naive, vectorised and differentiable versions agree by construction."""
    n, c, h, w = x_shape
    c_out, c_in, kh, kw = w_shape
    if c_in != c:
        raise ValueError("input has %d channels but the weight expects %d" % (c, c_in))
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    return (kh, kw), (sh, sw), (ph, pw), (conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))


def conv2d_naive(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                 stride=1, padding=0) -> np.ndarray:
    """Direct convolution: one Python iteration per output value (slow on purpose)."""
    x = np.asarray(x)
    weight = np.asarray(weight)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = _conv_geometry(x.shape, weight.shape, stride, padding)
    n, c_out = x.shape[0], weight.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, c_out, oh, ow), dtype=np.result_type(x, weight))
    for b in range(n):
        for o in range(c_out):
            for y in range(oh):
                for xx in range(ow):
                    window = xp[b, :, y * sh:y * sh + kh, xx * sw:xx * sw + kw]
                    out[b, o, y, xx] = np.sum(window * weight[o])
            if bias is not None:
                out[b, o] += bias[o]
    return out


def conv2d_vectorized(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None,
                      stride=1, padding=0) -> np.ndarray:
    """Convolution as im2col + one matrix multiplication."""
    x = np.asarray(x)
    weight = np.asarray(weight)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = _conv_geometry(x.shape, weight.shape, stride, padding)
    n, c_out = x.shape[0], weight.shape[0]
    cols = unfold_patches(x, (kh, kw), (sh, sw), (ph, pw))      # (N*OH*OW, C*kh*kw)
    out = cols @ weight.reshape(c_out, -1).T                    # (N*OH*OW, C_out)
    if bias is not None:
        out = out + bias
    return out.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2)


# %% [markdown]
# ## Kernel 3: softmax + cross-entropy, separate versus fused
#
# The classification loss is `loss = mean_n( -log softmax(z_n)[t_n] )`. Written the obvious way it is
# three kernels -- softmax, log, pick the target -- each a pass over the `(N, C)` logits, and the
# gradient is yet another pass. Two problems:
#
# * **speed**: every pass writes and re-reads a full array;
# * **stability**: `softmax` can underflow to exactly `0.0` for a very negative logit, and `log(0)`
#   is `-inf`, even though the true loss is a perfectly ordinary number.
#
# The fused kernel uses the identity `-log softmax(z)[t] = logsumexp(z) - z[t]`, with
# `logsumexp(z) = m + log(sum(exp(z - m)))` and `m = max(z)`. One shifted `exp` gives both the loss
# and, for free, the gradient `dL/dz = (softmax(z) - onehot(t)) / N`.
#
# Three versions below, all returning `(loss, grad)` so that they can be compared one to one: the
# naive one loops in Python; the *unfused* one is vectorised but makes the separate passes (softmax,
# log, one-hot, product) -- comparing it with the fused one isolates what fusion alone buys.

# %%
#| export
def softmax_naive(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax with Python loops over rows and elements (max-shifted for stability)."""
    z = np.asarray(logits)
    if z.ndim != 2:
        raise ValueError("softmax_naive expects (N, C) logits, got shape %s" % (z.shape,))
    out = np.zeros(z.shape, dtype=z.dtype if z.dtype.kind == "f" else np.float32)
    for i, row in enumerate(z.tolist()):
        m = max(row)
        exps = [math.exp(v - m) for v in row]
        total = sum(exps)
        for j, e in enumerate(exps):
            out[i, j] = e / total
    return out


def softmax_vectorized(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along `axis` in three array operations."""
    z = np.asarray(logits)
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _check_targets(logits: np.ndarray, targets) -> np.ndarray:
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and np.all(t == np.round(t)):
            t = t.astype(np.int64)
        else:
            raise TypeError("targets must be integer class indices, got dtype %s" % t.dtype)
    if logits.ndim != 2 or t.shape != (logits.shape[0],):
        raise ValueError("expected logits (N, C) and targets (N,), got %s and %s" % (logits.shape, t.shape))
    if t.size and (t.min() < 0 or t.max() >= logits.shape[1]):
        raise ValueError("target class index out of range [0, %d)" % logits.shape[1])
    return t


def softmax_cross_entropy_naive(logits: np.ndarray, targets) -> tuple:
    """Unfused: softmax, then log, then pick the target, then a separate gradient pass (loops)."""
    z = np.asarray(logits)
    t = _check_targets(z, targets)
    n, c = z.shape
    probs = softmax_naive(z)
    total = 0.0
    for i in range(n):
        total += -math.log(float(probs[i, int(t[i])]))
    grad = np.zeros_like(probs)
    for i in range(n):
        for j in range(c):
            grad[i, j] = (probs[i, j] - (1.0 if j == t[i] else 0.0)) / n
    return np.asarray(total / n, dtype=probs.dtype), grad


def softmax_cross_entropy_unfused(logits: np.ndarray, targets) -> tuple:
    """Vectorised but unfused: softmax array, log array, one-hot array, each a separate pass."""
    z = np.asarray(logits)
    t = _check_targets(z, targets)
    n, c = z.shape
    probs = softmax_vectorized(z)
    log_probs = np.log(probs)
    onehot = np.zeros_like(probs)
    onehot[np.arange(n), t] = 1.0
    loss = -np.sum(onehot * log_probs) / n
    grad = (probs - onehot) / n
    return np.asarray(loss, dtype=probs.dtype), grad


def softmax_cross_entropy_fused(logits: np.ndarray, targets) -> tuple:
    """Fused: loss = mean(logsumexp(z) - z[t]) and grad = (softmax(z) - onehot(t)) / N in one pass."""
    z = np.asarray(logits)
    t = _check_targets(z, targets)
    n = z.shape[0]
    rows = np.arange(n)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(s[:, 0])
    loss = np.mean(lse - z[rows, t])
    grad = e / s
    grad[rows, t] -= 1.0
    grad /= n
    return np.asarray(loss, dtype=grad.dtype), grad


# %% [markdown]
# ## Fast kernels inside autograd
#
# A kernel is only useful in training if gradients flow through it. Module 02's `Function` lets us
# plug in a forward *and* a hand-written backward, so the graph records **one** node instead of the
# dozens of tiny nodes that composing Tensor operations would create -- that is kernel fusion at the
# graph level.
#
# * `Im2colConv2dFunction`: forward = im2col + matmul; backward: `dW = dout^T @ cols`,
#   `db = sum(dout)`, `dx = col2im(dout @ W)`.
# * `SoftmaxCrossEntropyFunction`: forward computes the loss and *keeps the gradient it got for
#   free*; backward just scales it by the incoming gradient.

# %%
#| export
class Im2colConv2dFunction(Function):
    """2-D convolution (NCHW) via im2col; differentiable in x, weight and bias."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = _conv_geometry(x.shape, weight.shape, stride, padding)
        n, c_out = x.shape[0], weight.shape[0]
        cols = unfold_patches(x, (kh, kw), (sh, sw), (ph, pw))
        w2 = weight.reshape(c_out, -1)
        out = cols @ w2.T
        if bias is not None:
            out = out + bias
        ctx.cols, ctx.w2 = cols, w2
        ctx.geometry = (x.shape, weight.shape, (kh, kw), (sh, sw), (ph, pw), (oh, ow))
        ctx.has_bias = bias is not None
        return out.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out):
        x_shape, w_shape, kernel, stride, padding, (oh, ow) = ctx.geometry
        c_out = w_shape[0]
        g = grad_out.transpose(0, 2, 3, 1).reshape(-1, c_out)   # (N*OH*OW, C_out)
        grad_w = (g.T @ ctx.cols).reshape(w_shape)
        grad_x = fold_patches(g @ ctx.w2, x_shape, kernel, stride, padding)
        grad_b = g.sum(axis=0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


def im2col_conv2d(x, weight, bias=None, stride=1, padding=0) -> Tensor:
    """Differentiable convolution of Tensors: x (N, C, H, W), weight (C_out, C, kh, kw), bias (C_out,)."""
    if bias is None:
        return Im2colConv2dFunction.apply(x, weight, stride=stride, padding=padding)
    return Im2colConv2dFunction.apply(x, weight, bias, stride=stride, padding=padding)


class SoftmaxCrossEntropyFunction(Function):
    """Mean cross-entropy of (N, C) logits against integer targets, fused with its gradient."""

    @staticmethod
    def forward(ctx, logits, targets):
        loss, grad = softmax_cross_entropy_fused(logits, targets)
        ctx.grad = grad
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        return ctx.grad * grad_out, None


def softmax_cross_entropy(logits, targets) -> Tensor:
    """Differentiable fused softmax + cross-entropy (mean over the batch) of a Tensor of logits."""
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    return SoftmaxCrossEntropyFunction.apply(logits, t)


# %% [markdown]
# ## Checking and timing a pair of kernels
#
# `compare_kernels` runs the naive and the fast kernel on the same inputs, checks that the results
# agree (`np.allclose`, also for tuples of results), and times both with `time_kernel`. Agreement is
# the part that must always hold; the speed-up is the lesson. `kernel_suite` runs all the pairs of
# this module on random inputs of a given scale.

# %%
#| export
@dataclass
class KernelComparison:
    """The result of checking and timing a naive kernel against a fast one."""
    name: str
    equal: bool
    max_abs_diff: float
    naive_seconds: float
    fast_seconds: float

    @property
    def speedup(self) -> float:
        return self.naive_seconds / self.fast_seconds if self.fast_seconds > 0 else float("inf")


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,)


def compare_kernels(name: str, naive: Callable, fast: Callable, *args, rtol: float = 1e-5,
                    atol: float = 1e-6, repeat: int = 3, warmup: int = 1, **kwargs) -> KernelComparison:
    """Check naive(*args) == fast(*args) and time both; returns a KernelComparison.

    Results count as equal when max|naive - fast| <= atol + rtol * max|naive| for every returned
    array: float32 sums carry rounding errors proportional to the size of the values summed, so the
    tolerance is relative to the largest value rather than to each element.
    """
    slow_out = _as_tuple(naive(*args, **kwargs))
    fast_out = _as_tuple(fast(*args, **kwargs))
    if len(slow_out) != len(fast_out):
        raise ValueError("%s: the kernels return different numbers of results" % name)
    equal, diff = True, 0.0
    for s, f in zip(slow_out, fast_out):
        s, f = np.asarray(s, dtype=np.float64), np.asarray(f, dtype=np.float64)
        if s.shape != f.shape:
            equal, diff = False, float("inf")
            break
        if s.size:
            d = float(np.max(np.abs(s - f)))
            diff = max(diff, d)
            equal = equal and bool(np.isfinite(d)) and d <= atol + rtol * float(np.max(np.abs(s)))
    naive_s = time_kernel(naive, *args, repeat=repeat, warmup=warmup, **kwargs)
    fast_s = time_kernel(fast, *args, repeat=repeat, warmup=warmup, **kwargs)
    return KernelComparison(name, equal, diff, naive_s, fast_s)


def kernel_suite(scale: int = 1, seed: int = 0, repeat: int = 3) -> List[KernelComparison]:
    """Check and time every naive/fast pair of this module; `scale` grows the problem sizes."""
    rng = np.random.default_rng(seed)
    s = max(1, int(scale))
    a = rng.standard_normal((24 * s, 32 * s)).astype(np.float32)
    b = rng.standard_normal((32 * s, 20 * s)).astype(np.float32)
    x = rng.standard_normal((2 * s, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    z = (rng.standard_normal((128 * s, 100)) * 3).astype(np.float32)
    t = rng.integers(0, 100, size=128 * s)
    return [
        compare_kernels("matmul (loops vs BLAS)", matmul_naive, matmul_vectorized, a, b, repeat=repeat),
        compare_kernels("matmul (loops vs tiled)", matmul_naive, matmul_tiled, a, b, repeat=repeat),
        compare_kernels("conv2d (loops vs im2col)", conv2d_naive, conv2d_vectorized, x, w, bias,
                        stride=1, padding=1, repeat=repeat),
        compare_kernels("softmax (loops vs vectorised)", softmax_naive, softmax_vectorized, z, repeat=repeat),
        compare_kernels("softmax+CE (loops vs fused)", softmax_cross_entropy_naive,
                        softmax_cross_entropy_fused, z, t, repeat=repeat),
        compare_kernels("softmax+CE (unfused vs fused)", softmax_cross_entropy_unfused,
                        softmax_cross_entropy_fused, z, t, repeat=repeat),
    ]


def format_comparisons(rows: Sequence[KernelComparison]) -> str:
    """A plain-text table of KernelComparison rows."""
    header = "%-32s %6s %11s %11s %11s %9s" % ("kernel", "equal", "max|diff|", "naive ms", "fast ms", "speedup")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append("%-32s %6s %11.2e %11.3f %11.3f %8.1fx" % (
            r.name, "yes" if r.equal else "NO", r.max_abs_diff, r.naive_seconds * 1e3,
            r.fast_seconds * 1e3, r.speedup))
    return "\n".join(lines)


# %% [markdown]
# ## Checks
#
# Run this file to check every kernel pair and see the timings on your machine. Numbers measured on a
# 2-core cloud machine (`kernel_suite(scale=2)`): the BLAS matmul ~1000x faster than the triple loop
# (the tiled loops ~150x), im2col convolution ~85x faster than the direct loops, vectorised softmax
# ~100x faster than the loops -- and fusion on top of vectorisation a further ~3x for 100 classes,
# because fewer full-size temporaries are written and read back. Bigger problems widen every gap
# (at `scale=8`: ~2800x, ~260x, ~160x and ~4x).

# %%
def test_unit_kernel_pairs_agree():
    rows = kernel_suite(scale=1, repeat=1)
    for r in rows:
        assert r.equal, "%s differs by %g" % (r.name, r.max_abs_diff)


def test_unit_fold_is_adjoint_of_unfold():
    # <unfold(x), c> == <x, fold(c)> for every x, c: the defining property of the adjoint (col2im)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = unfold_patches(x, 3, stride=2, padding=1)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * fold_patches(c, x.shape, 3, stride=2, padding=1))
    assert np.isclose(lhs, rhs)


def test_unit_fused_loss_is_stable():
    z = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, _ = softmax_cross_entropy_fused(z, [2])
    assert np.isfinite(loss) and abs(float(loss) - 2000.0) < 1e-2


def test_unit_differentiable_kernels():
    from tinytorch.core.autograd import gradcheck
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: im2col_conv2d(x, w, b, stride=2, padding=1), [x, w, b])
    z = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    t = rng.integers(0, 5, size=4)
    assert gradcheck(lambda z: softmax_cross_entropy(z, t), [z])


# %%
if __name__ == "__main__":
    test_unit_kernel_pairs_agree()
    test_unit_fold_is_adjoint_of_unfold()
    test_unit_fused_loss_is_stable()
    test_unit_differentiable_kernels()
    print(format_comparisons(kernel_suite(scale=2)))
    print("kernels: all checks passed")
