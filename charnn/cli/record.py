"""`charnn record RUN TEXT`: record states, loss and predictions to Parquet (see charnn.recording)."""

from __future__ import annotations

import numpy as np
import torch

from .. import cluster
from ..recording import open_recording, record
from ..recording.streams import PART_CHARS
from .args import at_least, cluster_arguments, device


def add_parser(sub) -> None:
    p = sub.add_parser("record", help="record every timestep's states of a text into Parquet")
    p.add_argument("run", help="run folder")
    p.add_argument("text", help="a file, a folder, a bundled corpus name, or val/test/train for the run's own split")
    p.add_argument("--name", default=None, help="recording name (default: from TEXT); written to RUN/recordings/NAME")
    p.add_argument("--kinds", default=None,
                   help="states stored as Parquet, default c,h (LSTM) or h (other cells); h always, and the gates are "
                        "derived on read either way: LSTM i,f,g,o,c,h; GRU r,z,n,h; RNN h; minGRU z,n,h; "
                        "minLSTM f,i,g,h (docs/models.md)")
    p.add_argument("--max-chars", type=at_least(1), default=None, help="record only the first N characters")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                   help="storage type (float16: ~3 significant digits, half the size)")
    p.add_argument("--streams", type=at_least(1), default=256, help="parallel streams (B) a long text is cut into")
    p.add_argument("--burn-in", type=at_least(0), default=256, help="characters each stream reads before it records")
    p.add_argument("--part-chars", type=at_least(1), default=PART_CHARS,
                   help=f"characters per part, each written on its own (default {PART_CHARS:,})")
    p.add_argument("--threads", type=at_least(1), default=None,
                   help="torch threads (default: the cores this process may use, or CHARNN_THREADS)")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu", help="where the model runs")
    cluster_arguments(p)
    p.set_defaults(func=main)


def bits_per_char(loss_bits: np.ndarray) -> str:
    """The mean loss of the predicted characters (the first has no prediction)."""
    known = loss_bits[np.isfinite(loss_bits)]
    return f"{known.mean():.3f} bits/char" if known.size else "no character predicted (one character of text)"


def main(args) -> int:
    with cluster.connect(args.cluster, args.workers) as client:
        path = record(args.run, args.text, name=args.name, kinds=args.kinds, max_chars=args.max_chars,
                      dtype=args.dtype, streams=args.streams, burn_in=args.burn_in, device=args.device,
                      part_chars=args.part_chars, client=client)
    rec = open_recording(path)
    meta = rec.meta
    unknown = f", {meta['unknown_chars']} characters unknown to the vocabulary" if meta["unknown_chars"] else ""
    print(f"recorded {rec.n_chars:,} chars in {meta['seconds']:.1f} s ({len(rec.parts)} parts, {meta['streams']} "
          f"streams, burn-in {meta['burn_in']}){unknown}: {bits_per_char(rec.text_column('loss_bits'))} "
          f"-> {path}")
    return 0
