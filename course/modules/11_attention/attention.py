# Module 11 (attention): scaled dot-product attention and multi-head self-attention (batch first).
# Attention is written as fused autograd Functions (forward and hand-derived backward in NumPy),
# with boolean masks (True = may attend) and a causal mask for autoregressive models.
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
# # Module 11: Attention
#
# A convolution mixes information from a *fixed* neighbourhood. Attention lets every position of a
# sequence decide, from the data itself, which other positions to read from.
#
# Each position emits three vectors:
#
# * a **query** `q`: "what am I looking for?"
# * a **key** `k`: "what do I contain?"
# * a **value** `v`: "what do I hand over if you pick me?"
#
# Position `i` scores every position `j` by the dot product `q_i . k_j`, turns the scores into
# weights with a softmax (they are positive and sum to 1), and returns the weighted average of the
# values. For all positions at once, with `Q, K, V` of shape `(T, d)`:
#
#     Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V
#
# **Why divide by `sqrt(d)`?** A dot product of two random `d`-dimensional vectors with unit-variance
# entries has variance `d`. Large scores push the softmax into saturation (one weight ~1, the rest
# ~0), where its gradient vanishes. Scaling by `1/sqrt(d)` keeps the scores at unit variance.
#
# **Masks.** A language model predicting token `t+1` must not peek at tokens after `t`. A *causal
# mask* forbids position `i` to attend to any `j > i`: those scores are set to a huge negative
# number before the softmax, so their weights become exactly 0.
#
# **Multiple heads.** One softmax picks one mixture. With `h` heads, the model splits its `d_model`
# features into `h` groups of `d_model / h`, runs attention in each group independently (one head
# may track "the previous token", another "the matching bracket"), and concatenates the results.
# It costs the same as one big head.

# %%
#| default_exp core.attention

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, Linear

# %% [markdown]
# ## Masks
#
# A mask is a boolean array that broadcasts against the scores `(..., T_query, T_key)`; **True
# means "may attend"** (the convention of `torch.nn.functional.scaled_dot_product_attention`).
# `causal_mask(T)` is the lower triangle: query `i` sees keys `0..i`.
#
# Masked scores are replaced by `-1e9` rather than `-inf`: `exp(-1e9 - max)` is exactly 0 in float32,
# and a row whose keys are *all* masked gives a uniform average instead of `nan` (`-inf - -inf`).

# %%
#| export
_MASKED = -1e9


def causal_mask(T):
    """Boolean (T, T) array, True where query i may attend key j (j <= i)."""
    return np.tril(np.ones((int(T), int(T)), dtype=bool))


def _as_mask(mask):
    """Masks may be given as a NumPy array, a Tensor or a nested list; returns a boolean array."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        mask = mask.data
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError("attention masks must be boolean (True = may attend), got dtype %s" % mask.dtype)
    return mask


# %% [markdown]
# ## The math, forward and backward
#
# Forward, with `s = 1 / sqrt(d)`:
#
#     S = s * Q K^T          scores          (..., Tq, Tk)
#     P = softmax(S)         weights, masked entries exactly 0
#     O = P V                output          (..., Tq, dv)
#
# Backward, given `dO` (each line is the backward of one line above, read bottom-up):
#
#     dV = P^T dO,   dP = dO V^T
#     dS = P * (dP - sum_k(dP * P))      (the softmax's Jacobian-vector product, row by row)
#     dQ = s * dS K,  dK = s * dS^T Q
#
# Masked entries have `P = 0`, hence `dS = 0`: no gradient flows through a forbidden connection.
# Attention dropout (training only) zeroes random weights after the softmax and rescales the rest
# by `1 / (1 - p)`; the same `keep` array is applied to the weights in the backward.
#
# These two helpers work on plain NumPy arrays; the Functions below wrap them.

# %%
#| exporti
def _attention_forward(q, k, v, mask=None, keep=None, keep_scale=1.0, out=None):
    """Returns the output and the arrays the backward needs. `out`: optional array (or view) to
    write the output into, so that a caller wanting another memory layout needs no copy."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = np.matmul(q, np.swapaxes(k, -1, -2))      # one batched matmul for every (batch, head)
    scores *= scale
    # Everything below works in place on `scores`, which becomes the weights: the masked scores
    # are overwritten (np.copyto with where=, no new array as np.where would make), then the
    # stable softmax; np.maximum.reduce / np.add.reduce skip the Python wrappers of .max()/.sum().
    if mask is not None:
        np.copyto(scores, _MASKED, where=~mask)
    scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
    weights = np.exp(scores, out=scores)
    weights /= np.add.reduce(weights, axis=-1, keepdims=True)
    used = weights
    if keep is not None:                                # attention dropout
        used = weights * keep
        used *= keep_scale
    out = np.matmul(used, v, out=out)
    return out, (q, k, v, weights, used, keep, keep_scale, scale)


