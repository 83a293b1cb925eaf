# Module 06 (losses): the numbers training minimises.
# MSELoss (regression), CrossEntropyLoss (classification from logits: a fused, numerically stable
# log-softmax + negative log-likelihood Function), BCEWithLogitsLoss and BinaryCrossEntropyLoss
# (binary / multi-label targets), each with a functional form.
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
# # Module 06: Losses
#
# A loss function turns "how wrong is the model?" into one number. Training is nothing but
# `loss.backward()` followed by a step against the gradient, so the loss decides *what* the model
# learns: its gradient is the very first signal every weight receives.
#
# | task | model output | loss |
# |---|---|---|
# | regression | any real number | `MSELoss`: mean of `(pred - target)^2` |
# | one class out of C | C logits (unnormalised scores) | `CrossEntropyLoss` |
# | yes/no, or several independent yes/no labels | one logit per label | `BCEWithLogitsLoss` |
# | the same, when you already have probabilities | probabilities in (0, 1) | `BinaryCrossEntropyLoss` |
#
# All losses here average over every element (PyTorch's `reduction="mean"`), so the size of the
# gradient does not depend on the batch size -- a learning rate that works for batch 32 also works
# for batch 256.
#
# Two themes run through the module:
#
# * **Numerical stability.** `exp(1000)` overflows to `inf` and `log(0)` is `-inf`. Both happen in
#   practice (confident models produce large logits). Each loss is written so that it never
#   evaluates them.
# * **Fusion.** Cross-entropy could be written as `-log_softmax(z)[range(N), y].mean()` using
#   modules 02 and 03. As one `Function` it needs a handful of NumPy passes instead of a chain of
#   graph nodes with their temporaries, and its gradient turns out to be beautifully simple:
#   `softmax(z) - onehot(y)`. For a GPT, whose output is `(batch, time, vocabulary)`, this is one of
#   the most expensive operations of a training step.

# %%
#| default_exp core.losses

# %%
#| export
import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function

# %% [markdown]
# ## Preparing targets
#
# Targets arrive as Tensors or NumPy arrays. Two helpers check them *before* any math happens, so
# that a shape mistake produces a clear error instead of a silently wrong loss. The classic trap:
# predictions of shape `(N, 1)` minus targets of shape `(N,)` broadcast to an `(N, N)` matrix. When
# the number of elements agrees, we reshape the target to the prediction's shape; otherwise we refuse.
#
# Class indices must be integers. Because `Tensor([0, 2, 1])` is float32 by TinyTorch's rules, whole
# floating-point numbers are accepted and converted.

# %%
#| exporti
def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _matching_target(target, pred, what):
    """The target as a Tensor of pred's shape (see above); raises ValueError if sizes differ."""
    target = _as_tensor(target)
    if target.shape != pred.shape:
        if target.size != pred.size:
            raise ValueError("%s: target shape %s does not match prediction shape %s"
                             % (what, target.shape, pred.shape))
        target = target.reshape(pred.shape)
    return target


def _class_indices(targets, logits_shape):
    """Integer class indices of shape logits_shape[:-1], checked to lie in [0, C)."""
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise ValueError("cross_entropy: targets must be class indices (integers), "
                             "got non-integer values")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise ValueError("cross_entropy: targets must be integer class indices, got dtype %s" % t.dtype)
    if t.shape != tuple(logits_shape[:-1]):
        raise ValueError("cross_entropy: logits of shape %s need targets of shape %s, got %s"
                         % (logits_shape, tuple(logits_shape[:-1]), t.shape))
    num_classes = logits_shape[-1]
    # One pass over the targets instead of two (min() and max()): read as unsigned numbers, negative
    # indices wrap around to huge values, so the single test `largest >= C` catches both ends. This
    # check runs on every training step, and for a batch of 64 each pass costs more than the data.
    if t.size and np.maximum.reduce(t.astype(np.uint64, copy=False), axis=None) >= num_classes:
        raise ValueError("cross_entropy: target class indices must be in [0, %d), got range [%d, %d]"
                         % (num_classes, t.min(), t.max()))
    return t


# %% [markdown]
# ## Mean squared error
#
# `MSE = mean((pred - target)^2)`. Its gradient with respect to `pred` is `2 (pred - target) / n`:
# large errors are pushed hardest. MSE is cheap and not a bottleneck, so we simply *compose* it from
# Tensor operations and let autograd derive the gradient -- no custom Function needed. (If the
# target requires grad, it receives a gradient too.)

