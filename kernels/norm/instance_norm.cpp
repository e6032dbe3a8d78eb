// instance_norm_leaky_relu_{forward,backward}: argument checks, allocation (outputs, then scratch),
// and the dispatch to cpu:: / cuda::. The kernels live in instance_norm_cpu.cpp and instance_norm_cuda.cu.
#include "kernels/norm/instance_norm.h"

#include <algorithm>
#include <cmath>

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/norm/instance_norm_impl.h"

namespace nnuc {

namespace detail {

InstanceNormCpuPlan instance_norm_cpu_plan(const Shape& x) {
  const std::int64_t rows = x[Activation::D] * x[Activation::H] * x[Activation::W];
  const std::int64_t channels = x[Activation::C];
  InstanceNormCpuPlan plan{};
  plan.rows_per_chunk = std::max<std::int64_t>(1, kCpuChunkElements / channels);
  plan.chunks = (rows + plan.rows_per_chunk - 1) / plan.rows_per_chunk;
  return plan;
}

InstanceNormCudaPlan instance_norm_cuda_plan(const Shape& x, DType dtype) {
  const std::int64_t samples = x[Activation::N];
  const std::int64_t rows = x[Activation::D] * x[Activation::H] * x[Activation::W];
  const std::int64_t channels = x[Activation::C];
  InstanceNormCudaPlan plan{};
  plan.vector_width = static_cast<int>(16 / dtype_size(dtype));
  while (channels % plan.vector_width != 0) plan.vector_width /= 2;
  plan.channel_vectors = static_cast<int>(channels / plan.vector_width);
  plan.block_x = std::min(plan.channel_vectors, kCudaMaxBlockX);
  plan.block_y = std::max(1, kCudaBlockThreads / plan.block_x);
  plan.channel_tiles = (plan.channel_vectors + plan.block_x - 1) / plan.block_x;
  // Enough (sample, tile, chunk) blocks to fill the GPU, but at least block_y rows per chunk.
  const std::int64_t most_chunks = (rows + plan.block_y - 1) / plan.block_y;
  const std::int64_t blocks_per_chunk = samples * plan.channel_tiles;
  const std::int64_t wanted_chunks = (kCudaTargetBlocks + blocks_per_chunk - 1) / blocks_per_chunk;
  const std::int64_t chunks = std::clamp<std::int64_t>(wanted_chunks, 1, most_chunks);
  const std::int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  plan.rows_per_chunk = (rows_per_chunk + plan.block_y - 1) / plan.block_y * plan.block_y;
  plan.chunks = (rows + plan.rows_per_chunk - 1) / plan.rows_per_chunk;
  return plan;
}

}  // namespace detail

DType instance_norm_param_dtype(DType x) { return x == DType::f64 ? DType::f64 : DType::f32; }

namespace {

std::size_t partial_count(std::int64_t samples, std::int64_t chunks, std::int64_t channels) {
  return static_cast<std::size_t>(samples * chunks * channels);
}

std::size_t workspace_bytes(Device device, const Shape& shape, DType dtype, bool backward) {
  NNUC_CHECK(shape.rank() == 5, "instance norm workspace: shape must be (N, D, H, W, C), got ", shape.str());
  const std::int64_t samples = shape[Activation::N];
  const std::int64_t channels = shape[Activation::C];
  const std::size_t per_channel = static_cast<std::size_t>(samples * channels);
  switch (device) {
    case Device::CPU: {
      // Partial (mean, M2) or (Σ dz, Σ dz·x̂) per (n, chunk, c) in f64, then per-(n, c) coefficients in
      // x's dtype: forward scale and shift; backward scale, shift, k, m1, m2.
      const detail::InstanceNormCpuPlan plan = detail::instance_norm_cpu_plan(shape);
      const std::size_t coefficients = (backward ? 5 : 2) * per_channel * dtype_size(dtype);
      return 2 * partial_count(samples, plan.chunks, channels) * sizeof(double) + coefficients;
    }
    case Device::CUDA: {
      // Partial pairs per (n, chunk, c) as float2; backward adds the merged pairs per (n, c).
      const detail::InstanceNormCudaPlan plan = detail::instance_norm_cuda_plan(shape, dtype);
      const std::size_t partials = partial_count(samples, plan.chunks, channels) * 2 * sizeof(float);
      return partials + (backward ? per_channel * 2 * sizeof(float) : 0);
    }
    case Device::Meta: break;
  }
  NNUC_THROW(InvalidInput, "instance norm workspace: device must be CPU or CUDA, got ", device_name(device));
}

// x, dy: (N, D, H, W, C), every dimension >= 1, on ctx's device, a dtype that device computes in.
void check_activation(const Context& ctx, const Tensor& x, const char* op, const char* name) {
  check_defined(x, name);
  NNUC_CHECK(x.rank() == 5, op, ": ", name, " must be 5-D (N, D, H, W, C) channels-last, got ", x.describe());
  for (int axis = 0; axis < 5; ++axis)
    NNUC_CHECK(x.dim(axis) >= 1, op, ": ", name, " must have every dimension >= 1, got ", x.describe());
  check_device(x, ctx, name);
  if (ctx.models() == Device::CPU) {
    NNUC_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": ", name,
               " must be f32 or f64 on the CPU, got ", x.describe());
  } else {
    NNUC_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::bf16, op, ": ", name,
               " must be f32 or bf16 on CUDA, got ", x.describe());
    NNUC_CHECK(x.dim(Activation::N) <= 65535, op, ": ", name, " has N = ", x.dim(Activation::N),
               "; CUDA supports N <= 65535");
    NNUC_CHECK(x.dim(Activation::C) <= (std::int64_t{1} << 21), op, ": ", name, " has C = ", x.dim(Activation::C),
               "; CUDA supports C <= 2^21");
  }
}

