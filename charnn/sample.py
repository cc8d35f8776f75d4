"""Text generation from a trained run.

    charnn sample runs/austen --prime '"My dear' --length 400 --temperature 0.8 --seed 1

    for piece in stream(run.model, run.vocab, "Elizabeth", 10_000):   # text as it is generated
        print(piece, end="", flush=True)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .model import CharRNN
from .vocab import DOC_ID, UNK_ID, Vocab


def generate(model: CharRNN, vocab: Vocab, prime: str = "\n", length: int = 500,
             temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
             step_fn=None) -> str:
    """Continue `prime` by `length` characters; same seed, same text.

    `step_fn(ids (1, T), state) -> (logits (1, T, V), state)` replaces the model's forward
    pass (the recording path uses it to generate with a unit clamped).
    """
    return "".join(stream(model, vocab, prime, length, temperature, top_k, seed, step_fn))


@torch.no_grad()
def stream(model: CharRNN, vocab: Vocab, prime: str = "\n", length: int = 500, temperature: float = 1.0,
           top_k: int | None = None, seed: int | None = None, step_fn=None, piece: int = 64) -> Iterator[str]:
    """generate(), yielded `piece` characters at a time as they are drawn."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top-k must be at least 1, not {top_k}")
    generator = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    step_fn = step_fn or model
    model.eval()
    ids = torch.from_numpy(vocab.encode(prime or "\n")).long().view(1, -1)  # (1, T)
    logits, state = step_fn(ids, None)
    out = []
    for i in range(length):
        next_id = draw(logits[0, -1], temperature, top_k, generator, i)
        out.append(int(next_id))
        if len(out) == piece:
            yield vocab.decode(out)
            out = []
        logits, state = step_fn(next_id.view(1, 1), state)
    if out:
        yield vocab.decode(out)


def draw(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator, i: int) -> torch.Tensor:
    """The next id from one step's (V,) logits. The largest score is subtracted before dividing
    by the temperature, so a temperature near 0 gives the most likely character, not inf - inf."""
    scores = logits.double()  # (V,)
    if not torch.isfinite(scores).all():
        raise ValueError(f"the model's output at generated character {i} is not finite (NaN or infinite): "
                         "a clamp value too large for the model, or damaged weights")
    scores[[UNK_ID, DOC_ID]] = -float("inf")  # never emit the reserved ids
    scores = (scores - scores.max()) / temperature
    if top_k is not None:
        kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
        scores[scores < kth] = -float("inf")
    return torch.multinomial(torch.softmax(scores, -1), 1, generator=generator)