# %%
#| export
def mse_loss(pred, target):
    """Mean squared error, averaged over all elements."""
    pred = _as_tensor(pred)
    diff = pred - _matching_target(target, pred, "mse_loss")
    return (diff * diff).mean()


class MSELoss:
    """Mean squared error for regression: loss_fn(pred, target)."""

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def forward(self, pred, target):
        return mse_loss(pred, target)

    def __repr__(self):
        return "MSELoss()"


# %% [markdown]
# ## Cross-entropy from logits (fused)
#
# A classifier outputs logits `z` (one score per class). Softmax turns them into probabilities,
# `p_c = exp(z_c) / sum_k exp(z_k)`, and the loss is the negative log-probability of the correct
# class `y`, averaged over the batch:
#
# `loss_i = -log p_y = logsumexp(z) - z_y`
#
# **Stability.** `logsumexp(z) = m + log(sum_k exp(z_k - m))` with `m = max(z)`: every exponent is
# `<= 0`, so nothing overflows, and the sum is at least 1 (the maximum contributes `exp(0)`), so the
# log never sees 0. Logits of `1e4` are no problem.
#
# **Gradient.** Differentiating `logsumexp(z) - z_y` gives `softmax(z) - onehot(y)`, divided by the
# number of rows `M` for the mean. The forward pass already computes `softmax(z)`, so we keep it and
# the backward pass is a scaled copy with `1/M` subtracted at the targets: no one-hot matrix is
# ever built.
#
# **Shapes.** Logits `(N, C)` with targets `(N,)`, or `(N, T, C)` with targets `(N, T)` (one class
# per token, as in language modelling). The class axis is the *last* one (PyTorch puts it on axis 1
# for 3-D input); we flatten all leading axes into `M` rows, which is a free view.
#
# Memory: the forward pass allocates just one `(M, C)` array (the shifted logits, turned into
# probabilities in place with `out=`), and the backward pass one more (the gradient).

# %%
#| exporti
class CrossEntropyFunction(Function):
    """mean over rows of logsumexp(z) - z[target]; logits (..., C), integer targets (...)."""

    @staticmethod
    def forward(ctx, logits, targets):
        num_classes = logits.shape[-1]
        z = logits.reshape(-1, num_classes)                  # (M, C), a view
        t = targets.reshape(-1)
        rows = np.arange(z.shape[0])
        # np.maximum.reduce / np.add.reduce are what .max() / .sum() / .mean() call, minus a
        # Python-level wrapper that costs more than the arithmetic for a batch of 64
        shifted = z - np.maximum.reduce(z, axis=1, keepdims=True)   # the only (M, C) allocation
        picked = shifted[rows, t]                            # z_y - m
        exp = np.exp(shifted, out=shifted)                   # in place
        sums = np.add.reduce(exp, axis=1)
        losses = np.log(sums) - picked                       # logsumexp(z) - z_y (m cancels)
        exp /= sums[:, None]                                 # now softmax(z), still in place
        ctx.probs, ctx.rows, ctx.t, ctx.shape = exp, rows, t, logits.shape
        return np.asarray(np.add.reduce(losses) / losses.shape[0], dtype=logits.dtype)   # the mean

    @staticmethod
    def backward(ctx, grad_out):
        probs = ctx.probs
        scale = np.asarray(grad_out, dtype=probs.dtype) / probs.shape[0]
        grad = probs * scale                                 # (softmax - onehot) * g / M ...
        grad[ctx.rows, ctx.t] -= scale                       # ... the onehot part
        return grad.reshape(ctx.shape), None


# %%
#| export
def cross_entropy(logits, targets):
    """Mean cross-entropy of logits (N, C) or (N, T, C) against integer class indices (N,) / (N, T)."""
    logits = _as_tensor(logits)
    if logits.ndim < 2:
        raise ValueError("cross_entropy: logits must have shape (N, C) or (N, T, C), got %s"
                         % (logits.shape,))
    return CrossEntropyFunction.apply(logits, _class_indices(targets, logits.shape))


class CrossEntropyLoss:
    """Softmax cross-entropy from logits and integer class indices: loss_fn(logits, targets)."""

    def __call__(self, logits, targets):
        return self.forward(logits, targets)

    def forward(self, logits, targets):
        return cross_entropy(logits, targets)

    def __repr__(self):
        return "CrossEntropyLoss()"


