# Module 07 (optimizers): how parameters learn from their gradients.
# SGD (momentum, Nesterov, weight decay), Adam and AdamW (decoupled weight decay), the learning-rate
# schedules StepLR and CosineAnnealingLR, and clip_grad_norm. Every update is an in-place, vectorised
# NumPy operation on `p.data` (float32), so a training step costs a handful of array operations per
# parameter and no Python loop over elements.
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
# # Module 07: Optimizers
#
# Autograd (module 02) tells us, for every parameter `p`, the gradient `p.grad` = d loss / d p:
# the direction in which the loss grows fastest. An *optimizer* turns that gradient into a step.
# The simplest rule is gradient descent, `p <- p - lr * grad`; everything in this module is a
# refinement of it that makes training faster or more stable:
#
# * **Momentum** remembers past gradients, so the step keeps going in directions that are
#   consistently downhill and averages out directions that zig-zag.
# * **Adam** keeps, per parameter element, running averages of the gradient and of its square,
#   and divides one by the root of the other: every element gets its own, automatically scaled,
#   step size. It is the default choice for most networks.
# * **Weight decay** pulls weights towards zero (a regulariser). AdamW shows that *how* you add it
#   matters: adding it to the gradient (L2) interacts with Adam's scaling; applying it directly to
#   the weights ("decoupled") does not.
# * **Learning-rate schedules** lower the step size as training proceeds: big steps to make
#   progress early, small steps to settle into a minimum late.
# * **Gradient clipping** caps the size of one step when a bad batch produces a huge gradient.
#
# Two systems decisions run through the whole module:
#
# 1. **Updates are in place on `p.data`.** The model's layers hold references to their parameter
#    Tensors; we change the numbers inside them (`p.data -= ...`) instead of building new Tensors.
#    No graph is recorded: an update is not something we differentiate through.
# 2. **Whole-array NumPy, float32.** A Python loop over the elements of a weight matrix would be
#    ~100x slower than one vectorised expression. The optimizer state (momentum, Adam moments) is
#    float32 like the parameters, so it costs the same memory again: Adam needs 2 extra copies of
#    every parameter, SGD with momentum 1.

# %%
#| default_exp core.optimizers

# %%
#| export
import math

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## The Optimizer base class
#
# Every optimizer holds the list of parameters it updates, a learning rate `lr` (a plain attribute,
# so a schedule or you can change it at any time), and a `state` dict of per-parameter buffers,
# keyed by the position of the parameter in the list. Two operations are shared:
#
# * `zero_grad()` forgets the gradients of the previous step. Autograd *accumulates* gradients
#   (`grad += ...`), which is what you want inside one backward pass, but not across steps.
#   Setting `p.grad = None` is cheaper than filling it with zeros and lets us skip parameters
#   that received no gradient at all.
# * `_grad(p)` returns the gradient as a float32 NumPy array (or None), whatever form it has.
#
# **Saving an optimizer.** To resume training where it stopped, the weights are not enough: Adam's running
# moments `m`, `v` and its step count `t` (or SGD's velocity) are part of the training state. Restart
# Adam from zero and its first steps are full-size `lr * sign(g)` steps again, which can throw a
# half-trained model off course. `state_dict()` returns that state as a flat `{name: np.ndarray}` (the
# same form as `Module.state_dict()`, so both fit in one `.npz` file without pickle):
# `"step_count"`, `"lr"` (a schedule may have changed it) and `"state.<i>.<buffer>"` for buffer
# `<buffer>` of parameter number `i`. Hyperparameters such as `betas` are not saved: they are
# arguments of the constructor, which builds the optimizer before `load_state_dict()` fills it.

# %%
#| export
def _as_param_list(params):
    """Accept a Module's parameters(), any iterable of Tensors, or a single Tensor."""
    if isinstance(params, Tensor):
        params = [params]
    params = list(params)
    unique, seen = [], set()
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"optimizer parameters must be Tensors, got {type(p).__name__}")
        if id(p) not in seen:           # a weight shared by two layers is updated once
            seen.add(id(p))
            unique.append(p)
    if not unique:
        raise ValueError("optimizer got an empty parameter list (did you pass model.parameters()?)")
    return unique


