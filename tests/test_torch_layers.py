"""torch-cnn's own layers (plugins/torch_layers.py): the fused pool-ReLU-dropout kernel of the
torch-cnn-fused variant against PyTorch's own max-pool, ReLU and dropout, output and gradient,
bit for bit; stock torch-cnn never builds it.

The kernel is really compiled (once per machine, about 30 s; PyTorch caches the build)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from mlbench_plugins.torch_layers import (  # noqa: E402
    ByteDropout,
    PoolReluDropout,
    fused_kernel,
    random_bytes,
)


@pytest.fixture(scope="module")
def kernel() -> Any:
    if not sys.platform.startswith("linux"):
        pytest.skip("torch-cnn-fused builds its kernel only on Linux")
    return fused_kernel(torch)


def tied_activations(dtype: Any, seed: int = 0) -> Any:
    """Conv-like activations, channels-last, from a few small integers: many windows with equal
    maxima (the first must win, as in PyTorch), and many with none above zero (ReLU's cut)."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randint(-3, 4, (6, 64, 10, 12), generator=generator).to(dtype) / 4
    return values.contiguous(memory_format=torch.channels_last)


def forward_and_backward(layer: Any, x: Any, grad: Any, seed: int) -> tuple[Any, Any, Any]:
    torch.manual_seed(seed)
    x = x.detach().clone().requires_grad_()
    out = layer(x)
    out.backward(grad)
    return out.detach(), x.grad, torch.rand(3)  # the last: where the generator was left


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float32"])
def test_fused_kernel_is_pytorchs_pool_relu_dropout_bit_for_bit(
    kernel: Any, dtype_name: str
) -> None:
    dtype = getattr(torch, dtype_name)
    x = tied_activations(dtype)
    grad = torch.randn(6, 64, 5, 6).to(dtype).contiguous(memory_format=torch.channels_last)
    fused, eager = PoolReluDropout(torch, 0.25, kernel), PoolReluDropout(torch, 0.25)
    assert fused.fused and not eager.fused
    out, x_grad, after = forward_and_backward(fused, x, grad, seed=7)
    expected_out, expected_grad, expected_after = forward_and_backward(eager, x, grad, seed=7)
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, expected_out)
    assert torch.equal(x_grad, expected_grad)
    assert torch.equal(after, expected_after)  # the same random bytes drawn, no more
    # The eager layer is torch.nn's: max-pool, ReLU, then dropout's mask and 1 / (1 - p).
    pooled = torch.relu(torch.nn.functional.max_pool2d(x.float(), 2))
    kept = out != 0
    assert torch.equal(out.float()[kept], (pooled[kept] * (4 / 3)).to(dtype).float())
    assert (pooled[~kept] == 0).float().mean() < 1  # some positive maxima were dropped
    assert (pooled > 0).float().mean() > 0.2 and 0.3 < kept.float().mean() < 0.75


def test_fused_layer_drops_a_quarter_and_is_plain_pool_and_relu_in_eval(kernel: Any) -> None:
    layer = PoolReluDropout(torch, 0.25, kernel)
    x = torch.rand(64, 64, 24, 24).contiguous(memory_format=torch.channels_last) + 0.1
    kept = (layer(x) != 0).float().mean().item()
    assert kept == pytest.approx(0.75, abs=0.005)
    layer.eval()
    assert torch.equal(layer(x), torch.relu(torch.nn.functional.max_pool2d(x, 2)))


def test_inputs_the_kernel_does_not_take_go_through_pytorchs_ops(kernel: Any) -> None:
    """Contiguous (not channels-last) or float64 input: the same layer, PyTorch's ops."""
    x = tied_activations(torch.float32).contiguous()
    fused, eager = PoolReluDropout(torch, 0.25, kernel), PoolReluDropout(torch, 0.25)
    grad = torch.randn(6, 64, 5, 6)
    for source in (x, x.double()):
        got = forward_and_backward(fused, source, grad.to(source.dtype), seed=3)
        want = forward_and_backward(eager, source, grad.to(source.dtype), seed=3)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(RuntimeError, match="channels-last"):
        kernel.forward(x, random_bytes(torch, x.numel() // 4, "cpu"), 64, 4 / 3)
    with pytest.raises(ValueError, match="multiple of 1/256"):
        PoolReluDropout(torch, 0.3)


def test_random_bytes_are_uniform_and_seeded() -> None:
    torch.manual_seed(1)
    first = random_bytes(torch, 800_003, "cpu")
    torch.manual_seed(1)
    assert torch.equal(first, random_bytes(torch, 800_003, "cpu"))
    assert first.dtype == torch.uint8 and len(first) == 800_003
    counts = torch.bincount(first, minlength=256).float()
    assert counts.min() > 0.9 * counts.mean() and counts.max() < 1.1 * counts.mean()


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_byte_dropout_keeps_the_right_share_and_scales(p: float) -> None:
    layer = ByteDropout(torch, p)
    x = torch.ones(400_000)
    y = layer(x)
    kept = (y != 0).float().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.005)
    assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p)))
    layer.eval()
    assert torch.equal(layer(x), x)
    assert isinstance(ByteDropout(torch, 0.3), torch.nn.Dropout)  # not a multiple of 1/256


def test_only_the_fused_variant_trains_through_the_kernel(kernel: Any) -> None:
    """torch-cnn is PyTorch's own ops, with nothing built; torch-cnn-fused puts the kernel
    (built above) in the same network."""
    from mlbench.contract.registry import load_registry

    X = torch.rand(64, 28, 28, 1).numpy()
    y = (torch.arange(64) % 10).numpy()
    models = load_registry().models
    layers = {}
    for name in ("torch-cnn", "torch-cnn-fused"):
        model = models[name].cls(epochs=1, monitor=False)
        model.prepare(X, y)
        layers[name] = model.net_[3]  # max-pool, ReLU, dropout
        assert model.runtime_info().get("fused_kernel") is (
            True if name == "torch-cnn-fused" else None)
    assert not layers["torch-cnn"].fused and layers["torch-cnn-fused"].fused