void check_per_channel(const Context& ctx, const Tensor& tensor, const Shape& shape, DType dtype, const char* op,
                       const char* name) {
  check_defined(tensor, name);
  NNUC_CHECK(tensor.shape() == shape && tensor.dtype() == dtype, op, ": ", name, " must be ", dtype_name(dtype), " ",
             shape.str(), ", got ", tensor.describe());
  check_device(tensor, ctx, name);
}

void check_slope(double slope, const char* op) {
  NNUC_CHECK(std::isfinite(slope), op, ": slope must be finite, got ", slope);
}

}  // namespace

std::size_t instance_norm_forward_workspace_bytes(Device device, const Shape& shape, DType dtype) {
  return workspace_bytes(device, shape, dtype, false);
}

std::size_t instance_norm_backward_workspace_bytes(Device device, const Shape& shape, DType dtype) {
  return workspace_bytes(device, shape, dtype, true);
}

Tensor instance_norm_leaky_relu_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        double eps, double slope, InstanceNormStats* stats_out) {
  constexpr const char* op = "instance_norm_leaky_relu_forward";
  check_activation(ctx, x, op, "x");
  const DType param_dtype = instance_norm_param_dtype(x.dtype());
  const std::int64_t samples = x.dim(Activation::N), channels = x.dim(Activation::C);
  check_per_channel(ctx, gamma, Shape{channels}, param_dtype, op, "gamma");
  check_per_channel(ctx, beta, Shape{channels}, param_dtype, op, "beta");
  NNUC_CHECK(std::isfinite(eps) && eps > 0, op, ": eps must be finite and > 0, got ", eps);
  check_slope(slope, op);

  Tensor y = Tensor::empty(x.shape(), x.dtype(), ctx);                         // (N, D, H, W, C)
  Tensor mean = Tensor::empty(Shape{samples, channels}, param_dtype, ctx);     // (N, C)
  Tensor inv_std = Tensor::empty(Shape{samples, channels}, param_dtype, ctx);  // (N, C)
  const std::size_t scratch = instance_norm_forward_workspace_bytes(ctx.models(), x.shape(), x.dtype());
  Tensor workspace = Tensor::empty(Shape{static_cast<std::int64_t>(scratch)}, DType::u8, ctx);
  switch (ctx.device()) {
    case Device::CPU: {
      NNUC_RANGE("instance_norm_leaky_relu_forward");
      cpu::instance_norm_leaky_relu_forward(ctx, x, gamma, beta, eps, slope, y, mean, inv_std, workspace);
      break;
    }
    case Device::CUDA: {
      NNUC_IF_CUDA(
          cuda::instance_norm_leaky_relu_forward(ctx, x, gamma, beta, eps, slope, y, mean, inv_std, workspace));
      break;
    }
    case Device::Meta: break;
  }
  if (stats_out != nullptr) *stats_out = InstanceNormStats{mean, inv_std};
  return y;
}

InstanceNormGrads instance_norm_leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& x,
                                                    const Tensor& gamma, const Tensor& beta,
                                                    const InstanceNormStats& stats, double slope) {
  constexpr const char* op = "instance_norm_leaky_relu_backward";
  check_activation(ctx, x, op, "x");
  check_activation(ctx, dy, op, "dy");
  check_same_shape(dy, x, "dy", "x");
  NNUC_CHECK(dy.dtype() == x.dtype(), op, ": dy ", dy.describe(), " and x ", x.describe(), " must have the same dtype");
  const DType param_dtype = instance_norm_param_dtype(x.dtype());
  const std::int64_t samples = x.dim(Activation::N), channels = x.dim(Activation::C);
  check_per_channel(ctx, gamma, Shape{channels}, param_dtype, op, "gamma");
  check_per_channel(ctx, beta, Shape{channels}, param_dtype, op, "beta");
  check_per_channel(ctx, stats.mean, Shape{samples, channels}, param_dtype, op, "stats.mean");
  check_per_channel(ctx, stats.inv_std, Shape{samples, channels}, param_dtype, op, "stats.inv_std");
  check_slope(slope, op);

  InstanceNormGrads grads;
  grads.dx = Tensor::empty(x.shape(), x.dtype(), ctx);              // (N, D, H, W, C)
  grads.dgamma = Tensor::empty(Shape{channels}, param_dtype, ctx);  // (C)
  grads.dbeta = Tensor::empty(Shape{channels}, param_dtype, ctx);   // (C)
  const std::size_t scratch = instance_norm_backward_workspace_bytes(ctx.models(), x.shape(), x.dtype());
  Tensor workspace = Tensor::empty(Shape{static_cast<std::int64_t>(scratch)}, DType::u8, ctx);
  switch (ctx.device()) {
    case Device::CPU: {
      NNUC_RANGE("instance_norm_leaky_relu_backward");
      cpu::instance_norm_leaky_relu_backward(ctx, dy, x, gamma, beta, stats.mean, stats.inv_std, slope, grads.dx,
                                             grads.dgamma, grads.dbeta, workspace);
      break;
    }
    case Device::CUDA: {
      NNUC_IF_CUDA(cuda::instance_norm_leaky_relu_backward(ctx, dy, x, gamma, beta, stats.mean, stats.inv_std, slope,
                                                           grads.dx, grads.dgamma, grads.dbeta, workspace));
      break;
    }
    case Device::Meta: break;
  }
  return grads;
}

}  // namespace nnuc
