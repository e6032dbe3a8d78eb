// CUDA instance norm + leaky ReLU, forward: f32 and bf16 activations, f32 statistics and parameters.
//   statistics_partial (read x) → statistics_merge → normalize_activate (read x, write y)
// Geometry and conventions: instance_norm_cuda.cuh.
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/norm/instance_norm_cuda.cuh"

namespace nnuc::cuda {

namespace {

using namespace rows;           // NOLINT: the row helpers and the shared pieces are these files' vocabulary
using namespace instance_norm;  // NOLINT

// Pass 1 of the forward: Welford mean and M2 per thread, merged over the block's rows; writes the
// (mean, M2) of each channel of the chunk to partial (N, chunks, C).
template <typename T, int V>
__global__ void __launch_bounds__(detail::kCudaBlockThreads)
    statistics_partial_kernel(const T* __restrict__ x, float2* __restrict__ partial, Geometry g) {
  const Place at(g);
  const int block_x = static_cast<int>(blockDim.x), lane_y = static_cast<int>(threadIdx.y);
  float count = 0.f, mean[V], m2[V];
#pragma unroll
  for (int v = 0; v < V; ++v) mean[v] = m2[v] = 0.f;
  if (at.active) {
    const T* column = x + at.sample * g.rows * g.channels + static_cast<std::int64_t>(at.vector_index) * V;
    for_rows<V>(column, at.row_begin + lane_y, at.row_end, static_cast<int>(blockDim.y), g.channels,
                [&](std::int64_t, const Pack<T, V>& pack) {
                  count += 1.f;
                  const float weight = 1.f / count;
#pragma unroll
                  for (int v = 0; v < V; ++v) {
                    const float value = to_float(pack.value[v]);
                    const float delta = value - mean[v];
                    mean[v] += delta * weight;
                    m2[v] += delta * (value - mean[v]);
                  }
                });
  }
  __shared__ float shared_count[detail::kCudaBlockThreads];
  __shared__ float shared_mean[detail::kCudaBlockThreads * kMaxVector];
  __shared__ float shared_m2[detail::kCudaBlockThreads * kMaxVector];
  const int slot = lane_y * block_x + static_cast<int>(threadIdx.x);
  shared_count[slot] = count;
#pragma unroll
  for (int v = 0; v < V; ++v) {
    shared_mean[slot * V + v] = mean[v];
    shared_m2[slot * V + v] = m2[v];
  }
  __syncthreads();
  for (int stride = first_tree_stride(static_cast<int>(blockDim.y)); stride > 0; stride /= 2) {
    if (lane_y < stride && lane_y + stride < static_cast<int>(blockDim.y)) {
      const int other = slot + stride * block_x;
      if (shared_count[other] > 0.f) {  // threads past the chunk's last row hold nothing
        const MergeWeights w = merge_weights(shared_count[slot], shared_count[other]);
#pragma unroll
        for (int v = 0; v < V; ++v)
          merge_moments(w, shared_mean[slot * V + v], shared_m2[slot * V + v], shared_mean[other * V + v],
                        shared_m2[other * V + v]);
        shared_count[slot] = w.total;
      }
    }
    __syncthreads();
  }
  if (lane_y == 0 && at.active) {
    float2* out =
        partial + (at.sample * g.chunks + at.chunk) * g.channels + static_cast<std::int64_t>(at.vector_index) * V;
#pragma unroll
    for (int v = 0; v < V; ++v) out[v] = make_float2(shared_mean[slot * V + v], shared_m2[slot * V + v]);
  }
}

// Pass 1b of the forward: merges the chunks' (mean, M2) in chunk order into mean and inv_std (N, C).
// grid (ceil(C / 32), N), block (32, 32): lane y takes chunks y, y + 32, ..., then a fixed tree.
__global__ void __launch_bounds__(kMergeChannels* kMergeLanes)
    statistics_merge_kernel(const float2* __restrict__ partial, float* __restrict__ mean, float* __restrict__ inv_std,
                            Geometry g, float eps) {
  const std::int64_t channel = static_cast<std::int64_t>(blockIdx.x) * kMergeChannels + threadIdx.x;
  const std::int64_t sample = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.y);
  const bool active = channel < g.channels;
  float count = 0.f, running_mean = 0.f, running_m2 = 0.f;
  if (active) {
    const float2* column = partial + sample * g.chunks * g.channels + channel;
    std::int64_t chunk = lane;
    for (; chunk + 3 * kMergeLanes < g.chunks; chunk += 4 * kMergeLanes) {
      float2 values[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) values[u] = column[(chunk + u * kMergeLanes) * g.channels];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const MergeWeights w = merge_weights(count, static_cast<float>(chunk_rows(g, chunk + u * kMergeLanes)));
        merge_moments(w, running_mean, running_m2, values[u].x, values[u].y);
        count = w.total;
      }
    }
    for (; chunk < g.chunks; chunk += kMergeLanes) {
      const float2 value = column[chunk * g.channels];
      const MergeWeights w = merge_weights(count, static_cast<float>(chunk_rows(g, chunk)));
      merge_moments(w, running_mean, running_m2, value.x, value.y);
      count = w.total;
    }
  }
  __shared__ float shared_count[kMergeLanes][kMergeChannels];
  __shared__ float shared_mean[kMergeLanes][kMergeChannels];
  __shared__ float shared_m2[kMergeLanes][kMergeChannels];
  shared_count[lane][threadIdx.x] = count;
  shared_mean[lane][threadIdx.x] = running_mean;
  shared_m2[lane][threadIdx.x] = running_m2;
  __syncthreads();
  for (int stride = kMergeLanes / 2; stride > 0; stride /= 2) {
    if (lane < stride && shared_count[lane + stride][threadIdx.x] > 0.f) {  // lanes past the last chunk hold nothing
      const MergeWeights w = merge_weights(shared_count[lane][threadIdx.x], shared_count[lane + stride][threadIdx.x]);
      merge_moments(w, shared_mean[lane][threadIdx.x], shared_m2[lane][threadIdx.x],
                    shared_mean[lane + stride][threadIdx.x], shared_m2[lane + stride][threadIdx.x]);
      shared_count[lane][threadIdx.x] = w.total;
    }
    __syncthreads();
  }
  if (lane == 0 && active) {
    const float variance = fmaxf(shared_m2[0][threadIdx.x] / static_cast<float>(g.rows), 0.f);
    mean[sample * g.channels + channel] = shared_mean[0][threadIdx.x];
    inv_std[sample * g.channels + channel] = 1.f / sqrtf(variance + eps);
  }
}

