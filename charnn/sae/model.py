"""The sparse autoencoder: a dictionary of `latents` directions over one layer's c or h states.

    sae = SparseAutoencoder(SAEConfig(layer=0, kind="c", hidden=256, latents=2048, k=32))
    z = sae.encode(states)            # (n, H) -> (n, latents), at most k non-zero per row
    x_hat = sae.reconstruct(states)   # (n, H)

A state x is first scaled unit by unit, u = x / input_scale, the scale set at training
(charnn.sae.data.input_scale): `unit` divides each unit by its standard deviation; `global`
divides all units by one number that gives the centered states a mean squared norm of H. Then
(Gao et al. 2024, "Scaling and evaluating sparse autoencoders"):

    pre = (u - b_dec) @ W_enc.T + b_enc          # (n, latents)
    z   = ReLU(TopK(pre, k))                     # topk; or ReLU(pre) with an L1 penalty ("relu")
    u^  = z @ W_dec + b_dec                      # W_dec rows: unit-norm directions
    x^  = u^ * input_scale

so latent j adds `z_j * input_scale * W_dec[j]` to the reconstructed state (`direction(j)`). W_enc
and W_dec are both (latents, H): row j is what latent j reads and what it writes.

With `refit` (the default for topk) the encoder only chooses which k latents are active; their
values are the least-squares fit of u - b_dec on their directions, so u^ - b_dec is the
orthogonal projection of u - b_dec onto the span of the active directions. A projection never
lengthens a vector: fed back into an LSTM's recurrence (c_t = f_t * c^_{t-1} + i_t * g_t, f < 1)
the reconstruction cannot grow from step to step. With the encoder's own values it can (on the
demo's c, the spectral radius of f * dc^/dc was 1.01-1.09 at typical states) and the fed-back
state diverged within a hundred characters. Training fits the encoder's values as usual
(charnn.sae.training); the refit applies wherever the autoencoder is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import sparse

ACTIVATIONS = ("topk", "relu")
NORMALIZE = ("unit", "global")
RIDGE = 1e-4  # added to the Gram matrix's diagonal (1 for unit-norm rows), so nearly parallel directions solve


@dataclass
class SAEConfig:
    layer: int
    kind: str  # the recorded state it reads: "c" or "h"
    hidden: int  # H: units of the layer
    latents: int  # dictionary size
    k: int = 32  # active latents per character (topk)
    activation: str = "topk"  # topk | relu (L1-penalised, see TrainOptions.l1)
    normalize: str = "unit"  # how training set input_scale: unit | global (see the module docstring)
    refit: bool = True  # topk: active latents' values by least squares on their directions (module docstring)

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {self.activation!r}")
        if self.latents < 1 or self.hidden < 1:
            raise ValueError(f"latents and hidden must be positive (got {self.latents}, {self.hidden})")
        if self.activation == "relu":
            self.refit = False  # refit is for a fixed number of active latents
        if self.activation == "topk" and not 1 <= self.k <= self.latents:
            raise ValueError(f"k must be between 1 and the number of latents ({self.latents}), not {self.k}")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, not {self.normalize!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SAEConfig):
        super().__init__()
        self.config = config
        self.name: str | None = None  # its folder under REC/sae/, once saved or loaded (charnn.sae.store)
        L, H = config.latents, config.hidden
        self.W_enc = nn.Parameter(torch.empty(L, H))
        self.b_enc = nn.Parameter(torch.zeros(L))
        self.W_dec = nn.Parameter(torch.empty(L, H))
        self.b_dec = nn.Parameter(torch.zeros(H))
        self.register_buffer("input_scale", torch.ones(H))  # (H,): states are divided by it
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm decoder rows, the encoder their copy (Gao et al.'s tied initialisation)."""
        self.W_dec.copy_(torch.randn(self.W_dec.shape, generator=generator))
        self.normalize_decoder_()
        self.W_enc.copy_(self.W_dec)
        self.b_enc.zero_()

    def direction(self, j: int) -> torch.Tensor:
        """(H,) what latent j adds to the state per unit of activation, in the state's units."""
        return self.W_dec[j] * self.input_scale

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def project_decoder_grad_(self) -> None:
        """Remove the part of each decoder row's gradient along the row: a step then turns the
        direction instead of growing it (the renormalisation after the step stays small)."""
        if self.W_dec.grad is not None:
            along = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)  # (L, 1)
            self.W_dec.grad.sub_(along * self.W_dec)

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) raw states -> (..., latents) pre-activations."""
        return F.linear(self.scaled(x), self.W_enc, self.b_enc)  # (..., L)

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) raw states -> u - b_dec, the scaled state about the dictionary's origin."""
        return x / self.input_scale - self.b_dec

    def encode_topk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., H) -> (values (..., k), indices (..., k)): the k latents with the largest
        pre-activations (one not above 0 is inactive: value 0), their values the encoder's
        (after ReLU) or, with `refit`, the least-squares fit of the state on their directions."""
        assert self.config.activation == "topk", "encode_topk needs a topk autoencoder"
        values, indices = self.pre_acts(x).topk(self.config.k, dim=-1, sorted=False)
        values = values.relu_()
        if self.config.refit:
            values = self._refit(self.scaled(x), indices, values > 0)
        return values, indices

    def _refit(self, u: torch.Tensor, indices: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Values z (..., k) minimising |u - sum_k z_k W_dec[indices_k]|, with z = 0 where not
        active: u projected orthogonally onto the span of the active directions."""
        shape, (L, k) = indices.shape, (self.config.latents, indices.shape[-1])
        u, indices, active = u.reshape(-1, u.shape[-1]), indices.reshape(-1, k), active.reshape(-1, k)
        gram = torch.take(self._gram(), indices.unsqueeze(2) * L + indices.unsqueeze(1))  # (n, k, k): <d_i, d_j>
        target = (u @ self.W_dec.t()).gather(1, indices)  # (n, k): <d_i, u>
        if not active.all():  # an inactive latent's row and column become the identity's: its value is 0
            mask = active.to(u.dtype)  # (n, k)
            gram = gram * (mask.unsqueeze(2) * mask.unsqueeze(1)) + torch.diag_embed(1 - mask)
            target = target * mask
        gram.diagonal(dim1=1, dim2=2).add_(RIDGE)
        factor, info = torch.linalg.cholesky_ex(gram)  # (n, k, k)
        if info.any():  # nearly parallel active directions: a larger ridge for those rows
            bad = info > 0
            factor[bad] = torch.linalg.cholesky(gram[bad] + 1e-2 * torch.eye(k, device=gram.device))
        return torch.cholesky_solve(target.unsqueeze(2), factor).view(shape)

    def _gram(self) -> torch.Tensor:
        """(L, L) W_dec @ W_dec.T, kept until W_dec changes."""
        version = (self.W_dec._version, self.W_dec.data_ptr())
        if getattr(self, "_gram_version", None) != version:
            self._gram_cache, self._gram_version = (self.W_dec @ self.W_dec.t()).detach(), version
        return self._gram_cache

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) raw states -> (..., latents) activations (the latent kind of a recording)."""
        if self.config.activation == "relu":
            return self.pre_acts(x).relu_()
        values, indices = self.encode_topk(x)
        return torch.zeros(*x.shape[:-1], self.config.latents, dtype=values.dtype, device=values.device).scatter_(
            -1, indices, values)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(..., latents) activations -> (..., H) raw states."""
        return (z @ self.W_dec + self.b_dec) * self.input_scale

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., H): the state as the dictionary writes it."""
        if self.config.activation == "relu":
            return self.decode(self.encode(x))
        values, indices = self.encode_topk(x)
        flat = sparse.decode(indices.reshape(-1, self.config.k), values.reshape(-1, self.config.k), self.W_dec)
        return ((flat + self.b_dec) * self.input_scale).view(x.shape)

    def remove(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """(..., H) -> x minus what `latents` (a (m,) index tensor) write into it: each latent's
        activation on x times its direction."""
        z = self.encode(x)[..., latents]  # (..., m)
        return x - (z @ self.W_dec[latents]) * self.input_scale

    def set_latent(self, x: torch.Tensor, j: int, value: float) -> torch.Tensor:
        """(..., H) -> x with latent j's activation changed to `value`: x + (value - a_j(x)) * direction(j)."""
        z = self.encode(x)[..., j : j + 1]  # (..., 1)
        return x + (value - z) * self.direction(j)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)
