"""Student scenario: a small convolutional network (convolution / max-pooling / dropout / linear layers, found
by role whatever the course calls them) learns the digits-like image set of the installed tinytorch package
and must reach >= 95% test accuracy. Before training, two checks that accuracy alone would miss: eval mode
is deterministic with dropout in the model (train mode is not), and a few SGD and Adam steps on this
network equal the same updates computed by hand in NumPy.

Runs from any directory with only tinytorch and NumPy installed:  python -I cnn.py
Fixed seeds. Fails with an AssertionError when an expectation is not met. The last line of output is
`TITO_RESULT {json}` with the key figures (accuracy, loss, epochs, training time, and under
"behaviour" the numbers compared with the previous release).
"""
# scenario-modules: tensor, autograd, activations, layers, losses, optimizers, dataloader, training, spatial
# scenario-timeout: 300
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # `python -I` leaves this folder off sys.path
from _checks import check_eval_is_deterministic, check_optimizer_steps, checksum  # noqa: E402
from _roles import roles  # noqa: E402

(Adam, SGD, Conv2d, CrossEntropyLoss, DataLoader, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential,
 TensorDataset, Trainer, Tensor, make_digits, seed_everything, train_test_split) = roles(
    "adam", "sgd", "conv2d", "cross_entropy", "dataloader", "dropout", "flatten", "linear", "maxpool2d", "relu",
    "sequential", "tensor_dataset", "trainer", "tensor", "make_digits", "seed_everything", "train_test_split")

SEED = 0
# At most six epochs (15 checked the same bars at 2.5x the cost), stopping once the accuracy on a separate
# validation set (fresh images, never trained on, never the test set) reaches VAL_BAR in two epochs in a row:
# seeds 0-5 stop after 3-4 epochs with 0.985-0.995 held out (bar 0.95) and the loss down 6.7-10x (bar 5x);
# the sixth epoch gave 0.991-0.999. The second epoch above the bar is a confirmation: a model that gets
# worse with more training does not stop there.
EPOCHS = 6
VAL_BAR = 0.98
BATCH = 64

# 1. Data: 4000 noisy 8x8 glyphs of the digits 0-9 (generated in code, nothing is downloaded).
seed_everything(SEED)
X, y = make_digits(n_samples=4000, size=8, noise=0.1, seed=SEED)
X_train, X_test, y_train, y_test = (np.asarray(getattr(a, "data", a)) for a in
                                    train_test_split(X, y, test_size=0.2, seed=SEED))
assert X_train.shape[1:] == (1, 8, 8), "make_digits should give NCHW images"
train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=BATCH, shuffle=True, seed=SEED)
test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=256)
# validation images: drawn fresh (another seed), they only decide when training stops
X_val, y_val = (np.asarray(getattr(a, "data", a)) for a in make_digits(n_samples=800, size=8, noise=0.1,
                                                                       seed=SEED + 100))
val_loader = DataLoader(TensorDataset(X_val, y_val), batch_size=256)

# 2. Model: two conv blocks (8x8 -> 4x4 -> 2x2), dropout and a linear classifier.
dropout = Dropout(0.2)
model = Sequential(
    Conv2d(1, 16, kernel_size=3, padding=1), ReLU(), MaxPool2d(2),
    Conv2d(16, 32, kernel_size=3, padding=1), ReLU(), MaxPool2d(2),
    Flatten(), dropout, Linear(32 * 2 * 2, 10))
n_params = sum(p.size for p in model.parameters())
print(model)
print("parameters:", n_params)

# 3. Checks a learning curve cannot make: eval mode is deterministic, and the optimizers step exactly as
#    written in the textbook (the model is restored afterwards, so training starts from the same weights).
probe = Tensor(X_test[:32])
model.eval()
initial_output = checksum(model(probe))   # the untrained network on a fixed batch: its "behaviour" fingerprint
model.train()
train_mode_difference = check_eval_is_deterministic(model, lambda: model(probe), dropout)
optimizer_errors = check_optimizer_steps(model, lambda: CrossEntropyLoss()(model(Tensor(X_train[:64])), y_train[:64]),
                                         SGD, Adam)
model.train()
print("eval mode deterministic; SGD and Adam steps match NumPy (worst error / allowed: %s)" % optimizer_errors)

# 4. Before training: about chance level.
trainer = Trainer(model, Adam(model.parameters(), lr=3e-3), CrossEntropyLoss())
before = trainer.evaluate(test_loader)
print("before training: test accuracy %.3f" % before["accuracy"])

# 5. Train.
start = time.perf_counter()
history = {"loss": [], "accuracy": [], "val_accuracy": []}
for epoch in range(1, EPOCHS + 1):
    logs = trainer.fit(train_loader, epochs=1, verbose=False)     # one epoch at a time: any Trainer can do it
    history["loss"].append(float(logs["loss"][-1]))
    history["accuracy"].append(float(logs["accuracy"][-1]))
    history["val_accuracy"].append(float(trainer.evaluate(val_loader)["accuracy"]))
    print("epoch %d  loss %.4f  accuracy %.4f  val_accuracy %.4f"
          % (epoch, history["loss"][-1], history["accuracy"][-1], history["val_accuracy"][-1]))
    if len(history["val_accuracy"]) >= 2 and min(history["val_accuracy"][-2:]) >= VAL_BAR:
        break
epochs = len(history["loss"])
train_seconds = time.perf_counter() - start

# 6. Evaluate on images the model has never seen.
after = trainer.evaluate(test_loader)
predictions = trainer.predict(X_test).data.argmax(axis=1)
per_class = [float(np.mean(predictions[y_test == c] == c)) for c in range(10)]
print("after training: test accuracy %.4f, test loss %.4f (%.1f s)" % (after["accuracy"], after["loss"], train_seconds))
print("per-class accuracy:", " ".join("%d:%.2f" % (c, a) for c, a in enumerate(per_class)))

assert history["loss"][-1] < history["loss"][0] / 5, "the training loss should fall a lot: %s" % history["loss"]
assert before["accuracy"] < 0.5, "an untrained model should be near chance, got %.3f" % before["accuracy"]
assert after["accuracy"] >= 0.95, "CNN test accuracy %.4f is below 0.95" % after["accuracy"]
assert abs(float(np.mean(predictions == y_test)) - after["accuracy"]) < 1e-6

print("TITO_RESULT " + json.dumps({
    "test_accuracy": round(after["accuracy"], 4),
    "train_accuracy": round(history["accuracy"][-1], 4),
    "test_loss": round(after["loss"], 4),
    "final_loss": round(history["loss"][-1], 4),
    "epochs": epochs,
    "train_seconds": round(train_seconds, 2),
    "n_train": int(len(y_train)),
    "n_test": int(len(y_test)),
    "val_accuracy": round(history["val_accuracy"][-1], 4),
    "parameters": int(n_params),
    "train_mode_dropout_difference": round(train_mode_difference, 4),
    "optimizer_error_vs_allowed": optimizer_errors,
    # what `tinytorch-verifier verify --baseline REF` compares with the previous release, per model
    "behaviour": {"cnn": {"accuracy": round(after["accuracy"], 6), "final_loss": round(history["loss"][-1], 6),
                          "forward": initial_output, "optimizer_error": optimizer_errors}},
}))
