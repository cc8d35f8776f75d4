"""A training job for tests/test_distributed.py, run by torchrun (or plain python for one process):

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_job.py CORPUS OUT STEPS [--stop-at N] [--resume]

Trains a 1x32 LSTM (no dropout, so every process count draws the same numbers) for STEPS steps,
evaluating every 3; --stop-at N stops after the evaluation at step N, as Ctrl-C would.
"""

import argparse

import torch

from charnn.train import TrainConfig, Trainer

parser = argparse.ArgumentParser()
parser.add_argument("corpus")
parser.add_argument("out")
parser.add_argument("steps", type=int)
parser.add_argument("--stop-at", type=int, default=0)
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()
torch.set_num_threads(1)
cfg = TrainConfig(corpus=args.corpus, out=args.out, seq_len=32, batch_size=16, lr=1e-2, max_steps=args.steps,
                  eval_every=3, warmup_steps=4, eval_chars=4000)
trainer = Trainer(cfg, resume=True) if args.resume else Trainer(cfg, dict(layers=1, hidden=32, embed=16))
if args.stop_at:
    trainer.on_eval.append(lambda t, step: setattr(t, "stop_requested", step >= args.stop_at))
trainer.fit(progress=False)
trainer.dist.close()
