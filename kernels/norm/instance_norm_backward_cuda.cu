// CUDA instance norm + leaky ReLU, backward: f32 and bf16 activations, f32 statistics and parameters.
//   gradient_partial (read dy, x) → gradient_merge → parameter_gradients
//   → normalize_activate_backward (read dy, x, write dx)
// Geometry and conventions: instance_norm_cuda.cuh.
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/norm/instance_norm_cuda.cuh"

namespace nnuc::cuda {

namespace {

using namespace rows;           // NOLINT: the row helpers and the shared pieces are these files' vocabulary
using namespace instance_norm;  // NOLINT

// The per-value terms of both backward passes, recomputed from x and the saved statistics as the
// forward did: dz = dy · leaky_relu'(z) with z = x · scale + shift, and x̂ = (x - mean) · inv_std.
struct GradientTerms {
  float dz, xhat;
};
template <typename T, int V>
__device__ __forceinline__ GradientTerms gradient_terms(T x, T dy, const Coefficients<V>& k, int v, float slope) {
  const float value = to_float(x), upstream = to_float(dy);
  const float dz = affine(value, k.scale[v], k.shift[v]) > 0.f ? upstream : upstream * slope;
  return GradientTerms{dz, __fmul_rn(__fsub_rn(value, k.mean[v]), k.inv_std[v])};
}

// Pass 1 of the backward: Σ dz and Σ dz · x̂ per channel of the chunk → partial (N, chunks, C).
template <typename T, int V>
__global__ void __launch_bounds__(detail::kCudaBlockThreads)
    gradient_partial_kernel(const T* __restrict__ dy, const T* __restrict__ x, const float* __restrict__ gamma,
                            const float* __restrict__ beta, const float* __restrict__ mean,
                            const float* __restrict__ inv_std, float slope, float2* __restrict__ partial, Geometry g) {
  const Place at(g);
  const int block_x = static_cast<int>(blockDim.x), lane_y = static_cast<int>(threadIdx.y);
  float sum_dz[V], sum_dz_xhat[V];
#pragma unroll
  for (int v = 0; v < V; ++v) sum_dz[v] = sum_dz_xhat[v] = 0.f;
  if (at.active) {
    const std::int64_t channel0 = static_cast<std::int64_t>(at.vector_index) * V;
    const Coefficients<V> k(gamma, beta, mean, inv_std, at.sample, channel0, g.channels);
    const std::int64_t offset = at.sample * g.rows * g.channels + channel0;
    for_rows2<V>(dy + offset, x + offset, at.row_begin + lane_y, at.row_end, static_cast<int>(blockDim.y), g.channels,
                 [&](std::int64_t, const Pack<T, V>& dy_pack, const Pack<T, V>& x_pack) {
#pragma unroll
                   for (int v = 0; v < V; ++v) {
                     const GradientTerms terms = gradient_terms(x_pack.value[v], dy_pack.value[v], k, v, slope);
                     sum_dz[v] += terms.dz;
                     sum_dz_xhat[v] += terms.dz * terms.xhat;
                   }
                 });
  }
  __shared__ float shared_dz[detail::kCudaBlockThreads * kMaxVector];
  __shared__ float shared_dz_xhat[detail::kCudaBlockThreads * kMaxVector];
  const int slot = lane_y * block_x + static_cast<int>(threadIdx.x);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    shared_dz[slot * V + v] = sum_dz[v];
    shared_dz_xhat[slot * V + v] = sum_dz_xhat[v];
  }
  __syncthreads();
  for (int stride = first_tree_stride(static_cast<int>(blockDim.y)); stride > 0; stride /= 2) {
    if (lane_y < stride && lane_y + stride < static_cast<int>(blockDim.y)) {
      const int other = slot + stride * block_x;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        shared_dz[slot * V + v] += shared_dz[other * V + v];
        shared_dz_xhat[slot * V + v] += shared_dz_xhat[other * V + v];
      }
    }
    __syncthreads();
  }
  if (lane_y == 0 && at.active) {
    float2* out =
        partial + (at.sample * g.chunks + at.chunk) * g.channels + static_cast<std::int64_t>(at.vector_index) * V;
#pragma unroll
    for (int v = 0; v < V; ++v) out[v] = make_float2(shared_dz[slot * V + v], shared_dz_xhat[slot * V + v]);
  }
}

