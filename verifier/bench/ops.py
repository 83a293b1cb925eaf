"""Per-operation timing of one tinytorch package, for `tinytorch-verifier verify --baseline REF` (pipeline/baseline.py).

A child script, never imported by the verifier: it runs with `python -I` in a venv that holds the
course's dependencies, with `_roles.py` (student_scenarios) copied beside it, and times one package —
the folder given by --package-dir, put first on sys.path so that exactly that wheel's code runs (the
script checks where `tinytorch` came from). The verifier starts it once per round and side, baseline
and candidate alternating (A B A B …), and compares the two sides' times per operation.

Each operation finds its classes by role (Conv2d/Conv2D, …), is called once to warm up, then timed
until --op-seconds have passed (at least --min-calls calls); its time is the fastest call, the
figure least disturbed by other work on the machine. An operation whose role the package lacks or
that raises is reported as skipped with one line, never as a time. The last line of output is
`TITO_OPS {json}`: {"tinytorch": file, "ops": {name: {"seconds", "module", "calls"}}, "skipped": {name: why}}.
"""
import argparse
import json
import os
import sys
import time

PREFIX = "TITO_OPS "


def _arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--package-dir", required=True)
    parser.add_argument("--op-seconds", type=float, default=0.12)
    parser.add_argument("--min-calls", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated operation names")
    return parser.parse_args()


ARGS = _arguments()
sys.path.insert(0, os.path.abspath(ARGS.package_dir))
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))   # _roles.py, copied beside this script

import numpy as np  # noqa: E402
import tinytorch  # noqa: E402
from _roles import role  # noqa: E402

if not os.path.abspath(tinytorch.__file__).startswith(os.path.abspath(ARGS.package_dir) + os.sep):
    sys.exit("tinytorch was imported from %s, not from %s" % (tinytorch.__file__, ARGS.package_dir))

RNG = np.random.default_rng(0)


def data(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def scalar(out):
    """A scalar to call backward() on, whatever the course names its reduction."""
    return out.sum() if hasattr(out, "sum") else out


# --- the operations: each returns (callable to time, the class whose module owns the operation) ------

def conv_forward():
    Conv2d, Tensor = role("conv2d"), role("tensor")
    conv, x = Conv2d(4, 8, kernel_size=3, padding=1), Tensor(data(8, 4, 16, 16))
    return (lambda: conv(x)), Conv2d


def conv_backward():
    Conv2d, Tensor = role("conv2d"), role("tensor")
    conv, x = Conv2d(4, 8, kernel_size=3, padding=1), Tensor(data(8, 4, 16, 16), requires_grad=True)
    return (lambda: scalar(conv(x)).backward()), Conv2d


def pool_forward():
    MaxPool2d, Tensor = role("maxpool2d"), role("tensor")
    pool, x = MaxPool2d(2), Tensor(data(8, 8, 16, 16))
    return (lambda: pool(x)), MaxPool2d


def matmul():
    Tensor = role("tensor")
    a, b = Tensor(data(64, 128), requires_grad=True), Tensor(data(128, 64), requires_grad=True)
    return (lambda: scalar(a @ b).backward()), Tensor


def attention_forward():
    MultiHeadAttention, Tensor = role("multihead_attention"), role("tensor")
    attention, x = MultiHeadAttention(32, 4), Tensor(data(4, 12, 32))
    return (lambda: attention(x)), MultiHeadAttention


def layernorm_backward():
    LayerNorm, Tensor = role("layernorm"), role("tensor")
    norm, x = LayerNorm(32), Tensor(data(16, 12, 32), requires_grad=True)
    return (lambda: scalar(norm(x)).backward()), LayerNorm


def adam_step():
    Adam, Linear, Tensor = role("adam"), role("linear"), role("tensor")
    layers = [Linear(64, 64), Linear(64, 64)]
    params = [p for layer in layers for p in layer.parameters()]
    scalar(layers[1](layers[0](Tensor(data(32, 64))))).backward()   # every parameter has a gradient
    optimizer = Adam(params, lr=1e-3)
    return optimizer.step, Adam


def mlp_training_step():
    Linear, ReLU, Sequential, CrossEntropyLoss, SGD, Tensor = (
        role("linear"), role("relu"), role("sequential"), role("cross_entropy"), role("sgd"), role("tensor"))
    model = Sequential(Linear(32, 64), ReLU(), Linear(64, 10))
    loss_fn, optimizer = CrossEntropyLoss(), SGD(model.parameters(), lr=0.01)
    x, y = Tensor(data(64, 32)), RNG.integers(0, 10, size=64)

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return step, Linear


OPERATIONS = {
    "Conv2d forward": conv_forward,
    "Conv2d forward+backward": conv_backward,
    "MaxPool2d forward": pool_forward,
    "matmul forward+backward": matmul,
    "MultiHeadAttention forward": attention_forward,
    "LayerNorm forward+backward": layernorm_backward,
    "Adam step": adam_step,
    "MLP training step": mlp_training_step,
}


def fastest_call(call):
    call()   # warm-up: caches, lazily built buffers
    times = []  # type: list
    began = time.perf_counter()
    while len(times) < ARGS.min_calls or time.perf_counter() - began < ARGS.op_seconds:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        if len(times) >= 1000:
            break
    return min(times), len(times)


def main():
    wanted = [n.strip() for n in ARGS.only.split(",") if n.strip()] or list(OPERATIONS)
    ops, skipped = {}, {}
    for name in wanted:
        try:
            call, owner = OPERATIONS[name]()
            seconds, calls = fastest_call(call)
        except SystemExit as missing:   # _roles.fail: the package has no class for a role
            skipped[name] = str(missing.code)
            continue
        except Exception as exc:  # noqa: BLE001 - a failing operation is reported, the others still run
            skipped[name] = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            continue
        ops[name] = {"seconds": seconds, "module": getattr(owner, "__module__", ""), "calls": calls}
    print(PREFIX + json.dumps({"tinytorch": tinytorch.__file__, "ops": ops, "skipped": skipped}))


main()
