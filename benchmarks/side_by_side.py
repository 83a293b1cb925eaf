"""What `nox -s bench` runs inside its venv: course and PyTorch training steps, interleaved, plus the matmul peak.

One process, single-threaded, measures in this order, `--rounds` times (default 3):
  for every model: the course's step (course_bench.py), then PyTorch's step (torch_reference.py),
  and once per round the hand-written NumPy MLP step beside the course's MLP.
Interleaving puts a burst of load from other processes on a shared machine onto both contenders
alike, so the ratio of two neighbouring timings is steadier than either timing.

It also measures the single-core float32 matmul throughput (the physical limit the FLOP counts are
divided by): the best of NumPy's and PyTorch's sgemm on square matrices, and reports which BLAS
kernel threadpoolctl says NumPy runs.

Output: one JSON line {"rounds": [{"tinytorch": {...}, "torch": {...}, "numpy-mlp": s}, ...],
"peak_flops": {...}, "blas": [...], "env": {...}} — seconds per step.
Usage: python benchmarks/side_by_side.py [--rounds 3] [--steps 60] [--warmup 10] [--only cnn-28,gpt-16]
"""
import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")          # before NumPy and torch start their thread pools

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The three imports below must follow the thread-count variables (read when NumPy/torch load) and the
# sys.path entry for the sibling scripts course_bench.py and torch_reference.py.
import course_bench  # noqa: E402
import numpy as np  # noqa: E402
import torch_reference  # noqa: E402

PEAK_SIZE = 1024          # large enough for BLAS to reach its steady speed, small enough to take ~20 ms


def matmul_peak(matmul, a, b, repeats=5):
    """Best float32 multiply-add throughput (FLOP/s, 2 per multiply-add) of `matmul(a, b)`."""
    matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b)
        best = min(best, time.perf_counter() - start)
    n = a.shape[0]
    return 2.0 * n ** 3 / best


def measure_peaks():
    import torch
    rng = np.random.default_rng(0)
    a = rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    b = rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    return {"numpy": matmul_peak(np.matmul, a, b), "torch": matmul_peak(torch.mm, ta, tb)}


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed"}]
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads")
    return [{k: pool.get(k) for k in keep if pool.get(k) is not None} for pool in threadpool_info()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated model names (default: all)")
    args = parser.parse_args(argv)

    torch_reference.single_thread()
    ours, theirs = course_bench.make_steps(), torch_reference.make_steps()
    numpy_mlp = ours.pop("numpy-mlp")
    names = [n for n in args.only.split(",") if n] or [n for n in ours if n in theirs]
    unknown = [n for n in names if n not in ours or n not in theirs]
    if unknown:
        parser.error("unknown model(s) %s; known: %s" % (", ".join(unknown), ", ".join(theirs)))

    peaks = measure_peaks()
    rounds = []
    for _ in range(max(1, args.rounds)):
        timed = {"tinytorch": {}, "torch": {}}
        for name in names:
            timed["tinytorch"][name] = course_bench.time_step(ours[name], args.steps, args.warmup)
            timed["torch"][name] = course_bench.time_step(theirs[name], args.steps, args.warmup)
        if "mlp" in names:
            timed["numpy-mlp"] = course_bench.time_step(numpy_mlp, args.steps, args.warmup)
        rounds.append(timed)
    peaks_after = measure_peaks()              # the machine's load may change during the run
    peaks = {k: max(peaks[k], peaks_after[k]) for k in peaks}

    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                          "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    import torch
    print(json.dumps({"rounds": rounds, "peak_flops": peaks, "blas": blas_info(), "env": env,
                      "numpy": np.__version__, "torch": torch.__version__,
                      "steps": args.steps, "warmup": args.warmup}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
