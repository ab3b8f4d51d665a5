"""The reference CNN in Keras 3, on any of its backends: TensorFlow (the default), JAX or
PyTorch. The backend is imported only when a keras-cnn job starts, in the job's own process."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from mlbench import SkipJob, hookimpl
from mlbench_plugins.cnn import (
    CNN,
    SMALL_DEFAULTS,
    SMALL_ON_MNIST,
    SMALL_TAGS,
    WARMUP_START,
    published_on_mnist,
)
from mlbench_plugins.hardware import PRODUCT_SIDE, keep_freed_memory

EVAL_BATCH = 1000

# Each backend: its module, its name in messages, and the one line that installs it with Keras.
BACKENDS = {
    "tensorflow": ("tensorflow", "TensorFlow", "pip install 'mlbench[tensorflow]'"),
    "jax": ("jax", "JAX", "pip install 'mlbench[jax]'"),
    "torch": ("torch", "PyTorch", "pip install 'mlbench[torch]' keras"),
}


class KerasCNN(CNN):
    """The introductory-notebook CNN in Keras 3 on TensorFlow, JAX or PyTorch (param backend)."""

    name = "keras-cnn"
    colour = "#bcbd22"
    reference_accuracy = published_on_mnist(
        "The classic two-convolution network, 5 epochs (this project measured about 0.99; "
        "some seeds fall just short).")
    # What the default backend needs (`mlbench list`); the others' are checked when a job runs.
    requires = ("tensorflow", "keras")
    install = "pip install 'mlbench[tensorflow]'"
    tags = ("cnn", "deep-learning", "keras")
    defaults = {
        **CNN.defaults,
        "backend": "tensorflow",  # Keras' engine: tensorflow, jax or torch
        # Steps per call into the backend (TensorFlow, JAX): far less Python per step. Keras'
        # torch backend takes only 1, so it runs one step per call whatever this says.
        "steps_per_execution": 100,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["backend"] not in BACKENDS:
            raise ValueError(f"keras-cnn: backend must be one of {', '.join(BACKENDS)}, "
                             f"not {self.params['backend']!r}")

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Framework start-up, timed apart from training: import, device, build, trace."""
        keep_freed_memory()  # no page faults for each step's activations
        backend = self.backend_ = self.params["backend"]
        self.engine_ = self._import_backend()
        self.device_name_ = self._device_name()  # before Keras: it picks its device on import
        try:
            keras = importlib.import_module("keras")
        except ImportError as error:
            raise SkipJob(f"keras-cnn needs Keras 3, which is not installed or failed to "
                          f"import ({error}); install it with: {BACKENDS[backend][2]}") from error
        if keras.config.backend() != backend:  # Keras picks its backend once, when imported
            raise RuntimeError(
                f"keras-cnn: Keras was imported in this process with the "
                f"{keras.config.backend()} backend before this job; backend {backend} needs a "
                "fresh process, which mlbench run gives every job")
        self.keras_ = keras
        keras.utils.set_random_seed(self.seed)
        self.precision_ = self.training_precision()
        keras.mixed_precision.set_dtype_policy(
            "float32" if self.precision_ == "float32" else f"mixed_{self.precision_}")
        self.model_ = build_model(keras, X.shape[1:], self.params["network"])
        rate = self.params["learning_rate"]
        total, warmup = self.total_steps(len(X)), self.warmup_steps(len(X))
        cosine = self.params["lr_schedule"] == "cosine"
        if cosine or warmup:  # CosineDecay with alpha 1 stays at the peak after its warm-up
            rate = keras.optimizers.schedules.CosineDecay(
                rate * WARMUP_START, total - warmup, alpha=0.0 if cosine else 1.0,
                warmup_target=rate, warmup_steps=warmup)
        self.model_.compile(
            optimizer=keras.optimizers.Adam(learning_rate=rate, beta_1=self.params["beta_1"],
                                            beta_2=self.params["beta_2"]),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"],
            # JAX without jit runs op by op, far slower: it always compiles. TensorFlow's XLA
            # and torch.compile are the `compile` param (measured slower on a 2-core CPU).
            jit_compile=backend == "jax" or bool(self.params["compile"]),
            steps_per_execution=self._steps_per_execution(len(X)),
        )
        self._warm_up(X, y)

    def _import_backend(self) -> Any:
        """Point Keras at the backend and its device, then import the backend, or skip the
        job with the line that installs it. Environment variables, because Keras and the
        backends read them once, on import (the job's process is fresh: neither is loaded)."""
        backend = self.backend_
        module, label, install = BACKENDS[backend]
        os.environ["KERAS_BACKEND"] = backend
        threads = os.environ.get("TF_NUM_INTRAOP_THREADS")  # set by mlbench run --threads
        if backend == "tensorflow":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's banners quiet
        elif backend == "jax":
            if self.device == "cpu":
                os.environ["JAX_PLATFORMS"] = "cpu"  # never take a GPU it was not given
            if threads == "1" and "jax" not in sys.modules:
                # XLA's CPU client has no thread-count setting; the flags JAX's maintainers
                # give for one thread (jax-ml/jax#743) are the closest there is.
                os.environ["XLA_FLAGS"] = " ".join(filter(None, [
                    os.environ.get("XLA_FLAGS"),
                    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"]))
        elif self.device == "cpu":
            os.environ["KERAS_TORCH_DEVICE"] = "cpu"  # else Keras takes CUDA or MPS if there
        try:
            engine = importlib.import_module(module)
        except ImportError as error:
            raise SkipJob(f"keras-cnn backend {backend} needs {label}, which is not installed "
                          f"or failed to import ({error}); install it with: {install}") from error
        if backend == "tensorflow" and threads:
            engine.config.threading.set_intra_op_parallelism_threads(int(threads))
            engine.config.threading.set_inter_op_parallelism_threads(
                int(os.environ.get("TF_NUM_INTEROP_THREADS", threads)))
        if backend == "tensorflow" and self.device == "cpu":
            engine.config.set_visible_devices([], "GPU")
        return engine

    def _device_name(self) -> str:
        """The device the backend trains on ("cpu" on the CPU), or skip where no GPU is."""
        if self.device == "cpu":
            return "cpu"
        engine, backend = self.engine_, self.backend_
        if backend == "tensorflow":
            gpus = engine.config.list_physical_devices("GPU")
            if gpus:
                details = engine.config.experimental.get_device_details(gpus[0])
                return str(details.get("device_name", gpus[0].name))
            hint = "pip install 'tensorflow[and-cuda]'"
        elif backend == "jax":
            gpus = [device for device in engine.devices() if device.platform == "gpu"]
            if gpus:
                return str(gpus[0].device_kind)
            hint = "pip install 'jax[cuda12]'"
        else:
            if engine.cuda.is_available():
                os.environ["KERAS_TORCH_DEVICE"] = "cuda"
                return str(engine.cuda.get_device_name())
            if engine.backends.mps.is_available():
                os.environ["KERAS_TORCH_DEVICE"] = "mps"
                return "mps"
            hint = "a CUDA build of PyTorch"
        raise SkipJob(f"no GPU visible to {BACKENDS[backend][1]} ({self._build()}); "
                      f"GPU training needs {hint}")

    def _build(self) -> str:
        """The backend's version and build: ``jax 0.6.2 (CPU build)``."""
        engine, backend = self.engine_, self.backend_
        if backend == "tensorflow":
            build = "CUDA" if engine.test.is_built_with_cuda() else "CPU"
        elif backend == "jax":
            plugins = ("jax_cuda12_plugin", "jax_cuda13_plugin")
            build = "CUDA" if any(importlib.util.find_spec(p) for p in plugins) else "CPU"
        else:
            build = f"CUDA {engine.version.cuda}" if engine.version.cuda else "CPU"
        return f"{backend} {engine.__version__} ({build} build)"

    def fit(self, X: np.ndarray, y: np.ndarray,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None) -> KerasCNN:
        if not hasattr(self, "model_"):
            self.prepare(X, y)
        self.begin_fit(eval_set)
        plugin, steps = self, self.steps_per_epoch(len(X))
        eval_steps = self.eval_steps(steps)

        class EpochLog(self.keras_.callbacks.Callback):  # type: ignore[name-defined]
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.epoch, self.pending = epoch, list(eval_steps)
                plugin.start_epoch()

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                # Called after each call into the backend (steps_per_execution steps), with
                # the epoch's running loss and accuracy.
                done = batch + 1
                if not self.pending or done < self.pending[0] or done >= steps:
                    return
                while self.pending and self.pending[0] <= done:
                    self.pending.pop(0)
                loss, hits = float(logs["loss"]), float(logs["accuracy"])  # waits for the device
                sync = getattr(self.model, "jax_state_sync", None)
                if sync is not None:  # JAX holds the weights apart from the model during fit
                    sync()
                plugin.checkpoint(loss, hits, self.epoch + done / steps)

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                plugin.end_epoch(logs["loss"], logs["accuracy"])

        self.model_.fit(X, y, batch_size=self.params["batch_size"], epochs=self.params["epochs"],
                        shuffle=True, verbose=0, callbacks=[EpochLog()])
        return self

    def _steps_per_execution(self, count: int) -> int:
        """The param, but never more than the steps between two test evaluations, so each
        mid-epoch evaluation falls at the end of a call into the backend, not up to a call
        later (Keras' torch backend takes only 1)."""
        if self.backend_ == "torch":
            return 1
        evals = int(self.params["evals_per_epoch"]) if self.params["monitor"] else 1
        between = -(-self.steps_per_epoch(count) // evals)
        return max(1, min(int(self.params["steps_per_execution"]), between))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(X, batch_size=EVAL_BATCH, verbose=0),
                          dtype=np.float32)

    def size_bytes(self) -> int:
        return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize
                   for w in self.model_.weights)

    def runtime_info(self) -> dict[str, Any]:
        engine, backend = self.engine_, self.backend_
        if backend == "tensorflow":
            # 0 means TensorFlow picks for itself: recorded as unknown, not as zero.
            threads = engine.config.threading.get_intra_op_parallelism_threads() or None
        elif backend == "torch":
            threads = engine.get_num_threads()
        else:  # XLA sizes its own pool and reports no size: unknown
            threads = None
        return {"framework": f"keras {self.keras_.__version__} on {self._build()}",
                "backend": backend,
                "device_name": self.device_name_,
                "framework_threads": threads,
                "precision": self.precision_}

    def multiply(self, dtype: str) -> None:
        ops = self.keras_.ops
        square = ops.ones((PRODUCT_SIDE, PRODUCT_SIDE), dtype=dtype)
        # One element back in float32 waits for JAX's asynchronous work (numpy may not
        # take a bfloat16 scalar).
        ops.convert_to_numpy(ops.cast(ops.matmul(square, square)[0, 0], "float32"))

    def _warm_up(self, X: np.ndarray, y: np.ndarray) -> None:
        """Trace the train and predict functions on a small slice, then restore the initial
        weights and optimizer state: tracing is start-up, not training."""
        optimizer = self.model_.optimizer
        # Not get_weights(): under NumPy 2 it warns on the JAX and torch backends (Keras 3.15).
        weights = [self._to_numpy(w) for w in self.model_.weights]
        before = {id(v): self._to_numpy(v) for v in optimizer.variables}  # lr, iterations
        batch = self.params["batch_size"]
        # A full and the last, partial batch: JAX compiles once for each shape.
        count = min(batch + (len(X) % batch or batch), len(X))
        self.model_.fit(X[:count], y[:count], batch_size=batch, epochs=1, verbose=0)
        self.model_.predict(X[:count], batch_size=EVAL_BATCH, verbose=0)
        self.model_.set_weights(weights)
        for variable in optimizer.variables:  # moments created by the warm-up start at zero
            variable.assign(before.get(id(variable),
                                       np.zeros(variable.shape, dtype=variable.dtype)))


    def _to_numpy(self, variable: Any) -> np.ndarray:
        """A copy of a Keras variable's value, through each backend's own conversion: Keras'
        numpy() and convert_to_numpy call np.array on a Keras variable or a torch tensor,
        which warns under NumPy 2 (Keras 3.15, torch 2.13)."""
        if self.backend_ == "tensorflow":
            return np.array(variable.numpy())
        if self.backend_ == "torch":
            return np.array(variable.value.detach().cpu().numpy())
        return np.array(variable.value)


def build_model(keras: Any, image_shape: tuple[int, ...], network: str = "notebook") -> Any:
    """The network, the notebook's or ``small``: the same layers as torch-cnn's build_net."""
    layers = keras.layers
    if network == "small":
        body = [
            layers.Conv2D(24, 5), layers.MaxPooling2D(2), layers.ReLU(),
            layers.Conv2D(32, 3), layers.MaxPooling2D(2), layers.ReLU(),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
        ]
    else:
        body = [
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
        ]
    return keras.Sequential([
        keras.Input(shape=image_shape), *body,
        layers.Dense(10, activation="softmax", dtype="float32"),  # stable softmax in any policy
    ])


class SmallKerasCNN(KerasCNN):
    """keras-cnn with the small network on its small-sprint recipe, stock Keras layers.

    Two convolutions and one dense layer, like for like with torch-cnn-small."""

    name = "keras-cnn-small"
    colour = "#8c8c17"
    reference_accuracy = SMALL_ON_MNIST
    tags = (*SMALL_TAGS, "keras")
    defaults = {**KerasCNN.defaults, **SMALL_DEFAULTS}


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register(KerasCNN)
    register(SmallKerasCNN)
