"""Unit tests of module 12 (transformer): Embedding, position encodings, LayerNorm, FeedForward,
TransformerBlock and GPT (forward, generate), finite-difference gradient checks for every Function
of the module, and PyTorch parity of LayerNorm and a whole block when torch is installed."""
import numpy as np
import pytest

from tinytorch.core.autograd import gradcheck, registered_functions
from tinytorch.core.transformer import EmbeddingFunction, LayerNormFunction
from tinytorch import (GPT, Embedding, FeedForward, LayerNorm, PositionalEmbedding,
                       SinusoidalPositionalEncoding, Tensor, TransformerBlock)

GRADCHECKED = {EmbeddingFunction, LayerNormFunction}


def test_embedding_lookup_and_gradient():
    emb = Embedding(6, 4)
    ids = np.array([[0, 2, 2], [5, 2, 0]])
    out = emb(ids)
    assert out.shape == (2, 3, 4) and np.array_equal(out.data, emb.weight.data[ids])
    assert np.array_equal(emb(Tensor(ids)).data, out.data) and np.array_equal(emb([1, 2]).data, emb.weight.data[[1, 2]])
    out.sum().backward()
    assert emb.weight.grad.data[:, 0].tolist() == [2, 0, 3, 0, 0, 1]      # repeated ids add up
    w = Tensor(np.random.randn(6, 4), requires_grad=True)
    assert gradcheck(lambda w: EmbeddingFunction.apply(w, ids), [w])
    with pytest.raises(IndexError):
        emb(np.array([6]))
    with pytest.raises(TypeError):
        emb(np.array([0.5]))


def test_position_encodings():
    pos = PositionalEmbedding(10, 4)
    x = Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    y = pos(x)
    assert np.allclose(y.data, np.broadcast_to(pos.weight.data[:3], (2, 3, 4)))
    y.sum().backward()
    assert np.allclose(pos.weight.grad.data[:3], 2) and np.allclose(pos.weight.grad.data[3:], 0)
    assert gradcheck(lambda x: pos(x), [x])
    with pytest.raises(ValueError):
        pos(Tensor(np.zeros((1, 11, 4))))

    sin = SinusoidalPositionalEncoding(50, 6)
    assert sin.parameters() == [] and "table" not in sin.state_dict()
    p, i = 7, 1
    assert np.isclose(sin.table[p, 2 * i], np.sin(p / 10000 ** (2 * i / 6)), atol=1e-6)
    assert np.isclose(sin.table[p, 2 * i + 1], np.cos(p / 10000 ** (2 * i / 6)), atol=1e-6)
    assert SinusoidalPositionalEncoding(5, 5).table.shape == (5, 5)          # odd sizes work
    z = Tensor(np.ones((2, 4, 6)), requires_grad=True)
    assert np.allclose(sin(z).data, 1 + sin.table[:4]) and gradcheck(lambda z: sin(z), [z])


def test_layernorm():
    rng = np.random.default_rng(0)
    ln = LayerNorm(5)
    assert [p.shape for p in ln.parameters()] == [(5,), (5,)]
    x = rng.standard_normal((3, 4, 5)).astype(np.float32) * 4 + 2
    y = ln(Tensor(x)).data
    assert np.allclose(y.mean(-1), 0, atol=1e-5) and np.allclose(y.var(-1), 1, atol=1e-3)
    xt = Tensor(rng.standard_normal((2, 3, 5)) * 3, requires_grad=True)
    g = Tensor(rng.standard_normal(5), requires_grad=True)
    b = Tensor(rng.standard_normal(5), requires_grad=True)
    assert gradcheck(lambda x, g, b: LayerNormFunction.apply(x, g, b, 1e-5), [xt, g, b])
    assert gradcheck(lambda x: LayerNormFunction.apply(x, g, b, 1e-5), [xt])
    with pytest.raises(ValueError):
        ln(Tensor(np.zeros((2, 4))))


def test_feedforward_and_block():
    np.random.seed(0)
    ff = FeedForward(6, 12)
    assert [p.shape for p in ff.parameters()] == [(6, 12), (12,), (12, 6), (6,)]
    x = Tensor(np.random.randn(2, 3, 6), requires_grad=True)
    assert ff(x).shape == (2, 3, 6) and gradcheck(lambda x: ff(x), [x])

    block = TransformerBlock(8, 2, mlp_ratio=2)
    assert len(block.parameters()) == 4 + 4 + 4               # 2 LayerNorms, attention, MLP
    xb = Tensor(np.random.randn(2, 4, 8), requires_grad=True)
    assert gradcheck(lambda x: block(x), [xb])
    changed = xb.data.copy()
    changed[:, -1] += np.random.randn(2, 8)           # (a constant shift would vanish in LayerNorm)
    assert np.allclose(block(Tensor(changed)).data[:, :-1], block(xb).data[:, :-1]), "causal block"
    bidirectional = TransformerBlock(8, 2, causal=False)
    assert not np.allclose(bidirectional(Tensor(changed)).data[:, 0], bidirectional(xb).data[:, 0])


