"""Student scenario: a GPT-style model assembled from Embedding / PositionalEmbedding / TransformerBlock
(whose attention is MultiHeadAttention) learns to reverse sequences of 8 symbols (10 symbols) and must
reach >= 95% token accuracy on held-out sequences it never saw in training.

Runs from any directory with only tinytorch and NumPy installed:  python -I transformer.py
Fixed seeds. Fails with an AssertionError when an expectation is not met. The last line of output is
`TITO_RESULT {json}` with the key figures (accuracy, loss, steps, training time).
"""
# scenario-modules: tensor, autograd, activations, layers, losses, optimizers, training, attention, transformer
# scenario-timeout: 400
import json
import time

import numpy as np

import tinytorch as tt
from tinytorch import (Adam, CrossEntropyLoss, Embedding, LayerNorm, Linear, Module, ModuleList,
                       MultiHeadAttention, PositionalEmbedding, TransformerBlock, no_grad)

SEED = 0
LENGTH, SYMBOLS = 8, 10           # reverse sequences of 8 symbols drawn from 0..9
SEP = SYMBOLS                     # token 10 separates the input from its reversal
VOCAB = SYMBOLS + 1
STEPS, BATCH = 300, 64


# 1. Data. A training example is  x_1 .. x_8 SEP x_8 .. x_1 ; the model reads it left to right and
#    at every position predicts the next token. Only the 8 reversed tokens are scored: the inputs
#    themselves are random and cannot be predicted.
def make_reversal(n, rng):
    x = rng.integers(0, SYMBOLS, size=(n, LENGTH))
    full = np.concatenate([x, np.full((n, 1), SEP), x[:, ::-1]], axis=1)     # (n, 17)
    return full[:, :-1], full[:, 1:]                                          # inputs, next tokens


tt.seed_everything(SEED)
rng = np.random.default_rng(SEED)
train_in, train_out = make_reversal(20000, rng)
test_in, test_out = make_reversal(1000, np.random.default_rng(SEED + 1))
seen = {row.tobytes() for row in train_in[:, :LENGTH]}
held_out = np.array([row.tobytes() not in seen for row in test_in[:, :LENGTH]])
test_in, test_out = test_in[held_out], test_out[held_out]           # strictly unseen sequences
assert len(test_in) > 900


# 2. Model: token + learned position embeddings, two pre-norm causal transformer blocks,
#    a final LayerNorm and a linear head over the vocabulary.
class ReversalGPT(Module):
    def __init__(self, vocab, max_len, dim=64, heads=4, layers=2):
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


model = ReversalGPT(VOCAB, max_len=2 * LENGTH)
assert all(isinstance(block.attn, MultiHeadAttention) for block in model.blocks)
n_params = sum(p.size for p in model.parameters())
print("parameters:", n_params)


def token_accuracy(inputs, targets):
    with no_grad():
        predicted = model(inputs).data[:, LENGTH:].argmax(axis=-1)
    return float(np.mean(predicted == targets[:, LENGTH:]))


def greedy_reverse(inputs):
    """Generate the 8 answer tokens one at a time, each from the model's own previous answers."""
    seq = inputs[:, :LENGTH + 1]
    with no_grad():
        for _ in range(LENGTH):
            nxt = model(seq).data[:, -1].argmax(axis=-1)
            seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq[:, LENGTH + 1:]


# 3. Train with Adam on random mini-batches of the training set.
opt = Adam(model.parameters(), lr=3e-3)
loss_fn = CrossEntropyLoss()
start = time.perf_counter()
losses = []
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train_in), BATCH)
    logits = model(train_in[idx])                                 # (B, 16, vocab)
    loss = loss_fn(logits[:, LENGTH:], train_out[idx, LENGTH:])   # score the reversed half only
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if step % 50 == 0:
        print("step %4d  loss %.4f  held-out token accuracy %.4f" % (step, loss.item(), token_accuracy(test_in, test_out)))
train_seconds = time.perf_counter() - start

# 4. Held-out evaluation: teacher-forced token accuracy, and whole sequences generated greedily.
token_acc = token_accuracy(test_in, test_out)
sequence_acc = float(np.mean(np.all(greedy_reverse(test_in) == test_out[:, LENGTH:], axis=1)))
example = test_in[0, :LENGTH]
print("example: %s -> %s" % (example.tolist(), greedy_reverse(test_in[:1])[0].tolist()))
print("held-out token accuracy %.4f, exact sequences %.4f (%d sequences, %.1f s)"
      % (token_acc, sequence_acc, len(test_in), train_seconds))

assert losses[-1] < losses[0] / 10, "the loss should fall by far more than 10x: %.3f -> %.3f" % (losses[0], losses[-1])
assert token_acc >= 0.95, "held-out token accuracy %.4f is below 0.95" % token_acc
assert sequence_acc >= 0.8, "greedy generation reverses only %.3f of held-out sequences" % sequence_acc

print("TITO_RESULT " + json.dumps({
    "token_accuracy": round(token_acc, 4),
    "sequence_accuracy": round(sequence_acc, 4),
    "final_loss": round(float(np.mean(losses[-10:])), 4),
    "steps": STEPS,
    "batch_size": BATCH,
    "train_seconds": round(train_seconds, 2),
    "n_test": int(len(test_in)),
    "parameters": int(n_params),
}))
