"""What the LSTM, GRU and RNN cells share: PyTorch's own modules (`nn.LSTM`/`nn.GRU`/`nn.RNN`,
oneDNN on the CPU, cuDNN on a GPU) as the training path, their weights per layer, and their fused
kernels for one layer.
"""

from __future__ import annotations

import warnings

import torch.nn as nn

from .protocol import Cell


class TorchRNN(Cell):
    """A cell whose stack is PyTorch's module `module`: weights W_ih (G*H, in), W_hh (G*H, H),
    b_ih, b_hh (G*H,) per layer, named weight_ih_l0 ... as PyTorch names them."""

    module: type[nn.Module]

    @classmethod
    def stack(cls, input_size, hidden, layers, dropout):
        return cls.module(input_size, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                          batch_first=True)

    @classmethod
    def weights_of(cls, stack, layer):
        return tuple(getattr(stack, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def fused_kernel(kernel, x, state, weights):
    """One layer through the kernel nn.LSTM/GRU/RNN call (biases, 1 layer, no dropout, eval, time-major).

    On CUDA, cuDNN copies the layer's four weights into one buffer per call and warns that they
    are not one chunk; that copy is small next to a window of steps, so the warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        return kernel(x, state, weights, True, 1, 0.0, False, False, False)
