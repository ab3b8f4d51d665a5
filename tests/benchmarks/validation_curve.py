"""torch-cnn's validation curve at checkpoints within epochs, for choosing a recipe without
the test set: trains on the first 50,000 training images and scores the last 10,000.

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/validation_curve.py \\
        --seeds 0,1,2 --every 0.25 --from-epoch 2 epochs=4 batch_size=256 learning_rate=0.004

Params after the options go to torch-cnn (NAME=VALUE). --ema 0.98,0.995 also scores
exponential moving averages of the weights (printed after the plain weights' accuracy).
Prints, per seed, epoch:training-seconds:accuracy at each checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import time
from typing import Any

import numpy as np

from mlbench_plugins.torch_cnn import TorchCNN


def read_idx(name: str) -> np.ndarray:
    with gzip.open(f"{os.environ['MLBENCH_DATA_DIR']}/{name}", "rb") as stream:
        data = stream.read()
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(dims)


def score(model: TorchCNN, net: Any, X: np.ndarray, y: np.ndarray) -> float:
    torch = model.torch_
    net.eval()
    with torch.no_grad(), model._autocast():
        logits = torch.cat([net(model._to_device(X[i:i + 1000])).float()
                            for i in range(0, len(X), 1000)])
    net.train()
    return float((logits.argmax(1).numpy() == y).mean())


def curve(seed: int, params: dict[str, Any], args: argparse.Namespace,
          data: tuple[np.ndarray, ...]) -> list[tuple[float, float, list[float]]]:
    X, y, Xv, yv = data
    model = TorchCNN(seed=seed, device="cpu", **{**params, "monitor": False})
    model.prepare(X, y)
    torch = model.torch_
    images, labels = model._to_device(X), torch.as_tensor(y)
    batch, count = model.params["batch_size"], len(X)
    steps = model.steps_per_epoch(count)
    every = max(1, round(args.every * steps))
    averages = [copy.deepcopy(model.net_) for _ in args.ema]
    weights = list(model.net_.parameters())
    generator = torch.Generator().manual_seed(seed)
    trained, step, points = 0.0, 0, []
    for _ in range(model.params["epochs"]):
        model.net_.train()
        order = torch.randperm(count, generator=generator)
        started = time.perf_counter()
        for start in range(0, count, batch):
            index = order[start:start + batch]
            model.train_step_(images[index], labels[index])
            model.schedule_.step()
            step += 1
            with torch.no_grad():
                for decay, average in zip(args.ema, averages, strict=True):
                    torch._foreach_lerp_(list(average.parameters()), weights,
                                         1 - min(decay, (1 + step) / (10 + step)))
            if step % every == 0 or start + batch >= count:
                trained += time.perf_counter() - started
                if step / steps >= args.from_epoch:
                    points.append((round(step / steps, 3), round(trained, 1),
                                   [score(model, net, Xv, yv)
                                    for net in (model.net_, *averages)]))
                started = time.perf_counter()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--every", type=float, default=0.25, help="epochs between scores")
    parser.add_argument("--from-epoch", type=float, default=1.0, help="first score after")
    parser.add_argument("--ema", type=lambda v: [float(x) for x in v.split(",")], default=[])
    parser.add_argument("params", nargs="*", help="torch-cnn params, NAME=VALUE")
    args = parser.parse_args()
    params = {}
    for pair in args.params:
        name, value = pair.split("=")
        params[name] = json.loads(value) if value[0] in "0123456789.-tf[" else value
    X = (read_idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255)[..., None]
    y = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    data = (X[:50000], y[:50000], X[50000:], y[50000:])  # validation: never the test set
    for seed in map(int, args.seeds.split(",")):
        print(f"seed {seed} {json.dumps(params)}", flush=True)
        print("  " + "  ".join(f"{epoch}:{seconds}s:" + "/".join(f"{a:.4f}" for a in scores)
                               for epoch, seconds, scores in curve(seed, params, args, data)),
              flush=True)


if __name__ == "__main__":
    main()
