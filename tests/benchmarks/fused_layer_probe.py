"""torch-cnn's pool-ReLU-dropout layer alone, fused kernel against PyTorch's own ops: the
milliseconds of one forward and backward at batch 256 (bfloat16, 64 x 24 x 24 channels-last,
the activations after the second convolution), interleaved rounds, medians.

    python tests/benchmarks/fused_layer_probe.py [REPEATS]

REPEATS (default 25) timed calls per round, after 5 untimed; 3 rounds. Rows: the layer's
forward and backward, fused and eager (PyTorch's max-pool, ReLU and dropout on the same random
bytes); the kernel's forward and backward alone; PyTorch's max-pool forward alone.
"""
import sys
import time

import numpy as np
import torch

from mlbench_plugins.hardware import keep_freed_memory
from mlbench_plugins.torch_layers import PoolReluDropout, fused_kernel, random_bytes

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 25
keep_freed_memory()
kernel = fused_kernel(torch)
x = torch.randn(256, 64, 24, 24).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
grad = torch.randn(256, 64, 12, 12).to(torch.bfloat16).contiguous(
    memory_format=torch.channels_last)
noise = random_bytes(torch, grad.numel(), "cpu")
_, code = kernel.forward(x, noise, 64, 4 / 3)
fused, eager = PoolReluDropout(torch, 0.25, kernel), PoolReluDropout(torch, 0.25)


def layer(module):
    def call():
        source = x.detach().requires_grad_()
        module(source).backward(grad)
    return call


CASES = {
    "layer forward+backward, fused": layer(fused),
    "layer forward+backward, eager": layer(eager),
    "kernel forward alone": lambda: kernel.forward(x, noise, 64, 4 / 3),
    "kernel backward alone": lambda: kernel.backward(grad, code, 24, 24, 4 / 3),
    "PyTorch max_pool2d forward alone": lambda: torch.nn.functional.max_pool2d(x, 2),
}


def milliseconds(call) -> float:
    for _ in range(5):
        call()
    started = time.perf_counter()
    for _ in range(REPEATS):
        call()
    return (time.perf_counter() - started) / REPEATS * 1e3


rounds = {name: [] for name in CASES}
for _round in range(3):
    for name, call in CASES.items():
        rounds[name].append(milliseconds(call))
for name, times in rounds.items():
    print(f"{name}: " + " ".join(f"{t:.2f}" for t in times) + f" ms, median {np.median(times):.2f}")
