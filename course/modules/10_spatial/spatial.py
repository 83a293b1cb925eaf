# Module 10 (spatial): convolution and pooling layers for images (NCHW), the building blocks of CNNs.
# Conv2d (stride, padding) is computed with im2col (batch innermost) + one matrix multiply; MaxPool2d and
# AvgPool2d loop only over the few kernel offsets. All three are fused autograd Functions with their
# own hand-written backward passes, checked against finite differences.
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
# # Module 10: Spatial layers -- convolution and pooling
#
# A `Linear` layer connects every input pixel to every output unit. For images this is wasteful
# and blind to structure: a "vertical stroke" detector learned in the top-left corner is useless in
# the bottom-right one. A **convolution** slides one small filter (say 3x3) over the whole image,
# so the same weights look for the same pattern everywhere (*weight sharing*) and each output only
# depends on a small neighbourhood (*locality*). A conv layer with 16 filters of 3x3 has 160
# parameters, whatever the image size.
#
# **Pooling** then summarises each small window (its maximum or its average), halving the
# resolution: later layers see a larger part of the image, and small shifts of the input matter
# less.
#
# Tensors are laid out **NCHW**: `(batch, channels, height, width)`, as in PyTorch.
#
# ## Why this module is written the way it is
#
# The obvious implementation -- six nested Python loops over batch, output channel, rows, columns
# and kernel positions -- is correct and about 10,000x too slow. Two ideas make convolution fast:
#
# 1. **im2col.** Copy every receptive field (a `C x kh x kw` patch) into a column of a matrix. The
#    convolution of all images with all filters is then *one* matrix multiplication, which BLAS
#    runs at close to the machine's peak speed. The copy is cheap compared with the arithmetic.
# 2. **A fused autograd Function.** Built from Tensor ops, a convolution would create dozens of graph
#    nodes and temporary arrays. As a single `Function` with a hand-written backward it is one node:
#    the backward of a matmul is two matmuls, and the backward of im2col ("col2im") adds the column
#    gradients back onto the image.
#
# The only Python loops left run over the `kh * kw` kernel offsets (9 for a 3x3 kernel) -- never
# over pixels or batch items.

# %%
#| default_exp core.spatial

# %%
#| export
import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, Parameter

# %% [markdown]
# ## Output sizes
#
# A kernel of size `k` moved with step `s` over an input of size `n` padded by `p` on each side fits
# `(n + 2p - k) // s + 1` times (the remainder is dropped, like PyTorch's default "floor" mode).

