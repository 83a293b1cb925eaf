"""Unit tests for module 09 (tinytorch.core.training): accuracy, seed_everything, the Trainer
(fit / evaluate / predict, history, callbacks, schedules, clipping), EarlyStopping and ModelCheckpoint
(.npz without pickle). The Trainer adds no differentiable operation, so no gradcheck here."""
import os
import random

import numpy as np
import pytest

from tinytorch import (Tensor, Linear, ReLU, Dropout, Sequential, CrossEntropyLoss, MSELoss, SGD, Adam,
                       StepLR, DataLoader, TensorDataset, make_spirals, Trainer, EarlyStopping,
                       ModelCheckpoint, accuracy, seed_everything)
from tinytorch.core.training import Callback, save_checkpoint, load_checkpoint


def spiral_setup(seed=0, hidden=32, lr=0.02, dropout=None):
    seed_everything(seed)
    X, y = make_spirals(40, 3, seed=seed)
    layers = [Linear(2, hidden), ReLU()] + ([Dropout(dropout)] if dropout else []) + [Linear(hidden, 3)]
    model = Sequential(*layers)
    trainer = Trainer(model, Adam(model.parameters(), lr=lr), CrossEntropyLoss())
    loader = DataLoader(TensorDataset(X, y), batch_size=40, shuffle=True, seed=seed)
    return trainer, loader, (X, y)


# ---- accuracy ------------------------------------------------------------------------------------
def test_accuracy_multiclass_sequences_onehot_and_binary():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    assert accuracy(logits, np.array([0, 1, 1, 0])) == 0.75
    assert accuracy(Tensor(logits), Tensor(np.array([0, 1, 2, 0]))) == 1.0
    assert accuracy(logits, np.eye(3)[[0, 1, 2, 1]]) == 0.75             # one-hot targets
    seq = np.zeros((2, 3, 4))
    seq[..., 1] = 1.0
    assert accuracy(seq, np.array([[1, 1, 0], [1, 2, 1]])) == pytest.approx(4 / 6)
    assert accuracy(np.array([0.5, -1.0, 2.0, -0.1]), np.array([1, 0, 0, 0])) == 0.75   # binary logits
    assert accuracy(np.array([[0.7], [0.2]]), np.array([[1.0], [1.0]]), threshold=0.5) == 0.5
    assert isinstance(accuracy(logits, np.array([0, 1, 1, 0])), float)
    with pytest.raises(ValueError):
        accuracy(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))


# ---- seeding ---------------------------------------------------------------------------------------
def test_seed_everything_seeds_numpy_and_python():
    assert seed_everything(42) == 42
    a = (np.random.rand(3), random.random())
    seed_everything(42)
    b = (np.random.rand(3), random.random())
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    seed_everything(7)
    w1 = Linear(4, 4).weight.data.copy()
    seed_everything(7)
    np.testing.assert_array_equal(w1, Linear(4, 4).weight.data)


def test_runs_are_reproducible():
    histories = []
    for _ in range(2):
        trainer, _, (X, y) = spiral_setup(seed=3)
        histories.append(trainer.fit(DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True), epochs=3)["loss"])
    assert histories[0] == histories[1]


# ---- Trainer.fit / evaluate / predict ---------------------------------------------------------------
def test_fit_history_and_loss_decrease():
    trainer, loader, _ = spiral_setup()
    history = trainer.fit(loader, epochs=15, val_loader=loader)
    assert history is trainer.history
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "time"):
        assert len(history[key]) == 15, key
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"] + history["val_accuracy"])
    assert trainer.epoch == 15
    trainer.fit(loader, epochs=2)                                          # histories append
    assert len(history["loss"]) == 17 and len(history["val_loss"]) == 15


def test_epoch_loss_is_example_weighted():
    """The epoch figure equals the mean loss over all examples, even with an uneven last batch."""
    seed_everything(0)
    X = np.random.randn(10, 2).astype(np.float32)
    y = np.random.randn(10, 1).astype(np.float32)
    model = Linear(2, 1)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), MSELoss())
    logs = trainer.evaluate(DataLoader(TensorDataset(X, y), batch_size=4))
    full = float(((model(Tensor(X)).data - y) ** 2).mean())
    assert logs["loss"] == pytest.approx(full, rel=1e-5)
    assert "accuracy" not in logs                                          # float targets: no accuracy
    trainer.fit((X, y), epochs=1)
    assert trainer.history["accuracy"] == [] and len(trainer.history["loss"]) == 1


def test_fit_accepts_array_tuples_and_custom_metrics():
    _, _, (X, y) = spiral_setup()
    model = Sequential(Linear(2, 16), ReLU(), Linear(16, 3))
    errors = lambda logits, t: 1.0 - accuracy(logits, t)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss(), metrics={"error": errors})
    history = trainer.fit((X, y), epochs=2, val_loader=(X, y))
    assert len(history["error"]) == 2 and len(history["val_error"]) == 2 and "accuracy" not in history
    assert trainer.evaluate((X, y))["error"] == pytest.approx(history["val_error"][-1])


def test_evaluate_is_gradient_free_eval_mode_and_restores_mode():
    trainer, loader, (X, y) = spiral_setup(dropout=0.5)
    params = trainer.model.parameters()
    before = [p.data.copy() for p in params]
    trainer.model.train()
    a = trainer.evaluate(loader)
    b = trainer.evaluate(loader)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)   # Dropout is off in eval mode
    assert a["accuracy"] == b["accuracy"]
    assert trainer.model.training is True             # the previous mode is restored
    assert all(p.grad is None for p in params)        # no backward happened
    for p, w in zip(params, before):
        np.testing.assert_array_equal(p.data, w)
    trainer.model.eval()
    trainer.evaluate(loader)
    assert trainer.model.training is False