def test_gpt_forward_and_parameters():
    np.random.seed(1)
    v, t, d, L = 11, 16, 32, 2
    model = GPT(vocab_size=v, max_len=t, dim=d, num_heads=4, num_layers=L)
    ids = np.random.randint(0, v, (3, 10))
    logits = model(ids)
    assert logits.shape == (3, 10, v) and logits.dtype == np.float32
    per_block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = v * d + t * d + L * per_block + 2 * d + d * v + v
    assert sum(p.size for p in model.parameters()) == expected
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError):
        model(np.zeros((1, t + 1), dtype=np.int64))


def test_gpt_generate():
    np.random.seed(2)
    model = GPT(vocab_size=7, max_len=6, dim=16, num_heads=2, num_layers=1)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    greedy = model.generate(prompt, 8, temperature=0)             # runs past max_len: context is cropped
    assert greedy.shape == (2, 11) and greedy.dtype == np.int64
    assert np.array_equal(greedy[:, :3], prompt)
    assert np.array_equal(model.generate(prompt, 8, top_k=1, seed=5), greedy), "top_k=1 is greedy"
    a = model.generate(prompt, 8, temperature=1.5, top_k=3, seed=7)
    assert np.array_equal(a, model.generate(prompt, 8, temperature=1.5, top_k=3, seed=7)), "seeded"
    assert ((a >= 0) & (a < 7)).all()
    one = model.generate(np.array([1, 2]), 3, seed=0)
    assert one.shape == (5,)
    as_tensor = model.generate(Tensor(prompt), 2, seed=0)
    assert isinstance(as_tensor, Tensor) and as_tensor.shape == (2, 5)
    assert model.training, "generate restores training mode"
    with pytest.raises(ValueError):
        model.generate(prompt, 1, temperature=-1)


def test_every_transformer_function_is_gradchecked():
    defined = set(registered_functions("tinytorch.core.transformer").values())
    assert defined == GRADCHECKED, "Function without a gradient check: %s" % (defined - GRADCHECKED)


# ---- PyTorch parity (skipped when torch is not installed) ----------------------------------------
def test_block_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    d, h, t = 16, 2, 6
    block = TransformerBlock(d, h)
    for p in block.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.3

    nn = torch.nn
    ln1, ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
    attn = nn.MultiheadAttention(d, h, batch_first=True)
    fc1, fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
    with torch.no_grad():
        for ours, ref in ((block.ln1, ln1), (block.ln2, ln2)):
            ref.weight.copy_(torch.tensor(ours.weight.data))
            ref.bias.copy_(torch.tensor(ours.bias.data))
        attn.in_proj_weight.copy_(torch.tensor(block.attn.qkv_proj.weight.data.T))
        attn.in_proj_bias.copy_(torch.tensor(block.attn.qkv_proj.bias.data))
        attn.out_proj.weight.copy_(torch.tensor(block.attn.out_proj.weight.data.T))
        attn.out_proj.bias.copy_(torch.tensor(block.attn.out_proj.bias.data))
        for ours, ref in ((block.mlp.fc1, fc1), (block.mlp.fc2, fc2)):
            ref.weight.copy_(torch.tensor(ours.weight.data.T))
            ref.bias.copy_(torch.tensor(ours.bias.data))

    x = rng.standard_normal((2, t, d)).astype(np.float32)
    g = rng.standard_normal((2, t, d)).astype(np.float32)
    tx = Tensor(x, requires_grad=True)
    (block(tx) * Tensor(g)).sum().backward()

    px = torch.tensor(x, requires_grad=True)
    hx = ln1(px)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    y = px + attn(hx, hx, hx, attn_mask=mask, need_weights=False)[0]
    y = y + fc2(nn.functional.gelu(fc1(ln2(y)), approximate="tanh"))
    (y * torch.tensor(g)).sum().backward()

    assert np.allclose(block(Tensor(x)).data, y.detach().numpy(), atol=1e-5)
    assert np.allclose(tx.grad.data, px.grad.numpy(), atol=1e-5)
    assert np.allclose(block.ln1.weight.grad.data, ln1.weight.grad.numpy(), atol=1e-5)
    assert np.allclose(block.mlp.fc1.weight.grad.data, fc1.weight.grad.numpy().T, atol=1e-5)
