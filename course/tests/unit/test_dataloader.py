"""Unit tests for module 08 (tinytorch.core.dataloader): Dataset / TensorDataset / DataLoader
(batching, seeded shuffling, drop_last, dtypes), train_test_split, and the offline data sets
make_digits and make_spirals. No differentiable operation lives here, so no gradcheck."""
import numpy as np
import pytest

from tinytorch import (Tensor, Dataset, TensorDataset, DataLoader, train_test_split, make_digits,
                       make_spirals)
from tinytorch.core.dataloader import digit_glyphs


def small_dataset(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(X, y)


# ---- TensorDataset ---------------------------------------------------------------------------------
def test_tensor_dataset_items_and_dtypes():
    ds = small_dataset()
    assert len(ds) == 10 and isinstance(ds, Dataset)
    x, y = ds[4]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    np.testing.assert_array_equal(x.data, [12, 13, 14])
    assert int(y.data) == 4 and y.data.dtype == np.int64 and x.data.dtype == np.float32


def test_tensor_dataset_accepts_tensors_and_converts_float64():
    ds = TensorDataset(Tensor(np.ones((4, 2))), np.zeros(4, dtype=np.float64))
    assert ds.arrays[0].dtype == np.float32 and ds.arrays[1].dtype == np.float32


def test_tensor_dataset_length_mismatch():
    with pytest.raises(ValueError):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()


# ---- DataLoader ------------------------------------------------------------------------------------
def test_batches_in_order_without_shuffle():
    loader = DataLoader(small_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[1].data.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    xb, yb = batches[0]
    assert xb.shape == (4, 3) and xb.data.dtype == np.float32 and yb.data.dtype == np.int64


def test_drop_last():
    loader = DataLoader(small_dataset(), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(b[1].data) for b in loader] == [4, 4]
    assert len(DataLoader(small_dataset(3), batch_size=4, drop_last=True)) == 0
    assert list(DataLoader(small_dataset(3), batch_size=4, drop_last=True)) == []


def test_default_batch_size_is_32():
    loader = DataLoader(small_dataset(70))
    assert loader.batch_size == 32 and [len(b[0].data) for b in loader] == [32, 32, 6]


def epoch_labels(loader):
    return np.concatenate([b[1].data for b in loader]).tolist()


def test_seeded_shuffle_is_a_reproducible_permutation_that_changes_per_epoch():
    ds = small_dataset(50)
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
    first, second = epoch_labels(a), epoch_labels(a)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    assert first != second                                   # a new order every epoch
    assert [first, second] == [epoch_labels(b), epoch_labels(b)]   # ... the same sequence every run
    assert epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=7)) != first


def test_unseeded_shuffle_follows_numpy_global_seed():
    ds = small_dataset(30)
    np.random.seed(5)
    a = epoch_labels(DataLoader(ds, batch_size=7, shuffle=True))
    np.random.seed(5)
    b = epoch_labels(DataLoader(ds, batch_size=7, shuffle=True))
    assert a == b and sorted(a) == list(range(30))


def test_shuffle_keeps_features_and_labels_together():
    ds = small_dataset(40)
    for xb, yb in DataLoader(ds, batch_size=6, shuffle=True, seed=0):
        np.testing.assert_array_equal(xb.data[:, 0], yb.data * 3)


def test_tensor_dataset_uses_the_vectorised_fast_path():
    class Counting(TensorDataset):
        item_calls = 0

        def __getitem__(self, index):
            Counting.item_calls += 1
            return super().__getitem__(index)

    ds = Counting(np.zeros((100, 2), dtype=np.float32), np.zeros(100, dtype=np.int64))
    assert sum(len(b[0].data) for b in DataLoader(ds, batch_size=10, shuffle=True, seed=0)) == 100
    assert Counting.item_calls == 0                          # batches come from X[indices], not per item


def test_custom_dataset_generic_path():
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i

    batches = list(DataLoader(Squares(), batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][0].data, [[3, 9], [4, 16], [5, 25]])
    assert batches[2][1].data.tolist() == [6]


def test_plain_sequence_without_get_batch():
    class Plain:                                             # not a Dataset subclass: duck typing
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return (np.full(2, i, dtype=np.float32), i % 2)

    xb, yb = next(iter(DataLoader(Plain(), batch_size=4)))
    assert xb.shape == (4, 2) and yb.data.tolist() == [0, 1, 0, 1]


def test_invalid_batch_size():
    with pytest.raises(ValueError):
        DataLoader(small_dataset(), batch_size=0)


def test_abstract_dataset():
    with pytest.raises(NotImplementedError):
        len(Dataset())


