"""Text generation from a trained run.

    charnn sample runs/austen --prime '"My dear' --length 400 --temperature 0.8 --seed 1
"""

from __future__ import annotations

import torch

from .model import CharRNN
from .vocab import DOC_ID, UNK_ID, Vocab


@torch.no_grad()
def generate(model: CharRNN, vocab: Vocab, prime: str = "\n", length: int = 500,
             temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
             step_fn=None) -> str:
    """Continue `prime` by `length` characters; same seed, same text.

    `step_fn(ids (1, T), state) -> (logits (1, T, V), state)` replaces the model's forward
    pass (the recording path uses it to generate with a unit clamped).
    """
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
    for _ in range(length):
        scores = logits[0, -1].float() / temperature  # (V,)
        scores[[UNK_ID, DOC_ID]] = -float("inf")  # never emit the reserved ids
        if top_k is not None:
            kth = torch.topk(scores, min(top_k, scores.numel())).values[-1]
            scores[scores < kth] = -float("inf")
        next_id = torch.multinomial(torch.softmax(scores, -1), 1, generator=generator)
        out.append(int(next_id))
        logits, state = step_fn(next_id.view(1, 1), state)
    return vocab.decode(out)
