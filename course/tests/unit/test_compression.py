"""Unit tests for module 14 (compression): pruning masks and size accounting, int8 quantisation
round trips (per-tensor, per-channel, affine), the int8 matmul, the distillation loss (gradcheck) and
the size/accuracy reports on a small trained model."""
import numpy as np
import pytest

from tinytorch import (MLP, Adam, Conv2d, Flatten, Linear, ReLU, Sequential, Tensor, cross_entropy,
                       gradcheck, make_digits, train_test_split)
from tinytorch.core.compression import (
    CompressionReport, DistillationKLFunction, QuantizedTensor, apply_masks, channel_mask, compressible_weights,
    dequantize, distill, distillation_loss, evaluate_accuracy, fine_tune, format_reports, int8_matmul,
    magnitude_mask, model_size_bytes, prune_and_report, prune_model, pruned_size_bytes, quantize_and_report,
    quantize_int8, quantize_model, quantized_size_bytes, sparsity)


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained for a few epochs on the digits set (shared by the report tests)."""
    X, y = make_digits(n_samples=800, seed=0)
    X = X.reshape(len(X), -1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, seed=0)
    np.random.seed(0)
    model = MLP([64, 64, 10])
    opt = Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(8):
        order = rng.permutation(len(Xtr))
        for i in range(0, len(Xtr), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            cross_entropy(model(Tensor(Xtr[idx])), ytr[idx]).backward()
            opt.step()
    return model, Xtr, ytr, Xte, yte


def test_magnitude_mask_removes_smallest():
    w = np.array([[0.1, -5.0], [0.01, 2.0], [-0.5, 0.0]], dtype=np.float32)
    mask = magnitude_mask(w, 0.5)
    assert mask.sum() == 3
    np.testing.assert_array_equal(mask, [[False, True], [False, True], [True, False]])
    assert magnitude_mask(w, 0.0).all() and not magnitude_mask(w, 1.0).any()
    with pytest.raises(ValueError):
        magnitude_mask(w, 1.5)


def test_channel_mask_removes_whole_channels():
    w = np.array([[1.0, 0.1, 3.0], [1.0, 0.1, -3.0]], dtype=np.float32)   # Linear (in=2, out=3)
    mask = channel_mask(w, 1 / 3, axis=1)
    np.testing.assert_array_equal(mask, [[True, False, True], [True, False, True]])
    conv = np.ones((4, 2, 3, 3), dtype=np.float32) * np.arange(1, 5).reshape(4, 1, 1, 1)
    mask = channel_mask(conv, 0.5, axis=0)
    assert not mask[:2].any() and mask[2:].all()


def test_compressible_weights_finds_linear_and_conv():
    np.random.seed(0)
    model = Sequential(Conv2d(1, 2, 3), ReLU(), Flatten(), Linear(2 * 4 * 4, 3))
    found = compressible_weights(model)
    assert [axis for _, _, axis, _ in found] == [0, 1]
    assert [w.shape for _, w, _, _ in found] == [(2, 1, 3, 3), (32, 3)]
    names = dict(model.named_parameters())
    assert all(names[name] is w for name, w, _, _ in found)


def test_prune_model_unstructured_and_size():
    np.random.seed(0)
    model = MLP([20, 30, 5])
    dense = model_size_bytes(model)
    masks = prune_model(model, 0.5)
    assert sparsity(model) == pytest.approx(0.5, abs=0.01)
    size = pruned_size_bytes(model, masks)
    weights = 20 * 30 + 30 * 5
    assert size == dense - 4 * weights // 2 + (20 * 30 + 7) // 8 + (30 * 5 + 7) // 8
    assert dense / size > 1.8


def test_prune_model_structured_keeps_output_layer():
    np.random.seed(0)
    model = MLP([8, 10, 4])
    masks = prune_model(model, 0.3, structured=True)
    first, last = [w for _, w, _, _ in compressible_weights(model)]
    dropped = ~first.data.any(axis=0)
    assert dropped.sum() == 3                                          # 3 of 10 hidden units removed
    assert np.all(model[0].bias.data[dropped] == 0)                    # with their biases
    assert last.data.any(axis=0).all()                                 # every class output survives
    assert pruned_size_bytes(model, masks, structured=True) < model_size_bytes(model)


def test_apply_masks_after_update():
    np.random.seed(0)
    model = MLP([6, 4, 2])
    masks = prune_model(model, 0.5)
    for p in model.parameters():
        p.data += 1.0
    apply_masks(model, masks)
    assert sparsity(model) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_int8_symmetric_roundtrip(per_channel):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((12, 7)) * np.linspace(0.01, 3, 7)).astype(np.float32)
    qt = quantize_int8(w, per_channel=per_channel, axis=1)
    assert isinstance(qt, QuantizedTensor) and qt.q.dtype == np.int8 and qt.shape == w.shape
    assert np.abs(qt.q).max() <= 127
    assert qt.scale.shape == ((1, 7) if per_channel else (1, 1))
    err = np.abs(dequantize(qt) - w)
    assert np.all(err <= qt.scale / 2 + 1e-6)
    assert qt.nbytes == w.size + qt.scale.nbytes


def test_per_channel_is_more_accurate_with_uneven_channels():
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((32, 8)) * np.array([100, 1, 1, 1, 0.1, 0.1, 0.01, 1])).astype(np.float32)
    e_tensor = np.abs(quantize_int8(w).dequantize() - w).mean()
    e_channel = np.abs(quantize_int8(w, per_channel=True, axis=1).dequantize() - w).mean()
    assert e_channel < e_tensor / 3


def test_quantize_affine_and_zero_preserved():
    x = np.array([0.0, 0.5, 1.0, 2.0, 6.0], dtype=np.float32)   # ReLU-like: all >= 0
    qt = quantize_int8(x, symmetric=False)
    assert qt.q.min() >= -128 and qt.q.max() <= 127
    np.testing.assert_allclose(qt.dequantize(), x, atol=float(qt.scale.max()) / 2 + 1e-6)
    assert qt.dequantize()[0] == 0.0
    sym = quantize_int8(np.array([0.0, -1.0, 3.0]))
    assert sym.dequantize()[0] == 0.0
    assert quantize_int8(np.zeros(4)).dequantize().tolist() == [0.0] * 4


def test_int8_matmul_close_to_float():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 32)).astype(np.float32)
    w = rng.standard_normal((32, 8)).astype(np.float32)
    ref = x @ w
    for per_channel in (False, True):
        out = int8_matmul(x, quantize_int8(w, per_channel=per_channel, axis=1))
        assert out.dtype == np.float32
        assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()
    with pytest.raises(ValueError):
        int8_matmul(x, quantize_int8(w, symmetric=False))


def test_quantize_model_in_place():
    np.random.seed(0)
    model = MLP([10, 8, 3])
    before = [p.data.copy() for _, p, _, _ in compressible_weights(model)]
    stored = quantize_model(model, per_channel=True)
    assert len(stored) == 2
    for (_, p, _, _), old, qt in zip(compressible_weights(model), before, stored.values()):
        np.testing.assert_array_equal(p.data, qt.dequantize())
        assert np.abs(p.data - old).max() <= qt.scale.max() / 2 + 1e-6
    weights = sum(w.data.size for _, w, _, _ in compressible_weights(model))
    scales = sum(qt.scale.nbytes for qt in stored.values())
    assert quantized_size_bytes(model, stored) == model_size_bytes(model) - 3 * weights + scales


def test_gradcheck_distillation_kl():
    rng = np.random.default_rng(0)
    s = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    t = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    assert gradcheck(lambda s, t: DistillationKLFunction.apply(s, t, temperature=3.0), [s, t])
    assert gradcheck(lambda s, t: DistillationKLFunction.apply(s, t, temperature=0.7), [s, t])


def test_gradcheck_distillation_loss_with_targets():
    rng = np.random.default_rng(1)
    s = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    teacher = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    assert gradcheck(lambda s: distillation_loss(s, teacher, y, temperature=2.0, alpha=0.3), [s])


def test_distillation_loss_values():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=np.float32)
    same = distillation_loss(Tensor(z), z, temperature=3.0)
    assert abs(float(same.data)) < 1e-6                      # KL(p || p) = 0
    hard_only = distillation_loss(Tensor(z), z * 0, np.array([1, 2]), alpha=0.0)
    assert float(hard_only.data) == pytest.approx(float(cross_entropy(Tensor(z), np.array([1, 2])).data))
    teacher = Tensor(np.ones_like(z), requires_grad=True)
    student = Tensor(z, requires_grad=True)
    distillation_loss(student, teacher, temperature=2.0).backward()
    assert student.grad is not None and teacher.grad is None   # the teacher is a constant
    with pytest.raises(ValueError):
        distillation_loss(Tensor(z), z, alpha=2.0)


def test_reports_on_small_model(trained):
    model, Xtr, ytr, Xte, yte = trained
    base = evaluate_accuracy(model, Xte, yte)
    assert base > 0.85
    _, r50 = prune_and_report(model, Xte, yte, 0.5)
    assert isinstance(r50, CompressionReport)
    assert r50.accuracy_before == base and r50.size_reduction > 1.8
    assert r50.accuracy_change > -0.15
    assert evaluate_accuracy(model, Xte, yte) == base          # the original model is untouched
    _, rq = quantize_and_report(model, Xte, yte, per_channel=True)
    assert rq.size_reduction > 3.5 and abs(rq.accuracy_change) < 0.03
    _, rft = prune_and_report(model, Xte, yte, 0.8, fine_tune_data=(Xtr, ytr), fine_tune_epochs=2)
    assert rft.accuracy_after >= rft.details["accuracy_without_fine_tuning"]
    assert rft.details["sparsity"] == pytest.approx(0.8, abs=0.01)
    table = format_reports([r50, rq, rft])
    assert "int8 per-channel" in table and "x" in table and str(r50)


def test_distill_reports_student(trained):
    model, Xtr, ytr, Xte, yte = trained
    np.random.seed(3)
    student, report = distill(model, MLP([64, 16, 10]), Xtr, ytr, Xte, yte, epochs=12)
    assert report.size_reduction > 3.5
    assert report.accuracy_after > 0.6
    assert report.accuracy_before == evaluate_accuracy(model, Xte, yte)
    losses = report.details["loss"]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_fine_tune_keeps_zeros(trained):
    import copy
    model, Xtr, ytr, _, _ = trained
    m = copy.deepcopy(model)
    masks = prune_model(m, 0.6)
    fine_tune(m, masks, Xtr[:128], ytr[:128], epochs=1)
    for name, p in m.named_parameters():
        if name in masks:
            assert np.all(p.data[~masks[name]] == 0)


def test_distillation_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    s = rng.standard_normal((6, 4)).astype(np.float32)
    t = rng.standard_normal((6, 4)).astype(np.float32)
    T = 3.0
    st = torch.tensor(s, requires_grad=True)
    ref = torch.nn.functional.kl_div(torch.log_softmax(st / T, dim=1), torch.softmax(torch.from_numpy(t) / T, dim=1),
                                     reduction="batchmean") * T * T
    ref.backward()
    mine = Tensor(s, requires_grad=True)
    loss = distillation_loss(mine, t, temperature=T)
    loss.backward()
    assert abs(float(loss.data) - ref.item()) < 1e-5
    np.testing.assert_allclose(mine.grad.data, st.grad.numpy(), atol=1e-5)