// Pass 2 of the forward: y = leaky_relu(x · scale + shift).
template <typename T, int V>
__global__ void __launch_bounds__(detail::kCudaBlockThreads)
    normalize_activate_kernel(const T* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                              const float* __restrict__ mean, const float* __restrict__ inv_std, float slope,
                              T* __restrict__ y, Geometry g) {
  const Place at(g);
  if (!at.active) return;
  const std::int64_t channel0 = static_cast<std::int64_t>(at.vector_index) * V;
  const Coefficients<V> k(gamma, beta, mean, inv_std, at.sample, channel0, g.channels);
  const std::int64_t offset = at.sample * g.rows * g.channels + channel0;
  for_rows<V>(x + offset, at.row_begin + static_cast<int>(threadIdx.y), at.row_end, static_cast<int>(blockDim.y),
              g.channels, [&](std::int64_t row, const Pack<T, V>& pack) {
                Pack<T, V> out;
#pragma unroll
                for (int v = 0; v < V; ++v) {
                  const float z = affine(to_float(pack.value[v]), k.scale[v], k.shift[v]);
                  out.value[v] = from_float<T>(z > 0.f ? z : z * slope);
                }
                store_pack<V>(y + offset + row * g.channels, out);
              });
}

template <typename T, int V>
void forward_launch(const Launch& launch, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                    float slope, Tensor& y, Tensor& mean, Tensor& inv_std, Tensor& workspace) {
  float2* partial = static_cast<float2*>(workspace.raw());  // (N, chunks, C)
  statistics_partial_kernel<T, V>
      <<<launch.grid, launch.block, 0, launch.stream>>>(storage<T>(x), partial, launch.geometry);
  CUDA_CHECK_LAUNCH();
  statistics_merge_kernel<<<launch.merge_grid, launch.merge_block, 0, launch.stream>>>(
      partial, mean.data<float>(), inv_std.data<float>(), launch.geometry, eps);
  CUDA_CHECK_LAUNCH();
  normalize_activate_kernel<T, V><<<launch.grid, launch.block, 0, launch.stream>>>(
      storage<T>(x), gamma.data<float>(), beta.data<float>(), mean.data<float>(), inv_std.data<float>(), slope,
      storage<T>(y), launch.geometry);
  CUDA_CHECK_LAUNCH();
}

struct ForwardRun {
  const Launch& launch;
  const Tensor &x, &gamma, &beta;
  float eps, slope;
  Tensor &y, &mean, &inv_std, &workspace;
  template <typename T, int V>
  void operator()() const {
    forward_launch<T, V>(launch, x, gamma, beta, eps, slope, y, mean, inv_std, workspace);
  }
};

}  // namespace

void instance_norm_leaky_relu_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      double eps, double slope, Tensor& y, Tensor& mean, Tensor& inv_std,
                                      Tensor& workspace) {
  NNUC_RANGE("instance_norm_leaky_relu_forward");
  const Launch launch = make_launch(ctx, x);
  dispatch(x.dtype(), launch.vector_width,
           ForwardRun{launch, x, gamma, beta, static_cast<float>(eps), static_cast<float>(slope), y, mean, inv_std,
                      workspace});
}

}  // namespace nnuc::cuda
