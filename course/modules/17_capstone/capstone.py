# Module 17 (capstone): everything together, end to end. A character-level TinyGPT trained on a small
# public-domain corpus shipped inside the package and then generating text; a CNN trained on the
# digits set; and the systems pipeline around it: benchmark, compress, save, register, serve, monitor.
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
# # Module 17: Capstone -- your framework, end to end
#
# Every line of code that runs in this module was written by you in modules 01-16: tensors and
# autograd, layers and losses, optimizers, data loading and the training loop, convolutions,
# attention and transformer blocks, and the systems tools around them. Two projects put them to work:
#
# 1. **TinyGPT**: a character-level language model. It reads a small text, learns to predict the next
#    character, and then writes new text in the same style -- the nanoGPT recipe at toy scale.
# 2. **A digits CNN**: a convolutional classifier on the digits set, taken through the whole life of a
#    production model: train, evaluate, benchmark, compress, save, register, load in a server-style
#    `Predictor`, and monitor its inputs for drift.
#
# Nothing heavy runs when the module is imported: training happens only when you call
# `train_tiny_gpt`, `train_digits_cnn` or `run_digits_pipeline` (or run this file).

# %%
#| default_exp core.capstone

# %%
#| export
import os
import tempfile
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.core.autograd import no_grad
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Flatten, Linear
from tinytorch.core.dense import Sequential
from tinytorch.core.losses import CrossEntropyLoss, cross_entropy
from tinytorch.core.optimizers import Adam, AdamW, CosineAnnealingLR, clip_grad_norm
from tinytorch.core.dataloader import DataLoader, TensorDataset, make_digits, train_test_split
from tinytorch.core.training import Trainer, seed_everything
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.core.transformer import GPT
from tinytorch.core.compression import quantize_and_report
from tinytorch.core.benchmarking import compare_models, format_comparison
from tinytorch.core.mlops import DriftMonitor, ModelRegistry, Predictor

# %% [markdown]
# ## The corpus
#
# A language model needs text. To keep the package self-contained (no downloads, no files read from
# disk) the corpus is a string constant: Jane Taylor's poem "The Star" (1806, the source of "Twinkle,
# twinkle, little star"), Sarah Josepha Hale's "Mary's Lamb" (1830) and four traditional nursery
# rhymes. All are in the public domain; the wording follows common printed versions. About 1,500
# characters -- tiny, but rhymes are repetitive and regular, which is exactly what a model with a few
# tens of thousands of parameters can pick up in a minute of CPU time.

# %%
#| export
# Sources (all public domain): Jane Taylor, "The Star", in Rhymes for the Nursery (1806);
# Sarah Josepha Hale, "Mary's Lamb" (1830); traditional English nursery rhymes.
TINY_CORPUS = """Twinkle, twinkle, little star,
How I wonder what you are!
Up above the world so high,
Like a diamond in the sky.

When the blazing sun is gone,
When he nothing shines upon,
Then you show your little light,
Twinkle, twinkle, all the night.

Then the traveller in the dark
Thanks you for your tiny spark;
He could not see which way to go,
If you did not twinkle so.

In the dark blue sky you keep,
And often through my curtains peep,
For you never shut your eye
Till the sun is in the sky.

As your bright and tiny spark
Lights the traveller in the dark,
Though I know not what you are,
Twinkle, twinkle, little star.

Mary had a little lamb,
Its fleece was white as snow;
And everywhere that Mary went
The lamb was sure to go.

It followed her to school one day,
Which was against the rule;
It made the children laugh and play
To see a lamb at school.

And so the teacher turned it out,
But still it lingered near,
And waited patiently about
Till Mary did appear.

Humpty Dumpty sat on a wall,
Humpty Dumpty had a great fall.
All the king's horses and all the king's men
Couldn't put Humpty together again.

Jack and Jill went up the hill
To fetch a pail of water;
Jack fell down and broke his crown,
And Jill came tumbling after.

Hey diddle diddle,
The cat and the fiddle,
The cow jumped over the moon;
The little dog laughed
To see such sport,
And the dish ran away with the spoon.

Baa, baa, black sheep,
Have you any wool?
Yes sir, yes sir,
Three bags full.
"""

# %% [markdown]
# ## Characters as tokens
#
# Real GPTs split text into sub-word tokens; a character-level model is the simplest honest version:
# the vocabulary is the set of distinct characters (46 here), `encode` maps text to integer ids
# and `decode` maps them back. The tokenizer is part of the model: generated ids are meaningless
# without it, so `train_tiny_gpt` attaches it to the model as `model.tokenizer`, and `to_dict` lets
# it travel inside a model file's JSON metadata.