# %%
#| exporti
def _pair(value, name):
    """Accept `3` or `(3, 3)` for kernel sizes, strides and paddings."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError("%s must be an int or a pair of ints, got %r" % (name, value))
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _check_nchw(x, what):
    if x.ndim != 4:
        raise ValueError("%s expects a 4-D input (batch, channels, height, width), got shape %s"
                         % (what, x.shape))


# %% [markdown]
# ## im2col with the batch innermost
#
# Copy every receptive field into a column of a matrix `cols` of shape `(C*kh*kw, Ho*Wo*N)`: one
# row per (channel, kernel offset), one column per (output pixel, image). With the filters as a
# matrix `W` of shape `(O, C*kh*kw)`, the whole layer -- every image, every filter -- is then
# **one** matrix product `W @ cols` of shape `(O, Ho*Wo*N)`, plus the bias.
#
# Why the batch goes *last* (memory order `C, H, W, N`, as in the early GPU libraries) rather than
# first as in the NCHW input: the copy is a loop over the `kh*kw` kernel offsets, and for offset
# `(i, j)` it copies the shifted window `xp[:, i:i+Ho, j:j+Wo, :]`. With the batch innermost, each
# row of that window is `Wo*N` consecutive numbers (896 for a 14-pixel row of 64 images); with the
# batch first it would be only `Wo` (14). NumPy, like the CPU, copies a few long runs much faster
# than many short ones. And the product is one large matrix multiply instead of N small ones,
# which BLAS runs closer to its peak.
#
# The result is handed back as an NCHW *view* (`transpose` copies nothing) of that batch-last
# memory. NumPy's elementwise operations (ReLU, pooling) keep the memory order of their input, so
# the next convolution finds its input already batch-last and its "transpose" costs nothing.
#
# ## The backward pass, one kernel offset at a time
#
# With `g` the gradient of the output as an `(O, Ho*Wo*N)` matrix (the forward's layout), and
# `W_ij = W[:, :, i, j]` the `(O, C)` slice of the filters at kernel offset `(i, j)`:
#
# * `dW[:, :, i, j] = g @ window_ij^T`, where `window_ij` is the shifted input window of the forward;
# * `db = g` summed over its columns;
# * `dx`: the window at offset `(i, j)` receives `W_ij^T @ g`. Neighbouring windows overlap, so one
#   pixel receives gradient from several offsets: we *add* each into the padded gradient (col2im).
#
# Going offset by offset, the backward never holds a `(C*kh*kw, Ho*Wo*N)` matrix: we keep only the
# padded input (`kh*kw` times smaller than `cols`) from the forward and rebuild one window at a time.
# That saves memory, and memory is time here: every fresh multi-megabyte array has to be handed
# over by the operating system page by page (a "page fault" per 4 KB), which for this layer costs
# more than copying the window again. Each per-offset product is still a large matrix product.
#
# `ctx.needs_input_grad[0]` is False for the first layer of a network (its input is data, not a
# parameter): we then skip the input gradient entirely.

# %%
#| exporti
def _window(xp, i, j, ho, wo, stride):
    """The input pixels that kernel offset (i, j) meets, as a view (C, Ho, Wo, N) of the padded,
    batch-last input `xp`."""
    sh, sw = stride
    return xp[:, i:i + sh * ho:sh, j:j + sw * wo:sw]


# %%
#| export
class Conv2dFunction(Function):
    """Fused 2-D convolution (cross-correlation, like every DL framework): im2col + one GEMM."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=(1, 1), padding=(0, 0)):
        n, c, h, w = x.shape
        o, c_w, kh, kw = weight.shape
        ph, pw = padding
        ho, wo = _out_size(h, kh, stride[0], ph), _out_size(w, kw, stride[1], pw)
        xp = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)   # padded, batch last
        xp[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
        cols = np.empty((c, kh, kw, ho, wo, n), dtype=x.dtype)
        for i in range(kh):                           # im2col: one shifted window per kernel offset
            for j in range(kw):
                cols[:, i, j] = _window(xp, i, j, ho, wo, stride)
        out = weight.reshape(o, c * kh * kw) @ cols.reshape(c * kh * kw, ho * wo * n)   # one GEMM
        if bias is not None:
            out += bias.reshape(o, 1)
        ctx.xp, ctx.weight, ctx.x_shape = xp, weight, x.shape
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)    # NCHW view of batch-last memory

    @staticmethod
    def backward(ctx, grad_out):
        n, c, h, w = ctx.x_shape
        o, _, kh, kw = ctx.weight.shape
        ph, pw = ctx.padding
        ho, wo = grad_out.shape[2:]
        # (O, Ho*Wo*N), the forward's layout: free when grad_out is batch-last already (it is when
        # it comes from ReLU or pooling after this layer), one copy otherwise
        g = grad_out.transpose(1, 2, 3, 0).reshape(o, ho * wo * n)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_w = np.empty(ctx.weight.shape, dtype=grad_out.dtype)
            window = np.empty((c, ho, wo, n), dtype=grad_out.dtype)       # reused for every offset
            for i in range(kh):
                for j in range(kw):
                    window[...] = _window(ctx.xp, i, j, ho, wo, ctx.stride)
                    grad_w[:, :, i, j] = g @ window.reshape(c, ho * wo * n).T
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(axis=1)
        if ctx.needs_input_grad[0]:
            dxp = np.zeros(ctx.xp.shape, dtype=grad_out.dtype)
            d_window = np.empty((c, ho * wo * n), dtype=grad_out.dtype)   # reused for every offset
            # weight[:, :, i, j] has no unit stride, and the NumPy of Python 3.9/3.10 (2.0-2.2) multiplies
            # such a matrix with a plain C loop instead of BLAS (the CNN trained 5x slower there): one
            # contiguous (kh, kw, C, O) copy of the weights makes every slice BLAS-ready.
            weight_t = np.ascontiguousarray(ctx.weight.transpose(2, 3, 1, 0))
            for i in range(kh):                       # col2im, one kernel offset at a time
                for j in range(kw):
                    np.matmul(weight_t[i, j], g, out=d_window)
                    _window(dxp, i, j, ho, wo, ctx.stride)[...] += d_window.reshape(c, ho, wo, n)
            grad_x = dxp[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)
        return grad_x, grad_w, grad_b, None, None


