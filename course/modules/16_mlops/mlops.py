# Module 16 (mlops): taking a trained model out of the notebook. Safe model files (.npz arrays +
# JSON metadata, never pickle), a small versioned model registry on disk, a data-drift monitor
# (PSI and Kolmogorov-Smirnov per feature) and a Predictor that validates its inputs.
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
# # Module 16: MLOps -- from a trained model to a model you can ship
#
# Training ends with a model object in memory. Everything after that is engineering:
#
# 1. **Saving and loading** it, so another process (a server, a colleague, you next week) gets the
#    *identical* model -- and without opening a security hole.
# 2. **Versioning** it: which model is in production, what data and settings produced it, how good
#    it was. A registry answers these questions.
# 3. **Monitoring** the data it sees: a model is only as good as the match between its training
#    data and today's inputs. Drift detection notices when that match breaks.
# 4. **Serving** it behind an interface that refuses malformed input with a clear message instead
#    of returning confident nonsense.

# %%
#| default_exp core.mlops

# %%
#| export
import datetime
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import no_grad

# %% [markdown]
# ## Saving models safely: arrays + JSON, never pickle
#
# The tempting way to save a model is `pickle.dump(model, f)`. Don't: **unpickling runs code**. A
# pickle file can instruct the loader to call any function with any arguments -- `os.system` included
# -- so loading a model file from the internet with pickle is running a stranger's program. (This is
# why PyTorch moved `torch.load` to `weights_only=True`, and why the `safetensors` format exists.)
#
# A model is two things: its **architecture** (code: you already have it, it is the class you wrote)
# and its **weights** (numbers). So we save only numbers and text:
#
# * every entry of `model.state_dict()` as an array in an `.npz` file (a zip of `.npy` arrays);
# * the metadata as a JSON string stored in the same file (one artifact, nothing to lose);
#
# and we load with `np.load(path, allow_pickle=False)`: NumPy then refuses object arrays, the only
# part of the format that could contain pickled code. Loading means: build the architecture in code,
# then copy the numbers in with `load_state_dict`, checking names and shapes. A SHA-256 checksum over
# all arrays detects a truncated or corrupted file.

# %%
#| export
FORMAT_NAME = "tinytorch-model"
FORMAT_VERSION = 1
_META_KEY = "__metadata__"
_PARAM_PREFIX = "params/"


class ModelFileError(ValueError):
    """A model file that cannot be read, is not a TinyTorch model, or does not fit the model."""


def _jsonable(value, where="metadata"):
    """Convert NumPy scalars/arrays and tuples to plain JSON values; refuse anything else."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("%s keys must be strings, got %r" % (where, k))
            out[k] = _jsonable(v, "%s[%r]" % (where, k))
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("%s contains a non-finite float (%r), which JSON cannot store" % (where, value))
        return value
    raise TypeError("%s must contain only JSON values (dict, list, str, number, bool, None), got %s"
                    % (where, type(value).__name__))


def _checksum(arrays: Dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(name.encode("utf-8"))
        digest.update(str(a.dtype.str).encode("ascii"))
        digest.update(str(a.shape).encode("ascii"))
        digest.update(a.tobytes())
    return digest.hexdigest()


def _state_arrays(model) -> Dict[str, np.ndarray]:
    if not hasattr(model, "state_dict"):
        raise TypeError("save_model needs a Module with state_dict(), got %s" % type(model).__name__)
    arrays = {}
    for name, value in model.state_dict().items():
        a = np.array(value.data if isinstance(value, Tensor) else value)   # a copy, detached from the model
        if a.dtype.kind not in "biuf":
            raise TypeError("state_dict entry %r has dtype %s; only numeric arrays can be saved" % (name, a.dtype))
        arrays[str(name)] = a
    return arrays


def _tinytorch_version() -> str:
    package = sys.modules.get("tinytorch")
    return str(getattr(package, "__version__", "unknown"))


def _atomic_write(path: str, write) -> None:
    """Write via a temporary file in the same folder + os.replace: readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_model(model, path, metadata: Optional[Dict[str, Any]] = None) -> str:
    """Save model.state_dict() and JSON metadata to one .npz file (no pickle). Returns the path."""
    path = os.fspath(path)
    arrays = _state_arrays(model)
    user = _jsonable(dict(metadata or {}))
    info = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "tinytorch_version": _tinytorch_version(),
        "numpy_version": np.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in arrays.items()},
        "num_values": int(sum(a.size for a in arrays.values())),
        "sha256": _checksum(arrays),
        "metadata": user,
    }
    payload = {_PARAM_PREFIX + k: a for k, a in arrays.items()}
    payload[_META_KEY] = np.array(json.dumps(info, sort_keys=True))
    _atomic_write(path, lambda f: np.savez(f, **payload))
    return path


