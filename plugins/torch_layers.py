"""torch-cnn's network: the notebook's layers, three of them done faster than torch.nn does them
on a CPU. PyTorch is passed in, never imported here: it is imported only when a job starts.

The fused layer, torch-cnn-fused's only (torch-cnn stays in PyTorch's own ops): max-pool, ReLU
and dropout after the second convolution, as one C++ kernel each way (pool_relu_dropout.cpp),
built with torch.utils.cpp_extension the first time a torch-cnn-fused job needs it (about 30 s;
PyTorch caches the build in TORCH_EXTENSIONS_DIR, by default ~/.cache/torch_extensions). Why
hand-written: in PyTorch's own ops those three layers were a third of a training step here
(max-pool keeps int64 indices and zero-fills its gradient first; dropout takes four passes),
and torch.compile, which would fuse them, made the step 2x slower on this CPU (BENCHMARKS.md).
The kernel reads and writes each activation once: the training step measured 1.7x faster
than torch-cnn's on this project's Xeon. Its tests hold it to PyTorch's own layers, output and
gradient.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from mlbench_plugins.hardware import cpu_flags

KERNEL_SOURCE = Path(__file__).with_name("pool_relu_dropout.cpp")


def random_bytes(torch: Any, count: int, device: Any) -> Any:
    """``count`` uniform random bytes from PyTorch's generator (torch.manual_seed fixes them),
    drawn as whole 64-bit words: over 10x cheaper on the CPU than a draw per element."""
    words = torch.empty((count + 7) // 8, dtype=torch.int64, device=device)
    return words.random_(-2**63, None).view(torch.uint8)[:count]  # from int64's min: all 64 bits


def keep_threshold(p: float) -> int | None:
    """The byte value from which an element is kept, for p a multiple of 1/256 (0.25, 0.5);
    None for other p, which these layers cannot draw exactly."""
    threshold = round(p * 256)
    return threshold if threshold == p * 256 else None


def dropped(torch: Any, x: Any, noise: Any, p: float) -> Any:
    """Dropout of ``x`` with one random byte per element (``noise``, flat, in the order of x's
    memory): kept and scaled by 1 / (1 - p) where the byte is at least p * 256."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        # The mask in the activations' own (NHWC) layout: mixing layouts copies.
        batch, channels, height, width = x.shape
        noise = noise.view(batch, height, width, channels).permute(0, 3, 1, 2)
    else:
        noise = noise.view(x.shape)
    return torch.where(noise >= keep_threshold(p), x * (1.0 / (1.0 - p)), 0)


