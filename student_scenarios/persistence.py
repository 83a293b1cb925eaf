"""Student scenario "persistence": every kind of model the scenarios build (an MLP with dropout, a CNN with a
layer that keeps running statistics in buffers, a GPT-style transformer) is trained a little, saved with the
course's save_model, and loaded in a NEW Python process into a freshly built (differently initialised)
model. The new process must have:

* the same `state_dict()`: the same keys (every parameter and every persistent buffer, no non-persistent
  one) and bit-identical values and dtypes;
* the same predictions, bit for bit;
* when the course's optimizers have `state_dict()`: the same optimizer state, shown by taking one more
  Adam step in both processes from the same batch -- the parameters must again be bit-identical (a
  restarted Adam would take a full-size first step instead).

Runs from any directory with only tinytorch and NumPy installed:  python -I persistence.py
(the new process is this same file, run as `persistence.py --load DIR`). Fixed seeds; a failed
expectation raises an AssertionError naming the course module at fault. The last line of output is
`TITO_RESULT {json}` with the key figures.
"""
# scenario-modules: tensor, autograd, layers, dense, losses, optimizers, spatial, attention, transformer, mlops
# scenario-timeout: 120
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)   # `python -I` leaves this folder off sys.path
from _roles import home_of, roles  # noqa: E402

(Adam, Conv2d, CrossEntropyLoss, Dropout, Embedding, Flatten, LayerNorm, Linear, MaxPool2d, Module, ModuleList,
 PositionalEmbedding, ReLU, Sequential, Tensor, TransformerBlock, load_model, save_model) = roles(
    "adam", "conv2d", "cross_entropy", "dropout", "embedding", "flatten", "layernorm", "linear", "maxpool2d",
    "module", "module_list", "positional_embedding", "relu", "sequential", "tensor", "transformer_block",
    "load_model", "save_model")

LR = 1e-2
TRAIN_STEPS = 5
VOCAB, SEQ = 12, 8
STEP_SEED = 1234        # seeds the dropout masks of the extra step, identically in both processes


class RunningStandardiser(Module):
    """Standardises inputs with running statistics kept in buffers (BatchNorm's bookkeeping without the
    learned scale): what a checkpoint loses first if buffers are not saved."""

    def __init__(self, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", np.zeros(1, dtype=np.float32))
        self.register_buffer("running_var", np.ones(1, dtype=np.float32))
        self.register_buffer("batches_seen", np.zeros((), dtype=np.int64))
        self.register_buffer("last_batch_mean", np.zeros(1, dtype=np.float32), persistent=False)  # recomputable

    def forward(self, x):
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if self.training:
            self.last_batch_mean[...] = data.mean()
            self.running_mean[...] = (1 - self.momentum) * self.running_mean + self.momentum * data.mean()
            self.running_var[...] = (1 - self.momentum) * self.running_var + self.momentum * data.var()
            self.batches_seen[...] += 1
        scale = (1.0 / np.sqrt(self.running_var + 1e-5)).astype(np.float32)
        return (x - Tensor(self.running_mean.copy())) * Tensor(scale)


class TinyGPT(Module):
    def __init__(self):
        super().__init__()
        self.tokens = Embedding(VOCAB, 16)
        self.positions = PositionalEmbedding(SEQ, 16)
        self.blocks = ModuleList([TransformerBlock(16, 2, mlp_ratio=2, causal=True) for _ in range(2)])
        self.norm = LayerNorm(16)
        self.head = Linear(16, VOCAB)

    def forward(self, ids):
        x = self.positions(self.tokens(ids))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def build(kind):
    if kind == "mlp":
        return Sequential(Linear(64, 32), ReLU(), Dropout(0.3), Linear(32, 10))
    if kind == "cnn":
        return Sequential(RunningStandardiser(), Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2),
                          Flatten(), Dropout(0.3), Linear(4 * 4 * 4, 10))
    return TinyGPT()


# Persistent buffers each model must carry in its state_dict (beside its parameters).
BUFFERS = {"mlp": set(), "cnn": {"0.running_mean", "0.running_var", "0.batches_seen"}, "transformer": set()}


def data(kind):
    """A fixed batch (inputs, targets) per model kind; the same in both processes."""
    rng = np.random.default_rng(7)
    if kind == "transformer":
        ids = rng.integers(0, VOCAB, size=(16, SEQ))
        return ids, np.roll(ids, -1, axis=1)
    images = (rng.random((32, 1, 8, 8)) * 2 + 0.5).astype(np.float32)   # mean far from 0: statistics matter
    x = images.reshape(32, 64) if kind == "mlp" else images
    return x, rng.integers(0, 10, size=32)


def loss_of(model, kind):
    x, y = data(kind)
    logits = model(x if kind == "transformer" else Tensor(x))
    if kind == "transformer":
        return CrossEntropyLoss()(logits.reshape(-1, VOCAB), y.reshape(-1))
    return CrossEntropyLoss()(logits, y)


