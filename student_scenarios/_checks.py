"""Shared by the student scenarios: checks that tell a broken model from a working one even when the broken
one still learns its task.

* `check_eval_is_deterministic`: with dropout in the model, two forward passes in eval mode must be
  identical and two in train mode must differ (dropout left on at test time makes every prediction
  random yet a classifier may still score well, so accuracy alone does not catch it).
* `check_optimizer_steps`: a few SGD (momentum) and Adam steps on the scenario's own model, each compared
  with the same update computed by hand in NumPy (float64) from the gradients the course computed -- so
  only the optimizer is under test, to a tolerance far below any real mistake (a wrong Adam bias
  correction is off by tens of percent; float32 rounding is ~1e-7 relative).
* `checksum`: the sum and the sum of squares of a model's output on a fixed batch -- two numbers that change
  when anything in the forward pass changes. Scenarios report them under "behaviour" in their TITO_RESULT
  line, beside their accuracy and final loss; `tinytorch-verifier verify --baseline REF` compares them with the release.

Failure messages name the course module that defines the misbehaving class (`tinytorch.core.layers`),
which the verifier uses to blame the right module. Copied beside each scenario by the verifier.
"""
import numpy as np
from _roles import home_of


def _array(out):
    return np.array(out.data if hasattr(out, "data") else out)


def check_eval_is_deterministic(model, forward, dropout):
    """`forward()` runs the model on a fixed batch; `dropout` is a Dropout layer inside `model`.
    Returns the largest train-mode difference (a figure for the report)."""
    where = "%s.%s" % (home_of(dropout), type(dropout).__name__)
    was_training = model.training
    model.eval()
    first, second = _array(forward()), _array(forward())
    assert np.array_equal(first, second), (
        "eval mode is not deterministic: two forward passes differ by up to %.3g with dropout in the model; "
        "dropout must be the identity in eval mode (%s)" % (float(np.max(np.abs(first - second))), where))
    model.train()
    first, second = _array(forward()), _array(forward())
    train_difference = float(np.max(np.abs(first - second)))
    assert train_difference > 0, "in train mode dropout changed nothing: two forward passes are identical (%s)" % where
    model.train(was_training)
    return train_difference


def checksum(output):
    """{"sum", "sum_sq"} of `output` in float64: a fingerprint of one forward pass."""
    values = _array(output).astype(np.float64)
    return {"sum": float("%.12g" % values.sum()), "sum_sq": float("%.12g" % (values * values).sum())}


def _sgd_reference(lr, momentum):
    velocity = {}

    def update(i, p, g):
        velocity[i] = momentum * velocity.get(i, 0.0) + g      # PyTorch's convention: no dampening
        return p - lr * velocity[i]
    return update


def _adam_reference(lr, b1, b2, eps):
    m, v, t = {}, {}, {}

    def update(i, p, g):
        t[i] = t.get(i, 0) + 1
        m[i] = b1 * m.get(i, 0.0) + (1 - b1) * g
        v[i] = b2 * v.get(i, 0.0) + (1 - b2) * g * g
        m_hat = m[i] / (1 - b1 ** t[i])                          # bias corrections (Kingma & Ba, alg. 1)
        v_hat = v[i] / (1 - b2 ** t[i])
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return update


def check_optimizer_steps(model, loss, SGD, Adam, steps=3):
    """Run `steps` steps of SGD(momentum 0.9) and of Adam on `model` (restored in between and afterwards),
    where `loss()` computes the scenario's loss on a fixed batch. Returns {optimizer: worst error / step}."""
    params = model.parameters()
    initial = [p.data.copy() for p in params]
    lr = 1e-2
    cases = (("SGD", lambda: SGD(params, lr=lr, momentum=0.9), _sgd_reference(lr, 0.9)),
             ("Adam", lambda: Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8),
              _adam_reference(lr, 0.9, 0.999, 1e-8)))
    worst = {}
    for name, make, reference in cases:
        for p, start in zip(params, initial):
            p.data[...] = start
        optimizer = make()
        where = "%s.%s" % (home_of(optimizer), type(optimizer).__name__)
        worst[name] = 0.0
        for step in range(1, steps + 1):
            optimizer.zero_grad()
            loss().backward()
            before = [p.data.astype(np.float64) for p in params]
            grads = [_array(p.grad).astype(np.float64) for p in params]
            optimizer.step()
            for i, (p, b, g) in enumerate(zip(params, before, grads)):
                expected = reference(i, b, g)
                error = float(np.max(np.abs(p.data - expected)))
                allowed = 1e-3 * float(np.max(np.abs(expected - b))) + 1e-6 * float(np.max(np.abs(b))) + 1e-9
                worst[name] = max(worst[name], error / allowed)
                assert error <= allowed, (
                    "%s step %d: parameter %d differs from the hand-computed update by %.3g (allowed %.3g, the "
                    "update itself is %.3g) (%s)" % (name, step, i, error, allowed,
                                                     float(np.max(np.abs(expected - b))), where))
    for p, start in zip(params, initial):
        p.data[...] = start
        p.grad = None
    return {name: round(value, 4) for name, value in worst.items()}
