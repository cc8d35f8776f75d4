"""Server-side data for the dashboard: open recordings and derived arrays in small LRU caches,
so the heavy data stays in this process and the browser only gets windows and summaries.

    data = DataStore("runs")
    data.recording("austen", "val")                        # charnn Recording, opened once
    data.unit_column("austen", "val", 1, "c", 37)           # (n_chars,) float32, cached
    data.target("austen", "val", {"regex": '"[^"]*"'})      # (n_chars,) float32 0/1, cached
    data.run("austen")                                      # charnn Run (model + vocab), loaded once
    data.probe_steps("austen")                              # {1200: "step-0001200", ...}
    data.preparing("austen", "val").result()                # the search summary, built on first open
    data.explanations("austen", "val")                      # explanations.parquet's rows, or None
    data.close()                                            # stops the preparation (server shutdown)

A recording's first open also queues the loading of its text and the model its gates are derived
with (what the first attribution of a click needs), then the building of its search summary (`charnn.search.prepare`:
one pass over every unit, a second or two for a million characters) on one background thread,
so that by the time a user has typed a regex the search has only the target's rows to
histogram; recordings are prepared one at a time, in the order they were opened. `close`
cancels the queued ones and stops the running one at its next chunk, so Ctrl-C is not held up
by a preparation (a stopped one saves nothing: its summary is written only when complete).

The explanations (`charnn explain`) are read once per version of their file, so a view asks for
them on every repaint and sees them as soon as the Explain tab or `charnn explain` writes them.

Every run and recording name goes through `paths.safe_join`, so a name from the browser cannot
reach outside RUNS_DIR. Only the engine's public API is used (no Parquet here).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import charnn
from charnn.attribution import half_life_at, unit_half_lives
from charnn.attribution.attribute import default_method
from charnn.explanations import current_explanations, explanations_path
from charnn.gates import saturation
from charnn.recording import probe_steps
from charnn.run import RunFolder
from charnn.search import prepare
from charnn.text import make_target, query_fields
from charnn.units import Unit

from . import paths

SATURATION_CHARS = 250_000  # characters read for the gate saturation plot


class LRU:
    """A small thread-safe least-recently-used cache; values are made outside the lock."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def query_key(query: dict | None) -> tuple | None:
    """A hashable form of a query dict (its make_target keywords), None when it asks for nothing."""
    fields = query_fields(query)
    return None if fields is None else tuple(sorted(fields.items()))


