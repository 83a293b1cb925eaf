"""Unit tests for module 07 (tinytorch.core.optimizers): SGD / Adam / AdamW update rules against
reference NumPy implementations (and PyTorch where installed), in-place float32 updates, learning-rate
schedules and gradient clipping. Optimizers contain no differentiable operation, so no gradcheck here."""
import math
import time

import numpy as np
import pytest

from tinytorch import Tensor, Linear, SGD, Adam, AdamW, StepLR, CosineAnnealingLR, clip_grad_norm
from tinytorch.core.optimizers import Optimizer, LRScheduler


def make_params(seed=0, shapes=((3, 4), (4,))):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]


def grad_sequence(params, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(p.shape).astype(np.float32) for p in params] for _ in range(steps)]


def run(opt, params, grads):
    for step_grads in grads:
        opt.zero_grad()
        for p, g in zip(params, step_grads):
            p.grad = Tensor(g.copy())
        opt.step()
    return [p.data.copy() for p in params]


# ---- reference implementations (float64, straight from the papers / PyTorch docs) ----------------
def ref_sgd(x0, grads, lr, momentum=0.0, nesterov=False, wd=0.0):
    xs = [x.astype(np.float64) for x in x0]
    bufs = [None] * len(xs)
    for step in grads:
        for i, g in enumerate(step):
            g = g.astype(np.float64) + wd * xs[i]
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            xs[i] = xs[i] - lr * g
    return xs


def ref_adam(x0, grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    xs = [x.astype(np.float64) for x in x0]
    m = [np.zeros_like(x) for x in xs]
    v = [np.zeros_like(x) for x in xs]
    for t, step in enumerate(grads, start=1):
        for i, g in enumerate(step):
            g = g.astype(np.float64)
            if decoupled:
                xs[i] = xs[i] * (1 - lr * wd)
            else:
                g = g + wd * xs[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat, vhat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            xs[i] = xs[i] - lr * mhat / (np.sqrt(vhat) + eps)
    return xs


SGD_CASES = [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True), dict(weight_decay=0.1),
             dict(momentum=0.5, nesterov=True, weight_decay=0.01)]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_reference(kwargs):
    params = make_params()
    x0 = [p.data.copy() for p in params]
    grads = grad_sequence(params, 6)
    got = run(SGD(params, lr=0.05, **kwargs), params, grads)
    want = ref_sgd(x0, grads, 0.05, kwargs.get("momentum", 0.0), kwargs.get("nesterov", False),
                   kwargs.get("weight_decay", 0.0))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", [(Adam, dict()), (Adam, dict(weight_decay=0.1)),
                                        (Adam, dict(betas=(0.8, 0.99), eps=1e-6)),
                                        (AdamW, dict()), (AdamW, dict(weight_decay=0.2))])
def test_adam_family_matches_reference(cls, kwargs):
    params = make_params(seed=2)
    x0 = [p.data.copy() for p in params]
    grads = grad_sequence(params, 8, seed=3)
    got = run(cls(params, lr=0.01, **kwargs), params, grads)
    b1, b2 = kwargs.get("betas", (0.9, 0.999))
    wd = kwargs.get("weight_decay", 0.01 if cls is AdamW else 0.0)
    want = ref_adam(x0, grads, 0.01, b1, b2, kwargs.get("eps", 1e-8), wd, decoupled=cls is AdamW)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_defaults_follow_the_contract():
    p = make_params()
    adam, adamw, sgd = Adam(p), AdamW(p), SGD(p, lr=0.1)
    assert adam.lr == 1e-3 and adam.betas == (0.9, 0.999) and adam.eps == 1e-8 and adam.weight_decay == 0
    assert adamw.weight_decay == 0.01 and isinstance(adamw, Optimizer)
    assert sgd.momentum == 0 and sgd.nesterov is False and sgd.weight_decay == 0


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda p: Adam(p, lr=0.1), lambda p: AdamW(p, lr=0.1)])
def test_updates_are_in_place_and_float32(make):
    params = make_params()
    arrays = [p.data for p in params]
    opt = make(params)
    run(opt, params, grad_sequence(params, 3))
    for p, a in zip(params, arrays):
        assert p.data is a, "the update must write into the parameter's own array"
        assert p.data.dtype == np.float32
    for slot in opt.state.values():
        for buf in slot.values():
            if isinstance(buf, np.ndarray):
                assert buf.dtype == np.float32


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1),
                                  lambda p: AdamW(p, lr=0.1)])
