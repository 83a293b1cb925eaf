"""Student scenario "inter-module": gradients flow from a loss, through layers built on tensor and
autograd, to every parameter; then SGD and Adam use those gradients to update the parameters.

Run it like a student would, with only the installed tinytorch package and NumPy:
    python -I student_scenarios/inter_module.py
It fixes its seeds, asserts what it expects (a failure exits non-zero with an AssertionError that
says what went wrong) and prints, as its last line, `TITO_RESULT {...}` with its key figures.
"""
# scenario-modules: tensor, autograd, activations, layers, losses, optimizers
# scenario-timeout: 120
import json
import time

import numpy as np
from tinytorch import SGD, Adam, CrossEntropyLoss, Linear, ReLU, Sequential, Tanh, Tensor, seed_everything

start = time.perf_counter()
seed_everything(0)

# A small batch: 32 examples with 4 features, 3 classes.
x = Tensor(np.random.randn(32, 4).astype(np.float32))
y = np.random.randint(0, 3, size=32)


def build_model():
    seed_everything(1)   # the same initial weights every time we build it
    return Sequential(Linear(4, 16), ReLU(), Linear(16, 16), Tanh(), Linear(16, 3))


loss_fn = CrossEntropyLoss()

# ---- 1. Gradients reach every parameter --------------------------------------------------------
model = build_model()
output = model(x)
# the untrained model's output, summed: a fingerprint `tinytorch-verifier verify --baseline` compares
initial_output = {"sum": float(np.sum(output.data, dtype=np.float64)),
                  "sum_sq": float(np.sum(np.square(output.data, dtype=np.float64)))}
loss = loss_fn(output, y)
initial_loss = loss.item()
assert np.isfinite(initial_loss), f"the initial loss is not finite: {initial_loss}"
loss.backward()

named = list(model.named_parameters())
assert len(named) == 6, f"expected 6 parameters (3 weights, 3 biases), found {[n for n, _ in named]}"
grad_norms = {}
for name, p in named:
    assert p.grad is not None, f"parameter {name!r} received no gradient from loss.backward()"
    g = p.grad.data
    assert g.shape == p.shape, f"gradient of {name!r} has shape {g.shape}, parameter has {p.shape}"
    assert np.all(np.isfinite(g)), f"gradient of {name!r} contains NaN or inf"
    assert np.abs(g).sum() > 0, f"gradient of {name!r} is all zeros: the graph is cut somewhere"
    grad_norms[name] = float(np.sqrt((g.astype(np.float64) ** 2).sum()))

# The gradient is also *right*: compare one entry with a finite difference of the loss.
name, p = named[0]
i, j = np.unravel_index(np.argmax(np.abs(p.grad.data)), p.shape)
analytic = float(p.grad.data[i, j])
eps = 1e-2
p.data[i, j] += eps
loss_plus = loss_fn(model(x), y).item()
p.data[i, j] -= 2 * eps
loss_minus = loss_fn(model(x), y).item()
p.data[i, j] += eps
numeric = (loss_plus - loss_minus) / (2 * eps)
assert abs(numeric - analytic) <= 0.05 * abs(analytic) + 1e-4, (
    f"d loss / d {name}[{i},{j}]: backward gives {analytic:.6f}, finite difference {numeric:.6f}")

# ---- 2. Optimizers update the parameters and lower the loss ------------------------------------
steps = 25
final_losses = {}
for opt_name, make_optimizer in (("SGD", lambda ps: SGD(ps, lr=0.1, momentum=0.9)),
                                 ("Adam", lambda ps: Adam(ps, lr=0.01))):
    model = build_model()
    optimizer = make_optimizer(model.parameters())
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for n, p in model.named_parameters():
        assert not np.array_equal(p.data, before[n]), f"{opt_name} did not change parameter {n!r}"
        assert p.data.dtype == np.float32, f"{opt_name} changed the dtype of {n!r} to {p.data.dtype}"
    final = loss_fn(model(x), y).item()
    assert final < 0.7 * initial_loss, (
        f"{opt_name}: loss went from {initial_loss:.4f} to only {final:.4f} in {steps} steps")
    final_losses[opt_name] = final

seconds = time.perf_counter() - start
print(f"initial loss {initial_loss:.4f}; after {steps} steps: SGD {final_losses['SGD']:.4f}, "
      f"Adam {final_losses['Adam']:.4f}; every parameter got a finite, non-zero gradient")
print("TITO_RESULT " + json.dumps({
    "parameters": len(named),
    "initial_loss": round(initial_loss, 5),
    "min_grad_norm": round(min(grad_norms.values()), 6),
    "grad_check": {"analytic": round(analytic, 6), "numeric": round(numeric, 6)},
    "steps": steps,
    "sgd_final_loss": round(final_losses["SGD"], 5),
    "adam_final_loss": round(final_losses["Adam"], 5),
    "seconds": round(seconds, 3),
    "behaviour": {"mlp": {"final_loss": {name: round(value, 6) for name, value in final_losses.items()},
                          "forward": initial_output}},
}))
