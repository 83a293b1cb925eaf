"""Student scenario: a GPT-style model built from the course's embedding, positional embedding, transformer
block (with its multi-head attention), LayerNorm and linear layers learns to reverse sequences, and is
checked so that a broken causal mask or broken attention cannot pass.

1. Causality, checked directly (before any training, so a leak fails in a second): changing the token at
   position t must leave every output before t bit-for-bit unchanged -- for the attention layer alone
   (causal=True) and for the whole model.
2. The task: read x_1..x_L SEP and generate x_L..x_1. Training is next-token prediction, where the input
   at position t+1 IS the answer at position t: with a leaking mask the model learns to copy it. The
   score is therefore measured by greedy generation on held-out sequences, where the model sees only
   what it produced itself -- a leak cannot help there, only attention to the right earlier position.

Runs from any directory with only tinytorch and NumPy installed:  python -I transformer.py
Fixed seeds. Fails with an AssertionError that names the course module at fault. The last line of
output is `TITO_RESULT {json}` with the key figures (accuracies, loss, steps, training time).
"""
# scenario-modules: tensor, autograd, activations, layers, losses, optimizers, training, attention, transformer
# scenario-timeout: 400
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # `python -I` leaves this folder off sys.path
from _checks import checksum  # noqa: E402
from _roles import home_of, roles  # noqa: E402

(Adam, CrossEntropyLoss, Embedding, LayerNorm, Linear, Module, ModuleList, MultiHeadAttention,
 PositionalEmbedding, TransformerBlock, no_grad, seed_everything) = roles(
    "adam", "cross_entropy", "embedding", "layernorm", "linear", "module", "module_list", "multihead_attention",
    "positional_embedding", "transformer_block", "no_grad", "seed_everything")

SEED = 0
LENGTH, SYMBOLS = 6, 10           # reverse sequences of 6 symbols drawn from 0..9 (10^6 possible inputs)
SEP = SYMBOLS                     # token 10 separates the input from its reversal
VOCAB = SYMBOLS + 1
# At most 100 steps, stopping once CONFIRM fresh batches in a row come out entirely right (section 4).
# Seeds 0-7 stop after 46-56 steps with held-out generated tokens >= 0.9993 and sequences >= 0.996 (bars
# 0.99 and 0.95); stopping after the first right batch (41-50 steps) left sequences at 0.964 on one seed,
# hence three. The fixed 100 steps reached 1.0 on all three accuracies (seeds 0-3) at twice the cost.
STEPS, BATCH = 100, 64
CONFIRM = 3
DIM, HEADS, LAYERS = 32, 4, 2


# 1. Data. An example is  x_1 .. x_L SEP x_L .. x_1 ; the model reads it left to right and at every
#    position predicts the next token. Only the L reversed tokens are scored: the inputs are random.
def make_reversal(n, rng):
    x = rng.integers(0, SYMBOLS, size=(n, LENGTH))
    full = np.concatenate([x, np.full((n, 1), SEP), x[:, ::-1]], axis=1)     # (n, 2L + 1)
    return full[:, :-1], full[:, 1:]                                          # inputs, next tokens


seed_everything(SEED)
rng = np.random.default_rng(SEED)
train_in, train_out = make_reversal(STEPS * BATCH, rng)
test_in, test_out = make_reversal(500, np.random.default_rng(SEED + 1))
seen = {row.tobytes() for row in train_in[:, :LENGTH]}
held_out = np.array([row.tobytes() not in seen for row in test_in[:, :LENGTH]])
test_in, test_out = test_in[held_out], test_out[held_out]           # strictly unseen sequences
assert len(test_in) > 450


# 2. Model: token + learned position embeddings, pre-norm causal transformer blocks, a final LayerNorm
#    and a linear head over the vocabulary.
class ReversalGPT(Module):
    def __init__(self, vocab, max_len, dim=DIM, heads=HEADS, layers=LAYERS):
        super().__init__()
        self.tokens = Embedding(vocab, dim)
        self.positions = PositionalEmbedding(max_len, dim)
        self.blocks = ModuleList([TransformerBlock(dim, heads, mlp_ratio=4, causal=True) for _ in range(layers)])
        self.norm = LayerNorm(dim)
        self.head = Linear(dim, vocab)

    def forward(self, ids):
        x = self.positions(self.tokens(ids))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def outputs(fn, x):
    with no_grad():
        out = fn(x)
    return np.array(out.data if hasattr(out, "data") else out)


def first_leak(before, after, changed_at):
    """Positions before `changed_at` whose output moved (any bit) when a later input changed."""
    moved = np.any(before[:, :changed_at] != after[:, :changed_at], axis=tuple(range(2, before.ndim)))
    return sorted(set(np.nonzero(moved)[1].tolist()))


model = ReversalGPT(VOCAB, max_len=2 * LENGTH)
model.eval()                       # no dropout may blur the comparison
initial_output = checksum(outputs(model, test_in[:8]))   # the untrained model: its "behaviour" fingerprint
assert all(isinstance(block.attn, MultiHeadAttention) for block in model.blocks)
n_params = sum(p.size for p in model.parameters())
print("parameters:", n_params)

# 3. Causality before training: perturb position `cut` and compare everything before it exactly.
cut = LENGTH + 2
attention = MultiHeadAttention(DIM, HEADS)
attention.eval()
x = np.random.default_rng(SEED + 2).standard_normal((3, 2 * LENGTH, DIM)).astype(np.float32)
x_changed = x.copy()
x_changed[:, cut:] += 1.0
leaks = first_leak(outputs(lambda v: attention(v, causal=True), x),
                   outputs(lambda v: attention(v, causal=True), x_changed), cut)
