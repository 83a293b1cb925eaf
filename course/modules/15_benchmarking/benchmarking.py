# Module 15 (benchmarking): measuring models honestly. A timer with warm-up and robust statistics
# (median, IQR), peak-memory measurement with tracemalloc, parameter and FLOP counts (Linear,
# Conv2d), a per-layer profiler for Sequential models and a side-by-side text comparison table.
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
# # Module 15: Benchmarking -- measure before you optimise
#
# "This model is faster" and "this layer is the bottleneck" are claims about measurements, and
# measurements of software are noisy: the first call is slower (caches, lazy allocation, thread
# start-up), the operating system interrupts you at random, and the clock itself has a resolution.
# This module builds the small set of tools every performance engineer uses:
#
# * a **timer** that warms up first and reports the **median** and the **inter-quartile range (IQR)**
#   -- statistics that a few outliers cannot move, unlike the mean and standard deviation;
# * a **memory** measurement: the *peak* number of bytes allocated while a function runs, from the
#   standard library's `tracemalloc` (NumPy reports its array buffers to it);
# * **counts** that do not depend on the machine at all: parameters (model size) and FLOPs
#   (floating-point operations, the work a forward pass has to do);
# * a **per-layer profiler** for `Sequential` models, to find out *where* the time goes;
# * a **side-by-side table** to compare models (e.g. the original against a compressed one from
#   module 14).

# %%
#| default_exp core.benchmarking

# %%
#| export
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Linear
from tinytorch.core.spatial import Conv2d

# %% [markdown]
# ## A timer with warm-up and robust statistics
#
# `time.perf_counter()` is the right clock: monotonic and with the best resolution available. We run
# the function `warmup` times without recording, then `repeats` times recording each duration.
#
# Why the median and the IQR? Timing noise is one-sided: a run can be slowed down by an interrupt, but
# never sped up. A single 50 ms hiccup among twenty 1 ms runs moves the mean by 2.5 ms but leaves the
# median untouched. The IQR (75th minus 25th percentile) measures the spread of the typical runs in
# the same robust way. A rule of thumb: if two medians differ by less than their IQRs, you have not
# shown a difference.

# %%
#| export
@dataclass
class TimingResult:
    """Durations (seconds) of repeated runs and their robust summary statistics."""
    times: np.ndarray

    @property
    def n(self) -> int:
        return int(self.times.size)

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def q1(self) -> float:
        return float(np.percentile(self.times, 25))

    @property
    def q3(self) -> float:
        return float(np.percentile(self.times, 75))

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def mean(self) -> float:
        return float(np.mean(self.times))

    @property
    def std(self) -> float:
        return float(np.std(self.times))

    @property
    def min(self) -> float:
        return float(np.min(self.times))

    @property
    def max(self) -> float:
        return float(np.max(self.times))

    def summary(self) -> Dict[str, float]:
        return {"median": self.median, "iqr": self.iqr, "q1": self.q1, "q3": self.q3, "mean": self.mean,
                "std": self.std, "min": self.min, "max": self.max, "n": self.n}

    def __str__(self) -> str:
        return "%s (IQR %s, n=%d)" % (format_seconds(self.median), format_seconds(self.iqr), self.n)


def format_seconds(seconds: float) -> str:
    """Human-readable duration: 1.23 s, 4.56 ms, 7.89 us."""
    if seconds >= 1.0:
        return "%.2f s" % seconds
    if seconds >= 1e-3:
        return "%.2f ms" % (seconds * 1e3)
    return "%.2f us" % (seconds * 1e6)


class Timer:
    """Time a function with warm-up runs and repeats: `Timer(warmup=2, repeats=10).measure(fn, *args)`.

    Also a context manager for one block: `with Timer() as t: ...` then `t.elapsed` (seconds).
    """

    def __init__(self, warmup: int = 2, repeats: int = 10):
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        self.warmup = int(warmup)
        self.repeats = int(repeats)
        self.elapsed = None
        self._start = None

    def measure(self, fn: Callable, *args, **kwargs) -> TimingResult:
        for _ in range(self.warmup):
            fn(*args, **kwargs)
        times = np.empty(self.repeats, dtype=np.float64)
        for i in range(self.repeats):
            start = time.perf_counter()
            fn(*args, **kwargs)
            times[i] = time.perf_counter() - start
        return TimingResult(times)

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self._start
        return False


def benchmark(fn: Callable, *args, warmup: int = 2, repeats: int = 10, **kwargs) -> TimingResult:
    """Shortcut for Timer(warmup, repeats).measure(fn, *args, **kwargs)."""
    return Timer(warmup=warmup, repeats=repeats).measure(fn, *args, **kwargs)


