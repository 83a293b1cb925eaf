# Module 09 (training): the training loop, packaged.
# Trainer (fit / evaluate / predict, per-epoch history, callbacks), EarlyStopping, ModelCheckpoint
# (saves model.state_dict() as a NumPy .npz file, never pickle) with load_checkpoint, the accuracy
# metric, and seed_everything for reproducible runs.
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
# # Module 09: Training
#
# Every earlier module was a part; this one assembles the machine. Training a network is always
# the same five lines, repeated for every mini-batch:
#
#     logits = model(x)               # forward (modules 04-05)
#     loss = loss_fn(logits, y)       # how wrong are we? (module 06)
#     optimizer.zero_grad()           # forget the previous step's gradients
#     loss.backward()                 # d loss / d every parameter (module 02)
#     optimizer.step()                # move the parameters downhill (module 07)
#
# around which real projects need the same bookkeeping every time: averaging the loss over an
# epoch, measuring accuracy on held-out data *without* building a graph, switching Dropout off for
# evaluation, stopping when the validation loss stops improving, saving the best weights, and
# making the whole run reproducible. The `Trainer` does exactly that and nothing more, so you can
# read all of it. Extensions hook in as *callbacks* (objects called at the end of every epoch),
# which is how Keras and PyTorch Lightning keep their loops small too.

# %%
#| default_exp core.training

# %%
#| export
import os
import random
import tempfile
import time

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import no_grad
from tinytorch.core.optimizers import clip_grad_norm
from tinytorch.core.dataloader import DataLoader, TensorDataset

# %% [markdown]
# ## Reproducibility: one seed for everything
#
# Weight initialisation, dropout masks and (unseeded) DataLoader shuffling draw from NumPy's
# global random generator; some code uses Python's `random`. Seeding both with one call makes a
# run repeat exactly: same initial weights, same batches, same curve. (Python's hash seed cannot be
# changed from inside a running program; TinyTorch never depends on it.)

# %%
#| export
def seed_everything(seed=0):
    """Seed Python's `random` and NumPy's global generator; returns the seed."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    return seed

# %% [markdown]
# ## Accuracy
#
# The fraction of examples whose predicted class is the true class. For multi-class logits of shape
# `(N, C)` (or `(N, T, C)` for sequences) the prediction is the arg-max over the last axis; the
# targets are class indices `(N,)` (or one-hot rows, compared by their arg-max). For a single output
# per example (binary classification) the prediction is `score > threshold`: 0 for logits, use 0.5
# when the model outputs probabilities. Only the arrays are used, so no graph is built.

# %%
#| export
def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def accuracy(logits, targets, threshold=0.0):
    """Fraction of correct predictions, as a Python float."""
    z, t = _array(logits), _array(targets)
    if z.ndim >= 1 and z.shape[-1] > 1 and z.shape[:-1] == t.shape:
        correct = z.argmax(axis=-1) == t                    # class scores vs class indices
    elif z.ndim >= 2 and z.shape == t.shape and z.shape[-1] > 1:
        correct = z.argmax(axis=-1) == t.argmax(axis=-1)    # one-hot targets
    elif z.size == t.size and (z.ndim <= 1 or z.shape[-1] == 1):
        correct = (z.reshape(-1) > threshold) == (t.reshape(-1) > 0.5)   # binary
    else:
        raise ValueError(f"accuracy: cannot compare predictions of shape {z.shape} "
                         f"with targets of shape {t.shape}")
    return float(np.mean(correct)) if correct.size else 0.0

# %% [markdown]
# ## Callbacks
#
# A callback is an object with three optional hooks. The Trainer calls `on_epoch_end(trainer,
# epoch, logs)` after every epoch with that epoch's figures (`logs = {"loss": ..., "val_loss": ...,
# "accuracy": ...}`); a callback may set `trainer.stop_training = True` to end training.
#
# **Which number to watch?** Both callbacks below *monitor* one entry of `logs`, by default
# `val_loss` (falling back to the training `loss` when there is no validation data). `mode`
# says whether smaller or larger is better; `"auto"` picks "larger" for names containing `acc`.

# %%
#| export
class Callback:
    """Base class for callbacks; override any of the hooks."""

    def on_train_begin(self, trainer):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        pass

    def on_train_end(self, trainer):
        pass


class _Monitor(Callback):
    """Shared logic: read the monitored value from logs and decide whether it improved."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best = None
        self.best_epoch = None

    def _value(self, logs):
        if self.monitor in logs:
            return logs[self.monitor]
        if self.monitor.startswith("val_") and self.monitor[4:] in logs:
            return logs[self.monitor[4:]]     # no validation data: watch the training figure
        raise KeyError(f"{type(self).__name__} monitors {self.monitor!r}, but the epoch logs "
                       f"only have {sorted(logs)}")

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

