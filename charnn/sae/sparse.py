"""Autograd for the two products of a TopK autoencoder that touch only k of its latents per row.

A dense training step multiplies (n, H) by (H, latents) five times (encoder forward and weight
gradient, decoder forward, input and weight gradients). With k active latents out of `latents`,
the encoder's forward (which must see every latent to choose the top k) and the gradient of the
decoder's k values need a dense product; the rest touch k rows of a weight per character:

- `encode_selected`: the k chosen pre-activations with their gradients, without recomputing them;
- `decode`: sum_k values[n, k] * W[indices[n, k]] (torch's embedding_bag), with a backward that
  scatters into the k rows of W instead of building a dense (n, latents) gradient.

Both are checked against plain autograd in tests/sae/test_sae_model.py; benchmarks/sae_throughput.py
measures the step against the dense one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def scatter_rows(indices: torch.Tensor, weights: torch.Tensor, rows: torch.Tensor, n_out: int) -> torch.Tensor:
    """out[j] = sum over (i, k) with indices[i, k] == j of weights[i, k] * rows[i]: (n_out, H).

    indices, weights (n, k); rows (n, H). A sparse (n_out, n) @ (n, H) product."""
    n, k = indices.shape
    owner = torch.arange(n, device=indices.device).repeat_interleave(k)  # (n*k,) row of each entry
    matrix = torch.sparse_coo_tensor(torch.stack([indices.reshape(-1), owner]), weights.reshape(-1),
                                     (n_out, n), check_invariants=False)
    return torch.sparse.mm(matrix, rows)


class _EncodeSelected(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, W, b, indices, values):
        ctx.save_for_backward(u, W, indices)
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        u, W, indices = ctx.saved_tensors  # (n, H), (L, H), (n, k)
        grad_u = F.embedding_bag(indices, W, per_sample_weights=grad, mode="sum") if ctx.needs_input_grad[0] else None
        grad_W = scatter_rows(indices, grad, u, W.shape[0]) if ctx.needs_input_grad[1] else None
        grad_b = torch.zeros(W.shape[0], dtype=grad.dtype, device=grad.device).index_add_(
            0, indices.reshape(-1), grad.reshape(-1)) if ctx.needs_input_grad[2] else None
        return grad_u, grad_W, grad_b, None, None


def encode_selected(u: torch.Tensor, W: torch.Tensor, b: torch.Tensor, indices: torch.Tensor,
                    values: torch.Tensor) -> torch.Tensor:
    """(n, k) pre-activations `values` = (u @ W.T + b) gathered at `indices`, already computed
    without gradient, returned with the gradient they have with respect to u (n, H), W (L, H)
    and b (L,)."""
    return _EncodeSelected.apply(u, W, b, indices, values)


class _Decode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, indices, values, W):
        ctx.save_for_backward(indices, values, W)
        return F.embedding_bag(indices, W, per_sample_weights=values, mode="sum")

    @staticmethod
    def backward(ctx, grad):
        indices, values, W = ctx.saved_tensors  # (n, k), (n, k), (L, H); grad (n, H)
        grad_values = grad_W = None
        if ctx.needs_input_grad[1]:
            # <grad_n, W[indices_nk]>: a dense product then a gather is 2x faster on the CPU than
            # gathering the (n, k, H) rows (memory-bound), measured with n 4096, k 32, 2,048 x 256
            grad_values = (grad @ W.t()).gather(1, indices)  # (n, k)
        if ctx.needs_input_grad[2]:
            grad_W = scatter_rows(indices, values, grad, W.shape[0])  # (L, H)
        return None, grad_values, grad_W


def decode(indices: torch.Tensor, values: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """(n, H) = sum_k values[:, k] * W[indices[:, k]], differentiable in values and W."""
    return _Decode.apply(indices, values, W)