# %% [markdown]
# ## Memory: peak bytes with tracemalloc
#
# `tracemalloc` records every allocation made through Python's allocator, and NumPy registers its
# array buffers with it too. We reset the peak, run the function, and report
#
# * `peak_bytes`: the highest amount allocated *above the starting point* during the call -- this is
#   what decides whether a batch fits in memory (temporaries count, even if freed later);
# * `retained_bytes`: what is still allocated afterwards (the result, caches, or a leak).
#
# Tracing slows Python down noticeably, so never time and trace in the same run.

# %%
#| export
@dataclass
class MemoryResult:
    peak_bytes: int
    retained_bytes: int
    result: Any = None

    def __str__(self) -> str:
        return "peak %s, retained %s" % (format_bytes(self.peak_bytes), format_bytes(self.retained_bytes))


def format_bytes(n: float) -> str:
    """Human-readable size: 512 B, 1.5 KiB, 3.2 MiB."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024.0 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f GiB" % n


def measure_memory(fn: Callable, *args, **kwargs) -> MemoryResult:
    """Peak and retained bytes allocated by fn(*args, **kwargs) (tracemalloc); keeps the result."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn(*args, **kwargs)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return MemoryResult(max(0, peak - base), max(0, current - base), result)


# %% [markdown]
# ## Counting parameters and FLOPs
#
# Counts are exact and machine-independent, so they are the first thing to compare.
#
# * **Parameters**: the number of trainable numbers; times 4 bytes (float32) it is the model size.
# * **FLOPs** of a forward pass. We count a multiply-add as 2 FLOPs (the usual convention; some tools
#   report MACs = FLOPs / 2):
#   * `Linear(in, out)` on `R` rows: `2 * R * in * out` (+ `R * out` bias additions);
#   * `Conv2d` with weight `(C_out, C_in, kh, kw)` producing `(N, C_out, OH, OW)`:
#     `2 * N * OH * OW * C_out * C_in * kh * kw` (+ `N * C_out * OH * OW` for the bias).
#   Activations, pooling and additions are cheap in comparison and not counted.
#
# To count FLOPs of *any* model we run one forward pass and intercept every Linear and Conv2d
# call to read its input and output shapes (shapes are all we need). The rules live in a dictionary,
# so you can add one for your own layer with `register_flop_rule`.

# %%
#| export
def count_parameters(model, trainable_only: bool = True) -> int:
    """Number of parameter values of a model (or of any object with .parameters())."""
    params = model.parameters() if hasattr(model, "parameters") else []
    return int(sum(p.data.size for p in params if p.requires_grad or not trainable_only))


def parameter_bytes(model) -> int:
    """Bytes taken by the model's parameter arrays (float32: 4 bytes each)."""
    params = model.parameters() if hasattr(model, "parameters") else []
    return int(sum(p.data.nbytes for p in params))


def flops_linear(in_features: int, out_features: int, rows: int = 1, bias: bool = True) -> int:
    """Forward FLOPs of a Linear layer applied to `rows` input vectors."""
    return int(2 * rows * in_features * out_features + (rows * out_features if bias else 0))


def flops_conv2d(weight_shape, output_shape, bias: bool = True) -> int:
    """Forward FLOPs of a convolution with weight (C_out, C_in, kh, kw) and output (N, C_out, OH, OW)."""
    c_out, c_in, kh, kw = weight_shape
    n, _, oh, ow = output_shape
    outputs = n * c_out * oh * ow
    return int(2 * outputs * c_in * kh * kw + (outputs if bias else 0))


def _linear_rule(layer, in_shape, out_shape) -> int:
    rows = int(np.prod(in_shape[:-1])) if len(in_shape) > 1 else 1
    w = layer.weight.shape  # (in, out)
    return flops_linear(w[0], w[1], rows, getattr(layer, "bias", None) is not None)


def _conv_rule(layer, in_shape, out_shape) -> int:
    return flops_conv2d(layer.weight.shape, out_shape, getattr(layer, "bias", None) is not None)


FLOP_RULES: Dict[type, Callable] = {Linear: _linear_rule, Conv2d: _conv_rule}


def register_flop_rule(layer_type: type, rule: Callable) -> None:
    """Count FLOPs of `layer_type` as rule(layer, input_shape, output_shape) -> int."""
    FLOP_RULES[layer_type] = rule


def _flop_rule(layer) -> Optional[Callable]:
    for cls in type(layer).__mro__:
        if cls in FLOP_RULES:
            return FLOP_RULES[cls]
    return None


def _submodules(model) -> List[Any]:
    """The model and every module below it (each once), via children()."""
    seen, order, stack = set(), [], [model]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        order.append(m)
        children = getattr(m, "children", None)
        if callable(children):
            stack.extend(reversed(list(children())))
    return order


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))


