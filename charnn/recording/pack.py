"""Copying a window of states into a state file, and every unit's running statistics; each
position's likeliest next characters.

    stats = UnitStats(H)
    pack(src, file.groups[:, :, a:b], stats)     # src (W, B, H) float32, time-major as the stepper gives it
    pack(src, None, stats)                        # statistics only (a kind that is derived on read)
    stats.to_json()                               # {"min": [...], "max": [...], "sum": [...], "sq": [...], "n": N}
    top_k(logp, ids, p)                           # logp (B, W, V) -> the k likeliest ids (B, W, k), their p

The copy transposes (time-major rows -> each unit's rows contiguous) and rounds to float16, and
the statistics are of the values as stored. In the C kernel (`_pack.c`, where it was built) the
values are read once, 16 x 16 blocks transposed in registers: about 9 ms for a 256 x 128 x 256
window here, against 20 ms for torch's strided copy alone.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import torch

from .. import clib

_P, _I32, _I64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
_FUNCTIONS = {"charnn_pack": ([_P, _I64, _I64, _I64, _I64, _I64, _I32, _P, _I32, _I64, _I64, _P, _P, _P, _P, _I32],
                              None),
              "charnn_topk": ([_P, _I64, _I64, _I64, _I32, _P, _P, _I64], None)}


def native() -> ctypes.CDLL | None:
    """The C kernel, or None where it was not built or CHARNN_NATIVE=0."""
    if os.environ.get("CHARNN_NATIVE", "1") == "0":
        return None
    return clib.load("charnn.recording._pack", _FUNCTIONS)


class UnitStats:
    """Running min, max, sum and sum of squares per unit (float32 extremes, float64 sums)."""

    def __init__(self, width: int):
        self.n = 0
        self.lo = np.full(width, np.inf, np.float32)
        self.hi = np.full(width, -np.inf, np.float32)
        self.sum = np.zeros(width)
        self.sq = np.zeros(width)

    def merge(self, other: "UnitStats") -> "UnitStats":
        self.n += other.n
        np.minimum(self.lo, other.lo, out=self.lo)
        np.maximum(self.hi, other.hi, out=self.hi)
        self.sum += other.sum
        self.sq += other.sq
        return self

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.sum / max(self.n, 1)
        return mean, np.sqrt(np.maximum(self.sq / max(self.n, 1) - mean ** 2, 0))

    def to_json(self) -> dict:
        return {"n": self.n, "min": self.lo.tolist(), "max": self.hi.tolist(), "sum": self.sum.tolist(),
                "sq": self.sq.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "UnitStats":
        s = cls(len(d["min"]))
        s.n, s.lo[:], s.hi[:], s.sum[:], s.sq[:] = int(d["n"]), d["min"], d["max"], d["sum"], d["sq"]
        return s


def pack(src: torch.Tensor, dst: np.ndarray | None, stats: UnitStats, dtype: str = "float16") -> None:
    """Copy src (W, b, H) float32 (a unit's values contiguous) into dst (b, H, W) (a view of a state
    file: each unit's W values contiguous), rounded to `dtype`, and add them to `stats`; dst None:
    statistics only (of the float32 values)."""
    W, b, H = src.shape
    assert src.dtype == torch.float32 and src.stride(2) == 1 and src.device.type == "cpu", "src: CPU float32 rows"
    assert dst is None or (dst.shape == (b, H, W) and dst.strides[2] == dst.itemsize), "dst: (b, H, W), rows contiguous"
    if W == 0 or b == 0:
        return
    stats.n += W * b
    lib = native()
    if lib is None:
        return _pack_torch(src, dst, stats, dtype)
    is_f16 = dst is not None and dst.dtype == np.float16
    item = dst.itemsize if dst is not None else 4
    lib.charnn_pack(src.data_ptr(), W, src.stride(0), src.stride(1), 0, b, H,
                    None if dst is None else dst.ctypes.data, int(is_f16),
                    0 if dst is None else dst.strides[0] // item, 0 if dst is None else dst.strides[1] // item,
                    stats.lo.ctypes.data, stats.hi.ctypes.data, stats.sum.ctypes.data, stats.sq.ctypes.data, 0)


def _pack_torch(src: torch.Tensor, dst: np.ndarray | None, stats: UnitStats, dtype: str) -> None:
    x = src
    if dst is not None:
        out = torch.from_numpy(dst)  # (b, H, W)
        out.copy_(src.permute(1, 2, 0))
        if out.dtype == torch.float16:
            x = src.to(torch.float16).float()  # the statistics of the values as stored
    flat = x.reshape(-1, x.shape[2])  # (W * b, H)
    stats.lo = np.minimum(stats.lo, flat.amin(0).numpy())
    stats.hi = np.maximum(stats.hi, flat.amax(0).numpy())
    stats.sum += flat.sum(0, dtype=torch.float64).numpy()
    stats.sq += flat.square().sum(0, dtype=torch.float64).numpy()


def top_k(logp: torch.Tensor, ids: np.ndarray, p: np.ndarray) -> None:
    """The k = ids.shape[-1] likeliest next characters of each of logp's (b, W) positions (logp: CPU
    float32 log-probabilities (b, W, V)), into ids (b, W, k) int32 and their probabilities p (b, W, k)
    float32 (views that may be strided over b), likeliest first (of equal ones, the lower id)."""
    b, W, V = logp.shape
    k = ids.shape[-1]
    assert logp.dtype == torch.float32 and logp.is_contiguous() and logp.device.type == "cpu", "logp: CPU float32"
    assert ids.shape == p.shape == (b, W, k) and ids.strides[1:] == (k * 4, 4) and p.strides == ids.strides
    lib = native()
    if lib is None:
        top, top_ids = logp.sort(dim=-1, descending=True, stable=True)  # (b, W, V): ties as the C loop breaks them
        ids[:] = top_ids[..., :k].numpy()
        p[:] = top[..., :k].exp().numpy()
        return
    lib.charnn_topk(logp.data_ptr(), b, W, V, k, ids.ctypes.data, p.ctypes.data, ids.strides[0] // 4)
