"""Unit tests of module 11 (attention): scaled dot-product attention against a NumPy reference,
masks, multi-head self-attention (causality, dropout), finite-difference gradient checks for every
Function of the module, and PyTorch parity when torch is installed. Imports only `tinytorch`."""
import numpy as np
import pytest

from tinytorch.core.autograd import gradcheck, registered_functions
from tinytorch.core.attention import AttentionFunction, SelfAttentionFunction
from tinytorch import MultiHeadAttention, Tensor, causal_mask, scaled_dot_product_attention

GRADCHECKED = {AttentionFunction, SelfAttentionFunction}


def reference_attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == bool and m.shape == (4, 4)
    assert m.tolist()[1] == [True, True, False, False]
    assert np.array_equal(m, np.tril(np.ones((4, 4), bool)))


def test_sdpa_matches_reference():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 6, 2))
    pad = np.array([True] * 4 + [False] * 2)
    rand = rng.random((5, 6)) > 0.4
    rand[:, 0] = True                                              # no row fully masked here
    for mask in (None, pad, rand):
        out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask)
        assert out.shape == (2, 3, 5, 2)
        assert np.allclose(out.data, reference_attention(q, k, v, mask), atol=1e-5)
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), Tensor(pad))   # a Tensor mask
    assert np.allclose(out.data, reference_attention(q, k, v, pad), atol=1e-5)


def test_sdpa_masks_and_errors():
    x = Tensor(np.random.rand(1, 3, 2))
    none = np.zeros((3, 3), dtype=bool)
    out = scaled_dot_product_attention(x, x, x, none)          # everything masked: uniform, not nan
    assert np.all(np.isfinite(out.data))
    with pytest.raises(TypeError):
        scaled_dot_product_attention(x, x, x, np.ones((3, 3)))  # masks are boolean
    with pytest.raises(ValueError):
        scaled_dot_product_attention(x, Tensor(np.random.rand(1, 3, 4)), x)


def test_sdpa_gradcheck():
    rng = np.random.default_rng(1)
    q = Tensor(rng.standard_normal((2, 2, 4, 3)), requires_grad=True)
    k = Tensor(rng.standard_normal((2, 2, 5, 3)), requires_grad=True)
    v = Tensor(rng.standard_normal((2, 2, 5, 2)), requires_grad=True)
    for mask in (None, np.array([True, True, True, False, False]), rng.random((4, 5)) > 0.3):
        assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), [q, k, v])
    keep = rng.random((2, 2, 4, 5)) > 0.3                          # attention dropout
    assert gradcheck(lambda q, k, v: AttentionFunction.apply(q, k, v, causal_mask(5)[:4], keep, 1 / 0.7),
                     [q, k, v])


def test_self_attention_function_gradcheck():
    rng = np.random.default_rng(2)
    qkv = Tensor(rng.standard_normal((2, 5, 12)), requires_grad=True)
    assert gradcheck(lambda t: SelfAttentionFunction.apply(t, 2, causal_mask(5)), [qkv])
    assert gradcheck(lambda t: SelfAttentionFunction.apply(t, 4, None), [qkv])


def test_multihead_attention_module():
    np.random.seed(0)
    mha = MultiHeadAttention(8, 2)
    assert len(mha.parameters()) == 4 and mha.head_dim == 4
    x = np.random.randn(2, 5, 8).astype(np.float32)
    y = mha(Tensor(x), causal=True)
    assert y.shape == (2, 5, 8) and y.dtype == np.float32
    x2 = x.copy()
    x2[:, 3:] += 1.0
    y2 = mha(Tensor(x2), causal=True).data
    assert np.allclose(y2[:, :3], y.data[:, :3], atol=1e-6) and not np.allclose(y2[:, 3:], y.data[:, 3:])
    # an explicit mask equal to the causal one gives the same result; masks combine with causal
    assert np.allclose(mha(Tensor(x), mask=causal_mask(5)).data, y.data, atol=1e-6)
    assert np.allclose(mha(Tensor(x), mask=np.ones((5, 5), bool), causal=True).data, y.data, atol=1e-6)
    xt = Tensor(x.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda t: mha(t, causal=True), [xt])
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError):
        mha(Tensor(np.zeros((2, 5, 6))))


def test_multihead_attention_dropout():
    np.random.seed(1)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = Tensor(np.random.randn(2, 6, 8).astype(np.float32))
    a, b = mha(x).data, mha(x).data
    assert not np.allclose(a, b), "training mode: random attention dropout"
    mha.eval()
    assert np.allclose(mha(x).data, mha(x).data), "eval mode: deterministic"


def test_every_attention_function_is_gradchecked():
    defined = set(registered_functions("tinytorch.core.attention").values())
    assert defined == GRADCHECKED, "Function without a gradient check: %s" % (defined - GRADCHECKED)


# ---- PyTorch parity (skipped when torch is not installed) ----------------------------------------
def test_multihead_attention_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    d, h, t = 16, 4, 7
    mha = MultiHeadAttention(d, h)
    for p in mha.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.3
    ref = torch.nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.tensor(mha.qkv_proj.weight.data.T))
        ref.in_proj_bias.copy_(torch.tensor(mha.qkv_proj.bias.data))
        ref.out_proj.weight.copy_(torch.tensor(mha.out_proj.weight.data.T))
        ref.out_proj.bias.copy_(torch.tensor(mha.out_proj.bias.data))
    x = rng.standard_normal((3, t, d)).astype(np.float32)
    g = rng.standard_normal((3, t, d)).astype(np.float32)
    tx = Tensor(x, requires_grad=True)
    out = mha(tx, causal=True)
    (out * Tensor(g)).sum().backward()
    px = torch.tensor(x, requires_grad=True)
    pout = ref(px, px, px, attn_mask=torch.tensor(~causal_mask(t)), need_weights=False)[0]   # torch: True = blocked
    (pout * torch.tensor(g)).sum().backward()
    assert np.allclose(out.data, pout.detach().numpy(), atol=1e-5)
    assert np.allclose(tx.grad.data, px.grad.numpy(), atol=1e-5)
    assert np.allclose(mha.qkv_proj.weight.grad.data, ref.in_proj_weight.grad.numpy().T, atol=1e-5)
    assert np.allclose(mha.out_proj.bias.grad.data, ref.out_proj.bias.grad.numpy(), atol=1e-5)
