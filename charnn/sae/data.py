"""Training rows for an autoencoder: one (layer, kind) of a recording, streamed chunk by chunk
through a shuffle buffer, epoch after epoch; and the statistics that set the input scale.

    rows = ShuffleBuffer(rec, layer=0, kind="c", stop=160_000, batch=4096, capacity=1 << 18, seed=0)
    for batch in rows:          # (4096, H) float32 tensors, forever
        ...

The recording is read only through `Recording.iter_chunks`, so memory stays at the buffer's
size whatever the recording's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from ..recording.reader import CHUNK_ROWS


def check_states(rec, layer: int, kind: str) -> None:
    """A ValueError naming what the recording holds, unless it holds `kind` of `layer`."""
    if not 0 <= layer < rec.layers:
        raise ValueError(f"layer {layer} is not in {rec.path}: its layers are 0..{rec.layers - 1}")
    if kind not in rec.kinds:
        raise ValueError(f"kind {kind!r} is not recorded in {rec.path} (kinds {','.join(rec.kinds)}): "
                         f"record the text again with --kinds c,h")


def chunks(rec, layer: int, kind: str, start: int, stop: int, chunk_chars: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """The (n, H) float32 rows [start, stop) of (layer, kind), in order, a chunk at a time (only those rows are read)."""
    for _, _, block in rec.iter_chunks(kinds=[kind], layers=[layer], chunk_chars=chunk_chars, start=start, stop=stop):
        yield block[(layer, kind)]


def input_scale(rec, layer: int, kind: str, stop: int, normalize: str) -> tuple[np.ndarray, np.ndarray]:
    """(scale (H,), mean (H,)) of rows [0, stop), one pass with float64 sums.

    unit: each unit's standard deviation (floored at 1e-3 of their root mean square, so that a
    constant unit is not blown up); global: one number for every unit, such that the centered
    states divided by it have a mean squared norm of H."""
    total, squares, n = 0.0, 0.0, 0
    for block in chunks(rec, layer, kind, 0, stop):
        x = block.astype(np.float64)
        total, squares, n = total + x.sum(0), squares + (x * x).sum(0), n + len(x)
    mean = total / n
    variance = np.maximum(squares / n - mean * mean, 0.0)  # (H,)
    rms = math.sqrt(variance.mean())
    if normalize == "global":
        scale = np.full(len(mean), max(rms, 1e-12))
    else:
        scale = np.maximum(np.sqrt(variance), 1e-3 * rms + 1e-12)
    return scale.astype(np.float32), mean.astype(np.float32)


class ShuffleBuffer:
    """Random batches of rows [0, stop) of (layer, kind): a buffer of `capacity` rows is filled
    from the chunk stream; each round serves a random half of it as batches and refills the
    served slots with the next rows of the stream (the text again from the start once it ends).

    Chunks arrive in text order, so a batch mixes rows from up to `capacity` characters apart:
    with the whole training range in the buffer (capacity >= stop, the default for recordings up
    to 256k characters), every batch is a uniform sample of it.
    """

    def __init__(self, rec, layer: int, kind: str, stop: int, batch: int, capacity: int, seed: int,
                 device: str | torch.device = "cpu"):
        if stop < 1:
            raise ValueError("no characters to train on: the recording is empty")
        self.rec, self.layer, self.kind, self.stop = rec, layer, kind, stop
        self.capacity = max(batch, min(capacity, stop))
        self.batch = min(batch, self.capacity)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self._pending: list[np.ndarray] = []
        self._stream = self._forever()

    def _forever(self) -> Iterator[np.ndarray]:
        while True:
            yield from chunks(self.rec, self.layer, self.kind, 0, self.stop)

    def _take(self, n: int) -> torch.Tensor:
        """The next n rows of the stream: (n, H), a copy (chunks may be views of the recording)."""
        have = sum(len(p) for p in self._pending)
        while have < n:
            block = next(self._stream)
            self._pending.append(block)
            have += len(block)
        rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = [rows[n:]] if len(rows) > n else []
        return torch.from_numpy(rows[:n].copy())

    def __iter__(self) -> Iterator[torch.Tensor]:
        buffer = self._take(self.capacity).to(self.device)  # (C, H)
        serve = max(self.batch, (self.capacity // 2) // self.batch * self.batch)
        while True:
            slots = torch.randperm(self.capacity, generator=self.generator)[:serve].to(self.device)  # (serve,)
            for b in range(0, serve, self.batch):
                yield buffer[slots[b : b + self.batch]]  # (batch, H), a copy
            buffer[slots] = self._take(serve).to(self.device)