# %% [markdown]
# ### Early stopping
#
# Training loss keeps falling long after the model has stopped getting better on data it has not
# seen: from then on it memorises. `EarlyStopping(patience, min_delta)` stops training when the
# monitored value has not improved by more than `min_delta` for `patience` epochs in a row. With
# `restore_best=True` it also puts back the weights of the best epoch (kept in memory as a
# `state_dict` copy).

# %%
#| export
class EarlyStopping(_Monitor):
    """Stop training when the monitored figure stops improving for `patience` epochs."""

    def __init__(self, patience=5, min_delta=0.0, monitor="val_loss", mode="auto", restore_best=False):
        super().__init__(monitor, mode, min_delta)
        if int(patience) < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = int(patience)
        self.restore_best = bool(restore_best)
        self.wait = 0
        self.stopped_epoch = None
        self._best_state = None

    def on_train_begin(self, trainer):
        self.best, self.best_epoch, self.wait, self.stopped_epoch, self._best_state = None, None, 0, None, None

    def on_epoch_end(self, trainer, epoch, logs):
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_state = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best and self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)

# %% [markdown]
# ### Checkpoints, without pickle
#
# `ModelCheckpoint(path)` writes `model.state_dict()` (a dict of name -> NumPy array) to `path`
# with `np.savez` whenever the monitored value improves (or every epoch, with
# `save_best_only=False`). Why not `pickle`, as `torch.save` does? Unpickling a file can run
# arbitrary code, so a model file downloaded from somewhere would be a security hole. An `.npz`
# file holds only arrays; we refuse object arrays (the only kind NumPy would pickle) and read with
# `allow_pickle=False`. The file is written to a temporary name first and then renamed, so a crash
# mid-write never leaves a half-written checkpoint behind.

# %%
#| export
def _checkpoint_path(path):
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save_checkpoint(model, path):
    """Write model.state_dict() to an .npz file (plain arrays only). Returns the path written."""
    path = _checkpoint_path(path)
    arrays = {}
    for name, value in model.state_dict().items():
        arr = np.asarray(_array(value))
        if arr.dtype.kind == "O":
            raise TypeError(f"state_dict entry {name!r} is an object array; refusing to pickle it")
        arrays[name] = arr
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(model, path):
    """Load an .npz checkpoint written by save_checkpoint / ModelCheckpoint into `model`."""
    with np.load(_checkpoint_path(path), allow_pickle=False) as data:
        state = {name: data[name] for name in data.files}
    model.load_state_dict(state)
    return model


class ModelCheckpoint(_Monitor):
    """Save the model's state_dict as .npz when the monitored figure improves."""

    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=True):
        super().__init__(monitor, mode, 0.0)
        self.path = _checkpoint_path(path)
        self.save_best_only = bool(save_best_only)
        self.saves = 0

    def on_train_begin(self, trainer):
        self.best, self.best_epoch = None, None

    def on_epoch_end(self, trainer, epoch, logs):
        value = self._value(logs)
        improved = self._improved(value)
        if improved:
            self.best, self.best_epoch = value, epoch
        if improved or not self.save_best_only:
            save_checkpoint(trainer.model, self.path)
            self.saves += 1