def test_state_dict_resumes_training_exactly(make):
    """Save after 3 steps, load into a fresh optimizer over other parameters with the same values,
    3 more steps: bit-identical to 6 uninterrupted steps (buffers, step counts and lr all restored)."""
    grads = grad_sequence(make_params(), 6)
    straight_params = make_params()
    run(make(straight_params), straight_params, grads)
    params = make_params()
    first = make(params)
    run(first, params, grads[:3])
    state = first.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values()) and state["step_count"] == 3
    first.lr = 123.0                                  # the saved state is a copy, not a view
    resumed = make(params)
    resumed.load_state_dict(state)
    assert resumed.lr == 0.1
    run(resumed, params, grads[3:])
    for a, b in zip(params, straight_params):
        assert np.array_equal(a.data, b.data)
    with pytest.raises(ValueError):
        make(params[:1]).load_state_dict(state)      # state for parameter 1, optimizer has one


def test_update_does_not_touch_the_gradient():
    (p,) = make_params(shapes=((5,),))
    g = np.ones(5, dtype=np.float32)
    p.grad = Tensor(g.copy())
    SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5).step()
    np.testing.assert_array_equal(p.grad.data, g)


def test_zero_grad_and_parameters_without_grad_are_skipped():
    a, b = make_params()
    before = b.data.copy()
    opt = Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(a.shape, dtype=np.float32))
    opt.step()
    np.testing.assert_array_equal(b.data, before)          # b had no gradient: untouched
    assert 1 not in opt.state
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_lr_is_settable():
    (p,) = make_params(shapes=((2,),))
    opt = SGD([p], lr=1.0)
    opt.lr = 0.25
    start = p.data.copy()
    p.grad = Tensor(np.ones(2, dtype=np.float32))
    opt.step()
    np.testing.assert_allclose(p.data, start - 0.25)


def test_weight_decay_semantics():
    # zero gradient: SGD's L2 decay and AdamW's decoupled decay both shrink p by exactly lr * wd * p
    (p,) = make_params(shapes=((4,),))
    start = p.data.copy()
    p.grad = Tensor(np.zeros(4, dtype=np.float32))
    SGD([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, start * (1 - 0.05), rtol=1e-6)
    (q,) = make_params(shapes=((4,),))
    start = q.data.copy()
    q.grad = Tensor(np.zeros(4, dtype=np.float32))
    AdamW([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, start * (1 - 0.05), rtol=1e-6)
    # Adam's L2 decay goes through the normalisation: with zero gradient every element moves by ~lr
    (r,) = make_params(shapes=((4,),))
    start = r.data.copy()
    r.grad = Tensor(np.zeros(4, dtype=np.float32))
    Adam([r], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(np.abs(r.data - start), 0.1, rtol=1e-4)


def test_momentum_accelerates_along_a_consistent_direction():
    (p,) = make_params(shapes=((1,),))
    p.data[...] = 0.0
    opt = SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad = Tensor(np.ones(1, dtype=np.float32))
        opt.step()
    np.testing.assert_allclose(p.data, [-0.1 * (1 + 1.9 + 2.71)], rtol=1e-6)


def test_invalid_arguments():
    p = make_params()
    with pytest.raises(ValueError):
        SGD(p, lr=0.1, nesterov=True)                      # Nesterov without momentum
    with pytest.raises(ValueError):
        SGD([], lr=0.1)
    with pytest.raises(ValueError):
        SGD(p, lr=-1.0)
    with pytest.raises(ValueError):
        Adam(p, betas=(1.0, 0.999))
    with pytest.raises(TypeError):
        SGD([np.zeros(3)], lr=0.1)


def test_accepts_generators_single_tensors_and_deduplicates():
    a, b = make_params()
    assert len(SGD((p for p in [a, b]), lr=0.1).params) == 2
    assert len(SGD(a, lr=0.1).params) == 1
    assert len(Adam([a, b, a]).params) == 2                 # a shared weight is updated once


def test_optimizers_minimise_a_real_model():
    """Linear regression through Linear + autograd: every optimizer drives the loss down."""
    rng = np.random.default_rng(0)
    X = Tensor(rng.standard_normal((64, 3)).astype(np.float32))
    w_true = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
    Y = Tensor(X.data @ w_true + 0.3)
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.05),
                 lambda ps: AdamW(ps, lr=0.05, weight_decay=0.0)):
        np.random.seed(0)
        model = Linear(3, 1)
        opt = make(model.parameters())
        losses = []
        for _ in range(100):
            err = model(X) - Y
            loss = (err * err).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 1e-2 * losses[0], (type(opt).__name__, losses[0], losses[-1])


def test_step_is_vectorised():
    """One million parameters: a step is a handful of array operations, far below a second."""
    p = Tensor(np.zeros((1000, 1000), dtype=np.float32), requires_grad=True)
    p.grad = Tensor(np.ones((1000, 1000), dtype=np.float32))
    for opt in (SGD([p], lr=0.1, momentum=0.9, nesterov=True), Adam([p]), AdamW([p])):
        opt.step()
        start = time.perf_counter()
        opt.step()
        assert time.perf_counter() - start < 0.5


# ---- schedules -------------------------------------------------------------------------------
def test_step_lr():
    opt = SGD(make_params(), lr=1.0)
    sched = StepLR(opt, step_size=3, gamma=0.1)
    assert isinstance(sched, LRScheduler)
    lrs = []
    for _ in range(7):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert sched.get_last_lr() == opt.lr


def test_cosine_annealing():
    opt = Adam(make_params(), lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    lrs = [sched.step() for _ in range(10)]
    want = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(1, 11)]
    np.testing.assert_allclose(lrs, want, rtol=1e-9)
    assert abs(opt.lr - 0.001) < 1e-12
    assert all(a > b for a, b in zip(lrs, lrs[1:]))        # monotone decay over one period


def test_scheduler_changes_the_step_size():
    (p,) = make_params(shapes=((1,),))
    p.data[...] = 0.0
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = Tensor(np.ones(1, dtype=np.float32))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [-(1 + 0.5 + 0.25)])


