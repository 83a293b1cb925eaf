# Module 14 (compression): making trained models smaller. Magnitude pruning (unstructured and
# structured per output channel), int8 post-training quantisation (per-tensor and per-channel, with
# dequantise and an int8 matmul), and knowledge distillation with a differentiable distillation loss.
# Every technique reports its size reduction and the accuracy change on a small model.
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
# # Module 14: Compression -- smaller models that still work
#
# A trained network is usually far larger than it needs to be: many weights are close to zero, and
# 32-bit floats carry more precision than the network uses. Compression trades a little accuracy
# for a lot of size (and, with the right kernels, speed and energy). Three classic techniques:
#
# | technique | idea | typical gain |
# | --- | --- | --- |
# | **pruning** | set the least important weights to zero (and stop storing them) | 2-10x fewer weights |
# | **quantisation** | store each weight as an 8-bit integer plus a shared float scale | 4x smaller than float32 |
# | **distillation** | train a small *student* to imitate a big *teacher*'s soft predictions | as small as you like |
#
# The rule of this module: **every compression reports two numbers** -- how much smaller the model
# got and how much accuracy changed -- because a compression ratio without the accuracy cost (or
# vice versa) means nothing. `CompressionReport` holds both.

# %%
#| default_exp core.compression

# %%
#| export
import copy
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import Function, no_grad
from tinytorch.core.layers import Linear
from tinytorch.core.spatial import Conv2d
from tinytorch.core.losses import cross_entropy
from tinytorch.core.optimizers import Adam

# %% [markdown]
# ## Measuring: size and accuracy
#
# Size is counted in bytes of stored numbers: 4 per float32 value. Which weights can be compressed?
# The *weight matrices* of `Linear` and `Conv2d` layers hold nearly all parameters; biases are tiny
# and sensitive, so we leave them in float32. `compressible_weights` finds those weight matrices by
# their parameter names (the names `state_dict` uses), together with each layer's output-channel axis:
# Linear stores its weight as `(in, out)` (axis 1), Conv2d as `(out, in, kh, kw)` (axis 0).

# %%
#| export
@dataclass
class CompressionReport:
    """Size and accuracy before and after one compression."""
    method: str
    size_before: int
    size_after: int
    accuracy_before: Optional[float] = None
    accuracy_after: Optional[float] = None
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def size_reduction(self) -> float:
        """How many times smaller (size_before / size_after)."""
        return self.size_before / self.size_after if self.size_after else float("inf")

    @property
    def accuracy_change(self) -> Optional[float]:
        """accuracy_after - accuracy_before (negative: accuracy was lost)."""
        if self.accuracy_before is None or self.accuracy_after is None:
            return None
        return self.accuracy_after - self.accuracy_before

    def __str__(self) -> str:
        text = "%s: %d -> %d bytes (%.2fx smaller)" % (self.method, self.size_before, self.size_after,
                                                       self.size_reduction)
        if self.accuracy_change is not None:
            text += ", accuracy %.2f%% -> %.2f%% (%+.2f points)" % (
                100 * self.accuracy_before, 100 * self.accuracy_after, 100 * self.accuracy_change)
        return text


def model_size_bytes(model) -> int:
    """Bytes of all parameters stored densely (float32: 4 bytes per value)."""
    return int(sum(p.data.nbytes for p in model.parameters()))


def evaluate_accuracy(model, X, y, batch_size: int = 256) -> float:
    """Fraction of samples whose argmax logit equals the label (eval mode, no gradients)."""
    X = X.data if isinstance(X, Tensor) else np.asarray(X, dtype=np.float32)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    correct = 0
    try:
        with no_grad():
            for start in range(0, len(y), batch_size):
                logits = model(Tensor(X[start:start + batch_size])).data
                correct += int(np.sum(np.argmax(logits, axis=-1) == y[start:start + batch_size]))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return correct / max(1, len(y))


def _walk(module):
    seen, stack = set(), [module]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        yield m
        children = getattr(m, "children", None)
        if callable(children):
            stack.extend(children())


def compressible_weights(model) -> List[Tuple[str, Any, int, Any]]:
    """[(parameter name, weight, output-channel axis, bias or None)] for every Linear/Conv2d layer."""
    layers = {}
    for m in _walk(model):
        if isinstance(m, Linear):
            layers[id(m.weight)] = (1, getattr(m, "bias", None))
        elif isinstance(m, Conv2d):
            layers[id(m.weight)] = (0, getattr(m, "bias", None))
    found = []
    for name, p in model.named_parameters():
        if id(p) in layers:
            axis, bias = layers[id(p)]
            found.append((name, p, axis, bias))
    return found


