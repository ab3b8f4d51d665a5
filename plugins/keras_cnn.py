"""The reference CNN in Keras 3 (TensorFlow backend). TensorFlow is imported only when a
keras-cnn job starts."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from mlbench import SkipJob, hookimpl
from mlbench_plugins.cnn import CNN, import_framework
from mlbench_plugins.hardware import cpu_has_bfloat16, keep_freed_memory

EVAL_BATCH = 1000


class KerasCNN(CNN):
    """The introductory-notebook CNN in Keras 3 (mixed precision where the hardware has it)."""

    name = "keras-cnn"
    requires = ("tensorflow", "keras")
    install = "pip install 'mlbench[tensorflow]'"
    tags = ("cnn", "deep-learning", "keras")
    # Keras runs this many steps per call into TensorFlow: far less Python per step.
    defaults = {**CNN.defaults, "steps_per_execution": 100}

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Framework start-up, timed apart from training: import, device, build, trace."""
        keep_freed_memory()  # no page faults for each step's activations
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's banners quiet
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        tf = import_framework("tensorflow", "TensorFlow", "tensorflow")
        keras = import_framework("keras", "Keras", "tensorflow")
        self.tf_, self.keras_ = tf, keras
        threads = os.environ.get("TF_NUM_INTRAOP_THREADS")  # set by mlbench run --threads
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(
                int(os.environ.get("TF_NUM_INTEROP_THREADS", threads)))
        if self.device == "cpu":
            tf.config.set_visible_devices([], "GPU")
            self.device_name_ = "cpu"
        else:
            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                build = "CUDA" if tf.test.is_built_with_cuda() else "CPU-only"
                raise SkipJob(f"no GPU visible to TensorFlow ({tf.__version__}, {build} build; "
                              "GPU training needs pip install 'tensorflow[and-cuda]')")
            self.device_name_ = tf.config.experimental.get_device_details(gpus[0]).get(
                "device_name", gpus[0].name)
        keras.utils.set_random_seed(self.seed)
        self.precision_ = self._precision()
        keras.mixed_precision.set_dtype_policy(
            "float32" if self.precision_ == "float32" else f"mixed_{self.precision_}")
        self.model_ = build_model(keras, X.shape[1:])
        rate = self.params["learning_rate"]
        if self.params["lr_schedule"] == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(rate, self.total_steps(len(X)))
        self.model_.compile(
            optimizer=keras.optimizers.Adam(learning_rate=rate),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"],
            jit_compile=bool(self.params["compile"]),
            steps_per_execution=self.params["steps_per_execution"],
        )
        self._warm_up(X, y)

    def fit(self, X: np.ndarray, y: np.ndarray,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None) -> KerasCNN:
        if not hasattr(self, "model_"):
            self.prepare(X, y)
        self.begin_fit(eval_set)
        plugin = self

        class EpochLog(self.keras_.callbacks.Callback):  # type: ignore[name-defined]
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                plugin.start_epoch()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                plugin.end_epoch(logs["loss"], logs["accuracy"])

        self.model_.fit(X, y, batch_size=self.params["batch_size"], epochs=self.params["epochs"],
                        shuffle=True, verbose=0, callbacks=[EpochLog()])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(X, batch_size=EVAL_BATCH, verbose=0),
                          dtype=np.float32)

    def size_bytes(self) -> int:
        return sum(int(w.nbytes) for w in self.model_.get_weights())

    def runtime_info(self) -> dict[str, Any]:
        tf = self.tf_
        build = "CUDA" if tf.test.is_built_with_cuda() else "CPU"
        return {"framework": f"tensorflow {tf.__version__}, keras {self.keras_.__version__} "
                             f"({build} build)",
                "device_name": self.device_name_,
                # 0 means TensorFlow picks for itself: recorded as unknown, not as zero.
                "framework_threads": tf.config.threading.get_intra_op_parallelism_threads()
                or None,
                "precision": self.precision_}

    def _precision(self) -> str:
        # float16 on a CPU, or bfloat16 on an old one, is emulated: slower than float32.
        precision = str(self.params["precision"])
        if precision == "auto":
            if self.device == "gpu":
                return "float16"  # mixed float16 is what Keras' loss scaling supports best
            return "bfloat16" if cpu_has_bfloat16() else "float32"
        return precision

    def _warm_up(self, X: np.ndarray, y: np.ndarray) -> None:
        """Trace the train and predict functions on a small slice, then restore the initial
        weights and optimizer state: tracing is start-up, not training."""
        optimizer = self.model_.optimizer
        weights = self.model_.get_weights()
        before = {id(v): np.array(v.numpy()) for v in optimizer.variables}  # lr, iterations
        count = min(2 * self.params["batch_size"], len(X))
        self.model_.fit(X[:count], y[:count], batch_size=self.params["batch_size"], epochs=1,
                        verbose=0)
        self.model_.predict(X[:count], batch_size=EVAL_BATCH, verbose=0)
        self.model_.set_weights(weights)
        for variable in optimizer.variables:  # moments created by the warm-up start at zero
            variable.assign(before.get(id(variable),
                                       np.zeros(variable.shape, dtype=variable.dtype)))


def build_model(keras: Any, image_shape: tuple[int, ...]) -> Any:
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=image_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax", dtype="float32"),  # stable softmax in any policy
    ])


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register(KerasCNN)