def ByteDropout(torch: Any, p: float) -> Any:
    """nn.Dropout's layer with its mask drawn from random bytes (``random_bytes``): on the CPU
    nn.Dropout's per-element bernoulli_ was the costliest op of a training step. For p not a
    multiple of 1/256, nn.Dropout itself."""
    if keep_threshold(p) is None:
        return torch.nn.Dropout(p)

    class Layer(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            if not self.training:
                return x
            return dropped(torch, x, random_bytes(torch, x.numel(), x.device), p)

        def extra_repr(self) -> str:
            return f"p={p}"

    return Layer()


def PoolReluDropout(torch: Any, p: float, kernel: Any = None) -> Any:
    """MaxPool2d(2), ReLU, Dropout(p) as one layer. In training, with ``kernel`` (from
    ``fused_kernel``) and a channels-last CPU input in bfloat16 or float32, one pass of the
    fused kernel each way; otherwise PyTorch's ops, drawing the same random bytes, so a seed
    gives the same network either way. (ReLU after the pool is the notebook's ReLU before it:
    max and ReLU commute, outputs and gradients alike, on a quarter of the values.)"""
    functional = torch.nn.functional
    threshold = keep_threshold(p)
    if threshold is None:
        raise ValueError(f"PoolReluDropout: p must be a multiple of 1/256, not {p}")
    scale = 1.0 / (1.0 - p)

    class Fused(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, noise: Any) -> Any:
            output, code = kernel.forward(x, noise, threshold, scale)
            ctx.save_for_backward(code)
            ctx.input_size = tuple(x.shape[2:])
            return output

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
            (code,) = ctx.saved_tensors
            return kernel.backward(grad, code, *ctx.input_size, scale), None

    def fits_kernel(x: Any) -> bool:
        return (kernel is not None and x.device.type == "cpu" and x.dim() == 4
                and x.dtype in (torch.bfloat16, torch.float32)
                and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0
                and x.is_contiguous(memory_format=torch.channels_last))

    class Layer(torch.nn.Module):
        fused = kernel is not None

        def forward(self, x: Any) -> Any:
            if not self.training:
                return functional.relu(functional.max_pool2d(x, 2))
            noise = random_bytes(torch, x.numel() // 4, x.device)
            if fits_kernel(x):
                return Fused.apply(x, noise)
            return dropped(torch, functional.relu(functional.max_pool2d(x, 2)), noise, p)

        def extra_repr(self) -> str:
            return f"p={p}, fused={self.fused}"

    return Layer()


def FlattenChannelsLast(torch: Any) -> Any:
    """Flatten in height, width, channel order, as Keras does: with channels-last activations
    that is a free view, where nn.Flatten's channel-first order costs a copy each way."""

    class Layer(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x.permute(0, 2, 3, 1).reshape(len(x), -1)

    return Layer()


def build_net(torch: Any, image_shape: tuple[int, ...], kernel: Any = None,
              network: str = "notebook") -> Any:
    """The network (the notebook's, or ``small``), initialised as Keras does (Glorot uniform,
    zero bias), so both frameworks start alike; ``kernel`` (``fused_kernel``'s) runs the
    notebook network's pool, ReLU and dropout on the CPU."""
    nn = torch.nn
    if network == "small":
        # Stock layers only, in Keras' order too: pool before ReLU, no dropout.
        height, width = (((size - 4) // 2 - 2) // 2 for size in image_shape)  # 5x5, 3x3 convs
        layers = [
            nn.Conv2d(1, 24, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
            FlattenChannelsLast(torch),
            nn.Linear(32 * height * width, 256), nn.ReLU(),
            nn.Linear(256, 10),
        ]
    else:
        height, width = ((size - 4) // 2 for size in image_shape)  # two 3x3 convs, 2x2 pool
        layers = [
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), PoolReluDropout(torch, 0.25, kernel),
            FlattenChannelsLast(torch),
            nn.Linear(64 * height * width, 128), nn.ReLU(), ByteDropout(torch, 0.5),
            nn.Linear(128, 10),  # softmax is folded into the loss and into predict_proba
        ]
    net = nn.Sequential(*layers)
    for layer in net:
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


@cache
def fused_kernel(torch: Any) -> Any:
    """The fused pool-ReLU-dropout kernel, built on first use and loaded. Compiled for this
    CPU (-march=native: the bfloat16 rounding vectorises only with AVX-512 or AVX2), so the
    build's name carries the CPU's flags and a home folder shared by different machines keeps
    one build per kind of CPU. Raises if it cannot be built (no C++ compiler, no ninja)."""
    from torch.utils import cpp_extension

    try:  # pip's ninja, which cpp_extension looks for on PATH, where the venv may not be
        import ninja

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass
    # The source's path too: ninja rebuilds when the path in its build file changes, so two
    # checkouts sharing one build folder would rebuild each other's, 30 s each time.
    identity = "\n".join([str(KERNEL_SOURCE), KERNEL_SOURCE.read_text(), torch.__version__,
                           *sorted(cpu_flags())])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return cpp_extension.load(
        name=f"mlbench_pool_relu_dropout_{digest}", sources=[str(KERNEL_SOURCE)],
        # -fopenmp: at::parallel_for's pragmas, run on PyTorch's own OpenMP threads.
        extra_cflags=["-O3", "-march=native", "-fopenmp"], verbose=False)