class DataStore:
    def __init__(self, runs_root: str | Path, max_recordings: int = 4):
        self.root = Path(runs_root).resolve()
        self._recordings = LRU(max_recordings)
        self._columns = LRU(64)
        self._targets = LRU(16)
        self._derived = LRU(16)
        self._searches = LRU(8)
        self._runs = LRU(2)
        self._results = LRU(16)
        self._explanations = LRU(4)
        self._computed: dict[Path, pd.DataFrame] = {}  # explained here but not saved (a read-only recording)
        self._preparing: dict[Path, Future] = {}
        self._preparer = ThreadPoolExecutor(1, thread_name_prefix="charnn-prepare")
        self._closing = threading.Event()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Cancel the queued search preparations, stop the running one and wait for it."""
        self._closing.set()
        self._preparer.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ catalog
    def runs(self) -> list[str]:
        return paths.list_runs(self.root)

    def recordings(self, run: str) -> list[str]:
        return paths.list_recordings(self.root, run)

    def recording(self, run: str, rec: str):
        """The recording, opened once; a ValueError naming it if it cannot be opened."""
        path = paths.recording_path(self.root, run, rec)

        def open_it():
            try:
                return self._start_preparing(charnn.open_recording(path))
            except (ValueError, OSError) as err:
                raise ValueError(f"cannot open the recording {rec!r} of {run} ({err})") from err
        return self._recordings.get(path, open_it)

    def preparing(self, run: str, rec: str) -> Future:
        """The queued building of this recording's search summary (once per recording). A search
        that finds it still queued cancels it and builds the summary itself."""
        r = self.recording(run, rec)
        with self._lock:
            return self._preparing[r.path]

    def _start_preparing(self, r):
        with self._lock:
            if r.path not in self._preparing:
                self._preparing[r.path] = self._preparer.submit(_prepare_quietly, r, self._closing.is_set)
        return r

    def info(self, run: str, rec: str) -> dict:
        r = self.recording(run, rec)
        has = getattr(r, "has", lambda layer, kind: True)
        return {"n_chars": r.n_chars, "layers": r.layers, "kinds": list(r.kinds), "cell": r.meta.get("cell", "lstm"),
                "kind_layers": {k: [l for l in range(r.layers) if has(l, k)] for k in r.kinds}}

    def width(self, run: str, rec: str, layer: int, kind: str) -> int:
        """How many units one layer and kind has: the one place the dashboard asks (a kind added
        to a recording later, such as a sparse autoencoder's latents, may be wider than the
        model's hidden size)."""
        r = self.recording(run, rec)
        return r.width(layer, kind) if hasattr(r, "width") else r.hidden

    def run_path(self, run: str) -> Path:
        return paths.run_path(self.root, run)

    def run(self, run: str):
        """The run's model and vocabulary (charnn.load_run), loaded once."""
        path = self.run_path(run)
        return self._runs.get(path, lambda: charnn.load_run(path))

    def probe_steps(self, run: str) -> dict[int, str]:
        """{training step: recording name} of the run's probe recordings (step-XXXXXXX), in step order."""
        return {step: path.name for step, path in probe_steps(self.run_path(run)).items()}

    def metrics(self, run: str) -> pd.DataFrame | None:
        return RunFolder(self.run_path(run)).metrics()

    # ------------------------------------------------------------ text and units
    def text_window(self, run: str, rec: str, start: int, stop: int) -> pd.DataFrame:
        return self.recording(run, rec).text_rows(start, stop)

    def text(self, run: str, rec: str) -> str:
        return self.recording(run, rec).string

    def unit_window(self, run, rec, layer, kind, unit, start, stop) -> np.ndarray:
        return self.recording(run, rec).activations(layer, kind, [unit], start, stop)[:, 0]

    def unit_column(self, run, rec, layer, kind, unit) -> np.ndarray:
        """(n_chars,) float32 of one unit over the whole recording."""
        r = self.recording(run, rec)
        return self._columns.get((r.path, layer, kind, unit), lambda: r.activations(layer, kind, [unit])[:, 0])

    def unit_range(self, run, rec, layer, kind, unit) -> tuple[float, float]:
        lo, hi = self.recording(run, rec).unit_range(layer, kind)
        return float(lo[unit]), float(hi[unit])

    def units_window(self, run, rec, units: list[Unit], start, stop) -> np.ndarray:
        """(len(units), stop - start) float32 of the units over a window."""
        r = self.recording(run, rec)
        out = np.zeros((len(units), max(0, min(stop, r.n_chars) - start)), np.float32)
        groups: dict = {}
        for row, unit in enumerate(units):
            groups.setdefault((unit.layer, unit.kind), []).append((row, unit.index))
        for (layer, kind), members in groups.items():
            block = r.activations(layer, kind, [u for _, u in members], start, stop)  # (n, k)
            out[[row for row, _ in members]] = block.T
        return out

    # ------------------------------------------------------------ attribution (charnn.attribution)
    def attribution(self, run, rec, unit: Unit, at: int, first: int):
        """(charnn.attribute of `unit` at `at` over the characters from `first` on, within its stream
        (gradient methods: at most 200 of them), the half-life there (steps, censored) or None for a
        kind no gate decays)."""
        r = self.recording(run, rec)
        first = max(first, r.stream_start(at))
        method = default_method(r.meta["cell"], unit.kind)
        window = at - first + 1 if method == "write" else min(at - first + 1, 200)
        a = charnn.attribute(r, unit, at, window=window, method=method)
        if a.half_life is not None and (not a.half_life[1] or first == r.stream_start(at)):
            return a, a.half_life  # from the window's own gates (censored only at the stream's start)
        try:
            return a, half_life_at(r, unit, at)
        except ValueError:
            return a, None

    def memory_spans(self, run: str, rec: str) -> pd.DataFrame:
        """charnn.memory_spans of the recording (every decayed kind), computed once."""
        r = self.recording(run, rec)
        return self.remembered(("memory", str(r.path)), lambda: charnn.memory_spans(r))

    def circuit(self, run, rec, unit: Unit, at: int | None):
        """charnn.circuit of `unit` at `at` (None: averaged over its largest values), remembered."""
        r = self.recording(run, rec)
        return self.remembered(("circuit", str(r.path), str(unit), at), lambda: charnn.circuit(r, unit, at))

    def unit_half_lives(self, run, rec, unit: Unit) -> np.ndarray:
        """(n_chars,) half-life of one unit at every position (charnn.attribution.unit_half_lives)."""
        r = self.recording(run, rec)
        return self.remembered(("half-lives", str(r.path), str(unit)), lambda: unit_half_lives(r, unit)[0])

    # ------------------------------------------------------------ derived
    def target(self, run: str, rec: str, query: dict | None) -> np.ndarray | None:
        """(n_chars,) float32 target of a regex, concept or explanation query; None for no query.

        Raises ValueError (the search module's RegexError, an ExplanationError) for a bad or
        catastrophic regex or an explanation that does not parse.
        """
        key = query_key(query)
        if key is None:
            return None
        r = self.recording(run, rec)

        def make():
            try:
                return make_target(r.string, **dict(key))[0]
            except ValueError as err:  # remembered too: a catastrophic regex should time out once, not per repaint
                return err

        target = self._targets.get((r.path, key), make)
        if isinstance(target, ValueError):
            raise target
        return target

    def cached_search(self, run: str, rec: str, query: dict, run_search):
        """The result of run_search() for this query, remembered (failures and cancels are not)."""
        return self._searches.get((self.recording(run, rec).path, query_key(query)), run_search)

    def remembered(self, key: tuple, make):
        """make(), remembered under key (a failure is not remembered: it raises before it is stored)."""
        return self._results.get(key, make)

    def explanations(self, run: str, rec: str) -> pd.DataFrame | None:
        """Every row of the recording's explanations, read once per version of explanations.parquet;
        None while it has none (or only an earlier recording's in its folder). A ValueError says
        what to do about a damaged file."""
        r = self.recording(run, rec)
        path = explanations_path(r)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return self._computed.get(r.path)

        def read():
            try:
                return current_explanations(r)
            except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
                raise ValueError(f"cannot read {path.name} of {run}/{rec} ({err}): compute the explanations "
                                 "again on the Explain tab") from err
        return self._explanations.get((path, stat.st_mtime_ns, stat.st_size), read)

    def explained(self, run: str, rec: str, df: pd.DataFrame) -> None:
        """Keep explanations computed here in memory: shown when they could not be saved beside the
        recording (the saved file wins when there is one)."""
        self._computed[self.recording(run, rec).path] = df

    def gate_saturation(self, run: str, rec: str, max_chars: int = SATURATION_CHARS) -> pd.DataFrame:
        """Per (layer, gate, unit): fraction of steps with the gate < 0.1 (left) and > 0.9 (right)."""
        r = self.recording(run, rec)
        return self._derived.get(("saturation", r.path, max_chars), lambda: saturation(r, max_chars))


def _prepare_quietly(r, cancel) -> None:
    try:
        r.string  # noqa: B018 - the text and (where gates are derived) the model, loaded before a first click asks
        derived = [k for k in r.kinds if r.has(0, k) and not r.stored(0, k)]
        if derived and r.n_chars:
            r.activations(0, derived[0], [0], 0, 1)
        prepare(r, progress=False, cancel=cancel)
    except Exception:  # noqa: BLE001 - the first search then builds the summary itself, and reports what fails
        pass
