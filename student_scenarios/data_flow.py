"""Student scenario "data flow": Tensor -> Layer -> Model -> Training, end to end.
Data become Tensors, a Linear layer transforms them, layers compose into a model, and a DataLoader
plus an optimizer train it: the loss must fall to less than half its initial value in a few dozen
steps, and the Trainer's evaluation must agree.

Run it like a student would, with only the installed tinytorch package and NumPy:
    python -I student_scenarios/data_flow.py
It fixes its seeds, asserts what it expects (a failure exits non-zero with an AssertionError that
says what went wrong) and prints, as its last line, `TITO_RESULT {...}` with its key figures.
"""
# scenario-modules: tensor, autograd, activations, layers, dense, losses, optimizers, dataloader
# scenario-timeout: 120
import json
import time

import numpy as np
from tinytorch import (
    Adam,
    CrossEntropyLoss,
    DataLoader,
    Linear,
    ReLU,
    Sequential,
    Tensor,
    TensorDataset,
    Trainer,
    seed_everything,
)

start = time.perf_counter()
seed_everything(0)

# ---- 1. Tensor: three clusters of 2-D points, one per class ------------------------------------
centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], dtype=np.float32)
labels = np.repeat(np.arange(3), 100)
points = centres[labels] + 0.8 * np.random.randn(300, 2).astype(np.float32)
X = Tensor(points)
assert X.shape == (300, 2) and X.dtype == np.float32, f"unexpected Tensor {X.shape} {X.dtype}"

# ---- 2. Layer: one Linear layer maps 2 features to 16 ------------------------------------------
layer = Linear(2, 16)
hidden = layer(X)
assert hidden.shape == (300, 16), f"Linear(2, 16) produced shape {hidden.shape}"

# ---- 3. Model: layers composed into a classifier ----------------------------------------------
model = Sequential(layer, ReLU(), Linear(16, 3))
logits = model(X)
assert logits.shape == (300, 3), f"the model produced shape {logits.shape}, expected (300, 3)"
# the untrained model's output, summed: a fingerprint `tinytorch-verifier verify --baseline` compares
initial_output = {"sum": float(np.sum(logits.data, dtype=np.float64)),
                  "sum_sq": float(np.sum(np.square(logits.data, dtype=np.float64)))}
loss_fn = CrossEntropyLoss()
initial_loss = loss_fn(logits, labels).item()

# ---- 4. Training: mini-batches from a DataLoader, Adam updates ---------------------------------
loader = DataLoader(TensorDataset(points, labels), batch_size=32, shuffle=True, seed=0)
optimizer = Adam(model.parameters(), lr=0.02)
steps, batch_losses = 0, []
while steps < 40:
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batch_losses.append(loss.item())
        steps += 1
        if steps == 40:
            break

final_loss = loss_fn(model(X), labels).item()
assert np.isfinite(final_loss), f"the loss diverged: {final_loss}"
assert final_loss < 0.5 * initial_loss, (
    f"the loss fell only from {initial_loss:.4f} to {final_loss:.4f} in {steps} steps (expected < half)")

# The Trainer's evaluation (no gradients, eval mode) sees the same model.
report = Trainer(model, optimizer, loss_fn).evaluate(DataLoader(TensorDataset(points, labels), batch_size=100))
assert abs(report["loss"] - final_loss) < 1e-4 * max(1.0, final_loss), (
    f"Trainer.evaluate reports loss {report['loss']:.6f}, the model gives {final_loss:.6f}")
assert report["accuracy"] >= 0.9, f"accuracy after training is only {report['accuracy']:.3f}"

seconds = time.perf_counter() - start
print(f"loss {initial_loss:.4f} -> {final_loss:.4f} in {steps} steps, accuracy {report['accuracy']:.3f}")
print("TITO_RESULT " + json.dumps({
    "initial_loss": round(initial_loss, 5),
    "final_loss": round(final_loss, 5),
    "steps": steps,
    "accuracy": round(report["accuracy"], 4),
    "seconds": round(seconds, 3),
    "behaviour": {"mlp": {"accuracy": round(report["accuracy"], 6), "final_loss": round(final_loss, 6),
                          "forward": initial_output}},
}))
