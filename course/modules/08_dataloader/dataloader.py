# Module 08 (dataloader): feeding data to a model in mini-batches.
# Dataset / TensorDataset / DataLoader (batch size, seeded shuffling, drop_last), train_test_split,
# and two data sets generated in code, so nothing is ever downloaded: a digits-like image set drawn
# from a small bitmap font (make_digits) and the classic 2-D spirals (make_spirals).
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
# # Module 08: Data loading
#
# A training loop needs its data in *mini-batches*: a few dozen examples at a time, in a fresh
# random order every epoch. Why not the whole data set at once, or one example at a time?
#
# * One example per step wastes the hardware: a matrix multiply of a (32, 64) batch costs about the
#   same Python overhead as a (1, 64) one, so batching amortises that overhead 32 times.
# * The whole data set per step is slow to iterate (one update per pass) and often does not fit in
#   memory. The noise of small batches even helps generalisation.
# * Shuffling matters: if the data arrive sorted by class, every batch pulls the model towards one
#   class and training oscillates instead of converging.
#
# PyTorch splits the job in two, and so do we:
#
# * a **Dataset** knows how many examples there are and how to fetch example `i`;
# * a **DataLoader** decides the order (shuffle), groups indices into batches and assembles each
#   batch into Tensors.
#
# The systems lesson of this module is the *fast path*: a `TensorDataset` holds whole arrays, so a
# batch is one fancy-indexing operation `X[indices]` instead of a Python loop that fetches 32 rows
# one by one and stacks them.
#
# We also build two small data sets in code (no downloads, fully reproducible from a seed):
# spirals for 2-D classification and a digits-like image set for small vision models.

# %%
#| default_exp core.dataloader

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Dataset
#
# The interface is just two methods, `__len__` and `__getitem__(i)` returning one example (usually
# a tuple `(x, y)`). We add a third, `get_batch(indices)`, which the DataLoader calls. Its default
# fetches the examples one by one and stacks each field (that works for any Dataset, e.g. one that
# generates examples on the fly); subclasses that can do better override it.

# %%
#| export
def _to_array(value):
    """Tensors and array-likes to np.ndarray (float64 becomes float32, integers keep their dtype)."""
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return arr