// Pass 1b of the backward: sums the chunks' (Σ dz, Σ dz · x̂) in a fixed order into sums (N, C).
// grid (ceil(C / 32), N), block (32, 32).
__global__ void __launch_bounds__(kMergeChannels* kMergeLanes)
    gradient_merge_kernel(const float2* __restrict__ partial, float2* __restrict__ sums, Geometry g) {
  const std::int64_t channel = static_cast<std::int64_t>(blockIdx.x) * kMergeChannels + threadIdx.x;
  const std::int64_t sample = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.y);
  const bool active = channel < g.channels;
  float sum_dz = 0.f, sum_dz_xhat = 0.f;
  if (active) {
    const float2* column = partial + sample * g.chunks * g.channels + channel;
    std::int64_t chunk = lane;
    for (; chunk + 3 * kMergeLanes < g.chunks; chunk += 4 * kMergeLanes) {
      float2 values[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) values[u] = column[(chunk + u * kMergeLanes) * g.channels];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        sum_dz += values[u].x;
        sum_dz_xhat += values[u].y;
      }
    }
    for (; chunk < g.chunks; chunk += kMergeLanes) {
      const float2 value = column[chunk * g.channels];
      sum_dz += value.x;
      sum_dz_xhat += value.y;
    }
  }
  __shared__ float shared_dz[kMergeLanes][kMergeChannels];
  __shared__ float shared_dz_xhat[kMergeLanes][kMergeChannels];
  shared_dz[lane][threadIdx.x] = sum_dz;
  shared_dz_xhat[lane][threadIdx.x] = sum_dz_xhat;
  __syncthreads();
  for (int stride = kMergeLanes / 2; stride > 0; stride /= 2) {
    if (lane < stride) {
      shared_dz[lane][threadIdx.x] += shared_dz[lane + stride][threadIdx.x];
      shared_dz_xhat[lane][threadIdx.x] += shared_dz_xhat[lane + stride][threadIdx.x];
    }
    __syncthreads();
  }
  if (lane == 0 && active)
    sums[sample * g.channels + channel] = make_float2(shared_dz[0][threadIdx.x], shared_dz_xhat[0][threadIdx.x]);
}

// dbeta[c] = Σ_n sums[n, c].x, dgamma[c] = Σ_n sums[n, c].y, in sample order.
__global__ void parameter_gradients_kernel(const float2* __restrict__ sums, float* __restrict__ dgamma,
                                           float* __restrict__ dbeta, std::int64_t samples, std::int64_t channels) {
  const std::int64_t channel = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (channel >= channels) return;
  float sum_dz = 0.f, sum_dz_xhat = 0.f;
  for (std::int64_t sample = 0; sample < samples; ++sample) {
    const float2 value = sums[sample * channels + channel];
    sum_dz += value.x;
    sum_dz_xhat += value.y;
  }
  dbeta[channel] = sum_dz;
  dgamma[channel] = sum_dz_xhat;
}