# %% [markdown]
# ## The Conv2d layer
#
# The layer owns the parameters and calls the Function. Weights start from **He (Kaiming)
# initialisation**, uniform in `+-sqrt(6 / fan_in)` with `fan_in = C * kh * kw`: it keeps the
# variance of activations roughly constant from layer to layer when ReLU follows, so deep stacks
# neither explode nor fade at the start of training. Biases start at zero.

# %%
#| export
class Conv2d(Module):
    """2-D convolution over NCHW input: `Conv2d(in_channels, out_channels, kernel_size, stride=1,
    padding=0, bias=True)`. Weight shape (out_channels, in_channels, kh, kw), as in PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        bound = np.sqrt(6.0 / fan_in)
        self.weight = Parameter(np.random.uniform(-bound, bound, (self.out_channels, self.in_channels, kh, kw))
                                .astype(np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=np.float32)) if bias else None

    def forward(self, x):
        _check_nchw(x, "Conv2d")
        if x.shape[1] != self.in_channels:
            raise ValueError("Conv2d expects %d input channels, got input of shape %s"
                             % (self.in_channels, x.shape))
        h, w = x.shape[2] + 2 * self.padding[0], x.shape[3] + 2 * self.padding[1]
        if h < self.kernel_size[0] or w < self.kernel_size[1]:
            raise ValueError("Conv2d kernel %s is larger than the padded input %s"
                             % (self.kernel_size, (h, w)))
        return Conv2dFunction.apply(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return "%d, %d, kernel_size=%s, stride=%s, padding=%s, bias=%s" % (
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.bias is not None)


# %% [markdown]
# ## Pooling by kernel offsets
#
# A pooling window of `k x k` covers, for every output pixel, the input pixels at the `k*k`
# offsets `(i, j)`. For one fixed offset, "the input pixel at offset (i, j) of every window" is a
# strided slice `x[:, :, i::s, j::s]` -- a view of shape `(N, C, Ho, Wo)`. So pooling is a loop
# over the k*k offsets (4 for the usual 2x2), each step one whole-array NumPy operation:
#
# * **Max pooling** keeps a running maximum and, for every offset, a boolean array "this offset
#   beat all earlier ones" (comparisons and `np.maximum` are among NumPy's fastest operations; masked
#   writes into an index array would be several times slower). Ties go to the first offset, like
#   PyTorch. In the backward, the gradient of each output flows only to its winning input: for each
#   offset, `dx[slice] = g * wins`.
# * **Average pooling** sums the k*k slices and divides; in the backward every input of a window
#   gets `g / (k*k)`.
#
# When windows overlap (stride < kernel), one input pixel belongs to several windows and the
# backward has to *add* (`+=`) the contributions.

# %%
#| exporti
def _pool_geometry(x_shape, kernel, stride):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = _out_size(h, kh, sh, 0), _out_size(w, kw, sw, 0)
    if ho < 1 or wo < 1:
        raise ValueError("pooling window %s does not fit into an input of size %s" % (kernel, (h, w)))
    return ho, wo


def _offset_slice(i, j, ho, wo, stride):
    """Index of the input pixels at kernel offset (i, j) of every pooling window."""
    sh, sw = stride
    return (slice(None), slice(None), slice(i, i + sh * ho, sh), slice(j, j + sw * wo, sw))


def _memory_order(x):
    """The axes of `x` from outermost to innermost in memory: (0, 1, 2, 3) for a C-ordered array,
    (1, 2, 3, 0) for the batch-last NCHW view a Conv2d returns."""
    return tuple(int(a) for a in np.argsort([-abs(s) for s in x.strides], kind="stable"))


def _pool_grad_buffer(x_shape, x_order, kernel, stride, ho, wo, dtype):
    """The input's gradient: zeros, unless the windows tile the input exactly (then every element is
    written once). It gets the input's memory order (batch-last after a Conv2d), so the writes of the
    backward and the next layer's reads run along memory instead of across it. The node keeps only
    the input's shape and memory order for this, not the input itself (see module 02)."""
    (kh, kw), (sh, sw) = kernel, stride
    exact = (kh, kw) == (sh, sw) and x_shape[2] == kh * ho and x_shape[3] == kw * wo
    in_memory = (np.empty if exact else np.zeros)([x_shape[a] for a in x_order], dtype=dtype)
    return in_memory.transpose(np.argsort(x_order)), (sh >= kh and sw >= kw)


