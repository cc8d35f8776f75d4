"""Record a text through a run's model: every layer's chosen states, the model's per-character
loss and predictions, into a recording folder (see `layout`).

    charnn record runs/austen val --kinds c,h          # -> runs/austen/recordings/val/

Two passes, both with bounded memory: (1) the model reads B parallel streams window by window
and each stream's rows go straight to raw row files at their text positions; (2) the raw rows
are read back in text order and written as Parquet row groups. Everything is written into a
hidden temporary folder that is renamed into place at the very end, so a kill or a full disk
never leaves a half recording that opens as valid.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..fsio import atomic_dir, write_json
from ..model import STATE_KINDS
from ..run import Run, load_run, model_on
from ..stepper import Stepper
from ..vocab import UNK_ID
from . import layout
from .parquet import convert_to_parquet
from .sources import corpus_string, sha256_text, text_corpus
from .streams import StreamPlan

DTYPES = {"float16": (np.float16, torch.float16), "float32": (np.float32, torch.float32)}
LN2 = math.log(2)


def pred_dtype(top_k: int) -> np.dtype:
    """Per position: the distribution after reading it (loss of the true next char, top-k)."""
    return np.dtype([("loss_next", "<f4"), ("p_next", "<f4"), ("top_ids", "<u2", (top_k,)), ("top_p", "<f4", (top_k,))])


def parse_kinds(kinds, cell: str) -> list[str]:
    kinds = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds) if k.strip()]
    allowed = STATE_KINDS[cell]
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        raise ValueError(f"kinds {bad or kinds} are not states of a {cell}: choose from {','.join(allowed)}")
    return [k for k in allowed if k in kinds]  # canonical order


def default_name(spec: str) -> str:
    return Path(str(spec).rstrip("/")).name.split(".")[0] or "text"


def record(run: str | Path | Run, text: str, name: str | None = None, kinds="c,h",
           max_chars: int | None = None, dtype: str = "float16", streams: int = 256,
           burn_in: int = 256, top_k: int = 5, out: Path | None = None, progress: bool = True,
           device: str = "cpu") -> Path:
    """Record `text` (file, folder, bundled name, or a split name) through `run`; returns the folder.

    device: where the model runs ("cuda" if there is one); the rows are written from the CPU.
    """
    run = run if isinstance(run, Run) else load_run(run)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float16 or float32, not {dtype!r}")
    kinds = parse_kinds(kinds, run.model_config.cell)
    corpus = text_corpus(run, text, max_chars)
    string = corpus_string(corpus)
    ids = corpus.encode(run.vocab)  # (N,) int32, DOC_ID between documents
    target = Path(out) if out else run.path / "recordings" / (name or default_name(text))
    started = time.time()
    with atomic_dir(target) as tmp:
        plan = StreamPlan.make(len(ids), streams, burn_in)
        run_streams(run, ids, plan, kinds, tmp, DTYPES[dtype], top_k, progress, torch.device(device))
        convert_to_parquet(tmp, string, corpus, run, kinds, dtype, top_k, progress)
        write_json(tmp / "meta.json", {
            "schema_version": layout.SCHEMA_VERSION,
            "recording_id": uuid.uuid4().hex,
            "run": str(run.path), "model_sha256": model_hash(run),
            "source": corpus.source, "source_sha256": sha256_text(string),
            "n_chars": len(ids), "documents": [d.name for d in corpus.documents],
            "unknown_chars": int(((ids == UNK_ID)).sum()),
            "cell": run.model_config.cell, "layers": run.model_config.layers, "hidden": run.model_config.hidden,
            "kinds": kinds, "dtype": dtype, "top_k": top_k,
            "streams": plan.streams, "burn_in": plan.burn_in, "row_group": layout.ROW_GROUP,
            "cache": "raw-row-major", "seconds": round(time.time() - started, 2),
        })
    return target


def model_hash(run: Run) -> str:
    """sha256 over the weights in state-dict order (the same for a run and its probe recordings)."""
    digest = hashlib.sha256()
    for name, tensor in run.model.state_dict().items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def window_size(plan: StreamPlan, hidden: int, n_states: int, budget_bytes: int = 96 << 20) -> int:
    """Steps per window so that the float32 state buffers stay within `budget_bytes`."""
    per_step = plan.streams * hidden * max(1, n_states) * 4
    return int(max(16, min(256, budget_bytes // per_step)))


@torch.no_grad()
def run_streams(run: Run, ids: np.ndarray, plan: StreamPlan, kinds, folder: Path, dtypes, top_k, progress,
                device: torch.device = torch.device("cpu")):
    """Pass 1: read every stream window by window, write rows at their text positions."""
    np_dtype, torch_dtype = dtypes
    cfg = run.model_config
    files = {(l, k): layout.RowFile(layout.cache_file(folder, l, k), plan.n, np_dtype, cfg.hidden, create=True)
             for l in range(cfg.layers) for k in kinds}
    preds = layout.RowFile(folder / "cache" / "predictions.raw", plan.n, pred_dtype(top_k), create=True)
    matrix = plan.id_matrix(ids).to(device)  # (B, steps + 1)
    ranges = [plan.recorded_steps(b) for b in range(plan.streams)]
    stepper, state = Stepper(model_on(run, device), reuse_outputs=True), None  # each window is written before the next
    window = window_size(plan, cfg.hidden, len(files))
    # (B, window, H) host buffers, reused: fresh ones cost page faults every window
    host = {key: torch.empty(plan.streams, window, cfg.hidden, dtype=torch_dtype) for key in files}
    bar = tqdm(total=plan.n, desc="record", unit="char", unit_scale=True, disable=not progress, dynamic_ncols=True)
    for s0 in range(0, plan.steps, window):
        s1 = min(plan.steps, s0 + window)
        logits, state, states = stepper.run(matrix[:, s0:s1], state, kinds)  # logits (B, W, V)
        rows = {key: host[key][:, : s1 - s0].copy_(v.transpose(0, 1)).numpy() for key, v in states.items()}  # (B, W, H)
        pred = predictions(logits, matrix[:, s0 + 1 : s1 + 1], top_k)  # (B, W) records
        written = 0
        for b, (lo, hi) in enumerate(ranges):
            a, z = max(lo, s0), min(hi, s1)
            if a >= z:
                continue
            pos = plan.start(b) + a
            for key, f in files.items():
                f.write(pos, rows[key][b, a - s0 : z - s0])
            preds.write(pos, pred[b, a - s0 : z - s0])
            written += z - a
        bar.update(written)
    bar.close()
    for f in [*files.values(), preds]:
        f.close()


def predictions(logits: torch.Tensor, next_ids: torch.Tensor, top_k: int) -> np.ndarray:
    """(B, W, V) logits and (B, W) true next ids -> (B, W) structured predictions."""
    logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # (B, W, V)
    next_ids = next_ids.cpu()
    nll = -logp.gather(-1, next_ids.unsqueeze(-1)).squeeze(-1)  # (B, W)
    top_logp, top_ids = logp.topk(min(top_k, logp.shape[-1]), dim=-1)  # (B, W, k)
    out = np.zeros(nll.shape, dtype=pred_dtype(top_k))
    out["loss_next"] = (nll / LN2).numpy()
    out["p_next"] = torch.exp(-nll).numpy()
    out["top_ids"][..., : top_ids.shape[-1]] = top_ids.numpy()
    out["top_p"][..., : top_ids.shape[-1]] = top_logp.exp().numpy()
    return out