# %% [markdown]
# ## Binary cross-entropy from logits (fused)
#
# For a yes/no target `y` in {0, 1} (or a soft target in [0, 1]) and one logit `x`, with
# `p = sigmoid(x)`:
#
# `loss = -(y log p + (1 - y) log(1 - p))`
#
# Naively, `sigmoid(40)` rounds to exactly 1.0 in float32 and `log(1 - p)` is `-inf`. Substituting
# `p = 1 / (1 + exp(-x))` and simplifying gives a form that is exact for every `x`:
#
# `loss = max(x, 0) - x y + log(1 + exp(-|x|))`
#
# `exp(-|x|)` lies in (0, 1], so nothing overflows, and `log1p` keeps full precision when it is tiny.
# The gradient is again "prediction minus target": `d loss / dx = sigmoid(x) - y`, where sigmoid is
# computed from the same `exp(-|x|)` (`1/(1+e)` for `x >= 0`, `e/(1+e)` for `x < 0`), so the forward
# pass's exponential is reused.

# %%
#| exporti
class BCEWithLogitsFunction(Function):
    """mean of max(x, 0) - x*y + log1p(exp(-|x|)) over all elements."""

    @staticmethod
    def forward(ctx, x, y):
        e = np.exp(-np.abs(x))
        losses = np.maximum(x, 0) - x * y + np.log1p(e)
        ctx.x, ctx.y, ctx.e = x, y, e
        return np.asarray(losses.mean(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, e = ctx.x, ctx.e
        scale = np.asarray(grad_out, dtype=x.dtype) / x.size
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            sig = np.where(x >= 0, 1.0, e) / (1.0 + e)       # sigmoid(x), stable for every x
            grad_x = (sig - ctx.y) * scale
        if ctx.needs_input_grad[1]:
            grad_y = -x * scale
        return grad_x, grad_y


# %%
#| export
def binary_cross_entropy_with_logits(logits, targets):
    """Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1]; stable for any logit."""
    logits = _as_tensor(logits)
    targets = _matching_target(targets, logits, "binary_cross_entropy_with_logits")
    return BCEWithLogitsFunction.apply(logits, targets)


class BCEWithLogitsLoss:
    """Binary cross-entropy on logits (sigmoid included, numerically stable): loss_fn(logits, targets)."""

    def __call__(self, logits, targets):
        return self.forward(logits, targets)

    def forward(self, logits, targets):
        return binary_cross_entropy_with_logits(logits, targets)

    def __repr__(self):
        return "BCEWithLogitsLoss()"


# %% [markdown]
# ## Binary cross-entropy on probabilities
#
# Sometimes the model already ends in a sigmoid and outputs probabilities `p`. Then we cannot use
# the trick above, and `p` may be exactly 0 or 1, where `log` gives `-inf`. The standard remedy is to
# **clip** `p` into `[eps, 1 - eps]` before taking logs (`eps = 1e-7` keeps `1 - eps` representable in
# float32), which bounds each element's loss by about 16.
#
# The gradient `d loss / dp = (p - y) / (p (1 - p))` is evaluated at the clipped `p`, so a
# confidently wrong prediction still gets a (large, finite) push in the right direction instead of
# the zero gradient a literal clip would give. Prefer `BCEWithLogitsLoss` when you can: it is exact.

# %%
#| exporti
class BinaryCrossEntropyFunction(Function):
    """mean of -(y log p + (1-y) log(1-p)) with p clipped to [eps, 1-eps]."""

    @staticmethod
    def forward(ctx, p, y, eps=1e-7):
        pc = np.clip(p, eps, 1.0 - eps)
        log_p, log_1mp = np.log(pc), np.log1p(-pc)
        losses = -(y * log_p + (1.0 - y) * log_1mp)
        ctx.pc, ctx.y, ctx.log_p, ctx.log_1mp = pc, y, log_p, log_1mp
        return np.asarray(losses.mean(), dtype=p.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        pc = ctx.pc
        scale = np.asarray(grad_out, dtype=pc.dtype) / pc.size
        grad_p = grad_y = None
        if ctx.needs_input_grad[0]:
            grad_p = (pc - ctx.y) / (pc * (1.0 - pc)) * scale
        if ctx.needs_input_grad[1]:
            grad_y = (ctx.log_1mp - ctx.log_p) * scale
        return grad_p, grad_y


# %%
#| export
def binary_cross_entropy(probs, targets, eps=1e-7):
    """Mean binary cross-entropy of probabilities (clipped to [eps, 1 - eps]) against targets."""
    probs = _as_tensor(probs)
    targets = _matching_target(targets, probs, "binary_cross_entropy")
    return BinaryCrossEntropyFunction.apply(probs, targets, eps=eps)


class BinaryCrossEntropyLoss:
    """Binary cross-entropy on probabilities (clipped for stability): loss_fn(probs, targets)."""

    def __init__(self, eps=1e-7):
        self.eps = eps

    def __call__(self, probs, targets):
        return self.forward(probs, targets)

    def forward(self, probs, targets):
        return binary_cross_entropy(probs, targets, eps=self.eps)

    def __repr__(self):
        return "BinaryCrossEntropyLoss(eps=%g)" % self.eps


# %% [markdown]
# ## Checks
#
# Run `PYTHONPATH=course python course/modules/06_losses/losses.py` after exporting.

# %%
from tinytorch.core.autograd import gradcheck


def _reference_cross_entropy(z, y):
    """Straightforward float64 cross-entropy, for comparison."""
    z = z.astype(np.float64)
    log_probs = z - z.max(axis=-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, y[..., None], axis=-1).mean()


def test_unit_mse():
    pred = Tensor([[1.0], [2.0], [4.0]], requires_grad=True)
    loss = MSELoss()(pred, np.array([1.0, 1.0, 1.0]))      # (3, 1) vs (3,): reshaped, not broadcast
    assert np.isclose(loss.item(), (0 + 1 + 9) / 3)
    loss.backward()
    assert np.allclose(pred.grad.data.ravel(), [0, 2 / 3, 6 / 3])


def test_unit_cross_entropy():
    z = np.random.randn(6, 5).astype(np.float32)
    y = np.array([0, 4, 2, 2, 1, 3])
    assert np.isclose(CrossEntropyLoss()(Tensor(z), y).item(), _reference_cross_entropy(z, y), atol=1e-5)
    zt = np.random.randn(2, 3, 5).astype(np.float32)
    yt = np.array([[0, 1, 2], [3, 4, 0]])
    assert np.isclose(cross_entropy(Tensor(zt), yt).item(), _reference_cross_entropy(zt, yt), atol=1e-5)
    big = Tensor([[1e4, 0.0, -1e4]], requires_grad=True)
    loss = cross_entropy(big, Tensor([2]))                  # float32 whole numbers are accepted
    loss.backward()
    assert np.isfinite(loss.item()) and np.isclose(loss.item(), 2e4)
    assert np.allclose(big.grad.data, [[1, 0, -1]])
    x = Tensor(np.random.randn(2, 3, 4), requires_grad=True)
    assert gradcheck(lambda x: cross_entropy(x, np.array([[0, 3, 1], [2, 2, 0]])), [x])


def test_unit_binary_losses():
    x = Tensor([[100.0, -100.0, 0.0]], requires_grad=True)
    y = Tensor([[0.0, 0.0, 1.0]])
    loss = binary_cross_entropy_with_logits(x, y)
    assert np.isclose(loss.item(), (100 + 0 + np.log(2)) / 3, rtol=1e-5)
    loss.backward()
    assert np.allclose(x.grad.data, [[1 / 3, 0, -0.5 / 3]], atol=1e-6)
    p = Tensor([[0.0, 1.0, 0.5]])
    assert np.isfinite(BinaryCrossEntropyLoss()(p, [[1.0, 1.0, 1.0]]).item()), "clipped, not inf"
    logits = Tensor(np.random.randn(4, 3), requires_grad=True)
    targets = Tensor(np.random.rand(4, 3))
    assert gradcheck(lambda x: binary_cross_entropy_with_logits(x, targets), [logits])
    probs = Tensor(np.random.rand(4, 3) * 0.8 + 0.1, requires_grad=True)
    assert gradcheck(lambda p: binary_cross_entropy(p, targets), [probs])


# %%
if __name__ == "__main__":
    test_unit_mse()
    test_unit_cross_entropy()
    test_unit_binary_losses()
    print("losses: all checks passed")