# %%
#| export
class CharTokenizer:
    """Character-level tokenizer: one id per distinct character of the training text."""

    def __init__(self, text: Optional[str] = None, chars: Optional[Sequence[str]] = None):
        if chars is None:
            if not text:
                raise ValueError("CharTokenizer needs a non-empty text (or a list of chars)")
            chars = sorted(set(text))
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        if len(self.stoi) != len(self.chars):
            raise ValueError("duplicate characters in the vocabulary")

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError("characters not in the vocabulary: %r" % "".join(unknown))
        return np.array([self.stoi[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids).reshape(-1)
        return "".join(self.chars[int(i)] for i in ids)

    def to_dict(self) -> Dict[str, Any]:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "CharTokenizer":
        return cls(chars=list(d["chars"]))


# %% [markdown]
# ## Training TinyGPT
#
# The training data is every window of `block_size + 1` consecutive characters: the first
# `block_size` are the input, the last `block_size` (shifted by one) are the targets, so **every
# position** of a window is a training example ("predict the next character from everything before
# it"). The causal mask inside the transformer blocks (module 11) makes sure position `t` cannot peek
# at `t+1`.
#
# A batch is drawn by picking random start offsets and gathering windows with one fancy-indexing
# operation -- no Python loop over the batch. The loss is cross-entropy over `(B, T, vocab)` logits
# (module 06); the recipe is the standard one for transformers: AdamW, gradient clipping at norm 1,
# and a cosine learning-rate schedule. We hold out the last 10% of the text to measure validation loss.
#
# A useful yardstick: a model that knows nothing predicts every character with probability
# `1/vocab`, a loss of `ln(46) ~ 3.8`. Loss below ~1.5 means it has learned words and rhymes.
#
# Watch the two curves. With ~60,000 parameters and about 1,500 characters of text, the model
# can (and after a few hundred steps does) **memorise** the training part: the training loss keeps
# falling (to ~0.35 after 400 steps) while the validation loss on the held-out last rhyme bottoms out
# near 2.9 within the first ~50 steps and then *rises*. That is overfitting in its purest form -- the samples become
# near-perfect recitations of the rhymes with the occasional remix. The cures are the usual ones:
# more text, a smaller model, fewer steps (early stopping on the validation loss), or dropout.

# %%
#| export
def get_char_batch(data: np.ndarray, block_size: int, batch_size: int, rng) -> tuple:
    """Random (x, y) windows of token ids, each (batch_size, block_size); y is x shifted by one."""
    if len(data) < block_size + 2:
        raise ValueError("text of %d tokens is too short for block_size=%d" % (len(data), block_size))
    starts = rng.integers(0, len(data) - block_size - 1, size=batch_size)
    idx = starts[:, None] + np.arange(block_size)[None, :]
    return data[idx], data[idx + 1]


def char_model_loss(model, data: np.ndarray, block_size: int, max_windows: int = 64) -> float:
    """Mean next-character cross-entropy over consecutive, non-overlapping windows of `data`."""
    n_windows = min(max_windows, (len(data) - 1) // block_size)
    if n_windows < 1:
        raise ValueError("text too short to evaluate with block_size=%d" % block_size)
    idx = np.arange(n_windows)[:, None] * block_size + np.arange(block_size)[None, :]
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            loss = cross_entropy(model(data[idx]), data[idx + 1])
    finally:
        model.train(was_training)
    return float(loss.data)


def build_tiny_gpt(vocab_size: int, block_size: int = 32, dim: int = 48, num_heads: int = 4,
                   num_layers: int = 2) -> GPT:
    """A small GPT for character-level modelling."""
    return GPT(vocab_size=vocab_size, max_len=block_size, dim=dim, num_heads=num_heads, num_layers=num_layers)


def train_tiny_gpt(steps: int = 300, seed: int = 0, text: Optional[str] = None, block_size: int = 32,
                   batch_size: int = 16, dim: int = 48, num_heads: int = 4, num_layers: int = 2,
                   lr: float = 3e-3, eval_every: int = 50, verbose: bool = False) -> tuple:
    """Train a character-level GPT on `text` (default TINY_CORPUS); returns (model, history).

    history: 'step' and 'loss' (every step), 'val_step' and 'val_loss' (every eval_every steps and at
    the end), 'lr', and 'seconds' (a one-element list: total training time). The tokenizer is
    attached as model.tokenizer.
    """
    text = TINY_CORPUS if text is None else text
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    tokenizer = CharTokenizer(text)
    data = tokenizer.encode(text)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    val_block = min(block_size, len(val_data) - 1)
    model = build_tiny_gpt(tokenizer.vocab_size, block_size, dim, num_heads, num_layers)
    model.tokenizer = tokenizer
    opt = AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = CosineAnnealingLR(opt, T_max=max(1, steps), eta_min=lr * 0.1)
    history = {"step": [], "loss": [], "val_step": [], "val_loss": [], "lr": [], "seconds": []}
    model.train()
    start = time.perf_counter()
    for step in range(1, int(steps) + 1):
        x, y = get_char_batch(train_data, block_size, batch_size, rng)
        loss = cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        sched.step()
        history["step"].append(step)
        history["loss"].append(float(loss.data))
        history["lr"].append(float(opt.lr))
        if step % max(1, eval_every) == 0 or step == steps:
            history["val_step"].append(step)
            history["val_loss"].append(char_model_loss(model, val_data, val_block))
            if verbose:
                print("step %4d  loss %.3f  val_loss %.3f  (%.1fs)" % (step, history["loss"][-1],
                      history["val_loss"][-1], time.perf_counter() - start))
    history["seconds"].append(time.perf_counter() - start)
    model.eval()
    return model, history


def generate_text(model, prompt: str = "", max_new_tokens: int = 200, temperature: float = 0.8,
                  top_k: Optional[int] = None, seed: Optional[int] = 0,
                  tokenizer: Optional[CharTokenizer] = None) -> str:
    """Continue `prompt` with max_new_tokens sampled characters; returns prompt + continuation."""
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("no tokenizer: pass tokenizer= or use a model from train_tiny_gpt")
    if not prompt:
        prompt = "\n" if "\n" in tokenizer.stoi else tokenizer.chars[0]
        drop = 1
    else:
        drop = 0
    ids = tokenizer.encode(prompt)
    out = model.generate(ids[None, :], max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    return tokenizer.decode(np.asarray(out)[0])[drop:]


# %% [markdown]
# ## A CNN on the digits set
#
# Two convolution blocks (conv 3x3 -> ReLU -> max-pool 2x2) turn the 8x8 image into 16 feature maps
# of 2x2, and a Linear layer reads the class from them -- about 2,000 parameters. Everything else is
# the standard loop of module 09: a `DataLoader` over a `TensorDataset`, `Trainer.fit`, then
# `Trainer.evaluate` on held-out data. Accuracy, not loss, is what we report to a user.

# %%
#| export
def build_digits_cnn(size: int = 8, channels: tuple = (8, 16), num_classes: int = 10) -> Sequential:
    """conv-relu-pool x2 -> flatten -> linear, for (N, 1, size, size) images (size divisible by 4)."""
    if size % 4:
        raise ValueError("size must be divisible by 4, got %d" % size)
    c1, c2 = channels
    return Sequential(
        Conv2d(1, c1, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(c2 * (size // 4) ** 2, num_classes))


def digits_data(n_samples: int = 2000, seed: int = 0, test_size: float = 0.25, noise: float = 0.1) -> tuple:
    """(X_train, X_test, y_train, y_test) NumPy arrays from make_digits."""
    X, y = make_digits(n_samples=n_samples, seed=seed, noise=noise)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, seed=seed)
    as_np = lambda a: a.data if isinstance(a, Tensor) else np.asarray(a)   # noqa: E731
    return as_np(Xtr), as_np(Xte), as_np(ytr), as_np(yte)


def train_digits_cnn(epochs: int = 5, seed: int = 0, n_samples: int = 2000, batch_size: int = 64,
                     lr: float = 1e-2, verbose: bool = False) -> tuple:
    """Train build_digits_cnn() on make_digits; returns (model, test accuracy).
    The Trainer history is attached as model.history, the test data as model.test_data."""
    seed_everything(seed)
    Xtr, Xte, ytr, yte = digits_data(n_samples, seed)
    model = build_digits_cnn(size=Xtr.shape[-1])
    train_loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(TensorDataset(Xte, yte), batch_size=256)
    trainer = Trainer(model, Adam(model.parameters(), lr=lr), CrossEntropyLoss())
    model.history = trainer.fit(train_loader, epochs=epochs, verbose=verbose)
    model.test_data = (Xte, yte)
    acc = float(trainer.evaluate(test_loader)["accuracy"])
    model.eval()
    return model, acc


# %% [markdown]
# ## The production pipeline
#
# Training gave us a model and a number. `run_digits_pipeline` does what happens next in practice,
# with one tool from each systems module:
#
# 1. **compress** (module 14): int8 per-channel quantisation, with its size and accuracy change;
# 2. **benchmark** (module 15): original and quantised side by side;
# 3. **register** (module 16): both as versions in a model registry, the better one promoted to
#    "production";
# 4. **serve**: a fresh model object loaded from the registry behind a validating `Predictor` --
#    and it must predict *exactly* what the trained model predicts;
# 5. **monitor**: a `DriftMonitor` on the training images notices when the inputs get brighter.

# %%
#| export
def run_digits_pipeline(workdir: Optional[str] = None, epochs: int = 5, seed: int = 0,
                        n_samples: int = 2000, verbose: bool = False) -> Dict[str, Any]:
    """Train, compress, benchmark, register, serve and monitor the digits CNN; returns key figures."""
    start = time.perf_counter()
    model, acc = train_digits_cnn(epochs=epochs, seed=seed, n_samples=n_samples, verbose=verbose)
    Xte, yte = model.test_data
    qmodel, qreport = quantize_and_report(model, Xte, yte, per_channel=True)
    results = compare_models({"float32": model, "int8": qmodel}, Xte[:64], data=(Xte, yte), repeats=5,
                             sizes={"int8": qreport.size_after})
    table = format_comparison(results)
    cleanup = None
    if workdir is None:
        cleanup = tempfile.TemporaryDirectory()
        workdir = cleanup.name
    try:
        registry = ModelRegistry(os.path.join(workdir, "registry"))
        meta = {"input_shape": list(Xte.shape[1:]), "class_names": [str(i) for i in range(10)]}
        v_float = registry.register(model, "digits-cnn", metadata=meta, metrics={"accuracy": acc})
        v_int8 = registry.register(qmodel, "digits-cnn", metadata=dict(meta, quantized="int8 per-channel"),
                                   metrics={"accuracy": qreport.accuracy_after})
        best = v_int8 if qreport.accuracy_after >= acc else v_float
        registry.set_stage("digits-cnn", best, "production")
        served = registry.load(build_digits_cnn(size=Xte.shape[-1]), "digits-cnn", stage="production")
        predictor = Predictor(served, input_shape=Xte.shape[1:])
        reference = qmodel if best == v_int8 else model
        with no_grad():
            expected = np.argmax(reference(Tensor(Xte)).data, axis=1)
        identical = bool(np.array_equal(predictor.predict(Xte), expected))
        served_acc = float(np.mean(predictor.predict(Xte) == yte))
        monitor = DriftMonitor(Xte)
        rng = np.random.default_rng(seed)
        fresh = digits_data(600, seed + 1)[1]
        no_drift = monitor.check(fresh).drift_detected
        brighter = np.clip(fresh + 0.3 * rng.random(fresh.shape).astype(np.float32), 0.0, 1.0)
        drift = monitor.check(brighter).drift_detected
        versions = registry.versions("digits-cnn")
    finally:
        if cleanup is not None:
            cleanup.cleanup()
    figures = {
        "accuracy": acc, "int8_accuracy": qreport.accuracy_after, "size_bytes": qreport.size_before,
        "int8_size_bytes": qreport.size_after, "size_reduction": qreport.size_reduction,
        "production_version": best, "versions": versions, "served_identical": identical,
        "served_accuracy": served_acc, "drift_on_fresh_data": no_drift, "drift_on_brighter_data": drift,
        "seconds": time.perf_counter() - start, "comparison": table,
    }
    if verbose:
        print(table)
    return figures


# %% [markdown]
# ## Run it
#
# `python course/modules/17_capstone/capstone.py` trains TinyGPT (a minute or so on a laptop), prints
# samples, then runs the digits pipeline. Try: more `steps`, a larger `dim`, your own `text=`, or a
# lower `temperature` (more conservative samples) and `top_k` (never pick unlikely characters).

# %%
def test_unit_tokenizer():
    tok = CharTokenizer(TINY_CORPUS)
    ids = tok.encode("Twinkle")
    assert tok.decode(ids) == "Twinkle" and ids.dtype == np.int64
    assert CharTokenizer.from_dict(tok.to_dict()).chars == tok.chars


def test_unit_tiny_gpt_learns():
    model, history = train_tiny_gpt(steps=30, seed=0, eval_every=10)
    assert np.mean(history["loss"][-5:]) < history["loss"][0]
    text = generate_text(model, "Twinkle", max_new_tokens=20, seed=0)
    assert text.startswith("Twinkle") and len(text) == 27


# %%
if __name__ == "__main__":
    test_unit_tokenizer()
    test_unit_tiny_gpt_learns()
    gpt, hist = train_tiny_gpt(steps=400, seed=0, verbose=True, eval_every=50)
    n_params = sum(p.data.size for p in gpt.parameters())
    print("TinyGPT: %d parameters, final loss %.3f, val loss %.3f, %.1f s" % (
        n_params, hist["loss"][-1], hist["val_loss"][-1], hist["seconds"][0]))
    for prompt in ("Twinkle", "Mary had", "Jack"):
        print("---\n" + generate_text(gpt, prompt, max_new_tokens=120, temperature=0.6, seed=1))
    figures = run_digits_pipeline(verbose=True)
    print({k: v for k, v in figures.items() if k != "comparison"})
    print("capstone: all checks passed")
