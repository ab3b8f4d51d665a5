// torch-cnn's MaxPool2d(2) -> ReLU -> Dropout(p) as one CPU kernel each way (plugins/torch_layers.py
// builds it with torch.utils.cpp_extension and says why; the same layers in PyTorch's own ops are
// the fallback and the reference its tests compare with).
//
// Activations are channels-last: an (N, C, H, W) tensor laid out as (N, H, W, C), so each of the
// four inputs of a pooling window is a contiguous run of C values and the inner loops vectorise.
// Forward reads the input once and writes the output and a one-byte code per output: which of
// the window's four inputs was the maximum (0-3, the first of equals, as PyTorch's max-pool), or
// 4 where no gradient flows (the maximum was not positive, or dropout dropped it). Backward
// writes every input gradient once from that code: no int64 indices, no zero-fill first.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace {

// Values as float in the loops, stored back in the tensor's type (bfloat16: round to nearest
// even, as PyTorch does; NaN is not expected in activations). Not c10::BFloat16's own
// conversions: with them this kernel measured 10x slower (tests/benchmarks/fused_layer_probe.py,
// BENCHMARKS.md), though GCC reported the same loops vectorised.
struct BFloat16Values {
  using Stored = uint16_t;
  static float load(Stored bits) {
    const uint32_t wide = uint32_t(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
  }
  static Stored store(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return Stored(bits >> 16);
  }
};

struct Float32Values {
  using Stored = float;
  static float load(Stored value) { return value; }
  static Stored store(float value) { return value; }
};

constexpr uint8_t kNoGradient = 4;

// The inner loops over channels must vectorise (the bfloat16 rounding is most of the work): the
// lambdas capture by value ([=]), since loop bounds and constants read through references
// might alias the outputs, and `omp simd` says the outputs never alias the inputs.
template <typename Values>
void forward_kernel(const typename Values::Stored* input, const uint8_t* noise,
                    typename Values::Stored* output, uint8_t* code, int64_t batch,
                    int64_t height, int64_t width, int64_t channels, int threshold, float scale) {
  const int64_t out_height = height / 2, out_width = width / 2;
  at::parallel_for(0, batch * out_height, 1, [=](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t image = row / out_height, i = row % out_height;
      const auto* top = input + (image * height + 2 * i) * width * channels;
      const auto* bottom = top + width * channels;
      for (int64_t j = 0; j < out_width; ++j) {
        const auto* p00 = top + 2 * j * channels;
        const auto* p01 = p00 + channels;
        const auto* p10 = bottom + 2 * j * channels;
        const auto* p11 = p10 + channels;
        const int64_t at = (row * out_width + j) * channels;
        const uint8_t* bytes = noise + at;
        auto* out = output + at;
        uint8_t* codes = code + at;
#pragma omp simd  // the outputs never alias the inputs
        for (int64_t k = 0; k < channels; ++k) {
          const float a = Values::load(p00[k]), b = Values::load(p01[k]);
          const float c = Values::load(p10[k]), d = Values::load(p11[k]);
          const float top_max = std::max(a, b), bottom_max = std::max(c, d);
          const int top_which = b > a, bottom_which = 2 + (d > c);  // strict: first of equals
          const int lower = bottom_max > top_max;
          const float largest = std::max(top_max, bottom_max);
          const int which = lower * bottom_which + (1 - lower) * top_which;
          const int live = (largest > 0.f) & (int(bytes[k]) >= threshold);
          out[k] = Values::store(largest * (scale * float(live)));
          codes[k] = uint8_t(which + (kNoGradient - which) * (1 - live));
        }
      }
    }
  });
}

template <typename Values>
void backward_kernel(const typename Values::Stored* grad_output, const uint8_t* code,
                     typename Values::Stored* grad_input, int64_t batch, int64_t height,
                     int64_t width, int64_t channels, float scale) {
  const int64_t out_height = height / 2, out_width = width / 2;
  at::parallel_for(0, batch * out_height, 1, [=](int64_t begin, int64_t end) {
    const auto zero = Values::store(0.f);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t image = row / out_height, i = row % out_height;
      auto* top = grad_input + (image * height + 2 * i) * width * channels;
      auto* bottom = top + width * channels;
      for (int64_t j = 0; j < out_width; ++j) {
        auto* p00 = top + 2 * j * channels;
        auto* p01 = p00 + channels;
        auto* p10 = bottom + 2 * j * channels;
        auto* p11 = p10 + channels;
        const int64_t at = (row * out_width + j) * channels;
        const auto* grads = grad_output + at;
        const uint8_t* codes = code + at;
#pragma omp simd
        for (int64_t k = 0; k < channels; ++k) {
          const auto grad = Values::store(Values::load(grads[k]) * scale);
          const int which = codes[k];
          p00[k] = which == 0 ? grad : zero;
          p01[k] = which == 1 ? grad : zero;
          p10[k] = which == 2 ? grad : zero;
          p11[k] = which == 3 ? grad : zero;
        }
      }
    }
  });
}