def _read_file(path) -> tuple:
    """(arrays, info) from a model file, verified; raises ModelFileError with a clear reason."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError("no model file at %s" % path)
    if not zipfile.is_zipfile(path):   # np.load would otherwise try to read it as a pickle
        raise ModelFileError("cannot read %s: not an .npz (zip) archive" % path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if _META_KEY not in names:
                raise ModelFileError("%s is not a TinyTorch model file (no metadata entry)" % path)
            info = json.loads(str(npz[_META_KEY][()]))
            arrays = {n[len(_PARAM_PREFIX):]: npz[n] for n in names if n.startswith(_PARAM_PREFIX)}
    except ModelFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ModelFileError("%s contains pickled objects; refusing to load them (they could run code)"
                                 % path) from None
        raise ModelFileError("cannot read %s: %s" % (path, exc)) from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, EOFError, json errors ...
        raise ModelFileError("cannot read %s as a model file: %s: %s" % (path, type(exc).__name__, exc)) from None
    if info.get("format") != FORMAT_NAME:
        raise ModelFileError("%s is not a TinyTorch model file (format %r)" % (path, info.get("format")))
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError("%s uses model format version %s; this TinyTorch reads up to %d"
                             % (path, info.get("format_version"), FORMAT_VERSION))
    if _checksum(arrays) != info.get("sha256"):
        raise ModelFileError("%s is corrupted: the checksum of its arrays does not match" % path)
    return arrays, info


def read_metadata(path) -> Dict[str, Any]:
    """The full metadata of a model file; your own metadata is under the key 'metadata'."""
    return _read_file(path)[1]


def load_model(model, path, strict: bool = True):
    """Load weights saved by save_model into `model` (same architecture); returns the model.

    Checks that names and shapes match the model's state_dict before changing anything.
    With strict=False, missing or extra entries are ignored (shapes must still match).
    """
    arrays, info = _read_file(path)
    current = model.state_dict()
    missing = [k for k in current if k not in arrays]
    unexpected = [k for k in arrays if k not in current]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append("missing from the file: %s" % ", ".join(missing[:8]))
        if unexpected:
            parts.append("not in the model: %s" % ", ".join(unexpected[:8]))
        raise ModelFileError("%s does not fit this %s (saved from %s): %s"
                             % (path, type(model).__name__, info.get("model_class"), "; ".join(parts)))
    for k, a in arrays.items():
        if k in current:
            want = np.shape(current[k].data if isinstance(current[k], Tensor) else current[k])
            if tuple(want) != a.shape:
                raise ModelFileError("%s: entry %r has shape %s in the file but %s in the model"
                                     % (path, k, a.shape, tuple(want)))
    if strict:
        model.load_state_dict(arrays)
    else:
        merged = dict(current)
        merged.update({k: a for k, a in arrays.items() if k in current})
        model.load_state_dict(merged)
    return model


# %% [markdown]
# ## A versioned model registry
#
# A registry is a folder with a fixed layout -- no database needed:
#
# ```
# root/
#   digits-mlp/
#     v0001/ model.npz  metadata.json
#     v0002/ model.npz  metadata.json
#     stages.json          {"production": 2, "staging": 1}
# ```
#
# Versions are never overwritten: registering again creates the next version (`os.mkdir` is atomic,
# so two processes cannot both claim the same number). `metadata.json` repeats the model file's
# metadata plus the registry's own fields (version, metrics, time) so that `list_versions` can show
# a history without loading any weights. A *stage* ("production", "staging") is just a named pointer
# to a version, which makes promotion and rollback a one-line change.

# %%
#| export
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ModelRegistry:
    """Versioned models on disk: register(model, name) -> version; load(model, name, version)."""

    def __init__(self, root):
        self.root = os.path.abspath(os.fspath(root))
        os.makedirs(self.root, exist_ok=True)

    # -- paths -------------------------------------------------------------------------------
    @staticmethod
    def _check_name(name: str) -> str:
        if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
            raise ValueError("invalid model name %r: use letters, digits, '_', '-', '.' (no '..', "
                             "no '/'; at most 100 characters)" % (name,))
        return name

    def _model_dir(self, name: str) -> str:
        return os.path.join(self.root, self._check_name(name))

    def _version_dir(self, name: str, version: int) -> str:
        return os.path.join(self._model_dir(name), "v%04d" % int(version))

    def path_of(self, name: str, version: Optional[int] = None) -> str:
        """Path of the model file of a version (the latest by default)."""
        v = self.latest_version(name) if version is None else self._existing(name, version)
        return os.path.join(self._version_dir(name, v), "model.npz")

    # -- writing -----------------------------------------------------------------------------
    def register(self, model, name: str, metadata: Optional[Dict[str, Any]] = None,
                 metrics: Optional[Dict[str, Any]] = None, stage: Optional[str] = None) -> int:
        """Store a new version of `name`; returns its version number (1, 2, ...)."""
        folder = self._model_dir(name)
        os.makedirs(folder, exist_ok=True)
        version = (max(self.versions(name)) if self.versions(name) else 0) + 1
        while True:
            try:
                os.mkdir(self._version_dir(name, version))
                break
            except FileExistsError:
                version += 1
        vdir = self._version_dir(name, version)
        user = dict(metadata or {})
        path = save_model(model, os.path.join(vdir, "model.npz"), metadata=user)
        info = read_metadata(path)
        info.update({"name": name, "version": version, "metrics": _jsonable(dict(metrics or {}), "metrics"),
                     "registered": info["created"]})
        data = json.dumps(info, indent=2, sort_keys=True).encode("utf-8")
        _atomic_write(os.path.join(vdir, "metadata.json"), lambda f: f.write(data))
        if stage:
            self.set_stage(name, version, stage)
        return version

    def set_stage(self, name: str, version: int, stage: str) -> None:
        """Point a stage (e.g. 'production') of `name` at `version`."""
        self._existing(name, version)
        if not isinstance(stage, str) or not _NAME_RE.match(stage):
            raise ValueError("invalid stage name %r" % (stage,))
        stages = self.stages(name)
        stages[stage] = int(version)
        data = json.dumps(stages, indent=2, sort_keys=True).encode("utf-8")
        _atomic_write(os.path.join(self._model_dir(name), "stages.json"), lambda f: f.write(data))

    # -- reading -----------------------------------------------------------------------------
    def list_models(self) -> List[str]:
        return sorted(d for d in os.listdir(self.root)
                      if _NAME_RE.match(d) and os.path.isdir(os.path.join(self.root, d)) and self.versions(d))

    def versions(self, name: str) -> List[int]:
        folder = self._model_dir(name)
        if not os.path.isdir(folder):
            return []
        found = []
        for d in os.listdir(folder):
            if re.match(r"^v\d{4,}$", d) and os.path.isfile(os.path.join(folder, d, "metadata.json")):
                found.append(int(d[1:]))
        return sorted(found)

    def latest_version(self, name: str) -> int:
        versions = self.versions(name)
        if not versions:
            raise KeyError("no model named %r in the registry at %s (known: %s)"
                           % (name, self.root, ", ".join(self.list_models()) or "none"))
        return versions[-1]

    def _existing(self, name: str, version: int) -> int:
        version = int(version)
        if version not in self.versions(name):
            raise KeyError("model %r has no version %d (versions: %s)"
                           % (name, version, self.versions(name) or "none"))
        return version

    def stages(self, name: str) -> Dict[str, int]:
        path = os.path.join(self._model_dir(name), "stages.json")
        if not os.path.isfile(path):
            return {}
        with open(path, "r", encoding="utf-8") as f:
            return {str(k): int(v) for k, v in json.load(f).items()}

    def get_metadata(self, name: str, version: Optional[int] = None) -> Dict[str, Any]:
        v = self.latest_version(name) if version is None else self._existing(name, version)
        with open(os.path.join(self._version_dir(name, v), "metadata.json"), "r", encoding="utf-8") as f:
            return json.load(f)

    def list_versions(self, name: str) -> List[Dict[str, Any]]:
        """Metadata of every version of `name`, oldest first (no weights are loaded)."""
        return [self.get_metadata(name, v) for v in self.versions(name)]

    def resolve(self, name: str, version: Optional[int] = None, stage: Optional[str] = None) -> int:
        if version is not None and stage is not None:
            raise ValueError("give a version or a stage, not both")
        if stage is not None:
            stages = self.stages(name)
            if stage not in stages:
                raise KeyError("model %r has no stage %r (stages: %s)" % (name, stage, stages or "none"))
            return self._existing(name, stages[stage])
        return self.latest_version(name) if version is None else self._existing(name, version)

    def load(self, model, name: str, version: Optional[int] = None, stage: Optional[str] = None):
        """Load a version (default: the latest; or the version a stage points to) into `model`."""
        v = self.resolve(name, version, stage)
        return load_model(model, os.path.join(self._version_dir(name, v), "model.npz"))


# %% [markdown]
# ## Monitoring data drift
#
# A model learns the distribution of its training data. When live inputs drift away from it (a new
# camera, a different user group, a broken sensor), accuracy drops *silently*: the model still
# answers, just worse. We cannot see accuracy without labels, but we can compare input
# distributions, feature by feature, against a reference sample (e.g. the training data):
#
# * **PSI (population stability index)**: bin each feature at the reference's quantiles (so each bin
#   holds ~1/bins of the reference), then `PSI = sum_b (p_new - p_ref) * ln(p_new / p_ref)`.
#   Rule of thumb: < 0.1 stable, 0.1-0.2 some shift, > 0.2 significant drift.
# * **Kolmogorov-Smirnov (KS)**: the largest vertical distance `D` between the two empirical
#   cumulative distributions. Under "no drift", `D` exceeds `c(alpha) * sqrt((n+m)/(n*m))` with
#   probability alpha, where `c(alpha) = sqrt(-ln(alpha/2)/2)` (1.358 for alpha = 0.05).
#
# Both are computed for all features at once without looping over features: the bins by comparing
# against a per-feature edge table, KS by sorting both samples together along the sample axis and
# accumulating which sample each sorted value came from.

# %%
#| export
def _as_matrix(data, name="data") -> np.ndarray:
    a = np.asarray(data.data if isinstance(data, Tensor) else data)
    if a.dtype.kind not in "biuf":
        raise TypeError("%s must be numeric, got dtype %s" % (name, a.dtype))
    if a.ndim == 0 or a.shape[0] < 2:
        raise ValueError("%s needs at least 2 samples along the first axis, got shape %s" % (name, a.shape))
    return a.reshape(a.shape[0], -1).astype(np.float64)


def population_stability_index(reference, current, bins: int = 10, eps: float = 1e-4) -> np.ndarray:
    """PSI per feature of `current` against `reference` (both (N, ...) ; features = flattened rest)."""
    ref = _as_matrix(reference, "reference")
    cur = _as_matrix(current, "current")
    if ref.shape[1] != cur.shape[1]:
        raise ValueError("reference has %d features but current has %d" % (ref.shape[1], cur.shape[1]))
    edges = np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1], axis=0).T     # (F, bins-1)
    p_ref = _bin_fractions(ref, edges, bins)
    p_cur = _bin_fractions(cur, edges, bins)
    p_ref = np.clip(p_ref, eps, None)
    p_cur = np.clip(p_cur, eps, None)
    return np.sum((p_cur - p_ref) * np.log(p_cur / p_ref), axis=1)


def _bin_fractions(x: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    n, f = x.shape
    idx = np.sum(x[:, :, None] > edges[None, :, :], axis=2)           # (N, F) bin index per value
    flat = idx + bins * np.arange(f)[None, :]
    counts = np.bincount(flat.ravel(), minlength=f * bins).reshape(f, bins)
    return counts / float(n)


def ks_statistic(reference, current) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov statistic D per feature."""
    ref = _as_matrix(reference, "reference")
    cur = _as_matrix(current, "current")
    if ref.shape[1] != cur.shape[1]:
        raise ValueError("reference has %d features but current has %d" % (ref.shape[1], cur.shape[1]))
    n, m = ref.shape[0], cur.shape[0]
    both = np.concatenate([ref, cur], axis=0)
    order = np.argsort(both, axis=0, kind="stable")
    values = np.take_along_axis(both, order, axis=0)
    from_ref = order < n
    cdf_ref = np.cumsum(from_ref, axis=0) / n
    cdf_cur = np.cumsum(~from_ref, axis=0) / m
    # only compare the CDFs after the last of a run of tied values
    last_of_tie = np.ones_like(from_ref)
    last_of_tie[:-1] = values[:-1] != values[1:]
    return np.max(np.abs(cdf_ref - cdf_cur) * last_of_tie, axis=0)


