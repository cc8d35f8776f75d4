"""Sparse autoencoder speed: training characters per second, and encoding a recording's states
into latents, each against a baseline timed in the same process.

    .venv/bin/python benchmarks/sae_throughput.py                 # 256 units, 2,048 latents, k 32
    .venv/bin/python benchmarks/sae_throughput.py --quick         # fewer rounds

1. Training: one step (forward, backward, Adam, decoder renormalisation) of the TopK trainer
   (charnn.sae.training, k-sparse autograd) against the same step through plain dense autograd
   (every (n, H) x (H, latents) product dense), and against a plain dense ReLU autoencoder of the
   same size (the L1 variant's step); alternating, medians, chars/s and ratios.
2. Encoding: `sae.encode` of 65,536-state chunks into dense float16 latents (what adding the
   latent kind to a recording computes), against reading the same states from a recording with
   `Recording.iter_chunks`; prints the seconds for 1M characters.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import alternate  # noqa: E402

from charnn.sae.model import SAEConfig, SparseAutoencoder  # noqa: E402
from charnn.sae.training import Trainer, TrainOptions, normalized_mse  # noqa: E402


def dense_topk_step(sae: SparseAutoencoder, optimizer, u: torch.Tensor) -> None:
    """The TopK step written the plain way: a dense (n, latents) code and dense products."""
    pre = (u - sae.b_dec) @ sae.W_enc.t() + sae.b_enc  # (n, L)
    values, indices = pre.topk(sae.config.k, dim=1)
    z = torch.zeros_like(pre).scatter(1, indices, values.relu())  # (n, L)
    loss = normalized_mse(z @ sae.W_dec + sae.b_dec, u)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    sae.project_decoder_grad_()
    optimizer.step()
    sae.normalize_decoder_()


def training(hidden: int, latents: int, k: int, batch: int, rounds: int) -> dict:
    torch.manual_seed(0)
    u = torch.randn(batch, hidden)
    ours = Trainer(SparseAutoencoder(SAEConfig(0, "c", hidden, latents, k)), TrainOptions(dead_after=10**12))
    dense = SparseAutoencoder(SAEConfig(0, "c", hidden, latents, k))
    dense_opt = torch.optim.Adam(dense.parameters(), lr=1e-3)
    relu = Trainer(SparseAutoencoder(SAEConfig(0, "c", hidden, latents, activation="relu")),
                   TrainOptions(activation="relu", l1=1e-3, dead_after=10**12))
    contenders = {
        "topk, k-sparse autograd (ours)": lambda: ours.step(u, 1e-3),
        "topk, dense autograd": lambda: dense_topk_step(dense, dense_opt, u),
        "relu + L1, dense (plain autoencoder)": lambda: relu.step(u, 1e-3),
    }
    for fn in contenders.values():  # warm up
        fn()
    times = alternate(contenders, rounds)
    return {name: batch / statistics.median(t) for name, t in times.items()}


def encoding(rec_path: Path, hidden: int, latents: int, k: int, rounds: int) -> tuple[float, float]:
    """(encode chars/s, recording read chars/s) for layer 0, kind c."""
    from charnn.recording import open_recording
    rec = open_recording(rec_path)
    sae = SparseAutoencoder(SAEConfig(0, "c", hidden, latents, k)).eval()
    block = torch.from_numpy(rec.activations(0, "c", start=0, stop=65536))  # (n, H)
    out = torch.empty(len(block), latents, dtype=torch.float16)

    @torch.no_grad()
    def encode():
        for s in range(0, len(block), 8192):
            out[s : s + 8192] = sae.encode(block[s : s + 8192])

    def read():
        for _ in open_recording(rec_path).iter_chunks(kinds=["c"], layers=[0]):
            pass

    encode()
    times = alternate({"encode": encode, "read": read}, rounds)
    return len(block) / statistics.median(times["encode"]), rec.n_chars / statistics.median(times["read"])


def bench_recording(folder: Path, hidden: int, n_chars: int) -> Path:
    """A recording (c, h) of the bundled Austen text through an untrained 1 x hidden LSTM."""
    from charnn.corpus import load_corpus
    from charnn.model import CharRNN, ModelConfig
    from charnn.recording import record
    from charnn.run import create_run
    corpus = load_corpus("austen")
    vocab = corpus.build_vocab()
    torch.manual_seed(0)
    run = create_run(folder / "run", CharRNN(ModelConfig(vocab_size=len(vocab), layers=1, hidden=hidden)).eval(), vocab)
    text = folder / "text.txt"
    text.write_text("".join(d.text for d in corpus.documents)[:n_chars])
    return record(run, text, kinds="c,h", out=folder / "rec", progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--latents", type=int, default=2048)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--rec", type=Path, default=None, help="a recording with layer 0 kind c (default: record 200k chars)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    print(f"{args.hidden} units, {args.latents} latents, k {args.k}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    speeds = training(args.hidden, args.latents, args.k, args.batch, rounds)
    ours = speeds["topk, k-sparse autograd (ours)"]
    for name, speed in speeds.items():
        print(f"train  {name:<38} {speed:>9,.0f} chars/s   ours / this {ours / speed:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="charnn-sae-bench-"))
    try:
        rec = args.rec or bench_recording(tmp, args.hidden, 200_000)
        encode, read = encoding(rec, args.hidden, args.latents, args.k, rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"encode {args.latents} latents (float16 out)           {encode:>9,.0f} chars/s   1M chars: {1e6 / encode:.1f} s")
    print(f"read the states (Recording.iter_chunks)      {read:>9,.0f} chars/s   1M chars: {1e6 / read:.1f} s; "
          f"encode / read {encode / read:.2f}")


if __name__ == "__main__":
    main()
