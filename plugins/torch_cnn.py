"""The reference CNN in PyTorch, as PyTorch ships it (``torch-cnn``), and the same network with
mlbench's own fused C++ kernel (``torch-cnn-fused``), a variant asked for by name. PyTorch is
imported only when a job starts."""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mlbench import SkipJob, hookimpl
from mlbench_plugins.cnn import CNN, SMALL_DEFAULTS, SMALL_ON_MNIST, SMALL_TAGS, published_on_mnist
from mlbench_plugins.hardware import PRODUCT_SIDE, keep_freed_memory
from mlbench_plugins.optional import import_framework
from mlbench_plugins.torch_layers import build_net, fused_kernel

EVAL_BATCH = 1000


class TorchCNN(CNN):
    """The introductory-notebook CNN in PyTorch's own ops: nothing of mlbench's to compile.

    Channels-last, with bfloat16 autocast where it is measured faster."""

    name = "torch-cnn"
    colour = "#17becf"
    reference_accuracy = published_on_mnist(
        "The same network as keras-cnn in PyTorch, 5 epochs (this project measured about "
        "0.99).")
    requires = ("torch",)
    install = "pip install 'mlbench[torch]'"
    tags: tuple[str, ...] = ("cnn", "deep-learning", "torch", "torch-cnn-engines")
    defaults = CNN.defaults

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Framework start-up, timed apart from training: import, device, build, warm-up."""
        keep_freed_memory()  # no page faults for each step's activations
        torch = import_framework("torch", "PyTorch", "torch")
        self.torch_ = torch
        self.device_ = self._pick_device(torch)
        self.kernel_ = self._fused_kernel()
        torch.manual_seed(self.seed)
        self.net_ = build_net(torch, X.shape[1:3], self.kernel_, self.params["network"]).to(
            self.device_, memory_format=torch.channels_last)
        self.optimizer_ = torch.optim.Adam(
            self.net_.parameters(), lr=self.params["learning_rate"],
            betas=(self.params["beta_1"], self.params["beta_2"]),
            eps=1e-7,  # Keras' epsilon, as in the notebook
            # One fused pass over the weights per step instead of a dozen: same update.
            fused=self.device_.type in ("cpu", "cuda"))
        count = len(X)
        self.schedule_ = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer_, lambda step: self.rate_factor(step, count))
        self.dtype_ = self._autocast_dtype(torch)
        self.scaler_ = torch.amp.GradScaler(self.device_.type,
                                            enabled=self.dtype_ == torch.float16)
        self.train_step_ = self._make_train_step()
        self._warm_up(X, y)

    def fit(self, X: np.ndarray, y: np.ndarray,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None) -> TorchCNN:
        if not hasattr(self, "net_"):
            self.prepare(X, y)
        torch = self.torch_
        images, labels = self._to_device(X), torch.as_tensor(y, device=self.device_)
        batch, count = self.params["batch_size"], len(X)
        generator = torch.Generator().manual_seed(self.seed)
        self.begin_fit(eval_set)
        steps = self.steps_per_epoch(count)
        eval_steps = set(self.eval_steps(steps))
        for epoch in range(self.params["epochs"]):
            self.start_epoch()
            self.net_.train()
            order = torch.randperm(count, generator=generator).to(self.device_)
            loss_sum = torch.zeros((), device=self.device_)
            correct = torch.zeros((), device=self.device_, dtype=torch.long)
            for step, start in enumerate(range(0, count, batch), start=1):
                index = order[start:start + batch]
                loss, hits = self.train_step_(images[index], labels[index])
                loss_sum += loss * len(index)
                correct += hits
                self.schedule_.step()
                if step in eval_steps:  # .item() waits for the device before the clock stops
                    seen = start + len(index)
                    self.checkpoint(loss_sum.item() / seen, correct.item() / seen,
                                    epoch + step / steps)
                    self.net_.train()
            self._synchronize()
            self.end_epoch(loss_sum.item() / count, correct.item() / count)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        torch = self.torch_
        self.net_.eval()
        outputs = []
        with torch.no_grad(), self._autocast():
            for start in range(0, len(X), EVAL_BATCH):
                logits = self.net_(self._to_device(X[start:start + EVAL_BATCH]))
                outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(outputs).astype(np.float32)

    def size_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.net_.state_dict().values())

    def runtime_info(self) -> dict[str, Any]:
        torch = self.torch_
        if self.device_.type == "cuda":
            name = torch.cuda.get_device_name(self.device_)
            build = f"CUDA {torch.version.cuda}"
        else:
            name, build = self.device_.type, "CUDA" if torch.version.cuda else "CPU"
        return {"framework": f"torch {torch.__version__} ({build} build)", "device_name": name,
                "framework_threads": torch.get_num_threads(),
                "precision": str(self.dtype_).replace("torch.", "")}

    # -- internals --------------------------------------------------------------------

    def _pick_device(self, torch: Any) -> Any:
        if self.device == "cpu":
            return torch.device("cpu")
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
        raise SkipJob(f"no CUDA or MPS device visible to PyTorch ({torch.__version__}, {build})")

    def _fused_kernel(self) -> Any:
        return None  # PyTorch's own max-pool, ReLU and dropout

    def _autocast_dtype(self, torch: Any) -> Any:
        precision = self.training_precision()
        if precision == "float16" and self.device_.type == "cpu":
            raise ValueError(f"{self.name}: float16 training needs a GPU; use bfloat16 or "
                             f"float32")
        return getattr(torch, precision)

    def multiply(self, dtype: str) -> None:
        torch = import_framework("torch", "PyTorch", "torch")
        square = torch.ones(PRODUCT_SIDE, PRODUCT_SIDE, dtype=getattr(torch, dtype))
        square @ square

    def _autocast(self) -> Any:
        torch = self.torch_
        enabled = self.dtype_ != torch.float32
        return torch.autocast(self.device_.type, dtype=self.dtype_, enabled=enabled)

    def _make_train_step(self) -> Callable[[Any, Any], tuple[Any, Any]]:
        torch = self.torch_
        net = torch.compile(self.net_) if self.params["compile"] else self.net_
        loss_function = torch.nn.CrossEntropyLoss()  # softmax + sparse categorical CE

        def step(images: Any, labels: Any) -> tuple[Any, Any]:
            self.optimizer_.zero_grad(set_to_none=True)
            with self._autocast():
                logits = net(images)
                loss = loss_function(logits.float(), labels)
            self.scaler_.scale(loss).backward()
            self.scaler_.step(self.optimizer_)
            self.scaler_.update()
            return loss.detach(), (logits.argmax(dim=1) == labels).sum()

        return step

    def _warm_up(self, X: np.ndarray, y: np.ndarray) -> None:
        """Run the full and the last, partial batch and a prediction now (compiling them,
        under torch.compile), then restore the initial weights, optimizer, loss scale and
        random state: one-time start-up is counted as such, not as training, as keras-cnn's
        warm-up does, and training draws exactly what it would have without it."""
        torch = self.torch_
        saved = copy.deepcopy((self.net_.state_dict(), self.optimizer_.state_dict(),
                               self.scaler_.state_dict()))
        # The device's own generator too: dropout draws its bytes on the device.
        generators = [torch.random, *{"cuda": [torch.cuda], "mps": [torch.mps]}.get(
            self.device_.type, [])]
        random_states = [generator.get_rng_state() for generator in generators]
        batch = self.params["batch_size"]
        sizes = {min(batch, len(X)), len(X) % batch} - {0}
        for size in sizes:
            self.train_step_(self._to_device(X[:size]),
                             torch.as_tensor(y[:size], device=self.device_))
        self.predict_proba(X[:min(EVAL_BATCH, len(X))])
        self._synchronize()
        self.net_.load_state_dict(saved[0])
        self.optimizer_.load_state_dict(saved[1])
        self.scaler_.load_state_dict(saved[2])
        for generator, state in zip(generators, random_states, strict=True):
            generator.set_rng_state(state)

    def _to_device(self, X: np.ndarray) -> Any:
        torch = self.torch_
        # NHWC arrays viewed as NCHW tensors in channels-last memory: no copy on the CPU.
        tensor = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).permute(0, 3, 1, 2)
        return tensor.to(self.device_)

    def _synchronize(self) -> None:
        if self.device_.type == "cuda":
            self.torch_.cuda.synchronize()
        elif self.device_.type == "mps":
            self.torch_.mps.synchronize()


class FusedTorchCNN(TorchCNN):
    """torch-cnn with mlbench's own C++ kernel, not stock PyTorch; needs a C++ compiler.

    Max-pool, ReLU and dropout run as one kernel, built on first use (about 30 s, once per
    machine)."""

    # The same network, params, seed and random draws as torch-cnn; its pool-ReLU-dropout
    # layer runs one pass of pool_relu_dropout.cpp each way (torch_layers.py). Its gain depends
    # on the CPU: a training step 1.7x faster on a Xeon with AMX (BENCHMARKS.md), a whole fit
    # 1.13x on an AMD EPYC without it (issue 22).
    name = "torch-cnn-fused"
    colour = "#7b4173"
    tags = ("implementation", "torch-cnn-engines")
    devices = ("cpu",)  # the kernel is a CPU kernel; on a GPU this would be torch-cnn
    install = "pip install 'mlbench[torch]', and a C++ compiler with Python's headers"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["compile"]:
            raise ValueError(f"{self.name}: compile must be False: torch.compile cannot see "
                             f"into the fused kernel; use torch-cnn with compile=True")
        if self.params["network"] != "notebook":  # the kernel is that network's layer
            raise ValueError(f"{self.name}: network must be notebook: the fused kernel is its "
                             f"pool-ReLU-dropout layer; use torch-cnn for "
                             f"{self.params['network']!r}")

    def runtime_info(self) -> dict[str, Any]:
        # implementation_of: the report's Engines section sets it beside torch-cnn; the
        # framework names the kernel where it ran, in every table that shows the engine.
        info = super().runtime_info()
        if self.kernel_ is not None:
            info["framework"] += ", with mlbench's fused C++ kernel"
        return {**info, "implementation_of": TorchCNN.name,
                "fused_kernel": self.kernel_ is not None}

    def _fused_kernel(self) -> Any:
        """The fused pool-ReLU-dropout kernel (Linux only: its build flags are GCC's and it is
        tested only there), else None. A kernel that cannot be built costs speed, not the
        job: a warning, and PyTorch's own ops, as in torch-cnn."""
        if not sys.platform.startswith("linux"):
            warnings.warn(f"{self.name}: the fused kernel is built only on Linux; training "
                          f"with PyTorch's own ops, as torch-cnn does", stacklevel=2)
            return None
        try:
            return fused_kernel(self.torch_)
        except Exception as error:  # a compiler's failure can surface as any exception
            reason = (str(error).strip().splitlines() or [""])[0]
            warnings.warn(f"{self.name}: the fused pool-ReLU-dropout kernel could not be built "
                          f"({type(error).__name__}: {reason[:200]}); training with PyTorch's "
                          f"own ops instead, as torch-cnn does. It needs a C++ compiler, "
                          f"Python's headers and ninja (pip install ninja)", stacklevel=2)
            return None


class SmallTorchCNN(TorchCNN):
    """torch-cnn with the small network on its small-sprint recipe, stock PyTorch.

    Two convolutions and one dense layer, the fastest path to 0.99 (docs/cnn.md)."""

    name = "torch-cnn-small"
    colour = "#0e7c86"
    reference_accuracy = SMALL_ON_MNIST
    tags = (*SMALL_TAGS, "torch")
    defaults = {**TorchCNN.defaults, **SMALL_DEFAULTS}


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register(TorchCNN)
    register(FusedTorchCNN)
    register(SmallTorchCNN)