# %%
#| export
class MaxPool2dFunction(Function):
    """Fused max pooling: running maximum over the kernel offsets; the backward routes each output's
    gradient to the input that won its window."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2)):
        kh, kw = kernel
        ho, wo = _pool_geometry(x.shape, kernel, stride)
        out = x[_offset_slice(0, 0, ho, wo, stride)].copy(order="K")   # "K": keep x's memory order
        took_over = []                       # took_over[o-1]: "offset o beat every earlier offset"
        for o in range(1, kh * kw):
            candidate = x[_offset_slice(o // kw, o % kw, ho, wo, stride)]
            took_over.append(candidate > out)         # strict '>': on ties the first offset wins
            np.maximum(out, candidate, out=out)
        ctx.took_over, ctx.kernel, ctx.stride = took_over, kernel, stride
        ctx.x_shape, ctx.x_order = x.shape, _memory_order(x)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        kh, kw = ctx.kernel
        ho, wo = grad_out.shape[2:]
        grad_x, disjoint = _pool_grad_buffer(ctx.x_shape, ctx.x_order, ctx.kernel, ctx.stride, ho, wo,
                                             grad_out.dtype)
        # The winner of a window is the *last* offset that took over. Walk the offsets backwards:
        # offset o wins where it took over and no later offset did.
        later = np.zeros_like(grad_out, dtype=bool)
        for o in range(kh * kw - 1, -1, -1):
            if o > 0:
                wins = ctx.took_over[o - 1] & ~later
                later |= ctx.took_over[o - 1]
            else:
                wins = ~later                          # nobody took over from offset 0
            target = grad_x[_offset_slice(o // kw, o % kw, ho, wo, ctx.stride)]
            if disjoint:                               # each input pixel is in at most one window
                np.multiply(grad_out, wins, out=target)
            else:
                target += grad_out * wins
        return grad_x, None, None


class AvgPool2dFunction(Function):
    """Fused average pooling: mean over the kernel offsets."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2)):
        kh, kw = kernel
        ho, wo = _pool_geometry(x.shape, kernel, stride)
        out = x[_offset_slice(0, 0, ho, wo, stride)].copy(order="K")
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    out += x[_offset_slice(i, j, ho, wo, stride)]
        out *= 1.0 / (kh * kw)
        ctx.kernel, ctx.stride, ctx.x_shape, ctx.x_order = kernel, stride, x.shape, _memory_order(x)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        kh, kw = ctx.kernel
        ho, wo = grad_out.shape[2:]
        grad_x, disjoint = _pool_grad_buffer(ctx.x_shape, ctx.x_order, ctx.kernel, ctx.stride, ho, wo,
                                             grad_out.dtype)
        share = grad_out * (1.0 / (kh * kw))           # every input of a window gets an equal share
        for i in range(kh):
            for j in range(kw):
                target = grad_x[_offset_slice(i, j, ho, wo, ctx.stride)]
                if disjoint:
                    target[...] = share
                else:
                    target += share
        return grad_x, None, None


