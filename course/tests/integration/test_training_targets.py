"""Integration test of the course's accuracy targets (module 09 with 04-08): an MLP reaches >= 95%
TRAINING accuracy on the 3-class spirals and >= 95% TEST accuracy on the 8x8 digits-like set.
Each run takes about a second on one core (the targets are accuracies, not times)."""
from tinytorch import (Linear, ReLU, Flatten, Sequential, CrossEntropyLoss, Adam, DataLoader,
                       TensorDataset, make_spirals, make_digits, train_test_split, Trainer, seed_everything)


def test_mlp_reaches_95_percent_training_accuracy_on_spirals():
    seed_everything(0)
    X, y = make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0)
    model = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 3))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    # 24 epochs: for seeds 0-5 the accuracy stays >= 0.95 from epoch 5-7 on (and passes 0.99 by epoch
    # 9-13), so 24 keep a 3x margin for the 0.95 bar (60 epochs checked the same bar at 2.5x the cost)
    trainer.fit(DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0), epochs=24)
    train_acc = trainer.evaluate(DataLoader(TensorDataset(X, y), batch_size=300))["accuracy"]
    assert train_acc >= 0.95, f"spiral training accuracy {train_acc:.3f} < 0.95"


def test_mlp_reaches_95_percent_test_accuracy_on_digits():
    seed_everything(0)
    X, y = make_digits(n_samples=2000, size=8, noise=0.1, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    model = Sequential(Flatten(), Linear(64, 128), ReLU(), Linear(128, 10))
    trainer = Trainer(model, Adam(model.parameters(), lr=2e-3), CrossEntropyLoss())
    # 16 epochs: for seeds 0-7 the test accuracy passes 0.95 after 5-8 epochs and stays there, so 16 keep
    # a 2x margin (20 epochs checked the same bar at 1.25x the cost)
    trainer.fit(DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=0), epochs=16)
    test_acc = trainer.evaluate(DataLoader(TensorDataset(X_test, y_test), batch_size=400))["accuracy"]
    assert test_acc >= 0.95, f"digits test accuracy {test_acc:.3f} < 0.95"