class Dataset:
    """Abstract data set: implement `__len__` and `__getitem__(i)` (returning a tuple of fields)."""

    def __len__(self):
        raise NotImplementedError("a Dataset must implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError("a Dataset must implement __getitem__")

    def get_batch(self, indices):
        """Fetch the examples at `indices` and stack each field into one Tensor (generic, slow path)."""
        items = [self[int(i)] for i in indices]
        if not isinstance(items[0], (tuple, list)):
            return (Tensor(np.stack([_to_array(item) for item in items])),)
        fields = zip(*items)
        return tuple(Tensor(np.stack([_to_array(v) for v in field])) for field in fields)

# %% [markdown]
# ## TensorDataset: the fast path
#
# `TensorDataset(X, y)` stores arrays whose first dimension is the example index. `ds[i]` returns
# `(X[i], y[i])`; `get_batch(idx)` returns `(X[idx], y[idx])` using NumPy fancy indexing: one
# vectorised gather per field, whatever the batch size. Labels stay integer (int64), features are
# float32.

# %%
#| export
class TensorDataset(Dataset):
    """A data set made of arrays (or Tensors) that share their first dimension."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_to_array(a) for a in arrays)
        n = self.arrays[0].shape[0] if self.arrays[0].ndim else None
        for a in self.arrays:
            if a.ndim == 0 or a.shape[0] != n:
                shapes = [a.shape for a in self.arrays]
                raise ValueError(f"all arrays of a TensorDataset need the same first dimension, got {shapes}")

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        # np.asarray keeps a single label an int64 array (a bare NumPy scalar would become float32)
        return tuple(Tensor(np.asarray(a[index])) for a in self.arrays)

    def get_batch(self, indices):
        return tuple(Tensor(a[indices]) for a in self.arrays)

# %% [markdown]
# ## DataLoader
#
# Each `for batch in loader:` is one *epoch*. The loader makes an index order (`0..N-1`, or a
# permutation when `shuffle=True`), cuts it into chunks of `batch_size` and asks the dataset for
# each chunk. `drop_last=True` drops a final, smaller batch (useful when a model needs a fixed
# batch size, or to avoid one noisy tiny batch per epoch).
#
# **Reproducible shuffling.** With `seed=...` the loader owns a `np.random.Generator` created once:
# epoch 1, 2, 3 get different orders, and re-running the program gives the same sequence of orders.
# Without a seed the permutation comes from NumPy's global generator, so `seed_everything` (module
# 09) makes the whole run reproducible. A generator of its own means the loader's randomness does
# not shift when you add, say, dropout somewhere else.

# %%
#| export
class DataLoader:
    """Iterate over a Dataset in mini-batches, yielding tuples of Tensors."""

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, seed=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self):
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self._rng is not None:
            return self._rng.permutation(n)
        return np.random.permutation(n)

    def __iter__(self):
        order = self._order()
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        # any object with __len__ / __getitem__ works; Dataset subclasses may provide a fast get_batch
        get_batch = getattr(self.dataset, "get_batch", None)
        for start in range(0, stop, self.batch_size):
            indices = order[start:start + self.batch_size]
            yield get_batch(indices) if get_batch is not None else Dataset.get_batch(self.dataset, indices)

    def __repr__(self):
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")

# %% [markdown]
# ## Splitting into train and test
#
# We measure a model on examples it never trained on: a random `test_size` fraction (or a count,
# when it is an int) is held out. The split is a seeded permutation, so it is the same every run.

# %%
#| export
def train_test_split(X, y, test_size=0.2, seed=0):
    """Randomly split (X, y) into X_train, X_test, y_train, y_test (Tensors in, Tensors out)."""
    Xa, ya = _to_array(X), _to_array(y)
    n = Xa.shape[0]
    if ya.shape[0] != n:
        raise ValueError(f"X and y have different lengths: {n} and {ya.shape[0]}")
    n_test = int(test_size) if isinstance(test_size, (int, np.integer)) else int(round(n * float(test_size)))
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size} leaves an empty train or test set for {n} examples")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    parts = (Xa[train], Xa[test], ya[train], ya[test])
    if isinstance(X, Tensor):
        return tuple(Tensor(p) for p in parts)
    return parts

# %% [markdown]
# ## Spirals: a 2-D classification toy
#
# `n_classes` interleaved spiral arms in the plane (the classic CS231n data set). No straight line
# separates them, so a linear classifier is stuck near chance; a small MLP with a ReLU hidden layer
# bends its decision boundary around the arms. Arm `k` follows angle `t` from `4k` to `4k + 4` radians
# while the radius grows from 0 to 1; `noise` jitters the angle. Examples are ordered by class (use
# `shuffle=True` in the DataLoader).

# %%
#| export
def make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Return X (n_per_class * n_classes, 2) float32 and y int64 for the interleaved spirals."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    y = np.repeat(np.arange(n_classes), n_per_class).astype(np.int64)
    theta = 4.0 * y + np.tile(np.linspace(0.0, 4.0, n_per_class), n_classes)
    theta = theta + noise * rng.standard_normal(theta.shape)
    X = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1).astype(np.float32)
    return X, y

# %% [markdown]
# ## Digits: a tiny image data set drawn from a bitmap font
#
# MNIST would need a download, so we make our own "handwriting": ten 5x7 glyphs of a small bitmap
# font (drawn below as strings; `#` is ink). Each example
#
# 1. picks a digit (classes are balanced) and a random *pen pressure* (ink intensity 0.6..1.0),
# 2. erases each ink pixel with probability `noise` (broken strokes),
# 3. scales the glyph by `size // 8` (so `size=28` gives 15x21 glyphs, MNIST-sized images),
# 4. pastes it at a random position of a `size x size` canvas (4 x 2 positions at size 8),
# 5. adds Gaussian pixel noise of standard deviation `noise` and clips to [0, 1].
#
# Why these distortions? Without them the ten classes would be ten fixed pictures and any model
# gets 100%. With shifts a pixel no longer means the same thing in every image, and with broken
# strokes and noise a linear model reaches only about 87% test accuracy, while an MLP gets ~98% and
# a small CNN (module 10) more: learnable, but not trivial.
#
# Everything is vectorised: the pasting is one fancy-indexing assignment that writes every glyph of
# the batch into its canvas at its own offset, with no Python loop over images or pixels.

# %%
#| export
_GLYPHS = (
    (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),   # 0
    ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),   # 1
    (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),   # 2
    ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),   # 3
    ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),   # 4
    ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),   # 5
    ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),   # 6
    ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),   # 7
    (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),   # 8
    (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),   # 9
)


def digit_glyphs():
    """The ten 7x5 glyphs of the font as a (10, 7, 5) float32 array of 0s and 1s."""
    return np.array([[[ch == "#" for ch in row] for row in glyph] for glyph in _GLYPHS], dtype=np.float32)


def make_digits(n_samples=2000, size=8, noise=0.1, seed=0):
    """Return X (n_samples, 1, size, size) float32 in [0, 1] and y int64 digit labels 0..9."""
    glyphs = digit_glyphs()
    height, width = glyphs.shape[1:]
    if size < height:
        raise ValueError(f"size must be at least {height} pixels, got {size}")
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise must be in [0, 1), got {noise}")
    rng = np.random.default_rng(seed)
    n = int(n_samples)
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)               # balanced classes
    ink = rng.uniform(0.6, 1.0, size=(n, 1, 1)).astype(np.float32)       # pen pressure
    kept = rng.random((n, height, width)) >= noise                        # broken strokes
    strokes = glyphs[y] * kept * ink                                      # (n, 7, 5)
    scale = max(1, size // 8)
    strokes = np.repeat(np.repeat(strokes, scale, axis=1), scale, axis=2)
    gh, gw = strokes.shape[1:]
    top = rng.integers(0, size - gh + 1, size=n)
    left = rng.integers(0, size - gw + 1, size=n)
    canvas = np.zeros((n, size, size), dtype=np.float32)
    rows = top[:, None, None] + np.arange(gh)[None, :, None]              # (n, gh, 1)
    cols = left[:, None, None] + np.arange(gw)[None, None, :]             # (n, 1, gw)
    canvas[np.arange(n)[:, None, None], rows, cols] = strokes
    canvas += (noise * rng.standard_normal(canvas.shape)).astype(np.float32)
    np.clip(canvas, 0.0, 1.0, out=canvas)
    return canvas.reshape(n, 1, size, size), y

# %% [markdown]
# ## Checks (not exported)
#
# Run this file to see the loader batch, shuffle reproducibly and the data sets come out with the
# right shapes. A small ASCII rendering shows what a digit looks like to the model.

# %%
def show_digit(image):
    """ASCII-art of one (size, size) image: darker characters for more ink."""
    shades = " .:-=+*#%@"
    idx = np.minimum((np.asarray(image) * len(shades)).astype(int), len(shades) - 1)
    return "\n".join("".join(shades[v] for v in row) for row in idx)


def test_unit_dataloader():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ds = TensorDataset(X, y)
    assert len(ds) == 10 and np.allclose(ds[3][0].data, [6, 7])
    loader = DataLoader(ds, batch_size=4)
    sizes = [len(b[1].data) for b in loader]
    assert sizes == [4, 4, 2] and len(loader) == 3
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2
    a = [b[1].data.tolist() for b in DataLoader(ds, batch_size=10, shuffle=True, seed=1)]
    b = [b[1].data.tolist() for b in DataLoader(ds, batch_size=10, shuffle=True, seed=1)]
    assert a == b and sorted(a[0]) == list(range(10)) and a[0] != list(range(10))
    print("TensorDataset / DataLoader: ok")


def test_unit_datasets():
    X, y = make_digits(100, size=8, seed=0)
    assert X.shape == (100, 1, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0 and np.bincount(y).tolist() == [10] * 10
    print(f"a digit {y[0]}:\n{show_digit(X[0, 0])}")
    X28, _ = make_digits(10, size=28, seed=0)
    assert X28.shape == (10, 1, 28, 28)
    Xs, ys = make_spirals(50, 3)
    assert Xs.shape == (150, 2) and ys.tolist() == [0] * 50 + [1] * 50 + [2] * 50
    Xtr, Xte, ytr, yte = train_test_split(Xs, ys, test_size=0.2, seed=0)
    assert len(Xtr) == 120 and len(Xte) == 30
    print("make_digits / make_spirals / train_test_split: ok")


# %%
if __name__ == "__main__":
    test_unit_dataloader()
    test_unit_datasets()
    print("dataloader: all checks passed")
