"""Pass 2 of recording: raw rows (in text order) -> Parquet row groups, plus per-unit statistics.

State files go through `plainparquet` (PLAIN, uncompressed pages written straight from the
transposed rows: activations barely compress, and pyarrow's writer was the slowest part of a
recording); the text table, with its strings and lists, through pyarrow.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from ..vocab import DOC_ID, UNK_ID
from . import layout
from .layout import ROW_GROUP
from .plainparquet import PlainParquetWriter

WORKERS = 2  # Parquet files written in parallel (pyarrow releases the GIL while encoding)


def convert_to_parquet(folder: Path, string: str, corpus, run, kinds, dtype: str, top_k: int, progress: bool) -> None:
    """Write every states file and the text table from the raw rows, in text order."""
    cfg = run.model_config
    keys = [(l, k) for l in range(cfg.layers) for k in kinds]
    np_dtype = np.float16 if dtype == "float16" else np.float32
    bar = tqdm(total=len(string) * (len(keys) + 1), desc="parquet", unit="row", unit_scale=True,
               disable=not progress, dynamic_ncols=True)
    with ThreadPoolExecutor(WORKERS) as pool:
        jobs = [pool.submit(write_states_file, folder, key, len(string), cfg.hidden, np_dtype, bar) for key in keys]
        text = TextTableWriter(folder, string, corpus, run.vocab, top_k)
        for s in range(0, len(string), ROW_GROUP):
            text.write(s, min(len(string), s + ROW_GROUP))
            bar.update(min(len(string), s + ROW_GROUP) - s)
        text.close()
        stats = [job.result() for job in jobs]
    bar.close()
    pq.write_table(pa.concat_tables(stats), folder / "unit_stats.parquet")


def write_states_file(folder: Path, key, n: int, hidden: int, np_dtype, bar) -> pa.Table:
    """One (layer, kind): raw rows -> Parquet row groups; returns its per-unit statistics."""
    raw = layout.RowFile(layout.cache_file(folder, *key), n, np_dtype, hidden)
    path = layout.states_file(folder, *key)
    path.parent.mkdir(parents=True, exist_ok=True)
    stats = UnitStats(hidden)
    with PlainParquetWriter(path, [layout.unit_column(u) for u in range(hidden)], np_dtype) as writer:
        for s in range(0, n, ROW_GROUP):
            e = min(n, s + ROW_GROUP)
            columns = torch.from_numpy(raw.read(s, e)).t().contiguous()  # (H, n): one array per unit
            stats.update(columns)
            writer.write_row_group(np.arange(s, e, dtype=np.int64), columns.numpy())
            bar.update(e - s)
    raw.close()
    return stats.table(*key)


class UnitStats:
    """Running min, max, mean and std per unit.

    One float32 buffer per file, reused for every row group: a fresh 64 MB tensor per row group
    (and another for the squares) cost page faults, and torch.aminmax was 3x slower than amin
    and amax apart; together 4x less time than the plain version (which was 60% of pass 2).
    """

    def __init__(self, hidden: int):
        self.count = 0
        self.lo = torch.full((hidden,), float("inf"))
        self.hi = torch.full((hidden,), float("-inf"))
        self.total = torch.zeros(hidden, dtype=torch.float64)
        self.squares = torch.zeros(hidden, dtype=torch.float64)
        self.buffer = torch.empty(0)

    def update(self, columns: torch.Tensor) -> None:
        if self.buffer.numel() < columns.numel():
            self.buffer = torch.empty(columns.numel())
        x = self.buffer[: columns.numel()].view(columns.shape)  # (H, n): reductions along the contiguous axis
        x.copy_(columns)
        self.lo, self.hi = torch.minimum(self.lo, x.amin(1)), torch.maximum(self.hi, x.amax(1))
        self.total += x.sum(1).double()
        self.squares += x.square_().sum(1).double()
        self.count += x.shape[1]

    def table(self, layer: int, kind: str) -> pa.Table:
        mean = self.total / self.count
        std = (self.squares / self.count - mean**2).clamp_min(0).sqrt()
        h = len(mean)
        return pa.table({
            "layer": np.full(h, layer, np.int32), "kind": [kind] * h, "unit": np.arange(h, dtype=np.int32),
            "min": self.lo.numpy(), "max": self.hi.numpy(), "mean": mean.float().numpy(), "std": std.float().numpy(),
        })


class TextTableWriter:
    """text.parquet, chunk by chunk: pos, char, doc, line, col (0-based, within the document),
    loss_bits and p (the model predicting this char), next_top / next_top_p (its top-k guesses
    for the next char after reading this one)."""

    def __init__(self, folder: Path, string: str, corpus, vocab, top_k: int):
        from .writer import pred_dtype
        self.string, self.vocab, self.top_k = string, vocab, top_k
        self.preds = layout.RowFile(folder / "cache" / "predictions.raw", len(string), pred_dtype(top_k))
        self.starts = np.asarray(corpus.starts)
        # Newlines before each document's start (its text's newlines plus one joining newline each).
        per_doc = np.array([d.text.count("\n") + 1 for d in corpus.documents])
        self.lines_at_start = np.concatenate([[0], np.cumsum(per_doc[:-1])])
        self.lines_before, self.last_newline = 0, -1
        shown = {UNK_ID: "\ufffd", DOC_ID: "\u241e"}  # one display char per reserved id
        self.id_chars = np.array([shown.get(i) or vocab.id_to_char(i) for i in range(len(vocab))], dtype=object)
        self.writer = None
        self.folder = folder

    def write(self, s: int, e: int) -> None:
        chunk = self.string[s:e]
        pos = np.arange(s, e, dtype=np.int64)
        nl = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) == 10
        before = self.lines_before + np.cumsum(nl) - nl  # newlines before each position
        last = np.maximum.accumulate(np.where(nl, pos, -1).clip(min=self.last_newline))
        prev_last = np.concatenate([[self.last_newline], last[:-1]])
        self.lines_before, self.last_newline = int(before[-1] + nl[-1]), int(last[-1])
        doc = np.searchsorted(self.starts, pos, side="right") - 1
        preds = self.preds.read(s - 1, e)  # row s-1 predicted the char at s
        if s == 0:  # nothing predicted the first character
            first = np.zeros(1, dtype=preds.dtype)
            first["loss_next"], first["p_next"] = np.nan, np.nan
            preds = np.concatenate([first, preds])
        top_ids = preds["top_ids"][1:]  # (n, k)
        next_top = ["".join(row) for row in self.id_chars[top_ids]]
        table = pa.table({
            "pos": pos, "char": list(chunk), "doc": doc.astype(np.int32),
            "line": (before - self.lines_at_start[doc]).astype(np.int32), "col": (pos - prev_last - 1).astype(np.int32),
            "loss_bits": preds["loss_next"][:-1], "p": preds["p_next"][:-1],
            "next_top": next_top,
            "next_top_p": pa.FixedSizeListArray.from_arrays(pa.array(preds["top_p"][1:].reshape(-1)), self.top_k),
        })
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.folder / "text.parquet", table.schema, compression="zstd")
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
        self.preds.close()