def _attention_backward(saved, grad_out, need=(True, True, True), out=(None, None, None)):
    """dq, dk, dv; `out`: optional arrays (or views) to write each of them into."""
    q, k, v, weights, used, keep, keep_scale, scale = saved
    grad_q = grad_k = grad_v = None
    if need[2]:
        grad_v = np.matmul(np.swapaxes(used, -1, -2), grad_out, out=out[2])
    if need[0] or need[1]:
        grad_w = np.matmul(grad_out, np.swapaxes(v, -1, -2))
        if keep is not None:
            grad_w *= keep
            grad_w *= keep_scale
        # softmax backward: dS = P * (dP - rowsum(dP * P)), in place in grad_w (a fresh array of
        # ours); einsum forms the row sums of dP * P without materialising the product.
        grad_s = grad_w
        grad_s -= np.einsum("...i,...i->...", grad_w, weights)[..., None]
        grad_s *= weights
        grad_s *= scale
        if need[0]:
            grad_q = np.matmul(grad_s, k, out=out[0])
        if need[1]:
            grad_k = np.matmul(np.swapaxes(grad_s, -1, -2), q, out=out[1])
    return grad_q, grad_k, grad_v


# %% [markdown]
# ## scaled_dot_product_attention
#
# `q` has shape `(..., Tq, d)`, `k` `(..., Tk, d)`, `v` `(..., Tk, dv)`; the leading axes (batch,
# heads) are any broadcast-compatible shape. It is one fused `Function`: one graph node instead of
# the seven (matmul, scale, mask, max, exp, sum, divide, matmul) a composed version would record.

# %%
#| export
class AttentionFunction(Function):
    """softmax(q k^T / sqrt(d), masked) v as one autograd node."""

    @staticmethod
    def forward(ctx, q, k, v, mask=None, keep=None, keep_scale=1.0):
        out, ctx.saved = _attention_forward(q, k, v, mask, keep, keep_scale)
        ctx.shapes = (q.shape, k.shape, v.shape)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        grads = _attention_backward(ctx.saved, grad_out, ctx.needs_input_grad[:3])
        return grads + (None, None, None)


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q @ k^T / sqrt(d)) @ v. `mask`: boolean, broadcastable to (..., Tq, Tk), True = may attend."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim < 2:
            raise ValueError("%s must have at least 2 axes (..., T, d), got shape %s" % (name, t.shape))
    if q.shape[-1] != k.shape[-1]:
        raise ValueError("q and k need the same feature size, got %s and %s" % (q.shape, k.shape))
    if k.shape[-2] != v.shape[-2]:
        raise ValueError("k and v need the same number of positions, got %s and %s" % (k.shape, v.shape))
    return AttentionFunction.apply(q, k, v, _as_mask(mask))


# %% [markdown]
# ## Multi-head self-attention
#
# `MultiHeadAttention(d_model, num_heads)` works on batch-first input `x` of shape `(B, T, d_model)`:
#
# 1. one Linear layer computes queries, keys and values together: `(B, T, 3 * d_model)` (one big
#    matrix multiply is faster than three small ones);
# 2. the features are split into heads: `(B, T, 3, H, d_head)` -> three arrays `(B, H, T, d_head)`
#    -- a reshape and a transpose, no copying;
# 3. attention runs in every (batch, head) pair at once (the leading axes of the matmuls);
# 4. the heads are concatenated back to `(B, T, d_model)` and mixed by an output Linear layer.
#
# Steps 2-4 form one fused Function, `SelfAttentionFunction`, so a whole attention layer records three
# graph nodes (projection, attention, projection). Its backward runs the same steps in reverse:
# attention backward per head, then the three head gradients are packed back into the `3 * d_model`
# features they came from.
#
# The projections use Xavier initialisation: no ReLU follows them, so the gain of 2 of Kaiming
# initialisation (module 04) is not wanted.

