"""Record a text through a run's model: every layer's stored states, the model's per-character
loss and predictions, into a recording folder (see `layout`).

    charnn record runs/austen val --kinds c,h          # -> runs/austen/recordings/val/

One pass: the text is cut into parts (`streams`), each written by `part.write_part` straight into
its files, and the manifest (meta.json) is written last. Everything is written into a hidden
folder beside the target (`.NAME.partial`), guarded by a lock file (a second recorder of the same
name gets a clear error), and renamed into place when complete: a kill or a full disk never leaves
a half recording that opens as valid, and rerunning the same command after a kill keeps the parts
that were complete and finishes the job. A rerun with other settings (model, text, kinds, dtype,
parts, streams) starts over.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
import warnings
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from .. import cells
from ..fsio import LockBusy, check_replaceable, exclusive_lock, install_dir, remove_free_locks, write_json
from ..names import check_name
from ..run import Run, check_device, load_run, model_on, save_weights
from . import layout, manifest
from .manifest import RecordingError
from .part import write_part
from .sources import TextSource, text_corpus
from .streams import PART_CHARS, plan_parts

DTYPES = ("float16", "float32")


def parse_kinds(kinds, cell: str) -> list[str]:
    """The kinds to store, in canonical order; h always (the derived kinds are computed from it).
    None: the states that cannot be derived (c and h of an LSTM, h otherwise)."""
    cell = cells.get(cell)
    if kinds is None:
        return [k for k in cell.kinds if k not in cell.derived]
    kinds = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds) if k.strip()]
    allowed = cell.kinds
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        raise ValueError(f"kinds {bad or kinds} are not states of a {cell.name}: choose from {','.join(allowed)}")
    return [k for k in allowed if k in kinds or k == "h"]


def default_name(spec: str) -> str:
    return Path(str(spec).rstrip("/")).name.split(".")[0] or "text"


def target_folder(run: Run, text, name: str | None, out: Path | None) -> Path:
    """Where the recording goes: `out`, or RUN/recordings/NAME with NAME a plain name (charnn.names);
    refused (before any work) when something other than a recording is already there."""
    target = Path(out) if out else run.folder.recording_path(check_name(name or default_name(text), "recording name"))
    check_replaceable(target, manifest.written_by_charnn, "recording")
    return target


def record(run: str | Path | Run, text: str, name: str | None = None, kinds=None,
           max_chars: int | None = None, dtype: str = "float16", streams: int = 256,
           burn_in: int = 256, top_k: int = 5, out: Path | None = None, progress: bool = True,
           device: str = "cpu", part_chars: int = PART_CHARS, client=None) -> Path:
    """Record `text` (file, folder, bundled name, or a split name) through `run`; returns the folder.

    kinds: the kinds stored as Parquet (default c,h for an LSTM, h for a GRU or RNN; h is always
    stored, and the gates are derived on read from it either way). device: where the model runs ("cuda" if
    there is one); rows are written from the CPU.
    part_chars: characters per part (parts are written one after another, each on its own).
    client: a `dask.distributed.Client`: each part is written by a worker (which loads the
    recording's copy of the model and the text itself: the folders must be on a filesystem every
    worker sees), and the manifest by this process once all are complete (`charnn.cluster`).
    """
    run = run if isinstance(run, Run) else load_run(run)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float16 or float32, not {dtype!r}")
    if top_k < 1:
        raise ValueError(f"top-k must be >= 1, not {top_k}")
    stored = parse_kinds(kinds, run.model_config.cell)
    check_device(device)
    target = target_folder(run, text, name, out)
    source = TextSource.from_corpus(text_corpus(run, text, max_chars), run.vocab)
    plan = make_plan(run, source, text, max_chars, stored, dtype, top_k, streams, burn_in, part_chars)
    started = time.time()
    stale_leftovers(target)
    with recording_lock(target):
        for stale in target.parent.glob(f".{target.name}.partial-*"):  # left by a killed older charnn
            shutil.rmtree(stale, ignore_errors=True)
        partial = layout.partial_folder(target)
        prepare(partial, plan, run)
        if client is not None:
            from ..cluster import map_tasks
            markers = map_tasks(client, write_part_task, [(str(partial), p["index"]) for p in plan["parts"]],
                                "record", names=[f"part {p['index']}" for p in plan["parts"]], progress=progress)
        else:
            model = model_on(run, device)
            bar = tqdm(total=source.ids.size, desc="record", unit="char", unit_scale=True, disable=not progress,
                       dynamic_ncols=True)
            markers = [write_part(partial, p["index"], source, model, device, bar.update) for p in plan["parts"]]
            bar.close()
        manifest.write_manifest(partial, plan, markers, {"recording_id": uuid.uuid4().hex,
                                                         "seconds": round(time.time() - started, 2)})
        (partial / manifest.PLAN).unlink()
        install_dir(partial, target, manifest.written_by_charnn, "recording")
    return target


def stale_leftovers(target: Path) -> None:
    """Remove the lock files killed recorders left beside `target`, and name their unfinished
    recordings (kept: rerunning the same command finishes one from its complete parts)."""
    remove_free_locks(target.parent)
    for partial in sorted(target.parent.glob(".*.partial")):
        if partial != layout.partial_folder(target) and not layout.lock_file(partial.parent / partial.name[1:-8]).exists():
            warnings.warn(f"{partial} is an unfinished recording a killed recorder left: rerun its `charnn record` "
                          "command to finish it, or delete the folder", stacklevel=3)


def write_part_task(job: tuple[str, int]) -> dict:
    """A cluster task: write part `index` of the recording being written in `folder` (on the CPU)."""
    folder, index = job
    return write_part(Path(folder), index)


def make_plan(run: Run, source: TextSource, text, max_chars, stored: list[str], dtype: str, top_k: int,
              streams: int, burn_in: int, part_chars: int) -> dict:
    """plan.json: what decides the recording's content (fingerprinted), and where its text comes from."""
    cfg = run.model_config
    parts = plan_parts(source.ids.size, part_chars, streams, burn_in)
    cell = cells.get(cfg.cell)
    derived = [k for k in cell.derived if k not in stored]
    settings = {
        "schema_version": layout.SCHEMA_VERSION, "model": asdict(cfg), "model_sha256": manifest.model_hash(run.model),
        "source_sha256": source.sha256, "n_chars": int(source.ids.size), "cell": cfg.cell, "layers": cfg.layers,
        "hidden": cfg.hidden, "kinds": [k for k in cell.kinds if k in stored or k in derived],
        "stored": {str(l): {k: cfg.hidden for k in stored} for l in range(cfg.layers)}, "derived": derived,
        "dtype": dtype, "top_k": top_k, "parts": [p.to_json() for p in parts],
    }
    spec = str(text)
    if Path(spec).exists():  # a part writer in another process or folder finds it
        spec = str(Path(spec).resolve())
    return {**settings, "fingerprint": manifest.fingerprint(settings), "run": str(Path(run.path).resolve()),
            "text": spec, "max_chars": max_chars, "source": source.source, "documents": source.names,
            "unknown_chars": source.unknown, "streams": max(p.streams for p in parts), "burn_in": burn_in,
            "part_chars": part_chars}


def prepare(partial: Path, plan: dict, run: Run) -> None:
    """Keep a partial recording of the same plan (its complete parts are reused), else start over:
    the recording's own copy of the weights and vocabulary, then plan.json."""
    for name in (manifest.PLAN, manifest.META):
        path = partial / name
        if path.is_file():
            try:
                same = manifest.read_json(path, "a partial recording's plan").get("fingerprint") == plan["fingerprint"]
            except RecordingError:
                same = False
            if same:
                write_json(partial / manifest.PLAN, plan)
                return
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    save_weights(run.model, partial / manifest.MODEL)
    run.vocab.save(partial / manifest.VOCAB)
    manifest.durable(partial / manifest.VOCAB)
    write_json(partial / manifest.PLAN, plan)


@contextlib.contextmanager
def recording_lock(target: Path):
    """Hold `.NAME.lock` beside the target (flock: released if the process dies) while recording."""
    try:
        with exclusive_lock(layout.lock_file(target), f"another recorder is writing {target}"):
            yield
    except LockBusy as err:
        raise RecordingError(str(err)) from None