def count_flops(model, x, per_layer: bool = False):
    """Forward FLOPs of model(x) for every Linear/Conv2d (or registered) layer it calls.

    Returns the total, or with per_layer=True a list of (layer type name, flops) in call order.
    """
    records: List[tuple] = []
    patched = []
    for m in _submodules(model):
        rule = _flop_rule(m)
        if rule is None or not hasattr(m, "__dict__"):
            continue

        def counted(*args, _m=m, _rule=rule, _forward=m.forward, **kwargs):
            out = _forward(*args, **kwargs)
            in_shape = tuple(np.shape(args[0].data if isinstance(args[0], Tensor) else args[0]))
            out_shape = tuple(out.shape)
            records.append((type(_m).__name__, int(_rule(_m, in_shape, out_shape))))
            return out

        m.__dict__["forward"] = counted   # instance attribute shadows the class's forward
        patched.append(m)
    try:
        with no_grad():
            model(_as_tensor(x))
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
    return records if per_layer else int(sum(f for _, f in records))


# %% [markdown]
# ## A per-layer profiler
#
# For a `Sequential` model the forward pass is a chain, so we can run it one layer at a time, feeding
# each layer the previous layer's output, and measure every step on its own: time (median and IQR),
# peak memory, parameters and FLOPs. The "% time" column usually shows that one or two layers
# dominate -- those are the ones worth optimising (or compressing).

# %%
#| export
@dataclass
class LayerProfile:
    index: int
    name: str
    output_shape: tuple
    parameters: int
    flops: int
    timing: TimingResult
    peak_bytes: int

    @property
    def median_seconds(self) -> float:
        return self.timing.median


def _layers_of(model) -> List[Any]:
    try:
        return [model[i] for i in range(len(model))]
    except TypeError:
        raise TypeError("profile_layers needs a Sequential-like model (len() and indexing), got %s"
                        % type(model).__name__) from None


def profile_layers(model, x, warmup: int = 1, repeats: int = 5) -> List[LayerProfile]:
    """Profile each layer of a Sequential model on input x (inference, no gradients)."""
    layers = _layers_of(model)
    rows: List[LayerProfile] = []
    out = _as_tensor(x)
    timer = Timer(warmup=warmup, repeats=repeats)
    with no_grad():
        for i, layer in enumerate(layers):
            inp = out
            timing = timer.measure(layer, inp)
            mem = measure_memory(layer, inp)
            out = mem.result
            flops = count_flops(layer, inp) if _has_flop_layers(layer) else 0
            rows.append(LayerProfile(i, type(layer).__name__, tuple(out.shape), count_parameters(layer),
                                     flops, timing, mem.peak_bytes))
    return rows


def _has_flop_layers(layer) -> bool:
    return any(_flop_rule(m) is not None for m in _submodules(layer))


def format_profile(rows: Sequence[LayerProfile]) -> str:
    """Text table of a per-layer profile with totals and each layer's share of the time."""
    total_time = sum(r.median_seconds for r in rows) or 1.0
    table = []
    for r in rows:
        table.append({"#": r.index, "layer": r.name, "output": "x".join(str(s) for s in r.output_shape),
                      "params": r.parameters, "FLOPs": r.flops, "median": format_seconds(r.median_seconds),
                      "IQR": format_seconds(r.timing.iqr), "% time": "%.1f" % (100 * r.median_seconds / total_time),
                      "peak mem": format_bytes(r.peak_bytes)})
    table.append({"#": "", "layer": "total", "output": "", "params": sum(r.parameters for r in rows),
                  "FLOPs": sum(r.flops for r in rows), "median": format_seconds(total_time), "IQR": "",
                  "% time": "100.0", "peak mem": format_bytes(max([r.peak_bytes for r in rows] or [0]))})
    return format_table(table)


# %% [markdown]
# ## Comparing models side by side
#
# `benchmark_model` collects everything about one model on one input (and, if you pass labelled data,
# its accuracy); `compare_models` does it for several models and `format_comparison` prints them as
# columns next to each other, with each number relative to the first (baseline) model. This is the
# table to put under any claim like "pruning made it 2x smaller at no loss of accuracy".

# %%
#| export
@dataclass
class ModelBenchmark:
    name: str
    parameters: int
    size_bytes: int
    flops: int
    timing: TimingResult
    peak_bytes: int
    accuracy: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _accuracy(model, X, y, batch_size: int = 256) -> float:
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    X = X.data if isinstance(X, Tensor) else np.asarray(X, dtype=np.float32)
    correct = 0
    with no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(Tensor(X[start:start + batch_size]))
            correct += int(np.sum(np.argmax(logits.data, axis=-1) == y[start:start + batch_size]))
    return correct / max(1, len(y))