# %% [markdown]
# ## Pruning by magnitude
#
# The simplest importance score is the weight's magnitude: a weight near zero contributes little to
# any output. **Unstructured pruning** zeroes the `amount` fraction of smallest-magnitude weights of
# each layer wherever they are. It keeps accuracy best, but the zeros are scattered, so saving them
# needs a sparse format -- here a bitmap (1 bit per weight: kept or not) plus the kept values, i.e.
# `N/8 + 4*nnz` bytes instead of `4*N`. Speed-ups need sparse kernels.
#
# **Structured (per-channel) pruning** removes whole output channels (a neuron of a Linear layer, a
# filter of a Conv2d), ranked by the L2 norm of their weights. Accuracy drops faster, but the result
# is simply a *narrower dense layer*: it is smaller and faster with the ordinary kernels of module 13.
# The bias of a removed channel goes too (otherwise the channel would still output a constant).
# The last layer's output channels *are* the model's outputs (one per class), so structured pruning
# leaves them alone and prunes that layer's weights unstructured instead.
#
# A pruned model is usually *fine-tuned* for a few steps afterwards; `apply_masks` re-applies the
# zeros after each optimizer step so that they stay zero.

# %%
#| export
def magnitude_mask(weight, amount: float) -> np.ndarray:
    """Boolean keep-mask zeroing the `amount` fraction of smallest-|w| entries (unstructured)."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if not 0.0 <= amount <= 1.0:
        raise ValueError("amount must be in [0, 1], got %r" % (amount,))
    k = int(round(amount * w.size))
    mask = np.ones(w.shape, dtype=bool)
    if k > 0:
        order = np.argsort(np.abs(w), axis=None, kind="stable")[:k]   # ties: the earlier index goes
        mask.reshape(-1)[order] = False
    return mask


def channel_mask(weight, amount: float, axis: int) -> np.ndarray:
    """Boolean keep-mask (full weight shape) removing the `amount` fraction of output channels
    along `axis` with the smallest L2 norm (structured pruning)."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if not 0.0 <= amount <= 1.0:
        raise ValueError("amount must be in [0, 1], got %r" % (amount,))
    axis = axis % w.ndim
    others = tuple(a for a in range(w.ndim) if a != axis)
    norms = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=others))
    k = int(round(amount * norms.size))
    keep = np.ones(norms.size, dtype=bool)
    if k > 0:
        keep[np.argsort(norms, kind="stable")[:k]] = False
    shape = [1] * w.ndim
    shape[axis] = norms.size
    return np.broadcast_to(keep.reshape(shape), w.shape).copy()


def prune_model(model, amount: float = 0.5, structured: bool = False,
                keep_output_layer: bool = True) -> Dict[str, np.ndarray]:
    """Prune every Linear/Conv2d weight in place; returns {parameter name: keep-mask}.

    Structured pruning leaves the last layer's output channels alone when keep_output_layer
    (they are the model's outputs, e.g. the classes); its weights are then pruned unstructured.
    """
    masks = {}
    weights = compressible_weights(model)
    for i, (name, w, axis, bias) in enumerate(weights):
        if structured and keep_output_layer and i == len(weights) - 1:
            mask = magnitude_mask(w, amount)
            w.data *= mask
            masks[name] = mask
            continue
        mask = channel_mask(w, amount, axis) if structured else magnitude_mask(w, amount)
        w.data *= mask
        if structured and bias is not None:
            others = tuple(a for a in range(w.data.ndim) if a != axis)
            bias.data *= mask.any(axis=others)
        masks[name] = mask
    return masks


