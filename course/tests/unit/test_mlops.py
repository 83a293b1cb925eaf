"""Unit tests for module 16 (mlops): pickle-free model files (round trip, refusal of pickled or
corrupted files, clear mismatch errors), the versioned registry, the drift monitor (PSI, KS) and the
validating Predictor."""
import json
import os
import zipfile

import numpy as np
import pytest

from tinytorch import MLP, Conv2d, Flatten, Linear, ReLU, Sequential, Tensor
from tinytorch.core.mlops import (
    FORMAT_NAME, DriftMonitor, DriftReport, InputValidationError, ModelFileError, ModelRegistry, Predictor,
    ks_critical_value, ks_pvalue, ks_statistic, load_model, population_stability_index, read_metadata,
    save_model)


def mlp(seed=0):
    np.random.seed(seed)
    return MLP([6, 8, 3])


def cnn(seed=0):
    np.random.seed(seed)
    return Sequential(Conv2d(1, 2, 3, padding=1), ReLU(), Flatten(), Linear(2 * 4 * 4, 3))


def outputs(model, x):
    return model(Tensor(x)).data


# ---- save / load ---------------------------------------------------------------------------------
def test_roundtrip_identical_predictions(tmp_path):
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 4)).astype(np.float32)
    a, b = cnn(0), cnn(1)
    assert not np.array_equal(outputs(a, x), outputs(b, x))
    path = save_model(a, tmp_path / "cnn.npz", metadata={"input_shape": (1, 4, 4), "acc": np.float32(0.5)})
    assert path == str(tmp_path / "cnn.npz") and os.path.isfile(path)
    assert load_model(b, path) is b
    assert np.array_equal(outputs(a, x), outputs(b, x))
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k]) and v.dtype == b.state_dict()[k].dtype


def test_file_is_plain_arrays_and_json(tmp_path):
    path = save_model(mlp(), tmp_path / "m.npz", metadata={"note": "hello", "classes": ["a", "b", "c"]})
    with np.load(path, allow_pickle=False) as npz:     # loads without pickle: no object arrays inside
        assert all(npz[name].dtype != object for name in npz.files)
    with zipfile.ZipFile(path) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
    meta = read_metadata(path)
    assert meta["format"] == FORMAT_NAME and meta["model_class"] == "MLP"
    assert meta["metadata"] == {"note": "hello", "classes": ["a", "b", "c"]}
    assert meta["parameters"]["0.weight"] == {"shape": [6, 8], "dtype": "<f4"}
    assert meta["num_values"] == 6 * 8 + 8 + 8 * 3 + 3
    assert len(meta["sha256"]) == 64
    json.dumps(meta)


