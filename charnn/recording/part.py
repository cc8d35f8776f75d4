"""Writing one part of a recording: run the model over the part's streams, write every stored
state straight into its state file, the text table, the boundary states and, last, the marker.

    write_part(folder, index)                    # in any process: reads plan.json, the folder's model, the text
    write_part(folder, index, source, model)     # the recorder's own process passes what it has loaded

Idempotent: a part whose marker is valid for the plan is left alone, and a part interrupted at any
point has no marker, so writing it again starts it over. Each window of steps is one stepper call
(the named-gate recording path), and every stored (layer, kind) is one `pack` into a memory map
of its file: the rows all streams produce are the file's [:, :, off:off + W] slice. The gates that
are derived on read, not stored, are packed for their statistics only (no copy) in every 8th
window, so that their unit ranges are known without a pass over the recording: statistics of an
eighth of the text, all streams at once, for a tenth of the recording's time if taken from every
window (the stepper keeps every gate of the window then). A search's histogram of a gate clips the
rare values beyond that range into its end bins.

On the CPU the streams are shared by threads (one per torch thread), each stepping its own streams
with torch single-threaded: with torch's own threads every small op of a step waits at a barrier
(docs/recording.md, "Speed", has what that cost where it was measured).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .. import threads
from ..model import CharRNN
from ..stepper import Stepper
from ..vocab import DOC_ID, UNK_ID, Vocab
from . import layout, manifest
from .pack import UnitStats, pack, top_k
from .sources import TextSource
from .statefile import StateFile, StateLayout
from .streams import PartPlan

LN2 = math.log(2)
WINDOW_BYTES = 192 << 20  # float32 states of one window (all streams, every kind stepped), over all threads
DERIVED_STATS_EVERY = 8  # windows: the derived kinds' statistics come from every 8th (see the docstring)
RELEASE_BYTES = 1 << 30  # state bytes a thread writes between releases of its mapped pages (a release makes every
# page written again fault, and a write fault on a file page costs microseconds: rarely)
TEXT_ROW_GROUP = 65536


def window_steps(streams: int, hidden: int, n_states: int) -> int:
    """Steps per window: the float32 state buffers of all streams stay within WINDOW_BYTES; a
    multiple of 16 (the pack kernel's blocks). The same whatever the threads, so that a recording
    does not depend on how many there were."""
    per_step = streams * hidden * max(1, n_states) * 4
    return int(max(16, min(256, WINDOW_BYTES // per_step)) // 16 * 16)


def stepped_kinds(plan: dict, layer: int) -> list[str]:
    """The kinds the stepper gives for a layer: the stored ones and those derived on read."""
    return [k for k in plan["kinds"] if k in plan["stored"][str(layer)] or k in plan["derived"]]


def write_part(folder: Path, index: int, source: TextSource | None = None, model: CharRNN | None = None,
               device: str = "cpu", progress=None) -> dict:
    """Write part `index` of the recording being written in `folder` (see the module docstring);
    returns its marker. progress(rows) is called after every window."""
    folder = Path(folder)
    plan = manifest.read_plan(folder)
    marker = manifest.read_marker(folder, plan, index)
    if marker is not None:
        return marker
    if model is None:
        model, vocab = manifest.load_model(folder, plan)
    else:
        vocab = Vocab.load(folder / manifest.VOCAB)
    if source is None:
        source = plan_source(str(folder), plan["fingerprint"])
    if source.sha256 != plan["source_sha256"]:
        raise manifest.RecordingError(f"the text {plan['text']!r} changed since this recording was started: "
                                      f"delete {folder} and record again")
    part = PartPlan(**plan["parts"][index])
    writer = _PartWriter(folder, plan, part, model.to(device), source, vocab)
    try:
        files, stats = writer.run(progress)
    finally:
        writer.close()
    return manifest.write_marker(folder, plan, index, files, stats)


@functools.lru_cache(maxsize=1)
def plan_source(folder: str, fingerprint: str) -> TextSource:
    """The text of the recording being written in `folder`, read and encoded once per process: a
    cluster worker writes several parts of one text (reading a 10^7-character text costs a second)."""
    plan = manifest.read_plan(Path(folder))
    vocab = Vocab.load(Path(folder) / manifest.VOCAB)
    return TextSource.load(plan["run"], plan["text"], vocab, plan["max_chars"])


class _PartWriter:
    def __init__(self, folder: Path, plan: dict, part: PartPlan, model: CharRNN, source: TextSource, vocab: Vocab):
        self.folder, self.plan, self.part, self.model, self.source, self.vocab = folder, plan, part, model, source, vocab
        cfg = model.config
        self.layers, self.hidden = cfg.layers, cfg.hidden
        self.kinds = {l: stepped_kinds(plan, l) for l in range(cfg.layers)}
        self.files = self._create_files(StateLayout(part.rows, part.segment, cfg.hidden, plan["dtype"], part.start))
        k = min(plan["top_k"], len(vocab))
        B, L = part.streams, part.segment
        self.loss = np.full((B, L + 1), np.nan, np.float32)  # loss[b, j]: bits of row j of stream b
        self.top_ids = np.zeros((B, L, k), np.int32)  # the top-k after reading row j
        self.top_p = np.zeros((B, L, k), np.float32)
        self.stopped = False  # set when one thread failed: the others end at their next window

    def _create_files(self, shape: StateLayout) -> dict[tuple[int, str], StateFile]:
        """The part's state files, two at a time: creating one is mostly the kernel faulting its pages
        in, and on this project's VM, memory that the host had taken back cost 4.6 s for 2 GB on one
        core, 2.4 s on two."""
        paths = {(l, k): layout.states_file(self.folder, l, k, self.part.index)
                 for l in range(self.layers) for k in self.plan["stored"][str(l)]}
        for path in paths.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        jobs = {key: threads.pool(2, "create").submit(StateFile.create, path, shape) for key, path in paths.items()}
        errors = [job.exception() for job in jobs.values() if job.exception() is not None]
        if errors:  # a full disk: close what was made, and fail
            for job in jobs.values():
                if job.exception() is None:
                    job.result().close()
            raise errors[0]
        return {key: job.result() for key, job in jobs.items()}

    def workers(self, device: torch.device) -> int:
        """Threads that step disjoint streams, each with torch single-threaded (on a GPU: one)."""
        if device.type != "cpu":
            return 1
        return max(1, min(torch.get_num_threads(), self.part.streams // 32))

    @torch.no_grad()
    def run(self, progress) -> tuple[list[Path], dict[str, UnitStats]]:
        part, device = self.part, next(self.model.parameters()).device
        ids = part.id_matrix(self.source.ids).to(device)  # (B, steps + 1)
        workers = self.workers(device)
        bounds = np.linspace(0, part.streams, workers + 1).round().astype(int)
        slices = [(int(bounds[b]), int(bounds[b + 1])) for b in range(workers)]
        if device.type != "cpu":
            done = [self._streams(ids, *slices[0], progress)]
        else:
            jobs = [threads.pool(workers, "record").submit(self._streams, ids, b0, b1, progress) for b0, b1 in slices]
            try:
                done = [job.result() for job in jobs]
            except BaseException:  # an error, or Ctrl-C: the other threads stop at their next window
                self.stopped = True
                for job in jobs:
                    job.exception()
                raise
        finishing = threads.pool(1, "finish").submit(lambda: [f.finish() for f in self.files.values()])
        stats = {key: UnitStats(self.hidden) for key in done[0][1]}  # while the files go to disk:
        for _, part_stats in done:
            for key, s in part_stats.items():
                stats[key].merge(s)
        paths = [f.path for f in self.files.values()]
        paths.append(self._boundary(torch.cat([h for h, _ in done], dim=1)))
        paths.append(self._text_table())
        finishing.result()
        return paths, stats

    @torch.no_grad()  # per thread: a pool thread does not inherit the caller's grad mode
    def _streams(self, ids: torch.Tensor, b0: int, b1: int, progress):
        """Streams [b0, b1) through every step: (h after their burn-in (layers, b1 - b0, H), their
        unit statistics)."""
        part = self.part
        stats = {f"{l}:{k}": UnitStats(self.hidden) for l in range(self.layers) for k in self.kinds[l]}
        state, boundary = self._burn_in(ids[b0:b1], b0)
        stepper = Stepper(self.model, reuse_outputs=True)  # each window is packed before the next
        every = set().union(*self.kinds.values())
        stored = {k for l in range(self.layers) for k in self.plan["stored"][str(l)]}
        window = window_steps(part.streams, self.hidden, sum(len(k) for k in self.kinds.values()))
        written = 0
        for w, s0 in enumerate(range(part.burn_in, part.steps, window)):
            if self.stopped:
                raise RuntimeError("stopped: another thread of this part failed")
            s1 = min(part.steps, s0 + window)
            kinds = every if w % DERIVED_STATS_EVERY == 0 else stored
            logits, state, states = stepper.run(ids[b0:b1, s0:s1], state, kinds)  # (b, W, V); states (W, b, H)
            rows = self._pack(states, s0 - part.burn_in, b0, b1, stats)
            self._predictions(logits, ids[b0:b1, s0 + 1:s1 + 1], s0 - part.burn_in, b0)
            written += rows * self.hidden * len(self.files) * 2
            if written >= RELEASE_BYTES:
                for f in self.files.values():
                    f.release()
                written = 0
            if progress is not None:
                progress(rows)
        return boundary, stats

    def _burn_in(self, ids: torch.Tensor, b0: int):
        """The state of these streams after K steps, through the fast path (no state is recorded
        there), and h at that point per layer: (layers, b, H), the h before each stream's first row."""
        part, cfg = self.part, self.model.config
        if not part.burn_in:
            return None, torch.zeros(cfg.layers, ids.shape[0], cfg.hidden)
        _, state = self.model.rnn(self.model.embedding(ids[:, :part.burn_in]))  # (layers, b, H) each
        if part.start == 0 and b0 == 0:  # stream 0 read padding: it starts from zero at position 0
            for s in (state if isinstance(state, tuple) else (state,)):
                s[:, 0] = 0
        h = state[0] if isinstance(state, tuple) else state
        first = self.model.head(h[-1])  # (b, V): the prediction of each stream's first row
        self._predictions(first[:, None], ids[:, part.burn_in:part.burn_in + 1], -1, b0)
        if part.start == 0 and b0 == 0:
            self.loss[0, 0] = np.nan  # nothing predicted position 0
        return state, h.float().cpu()

    def _pack(self, states: dict, off: int, b0: int, b1: int, stats: dict) -> int:
        """Every stepped (layer, kind) of a window of streams [b0, b1): into its file (stored), or
        its statistics only; returns the rows that are in the text."""
        part = self.part
        G = min(b1, part.full_streams) - b0  # whole segments among these streams
        w_last = min(max(part.last_rows - off, 0), part.segment) if b1 > part.full_streams else 0
        W = 0
        for (l, k), x in states.items():
            x = x.float().cpu() if x.device.type != "cpu" else x  # (W, b, H)
            W = x.shape[0]
            f, s = self.files.get((l, k)), stats[f"{l}:{k}"]
            pack(x[:, :G], None if f is None else f.groups[b0:b0 + G, :, off:off + W], s)
            if w_last:  # the last stream's rows that are in the text
                n = min(W, w_last)
                pack(x[:n, G:G + 1], None if f is None else f.last[None, :, off:off + n], s)
        return G * W + min(W, w_last)

    def _predictions(self, logits: torch.Tensor, next_ids: torch.Tensor, off: int, b0: int) -> None:
        """logits (b, W, V) of streams b0.. after reading rows off .. off + W - 1: the loss of rows
        off + 1 ..., and each row's top-k guesses for the next character (off = -1: the burn-in's
        last step)."""
        logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # (b, W, V)
        nll = logp.gather(-1, next_ids.cpu().unsqueeze(-1)).squeeze(-1).div_(-LN2)  # (b, W) bits of the next row
        b, W = logp.shape[:2]
        self.loss[b0:b0 + b, off + 1:off + 1 + W] = nll.numpy()
        if off >= 0:
            top_k(logp, self.top_ids[b0:b0 + b, off:off + W], self.top_p[b0:b0 + b, off:off + W])

    def _boundary(self, h: torch.Tensor) -> Path:
        path = layout.boundary_file(self.folder, self.part.index)
        path.parent.mkdir(exist_ok=True)
        with open(path, "wb") as f:
            np.save(f, h.numpy().astype(np.float32), allow_pickle=False)  # (layers, B, H)
        manifest.durable(path)
        return path

    def _text_table(self) -> Path:
        """text/part-N.parquet: one row per position of the part."""
        part, source = self.part, self.source
        n, k = part.rows, self.top_ids.shape[-1]  # row b * segment + j is stream b's step j
        loss = self.loss[:, :part.segment].reshape(-1)[:n]
        doc, line, col = source.positions(part.start, part.stop)
        shown = {UNK_ID: "\ufffd", DOC_ID: "\u241e"}  # one display char per reserved id
        id_chars = "".join(shown.get(i) or self.vocab.id_to_char(i) for i in range(len(self.vocab)))
        table = pa.table({
            "pos": np.arange(part.start, part.stop, dtype=np.int64),
            "char": _one_char_strings(source.string[part.start:part.stop]),
            "id": source.ids[part.start:part.stop].astype(np.int32),
            "doc": doc, "line": line, "col": col,
            "loss_bits": loss, "p": np.exp2(-loss).astype(np.float32),
            "next_top": _one_char_strings(id_chars, self.top_ids.reshape(-1, k)[:n]),
            "next_top_p": pa.FixedSizeListArray.from_arrays(pa.array(self.top_p.reshape(-1)[:n * k]), k),
        })
        path = layout.text_file(self.folder, part.index)
        path.parent.mkdir(exist_ok=True)
        # Dictionaries only where values repeat: tried on the floats and the top-k strings, they are
        # dropped again and cost 60% of the writing time.
        pq.write_table(table, path, compression="zstd", row_group_size=TEXT_ROW_GROUP,
                       use_dictionary=["char", "id", "doc"])
        manifest.durable(path)
        return path

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _one_char_strings(chars: str, index: np.ndarray | None = None) -> pa.Array:
    """A string array built from UTF-8 bytes without a Python string per row: one character of
    `chars` per row, or (index (n, k)) the k characters chars[index[i]] joined per row."""
    if index is None:
        cp = np.frombuffer(chars.encode("utf-32-le", "surrogatepass"), np.uint32)
        width = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)  # UTF-8 bytes per character
        data = np.frombuffer(chars.encode("utf-8", "surrogatepass"), np.uint8)
        return _strings(np.concatenate([[0], np.cumsum(width)]), data)
    encoded = [c.encode("utf-8", "surrogatepass") for c in chars]
    width = np.array([len(e) for e in encoded], np.int64)
    table = np.zeros((len(chars), 4), np.uint8)  # each character's UTF-8 bytes, left-aligned
    for i, e in enumerate(encoded):
        table[i, :len(e)] = np.frombuffer(e, np.uint8)
    w = width[index]  # (n, k) bytes of each picked character
    data = table[index.reshape(-1)][np.arange(4) < w.reshape(-1, 1)]  # their bytes, in order
    return _strings(np.concatenate([[0], np.cumsum(w.sum(1))]), data)


def _strings(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """Arrow strings from UTF-8 bytes and n + 1 offsets (large strings past 2 GB)."""
    if offsets[-1] < 2 ** 31:
        return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data))