def one_step(model, optimizer, kind):
    np.random.seed(STEP_SEED)
    model.train()
    optimizer.zero_grad()
    loss_of(model, kind).backward()
    optimizer.step()


def predictions(model, kind):
    model.eval()
    out = model(data(kind)[0] if kind == "transformer" else Tensor(data(kind)[0]))
    return np.array(out.data)


def can_save_optimizer():
    return callable(getattr(Adam, "state_dict", None)) and callable(getattr(Adam, "load_state_dict", None))


def load_in_new_process(folder):
    """The child: fresh models with other initial weights, loaded from the files, written back as arrays."""
    np.random.seed(99)
    for kind in BUFFERS:
        model = build(kind)
        load_model(model, os.path.join(folder, kind + ".npz"))
        out = {"prediction": predictions(model, kind)}
        out.update({"state/" + k: v for k, v in model.state_dict().items()})
        if can_save_optimizer():
            optimizer = Adam(model.parameters(), lr=LR)
            with np.load(os.path.join(folder, kind + "-optimizer.npz"), allow_pickle=False) as saved:
                optimizer.load_state_dict({k: saved[k] for k in saved.files})
            one_step(model, optimizer, kind)
            out.update({"stepped/" + k: v for k, v in model.state_dict().items()})
        np.savez(os.path.join(folder, kind + "-child.npz"), **out)


def main():
    start = time.perf_counter()
    module_where = "%s.Module" % home_of(Module.state_dict)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="tinytorch-persistence-") as folder:
        expected = {}
        for kind in BUFFERS:
            np.random.seed(0)
            model = build(kind)
            optimizer = Adam(model.parameters(), lr=LR)
            for _ in range(TRAIN_STEPS):
                one_step(model, optimizer, kind)
            state = model.state_dict()
            keys = {name for name, _ in model.named_parameters()} | BUFFERS[kind]
            assert set(state) == keys, (
                "%s: state_dict() has keys %s; expected every parameter and persistent buffer, no more: missing %s, "
                "unexpected %s (%s)" % (kind, sorted(state), sorted(keys - set(state)), sorted(set(state) - keys),
                                        module_where))
            save_model(model, os.path.join(folder, kind + ".npz"))
            if can_save_optimizer():
                np.savez(os.path.join(folder, kind + "-optimizer.npz"), **optimizer.state_dict())
            prediction = predictions(model, kind)
            one_step(model, optimizer, kind)           # what the child must reproduce from the files
            expected[kind] = (state, prediction, model.state_dict())

        child = subprocess.run([sys.executable, "-I", os.path.abspath(__file__), "--load", folder],
                               capture_output=True, text=True, timeout=100)
        assert child.returncode == 0, "loading in a new process failed:\n" + child.stdout + child.stderr

        for kind, (state, prediction, stepped) in expected.items():
            with np.load(os.path.join(folder, kind + "-child.npz"), allow_pickle=False) as saved:
                loaded = {k: saved[k] for k in saved.files}
            child_state = {k[len("state/"):]: v for k, v in loaded.items() if k.startswith("state/")}
            assert set(child_state) == set(state), "%s: keys differ after loading: %s vs %s (%s)" % (
                kind, sorted(child_state), sorted(state), module_where)
            different = [k for k in state if state[k].dtype != child_state[k].dtype
                         or not np.array_equal(state[k], child_state[k])]
            assert not different, ("%s: after save -> load in a new process these state_dict entries differ: %s "
                                   "(%s.load_state_dict, or save_model/load_model in %s)"
                                   % (kind, different, module_where, home_of(load_model)))
            assert np.array_equal(loaded["prediction"], prediction), (
                "%s: the reloaded model predicts differently (max difference %.3g) although its state_dict is "
                "identical: some state is not in state_dict (%s)"
                % (kind, float(np.max(np.abs(loaded["prediction"] - prediction))), module_where))
            if can_save_optimizer():
                moved = [k for k in stepped if not np.array_equal(stepped[k], loaded["stepped/" + k])]
                assert not moved, ("%s: one Adam step after reloading the optimizer's state_dict differs from the "
                                   "same step in the original process for %s (%s.%s.state_dict)"
                                   % (kind, moved, home_of(Adam), Adam.__name__))
            figures[kind] = {"state_entries": len(state), "buffers": len(BUFFERS[kind]),
                             "values": int(sum(a.size for a in state.values()))}
    print("persistence: %s saved, reloaded in a new process: identical state_dict, predictions%s"
          % (", ".join(figures), " and optimizer step" if can_save_optimizer() else ""))
    figures.update({"optimizer_state": "restored" if can_save_optimizer() else "the course cannot save it",
                    "seconds": round(time.perf_counter() - start, 3)})
    print("TITO_RESULT " + json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        load_in_new_process(sys.argv[2])
    else:
        main()