def _grad_array(p):
    """The gradient of `p` as a NumPy array in p's dtype, or None when p has no gradient."""
    g = p.grad
    if g is None:
        return None
    g = g.data if isinstance(g, Tensor) else np.asarray(g)
    if g.dtype != p.data.dtype:
        g = g.astype(p.data.dtype)
    return g


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state."""

    def __init__(self, params, lr):
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.params = _as_param_list(params)
        self.lr = float(lr)
        self.state = {}          # index of the parameter -> dict of buffers
        self.step_count = 0      # number of step() calls so far

    def zero_grad(self):
        """Drop the gradients of every parameter (they are recomputed by the next backward)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient. Subclasses implement `_update`."""
        self.step_count += 1
        for i, p in enumerate(self.params):
            g = _grad_array(p)
            if g is None:
                continue
            self._update(i, p, g)

    def _update(self, index, p, g):
        raise NotImplementedError("an Optimizer subclass must implement _update(index, p, grad)")

    def _buffer(self, index, name, like):
        """A float32 (parameter-dtype) zero buffer stored in the state, created on first use."""
        slot = self.state.setdefault(index, {})
        if name not in slot:
            slot[name] = np.zeros_like(like)
        return slot[name]

    def state_dict(self):
        """{name: np.ndarray}: copies of step_count, lr and every per-parameter buffer (see above)."""
        state = {"step_count": np.array(self.step_count), "lr": np.array(self.lr)}
        for index, slot in sorted(self.state.items()):
            for name, value in slot.items():
                state[f"state.{index}.{name}"] = np.array(value)   # a copy; a scalar (Adam's t) becomes 0-d
        return state

    def load_state_dict(self, state):
        """Restore what state_dict() returned, into an optimizer built over the same parameters."""
        restored = {}
        for key, value in state.items():
            if key in ("step_count", "lr"):
                continue
            kind, index, name = (key.split(".", 2) + ["", ""])[:3]
            if kind != "state" or not index.isdigit() or not name:
                raise KeyError(f"load_state_dict: unexpected key {key!r}")
            index = int(index)
            if index >= len(self.params):
                raise ValueError(f"load_state_dict: {key!r} is for parameter {index}, "
                                 f"but this optimizer has {len(self.params)}")
            value = np.asarray(value)
            if value.ndim == 0:                  # a counter such as Adam's per-parameter t
                value = value.item()
            elif value.shape != self.params[index].data.shape:
                raise ValueError(f"load_state_dict: {key!r} has shape {value.shape}, "
                                 f"parameter {index} has {self.params[index].data.shape}")
            else:                                # buffers keep the parameter's dtype (float32)
                value = value.astype(self.params[index].data.dtype, copy=True)
            restored.setdefault(index, {})[name] = value
        self.state = restored                    # replace, never merge: stale buffers would leak in
        self.step_count = int(np.asarray(state.get("step_count", 0)))
        if "lr" in state:
            self.lr = float(np.asarray(state["lr"]))

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, params={len(self.params)})"

# %% [markdown]
# ## SGD, with momentum and Nesterov
#
# Plain SGD: `p <- p - lr * g`. With `weight_decay` (L2 regularisation) the gradient of
# `wd/2 * ||p||^2`, i.e. `wd * p`, is added to `g` first.
#
# **Momentum** keeps a velocity buffer `v` (PyTorch's convention, no dampening):
#
#     v <- momentum * v + g
#     p <- p - lr * v
#
# `v` is a running sum of past gradients with geometrically decaying weights: along a direction
# where the gradient keeps its sign the effective step grows to `lr / (1 - momentum)` (10x for 0.9),
# while components that flip sign every step cancel out.
#
# **Nesterov momentum** "looks ahead": it steps with `g + momentum * v` instead of `v`, i.e. it uses
# the gradient plus the velocity it is *about* to have. In practice it overshoots less.
#
# Notice the in-place operators: `v *= momentum; v += g` reuse `v`'s memory, and `p.data -= ...`
# writes into the parameter's own array.

# %%
#| export
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError("momentum and weight_decay must be >= 0")
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

    def _update(self, index, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p.data           # new array: never modify p.grad itself
        if self.momentum:
            v = self._buffer(index, "velocity", p.data)
            v *= self.momentum
            v += g
            g = g + self.momentum * v if self.nesterov else v
        p.data -= self.lr * g

# %% [markdown]
# ## Adam
#
# Adam (Kingma & Ba, 2015) keeps two running averages per parameter element:
#
#     m <- b1 * m + (1 - b1) * g          (first moment: a smoothed gradient, like momentum)
#     v <- b2 * v + (1 - b2) * g^2        (second moment: how large the gradient typically is)
#
# and steps by `lr * m_hat / (sqrt(v_hat) + eps)`. Dividing by `sqrt(v)` makes the step size
# roughly `lr` for every element no matter how large or small its gradients are, which is why Adam
# needs little tuning.
#
# `m` and `v` start at zero, so early on they are biased towards zero (after one step `m` is only
# `(1 - b1) * g` = `0.1 * g`). The *bias correction* divides by `1 - b^t`, which is exactly the total
# weight the average has accumulated after `t` steps. We fold both corrections into one scalar step
# size, so the per-element work is a few array operations.
#
# `weight_decay` here is classic L2: added to the gradient, like PyTorch's `Adam`.

# %%
#| export
class Adam(Optimizer):
    """Adam: per-element adaptive step sizes from running moments of the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError("weight_decay must be >= 0")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._step_constants = {}                   # (t, dtype) -> the scalars of that step

    def _decay(self, p, g):
        """L2 weight decay: part of the gradient (AdamW overrides this)."""
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        return g

    def step(self):
        self._step_constants = {}                   # filled by _constants, for this step only
        super().step()

    def _constants(self, t, dtype):
        """The numbers of step t that are the same for every parameter: 1 - b1, 1 - b2, eps_hat and
        step_size (see _update), as 0-d arrays of the parameters' dtype, computed once per step."""
        key = (t, dtype)          # parameters that missed a step (no gradient) have a smaller t
        if key not in self._step_constants:
            b1, b2 = self.betas
            bias1 = 1.0 - b1 ** t
            root_bias2 = math.sqrt(1.0 - b2 ** t)
            # A 0-d array of the parameter's dtype, not a Python float: NumPy converts a Python number
            # anew on every array operation, which costs about as long as adding two small arrays.
            # The value is the same (a float32 array rounds the Python float to float32 either way).
            self._step_constants[key] = tuple(
                np.array(c, dtype=dtype) for c in (1.0 - b1, 1.0 - b2, self.eps * root_bias2,
                                                   self.lr * root_bias2 / bias1))
        return self._step_constants[key]

    def _update(self, index, p, g):
        g = self._decay(p, g)
        slot = self.state.setdefault(index, {})
        slot["t"] = slot.get("t", 0) + 1            # per-parameter step count (for bias correction)
        one_minus_b1, one_minus_b2, eps_hat, step_size = self._constants(slot["t"], p.data.dtype)
        m = self._buffer(index, "m", p.data)
        v = self._buffer(index, "v", p.data)
        # One scratch array serves every intermediate below (written with `out=`), so an update
        # allocates one parameter-sized array instead of six; for small layers the time of a step
        # is mostly these calls, for large ones mostly memory traffic.
        # Each moment is updated as `m += (1 - b1) * (g - m)`, the same average as
        # `b1 m + (1 - b1) g`: one array-times-number operation instead of two.
        scratch = np.subtract(g, m)
        scratch *= one_minus_b1
        m += scratch                                # m = b1 m + (1 - b1) g
        np.multiply(g, g, out=scratch)
        scratch -= v
        scratch *= one_minus_b2
        v += scratch                                # v = b2 v + (1 - b2) g^2
        # p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). Multiplying numerator and
        # denominator by sqrt(1 - b2^t) moves both corrections onto two scalars (the rearrangement
        # of Kingma & Ba, section 2): p -= step_size * m / (sqrt(v) + eps_hat), with
        # eps_hat = eps * sqrt(1 - b2^t) and step_size = lr * sqrt(1 - b2^t) / (1 - b1^t) (_constants),
        # one array operation fewer per parameter than dividing sqrt(v) by its correction.
        denom = np.sqrt(v, out=scratch)
        denom += eps_hat
        step = np.divide(m, denom, out=scratch)
        step *= step_size
        p.data -= step

