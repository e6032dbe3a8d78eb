// CUDA average pooling (kernel == stride): a warp per row of W * C elements, f32 arithmetic in the
// CPU's order (window summed in (kd, kh, kw) order, then one IEEE division by the count).
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/layout/avg_pool_impl.h"

namespace nnuc::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

struct PoolGeometry {
  std::int64_t N, D, H, W, C, Do, Ho, Wo;
  int kd, kh, kw;
};

template <typename T>
__global__ void forward_kernel(const T* x, T* y, const PoolGeometry g) {
  const std::int64_t rows = g.N * g.Do * g.Ho, row_elements = g.Wo * g.C;
  const float count = static_cast<float>(g.kd * g.kh * g.kw);
  for (std::int64_t row = blockIdx.x * std::int64_t{kRowsPerBlock} + threadIdx.y; row < rows;
       row += std::int64_t{gridDim.x} * kRowsPerBlock) {
    const std::int64_t n = row / (g.Do * g.Ho), od = row / g.Ho % g.Do, oh = row % g.Ho;
    for (std::int64_t j = threadIdx.x; j < row_elements; j += 32) {
      const std::int64_t ow = j / g.C, c = j - ow * g.C;
      float sum = 0.0f;
      for (int a = 0; a < g.kd; ++a)
        for (int b = 0; b < g.kh; ++b) {
          const T* line = x + (((n * g.D + od * g.kd + a) * g.H + oh * g.kh + b) * g.W + ow * g.kw) * g.C + c;
          for (int e = 0; e < g.kw; ++e) sum = __fadd_rn(sum, to_float(line[e * g.C]));
        }
      y[row * row_elements + j] = from_float<T>(__fdiv_rn(sum, count));
    }
  }
}

template <typename T>
__global__ void backward_kernel(const T* dy, T* dx, const PoolGeometry g) {
  const std::int64_t rows = g.N * g.D * g.H, row_elements = g.W * g.C;
  const float count = static_cast<float>(g.kd * g.kh * g.kw);
  for (std::int64_t row = blockIdx.x * std::int64_t{kRowsPerBlock} + threadIdx.y; row < rows;
       row += std::int64_t{gridDim.x} * kRowsPerBlock) {
    const std::int64_t n = row / (g.D * g.H), d = row / g.H % g.D, h = row % g.H;
    const bool inside_dh = d < g.Do * g.kd && h < g.Ho * g.kh;
    const T* source_row = dy + ((n * g.Do + d / g.kd) * g.Ho + h / g.kh) * g.Wo * g.C;
    for (std::int64_t j = threadIdx.x; j < row_elements; j += 32) {
      const std::int64_t w = j / g.C, c = j - w * g.C;
      const bool inside = inside_dh && w < g.Wo * g.kw;
      dx[row * row_elements + j] =
          inside ? from_float<T>(__fdiv_rn(to_float(source_row[(w / g.kw) * g.C + c]), count)) : from_float<T>(0.0f);
    }
  }
}

PoolGeometry geometry(const Shape& input, const Shape& pooled, const std::array<std::int64_t, 3>& k) {
  return PoolGeometry{input[0],
                      input[1],
                      input[2],
                      input[3],
                      input[4],
                      pooled[1],
                      pooled[2],
                      pooled[3],
                      static_cast<int>(k[0]),
                      static_cast<int>(k[1]),
                      static_cast<int>(k[2])};
}

}  // namespace

void avg_pool_forward(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& kernel, Tensor& y) {
  NNUC_RANGE("avg_pool_forward");
  if (y.numel() == 0) return;
  const PoolGeometry g = geometry(x.shape(), y.shape(), kernel);
  const dim3 block(32, kRowsPerBlock);
  const unsigned grid = grid_for(g.N * g.Do * g.Ho, kRowsPerBlock);
  if (x.dtype() == DType::bf16)
    forward_kernel<<<grid, block, 0, stream_of(ctx)>>>(static_cast<const __nv_bfloat16*>(x.raw()),
                                                       static_cast<__nv_bfloat16*>(y.raw()), g);
  else
    forward_kernel<<<grid, block, 0, stream_of(ctx)>>>(static_cast<const float*>(x.raw()), static_cast<float*>(y.raw()),
                                                       g);
  CUDA_CHECK_LAUNCH();
}

void avg_pool_backward(const Context& ctx, const Tensor& grad_out, const std::array<std::int64_t, 3>& kernel,
                       Tensor& grad_in) {
  NNUC_RANGE("avg_pool_backward");
  if (grad_in.numel() == 0) return;
  const PoolGeometry g = geometry(grad_in.shape(), grad_out.shape(), kernel);
  const dim3 block(32, kRowsPerBlock);
  const unsigned grid = grid_for(g.N * g.D * g.H, kRowsPerBlock);
  if (grad_out.dtype() == DType::bf16)
    backward_kernel<<<grid, block, 0, stream_of(ctx)>>>(static_cast<const __nv_bfloat16*>(grad_out.raw()),
                                                        static_cast<__nv_bfloat16*>(grad_in.raw()), g);
  else
    backward_kernel<<<grid, block, 0, stream_of(ctx)>>>(static_cast<const float*>(grad_out.raw()),
                                                        static_cast<float*>(grad_in.raw()), g);
  CUDA_CHECK_LAUNCH();
}

}  // namespace nnuc::cuda