assert not leaks, ("causal attention leaks the future: changing inputs from position %d on changed the outputs "
                   "at earlier positions %s (%s.%s)" % (cut, leaks, home_of(attention), type(attention).__name__))
ids = test_in[:3].copy()
ids_changed = ids.copy()
ids_changed[:, cut:] = (ids_changed[:, cut:] + 1) % SYMBOLS
leaks = first_leak(outputs(model, ids), outputs(model, ids_changed), cut)
assert not leaks, ("the causal transformer leaks the future: changing tokens from position %d on changed the "
                   "predictions at earlier positions %s (%s.%s)"
                   % (cut, leaks, home_of(model.blocks[0]), type(model.blocks[0]).__name__))


def token_accuracy(inputs, targets):
    """Teacher-forced: the true earlier tokens are given (a leaking mask would inflate this one)."""
    predicted = outputs(model, inputs)[:, LENGTH:].argmax(axis=-1)
    return float(np.mean(predicted == targets[:, LENGTH:]))


def greedy_reverse(inputs):
    """Generate the L answer tokens one at a time, each from the model's own previous answers."""
    seq = inputs[:, :LENGTH + 1]
    for _ in range(LENGTH):
        nxt = outputs(model, seq)[:, -1].argmax(axis=-1)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq[:, LENGTH + 1:]


# 4. Train with Adam: each step sees a fresh mini-batch (every training sequence is used once). The batch is
#    predicted BEFORE the model trains on it, so it is a free held-out estimate; training stops once CONFIRM
#    batches in a row come out entirely right (each one is still trained on, so a model that gets worse with
#    more steps breaks the run of right batches). For a causal model, "every answer token right given the true
#    earlier tokens" is exactly "greedy generation reverses every sequence". At most STEPS steps.
model.train()
opt = Adam(model.parameters(), lr=5e-3)
loss_fn = CrossEntropyLoss()
start = time.perf_counter()
losses = []
right_in_a_row = 0
for step in range(STEPS):
    batch = slice(step * BATCH, (step + 1) * BATCH)
    logits = model(train_in[batch])                                      # (B, 2L, vocab)
    answers = logits[:, LENGTH:]
    all_right = bool(np.all(np.asarray(answers.data).argmax(axis=-1) == train_out[batch, LENGTH:]))
    right_in_a_row = right_in_a_row + 1 if all_right else 0
    loss = loss_fn(answers, train_out[batch, LENGTH:])                   # score the reversed half only
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if (step + 1) % 50 == 0:
        print("step %4d  loss %.4f" % (step + 1, np.mean(losses[-10:])))
    if right_in_a_row == CONFIRM:
        break
steps = len(losses)
print("stopped after %d steps (%d fresh batches in a row entirely right)" % (steps, right_in_a_row))
train_seconds = time.perf_counter() - start
model.eval()

# 5. Held-out evaluation: generated sequences (the score) and teacher-forced tokens (for comparison).
generated = greedy_reverse(test_in)
generated_token_acc = float(np.mean(generated == test_out[:, LENGTH:]))
sequence_acc = float(np.mean(np.all(generated == test_out[:, LENGTH:], axis=1)))
token_acc = token_accuracy(test_in, test_out)
print("example: %s -> %s" % (test_in[0, :LENGTH].tolist(), generated[0].tolist()))
print("held-out: generated tokens %.4f, exact sequences %.4f, teacher-forced tokens %.4f (%d sequences, %.1f s)"
      % (generated_token_acc, sequence_acc, token_acc, len(test_in), train_seconds))

where = "%s.%s" % (home_of(attention), type(attention).__name__)
assert losses[-1] < losses[0] / 10, "the loss should fall by far more than 10x: %.3f -> %.3f (%s)" % (
    losses[0], losses[-1], where)
# A working course reaches >= 0.999 on all three (seeds 0-7); a model trained with a leaking mask copies the
# next input and gets 0.77-0.98 of generated tokens, 0.14-0.90 of sequences (measured with 200 steps;
# with 100: 0.76-0.92 and 0.15-0.55, seeds 0-3, mask tril(k=1)), hence the bars. With the early stop (its
# teacher-forced batches look right to a leaking model, so it stops as early) and the causality checks
# above skipped: 0.76-0.89 / 0.12-0.43 with tril(k=1), 0.72-0.95 / 0.10-0.73 with no mask (seeds 0-3).
assert generated_token_acc >= 0.99, "held-out generated token accuracy %.4f is below 0.99 (%s)" % (
    generated_token_acc, where)
assert sequence_acc >= 0.95, "greedy generation reverses only %.3f of held-out sequences (%s)" % (sequence_acc, where)
assert abs(token_acc - generated_token_acc) <= 0.01, (
    "teacher-forced accuracy %.4f and generated accuracy %.4f disagree: the model sees something at training "
    "time that it cannot see when it generates (%s)" % (token_acc, generated_token_acc, where))

print("TITO_RESULT " + json.dumps({
    "generated_token_accuracy": round(generated_token_acc, 4),
    "sequence_accuracy": round(sequence_acc, 4),
    "token_accuracy": round(token_acc, 4),
    "final_loss": round(float(np.mean(losses[-10:])), 4),
    "steps": steps,
    "batch_size": BATCH,
    "train_seconds": round(train_seconds, 2),
    "n_test": int(len(test_in)),
    "parameters": int(n_params),
    "causal_checks": 2,
    # what `tinytorch-verifier verify --baseline REF` compares with the previous release, per model
    "behaviour": {"gpt": {"accuracy": round(generated_token_acc, 6),
                          "final_loss": round(float(np.mean(losses[-10:])), 6), "forward": initial_output}},
}))
