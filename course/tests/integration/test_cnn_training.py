"""Integration test: spatial layers (Conv2d, MaxPool2d) + layers + losses + optimizers + dataloader +
training together: a small CNN trained by Trainer on the digits-like set reaches >= 97% test
accuracy in a few seconds. Imports only the installed `tinytorch` package."""
import time

import numpy as np

import tinytorch as tt


def build_cnn():
    return tt.Sequential(
        tt.Conv2d(1, 16, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Conv2d(16, 32, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Flatten(), tt.Linear(32 * 2 * 2, 10))


class StopBelowLoss(tt.Callback):
    """Ends training after the first epoch whose mean training loss is below `bar`."""

    def __init__(self, bar):
        self.bar = bar

    def on_epoch_end(self, trainer, epoch, logs):
        trainer.stop_training = logs["loss"] < self.bar


def test_cnn_learns_digits():
    tt.seed_everything(0)
    X, y = tt.make_digits(n_samples=3000, size=8, noise=0.1, seed=0)
    X_train, X_test, y_train, y_test = tt.train_test_split(X, y, test_size=0.2, seed=0)
    train = tt.DataLoader(tt.TensorDataset(X_train, y_train), batch_size=64, shuffle=True, seed=0)
    test = tt.DataLoader(tt.TensorDataset(X_test, y_test), batch_size=256)
    model = build_cnn()
    conv_before = model[0].weight.data.copy()
    trainer = tt.Trainer(model, tt.Adam(model.parameters(), lr=3e-3), tt.CrossEntropyLoss())

    start = time.perf_counter()
    # At most six epochs (twelve checked the same bars at twice the cost), stopping once the loss bar
    # below is met: it falls below 0.1 in the fourth or fifth epoch and the test accuracy passes 0.97
    # in the second or third (seeds 0-5 measured), so the sixth epoch only added cost. The test
    # accuracy is measured on held-out data the stop never looks at.
    history = trainer.fit(train, epochs=6, callbacks=[StopBelowLoss(0.1)])
    seconds = time.perf_counter() - start
    result = trainer.evaluate(test)

    assert not np.allclose(model[0].weight.data, conv_before), "the first conv layer must learn"
    assert history["loss"][-1] < 0.1 < history["loss"][0]
    assert result["accuracy"] >= 0.97, "CNN test accuracy %.4f < 0.97" % result["accuracy"]
    print("CNN digits: test accuracy %.4f after %d epochs, %.1f s"
          % (result["accuracy"], len(history["loss"]), seconds))


def test_cnn_on_28x28_images_shapes_and_gradients():
    model = tt.Sequential(
        tt.Conv2d(1, 16, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Conv2d(16, 32, 3, padding=1), tt.ReLU(), tt.MaxPool2d(2),
        tt.Flatten(), tt.Linear(32 * 7 * 7, 10))
    X, y = tt.make_digits(n_samples=16, size=28, seed=1)
    loss = tt.CrossEntropyLoss()(model(tt.Tensor(X)), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    assert np.isfinite(loss.item())
