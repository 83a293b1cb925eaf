"""PyTorch reference for `nox -s bench`: the same training steps as benchmarks/course_bench.py, in PyTorch.

Each model has the shapes of the course benchmark (batch 64, float32), the same loss (cross-entropy)
and the same optimizer (Adam, lr 1e-3), so the two step times can be divided:
  cnn-8    Conv2d(1,16,3,p=1)-ReLU-MaxPool2d(2)-Conv2d(16,32,3,p=1)-ReLU-MaxPool2d(2)-Flatten-Linear(128,10)
  cnn-28   the same network on 1x28x28 (Linear(32*7*7, 10))
  gpt-16   vocab 16, sequence 16, d_model 64, 4 heads, 2 pre-norm blocks (LayerNorm, causal self-attention
           with one fused qkv projection, residual; LayerNorm, Linear(64,256), GELU (tanh), Linear(256,64),
           residual), learned token + position embeddings, final LayerNorm and Linear head
  mlp      Linear(64,128)-ReLU-Linear(128,10) on (64, 64) inputs

Usage:  python benchmarks/torch_reference.py [--steps 60] [--warmup 10]   -> one JSON line {name: seconds}
Imported by benchmarks/side_by_side.py, which interleaves these steps with the course's.
"""
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")          # before torch starts its thread pools

# torch reads the thread-count variables above when it loads, so it is imported after them.
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BATCH = 64


def cnn(side):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, 10))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with one qkv projection, as the course's MultiHeadAttention."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)       # (b, heads, t, d_head)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab=16, seq=16, dim=64, heads=4, layers=2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(layers)))
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        return self.head(self.ln(self.blocks(x)))


def training_step(model, x, y, flatten_logits=False):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        logits = model(x)
        if flatten_logits:                     # (batch, seq, vocab) -> (batch*seq, vocab)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        else:
            loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
    return step


def make_steps():
    torch.manual_seed(0)
    steps = {}
    for side in (8, 28):
        steps["cnn-%d" % side] = training_step(cnn(side), torch.randn(BATCH, 1, side, side),
                                               torch.randint(0, 10, (BATCH,)))
    steps["gpt-16"] = training_step(GPT(), torch.randint(0, 16, (BATCH, 16)), torch.randint(0, 16, (BATCH, 16)),
                                    flatten_logits=True)
    mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    steps["mlp"] = training_step(mlp, torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,)))
    return steps


def single_thread():
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    single_thread()
    result = {}
    for name, step in make_steps().items():
        for _ in range(args.warmup):
            step()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        result[name] = round((time.perf_counter() - start) / max(args.steps, 1), 6)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
