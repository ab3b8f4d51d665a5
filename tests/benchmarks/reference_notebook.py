"""The classic introductory notebook's CNN, as the notebook writes it: the speed baseline.

Only the data loading differs (the notebook downloads with keras.datasets.mnist, which this
machine cannot): the same arrays come from mlbench's cache. Prints one JSON line.

    python tests/benchmarks/reference_notebook.py [TRAIN_SIZE] [EPOCHS]

`notebook_model` is the notebook's network, compiled; the other benchmarks build it from here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def notebook_model(keras: Any, learning_rate: float = 1e-3, **compile_options: Any) -> Any:
    """The notebook's network and its compile step (Adam at Keras' default rate, sparse
    cross-entropy); ``compile_options`` go to ``compile`` (jit_compile, steps_per_execution)."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_options)
    return model


def main() -> None:
    import numpy as np
    import tensorflow as tf

    from mlbench.datasets import LoadRequest, cache_dir
    from mlbench.datasets.mnist import load_mnist

    train_size = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    data_dir = os.environ.get("MLBENCH_DATA_DIR")
    mnist = load_mnist(LoadRequest(cache_dir(), data_dir=data_dir and Path(data_dir)))
    (x_train, y_train), (x_test, y_test) = ((mnist.x_train, mnist.y_train),
                                            (mnist.x_test, mnist.y_test))
    x_train, y_train = np.array(x_train[:train_size]), np.array(y_train[:train_size])

    # --- the notebook, from here on ---
    x_train, x_test = x_train / 255.0, x_test / 255.0
    x_train = x_train[..., tf.newaxis]
    x_test = x_test[..., tf.newaxis]

    model = notebook_model(tf.keras)
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, verbose=0)
    fit_seconds = time.perf_counter() - started
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    # --- end of the notebook ---

    print(json.dumps({"model": "reference notebook (Keras, batch 32, float32)",
                      "fit_seconds": fit_seconds, "epochs": epochs,
                      "train_throughput": len(x_train) * epochs / fit_seconds,
                      "accuracy": float(test_accuracy)}))


if __name__ == "__main__":
    main()
