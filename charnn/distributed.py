"""Training on several processes: PyTorch DistributedDataParallel under `torchrun`.

    torchrun --nproc_per_node 2 -m charnn train austen --out runs/ddp          # one machine, 2 processes
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
        -m charnn train austen --out runs/ddp                                   # two machines

`Dist.from_env()` reads what torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK) and joins the process
group (gloo on a CPU, nccl on a GPU); without torchrun it is a world of one and every method is
a no-op, so the trainer has one code path. The global batch (`--batch-size`) is cut into equal
contiguous slices of streams, one per rank, the same streams a single process would read, so
each rank carries the hidden state of its own streams and the averaged gradient is the single
process's gradient.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @classmethod
    def from_env(cls, device: str = "cpu") -> "Dist":
        """This process's place in a torchrun job (a world of one without torchrun)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(0, 1, device)
        cuda = str(device).startswith("cuda")
        if cuda:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder and prints (rank 0)."""
        return self.rank == 0

    def rows(self, total: int) -> slice:
        """This rank's contiguous share of `total` streams (total must divide evenly)."""
        if total % self.world:
            raise ValueError(f"--batch-size {total} cannot be shared by {self.world} processes: "
                             f"use a multiple of {self.world}")
        share = total // self.world
        return slice(self.rank * share, (self.rank + 1) * share)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over every rank (float64 on the wire)."""
        if self.world == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._wire)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """Every rank's `t` (same shape on all) concatenated along `dim`, in rank order."""
        if self.world == 1:
            return t
        parts = [torch.empty_like(t, device=self._wire) for _ in range(self.world)]
        dist.all_gather(parts, t.to(self._wire).contiguous())
        return torch.cat(parts, dim).to(t.device)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def _wire(self) -> str:
        """Where collective tensors live: gloo works on CPU tensors, nccl on the GPU."""
        return self.device if str(self.device).startswith("cuda") else "cpu"
