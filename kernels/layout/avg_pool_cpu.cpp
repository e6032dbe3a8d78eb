// CPU average pooling (kernel == stride): the specification the CUDA version is tested against.
#include "kernels/layout/avg_pool_impl.h"

namespace nnuc::cpu {

namespace {

template <typename T>
void forward_typed(const Tensor& x, const std::array<std::int64_t, 3>& k, Tensor& y) {
  const std::int64_t D = x.dim(1), H = x.dim(2), W = x.dim(3), C = x.dim(4);
  const std::int64_t N = y.dim(0), Do = y.dim(1), Ho = y.dim(2), Wo = y.dim(3);
  const T count = static_cast<T>(k[0] * k[1] * k[2]);
  const T* in = x.data<T>();
  T* out = y.data<T>();
  const std::int64_t rows = N * Do * Ho;
#pragma omp parallel for schedule(static) if (x.numel() >= (1 << 16))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (Do * Ho), od = row / Ho % Do, oh = row % Ho;
    for (std::int64_t ow = 0; ow < Wo; ++ow) {
      T* sum = out + (row * Wo + ow) * C;
      for (std::int64_t c = 0; c < C; ++c) sum[c] = 0;
      for (std::int64_t a = 0; a < k[0]; ++a)
        for (std::int64_t b = 0; b < k[1]; ++b)
          for (std::int64_t e = 0; e < k[2]; ++e) {
            const T* voxel = in + (((n * D + od * k[0] + a) * H + oh * k[1] + b) * W + ow * k[2] + e) * C;
            for (std::int64_t c = 0; c < C; ++c) sum[c] += voxel[c];
          }
      for (std::int64_t c = 0; c < C; ++c) sum[c] /= count;
    }
  }
}

template <typename T>
void backward_typed(const Tensor& grad_out, const std::array<std::int64_t, 3>& k, Tensor& grad_in) {
  const std::int64_t N = grad_in.dim(0), D = grad_in.dim(1), H = grad_in.dim(2), W = grad_in.dim(3);
  const std::int64_t C = grad_in.dim(4);
  const std::int64_t Do = grad_out.dim(1), Ho = grad_out.dim(2), Wo = grad_out.dim(3);
  const T count = static_cast<T>(k[0] * k[1] * k[2]);
  const T* dy = grad_out.data<T>();
  T* dx = grad_in.data<T>();
  const std::int64_t rows = N * D * H;
#pragma omp parallel for schedule(static) if (grad_in.numel() >= (1 << 16))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (D * H), d = row / H % D, h = row % H;
    const bool inside_dh = d < Do * k[0] && h < Ho * k[1];
    for (std::int64_t w = 0; w < W; ++w) {
      T* target = dx + (row * W + w) * C;
      if (!inside_dh || w >= Wo * k[2]) {
        for (std::int64_t c = 0; c < C; ++c) target[c] = 0;
        continue;
      }
      const T* source = dy + (((n * Do + d / k[0]) * Ho + h / k[1]) * Wo + w / k[2]) * C;
      for (std::int64_t c = 0; c < C; ++c) target[c] = source[c] / count;
    }
  }
}

}  // namespace

void avg_pool_forward(const Tensor& x, const std::array<std::int64_t, 3>& kernel, Tensor& y) {
  if (x.dtype() == DType::f64)
    forward_typed<double>(x, kernel, y);
  else
    forward_typed<float>(x, kernel, y);
}

void avg_pool_backward(const Tensor& grad_out, const std::array<std::int64_t, 3>& kernel, Tensor& grad_in) {
  if (grad_out.dtype() == DType::f64)
    backward_typed<double>(grad_out, kernel, grad_in);
  else
    backward_typed<float>(grad_out, kernel, grad_in);
}

}  // namespace nnuc::cpu
