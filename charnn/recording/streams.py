"""Cutting a long text into parallel streams with a burn-in overlap.

A recording is cut into parts (contiguous ranges of about PART_CHARS characters, each written on
its own), and each part into B streams of L consecutive positions (`PartPlan`). Stream b of a
part records positions [start + b*L, start + (b+1)*L) but first reads the K characters before
them from a zero state (burn-in), so its state has converged by the time it records. Every stream
of a part reads K + L steps, recording steps [K, K + L): the rows that all streams record in one
window of steps are one slice of a state file's (streams, units, L) array. Where a stream would
start reading before position 0 (stream 0 of the first part) it reads padding and its state is
zeroed at step K, so it starts exactly like a single sequential pass at position 0.

`StreamPlan` is the older plan that scoring an ablation (charnn.causal) uses: stream 0 starts at
position 0 without burn-in and the others K characters before their segment.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..vocab import UNK_ID
from .statefile import RowGroups

PART_CHARS = 1 << 20  # characters per part: memory does not grow with the text beyond one part's


def stream_count(n: int, streams: int, burn_in: int) -> int:
    """Fewer streams for short texts, so that burn-in stays a small share of the work."""
    if streams < 1 or burn_in < 0:
        raise ValueError(f"streams must be >= 1 and burn-in >= 0 (got {streams}, {burn_in})")
    return min(streams, max(1, n // max(4 * burn_in, 512)))


@dataclass(frozen=True)
class PartPlan(RowGroups):
    index: int
    start: int  # first text position of the part
    stop: int
    streams: int  # B
    segment: int  # L: positions recorded per stream (the last stream may record fewer)
    burn_in: int  # K: steps read before recording starts (0: one stream from position 0)

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def steps(self) -> int:
        return self.burn_in + self.segment

    @property
    def full_streams(self) -> int:
        """Streams that record a whole segment (all but a shorter last one: last_rows)."""
        return self.full_groups

    def chunks(self, max_rows: int) -> list[tuple[int, int]]:
        """Text positions [a, b) of each chunk a scan reads of this part, in order: whole row groups
        (streams) merged up to `max_rows` rows, a group longer than that cut every `max_rows` rows.
        A chunk of whole groups is one contiguous slice of a state file and a chunk never spans two
        files, so a reader hands out the stored bytes without copying them."""
        L, full = self.segment, self.full_streams
        per = max(1, max_rows // L)  # whole groups a chunk holds
        groups = [(g * L, min(g + per, full) * L) for g in range(0, full, per)] + [(full * L, self.rows)]
        return [(self.start + a, self.start + min(a + max_rows, b)) for lo, b in groups for a in range(lo, b, max_rows)]

    def whole_groups(self, a: int, b: int) -> slice | None:
        """The full row groups that text positions [a, b) are, exactly, or None where they are not
        whole groups (rows of one group: a chunk is one or the other)."""
        L, lo, hi = self.segment, a - self.start, b - self.start
        return slice(lo // L, hi // L) if lo % L == 0 and hi % L == 0 and hi // L <= self.full_streams else None

    def id_matrix(self, ids: np.ndarray) -> torch.Tensor:
        """(B, steps + 1) ids read by each stream: padding before position 0 and after the text."""
        first = self.start - self.burn_in + self.segment * np.arange(self.streams)
        offsets = first[:, None] + np.arange(self.steps + 1)  # (B, steps + 1) text positions
        padded = np.concatenate([ids, np.full(1, UNK_ID, dtype=ids.dtype)])
        inside = np.where(offsets < 0, len(ids), np.minimum(offsets, len(ids)))
        return torch.from_numpy(padded[inside].astype(np.int64))

    def to_json(self) -> dict:
        return asdict(self)


def plan_parts(n: int, part_chars: int = PART_CHARS, streams: int = 256, burn_in: int = 256) -> list[PartPlan]:
    """The parts of an n-character text: part_chars each (the last shorter), each cut into streams."""
    if part_chars < 1:
        raise ValueError(f"part size must be >= 1 character, not {part_chars}")
    parts = []
    for index, start in enumerate(range(0, n, part_chars)):
        stop = min(n, start + part_chars)
        b = stream_count(stop - start, streams, burn_in)
        segment = math.ceil((stop - start) / b)
        b = math.ceil((stop - start) / segment)
        k = 0 if (b == 1 and start == 0) else burn_in  # one stream from position 0 is the exact sequential pass
        parts.append(PartPlan(index, start, stop, b, segment, k))
    return parts


@dataclass
class StreamPlan:
    n: int  # characters (stream positions) to record
    streams: int  # B
    segment: int  # L: positions recorded per stream
    burn_in: int  # K: characters read before recording starts (streams 1..B-1)

    @classmethod
    def make(cls, n: int, streams: int, burn_in: int) -> "StreamPlan":
        b = stream_count(n, streams, burn_in)
        return cls(n=n, streams=b, segment=math.ceil(n / b), burn_in=burn_in if b > 1 else 0)

    @property
    def steps(self) -> int:
        return self.segment + self.burn_in

    def start(self, b: int) -> int:
        """Text position read by stream b at step 0."""
        return 0 if b == 0 else b * self.segment - self.burn_in

    def recorded_steps(self, b: int) -> tuple[int, int]:
        """Steps [lo, hi) of stream b whose positions it records."""
        lo = b * self.segment - self.start(b)
        hi = lo + max(0, min(self.segment, self.n - b * self.segment))
        return lo, hi

    def id_matrix(self, ids: np.ndarray) -> torch.Tensor:
        """(B, steps + 1) ids read by each stream; positions past the end are UNK_ID."""
        offsets = np.array([self.start(b) for b in range(self.streams)])[:, None] + np.arange(self.steps + 1)
        padded = np.concatenate([ids, np.full(1, UNK_ID, dtype=ids.dtype)])
        return torch.from_numpy(padded[np.minimum(offsets, len(ids))].astype(np.int64))
