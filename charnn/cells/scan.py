"""The parallel scan of minGRU and minLSTM (Feng et al. 2024, "Were RNNs all we needed?"), in log
space as the paper trains them: h_t = a_t * h_{t-1} + b_t for all t at once,

    log h_t = a*_t + logcumsumexp_s<=t (log b_s - a*_s),   a*_t = sum_s<=t log a_s

with h_0 the first b (a* = 0 there). Every h is positive, which the cells ensure with
g(x) = x + 0.5 (x >= 0), sigmoid(x) (x < 0) on the candidate state. A zero initial state is
log 0 = -inf, which the scan carries exactly (exp(-inf) = 0) and which never receives a gradient
(the initial state is a constant or a detached carried state).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def g(x: torch.Tensor) -> torch.Tensor:
    """The positive activation of the candidate state."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without forming g(x) (for the log-space scan)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """log_a, log_b (B, T, H), h0 (B, H) >= 0 -> h (B, T, H) with h_t = a_t h_{t-1} + b_t."""
    a_star = F.pad(torch.cumsum(log_a, dim=1), (0, 0, 1, 0))  # (B, T+1, H)
    log_values = torch.cat([torch.log(h0)[:, None], log_b], dim=1)  # (B, T+1, H)
    log_h = a_star + torch.logcumsumexp(log_values - a_star, dim=1)  # (B, T+1, H)
    return torch.exp(log_h[:, 1:])