def ks_critical_value(n: int, m: int, alpha: float = 0.05) -> float:
    """D above which the KS test rejects 'same distribution' at level alpha (asymptotic)."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / float(n * m))


def ks_pvalue(d, n: int, m: int) -> np.ndarray:
    """Asymptotic p-value of KS statistic(s) d (Kolmogorov distribution with Stephens' correction)."""
    d = np.asarray(d, dtype=np.float64)
    ne = n * m / float(n + m)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    k = np.arange(1, 101)[:, None]
    terms = 2.0 * (-1.0) ** (k - 1) * np.exp(-2.0 * k ** 2 * lam.reshape(1, -1) ** 2)
    p = np.clip(terms.sum(axis=0), 0.0, 1.0)
    p[lam.reshape(-1) < 1e-3] = 1.0
    return p.reshape(d.shape)


@dataclass
class DriftReport:
    """Per-feature drift scores of one batch against the reference."""
    psi: np.ndarray
    ks: np.ndarray
    ks_pvalue: np.ndarray
    ks_critical: float
    drifted: np.ndarray          # bool per feature, by the monitor's method
    method: str
    share_threshold: float
    feature_names: List[str]

    @property
    def drift_share(self) -> float:
        return float(np.mean(self.drifted)) if self.drifted.size else 0.0

    @property
    def drift_detected(self) -> bool:
        """Dataset-level drift: at least `share_threshold` of the features drifted."""
        return bool(self.drifted.any()) and self.drift_share >= self.share_threshold

    @property
    def drifted_features(self) -> List[str]:
        return [self.feature_names[i] for i in np.flatnonzero(self.drifted)]

    def summary(self, top: int = 5) -> str:
        order = np.argsort(-self.psi if self.method == "psi" else -self.ks)[:top]
        lines = ["drift %s: %d of %d features drifted (%.0f%%, method %s)"
                 % ("DETECTED" if self.drift_detected else "not detected", int(self.drifted.sum()),
                    self.drifted.size, 100 * self.drift_share, self.method)]
        for i in order:
            lines.append("  %-12s PSI %.3f  KS %.3f (p=%.3g)%s" % (self.feature_names[i], self.psi[i], self.ks[i],
                                                                self.ks_pvalue[i], "  <- drift" if self.drifted[i] else ""))
        return "\n".join(lines)


class DriftMonitor:
    """Compare batches of inputs with a reference sample, feature by feature (PSI and KS).

    method: 'psi' (feature drifted if PSI > psi_threshold), 'ks' (D above the critical value at
    ks_alpha) or 'both' (either). drift_detected when >= share_threshold of the features drifted.
    """

    def __init__(self, reference, bins: int = 10, method: str = "psi", psi_threshold: float = 0.2,
                 ks_alpha: float = 0.05, share_threshold: float = 0.5,
                 feature_names: Optional[Sequence[str]] = None):
        if method not in ("psi", "ks", "both"):
            raise ValueError("method must be 'psi', 'ks' or 'both', got %r" % (method,))
        if bins < 2:
            raise ValueError("bins must be >= 2")
        self.reference = _as_matrix(reference, "reference")
        self.feature_shape = tuple(np.shape(reference.data if isinstance(reference, Tensor) else reference)[1:])
        self.bins, self.method = int(bins), method
        self.psi_threshold, self.ks_alpha, self.share_threshold = psi_threshold, ks_alpha, share_threshold
        n_features = self.reference.shape[1]
        if feature_names is None:
            feature_names = ["f%d" % i for i in range(n_features)]
        if len(feature_names) != n_features:
            raise ValueError("%d feature names for %d features" % (len(feature_names), n_features))
        self.feature_names = [str(f) for f in feature_names]
        self.history: List[DriftReport] = []

    def check(self, data) -> DriftReport:
        cur = _as_matrix(data, "data")
        if cur.shape[1] != self.reference.shape[1]:
            raise ValueError("data has %d features per sample but the reference has %d (shape %s)"
                             % (cur.shape[1], self.reference.shape[1], self.feature_shape))
        psi = population_stability_index(self.reference, cur, bins=self.bins)
        ks = ks_statistic(self.reference, cur)
        n, m = self.reference.shape[0], cur.shape[0]
        crit = ks_critical_value(n, m, self.ks_alpha)
        by_psi, by_ks = psi > self.psi_threshold, ks > crit
        drifted = by_psi if self.method == "psi" else by_ks if self.method == "ks" else (by_psi | by_ks)
        report = DriftReport(psi, ks, ks_pvalue(ks, n, m), crit, drifted, self.method, self.share_threshold,
                             self.feature_names)
        self.history.append(report)
        return report


# %% [markdown]
# ## A Predictor that validates its input
#
# Models fail *silently* on wrong input: an `(N, 64)` batch fed to a CNN, integer pixels 0-255 fed
# to a model trained on floats in [0, 1], a NaN from a broken sensor -- NumPy broadcasting will often
# happily produce numbers anyway. A serving wrapper is the place to say no, early and clearly:
#
# * the input must be an array (or Tensor) of a numeric dtype of the expected *kind* (float for
#   images, integer for token ids); float64 is converted to float32, but integers are not silently
#   turned into floats (they usually mean "you forgot to normalise");
# * the shape must be `input_shape` (one sample) or `(N, *input_shape)` (a batch); `None` in
#   `input_shape` accepts any size on that axis;
# * values must be finite.
#
# Then it runs the model in `eval()` mode without building a graph, in batches.

# %%
#| export
class InputValidationError(ValueError):
    """Raised by Predictor for input of the wrong type, dtype, shape or with non-finite values."""


def _shape_text(shape) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Predictor:
    """Serve a model: validate input, run in eval mode without gradients, return NumPy arrays."""

    def __init__(self, model, input_shape: Sequence[Optional[int]], dtype=np.float32,
                 class_names: Optional[Sequence[str]] = None, batch_size: int = 256):
        self.model = model
        self.input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "iuf":
            raise ValueError("Predictor dtype must be a float or integer dtype, got %s" % self.dtype)
        self.class_names = list(class_names) if class_names is not None else None
        self.batch_size = int(batch_size)

    @classmethod
    def from_file(cls, model, path, input_shape=None, **kwargs) -> "Predictor":
        """Load weights with load_model; input_shape defaults to metadata['input_shape'] of the file."""
        load_model(model, path)
        if input_shape is None:
            input_shape = read_metadata(path).get("metadata", {}).get("input_shape")
            if input_shape is None:
                raise ValueError("the model file has no 'input_shape' metadata; pass input_shape=")
        if "class_names" not in kwargs:
            names = read_metadata(path).get("metadata", {}).get("class_names")
            if names is not None:
                kwargs["class_names"] = names
        return cls(model, input_shape, **kwargs)

    def validate(self, x) -> np.ndarray:
        """Return the input as a (N, *input_shape) array of the Predictor's dtype, or raise."""
        expected = _shape_text(("N",) + self.input_shape).replace("'", "")
        if isinstance(x, Tensor):
            x = x.data
        elif isinstance(x, (list, tuple)):
            try:
                x = np.asarray(x)
            except ValueError:
                raise InputValidationError("input is a ragged nested list; expected a batch of shape %s"
                                           % expected) from None
        if not isinstance(x, np.ndarray):
            raise InputValidationError("expected a NumPy array or Tensor of shape %s, got %s"
                                       % (expected, type(x).__name__))
        kind = x.dtype.kind
        if self.dtype.kind == "f":
            if kind != "f":
                hint = " (convert with x.astype(np.float32) and scale it as in training)" if kind in "biu" else ""
                raise InputValidationError("expected floating-point input (%s), got dtype %s%s"
                                           % (self.dtype, x.dtype, hint))
        elif kind not in "iu":
            raise InputValidationError("expected integer input (%s, e.g. token ids), got dtype %s"
                                       % (self.dtype, x.dtype))
        k = len(self.input_shape)
        if x.ndim == k:
            x = x[None]
        if x.ndim != k + 1 or any(want is not None and got != want
                                  for got, want in zip(x.shape[1:], self.input_shape)):
            raise InputValidationError("expected input of shape %s (a batch) or %s (one sample), got %s"
                                       % (expected, _shape_text(self.input_shape), x.shape))
        if x.shape[0] == 0:
            raise InputValidationError("empty batch: expected at least one sample of shape %s"
                                       % _shape_text(self.input_shape))
        if kind == "f":
            finite = np.isfinite(x).reshape(x.shape[0], -1).all(axis=1)
            if not finite.all():
                bad = np.flatnonzero(~finite)
                raise InputValidationError("input contains NaN or infinity (sample %s)"
                                           % ", ".join(str(i) for i in bad[:5]))
        if self.dtype.kind in "iu" and x.size and (x.min() < np.iinfo(self.dtype).min or x.max() > np.iinfo(self.dtype).max):
            raise InputValidationError("integer input out of range for %s" % self.dtype)
        return np.ascontiguousarray(x, dtype=self.dtype)

    def predict_logits(self, x) -> np.ndarray:
        x = self.validate(x)
        model = self.model
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()
        try:
            outs = []
            with no_grad():
                for start in range(0, x.shape[0], self.batch_size):
                    out = model(Tensor(x[start:start + self.batch_size]))
                    outs.append(np.asarray(out.data if isinstance(out, Tensor) else out))
        finally:
            if was_training and hasattr(model, "train"):
                model.train()
        return np.concatenate(outs, axis=0)

    def predict_proba(self, x) -> np.ndarray:
        z = self.predict_logits(x).astype(np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def predict(self, x) -> np.ndarray:
        """Class indices (argmax of the last axis)."""
        return np.argmax(self.predict_logits(x), axis=-1)

    def predict_labels(self, x) -> List[str]:
        if self.class_names is None:
            raise ValueError("this Predictor has no class_names")
        return [self.class_names[i] for i in np.ravel(self.predict(x))]

    __call__ = predict


# %% [markdown]
# ## Checks

# %%
def test_unit_save_load_roundtrip():
    from tinytorch.core.layers import Linear
    a, b = Linear(4, 3), Linear(4, 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(a, os.path.join(tmp, "m.npz"), metadata={"input_shape": [4]})
        load_model(b, path)
        assert read_metadata(path)["metadata"]["input_shape"] == [4]
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k])


def test_unit_registry():
    from tinytorch.core.layers import Linear
    with tempfile.TemporaryDirectory() as tmp:
        reg = ModelRegistry(tmp)
        assert reg.register(Linear(2, 2), "m", metrics={"acc": 0.5}) == 1
        assert reg.register(Linear(2, 2), "m", stage="production") == 2
        assert reg.list_models() == ["m"] and reg.versions("m") == [1, 2]
        assert reg.resolve("m", stage="production") == 2


def test_unit_drift():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((1000, 3))
    mon = DriftMonitor(ref)
    assert not mon.check(rng.standard_normal((500, 3))).drift_detected
    assert mon.check(rng.standard_normal((500, 3)) + 1.0).drift_detected


def test_unit_predictor():
    from tinytorch.core.layers import Linear
    p = Predictor(Linear(4, 3), input_shape=(4,))
    assert p.predict(np.zeros((5, 4), dtype=np.float32)).shape == (5,)
    try:
        p.predict(np.zeros((5, 3), dtype=np.float32))
        raise AssertionError("wrong shape accepted")
    except InputValidationError as exc:
        print("clear error:", exc)


# %%
if __name__ == "__main__":
    test_unit_save_load_roundtrip()
    test_unit_registry()
    test_unit_drift()
    test_unit_predictor()
    print("mlops: all checks passed")
