"""Floating-point operations of one training step of each benchmark model, counted from the shapes.

The physical limit of a step is its arithmetic divided by the machine's matmul throughput, so the
bench reports `FLOPs per step / (peak FLOP/s * step time)` as the fraction of peak reached.

Counting rules (one multiply-add = 2 FLOPs; only matrix products and convolutions are counted —
elementwise work, normalisation, softmax and the optimizer are O(parameters + activations) and
small beside them, and they are exactly what a framework should keep cheap):

  Linear(in, out) on R rows:             forward 2 * R * in * out
  Conv2d(C, O, kh x kw) to Ho x Wo, N:   forward 2 * N * O * Ho * Wo * C * kh * kw
  attention, B batches, H heads, T, dh:  forward 2 * (2 * B * H * T * T * dh)   (Q K^T and A V)

  training step = forward + backward, where the backward of every product costs twice its forward
  (the gradient with respect to each of its two operands) — except for a layer whose input is the
  data: no gradient flows into the data, so its backward is one product (the weight gradient).
  Hence training FLOPs = 3 x forward, minus 1 x forward of the first layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

BATCH = 64


@dataclass(frozen=True)
class Product:
    """One matrix product (or convolution) of the forward pass."""
    name: str
    forward: int                 # FLOPs of the forward product
    input_is_data: bool = False  # True for the first layer: no gradient with respect to its input

    @property
    def training(self) -> int:
        return self.forward * (2 if self.input_is_data else 3)


def linear(name: str, rows: int, fan_in: int, fan_out: int, input_is_data: bool = False) -> Product:
    return Product(name, 2 * rows * fan_in * fan_out, input_is_data)


def conv2d(name: str, batch: int, c_in: int, c_out: int, kernel: int, out_h: int, out_w: int,
           input_is_data: bool = False) -> Product:
    return Product(name, 2 * batch * c_out * out_h * out_w * c_in * kernel * kernel, input_is_data)


def attention(name: str, batch: int, heads: int, seq: int, head_dim: int) -> Product:
    return Product(name, 2 * (2 * batch * heads * seq * seq * head_dim))


def cnn_products(side: int, batch: int = BATCH) -> List[Product]:
    """Conv(1,16,3,p1)-ReLU-Pool2-Conv(16,32,3,p1)-ReLU-Pool2-Flatten-Linear(32*(side/4)^2, 10)."""
    half, quarter = side // 2, side // 4
    return [conv2d("conv1", batch, 1, 16, 3, side, side, input_is_data=True),
            conv2d("conv2", batch, 16, 32, 3, half, half),
            linear("fc", batch, 32 * quarter * quarter, 10)]


def gpt_products(vocab: int = 16, seq: int = 16, dim: int = 64, heads: int = 4, layers: int = 2,
                 mlp_ratio: int = 4, batch: int = BATCH) -> List[Product]:
    """Pre-norm GPT: per block a fused qkv projection, attention, output projection and a 2-layer MLP;
    then the vocabulary head. Embedding lookups are not products (a gather), so not counted."""
    rows = batch * seq
    out: List[Product] = []
    for b in range(layers):
        out += [linear("block%d.qkv" % b, rows, dim, 3 * dim),
                attention("block%d.attention" % b, batch, heads, seq, dim // heads),
                linear("block%d.out" % b, rows, dim, dim),
                linear("block%d.fc1" % b, rows, dim, mlp_ratio * dim),
                linear("block%d.fc2" % b, rows, mlp_ratio * dim, dim)]
    out.append(linear("head", rows, dim, vocab))
    return out


def mlp_products(batch: int = BATCH) -> List[Product]:
    """Linear(64,128)-ReLU-Linear(128,10)."""
    return [linear("fc1", batch, 64, 128, input_is_data=True), linear("fc2", batch, 128, 10)]


MODELS = {"cnn-8": lambda: cnn_products(8), "cnn-28": lambda: cnn_products(28),
          "gpt-16": gpt_products, "mlp": mlp_products}


def training_flops(model: str) -> int:
    """FLOPs of one training step (forward + backward) of a benchmark model."""
    return sum(p.training for p in MODELS[model]())


def forward_flops(model: str) -> int:
    return sum(p.forward for p in MODELS[model]())


def all_training_flops() -> Dict[str, int]:
    return {name: training_flops(name) for name in MODELS}