def benchmark_model(model, x, name: Optional[str] = None, data=None, warmup: int = 2,
                    repeats: int = 10, size_bytes: Optional[int] = None) -> ModelBenchmark:
    """Time, memory, parameters, FLOPs (and accuracy on data=(X, y)) of model on input batch x."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        xt = _as_tensor(x)
        with no_grad():
            timing = benchmark(model, xt, warmup=warmup, repeats=repeats)
            peak = measure_memory(model, xt).peak_bytes
        flops = count_flops(model, xt)
        acc = _accuracy(model, data[0], data[1]) if data is not None else None
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return ModelBenchmark(name or type(model).__name__, count_parameters(model),
                          parameter_bytes(model) if size_bytes is None else int(size_bytes),
                          flops, timing, peak, acc)


def compare_models(models: Dict[str, Any], x, data=None, warmup: int = 2, repeats: int = 10,
                   sizes: Optional[Dict[str, int]] = None) -> List[ModelBenchmark]:
    """benchmark_model for each {name: model}; `sizes` may override the stored size (compressed models)."""
    sizes = sizes or {}
    return [benchmark_model(m, x, name=name, data=data, warmup=warmup, repeats=repeats,
                            size_bytes=sizes.get(name)) for name, m in models.items()]


def format_table(rows: Sequence[Dict[str, Any]], columns: Optional[Sequence[str]] = None) -> str:
    """Plain-text table of a list of dicts (columns in order of first appearance unless given)."""
    if not rows:
        return "(empty)"
    if columns is None:
        columns = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)

    def cell(v):
        if isinstance(v, float):
            return "%.4g" % v
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return "{:,}".format(int(v))
        return str(v)

    text = [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    # numbers are right-aligned (digits line up), text is left-aligned
    numeric = [all(isinstance(row.get(c, ""), (int, float, np.number)) or row.get(c, "") == "" for row in rows)
               for c in columns]
    line = "  ".join(str(c).rjust(w) if num else str(c).ljust(w) for c, w, num in zip(columns, widths, numeric))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    for r in text:
        out.append("  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(r, widths, numeric)).rstrip())
    return "\n".join(out)


def format_comparison(results: Sequence[ModelBenchmark]) -> str:
    """Metrics as rows, models as columns; ratios are relative to the first (baseline) model."""
    if not results:
        return "(no models)"
    base = results[0]

    def ratio(value, ref):
        return "" if not ref or value is None else " (%.2fx)" % (value / ref)

    metrics = [
        ("parameters", lambda r: "{:,}".format(r.parameters) + ratio(r.parameters, base.parameters)),
        ("size", lambda r: format_bytes(r.size_bytes) + ratio(r.size_bytes, base.size_bytes)),
        ("FLOPs", lambda r: "{:,}".format(r.flops) + ratio(r.flops, base.flops)),
        ("latency median", lambda r: format_seconds(r.timing.median) + ratio(r.timing.median, base.timing.median)),
        ("latency IQR", lambda r: format_seconds(r.timing.iqr)),
        ("peak memory", lambda r: format_bytes(r.peak_bytes)),
    ]
    if any(r.accuracy is not None for r in results):
        metrics.append(("accuracy", lambda r: "-" if r.accuracy is None else "%.2f%%" % (100 * r.accuracy)))
    rows = []
    for label, fn in metrics:
        row = {"metric": label}
        for r in results:
            row[r.name] = fn(r)
        rows.append(row)
    return format_table(rows, ["metric"] + [r.name for r in results])


# %% [markdown]
# ## Checks

# %%
def test_unit_timer_statistics():
    r = TimingResult(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert r.median == 3.0 and r.iqr == 2.0 and r.mean == 22.0   # the outlier moves the mean only
    calls = []
    res = Timer(warmup=3, repeats=4).measure(lambda: calls.append(1))
    assert len(calls) == 7 and res.n == 4


def test_unit_memory():
    res = measure_memory(lambda: np.ones(250_000, dtype=np.float64).sum())
    assert res.peak_bytes >= 2_000_000


def test_unit_counts():
    from tinytorch.core.dense import Sequential
    from tinytorch.core.activations import ReLU
    from tinytorch.core.layers import Flatten
    model = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), Flatten(), Linear(4 * 8 * 8, 10))
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    assert count_parameters(model) == 4 * 9 + 4 + 256 * 10 + 10
    expected = flops_conv2d((4, 1, 3, 3), (2, 4, 8, 8)) + flops_linear(256, 10, rows=2)
    assert count_flops(model, x) == expected
    rows = profile_layers(model, x, repeats=2)
    assert [r.name for r in rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    print(format_profile(rows))
    print(format_comparison(compare_models({"cnn": model, "same": model}, x, repeats=3)))


# %%
if __name__ == "__main__":
    test_unit_timer_statistics()
    test_unit_memory()
    test_unit_counts()
    print("benchmarking: all checks passed")
