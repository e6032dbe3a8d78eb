// Bias add and bias gradient of the convolutions on CUDA (channels-last: the channel index is the
// fastest axis, so a warp reading 32 consecutive channels of a row is one coalesced access).
//
// add_bias:           y[r, c] = round(y[r, c] + bias[c]), grid-stride over all elements; 1 read +
//                     1 write of y: memory-bound (bytes moved = 2 |y|).
// conv_backward_bias: two deterministic passes, no atomics. Pass 1: block (32, 8) per (tile of 32
//                     channels, chunk of rows); each thread sums every 8th row of the chunk in f32,
//                     the block adds its 8 lanes in shared memory and writes one partial per channel.
//                     Pass 2: one thread per channel adds the chunk partials in chunk order.
#include <cuda_bf16.h>

#include "kernels/conv/conv_internal.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::cuda {
namespace {

constexpr int kChannelTile = 32;
constexpr int kRowLanes = 8;

template <typename T>
__global__ void add_bias_kernel(T* y, const float* bias, long long total, int channels) {
  for (long long index = grid_first(); index < total; index += grid_stride()) {
    const int channel = static_cast<int>(index % channels);
    y[index] = from_float<T>(to_float(y[index]) + bias[channel]);
  }
}

template <typename T>
__global__ void bias_grad_partial_kernel(const T* dy, float* partials, long long rows, int channels,
                                         long long rows_per_chunk) {
  __shared__ float lanes[kRowLanes][kChannelTile + 1];
  const int channel = blockIdx.x * kChannelTile + threadIdx.x;
  const long long first = static_cast<long long>(blockIdx.y) * rows_per_chunk;
  const long long last = first + rows_per_chunk < rows ? first + rows_per_chunk : rows;
  float sum = 0.0f;
  if (channel < channels) {
    for (long long row = first + threadIdx.y; row < last; row += kRowLanes)
      sum += to_float(dy[row * channels + channel]);
  }
  lanes[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && channel < channels) {
    float total = 0.0f;
    for (int lane = 0; lane < kRowLanes; ++lane) total += lanes[lane][threadIdx.x];
    partials[static_cast<long long>(blockIdx.y) * channels + channel] = total;
  }
}

__global__ void bias_grad_reduce_kernel(const float* partials, float* db, long long chunks, int channels) {
  const int channel = blockIdx.x * blockDim.x + threadIdx.x;
  if (channel >= channels) return;
  float total = 0.0f;
  for (long long chunk = 0; chunk < chunks; ++chunk) total += partials[chunk * channels + channel];
  db[channel] = total;
}

template <typename T>
void add_bias_typed(const Context& ctx, Tensor& y, const Tensor& bias) {
  const long long total = y.numel();
  const int channels = static_cast<int>(y.dim(Activation::C));
  add_bias_kernel<T><<<grid_for(total), kThreads, 0, stream_of(ctx)>>>(
      static_cast<T*>(y.raw()), static_cast<const float*>(bias.raw()), total, channels);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void backward_bias_typed(const Context& ctx, const Tensor& dy, Tensor& db) {
  const int channels = static_cast<int>(dy.dim(Activation::C));
  const long long rows = dy.numel() / channels;
  const long long chunks = conv_detail::cuda_bias_grad_chunks(rows);
  const long long rows_per_chunk = (rows + chunks - 1) / chunks;
  Tensor partials = Tensor::empty(Shape{chunks * channels}, DType::f32, ctx);  // (chunks, Co)
  cudaStream_t stream = stream_of(ctx);
  const dim3 block(kChannelTile, kRowLanes);
  const dim3 grid(static_cast<unsigned>((channels + kChannelTile - 1) / kChannelTile), static_cast<unsigned>(chunks));
  bias_grad_partial_kernel<T><<<grid, block, 0, stream>>>(
      static_cast<const T*>(dy.raw()), static_cast<float*>(partials.raw()), rows, channels, rows_per_chunk);
  CUDA_CHECK_LAUNCH();
  constexpr int kReduceThreads = 128;
  bias_grad_reduce_kernel<<<static_cast<unsigned>((channels + kReduceThreads - 1) / kReduceThreads), kReduceThreads, 0,
                            stream>>>(static_cast<const float*>(partials.raw()), static_cast<float*>(db.raw()), chunks,
                                      channels);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void add_bias(const Context& ctx, Tensor& y, const Tensor& bias) {
  NNUC_RANGE("conv_add_bias");
  if (y.numel() == 0) return;
  if (y.dtype() == DType::bf16) return add_bias_typed<__nv_bfloat16>(ctx, y, bias);
  add_bias_typed<float>(ctx, y, bias);
}

void conv_backward_bias(const Context& ctx, const Tensor& dy, Tensor& db) {
  NNUC_RANGE("conv_backward_bias:cuda");
  if (dy.dtype() == DType::bf16) return backward_bias_typed<__nv_bfloat16>(ctx, dy, db);
  backward_bias_typed<float>(ctx, dy, db);
}

}  // namespace nnuc::cuda