# %% [markdown]
# ## The Trainer
#
# `Trainer(model, optimizer, loss_fn, metrics=None)`; `fit(train_loader, epochs, val_loader=None,
# callbacks=(), early_stopping=None)` returns the history, a dict of per-epoch lists:
# `loss`, `val_loss`, `accuracy`, `val_accuracy` (and `lr`, `time`).
#
# Details worth noticing:
#
# * The epoch loss is the **example-weighted** mean of batch losses, so a small last batch does not
#   count as much as a full one.
# * Training metrics are measured on the logits the model produced *during* the epoch (free, but
#   the weights changed along the way); `evaluate` measures with fixed weights.
# * `evaluate` runs under `no_grad()` (no graph, less memory, faster) and in `eval()` mode
#   (Dropout off), then restores the previous mode.
# * `metrics=None` reports accuracy whenever the targets are integer class indices; pass a dict
#   `{"name": fn(logits, targets) -> float}` for your own, or `{}` for none.
# * `scheduler` (module 07) is stepped once per epoch; `grad_clip` clips the global gradient norm
#   before every step.
# * Instead of a DataLoader you may pass a tuple `(X, y)` of arrays; it is wrapped in a
#   `DataLoader(TensorDataset(X, y), batch_size=32)` (shuffled for training).

# %%
#| export
class Trainer:
    """Fit a model with an optimizer and a loss, keeping a per-epoch history."""

    def __init__(self, model, optimizer, loss_fn, metrics=None, scheduler=None, grad_clip=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self._default_metrics = metrics is None
        self.metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.history = {"loss": [], "val_loss": []}
        for name in self.metrics:
            self.history[name], self.history["val_" + name] = [], []
        self.history["lr"], self.history["time"] = [], []
        self.epoch = 0
        self.stop_training = False

    # ---- data -----------------------------------------------------------------------------------
    @staticmethod
    def _loader(data, shuffle):
        if isinstance(data, tuple) and len(data) == 2:
            return DataLoader(TensorDataset(*data), batch_size=32, shuffle=shuffle)
        return data

    def _metric_values(self, logits, targets):
        """name -> value for this batch (default accuracy only for integer class targets)."""
        if self._default_metrics and _array(targets).dtype.kind not in "iub":
            return {}
        return {name: float(fn(logits, targets)) for name, fn in self.metrics.items()}

    def _set_mode(self, training):
        switch = getattr(self.model, "train" if training else "eval", None)
        if callable(switch):
            switch()

    # ---- one step and one epoch -----------------------------------------------------------------
    def train_step(self, x, y):
        """Forward, backward and one optimizer step on a batch; returns (loss value, logits)."""
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.optimizer.zero_grad()
        loss.backward()
        if self.grad_clip is not None:
            clip_grad_norm(self.optimizer.params, self.grad_clip)
        self.optimizer.step()
        return loss.item(), logits

    def _run_epoch(self, loader, train):
        totals, count = {}, 0
        for batch in loader:
            x, y = batch[0], batch[1]
            if train:
                loss_value, logits = self.train_step(x, y)
            else:
                logits = self.model(x)
                loss_value = self.loss_fn(logits, y).item()
            n = len(_array(y))
            count += n
            figures = self._metric_values(logits, y)
            figures["loss"] = loss_value
            for name, value in figures.items():
                totals[name] = totals.get(name, 0.0) + value * n
        if count == 0:
            raise ValueError("the data loader yielded no batches (empty data set, or drop_last "
                             "with fewer examples than one batch)")
        return {name: total / count for name, total in totals.items()}

    # ---- public API -----------------------------------------------------------------------------
    def evaluate(self, loader):
        """Average loss and metrics over `loader`, without gradients and in eval mode."""
        was_training = getattr(self.model, "training", True)
        self._set_mode(False)
        try:
            with no_grad():
                return self._run_epoch(self._loader(loader, shuffle=False), train=False)
        finally:
            self._set_mode(was_training)

    def predict(self, x):
        """Model output for input `x` (a Tensor or array), without gradients and in eval mode."""
        was_training = getattr(self.model, "training", True)
        self._set_mode(False)
        try:
            with no_grad():
                return self.model(x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32)))
        finally:
            self._set_mode(was_training)

    def fit(self, train_loader, epochs, val_loader=None, callbacks=(), early_stopping=None, verbose=False):
        """Train for `epochs` epochs (fewer if a callback stops training); returns the history."""
        callbacks = list(callbacks)
        if early_stopping is not None:
            callbacks.append(early_stopping)
        train_loader = self._loader(train_loader, shuffle=True)
        val_loader = self._loader(val_loader, shuffle=False) if val_loader is not None else None
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin(self)
        for _ in range(int(epochs)):
            start = time.perf_counter()
            self._set_mode(True)
            logs = self._run_epoch(train_loader, train=True)
            if val_loader is not None:
                logs.update({"val_" + k: v for k, v in self.evaluate(val_loader).items()})
            logs["lr"] = self.optimizer.lr
            logs["time"] = time.perf_counter() - start
            self.epoch += 1
            for name, value in logs.items():
                self.history.setdefault(name, []).append(value)
            if verbose:
                shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in ("lr", "time"))
                print(f"epoch {self.epoch:3d}  {shown}  ({logs['time']:.2f}s)")
            for cb in callbacks:
                cb.on_epoch_end(self, self.epoch, logs)
            if self.scheduler is not None:
                self.scheduler.step()
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end(self)
        return self.history