// Pass 2 of the backward: dx = gamma · inv_std · (dz - Σ dz / M - x̂ · Σ (dz · x̂) / M).
template <typename T, int V>
__global__ void __launch_bounds__(detail::kCudaBlockThreads)
    normalize_activate_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       const float* __restrict__ mean, const float* __restrict__ inv_std,
                                       const float2* __restrict__ sums, float slope, T* __restrict__ dx, Geometry g) {
  const Place at(g);
  if (!at.active) return;
  const std::int64_t channel0 = static_cast<std::int64_t>(at.vector_index) * V;
  const Coefficients<V> k(gamma, beta, mean, inv_std, at.sample, channel0, g.channels);
  float dx_scale[V], mean_dz[V], mean_dz_xhat[V];
  const float inv_rows = 1.f / static_cast<float>(g.rows);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float2 sum = sums[at.sample * g.channels + channel0 + v];
    dx_scale[v] = gamma[channel0 + v] * k.inv_std[v];
    mean_dz[v] = sum.x * inv_rows;
    mean_dz_xhat[v] = sum.y * inv_rows;
  }
  const std::int64_t offset = at.sample * g.rows * g.channels + channel0;
  for_rows2<V>(dy + offset, x + offset, at.row_begin + static_cast<int>(threadIdx.y), at.row_end,
               static_cast<int>(blockDim.y), g.channels,
               [&](std::int64_t row, const Pack<T, V>& dy_pack, const Pack<T, V>& x_pack) {
                 Pack<T, V> out;
#pragma unroll
                 for (int v = 0; v < V; ++v) {
                   const GradientTerms terms = gradient_terms(x_pack.value[v], dy_pack.value[v], k, v, slope);
                   out.value[v] = from_float<T>(dx_scale[v] * (terms.dz - mean_dz[v] - terms.xhat * mean_dz_xhat[v]));
                 }
                 store_pack<V>(dx + offset + row * g.channels, out);
               });
}

template <typename T, int V>
void backward_launch(const Launch& launch, const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                     const Tensor& mean, const Tensor& inv_std, float slope, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                     Tensor& workspace) {
  const Geometry& g = launch.geometry;
  const std::int64_t samples = launch.grid.z;
  float2* partial = static_cast<float2*>(workspace.raw());   // (N, chunks, C)
  float2* sums = partial + samples * g.chunks * g.channels;  // (N, C)
  gradient_partial_kernel<T, V><<<launch.grid, launch.block, 0, launch.stream>>>(
      storage<T>(dy), storage<T>(x), gamma.data<float>(), beta.data<float>(), mean.data<float>(), inv_std.data<float>(),
      slope, partial, g);
  CUDA_CHECK_LAUNCH();
  gradient_merge_kernel<<<launch.merge_grid, launch.merge_block, 0, launch.stream>>>(partial, sums, g);
  CUDA_CHECK_LAUNCH();
  const unsigned int parameter_blocks = static_cast<unsigned int>((g.channels + 255) / 256);
  parameter_gradients_kernel<<<parameter_blocks, 256, 0, launch.stream>>>(sums, dgamma.data<float>(),
                                                                          dbeta.data<float>(), samples, g.channels);
  CUDA_CHECK_LAUNCH();
  normalize_activate_backward_kernel<T, V><<<launch.grid, launch.block, 0, launch.stream>>>(
      storage<T>(dy), storage<T>(x), gamma.data<float>(), beta.data<float>(), mean.data<float>(), inv_std.data<float>(),
      sums, slope, storage<T>(dx), g);
  CUDA_CHECK_LAUNCH();
}

struct BackwardRun {
  const Launch& launch;
  const Tensor &dy, &x, &gamma, &beta, &mean, &inv_std;
  float slope;
  Tensor &dx, &dgamma, &dbeta, &workspace;
  template <typename T, int V>
  void operator()() const {
    backward_launch<T, V>(launch, dy, x, gamma, beta, mean, inv_std, slope, dx, dgamma, dbeta, workspace);
  }
};

}  // namespace

void instance_norm_leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                       const Tensor& beta, const Tensor& mean, const Tensor& inv_std, double slope,
                                       Tensor& dx, Tensor& dgamma, Tensor& dbeta, Tensor& workspace) {
  NNUC_RANGE("instance_norm_leaky_relu_backward");
  const Launch launch = make_launch(ctx, x);
  dispatch(
      x.dtype(), launch.vector_width,
      BackwardRun{launch, dy, x, gamma, beta, mean, inv_std, static_cast<float>(slope), dx, dgamma, dbeta, workspace});
}

}  // namespace nnuc::cuda