void check_input(const torch::Tensor& tensor, const char* what) {
  TORCH_CHECK(tensor.device().is_cpu(), what, " must be on the CPU");
  TORCH_CHECK(tensor.dim() == 4 && tensor.is_contiguous(at::MemoryFormat::ChannelsLast), what,
              " must be a 4-d channels-last tensor");
  TORCH_CHECK(tensor.scalar_type() == at::kBFloat16 || tensor.scalar_type() == at::kFloat, what,
              " must be bfloat16 or float32");
}

}  // namespace

// Returns the layer's output (N, C, H/2, W/2, channels-last) and the gradient code
// (N, H/2, W/2, C). noise: one uniform random byte per output, kept where >= threshold.
std::vector<torch::Tensor> forward(const torch::Tensor& input, const torch::Tensor& noise,
                                   int64_t threshold, double scale) {
  check_input(input, "input");
  const int64_t batch = input.size(0), channels = input.size(1);
  const int64_t height = input.size(2), width = input.size(3);
  TORCH_CHECK(height % 2 == 0 && width % 2 == 0, "height and width must be even");
  TORCH_CHECK(noise.scalar_type() == at::kByte && noise.is_contiguous() &&
                  noise.numel() == input.numel() / 4,
              "noise must be one contiguous uint8 value per output");
  auto output = torch::empty({batch, channels, height / 2, width / 2},
                             input.options().memory_format(at::MemoryFormat::ChannelsLast));
  auto code = torch::empty({batch, height / 2, width / 2, channels},
                           input.options().dtype(torch::kUInt8));
  if (input.scalar_type() == at::kBFloat16) {
    forward_kernel<BFloat16Values>(
        static_cast<const uint16_t*>(input.data_ptr()), noise.data_ptr<uint8_t>(),
        static_cast<uint16_t*>(output.data_ptr()), code.data_ptr<uint8_t>(), batch, height,
        width, channels, int(threshold), float(scale));
  } else {
    forward_kernel<Float32Values>(input.data_ptr<float>(), noise.data_ptr<uint8_t>(),
                                  output.data_ptr<float>(), code.data_ptr<uint8_t>(), batch,
                                  height, width, channels, int(threshold), float(scale));
  }
  return {output, code};
}

// The input's gradient (N, C, height, width, channels-last) from the output's and the code.
torch::Tensor backward(const torch::Tensor& grad_output, const torch::Tensor& code,
                       int64_t height, int64_t width, double scale) {
  const auto grad = grad_output.contiguous(at::MemoryFormat::ChannelsLast);
  check_input(grad, "grad_output");
  const int64_t batch = grad.size(0), channels = grad.size(1);
  TORCH_CHECK(grad.size(2) == height / 2 && grad.size(3) == width / 2 &&
                  code.numel() == grad.numel(),
              "grad_output and code must match the forward pass");
  auto grad_input = torch::empty({batch, channels, height, width},
                                 grad.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (grad.scalar_type() == at::kBFloat16) {
    backward_kernel<BFloat16Values>(static_cast<const uint16_t*>(grad.data_ptr()),
                                    code.data_ptr<uint8_t>(),
                                    static_cast<uint16_t*>(grad_input.data_ptr()), batch, height,
                                    width, channels, float(scale));
  } else {
    backward_kernel<Float32Values>(grad.data_ptr<float>(), code.data_ptr<uint8_t>(),
                                   grad_input.data_ptr<float>(), batch, height, width, channels,
                                   float(scale));
  }
  return grad_input;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("forward", &forward, "max-pool 2x2, ReLU and dropout, channels-last");
  module.def("backward", &backward, "their input gradient");
}