# %% [markdown]
# ## Checks (not exported)
#
# These need layers, losses and optimizers from the other modules, imported through the package,
# exactly as a student's script would. They train a tiny classifier on the spirals and check that
# the history, early stopping and checkpointing behave.

# %%
def _tiny_setup(seed=0):
    from tinytorch.core.dataloader import make_spirals
    from tinytorch.core.layers import Linear
    from tinytorch.core.activations import ReLU
    from tinytorch.core.dense import Sequential
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    seed_everything(seed)
    X, y = make_spirals(50, 3, seed=seed)
    model = Sequential(Linear(2, 32), ReLU(), Linear(32, 3))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.02), CrossEntropyLoss())
    return trainer, DataLoader(TensorDataset(X, y), batch_size=30, shuffle=True, seed=seed)


def test_unit_accuracy_and_seed():
    assert accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0])) == 0.5
    assert accuracy(np.array([1.5, -2.0, 0.3]), np.array([1, 0, 0])) == 2 / 3
    seed_everything(3)
    a = np.random.rand(3)
    seed_everything(3)
    assert np.array_equal(a, np.random.rand(3))
    print("accuracy / seed_everything: ok")


def test_unit_trainer():
    trainer, loader = _tiny_setup()
    history = trainer.fit(loader, epochs=20, val_loader=loader)
    assert len(history["loss"]) == 20 and len(history["val_accuracy"]) == 20
    assert history["loss"][-1] < history["loss"][0]
    print(f"Trainer: loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}, "
          f"accuracy {history['accuracy'][-1]:.2f}: ok")
    stopper = EarlyStopping(patience=1, min_delta=10.0)      # nothing improves by 10: stop at epoch 2
    trainer.fit(loader, epochs=10, early_stopping=stopper)
    assert stopper.stopped_epoch is not None and len(trainer.history["loss"]) == 22
    print("EarlyStopping: ok")


def test_unit_checkpoint():
    trainer, loader = _tiny_setup()
    with tempfile.TemporaryDirectory() as folder:
        ckpt = ModelCheckpoint(os.path.join(folder, "best"))
        trainer.fit(loader, epochs=3, callbacks=[ckpt])
        with np.load(ckpt.path, allow_pickle=False) as data:
            assert sorted(data.files) == sorted(trainer.model.state_dict())
    print("ModelCheckpoint (.npz, no pickle): ok")


# %%
if __name__ == "__main__":
    test_unit_accuracy_and_seed()
    test_unit_trainer()
    test_unit_checkpoint()
    print("training: all checks passed")
