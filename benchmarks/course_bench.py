"""Course benchmark: seconds per training step (forward + backward + Adam update) of the installed tinytorch.

Models (batch 64, float32; benchmarks/torch_reference.py builds the same ones in PyTorch):
  cnn-8    Conv2d(1,16,3,p=1)-ReLU-MaxPool2d(2)-Conv2d(16,32,3,p=1)-ReLU-MaxPool2d(2)-Flatten-Linear(128,10), 1x8x8
  cnn-28   the same network on 1x28x28 (Linear(32*7*7, 10))
  gpt-16   GPT(vocab 16, seq 16, d_model 64, 4 heads, 2 pre-norm blocks), cross-entropy over all positions
  mlp      Linear(64,128)-ReLU-Linear(128,10) on (64, 64) inputs (8x8 digits, flattened), cross-entropy
  numpy-mlp  the same MLP step hand-written in NumPy (same init, same loss, same Adam): the floor for the MLP

Each model is timed over 60 steps after 10 warm-up steps. Output: one JSON object
{name: seconds_per_step} on stdout; the MLP's framework overhead (mlp / numpy-mlp) goes to stderr.
Runs single-threaded by default (sets OMP/OPENBLAS/MKL_NUM_THREADS=1 unless already set), because
ratios are only meaningful when every contender uses the same number of threads.

Usage:  python benchmarks/course_bench.py [--steps 60] [--warmup 10] [--repeat 1] [--only cnn-28,gpt-16]
        [--profile NAME]   (cProfile one model's steps, print the top functions to stderr)
"""
import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")          # must happen before NumPy is imported

import numpy as np  # noqa: E402 - after the thread-count variables above, which NumPy reads on import
import tinytorch as tt  # noqa: E402 - imports NumPy; same reason

BATCH = 64


# ---- the models, built through the public API -------------------------------------------------
def build_cnn(side):
    model = tt.Sequential(
        tt.Conv2d(1, 16, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Conv2d(16, 32, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Flatten(), tt.Linear(32 * (side // 4) ** 2, 10))
    rng = np.random.default_rng(0)
    x = tt.Tensor(rng.standard_normal((BATCH, 1, side, side)).astype(np.float32))
    y = rng.integers(0, 10, BATCH)
    return model, x, y


def build_gpt():
    model = tt.GPT(vocab_size=16, max_len=16, dim=64, num_heads=4, num_layers=2)
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 16, (BATCH, 16)), rng.integers(0, 16, (BATCH, 16))


def build_mlp():
    model = tt.Sequential(tt.Linear(64, 128), tt.ReLU(), tt.Linear(128, 10))
    rng = np.random.default_rng(0)
    x = tt.Tensor(rng.standard_normal((BATCH, 64)).astype(np.float32))
    return model, x, rng.integers(0, 10, BATCH)


def framework_step(model, x, y, loss_fn, opt):
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


# ---- the hand-written NumPy MLP step (the floor the framework is compared with) ---------------
def numpy_mlp_step(model, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    params = [p.data.copy() for p in model.parameters()]     # same initial weights: W1, b1, W2, b2
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    x, rows = x.data, np.arange(len(y))
    state = {"t": 0}

    def step():
        w1, c1, w2, c2 = params
        h = x @ w1
        h += c1
        np.maximum(h, 0, out=h)
        z = h @ w2
        z += c2
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)                      # softmax probabilities
        z[rows, y] -= 1.0
        z /= len(y)                                            # d loss / d logits
        grads = [None, None, h.T @ z, z.sum(axis=0)]
        dh = z @ w2.T
        dh *= h > 0
        grads[0], grads[1] = x.T @ dh, dh.sum(axis=0)
        state["t"] += 1
        t = state["t"]
        for p, g, (m, v) in zip(params, grads, moments):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= np.sqrt(1 - b2 ** t)
            denom += eps
            p -= (lr / (1 - b1 ** t)) * (m / denom)
    return step


# ---- timing ---------------------------------------------------------------------------------------
def make_steps():
    ce = tt.CrossEntropyLoss()
    steps = {}
    for side in (8, 28):
        model, x, y = build_cnn(side)
        steps["cnn-%d" % side] = framework_step(model, x, y, ce, tt.Adam(model.parameters(), lr=1e-3))
    model, x, y = build_gpt()
    steps["gpt-16"] = framework_step(model, x, y, ce, tt.Adam(model.parameters(), lr=1e-3))
    model, x, y = build_mlp()
    steps["numpy-mlp"] = numpy_mlp_step(model, x, y)             # copies the initial weights first
    steps["mlp"] = framework_step(model, x, y, ce, tt.Adam(model.parameters(), lr=1e-3))
    return steps


def time_step(step, steps, warmup):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / max(steps, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="time each model N times, keep the best")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--profile", default="", help="cProfile this model's timed steps (to stderr)")
    args = parser.parse_args(argv)

    steps = make_steps()
    names = [n for n in args.only.split(",") if n] or list(steps)
    unknown = [n for n in names + ([args.profile] if args.profile else []) if n not in steps]
    if unknown:
        parser.error("unknown model(s) %s; known: %s" % (", ".join(unknown), ", ".join(steps)))
    if args.profile:
        import cProfile
        import pstats
        step = steps[args.profile]
        time_step(step, 0, args.warmup)
        prof = cProfile.Profile()
        prof.runcall(time_step, step, args.steps, 0)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    result = {}
    # interleave the repeats, so that a burst of load on a shared machine hits every model alike
    for _ in range(max(1, args.repeat)):
        for name in names:
            seconds = time_step(steps[name], args.steps, args.warmup)
            result[name] = min(result.get(name, float("inf")), seconds)
    result = {name: round(seconds, 6) for name, seconds in result.items()}
    if "mlp" in result and "numpy-mlp" in result:
        print("mlp / numpy-mlp = %.2f" % (result["mlp"] / result["numpy-mlp"]), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