# %% [markdown]
# ## AdamW: decoupled weight decay
#
# With L2 decay inside Adam, the decay term `wd * p` is divided by `sqrt(v)` like the rest of the
# gradient, so weights with large gradients are barely regularised. Loshchilov & Hutter (2019)
# proposed to *decouple* it: shrink the weights directly, then take a plain Adam step.
#
#     p <- p * (1 - lr * wd)
#     p <- p - lr * m_hat / (sqrt(v_hat) + eps)
#
# This is the optimizer used to train most transformers. The only change from Adam is `_decay`.

# %%
#| export
class AdamW(Adam):
    """Adam with decoupled weight decay (the decay does not pass through the moment estimates)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, p, g):
        if self.weight_decay:
            p.data *= 1.0 - self.lr * self.weight_decay
        return g

# %% [markdown]
# ## Learning-rate schedules
#
# A schedule owns an optimizer and rewrites its `lr` each time you call `scheduler.step()`
# (once per epoch, by convention). It remembers the optimizer's initial rate as `base_lr` and
# computes the new one from a closed formula of the epoch counter, so it never drifts.
#
# * `StepLR(opt, step_size, gamma)`: multiply by `gamma` every `step_size` epochs,
#   `lr = base_lr * gamma ** (epoch // step_size)`.
# * `CosineAnnealingLR(opt, T_max, eta_min)`: follow half a cosine from `base_lr` down to `eta_min`
#   over `T_max` epochs, `lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`:
#   slow decay at first, fast in the middle, gentle landing at the end.

# %%
#| export
class LRScheduler:
    """Base class: `step()` advances the epoch counter and writes `get_lr()` into the optimizer."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a scheduler needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = float(self.get_lr())
        return self.optimizer.lr

    def get_last_lr(self):
        return self.optimizer.lr


