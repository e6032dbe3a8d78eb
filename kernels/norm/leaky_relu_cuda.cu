// CUDA leaky ReLU, f32 and bf16: elementwise, 16-byte vector loads, two packs per thread.
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/norm/cuda_rows.cuh"
#include "kernels/norm/leaky_relu_impl.h"

namespace nnuc::cuda {

namespace {

using rows::load_pack;
using rows::Pack;
using rows::store_pack;

constexpr int kPacksPerThread = 2;

// forward (Backward = false): out = in if in > 0 else slope · in.
// backward (Backward = true):  out = dy if y > 0 else slope · dy, with in = y and upstream = dy.
template <bool Backward, typename T>
__device__ __forceinline__ T leaky(T in, T upstream, float slope) {
  const float value = to_float(in);
  const float passed = Backward ? to_float(upstream) : value;
  return from_float<T>(value > 0.f ? passed : passed * slope);
}

// Packs of V elements: block b covers packs [b · kThreads · kPacksPerThread, +kThreads · kPacksPerThread),
// thread t its packs t, t + kThreads (coalesced). The count % V tail elements go to the first threads.
template <bool Backward, typename T, int V>
__global__ void __launch_bounds__(kThreads) leaky_relu_kernel(const T* __restrict__ in, const T* __restrict__ upstream,
                                                              T* __restrict__ out, std::int64_t count, float slope) {
  const std::int64_t packs = count / V;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kThreads * kPacksPerThread + threadIdx.x;
  Pack<T, V> in_packs[kPacksPerThread], upstream_packs[kPacksPerThread];
#pragma unroll
  for (int p = 0; p < kPacksPerThread; ++p) {
    const std::int64_t pack = first + static_cast<std::int64_t>(p) * kThreads;
    if (pack < packs) {
      in_packs[p] = load_pack<V>(in + pack * V);
      if (Backward) upstream_packs[p] = load_pack<V>(upstream + pack * V);
    }
  }
#pragma unroll
  for (int p = 0; p < kPacksPerThread; ++p) {
    const std::int64_t pack = first + static_cast<std::int64_t>(p) * kThreads;
    if (pack < packs) {
      Pack<T, V> result;
#pragma unroll
      for (int v = 0; v < V; ++v)
        result.value[v] = leaky<Backward>(in_packs[p].value[v], Backward ? upstream_packs[p].value[v] : T{}, slope);
      store_pack<V>(out + pack * V, result);
    }
  }
  const std::int64_t tail = packs * V + static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (blockIdx.x == 0 && tail < count) out[tail] = leaky<Backward>(in[tail], Backward ? upstream[tail] : T{}, slope);
}

template <bool Backward, typename T>
void launch(const Context& ctx, const T* in, const T* upstream, T* out, std::int64_t count, double slope) {
  if (count == 0) return;
  constexpr int V = static_cast<int>(16 / sizeof(T));
  const std::int64_t packs = count / V;
  const std::int64_t per_block = static_cast<std::int64_t>(kThreads) * kPacksPerThread;
  const std::int64_t blocks = std::max<std::int64_t>(1, (packs + per_block - 1) / per_block);
  leaky_relu_kernel<Backward, T, V><<<static_cast<unsigned int>(blocks), kThreads, 0, stream_of(ctx)>>>(
      in, upstream, out, count, static_cast<float>(slope));
  CUDA_CHECK_LAUNCH();
}

template <bool Backward>
void run(const Context& ctx, const Tensor& in, const Tensor* upstream, const Tensor& out, double slope) {
  if (in.dtype() == DType::bf16) {
    auto bits = [](const Tensor& tensor) { return reinterpret_cast<unsigned short*>(tensor.data<bf16>()); };
    launch<Backward>(ctx, bits(in), upstream ? bits(*upstream) : nullptr, bits(out), in.numel(), slope);
  } else {
    launch<Backward>(ctx, in.data<float>(), upstream ? upstream->data<float>() : nullptr, out.data<float>(), in.numel(),
                     slope);
  }
}

}  // namespace

void leaky_relu_forward(const Context& ctx, const Tensor& x, double slope, Tensor& y) {
  NNUC_RANGE("leaky_relu_forward");
  run<false>(ctx, x, nullptr, y, slope);
}

void leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& y, double slope, Tensor& dx) {
  NNUC_RANGE("leaky_relu_backward");
  run<true>(ctx, y, &dy, dx, slope);
}

}  // namespace nnuc::cuda
