"""torch-cnn's training step alone, images/s at batch 256, for variants of it, interleaved
(A B C, A B C, ...) so the machine's swings fall on all of them; medians of 3 rounds.

    python tests/benchmarks/torch_step_probe.py [STEPS] [VARIANTS]

STEPS (default 40) timed steps per round after 5 untimed; VARIANTS, comma-separated, of:
base (torch-cnn-fused: mlbench's fused kernel), eager (torch-cnn, stock: max-pool, ReLU and
dropout in PyTorch's own ops; until issue 22 the param fused=false), bf16data (base, with the
training images held in bfloat16), compile
(torch.compile, compiled before timing). (Until commit 9d00538 it also had amaxpool, max-pool
as a reshape and amax.) Random images: the
step's speed does not depend on them. Environment variables (OMP_WAIT_POLICY) apply to all.
"""
import sys
import time

import numpy as np
import torch

from mlbench_plugins.torch_cnn import FusedTorchCNN, TorchCNN

rng = np.random.default_rng(0)
X = rng.random((60000, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, 60000)
STEPS, BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 40, 256


def make(variant):
    model = TorchCNN if variant in ("eager", "compile") else FusedTorchCNN
    m = model(seed=0, device="cpu", batch_size=BATCH, monitor=False,
              compile=variant == "compile")
    m.prepare(X, y)
    images = m._to_device(X)
    if variant == "bf16data":
        images = images.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    return m, images, torch.as_tensor(y)


def speed(variant):
    m, images, labels = make(variant)
    order = torch.randperm(len(X))
    for i in range(5):
        idx = order[i * BATCH:(i + 1) * BATCH]
        m.train_step_(images[idx], labels[idx])
    t = time.perf_counter()
    for i in range(5, 5 + STEPS):
        idx = order[i * BATCH:(i + 1) * BATCH]
        m.train_step_(images[idx], labels[idx])
    return STEPS * BATCH / (time.perf_counter() - t)


variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["base", "eager", "bf16data"]
results = {v: [] for v in variants}
for _r in range(3):
    for v in variants:
        results[v].append(speed(v))
for v, s in results.items():
    print(v, " ".join(f"{x:.0f}" for x in s), "median", f"{np.median(s):.0f}")