class StepLR(LRScheduler):
    """Decay the learning rate by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def get_lr(self):
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from its initial value to `eta_min` along a half cosine."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        if T_max <= 0:
            raise ValueError(f"T_max must be > 0, got {T_max}")
        self.T_max = T_max
        self.eta_min = float(eta_min)

    def get_lr(self):
        progress = self.last_epoch / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0

# %% [markdown]
# ## Gradient clipping
#
# Occasionally one batch produces a gradient far larger than usual (an outlier, a sharp cliff in the
# loss surface, an RNN unrolled over many steps). One such step can throw the weights far away.
# `clip_grad_norm` computes the *global* L2 norm over all gradients, as if they were one long vector,
# and, if it exceeds `max_norm`, scales every gradient by the same factor `max_norm / norm`. The
# direction of the step is kept; only its length is capped. Call it between `loss.backward()` and
# `optimizer.step()`. It returns the norm before clipping, a useful number to log.

# %%
#| export
def clip_grad_norm(params, max_norm):
    """Scale all gradients in place so that their global L2 norm is at most `max_norm`.

    Returns the total norm before clipping, as a Python float."""
    params = [p for p in ([params] if isinstance(params, Tensor) else params) if p.grad is not None]
    if not params:
        return 0.0
    # sum of squares in float64: thousands of float32 squares add up without losing digits
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in
                          (_grad_array(p).astype(np.float64) for p in params)))
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            # a new array, not `*=`: autograd may hand the same gradient array to several tensors
            grad = p.grad
            if isinstance(grad, Tensor):
                grad.data = (grad.data * coef).astype(grad.data.dtype, copy=False)
            else:
                p.grad = np.asarray(grad) * coef
    return total

# %% [markdown]
# ## Checks
#
# The cells below are not exported. They minimise simple functions with each optimizer, so you can
# see the update rules work; the full test-suite is `course/tests/unit/test_optimizers.py`.

# %%
def _quadratic_param(start):
    return Tensor(np.array(start, dtype=np.float32), requires_grad=True)


def _set_grad(p, grad):
    p.grad = Tensor(np.asarray(grad, dtype=np.float32))


def test_unit_sgd():
    p = _quadratic_param([1.0, -2.0])
    array = p.data
    opt = SGD([p], lr=0.1)
    _set_grad(p, [1.0, 1.0])
    opt.step()
    assert np.allclose(p.data, [0.9, -2.1]) and p.data is array and p.data.dtype == np.float32
    # momentum: the second identical gradient gives a step of lr * (1 + momentum)
    p = _quadratic_param([0.0])
    opt = SGD([p], lr=1.0, momentum=0.9)
    for _ in range(2):
        _set_grad(p, [1.0])
        opt.step()
    assert np.allclose(p.data, [-(1.0 + 1.9)])
    print("SGD: ok")


def test_unit_adam_minimises():
    # minimise f(p) = sum((p - 3)^2), gradient 2 (p - 3), with hand-fed gradients
    for cls in (SGD, Adam, AdamW):
        p = _quadratic_param([0.0, 10.0, -5.0])
        opt = cls([p], lr=0.1) if cls is SGD else cls([p], lr=0.2, weight_decay=0.0)
        for _ in range(300):
            opt.zero_grad()
            _set_grad(p, 2.0 * (p.data - 3.0))
            opt.step()
        assert np.allclose(p.data, 3.0, atol=1e-2), (cls.__name__, p.data)
    print("SGD / Adam / AdamW minimise a quadratic: ok")


def test_unit_state_dict_resumes_adam():
    # two steps, save, two more -- equals four uninterrupted steps from the same start
    grads = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0], [2.0, 0.0]]
    p, q = _quadratic_param([1.0, 1.0]), _quadratic_param([1.0, 1.0])
    straight = Adam([p], lr=0.1)
    for g in grads:
        _set_grad(p, g)
        straight.step()
    first = Adam([q], lr=0.1)
    for g in grads[:2]:
        _set_grad(q, g)
        first.step()
    resumed = Adam([q], lr=0.1)
    resumed.load_state_dict(first.state_dict())
    for g in grads[2:]:
        _set_grad(q, g)
        resumed.step()
    assert np.array_equal(p.data, q.data) and resumed.step_count == 4
    print("Adam state_dict resumes training exactly: ok")


def test_unit_schedules_and_clipping():
    p = _quadratic_param([0.0])
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = [sched.step() for _ in range(5)]
    assert np.allclose(lrs, [1.0, 0.5, 0.5, 0.25, 0.25])
    opt = SGD([p], lr=1.0)
    cos = CosineAnnealingLR(opt, T_max=4)
    assert np.allclose([cos.step() for _ in range(4)], [0.853553, 0.5, 0.146447, 0.0], atol=1e-6)
    q = _quadratic_param([0.0, 0.0])
    _set_grad(q, [3.0, 4.0])
    norm = clip_grad_norm([q], max_norm=1.0)
    assert abs(norm - 5.0) < 1e-6 and np.allclose(q.grad.data, [0.6, 0.8], atol=1e-5)
    print("StepLR / CosineAnnealingLR / clip_grad_norm: ok")


# %%
if __name__ == "__main__":
    test_unit_sgd()
    test_unit_adam_minimises()
    test_unit_state_dict_resumes_adam()
    test_unit_schedules_and_clipping()
    print("optimizers: all checks passed")
