# Module 12 (transformer): the pieces of a GPT and the GPT itself.
# Embedding, learned and sinusoidal position encodings, LayerNorm (a fused autograd Function),
# the FeedForward (MLP) block, the pre-norm TransformerBlock and a small GPT with generate()
# (temperature, top-k, seeded sampling).
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
# # Module 12: Transformer
#
# Module 11 gave us attention: a way for positions of a sequence to read from each other. A
# transformer wraps it into a block that can be stacked many times, and a GPT stacks such blocks
# between an input embedding and an output layer:
#
#     tokens (B, T) --Embedding--> (B, T, D) --+ positions--> [TransformerBlock] x N --LayerNorm--> Linear --> logits (B, T, vocab)
#
# Each block has two sub-layers, each wrapped in a *residual connection* with *pre-normalisation*:
#
#     x = x + Attention(LayerNorm(x))        # positions exchange information
#     x = x + FeedForward(LayerNorm(x))      # each position thinks on its own
#
# * **Residual connections** (`x + f(x)`) give gradients a direct path from the loss to every block:
#   the derivative of `x + f(x)` is `1 + f'(x)`, so it never vanishes however deep the stack is.
# * **Pre-norm** (normalise the *input* of each sub-layer, GPT-2 style) keeps the residual path
#   itself untouched and trains more stably than normalising after the addition.
# * **Position information**: attention itself is blind to order (permute the tokens and the outputs
#   are permuted the same way). We add a position vector to every token embedding, either *learned*
#   (GPT) or fixed *sinusoidal* (the original Transformer).
#
# Systems note: LayerNorm runs twice per block on every token. Composed from Tensor ops it would
# record about ten graph nodes; as one fused `Function` it records one, and its backward is a
# short closed formula.

# %%
#| default_exp core.transformer

# %%
#| export
import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function, no_grad
from tinytorch.core.activations import GELU
from tinytorch.core.layers import Module, Parameter, Linear, ModuleList
from tinytorch.core.attention import MultiHeadAttention

# %% [markdown]
# ## Embedding: a lookup table with a scatter-add backward
#
# Token ids are integers; a network needs vectors. An `Embedding(num_embeddings, dim)` is a learned
# table of shape `(num_embeddings, dim)`, and `embedding(ids)` picks one row per id: `weight[ids]`.
# (Mathematically this is `one_hot(ids) @ weight`, without ever building the huge one-hot matrix.)
#
# In the backward, every picked row receives the gradient of its output position. A token that
# appears five times in a batch gets the *sum* of five gradients: `np.add.at(grad, ids, g)` adds
# with repeats (plain `grad[ids] += g` would keep only one of them!). The backward below computes
# the same sums faster, by sorting the rows by id and summing each run of equal ids at once.