def test_path_without_extension_is_kept(tmp_path):
    path = save_model(mlp(), tmp_path / "model.bin")
    assert os.path.isfile(path) and not os.path.exists(path + ".npz")
    load_model(mlp(1), path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    save_model(mlp(), tmp_path / "m.npz")
    save_model(mlp(1), tmp_path / "m.npz")          # overwrite
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


class _Evil:
    def __reduce__(self):
        return (os.makedirs, ("SHOULD_NOT_EXIST",))


def test_pickled_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = np.empty(1, dtype=object)
    evil[0] = _Evil()
    meta = json.dumps({"format": FORMAT_NAME, "format_version": 1, "sha256": ""})
    np.savez(tmp_path / "evil.npz", **{"params/0.weight": evil, "__metadata__": np.array(meta)})
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(mlp(), tmp_path / "evil.npz")
    assert not os.path.exists(tmp_path / "SHOULD_NOT_EXIST")


def test_not_a_model_file(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(ModelFileError, match="not a TinyTorch model"):
        load_model(mlp(), tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(ModelFileError, match="cannot read"):
        read_metadata(tmp_path / "junk.npz")
    with pytest.raises(ModelFileError, match="no model file"):
        load_model(mlp(), tmp_path / "missing.npz")


def test_corrupted_file_detected(tmp_path):
    path = save_model(mlp(), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        items = {k: npz[k] for k in npz.files}
    items["params/0.bias"] = items["params/0.bias"] + 1.0
    np.savez(tmp_path / "bad.npz", **items)
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(mlp(), tmp_path / "bad.npz")


def test_wrong_architecture_clear_errors(tmp_path):
    path = save_model(mlp(), tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="does not fit") as info:
        load_model(cnn(), path)
    assert "missing from the file" in str(info.value)
    np.random.seed(0)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(MLP([6, 9, 3]), path)


def test_non_strict_load(tmp_path):
    np.random.seed(0)
    small = Sequential(Linear(4, 3))
    path = save_model(small, tmp_path / "s.npz")
    np.random.seed(1)
    bigger = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    with pytest.raises(ModelFileError):
        load_model(bigger, path)
    old_last = bigger[2].weight.data.copy()
    load_model(bigger, path, strict=False)
    assert np.array_equal(bigger[0].weight.data, small[0].weight.data)
    assert np.array_equal(bigger[2].weight.data, old_last)


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        save_model(mlp(), tmp_path / "m.npz", metadata={"f": object()})
    with pytest.raises(ValueError, match="non-finite"):
        save_model(mlp(), tmp_path / "m.npz", metadata={"loss": float("nan")})
    assert not os.path.exists(tmp_path / "m.npz")


# ---- registry --------------------------------------------------------------------------------------
def test_registry_versions_and_loading(tmp_path):
    reg = ModelRegistry(tmp_path / "registry")
    v1 = reg.register(mlp(0), "digits", metadata={"epochs": 1}, metrics={"accuracy": 0.8})
    v2 = reg.register(mlp(1), "digits", metrics={"accuracy": 0.9}, stage="production")
    reg.register(cnn(), "cnn-model")
    assert (v1, v2) == (1, 2)
    assert reg.list_models() == ["cnn-model", "digits"]
    assert reg.versions("digits") == [1, 2] and reg.latest_version("digits") == 2
    history = reg.list_versions("digits")
    assert [h["version"] for h in history] == [1, 2]
    assert history[0]["metrics"] == {"accuracy": 0.8} and history[0]["metadata"] == {"epochs": 1}
    assert history[1]["name"] == "digits" and "registered" in history[1]
    x = np.ones((2, 6), dtype=np.float32)
    assert np.array_equal(outputs(reg.load(mlp(5), "digits"), x), outputs(mlp(1), x))
    assert np.array_equal(outputs(reg.load(mlp(5), "digits", version=1), x), outputs(mlp(0), x))
    assert np.array_equal(outputs(reg.load(mlp(5), "digits", stage="production"), x), outputs(mlp(1), x))
    reg.set_stage("digits", 1, "production")                        # roll back
    assert ModelRegistry(tmp_path / "registry").resolve("digits", stage="production") == 1
    assert os.path.isfile(reg.path_of("digits", 1))
    with open(os.path.join(os.path.dirname(reg.path_of("digits", 2)), "metadata.json")) as f:
        assert json.load(f)["version"] == 2


def test_registry_errors(tmp_path):
    reg = ModelRegistry(tmp_path)
    for bad in ["../escape", "a/b", "", ".hidden", "x" * 101]:
        with pytest.raises(ValueError):
            reg.register(mlp(), bad)
    with pytest.raises(KeyError, match="no model named"):
        reg.load(mlp(), "unknown")
    reg.register(mlp(), "m")
    with pytest.raises(KeyError, match="no version 7"):
        reg.load(mlp(), "m", version=7)
    with pytest.raises(KeyError, match="no stage"):
        reg.load(mlp(), "m", stage="production")
    with pytest.raises(ValueError):
        reg.resolve("m", version=1, stage="production")
    assert not os.path.exists(tmp_path.parent / "escape")


# ---- drift -------------------------------------------------------------------------------------------
def test_psi_and_ks_basics():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2000, 2))
    assert np.allclose(population_stability_index(ref, ref), 0.0)
    assert np.allclose(ks_statistic(ref, ref), 0.0)
    shifted = ref + np.array([0.0, 1.0])
    psi = population_stability_index(ref, shifted)
    ks = ks_statistic(ref, shifted)
    assert psi[0] < 1e-9 and psi[1] > 0.5
    assert ks[0] == 0.0 and 0.3 < ks[1] < 0.5          # Phi(0.5) - Phi(-0.5) = 0.383
    a = np.array([[1.0], [2.0], [3.0]])
    b = np.array([[2.5], [3.5], [4.5], [5.5]])
    assert ks_statistic(a, b)[0] == pytest.approx(0.75)   # at x=3: F_a=1, F_b=0.25


def test_ks_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a = np.round(rng.standard_normal((300, 3)), 1)        # with ties
    b = np.round(rng.standard_normal((200, 3)) * 1.3 + 0.2, 1)
    d = ks_statistic(a, b)
    for j in range(3):
        ref = stats.ks_2samp(a[:, j], b[:, j])
        assert d[j] == pytest.approx(ref.statistic)


def test_ks_pvalue_and_critical_value():
    assert ks_critical_value(100, 100, 0.05) == pytest.approx(1.3581 * np.sqrt(0.02), rel=1e-3)
    p = ks_pvalue(np.array([0.0, 0.1, 0.3]), 100, 100)
    assert p[0] == 1.0 and 0.3 < p[1] < 0.9 and p[2] < 1e-3


def test_drift_monitor_detects_shift_only():
    rng = np.random.default_rng(2)
    ref = rng.random((1500, 1, 4, 4)).astype(np.float32)           # images work: features flattened
    monitor = DriftMonitor(ref)
    same = monitor.check(rng.random((600, 1, 4, 4)).astype(np.float32))
    assert isinstance(same, DriftReport) and not same.drift_detected and same.drifted.sum() == 0
    brighter = monitor.check(np.clip(rng.random((600, 1, 4, 4)) + 0.3, 0, 1))
    assert brighter.drift_detected and brighter.drift_share == 1.0
    assert brighter.drifted_features[0] == "f0" and "DETECTED" in brighter.summary()
    assert len(monitor.history) == 2


def test_drift_monitor_methods_and_single_feature():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((1000, 4))
    cur = rng.standard_normal((1000, 4))
    cur[:, 2] = cur[:, 2] * 3.0                                   # spread changes, mean does not
    for method in ("psi", "ks", "both"):
        report = DriftMonitor(ref, method=method, feature_names=list("abcd")).check(cur)
        assert report.drifted_features == ["c"]
        assert not report.drift_detected                           # 1 of 4 features < 50 %
    assert DriftMonitor(ref, share_threshold=0.25).check(cur).drift_detected


def test_drift_monitor_constant_feature_and_errors():
    ref = np.zeros((200, 2))
    ref[:, 1] = np.random.default_rng(4).standard_normal(200)
    monitor = DriftMonitor(ref)
    cur = np.array(ref)
    assert not monitor.check(cur).drifted.any()
    cur[:, 0] = 1.0
    assert monitor.check(cur).drifted.tolist() == [True, False]
    with pytest.raises(ValueError, match="features"):
        monitor.check(np.zeros((10, 3)))
    with pytest.raises(ValueError):
        DriftMonitor(ref, method="chi2")
    with pytest.raises(TypeError):
        DriftMonitor(np.array([["a", "b"], ["c", "d"]]))


# ---- predictor ---------------------------------------------------------------------------------------
def test_predictor_batches_and_single_samples():
    model = cnn()
    p = Predictor(model, input_shape=(1, 4, 4), batch_size=3)
    x = np.random.default_rng(0).standard_normal((7, 1, 4, 4)).astype(np.float32)
    logits = p.predict_logits(x)
    with_model = model(Tensor(x)).data
    np.testing.assert_allclose(logits, with_model, rtol=1e-5, atol=1e-6)
    assert np.array_equal(p.predict(x), np.argmax(with_model, axis=1)) and np.array_equal(p(x), p.predict(x))
    assert p.predict(x[0]).shape == (1,)
    assert p.predict(Tensor(x)).shape == (7,)
    assert p.predict(x.astype(np.float64)).shape == (7,)           # float64 is converted
    np.testing.assert_allclose(p.predict_proba(x).sum(axis=1), 1.0, rtol=1e-5)
    assert p.predict(x.tolist()).shape == (7,)


def test_predictor_rejects_bad_input_clearly():
    p = Predictor(cnn(), input_shape=(1, 4, 4))
    good = np.zeros((2, 1, 4, 4), dtype=np.float32)
    with pytest.raises(InputValidationError, match=r"shape \(N, 1, 4, 4\).*got \(2, 16\)"):
        p.predict(good.reshape(2, 16))
    with pytest.raises(InputValidationError, match="floating-point.*int64.*astype"):
        p.predict(good.astype(np.int64))
    with pytest.raises(InputValidationError, match="dtype <U"):
        p.predict(np.array([["a"]]))
    with pytest.raises(InputValidationError, match="NaN or infinity \\(sample 1\\)"):
        bad = good.copy()
        bad[1, 0, 2, 2] = np.nan
        p.predict(bad)
    with pytest.raises(InputValidationError, match="empty batch"):
        p.predict(np.zeros((0, 1, 4, 4), dtype=np.float32))
    with pytest.raises(InputValidationError, match="got str"):
        p.predict("not an array")
    with pytest.raises(InputValidationError, match="ragged"):
        p.predict([[1.0, 2.0], [3.0]])
    assert issubclass(InputValidationError, ValueError)


def test_predictor_eval_mode_and_no_graph():
    model = cnn()
    model.train()
    out = Predictor(model, input_shape=(1, 4, 4)).predict_logits(np.zeros((1, 1, 4, 4), dtype=np.float32))
    assert isinstance(out, np.ndarray) and model.training


def test_predictor_integer_inputs_and_wildcards():
    class Sum:
        def __call__(self, x):
            return Tensor(np.stack([x.data.sum(axis=1), -x.data.sum(axis=1)], axis=1).astype(np.float32))

    p = Predictor(Sum(), input_shape=(None,), dtype=np.int64)
    assert p.predict(np.array([[1, 2, 3]])).tolist() == [0]
    assert p.predict(np.array([[1, 2], [-5, 1]])).tolist() == [0, 1]
    with pytest.raises(InputValidationError, match="integer input"):
        p.predict(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError):
        Predictor(Sum(), input_shape=(3,), dtype=np.str_)


def test_predictor_from_file(tmp_path):
    model = cnn()
    path = save_model(model, tmp_path / "m.npz", metadata={"input_shape": [1, 4, 4], "class_names": ["a", "b", "c"]})
    p = Predictor.from_file(cnn(9), path)
    x = np.random.default_rng(1).random((4, 1, 4, 4)).astype(np.float32)
    assert p.input_shape == (1, 4, 4)
    assert np.array_equal(p.predict(x), Predictor(model, (1, 4, 4)).predict(x))
    assert set(p.predict_labels(x)) <= {"a", "b", "c"}
    bare = save_model(model, tmp_path / "bare.npz")
    with pytest.raises(ValueError, match="input_shape"):
        Predictor.from_file(cnn(), bare)
