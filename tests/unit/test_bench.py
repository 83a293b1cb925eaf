"""The bench's deterministic parts: FLOP counts from the model shapes, ratios and targets, the report table.

Nothing here is timed: speed targets are only ever checked by `nox -s bench` itself.
"""
import pytest

from verifier.bench import flops
from verifier.bench import measure as bench
from verifier.errors import VerifierError


def test_cnn28_flops_by_hand():
    conv1 = 2 * 64 * 16 * 28 * 28 * 1 * 3 * 3          # data input: forward + weight gradient
    conv2 = 2 * 64 * 32 * 14 * 14 * 16 * 3 * 3
    fc = 2 * 64 * (32 * 7 * 7) * 10
    assert flops.forward_flops("cnn-28") == conv1 + conv2 + fc
    assert flops.training_flops("cnn-28") == 2 * conv1 + 3 * (conv2 + fc)


def test_gpt16_flops_by_hand():
    rows, d = 64 * 16, 64
    per_block = (2 * rows * d * 3 * d                    # qkv
                 + 2 * 2 * 64 * 4 * 16 * 16 * 16         # Q K^T and A V
                 + 2 * rows * d * d                      # output projection
                 + 2 * 2 * rows * d * 4 * d)             # MLP, two layers
    head = 2 * rows * d * 16
    assert flops.forward_flops("gpt-16") == 2 * per_block + head
    assert flops.training_flops("gpt-16") == 3 * (2 * per_block + head)   # embeddings are gathers


def test_mlp_and_cnn8_flops():
    assert flops.training_flops("mlp") == 2 * (2 * 64 * 64 * 128) + 3 * (2 * 64 * 128 * 10)
    assert flops.training_flops("cnn-8") < flops.training_flops("cnn-28")
    assert set(flops.all_training_flops()) == {"cnn-8", "cnn-28", "gpt-16", "mlp"}


def _result(ours_cnn, torch_cnn, ours_mlp=0.0002, numpy_mlp=0.0001):
    result = bench.BenchResult("3.11.7", peak_flops={"numpy": 100e9, "torch": 50e9})
    for oc, tc in zip(ours_cnn, torch_cnn):
        result.rounds.append({"tinytorch": {"cnn-28": oc, "mlp": ours_mlp},
                              "torch": {"cnn-28": tc, "mlp": 0.0004}, "numpy-mlp": numpy_mlp})
    return result


def test_rows_use_medians_ratio_spread_and_peak_fraction():
    result = _result([0.020, 0.010, 0.030], [0.010, 0.010, 0.010])
    row = next(r for r in result.rows() if r["model"] == "cnn-28")
    assert row["ours_ms"] == 20.0 and row["reference_ms"] == 10.0
    assert (row["ratio"], row["ratio_min"], row["ratio_max"]) == (2.0, 1.0, 3.0)
    assert row["target"] == 1.2 and row["met"] is False
    expected = flops.training_flops("cnn-28") / (100e9 * 0.020)        # the faster peak is the limit
    assert row["ours_peak_fraction"] == pytest.approx(expected, abs=1e-4)
    mlp = next(r for r in result.rows() if r["model"] == "mlp" and r["against"] == "numpy-mlp")
    assert mlp["ratio"] == 2.0 and mlp["met"] is False
    untargeted = next(r for r in result.rows() if r["model"] == "mlp" and r["against"] == "torch")
    assert untargeted["met"] is None and untargeted["reference_peak_fraction"] is not None


def test_target_met_and_missing_models_skipped():
    rows = _result([0.011], [0.010], ours_mlp=0.00012).rows()
    assert {(r["model"], r["against"]) for r in rows} == {("cnn-28", "torch"), ("mlp", "numpy-mlp"),
                                                          ("mlp", "torch")}
    assert all(r["met"] in (True, None) for r in rows)


def test_render_table_names_models_targets_and_blas():
    result = _result([0.020], [0.010])
    result.blas = [{"user_api": "blas", "internal_api": "openblas", "version": "0.3", "architecture": "Haswell",
                    "num_threads": 1}]
    text = bench.render_table(result)
    line = next(row for row in text.splitlines() if row.startswith("cnn-28"))
    assert "20.00" in line and "2.00x" in line and "1.2x" in line and line.endswith("NO")
    assert "numpy 100.0" in text and "kernel Haswell" in text


def test_child_output_parsing_and_env():
    assert bench.parse_child_output('noise\n{"rounds": [], "peak_flops": {}}\n')["rounds"] == []
    with pytest.raises(VerifierError):
        bench.parse_child_output("no json here")
    env = bench.bench_env()
    assert env["OPENBLAS_NUM_THREADS"] == "1" and not set(bench.OPENBLAS_TUNING) & set(env)


def test_bench_needs_nothing_outside_the_project():
    for path in bench.BENCHMARKS.glob("*.py"):
        text = path.read_text()
        assert "shared/bench" not in text and "torch_ref.py" not in text and "numpy_floor" not in text, path
    assert bench.SIDE_BY_SIDE.is_file() and bench.SIDE_BY_SIDE.parent == bench.REPO / "benchmarks"
    assert "shared" not in (bench.REPO / "verifier" / "bench" / "measure.py").read_text()