# %% [markdown]
# ## The pooling layers
#
# Pooling has no parameters. `stride` defaults to the kernel size (non-overlapping windows), the
# usual choice: `MaxPool2d(2)` halves height and width.

# %%
#| export
class _Pool2d(Module):
    """What the pooling layers share: a window, a stride (default: the window), no parameters.
    Each subclass names the autograd Function that does its pooling."""

    function = None

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")

    def forward(self, x):
        _check_nchw(x, type(self).__name__)
        return self.function.apply(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return "kernel_size=%s, stride=%s" % (self.kernel_size, self.stride)


class MaxPool2d(_Pool2d):
    """Max pooling over NCHW input: `MaxPool2d(kernel_size, stride=None)` (stride defaults to kernel_size)."""

    function = MaxPool2dFunction


class AvgPool2d(_Pool2d):
    """Average pooling over NCHW input: `AvgPool2d(kernel_size, stride=None)` (stride defaults to kernel_size)."""

    function = AvgPool2dFunction


# %% [markdown]
# ## Checks
#
# 1. Against a deliberately naive loop implementation (the definition of convolution).
# 2. Gradients against finite differences (`gradcheck`, in float64), with stride and padding.
# 3. Shapes through a small CNN.

# %%
import time

from tinytorch.core.autograd import gradcheck
from tinytorch.core.tensor import Tensor


def _naive_conv(x, w, b, stride, pad):
    """Six nested loops: the textbook definition, far too slow for real use."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = _out_size(h, kh, stride, pad), _out_size(wd, kw, stride, pad)
    out = np.zeros((n, o, ho, wo))
    for a in range(n):
        for f in range(o):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[a, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[a, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out


def test_unit_conv2d_forward():
    rng = np.random.default_rng(0)
    for stride, pad in [(1, 0), (1, 1), (2, 1), (2, 0)]:
        conv = Conv2d(3, 4, 3, stride=stride, padding=pad)
        conv.bias.data[:] = rng.standard_normal(4)
        x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
        y = conv(Tensor(x))
        ref = _naive_conv(x, conv.weight.data, conv.bias.data, stride, pad)
        assert y.shape == ref.shape, (y.shape, ref.shape)
        assert np.allclose(y.data, ref, atol=1e-4)


def test_unit_conv2d_gradcheck():
    rng = np.random.default_rng(1)
    for stride, pad in [(1, 1), (2, 0), ((2, 1), (0, 1))]:
        x = Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
        w = Tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
        b = Tensor(rng.standard_normal(3), requires_grad=True)
        s, p = _pair(stride, "stride"), _pair(pad, "padding")
        assert gradcheck(lambda x, w, b: Conv2dFunction.apply(x, w, b, s, p), [x, w, b])


def test_unit_pooling():
    x = Tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    assert MaxPool2d(2)(x).data.ravel().tolist() == [5, 7, 13, 15]
    assert AvgPool2d(2)(x).data.ravel().tolist() == [2.5, 4.5, 10.5, 12.5]
    rng = np.random.default_rng(2)
    for k, s in [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))]:
        t = Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
        assert gradcheck(lambda t: MaxPool2dFunction.apply(t, k, s), [t])
        assert gradcheck(lambda t: AvgPool2dFunction.apply(t, k, s), [t])


def test_unit_small_cnn_shapes():
    x = Tensor(np.random.rand(8, 1, 28, 28).astype(np.float32))
    conv1, conv2, pool = Conv2d(1, 16, 3, padding=1), Conv2d(16, 32, 3, padding=1), MaxPool2d(2)
    start = time.perf_counter()
    h = pool(conv2(pool(conv1(x))))
    assert h.shape == (8, 32, 7, 7)
    h.sum().backward()
    assert conv1.weight.grad.shape == (16, 1, 3, 3) and conv2.bias.grad.shape == (32,)
    print("conv/pool forward+backward on 8 images of 28x28: %.1f ms" % ((time.perf_counter() - start) * 1e3))


# %%
if __name__ == "__main__":
    test_unit_conv2d_forward()
    test_unit_conv2d_gradcheck()
    test_unit_pooling()
    test_unit_small_cnn_shapes()
    print("spatial: all checks passed")
