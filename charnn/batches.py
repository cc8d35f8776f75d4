"""Truncated-BPTT batches: B parallel contiguous streams over an id array, T steps at a time.

Stream b reads ids[b*n : (b+1)*n + 1] where n = (len(ids) - 1) // B, so consecutive windows
continue each other and the hidden state can be carried across batches, as char-rnn does. A
process of a distributed run reads a contiguous slice of the B streams (`rows`): the same streams
as a single process, shared out.
"""

from __future__ import annotations

import numpy as np
import torch


class StreamBatches:
    def __init__(self, ids: np.ndarray, batch: int, seq_len: int, rows: slice = slice(None)):
        n = (len(ids) - 1) // batch
        if n < 1:
            raise ValueError(
                f"{len(ids)} characters cannot feed {batch} parallel streams: lower --batch-size"
            )
        flat = torch.from_numpy(np.ascontiguousarray(ids[: batch * n + 1]))
        self.data = flat.as_strided((batch, n + 1), (n, 1))[rows]  # (B, n+1), overlapping by one id
        self.batch, self.seq_len, self.stream_len = len(self.data), seq_len, n

    def window(self, pos: int, length: int | None = None):
        """Inputs and targets (B, t) int64 for steps [pos, pos + t)."""
        t = min(length or self.seq_len, self.stream_len - pos)
        x = self.data[:, pos : pos + t].long()
        y = self.data[:, pos + 1 : pos + t + 1].long()
        return x, y

    def windows(self):
        """All windows in order, the last one possibly shorter: (x, y) each (B, t)."""
        for pos in range(0, self.stream_len, self.seq_len):
            yield self.window(pos)

    def next_pos(self, pos: int) -> tuple[int, bool]:
        """Start of the window after `pos`, and whether the streams wrapped (new epoch)."""
        nxt = pos + self.seq_len
        if nxt + self.seq_len > self.stream_len:
            return 0, True
        return nxt, False

    @property
    def n_chars(self) -> int:
        return self.batch * self.stream_len