# %%
#| export
class SelfAttentionFunction(Function):
    """Split packed qkv (B, T, 3*D) into heads, attend, merge heads back to (B, T, D)."""

    @staticmethod
    def forward(ctx, qkv, num_heads, mask=None, keep=None, keep_scale=1.0):
        b, t, d3 = qkv.shape
        d = d3 // 3
        heads = qkv.reshape(b, t, 3, num_heads, d // num_heads).transpose(2, 0, 3, 1, 4)  # 3,B,H,T,hd
        # The heads are concatenated by writing each head's output straight into its place in a
        # (B, T, H, hd) array: the matmul writes through the transposed view, so no copy is made
        # (a copy of the whole output from (B, H, T, hd) order would cost more than the matmul).
        merged = np.empty((b, t, num_heads, d // num_heads), dtype=qkv.dtype)
        _, ctx.saved = _attention_forward(heads[0], heads[1], heads[2], mask, keep, keep_scale,
                                          out=merged.transpose(0, 2, 1, 3))
        ctx.num_heads = num_heads
        return merged.reshape(b, t, d)

    @staticmethod
    def backward(ctx, grad_out):
        b, t, d = grad_out.shape
        h = ctx.num_heads
        g = grad_out.reshape(b, t, h, d // h).transpose(0, 2, 1, 3)   # (B, H, T, hd)
        # dq, dk, dv are written by their matmuls straight into the packed (B, T, 3, H, hd) gradient,
        # through (B, H, T, hd) views of it, as in the forward
        grad_qkv = np.empty((b, t, 3, h, d // h), dtype=grad_out.dtype)
        parts = grad_qkv.transpose(2, 0, 3, 1, 4)                      # 3, B, H, T, hd
        _attention_backward(ctx.saved, g, out=(parts[0], parts[1], parts[2]))
        return grad_qkv.reshape(b, t, 3 * d), None, None, None, None


class MultiHeadAttention(Module):
    """Multi-head self-attention, batch first: forward(x (B, T, d_model), mask=None, causal=False)."""

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model (%d) must be divisible by num_heads (%d)" % (d_model, num_heads))
        if not 0.0 <= dropout < 1.0:
            raise ValueError("dropout must be in [0, 1), got %r" % (dropout,))
        self.d_model, self.num_heads, self.head_dim = int(d_model), int(num_heads), d_model // num_heads
        self.dropout = float(dropout)
        self.qkv_proj = Linear(d_model, 3 * d_model, init="xavier")
        self.out_proj = Linear(d_model, d_model, init="xavier")

    def forward(self, x, mask=None, causal=False):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError("MultiHeadAttention expects (batch, seq, %d) input, got shape %s"
                             % (self.d_model, x.shape))
        b, t, _ = x.shape
        mask = _as_mask(mask)
        if causal:
            mask = causal_mask(t) if mask is None else (mask & causal_mask(t))
        keep, keep_scale = None, 1.0
        if self.training and self.dropout > 0.0:
            rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
            keep = rng.random((b, self.num_heads, t, t), dtype=np.float32) >= self.dropout
            keep_scale = 1.0 / (1.0 - self.dropout)
        qkv = self.qkv_proj(x)
        out = SelfAttentionFunction.apply(qkv, self.num_heads, mask, keep, keep_scale)
        return self.out_proj(out)

    def extra_repr(self):
        return "d_model=%d, num_heads=%d, dropout=%g" % (self.d_model, self.num_heads, self.dropout)


# %% [markdown]
# ## Checks
#
# 1. Against a plain composed version built from Tensor operations (autograd derives that one).
# 2. Gradients against finite differences, with and without masks.
# 3. Causality: changing a later token must not change earlier outputs.

# %%
from tinytorch.core.autograd import gradcheck


def _composed_attention(q, k, v, mask=None):
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores + Tensor(np.where(mask, 0.0, _MASKED).astype(q.data.dtype))
    scores = scores - Tensor(scores.data.max(axis=-1, keepdims=True))
    e = scores.exp()
    return (e / e.sum(axis=-1, keepdims=True)) @ v


def test_unit_sdpa_matches_composed():
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 5, 4)), requires_grad=True) for _ in range(3))
    for mask in (None, causal_mask(5)):
        fused = scaled_dot_product_attention(q, k, v, mask)
        ref = _composed_attention(q, k, v, mask)
        assert np.allclose(fused.data, ref.data, atol=1e-5)
    assert np.allclose(fused.data[..., 0, :], v.data[..., 0, :], atol=1e-5), "causal row 0 sees only key 0"


def test_unit_sdpa_gradcheck():
    rng = np.random.default_rng(1)
    q = Tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    k = Tensor(rng.standard_normal((2, 6, 3)), requires_grad=True)
    v = Tensor(rng.standard_normal((2, 6, 2)), requires_grad=True)
    pad = np.array([True, True, True, True, False, False])
    for mask in (None, pad, rng.random((4, 6)) > 0.3):
        assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), [q, k, v])


def test_unit_multihead_attention():
    np.random.seed(0)
    mha = MultiHeadAttention(8, 2)
    x = Tensor(np.random.randn(2, 5, 8).astype(np.float32))
    y = mha(x, causal=True)
    assert y.shape == (2, 5, 8) and len(mha.parameters()) == 4
    x2 = x.data.copy()
    x2[:, 3:] += 1.0                                    # change only the last two tokens
    y2 = mha(Tensor(x2), causal=True)
    assert np.allclose(y.data[:, :3], y2.data[:, :3], atol=1e-6), "causal: no peeking ahead"
    qkv = Tensor(np.random.randn(2, 5, 24), requires_grad=True)
    assert gradcheck(lambda t: SelfAttentionFunction.apply(t, 2, causal_mask(5)), [qkv])


# %%
if __name__ == "__main__":
    test_unit_sdpa_matches_composed()
    test_unit_sdpa_gradcheck()
    test_unit_multihead_attention()
    print("attention: all checks passed")