# %%
#| export
class EmbeddingFunction(Function):
    """weight[ids]: rows of the table; backward scatter-adds the output gradient into the rows."""

    @staticmethod
    def forward(ctx, weight, ids):
        ctx.ids, ctx.shape = ids, weight.shape
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        # np.add.at(grad, ids, rows) is the textbook scatter-add, but it handles one row at a time.
        # Faster: sort the rows by id, so equal ids are neighbours, and add each run of equal ids
        # with one np.add.reduceat (a segmented sum), then write one row per distinct id.
        ids = ctx.ids.reshape(-1)
        rows = grad_out.reshape(-1, ctx.shape[1])
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.diff(sorted_ids, prepend=-1))    # first row of each distinct id
        grad = np.zeros(ctx.shape, dtype=grad_out.dtype)
        grad[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        return grad, None


def _token_ids(ids, num_embeddings):
    """Accept a Tensor, array or list of integer ids; check them with a clear message."""
    if isinstance(ids, Tensor):
        ids = ids.data
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        if ids.dtype.kind == "f" and ids.size and np.all(ids == np.round(ids)):
            ids = ids.astype(np.int64)                # float Tensors holding whole numbers are fine
        else:
            raise TypeError("token ids must be integers, got dtype %s" % ids.dtype)
    if ids.size and (ids.min() < 0 or ids.max() >= num_embeddings):
        raise IndexError("token id out of range [0, %d): min %d, max %d"
                         % (num_embeddings, ids.min(), ids.max()))
    return ids


class Embedding(Module):
    """A learned lookup table: Embedding(num_embeddings, dim)(ids) -> (*ids.shape, dim)."""

    def __init__(self, num_embeddings, dim):
        super().__init__()
        self.num_embeddings, self.dim = int(num_embeddings), int(dim)
        self.weight = Parameter(np.random.normal(0.0, 1.0, (self.num_embeddings, self.dim)).astype(np.float32))

    def forward(self, ids):
        return EmbeddingFunction.apply(self.weight, _token_ids(ids, self.num_embeddings))

    def extra_repr(self):
        return "%d, %d" % (self.num_embeddings, self.dim)


# %% [markdown]
# ## Position encodings
#
# Both classes take the token embeddings `x` of shape `(B, T, D)` and return `x + P[:T]`, where `P`
# holds one `D`-vector per position.
#
# * `PositionalEmbedding(max_len, dim)` learns `P` (GPT-2 does this). Simple and flexible, but it
#   knows nothing about positions beyond `max_len`.
# * `SinusoidalPositionalEncoding(max_len, dim)` fixes `P[pos, 2i] = sin(pos / 10000^(2i/D))` and
#   `P[pos, 2i+1] = cos(...)`: each pair of features is a clock running at its own frequency, from
#   one turn every 6 positions to one every ~60,000. A fixed offset `k` is a rotation of every
#   pair, so "the token k steps back" is easy for attention to express. Nothing is learned; the
#   table is a buffer (part of the module, not a parameter), recomputed rather than saved.

# %%
#| export
class PositionalEmbedding(Module):
    """Learned position embeddings: forward(x (B, T, D)) -> x + weight[:T]."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.max_len, self.dim = int(max_len), int(dim)
        self.weight = Parameter(np.random.normal(0.0, 1.0, (self.max_len, self.dim)).astype(np.float32))

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        t = x.shape[-2]
        if t > self.max_len:
            raise ValueError("sequence of length %d is longer than max_len=%d" % (t, self.max_len))
        return x + self.weight[:t]

    def extra_repr(self):
        return "max_len=%d, dim=%d" % (self.max_len, self.dim)


def _sinusoidal_table(max_len, dim):
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    freq = np.exp(-np.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((max_len, dim))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[:dim // 2])
    return table.astype(np.float32)


class SinusoidalPositionalEncoding(Module):
    """Fixed sine/cosine position encodings: forward(x (B, T, D)) -> x + table[:T]."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.max_len, self.dim = int(max_len), int(dim)
        self.register_buffer("table", _sinusoidal_table(self.max_len, self.dim), persistent=False)

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        t = x.shape[-2]
        if t > self.max_len:
            raise ValueError("sequence of length %d is longer than max_len=%d" % (t, self.max_len))
        return x + Tensor(self.table[:t].astype(x.dtype, copy=False))

    def extra_repr(self):
        return "max_len=%d, dim=%d" % (self.max_len, self.dim)


# %% [markdown]
# ## LayerNorm, fused
#
# LayerNorm normalises each token's feature vector to mean 0 and variance 1, then applies a learned
# scale `gamma` and shift `beta` (so the network can undo the normalisation where that helps):
#
#     mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps),  y = gamma * xhat + beta
#
# Unlike BatchNorm it looks at one token at a time, so it behaves the same in training and
# evaluation and for any batch size.
#
# Backward, per token with `D` features and `dxhat = g * gamma`:
#
#     dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
#     dgamma = sum over tokens of g * xhat,   dbeta = sum over tokens of g
#
# (The two subtracted means are the gradient flowing through `mu` and through `var`.)

# %%
#| export
class LayerNormFunction(Function):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis, as one graph node."""

    # Why it is fast: the forward allocates one array (its output) and keeps only the per-token
    # mean and 1/std for the backward, which recomputes xhat from x (one cheap pass) instead of
    # holding an input-sized array for the whole forward and backward: a step's peak memory is
    # what must be page-faulted in again each step. The means are np.add.reduce times 1/D (no
    # np.mean wrapper), the variance one einsum (no squared temporary).
    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        inv_d = 1.0 / x.shape[-1]
        mu = np.add.reduce(x, axis=-1, keepdims=True)
        mu *= inv_d
        out = x - mu                                     # x - mean, becomes the output in place
        var = np.einsum("...i,...i->...", out, out)[..., None]
        var *= inv_d
        var += eps
        rstd = np.sqrt(var, out=var)
        np.reciprocal(rstd, out=rstd)                    # 1 / sqrt(var + eps), per token
        out *= rstd                                      # xhat
        out *= gamma
        out += beta
        ctx.x, ctx.mu, ctx.rstd, ctx.gamma = x, mu, rstd, gamma
        return out

    @staticmethod
    def backward(ctx, grad_out):
        gamma, rstd = ctx.gamma, ctx.rstd
        d = gamma.shape[-1]
        xhat = ctx.x - ctx.mu
        xhat *= rstd
        g_xhat = grad_out * xhat
        grad_x = grad_gamma = grad_beta = None
        if ctx.needs_input_grad[1]:
            grad_gamma = np.add.reduce(g_xhat.reshape(-1, d), axis=0)
        if ctx.needs_input_grad[2]:
            grad_beta = np.add.reduce(grad_out.reshape(-1, d), axis=0)
        if ctx.needs_input_grad[0]:
            # mean(dxhat) and mean(dxhat * xhat) with dxhat = g * gamma, as matrix-vector products
            # (no temporary arrays of the input's size: at these sizes memory traffic is the cost)
            mean_dxhat = (grad_out @ gamma)[..., None] / d
            mean_dxhat_xhat = (g_xhat @ gamma)[..., None] / d
            grad_x = grad_out * gamma
            grad_x -= mean_dxhat
            xhat *= mean_dxhat_xhat                        # xhat is ours and no longer needed
            grad_x -= xhat
            grad_x *= rstd
        return grad_x, grad_gamma, grad_beta, None


class LayerNorm(Module):
    """Layer normalisation over the last axis: LayerNorm(dim, eps=1e-5), learned gamma (weight) and beta (bias)."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.dim, self.eps = int(dim), float(eps)
        self.weight = Parameter(np.ones(self.dim, dtype=np.float32))
        self.bias = Parameter(np.zeros(self.dim, dtype=np.float32))

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.shape[-1] != self.dim:
            raise ValueError("LayerNorm(%d) got input with last axis %d" % (self.dim, x.shape[-1]))
        return LayerNormFunction.apply(x, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return "%d, eps=%g" % (self.dim, self.eps)


# %% [markdown]
# ## FeedForward and the TransformerBlock
#
# The feed-forward (MLP) block widens every token's vector (`hidden` is usually `4 * dim`), applies
# GELU (a smooth ReLU, as in GPT-2), and projects back. It holds two thirds of a block's parameters.
#
# Linear layers act on the last axis, so `(B, T, D)` inputs are handled as `B*T` independent rows by
# one matrix multiply each. The output projections (`fc2`, and the attention's `out_proj`) feed the
# residual stream directly, with no activation after them, so they use Xavier initialisation.

# %%
#| export
class FeedForward(Module):
    """The transformer's MLP: Linear(dim, hidden) -> GELU -> Linear(hidden, dim)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.act = GELU()
        self.fc2 = Linear(hidden, dim, init="xavier")

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(Module):
    """Pre-norm block: x + attn(ln1(x)), then x + mlp(ln2(x)). Causal self-attention by default."""

    def __init__(self, dim, num_heads, mlp_ratio=4, causal=True):
        super().__init__()
        self.causal = bool(causal)
        self.ln1 = LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.ln2 = LayerNorm(dim)
        self.mlp = FeedForward(dim, int(mlp_ratio * dim))

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln1(x), mask=mask, causal=self.causal)
        return x + self.mlp(self.ln2(x))

    def extra_repr(self):
        return "causal=%s" % self.causal


# %% [markdown]
# ## GPT
#
# `GPT(vocab_size, max_len, dim, num_heads, num_layers)` maps token ids `(B, T)` to logits
# `(B, T, vocab_size)`: at every position, a score for each possible *next* token. Because the
# blocks are causal, position `t` only sees tokens `0..t`, so one forward pass trains all `T`
# next-token predictions of a sequence at once (cross-entropy over all positions).
#
# Embeddings start small (`N(0, 0.02)`, as in GPT-2): the residual stream then begins near zero and
# each block's contribution is not drowned by large random embeddings.
#
# ### Generation
#
# `generate(idx, max_new_tokens)` runs the model repeatedly: predict the next token from the last
# position's logits, append it, repeat (the context is cropped to the last `max_len` tokens).
#
# * `temperature` divides the logits: below 1 sharpens the distribution (safer, more repetitive),
#   above 1 flattens it (more surprising). `temperature=0` means greedy: always the top token.
# * `top_k` keeps only the k most likely tokens before sampling, cutting off the long tail of
#   unlikely (often nonsensical) choices.
# * `seed` makes sampling reproducible (its own generator; the global NumPy state is not touched).
#
# It runs under `no_grad()` in evaluation mode (and restores the previous mode). It returns the
# prompt followed by the new tokens: a NumPy int64 array of shape `(B, T + max_new_tokens)`, or a
# Tensor if `idx` was a Tensor; a 1-D prompt gives a 1-D result.

# %%
#| export
class GPT(Module):
    """A decoder-only transformer: GPT(vocab_size, max_len, dim, num_heads, num_layers, mlp_ratio=4)."""

    def __init__(self, vocab_size, max_len, dim, num_heads, num_layers, mlp_ratio=4):
        super().__init__()
        self.vocab_size, self.max_len = int(vocab_size), int(max_len)
        self.tok_emb = Embedding(vocab_size, dim)
        self.pos_emb = PositionalEmbedding(max_len, dim)
        for table in (self.tok_emb.weight, self.pos_emb.weight):
            table.data *= 0.02                         # N(0, 0.02) as in GPT-2
        self.blocks = ModuleList([TransformerBlock(dim, num_heads, mlp_ratio, causal=True)
                                  for _ in range(num_layers)])
        self.ln_f = LayerNorm(dim)
        self.head = Linear(dim, vocab_size, init="xavier")

    def forward(self, idx):
        ids = _token_ids(idx, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError("GPT expects token ids of shape (batch, seq), got %s" % (ids.shape,))
        if ids.shape[1] > self.max_len:
            raise ValueError("sequence of length %d is longer than max_len=%d" % (ids.shape[1], self.max_len))
        x = self.pos_emb(self.tok_emb(ids))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, seed=None):
        """Extend `idx` by max_new_tokens sampled tokens (temperature=0: greedy)."""
        as_tensor = isinstance(idx, Tensor)
        seq = np.array(idx.data if as_tensor else idx, dtype=np.int64)
        squeeze = seq.ndim == 1
        if squeeze:
            seq = seq[None, :]
        if temperature < 0:
            raise ValueError("temperature must be >= 0, got %r" % (temperature,))
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(int(max_new_tokens)):
                    logits = self.forward(seq[:, -self.max_len:]).data[:, -1, :].astype(np.float64)
                    if temperature == 0:
                        nxt = logits.argmax(axis=-1)
                    else:
                        logits = logits / temperature
                        if top_k is not None and top_k < logits.shape[-1]:
                            kth = np.sort(logits, axis=-1)[:, -int(top_k)][:, None]
                            logits = np.where(logits < kth, -np.inf, logits)
                        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
                        probs /= probs.sum(axis=-1, keepdims=True)
                        # inverse-CDF sampling, one uniform number per row
                        u = rng.random((len(probs), 1))
                        nxt = np.minimum((probs.cumsum(axis=-1) < u).sum(axis=-1), logits.shape[-1] - 1)
                    seq = np.concatenate([seq, nxt[:, None].astype(np.int64)], axis=1)
        finally:
            self.train(was_training)
        if squeeze:
            seq = seq[0]
        return Tensor(seq) if as_tensor else seq


# %% [markdown]
# ## Checks
#
# Gradients of every fused piece against finite differences, LayerNorm against its definition,
# and a tiny GPT that memorises one sequence and then generates it greedily.

# %%
from tinytorch.core.autograd import gradcheck


def test_unit_layernorm():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 6)) * 3 + 1, requires_grad=True)
    g = Tensor(rng.standard_normal(6), requires_grad=True)
    b = Tensor(rng.standard_normal(6), requires_grad=True)
    y = LayerNormFunction.apply(x, g, b, 1e-5).data
    ref = (x.data - x.data.mean(-1, keepdims=True)) / np.sqrt(x.data.var(-1, keepdims=True) + 1e-5)
    assert np.allclose(y, ref * g.data + b.data, atol=1e-5)
    assert gradcheck(lambda x, g, b: LayerNormFunction.apply(x, g, b, 1e-5), [x, g, b])


def test_unit_embeddings():
    emb = Embedding(5, 3)
    ids = np.array([[0, 2, 2], [4, 2, 0]])
    assert np.array_equal(emb(ids).data, emb.weight.data[ids])
    w = Tensor(np.random.randn(5, 3), requires_grad=True)
    assert gradcheck(lambda w: EmbeddingFunction.apply(w, ids), [w])    # repeated ids add up
    pe = SinusoidalPositionalEncoding(10, 4)
    assert np.allclose(pe.table[0], [0, 1, 0, 1]) and pe.parameters() == []
    x = Tensor(np.zeros((2, 3, 4), dtype=np.float32), requires_grad=True)
    pos = PositionalEmbedding(10, 4)
    assert gradcheck(lambda x, w: x + w[:3], [x, pos.weight])    # what pos(x) computes


def test_unit_block_and_gpt():
    np.random.seed(0)
    block = TransformerBlock(8, 2)
    x = Tensor(np.random.randn(2, 4, 8))
    assert block(x).shape == (2, 4, 8)
    model = GPT(vocab_size=7, max_len=8, dim=16, num_heads=2, num_layers=1)
    seq = np.array([[1, 3, 5, 2, 4, 6, 0, 1]])
    params = model.parameters()
    for _ in range(150):                               # plain gradient descent on one sequence
        logits = model(seq[:, :-1])
        z = logits.data - logits.data.max(-1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        p[0, np.arange(7), seq[0, 1:]] -= 1            # d(cross-entropy)/d(logits)
        for q in params:
            q.grad = None
        logits.backward(p / 7)
        for q in params:
            q.data -= 0.1 * q.grad.data
    out = model.generate(seq[0, :1], max_new_tokens=7, temperature=0)
    assert out.tolist() == seq[0].tolist(), out
    sampled = model.generate(seq[:, :2], 5, temperature=1.0, top_k=2, seed=3)
    assert sampled.shape == (1, 7)
    assert np.array_equal(sampled, model.generate(seq[:, :2], 5, temperature=1.0, top_k=2, seed=3))


# %%
if __name__ == "__main__":
    test_unit_layernorm()
    test_unit_embeddings()
    test_unit_block_and_gpt()
    print("transformer: all checks passed")