def test_predict():
    trainer, _, (X, y) = spiral_setup()
    out = trainer.predict(X[:5])
    assert isinstance(out, Tensor) and out.shape == (5, 3) and not out.requires_grad


def test_empty_loader_is_an_error():
    trainer, _, (X, y) = spiral_setup()
    with pytest.raises(ValueError):
        trainer.fit(DataLoader(TensorDataset(X[:3], y[:3]), batch_size=8, drop_last=True), epochs=1)


def test_scheduler_and_lr_history():
    trainer, loader, _ = spiral_setup()
    trainer.scheduler = StepLR(trainer.optimizer, step_size=2, gamma=0.5)
    history = trainer.fit(loader, epochs=5)
    np.testing.assert_allclose(history["lr"], [0.02, 0.02, 0.01, 0.01, 0.005])


def test_grad_clip_limits_the_step():
    seed_everything(0)
    model = Linear(2, 1)
    X = np.full((8, 2), 100.0, dtype=np.float32)
    y = np.zeros((8, 1), dtype=np.float32)
    before = [p.data.copy() for p in model.parameters()]
    trainer = Trainer(model, SGD(model.parameters(), lr=1.0), MSELoss(), grad_clip=1e-3)
    trainer.fit(DataLoader(TensorDataset(X, y), batch_size=8), epochs=1)
    moved = np.sqrt(sum(((p.data - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert moved <= 1e-3 + 1e-6


# ---- callbacks ---------------------------------------------------------------------------------------
def test_callback_hooks_and_stop_training():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            calls.append("begin")

        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(epoch)
            assert "loss" in logs and "accuracy" in logs
            if epoch == 3:
                trainer.stop_training = True

        def on_train_end(self, trainer):
            calls.append("end")

    trainer, loader, _ = spiral_setup()
    trainer.fit(loader, epochs=10, callbacks=[Recorder()])
    assert calls == ["begin", 1, 2, 3, "end"]


def test_early_stopping_patience():
    trainer, loader, _ = spiral_setup()
    stopper = EarlyStopping(patience=3, min_delta=100.0)          # nothing ever improves by 100
    trainer.fit(loader, epochs=20, val_loader=loader, early_stopping=stopper)
    assert len(trainer.history["loss"]) == 4 and stopper.stopped_epoch == 4 and stopper.best_epoch == 1


def test_early_stopping_keeps_going_while_improving():
    trainer, loader, _ = spiral_setup()
    stopper = EarlyStopping(patience=5, monitor="loss")
    trainer.fit(loader, epochs=8, early_stopping=stopper)
    assert len(trainer.history["loss"]) == 8 and stopper.stopped_epoch is None


def test_early_stopping_restore_best_and_monitor_fallback():
    trainer, loader, _ = spiral_setup(lr=0.05)

    class Sabotage(Callback):                                   # ruin the weights after epoch 2
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch >= 2:
                for p in trainer.model.parameters():
                    p.data[...] = 0.0

    stopper = EarlyStopping(patience=2, restore_best=True)      # monitors val_loss -> falls back to loss
    trainer.fit(loader, epochs=10, callbacks=[stopper, Sabotage()])
    assert stopper.best_epoch is not None and stopper.stopped_epoch is not None
    assert any(np.abs(p.data).sum() > 0 for p in trainer.model.parameters())   # best weights are back
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    with pytest.raises(KeyError):
        EarlyStopping(monitor="nonsense").on_epoch_end(trainer, 1, {"loss": 1.0})


def test_model_checkpoint_writes_npz_without_pickle(tmp_path):
    trainer, loader, (X, y) = spiral_setup()
    ckpt = ModelCheckpoint(tmp_path / "run" / "best", monitor="val_accuracy")
    trainer.fit(loader, epochs=6, val_loader=loader, callbacks=[ckpt])
    assert ckpt.path.endswith(".npz") and os.path.isfile(ckpt.path) and ckpt.saves >= 1
    assert os.listdir(tmp_path / "run") == ["best.npz"]                    # no temporary leftovers
    with np.load(ckpt.path, allow_pickle=False) as data:
        state = {k: data[k] for k in data.files}
    assert sorted(state) == sorted(trainer.model.state_dict())
    assert all(a.dtype == np.float32 for a in state.values())
    best_acc = max(trainer.history["val_accuracy"])
    assert ckpt.best == best_acc
    # a fresh model loaded from the checkpoint reproduces the best epoch's validation accuracy
    fresh = Sequential(Linear(2, 32), ReLU(), Linear(32, 3))
    load_checkpoint(fresh, ckpt.path)
    assert accuracy(fresh(Tensor(X)), y) == pytest.approx(best_acc)


def test_model_checkpoint_every_epoch(tmp_path):
    trainer, loader, _ = spiral_setup()
    ckpt = ModelCheckpoint(str(tmp_path / "last.npz"), save_best_only=False)
    trainer.fit(loader, epochs=3, callbacks=[ckpt])
    assert ckpt.saves == 3
    state = trainer.model.state_dict()
    with np.load(ckpt.path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(state)
        for name in data.files:                                            # the last epoch's weights
            np.testing.assert_array_equal(data[name], state[name])


def test_save_checkpoint_refuses_object_arrays(tmp_path):
    class Weird:
        def state_dict(self):
            return {"w": np.array([{"a": 1}], dtype=object)}

    with pytest.raises(TypeError):
        save_checkpoint(Weird(), tmp_path / "weird")
    assert not os.listdir(tmp_path)