# ---- train_test_split --------------------------------------------------------------------------------
def test_train_test_split_sizes_disjoint_and_deterministic():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50, dtype=np.int64)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    assert Xtr.shape == (40, 2) and Xte.shape == (10, 2) and len(ytr) == 40 and len(yte) == 10
    assert set(ytr.tolist()).isdisjoint(yte.tolist()) and len(set(ytr) | set(yte)) == 50
    np.testing.assert_array_equal(Xtr[:, 0], ytr * 2)      # rows stay paired
    again = train_test_split(X, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[3], yte)
    assert not np.array_equal(train_test_split(X, y, test_size=0.2, seed=1)[3], yte)
    assert len(train_test_split(X, y, test_size=7)[1]) == 7


def test_train_test_split_tensors_and_errors():
    parts = train_test_split(Tensor(np.ones((10, 2))), Tensor(np.arange(10)), test_size=0.3)
    assert all(isinstance(p, Tensor) for p in parts) and parts[1].shape == (3, 2)
    with pytest.raises(ValueError):
        train_test_split(np.ones((10, 2)), np.ones(9))
    with pytest.raises(ValueError):
        train_test_split(np.ones((10, 2)), np.ones(10), test_size=0.0)


# ---- data sets --------------------------------------------------------------------------------------
def test_spirals_shapes_and_structure():
    X, y = make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0)
    assert X.shape == (300, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    radius = np.sqrt((X ** 2).sum(axis=1))
    np.testing.assert_allclose(radius, np.tile(np.linspace(0, 1, 100), 3), atol=1e-6)
    X2, y2 = make_spirals(seed=0)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, make_spirals(seed=1)[0])
    assert make_spirals(n_per_class=20, n_classes=5)[0].shape == (100, 2)


def test_spirals_are_not_linearly_separable():
    """Least-squares linear classifier on one-hot targets stays far from perfect."""
    X, y = make_spirals(100, 3, seed=0)
    A = np.hstack([X, np.ones((len(X), 1), dtype=np.float32)])
    W = np.linalg.lstsq(A, np.eye(3)[y], rcond=None)[0]
    assert ((A @ W).argmax(1) == y).mean() < 0.7


def test_digits_shapes_range_and_balance():
    X, y = make_digits(n_samples=500, size=8, noise=0.1, seed=0)
    assert X.shape == (500, 1, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.bincount(y, minlength=10).tolist() == [50] * 10
    assert X.reshape(500, -1).sum(axis=1).min() > 3          # every image has ink


def test_digits_deterministic_and_seed_dependent():
    a = make_digits(100, seed=3)
    b = make_digits(100, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], make_digits(100, seed=4)[0])


def test_digits_without_noise_are_shifted_glyphs():
    X, y = make_digits(200, size=8, noise=0.0, seed=0)
    glyphs = digit_glyphs()
    assert glyphs.shape == (10, 7, 5)
    assert len({g.tobytes() for g in glyphs}) == 10          # ten distinct glyphs
    ink = X[:, 0] > 0
    for i in range(0, 200, 17):                              # the ink pattern is the glyph, somewhere
        rows, cols = np.nonzero(ink[i])
        top, left = rows.min(), cols.min()
        window = ink[i, top:top + 7, left:left + 5]
        pad = np.zeros((7, 5), dtype=bool)
        pad[:window.shape[0], :window.shape[1]] = window
        g = glyphs[y[i]].astype(bool)
        gtop, gleft = np.nonzero(g)[0].min(), np.nonzero(g)[1].min()
        shifted = np.zeros((7, 5), dtype=bool)
        shifted[:7 - gtop, :5 - gleft] = g[gtop:, gleft:]
        np.testing.assert_array_equal(pad, shifted)


def test_digits_positions_vary():
    X, _ = make_digits(300, noise=0.0, seed=0)
    ink = X[:, 0] > 0
    lefts = {int(np.nonzero(ink[i].any(axis=0))[0].min()) for i in range(300)}
    tops = {int(np.nonzero(ink[i].any(axis=1))[0].min()) for i in range(300)}
    assert len(lefts) >= 3 and len(tops) >= 2


def test_digits_size_28_and_errors():
    X, y = make_digits(50, size=28, seed=0)
    assert X.shape == (50, 1, 28, 28) and X.dtype == np.float32 and X.max() <= 1.0
    clean, _ = make_digits(20, size=28, noise=0.0, seed=0)
    rows = np.nonzero((clean[:, 0] > 0).any(axis=2))[1]
    assert np.ptp(rows) >= 15                                # glyphs are scaled up (21 pixels tall)
    assert make_digits(10, size=16)[0].shape == (10, 1, 16, 16)
    with pytest.raises(ValueError):
        make_digits(10, size=6)


def test_digits_nearest_template_is_not_perfect_but_far_above_chance():
    """Not trivial: matching against the centred templates fails often; shifts make it hard."""
    X, y = make_digits(1000, size=8, seed=0)
    glyphs = digit_glyphs()
    templates = np.zeros((10, 8, 8), dtype=np.float32)
    templates[:, :7, 1:6] = glyphs                           # one fixed position
    scores = X[:, 0].reshape(1000, -1) @ templates.reshape(10, -1).T
    acc = (scores.argmax(1) == y).mean()
    assert 0.15 < acc < 0.9
