"""The small network's training step alone (issue 25), ms per step at batch 256, in float32 or
bfloat16 autocast, NCHW or channels-last, interleaved (A B C D, A B C D, ...) over 3 rounds.

    python tests/benchmarks/small_step_probe.py [VARIANTS]

VARIANTS, comma-separated, of fp32, fp32cl, bf16, bf16cl (default: all four); `cl` is
channels-last memory, what torch-cnn runs. Random images: the step's speed does not depend
on them. Adam with its fused update, as torch-cnn's.
"""
import sys
import time

import numpy as np
import torch

from mlbench_plugins.torch_layers import build_net

BATCH, STEPS = 256, 60
torch.manual_seed(0)
X, y = torch.rand(60000, 1, 28, 28), torch.randint(0, 10, (60000,))
order = torch.randperm(60000)


def make(variant: str):
    net = build_net(torch, (28, 28), None, "small")
    data = X
    if variant.endswith("cl"):
        net = net.to(memory_format=torch.channels_last)
        data = X.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.7, 0.9), fused=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.startswith("bf16"))
    loss_function = torch.nn.CrossEntropyLoss()

    def step(i: int) -> None:
        index = order[i * BATCH:(i + 1) * BATCH]
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_function(net(data[index]).float(), y[index])
        loss.backward()
        optimizer.step()

    return step


variants = sys.argv[1].split(",") if len(sys.argv) > 1 else ["fp32", "fp32cl", "bf16", "bf16cl"]
results: dict[str, list[float]] = {variant: [] for variant in variants}
for _ in range(3):
    for variant in variants:
        step = make(variant)
        for i in range(5):
            step(i)
        started = time.perf_counter()
        for i in range(5, 5 + STEPS):
            step(i)
        results[variant].append((time.perf_counter() - started) / STEPS * 1000)
for variant, times in results.items():
    median = float(np.median(times))
    print(f"{variant:8s}", " ".join(f"{t:.1f}" for t in times),
          f"median {median:.1f} ms/step, an epoch of 235 steps {median * 0.235:.2f} s")
