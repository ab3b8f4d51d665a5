"""The bare script issue 25 measures mlbench against: the small network in plain PyTorch, no
harness. Stock layers, batch 256, Adam at 0.01 with betas 0.7/0.9, PyTorch's one-cycle
schedule, the training set held as one tensor, test accuracy every 58 steps with the
evaluation's time left out of the training clock (train_mnist_fast's way).

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/bare_small_cnn.py SEED [--bf16]

Prints one JSON line: the seed, seconds of training to the first test accuracy at 0.99 or
above (null if never), the final test accuracy and the evaluations made.
"""

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from tests.benchmarks.validation_curve import read_idx

parser = argparse.ArgumentParser()
parser.add_argument("seed", type=int)
parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
torch.manual_seed(args.seed)


def tensors(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.tensor(read_idx(f"{prefix}-images-idx3-ubyte.gz"), dtype=torch.float32)
    labels = torch.tensor(read_idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
    return images.unsqueeze(1) / 255, labels


X, y = tensors("train")
X_test, y_test = tensors("t10k")
net = nn.Sequential(nn.Conv2d(1, 24, 5), nn.MaxPool2d(2), nn.ReLU(),
                    nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                    nn.Linear(800, 256), nn.ReLU(), nn.Linear(256, 10))
steps_per_epoch = (len(X) + 255) // 256
optimizer = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.7, 0.9))
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.01,
                                               total_steps=args.epochs * steps_per_epoch)
autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)
trained, reached, evaluations, step, accuracy = 0.0, None, 0, 0, 0.0
started = time.perf_counter()
for _epoch in range(args.epochs):
    order = torch.randperm(len(X))
    for start in range(0, len(X), 256):
        index = order[start:start + 256]
        with autocast:
            loss = nn.functional.cross_entropy(net(X[index]).float(), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        if step % 58 == 0 or step == args.epochs * steps_per_epoch:
            trained += time.perf_counter() - started
            with torch.no_grad(), autocast:
                accuracy = (net(X_test).argmax(1) == y_test).float().mean().item()
            evaluations += 1
            if reached is None and accuracy >= 0.99:
                reached = trained
            started = time.perf_counter()
print(json.dumps({"seed": args.seed, "bf16": args.bf16, "seconds_to_0.99": reached,
                  "final_accuracy": accuracy, "evaluations": evaluations}))
