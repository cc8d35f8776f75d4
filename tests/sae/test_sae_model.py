"""The autoencoder's maths: the sparse autograd against plain autograd, encode/decode/remove.

    pytest -q tests/sae/test_sae_model.py
"""

import pytest
import torch

from charnn.sae import sparse
from charnn.sae.model import RIDGE, SAEConfig, SparseAutoencoder


def test_sparse_encode_and_decode_have_the_gradients_of_the_dense_products():
    torch.manual_seed(0)
    n, k, L, H = 50, 4, 40, 8
    u = torch.randn(n, H, requires_grad=True)
    W_enc, b_enc = torch.randn(L, H, requires_grad=True), torch.randn(L, requires_grad=True)
    W_dec = torch.randn(L, H, requires_grad=True)
    target = torch.randn(n, H)

    def dense():
        pre = u @ W_enc.t() + b_enc  # (n, L)
        values, indices = pre.topk(k)
        z = torch.zeros_like(pre).scatter(1, indices, values.relu())
        return (z @ W_dec - target).pow(2).sum()

    def sparse_path():
        with torch.no_grad():
            values, indices = (u @ W_enc.t() + b_enc).topk(k)
        acts = sparse.encode_selected(u, W_enc, b_enc, indices, values).relu()
        return (sparse.decode(indices, acts, W_dec) - target).pow(2).sum()

    grads = []
    for loss in (dense, sparse_path):
        params = (u, W_enc, b_enc, W_dec)
        value = loss()
        grads.append((value.detach(), torch.autograd.grad(value, params)))
    (dense_value, dense_grads), (sparse_value, sparse_grads) = grads
    torch.testing.assert_close(sparse_value, dense_value)
    for a, b in zip(sparse_grads, dense_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def scaled_sae(refit: bool, seed: int = 1) -> SparseAutoencoder:
    torch.manual_seed(seed)
    sae = SparseAutoencoder(SAEConfig(layer=0, kind="c", hidden=16, latents=64, k=5, refit=refit))
    with torch.no_grad():
        sae.input_scale.copy_(torch.rand(16) + 0.5)
        sae.b_dec.normal_()
    return sae.eval()


@pytest.mark.parametrize("refit", [False, True])
@torch.no_grad()
def test_topk_keeps_k_latents_and_reconstruct_equals_decode_of_encode(refit):
    sae = scaled_sae(refit)
    x = torch.randn(30, 16) * 3
    z = sae.encode(x)
    assert z.shape == (30, 64) and ((z != 0).sum(1) <= 5).all() and (refit or (z >= 0).all())
    torch.testing.assert_close(sae.reconstruct(x), sae.decode(z), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.reconstruct(x[None]), sae.reconstruct(x)[None])  # any leading shape


@torch.no_grad()
def test_refit_projects_onto_the_active_directions_and_never_lengthens_a_state():
    sae, plain = scaled_sae(refit=True), scaled_sae(refit=False)
    x = torch.randn(200, 16) * 3
    u = sae.scaled(x)  # (n, H) about the dictionary's origin
    z = sae.encode(x)
    residual = u - z @ sae.W_dec  # (n, H)
    active = z != 0
    # the normal equations (with the small ridge): what is left is orthogonal to every active direction
    torch.testing.assert_close((residual @ sae.W_dec.t())[active], RIDGE * z[active], atol=1e-4, rtol=0)
    assert torch.equal(active, plain.encode(x) != 0)  # the encoder chooses the same latents
    fit = (z @ sae.W_dec).norm(dim=1)
    assert (fit <= u.norm(dim=1) + 1e-4).all()
    assert ((plain.encode(x) @ plain.W_dec).norm(dim=1) > u.norm(dim=1)).any()  # the encoder's values can overshoot


def test_removing_latents_takes_out_their_activation_times_their_direction():
    torch.manual_seed(2)
    sae = SparseAutoencoder(SAEConfig(layer=0, kind="h", hidden=8, latents=32, k=6)).eval()
    with torch.no_grad():
        sae.input_scale.copy_(torch.rand(8) + 0.5)
    x = torch.randn(20, 8)
    z = sae.encode(x)
    expected = x - z[:, 3:4] * sae.direction(3) - z[:, 7:8] * sae.direction(7)
    torch.testing.assert_close(sae.remove(x, torch.tensor([3, 7])), expected)


def test_unit_pairs_are_the_identity_and_removing_a_pair_zeroes_the_unit(make_unit_pairs):
    sae = make_unit_pairs(0, "c", 6)
    x = torch.randn(10, 6) * 5
    assert torch.equal(sae.reconstruct(x), x)
    removed = sae.remove(x, torch.tensor([2, 6 + 2]))
    assert torch.equal(removed[:, 2], torch.zeros(10)) and torch.equal(removed[:, [0, 1, 3, 4, 5]], x[:, [0, 1, 3, 4, 5]])


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=0), "k must be"), (dict(k=65), "k must be"), (dict(activation="gelu"), "activation"),
    (dict(normalize="none"), "normalize"),
])
def test_bad_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SAEConfig(**{**dict(layer=0, kind="c", hidden=8, latents=64), **kwargs})