def apply_masks(model, masks: Dict[str, np.ndarray]) -> None:
    """Zero the pruned weights again (call after each optimizer step while fine-tuning)."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].data *= mask


def sparsity(model) -> float:
    """Fraction of exactly-zero values among the compressible weights."""
    weights = [w.data for _, w, _, _ in compressible_weights(model)]
    total = sum(w.size for w in weights)
    return float(sum(int(np.sum(w == 0)) for w in weights)) / total if total else 0.0


def _is_channel_mask(mask: np.ndarray) -> bool:
    """True when the mask keeps or drops whole output channels (then no bitmap is needed)."""
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        if np.array_equal(mask, np.broadcast_to(mask.any(axis=others, keepdims=True), mask.shape)):
            return True
    return False


def pruned_size_bytes(model, masks: Dict[str, np.ndarray], structured: bool = False) -> int:
    """Storage after pruning: bitmap + kept values (unstructured) or just the kept channels (structured)."""
    params = dict(model.named_parameters())
    size = 0
    for name, p in params.items():
        item = p.data.itemsize
        if name in masks:
            kept = int(masks[name].sum())
            size += kept * item + (0 if structured and _is_channel_mask(masks[name]) else (p.data.size + 7) // 8)
        else:
            size += p.data.nbytes
    if structured:   # biases of removed channels are not stored either
        for name, w, axis, bias in compressible_weights(model):
            if bias is not None and name in masks and _is_channel_mask(masks[name]):
                others = tuple(a for a in range(w.data.ndim) if a != axis)
                removed = int(np.sum(~masks[name].any(axis=others)))
                size -= removed * bias.data.itemsize
    return int(size)


def fine_tune(model, masks: Dict[str, np.ndarray], X, y, epochs: int = 2, batch_size: int = 64,
              lr: float = 1e-2, seed: int = 0):
    """A few epochs of Adam on (X, y) that keep the pruned weights at zero; returns the model."""
    X = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=np.float32)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    rng = np.random.default_rng(seed)
    opt = Adam(model.parameters(), lr=lr)
    if hasattr(model, "train"):
        model.train()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            cross_entropy(model(Tensor(X[idx])), y[idx]).backward()
            opt.step()
            apply_masks(model, masks)      # the optimizer moved pruned weights: zero them again
    if hasattr(model, "eval"):
        model.eval()
    return model


def prune_and_report(model, X, y, amount: float = 0.5, structured: bool = False,
                     fine_tune_data=None, fine_tune_epochs: int = 2) -> tuple:
    """Prune a copy of `model` (optionally fine-tune it on fine_tune_data=(X, y));
    returns (pruned model, CompressionReport) with accuracies measured on (X, y)."""
    before = evaluate_accuracy(model, X, y)
    pruned = copy.deepcopy(model)
    masks = prune_model(pruned, amount, structured)
    details = {"masks": masks, "accuracy_without_fine_tuning": evaluate_accuracy(pruned, X, y)}
    if fine_tune_data is not None:
        fine_tune(pruned, masks, fine_tune_data[0], fine_tune_data[1], epochs=fine_tune_epochs)
    details["sparsity"] = sparsity(pruned)
    name = "%s pruning %d%%%s" % ("channel" if structured else "magnitude", round(100 * amount),
                                  " + fine-tune" if fine_tune_data is not None else "")
    report = CompressionReport(name, model_size_bytes(model), pruned_size_bytes(pruned, masks, structured),
                               before, evaluate_accuracy(pruned, X, y), details)
    return pruned, report


# %% [markdown]
# ## Post-training quantisation to int8
#
# Map each float weight `w` to an integer `q` in [-127, 127] with one float **scale**:
# `q = round(w / scale)`, `w ~ q * scale` (**dequantise**). Symmetric quantisation picks
# `scale = max|w| / 127`, so zero stays exactly zero (pruned weights remain pruned). The rounding
# error per weight is at most `scale / 2`.
#
# * **Per-tensor**: one scale for the whole weight. One large weight anywhere forces a coarse grid on
#   every other weight.
# * **Per-channel**: one scale per output channel. Channels with small weights get a fine grid of
#   their own; the cost is one float per channel. This is the standard for weights (PyTorch, TFLite).
#
# Activations are usually not symmetric around zero (ReLU outputs are >= 0), so they use an
# **affine** mapping with a zero point, `q = round(x / scale) + zero_point` over [-128, 127];
# `quantize_int8(..., symmetric=False)` implements it.
#
# "Post-training" means no retraining: we quantise a trained model and measure. `quantize_model` keeps
# the int8 tensors (that is what would be shipped: 1 byte per weight) and puts the dequantised values
# back into the model so that we can measure the accuracy of exactly those weights ("fake
# quantisation"). `int8_matmul` shows the real inference kernel: integer products accumulated in
# int32, rescaled to float once at the end.

# %%
#| export
@dataclass
class QuantizedTensor:
    """int8 values + float32 scale(s) (+ int32 zero point(s)); axis is the per-channel axis or None."""
    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: Optional[int] = None

    @property
    def shape(self) -> tuple:
        return self.q.shape

    @property
    def nbytes(self) -> int:
        extra = self.zero_point.nbytes if np.any(self.zero_point) else 0
        return int(self.q.nbytes + self.scale.nbytes + extra)

    def dequantize(self) -> np.ndarray:
        return ((self.q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def _channel_shape(shape, axis) -> tuple:
    out = [1] * len(shape)
    out[axis] = shape[axis]
    return tuple(out)


def quantize_int8(x, per_channel: bool = False, axis: int = 0, symmetric: bool = True) -> QuantizedTensor:
    """Quantise an array to int8 per tensor or per channel along `axis` (symmetric or affine)."""
    a = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float32)
    if per_channel:
        if a.ndim == 0:
            raise ValueError("per-channel quantisation needs at least one axis")
        axis = axis % a.ndim
        reduce_axes = tuple(i for i in range(a.ndim) if i != axis)
        shape = _channel_shape(a.shape, axis)
    else:
        axis, reduce_axes, shape = None, None, (1,) * a.ndim
    if symmetric:
        amax = np.max(np.abs(a), axis=reduce_axes).reshape(shape) if a.size else np.zeros(shape)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        zero = np.zeros(shape, dtype=np.int32)
        q = np.clip(np.round(a / scale), -127, 127).astype(np.int8)
    else:
        lo = np.minimum(np.min(a, axis=reduce_axes).reshape(shape), 0.0)   # the range must contain 0
        hi = np.maximum(np.max(a, axis=reduce_axes).reshape(shape), 0.0)
        scale = np.where(hi > lo, (hi - lo) / 255.0, 1.0).astype(np.float32)
        zero = np.clip(np.round(-128.0 - lo / scale), -128, 127).astype(np.int32)
        q = np.clip(np.round(a / scale) + zero, -128, 127).astype(np.int8)
    return QuantizedTensor(q, scale, zero, axis)


def dequantize(qt: QuantizedTensor) -> np.ndarray:
    """float32 approximation of the original array."""
    return qt.dequantize()


def int8_matmul(x, qw: QuantizedTensor) -> np.ndarray:
    """x @ W with W int8 (symmetric, per-tensor or per output column) and x quantised on the fly:
    int8 x int8 products accumulated in int32, one float rescale at the end."""
    xa = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float32)
    if np.any(qw.zero_point):
        raise ValueError("int8_matmul needs a symmetric (zero-point free) weight")
    qx = quantize_int8(xa)                                       # dynamic per-tensor activation scale
    acc = np.matmul(qx.q.astype(np.int32), qw.q.astype(np.int32))  # exact integer arithmetic
    w_scale = qw.scale.reshape(-1) if qw.axis is not None else qw.scale.reshape(())
    if qw.axis is not None and qw.axis % qw.q.ndim != qw.q.ndim - 1:
        raise ValueError("per-channel weight scales must be along the output (last) axis")
    return (acc.astype(np.float32) * (qx.scale.reshape(()) * w_scale)).astype(np.float32)


def quantize_model(model, per_channel: bool = False) -> Dict[str, QuantizedTensor]:
    """Quantise every Linear/Conv2d weight in place (weights become their dequantised values);
    returns {parameter name: QuantizedTensor} -- what would be stored."""
    stored = {}
    for name, w, axis, _ in compressible_weights(model):
        qt = quantize_int8(w.data, per_channel=per_channel, axis=axis)
        w.data[...] = qt.dequantize()
        stored[name] = qt
    return stored


def quantized_size_bytes(model, stored: Dict[str, QuantizedTensor]) -> int:
    """int8 weights + their scales, other parameters in float32."""
    return int(sum(stored[n].nbytes if n in stored else p.data.nbytes for n, p in model.named_parameters()))


def quantize_and_report(model, X, y, per_channel: bool = False) -> tuple:
    """Quantise a copy of `model`; returns (quantised model, CompressionReport)."""
    before = evaluate_accuracy(model, X, y)
    qmodel = copy.deepcopy(model)
    stored = quantize_model(qmodel, per_channel)
    errors = [float(np.max(np.abs(w.data - p.data)))
              for (_, w, _, _), (_, p, _, _) in zip(compressible_weights(qmodel), compressible_weights(model))]
    report = CompressionReport("int8 %s quantisation" % ("per-channel" if per_channel else "per-tensor"),
                               model_size_bytes(model), quantized_size_bytes(qmodel, stored), before,
                               evaluate_accuracy(qmodel, X, y),
                               {"max_weight_error": max(errors or [0.0]), "quantized": stored})
    return qmodel, report


# %% [markdown]
# ## Knowledge distillation
#
# A trained teacher knows more than its argmax: its probabilities say *which wrong classes are
# plausible* (a "7" that looks a bit like a "1"). Hinton et al. (2015) train a small student on these
# "dark knowledge" targets, softened by a temperature `T`:
#
# `L = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)`
#
# A higher `T` flattens both distributions so that the small probabilities matter; the `T^2` keeps the
# gradient scale independent of `T`. The gradient of the soft term with respect to the student logits
# is remarkably simple: `T * (softmax(z_s/T) - softmax(z_t/T)) / N` -- the same "prediction minus
# target" shape as cross-entropy. We implement the soft term as one fused `Function` (and also give
# the teacher's gradient, so that `gradcheck` can verify both); `distillation_loss` treats the teacher
# as a constant, as in training.

# %%
#| export
def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


class DistillationKLFunction(Function):
    """T^2 * mean_n KL(softmax(teacher/T) || softmax(student/T)) for (N, C) logits."""

    @staticmethod
    def forward(ctx, student_logits, teacher_logits, temperature=2.0):
        s = np.asarray(student_logits)
        t = np.asarray(teacher_logits, dtype=s.dtype)
        if s.shape != t.shape or s.ndim != 2:
            raise ValueError("student and teacher logits must both be (N, C), got %s and %s" % (s.shape, t.shape))
        T = float(temperature)
        if T <= 0:
            raise ValueError("temperature must be > 0")
        log_ps, log_pt = _log_softmax(s / T), _log_softmax(t / T)
        p_t = np.exp(log_pt)
        diff = log_pt - log_ps
        n = s.shape[0]
        ctx.p_s, ctx.p_t, ctx.diff, ctx.T, ctx.n = np.exp(log_ps), p_t, diff, T, n
        return np.asarray(T * T * np.sum(p_t * diff) / n, dtype=s.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        scale = grad_out * ctx.T / ctx.n
        grad_s = scale * (ctx.p_s - ctx.p_t)
        grad_t = None
        if getattr(ctx, "needs_input_grad", (True, True))[1]:
            row_kl = np.sum(ctx.p_t * ctx.diff, axis=-1, keepdims=True)
            grad_t = scale * ctx.p_t * (ctx.diff - row_kl)
        return grad_s, grad_t


def distillation_loss(student_logits, teacher_logits, targets=None, temperature: float = 2.0,
                      alpha: float = 0.5) -> Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets).

    The teacher's logits are treated as constants. Without targets, only the soft term is returned.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1], got %r" % (alpha,))
    teacher = np.asarray(teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits)
    student = student_logits if isinstance(student_logits, Tensor) else Tensor(student_logits)
    soft = DistillationKLFunction.apply(student, teacher, temperature=temperature)
    if targets is None or alpha == 1.0:
        return soft
    hard = cross_entropy(student, targets)
    if alpha == 0.0:
        return hard
    return soft * alpha + hard * (1.0 - alpha)


def distill(teacher, student, X, y, X_val=None, y_val=None, epochs: int = 10, batch_size: int = 64,
            lr: float = 1e-2, temperature: float = 2.0, alpha: float = 0.5, seed: int = 0) -> tuple:
    """Train `student` to imitate `teacher` on (X, y); returns (student, CompressionReport)
    comparing the teacher's size/accuracy (before) with the student's (after) on the validation set."""
    X = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=np.float32)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    X_val = X if X_val is None else X_val
    y_val = y if y_val is None else y_val
    if hasattr(teacher, "eval"):
        teacher.eval()
    with no_grad():
        teacher_logits = np.concatenate([teacher(Tensor(X[i:i + 512])).data for i in range(0, len(X), 512)])
    rng = np.random.default_rng(seed)
    opt = Adam(student.parameters(), lr=lr)
    if hasattr(student, "train"):
        student.train()
    start = time.perf_counter()
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = distillation_loss(student(Tensor(X[idx])), teacher_logits[idx], y[idx],
                                     temperature=temperature, alpha=alpha)
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
    report = CompressionReport("distillation (T=%g, alpha=%g)" % (temperature, alpha),
                               model_size_bytes(teacher), model_size_bytes(student),
                               evaluate_accuracy(teacher, X_val, y_val), evaluate_accuracy(student, X_val, y_val),
                               {"loss": losses, "seconds": time.perf_counter() - start})
    return student, report


def format_reports(reports: Sequence[CompressionReport]) -> str:
    """A text table of compression reports."""
    head = "%-36s %10s %10s %9s %9s %9s %8s" % ("method", "bytes", "after", "smaller", "acc", "acc after", "change")
    lines = [head, "-" * len(head)]
    for r in reports:
        acc = "-" if r.accuracy_before is None else "%.2f%%" % (100 * r.accuracy_before)
        acc2 = "-" if r.accuracy_after is None else "%.2f%%" % (100 * r.accuracy_after)
        change = "-" if r.accuracy_change is None else "%+.2f" % (100 * r.accuracy_change)
        lines.append("%-36s %10d %10d %8.2fx %9s %9s %8s" % (r.method, r.size_before, r.size_after,
                                                             r.size_reduction, acc, acc2, change))
    return "\n".join(lines)


# %% [markdown]
# ## Checks
#
# Running this file trains a small MLP on the digits set (module 08), then prunes, quantises and
# distils it and prints the size/accuracy table. What it typically shows: int8 quantisation is ~3.8x
# smaller at no measurable accuracy cost; 50% magnitude pruning costs a little, 80% costs a lot until
# a short fine-tune recovers most of it; a 16-unit student is ~8x smaller than its teacher and loses
# several points. (On a data set this easy the labels alone train the student about as well as the
# teacher does -- distillation pays off with harder tasks and larger capacity gaps; measure, don't
# assume.)

# %%
def _trained_mlp(seed=0, epochs=8):
    from tinytorch.core.dataloader import make_digits, train_test_split
    from tinytorch.core.dense import MLP
    X, y = make_digits(n_samples=1500, seed=seed)
    X = X.reshape(len(X), -1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, seed=seed)
    np.random.seed(seed)
    model = MLP([64, 128, 10])
    opt = Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(Xtr))
        for i in range(0, len(Xtr), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = cross_entropy(model(Tensor(Xtr[idx])), ytr[idx])
            loss.backward()
            opt.step()
    return model, (Xtr, ytr, Xte, yte)


def test_unit_quantize_roundtrip():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 8)).astype(np.float32)
    for per_channel in (False, True):
        qt = quantize_int8(w, per_channel=per_channel, axis=1)
        assert qt.q.dtype == np.int8
        assert np.max(np.abs(qt.dequantize() - w)) <= np.max(qt.scale) / 2 + 1e-6


def test_unit_distillation_gradcheck():
    from tinytorch.core.autograd import gradcheck
    rng = np.random.default_rng(0)
    s = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda s, t: DistillationKLFunction.apply(s, t, temperature=3.0), [s, t])


def demo_compression():
    from tinytorch.core.dense import MLP
    model, (Xtr, ytr, Xte, yte) = _trained_mlp()
    tune = (Xtr, ytr)
    reports = [prune_and_report(model, Xte, yte, 0.5)[1],
               prune_and_report(model, Xte, yte, 0.8)[1],
               prune_and_report(model, Xte, yte, 0.8, fine_tune_data=tune)[1],
               prune_and_report(model, Xte, yte, 0.25, structured=True)[1],
               prune_and_report(model, Xte, yte, 0.25, structured=True, fine_tune_data=tune)[1],
               quantize_and_report(model, Xte, yte)[1], quantize_and_report(model, Xte, yte, True)[1]]
    np.random.seed(1)
    reports.append(distill(model, MLP([64, 16, 10]), Xtr, ytr, Xte, yte, epochs=10)[1])
    np.random.seed(1)   # the same student trained on the labels only (alpha=0), for comparison
    reports.append(distill(model, MLP([64, 16, 10]), Xtr, ytr, Xte, yte, epochs=10, alpha=0.0)[1])
    print(format_reports(reports))


# %%
if __name__ == "__main__":
    test_unit_quantize_roundtrip()
    test_unit_distillation_gradcheck()
    demo_compression()
    print("compression: all checks passed")
