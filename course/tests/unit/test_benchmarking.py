"""Unit tests for module 15 (benchmarking): robust timing statistics, warm-up, tracemalloc memory,
parameter and FLOP counts for Linear and Conv2d, the per-layer profiler and the comparison tables.
Durations are checked for sanity only, never against a speed."""
import tracemalloc

import numpy as np
import pytest

from tinytorch import MLP, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Tensor
from tinytorch.core.benchmarking import (
    FLOP_RULES, LayerProfile, ModelBenchmark, Timer, TimingResult, benchmark, benchmark_model, compare_models,
    count_flops, count_parameters, flops_conv2d, flops_linear, format_bytes, format_comparison, format_profile,
    format_seconds, format_table, measure_memory, parameter_bytes, profile_layers, register_flop_rule)


def small_cnn():
    np.random.seed(0)
    return Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(4 * 4 * 4, 10))


def test_timing_result_robust_statistics():
    r = TimingResult(np.array([1.0, 2.0, 3.0, 4.0, 1000.0]))
    assert r.median == 3.0
    assert r.q1 == 2.0 and r.q3 == 4.0 and r.iqr == 2.0
    assert r.mean > 200 and r.min == 1.0 and r.max == 1000.0 and r.n == 5
    assert set(r.summary()) >= {"median", "iqr", "mean", "std", "n"}
    assert "IQR" in str(r)


def test_timer_warmup_and_repeats():
    calls = []
    result = Timer(warmup=3, repeats=5).measure(lambda v: calls.append(v), 1)
    assert len(calls) == 8 and result.n == 5
    assert np.all(result.times >= 0)
    assert benchmark(lambda: None, warmup=0, repeats=2).n == 2
    with pytest.raises(ValueError):
        Timer(repeats=0)
    with pytest.raises(ValueError):
        Timer(warmup=-1)


def test_timer_context_manager():
    with Timer() as t:
        sum(range(1000))
    assert t.elapsed is not None and t.elapsed >= 0


def test_format_helpers():
    assert format_seconds(2.5) == "2.50 s"
    assert format_seconds(0.0025) == "2.50 ms"
    assert format_seconds(2.5e-6) == "2.50 us"
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 1024 ** 2) == "3.0 MiB"


def test_measure_memory_peak_and_retained():
    res = measure_memory(lambda: np.ones(500_000, dtype=np.float64).sum())
    assert res.peak_bytes >= 4_000_000           # the temporary array counts towards the peak ...
    assert res.retained_bytes < 100_000          # ... but it is freed afterwards
    keep = measure_memory(lambda: np.ones(250_000, dtype=np.float64))
    assert keep.retained_bytes >= 2_000_000 and keep.result.shape == (250_000,)
    assert not tracemalloc.is_tracing()


def test_measure_memory_respects_existing_tracing():
    tracemalloc.start()
    try:
        measure_memory(lambda: np.zeros(1000))
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_parameter_counts():
    np.random.seed(0)
    model = MLP([10, 20, 5])
    assert count_parameters(model) == 10 * 20 + 20 + 20 * 5 + 5
    assert parameter_bytes(model) == 4 * count_parameters(model)
    assert count_parameters(ReLU()) == 0
    assert count_parameters(small_cnn()) == 4 * 9 + 4 + 64 * 10 + 10


def test_flop_formulas():
    assert flops_linear(3, 4, rows=2) == 2 * 2 * 3 * 4 + 2 * 4
    assert flops_linear(3, 4, rows=2, bias=False) == 48
    assert flops_conv2d((8, 3, 3, 3), (2, 8, 5, 5)) == 2 * 2 * 8 * 25 * 27 + 2 * 8 * 25
    assert flops_conv2d((8, 3, 3, 3), (1, 8, 5, 5), bias=False) == 2 * 8 * 25 * 27


def test_count_flops_linear_and_conv():
    model = small_cnn()
    x = np.zeros((3, 1, 8, 8), dtype=np.float32)
    expected = flops_conv2d((4, 1, 3, 3), (3, 4, 8, 8)) + flops_linear(64, 10, rows=3)
    assert count_flops(model, x) == expected
    per_layer = count_flops(model, Tensor(x), per_layer=True)
    assert [name for name, _ in per_layer] == ["Conv2d", "Linear"]
    # the model's forward is restored afterwards
    assert "forward" not in vars(model[0]) and "forward" not in vars(model[4])
    assert model(Tensor(x)).shape == (3, 10)


def test_count_flops_sequence_input_and_nested():
    np.random.seed(0)
    inner = Sequential(Linear(6, 4), ReLU())
    model = Sequential(inner, Linear(4, 2))
    x = np.zeros((2, 5, 6), dtype=np.float32)          # (batch, time, features): 10 rows
    assert count_flops(model, x) == flops_linear(6, 4, rows=10) + flops_linear(4, 2, rows=10)


def test_register_flop_rule():
    class Scale:
        def __init__(self):
            self.k = 2.0

        def __call__(self, x):
            return self.forward(x)

        def forward(self, x):
            return x * self.k

        def children(self):
            return []

    old = dict(FLOP_RULES)
    try:
        register_flop_rule(Scale, lambda layer, i, o: int(np.prod(o)))
        assert count_flops(Scale(), np.zeros((2, 3), dtype=np.float32)) == 6
    finally:
        FLOP_RULES.clear()
        FLOP_RULES.update(old)


def test_profile_layers():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    rows = profile_layers(model, x, warmup=1, repeats=3)
    assert [r.name for r in rows] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert all(isinstance(r, LayerProfile) for r in rows)
    assert rows[0].output_shape == (4, 4, 8, 8) and rows[-1].output_shape == (4, 10)
    assert rows[0].flops == flops_conv2d((4, 1, 3, 3), (4, 4, 8, 8)) and rows[1].flops == 0
    assert rows[0].parameters == 40 and rows[2].parameters == 0
    assert all(r.timing.n == 3 and r.median_seconds >= 0 for r in rows)
    table = format_profile(rows)
    assert "total" in table and "Conv2d" in table and "% time" in table
    with pytest.raises(TypeError):
        profile_layers(Linear(2, 2), np.zeros((1, 2), dtype=np.float32))


def test_benchmark_and_compare_models():
    big = small_cnn()
    np.random.seed(1)
    small = Sequential(Flatten(), Linear(64, 10))
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    X = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    y = np.zeros(20, dtype=np.int64)
    one = benchmark_model(big, x, name="cnn", repeats=3, data=(X, y))
    assert isinstance(one, ModelBenchmark) and one.name == "cnn"
    assert one.parameters == count_parameters(big) and 0.0 <= one.accuracy <= 1.0
    results = compare_models({"cnn": big, "linear": small}, x, repeats=3, sizes={"linear": 100})
    assert [r.name for r in results] == ["cnn", "linear"]
    assert results[1].size_bytes == 100 and results[1].flops == flops_linear(64, 10, rows=2)
    text = format_comparison(results)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "cnn", "linear"]
    assert any(line.startswith("FLOPs") for line in lines) and "(1.00x)" in text


def test_benchmark_model_restores_training_mode():
    model = small_cnn()
    model.train()
    benchmark_model(model, np.zeros((1, 1, 8, 8), dtype=np.float32), repeats=1)
    assert model.training


def test_format_table():
    text = format_table([{"name": "a", "n": 1000, "x": 0.5}, {"name": "bb", "n": 2}])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "n", "x"]
    assert "1,000" in lines[2] and "0.5" in lines[2]
    assert format_table([]) == "(empty)"
