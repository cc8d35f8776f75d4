"""Adding an autoencoder's latents to a recording as a kind (charnn.sae.kind.add_latents), against
reading the states it encodes, in the same process.

    .venv/bin/python benchmarks/sae_add_kind.py                    # 1M characters, 256 units, 2,048 latents, k 32
    .venv/bin/python benchmarks/sae_add_kind.py --chars 200000     # quicker

Records `--chars` characters of the bundled Austen text through an untrained 1 x hidden LSTM
(the encoding's cost does not depend on the weights), saves an autoencoder with random
directions beside it, then times (1) reading layer 0's c over the whole recording with
`Recording.iter_chunks` and (2) `add_latents`, which reads the same states, encodes them (TopK
and the least-squares refit) and writes the float16 kind with its unit statistics. Prints both
in characters per second and their ratio. Everything is in a temporary folder, deleted after.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sae_throughput import bench_recording  # noqa: E402

from charnn.recording import open_recording  # noqa: E402
from charnn.sae.kind import add_latents  # noqa: E402
from charnn.sae.model import SAEConfig, SparseAutoencoder  # noqa: E402
from charnn.sae.store import save  # noqa: E402


def read_seconds(path: Path) -> float:
    started = time.perf_counter()
    for _ in open_recording(path).iter_chunks(kinds=["c"], layers=[0]):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--latents", type=int, default=2048)
    parser.add_argument("--k", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="charnn-sae-add-"))
    try:
        path = bench_recording(tmp, args.hidden, args.chars)
        rec = open_recording(path)
        sae = SparseAutoencoder(SAEConfig(0, "c", args.hidden, args.latents, args.k))
        sae.reset_parameters(torch.Generator().manual_seed(0))
        save(rec, "bench", sae, {}, {}, {})
        read_seconds(path)  # page the state files in, as a recording that was just written has them
        read = read_seconds(path)
        started = time.perf_counter()
        add_latents(rec, "bench", progress=False)
        add = time.perf_counter() - started
        again = read_seconds(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = rec.n_chars
    print(f"{n:,} characters, {args.hidden} units, {args.latents} latents, k {args.k}, torch threads {torch.get_num_threads()}")
    print(f"read c (Recording.iter_chunks)   {n / read:>10,.0f} chars/s   {read:6.1f} s  (again after: {again:.1f} s)")
    print(f"add the latent kind              {n / add:>10,.0f} chars/s   {add:6.1f} s   add / read {add / read:.0f}x")


if __name__ == "__main__":
    main()