# ---- clipping --------------------------------------------------------------------------------
def test_clip_grad_norm_scales_globally():
    a, b = make_params(shapes=((2,), (1,)))
    a.grad = Tensor(np.array([3.0, 0.0], dtype=np.float32))
    b.grad = Tensor(np.array([4.0], dtype=np.float32))
    total = clip_grad_norm([a, b], max_norm=1.0)
    assert isinstance(total, float) and abs(total - 5.0) < 1e-6
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(b.grad.data, [0.8], atol=1e-6)
    assert a.grad.data.dtype == np.float32
    new_norm = math.sqrt(float((a.grad.data ** 2).sum() + (b.grad.data ** 2).sum()))
    assert new_norm <= 1.0 + 1e-5


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing():
    a, b = make_params(shapes=((2,), (2,)))
    a.grad = Tensor(np.array([0.3, 0.4], dtype=np.float32))
    total = clip_grad_norm([a, b], max_norm=1.0)             # b has no gradient
    assert abs(total - 0.5) < 1e-6 and b.grad is None
    np.testing.assert_allclose(a.grad.data, [0.3, 0.4])
    assert clip_grad_norm([b], max_norm=1.0) == 0.0


def test_clip_grad_norm_after_backward():
    np.random.seed(1)
    model = Linear(4, 3)
    x = Tensor(np.random.randn(8, 4).astype(np.float32) * 100)
    (model(x) * model(x)).sum().backward()
    total = clip_grad_norm(model.parameters(), max_norm=2.0)
    assert total > 2.0
    clipped = math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum()) for p in model.parameters()))
    assert abs(clipped - 2.0) < 1e-3


# ---- parity with PyTorch (skipped when torch is not installed) ----------------------------------
@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                         ("SGD", dict(lr=0.05, momentum=0.9)),
                                         ("Adam", dict(lr=0.01, weight_decay=0.05)),
                                         ("AdamW", dict(lr=0.01, weight_decay=0.1))])
def test_parity_with_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    params = make_params(seed=5)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    grads = grad_sequence(params, 10, seed=6)
    ours = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name](params, **kwargs)
    theirs = getattr(torch.optim, name)(tparams, **kwargs)
    ours_sched = CosineAnnealingLR(ours, T_max=10)
    theirs_sched = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=10)
    for step in grads:
        ours.zero_grad()
        theirs.zero_grad()
        for p, tp, g in zip(params, tparams, step):
            p.grad = Tensor(g.copy())
            tp.grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
        ours_sched.step()
        theirs_sched.step()
        assert abs(ours.lr - theirs.param_groups[0]["lr"]) < 1e-9
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_clip_parity_with_torch():
    torch = pytest.importorskip("torch")
    params = make_params(seed=7)
    grads = grad_sequence(params, 1, seed=8)[0]
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    for p, tp, g in zip(params, tparams, grads):
        p.grad = Tensor(g * 10)
        tp.grad = torch.tensor(g * 10)
    ours = clip_grad_norm(params, 1.5)
    theirs = float(torch.nn.utils.clip_grad_norm_(tparams, 1.5))
    assert abs(ours - theirs) < 1e-4 * theirs
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-5, atol=1e-6)
