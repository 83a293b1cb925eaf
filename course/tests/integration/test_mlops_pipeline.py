"""Integration test of the mlops module with the rest of the course: a model trained with DataLoader +
Trainer is registered, promoted, reloaded (in this process and in a new one), compressed, served by a
Predictor and watched by a DriftMonitor -- predictions must survive every hop unchanged."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinytorch
from tinytorch import (MLP, Adam, CrossEntropyLoss, DataLoader, DriftMonitor, ModelRegistry, Predictor,
                       TensorDataset, Tensor, Trainer, load_model, make_digits, read_metadata, save_model,
                       seed_everything, train_test_split)
from tinytorch.core.compression import quantize_and_report


def _arrays(*items):
    return [a.data if isinstance(a, Tensor) else np.asarray(a) for a in items]


@pytest.fixture(scope="module")
def trained():
    seed_everything(0)
    X, y = make_digits(n_samples=900, seed=0)
    Xtr, Xte, ytr, yte = _arrays(*train_test_split(X, y, test_size=0.3, seed=0))
    Xtr, Xte = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    model = MLP([64, 48, 10])
    trainer = Trainer(model, Adam(model.parameters(), lr=1e-2), CrossEntropyLoss())
    trainer.fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=64, shuffle=True, seed=0), epochs=6)
    acc = trainer.evaluate(DataLoader(TensorDataset(Xte, yte), batch_size=128))["accuracy"]
    return model, acc, (Xtr, ytr, Xte, yte)


def fresh_model(seed=123):
    np.random.seed(seed)
    return MLP([64, 48, 10])


def test_trained_model_is_good(trained):
    _, acc, _ = trained
    assert acc > 0.85


def test_registry_roundtrip_preserves_predictions(trained, tmp_path):
    model, acc, (_, _, Xte, yte) = trained
    reference = Predictor(model, input_shape=(64,)).predict(Xte)
    registry = ModelRegistry(tmp_path / "models")
    v1 = registry.register(fresh_model(), "digits-mlp", metrics={"accuracy": 0.1})
    v2 = registry.register(model, "digits-mlp", metadata={"input_shape": [64]}, metrics={"accuracy": acc})
    best = max(registry.list_versions("digits-mlp"), key=lambda m: m["metrics"]["accuracy"])["version"]
    assert (v1, v2, best) == (1, 2, 2)
    registry.set_stage("digits-mlp", best, "production")
    served = registry.load(fresh_model(), "digits-mlp", stage="production")
    predictor = Predictor(served, input_shape=(64,))
    assert np.array_equal(predictor.predict(Xte), reference)
    assert np.mean(predictor.predict(Xte) == yte) == pytest.approx(acc)
    older = registry.load(fresh_model(7), "digits-mlp", version=1)
    assert not np.array_equal(Predictor(older, (64,)).predict(Xte), reference)


def test_new_process_loads_identical_model(trained, tmp_path):
    model, _, (_, _, Xte, _) = trained
    save_model(model, tmp_path / "model.npz", metadata={"input_shape": [64]})
    np.save(tmp_path / "x.npy", Xte)
    expected = Predictor(model, input_shape=(64,)).predict_logits(Xte)
    code = (
        "import numpy as np\n"
        "from tinytorch import MLP, Predictor\n"
        "np.random.seed(999)\n"
        "p = Predictor.from_file(MLP([64, 48, 10]), 'model.npz')\n"
        "np.save('out.npy', p.predict_logits(np.load('x.npy', allow_pickle=False)))\n"
    )
    # the child finds tinytorch where this process found it (installed, or on PYTHONPATH)
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(tinytorch.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert np.array_equal(np.argmax(got, axis=1), np.argmax(expected, axis=1))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_quantized_model_survives_save_and_load(trained, tmp_path):
    model, acc, (_, _, Xte, yte) = trained
    qmodel, report = quantize_and_report(model, Xte, yte, per_channel=True)
    assert report.size_reduction > 3.0 and abs(report.accuracy_change) < 0.05
    path = save_model(qmodel, tmp_path / "q.npz", metadata={"quantized": "int8 per-channel",
                                                            "size_int8_bytes": report.size_after})
    reloaded = load_model(fresh_model(), path)
    assert np.array_equal(Predictor(reloaded, (64,)).predict(Xte), Predictor(qmodel, (64,)).predict(Xte))
    assert read_metadata(path)["metadata"]["quantized"] == "int8 per-channel"


def test_drift_monitor_on_training_inputs(trained):
    model, _, (Xtr, _, Xte, _) = trained
    monitor = DriftMonitor(Xtr, method="both")
    assert not monitor.check(Xte).drift_detected
    rng = np.random.default_rng(1)
    noisy = np.clip(Xte + rng.uniform(0.2, 0.5, Xte.shape), 0, 1).astype(np.float32)
    report = monitor.check(noisy)
    assert report.drift_detected and report.drift_share > 0.5
    # the model still answers on drifted data -- which is exactly why the monitor is needed
    assert Predictor(model, (64,)).predict(noisy).shape == (len(noisy),)
