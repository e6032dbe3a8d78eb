// Device helpers shared by kernels/norm's CUDA kernels: 16-byte vector packs and the row loop of the
// channels-last reduction / apply kernels (conversions: kernels/elementwise/cuda_util.cuh).
//
// Storage types: float for f32, unsigned short (the raw bits) for bf16; arithmetic is always f32.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::cuda::rows {

// V contiguous elements loaded or stored with one instruction (16 bytes for V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T value[V];
};

template <int V, typename T>
__device__ __forceinline__ Pack<T, V> load_pack(const T* pointer) {
  return *reinterpret_cast<const Pack<T, V>*>(pointer);
}
template <int V, typename T>
__device__ __forceinline__ void store_pack(T* pointer, const Pack<T, V>& pack) {
  *reinterpret_cast<Pack<T, V>*>(pointer) = pack;
}

// Rows handed to one thread per loop trip: its loads are issued together, so that several 16-byte
// loads are in flight per thread (the kernels are bandwidth-bound).
constexpr int kRowUnroll = 4;

// Calls body(row, pack) for row, row + step, ... < end, where pack holds the V values at
// column + row · channels (column points at a channel vector of one sample's first row).
template <int V, typename T, typename Body>
__device__ __forceinline__ void for_rows(const T* column, std::int64_t row, std::int64_t end, int step,
                                         std::int64_t channels, Body&& body) {
  for (; row + static_cast<std::int64_t>(kRowUnroll - 1) * step < end; row += kRowUnroll * step) {
    Pack<T, V> packs[kRowUnroll];
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) packs[u] = load_pack<V>(column + (row + u * step) * channels);
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) body(row + u * step, packs[u]);
  }
  for (; row < end; row += step) body(row, load_pack<V>(column + row * channels));
}

// As for_rows, over two tensors of the same shape: body(row, pack_a, pack_b).
template <int V, typename T, typename Body>
__device__ __forceinline__ void for_rows2(const T* column_a, const T* column_b, std::int64_t row, std::int64_t end,
                                          int step, std::int64_t channels, Body&& body) {
  for (; row + static_cast<std::int64_t>(kRowUnroll - 1) * step < end; row += kRowUnroll * step) {
    Pack<T, V> packs_a[kRowUnroll], packs_b[kRowUnroll];
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) {
      packs_a[u] = load_pack<V>(column_a + (row + u * step) * channels);
      packs_b[u] = load_pack<V>(column_b + (row + u * step) * channels);
    }
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) body(row + u * step, packs_a[u], packs_b[u]);
  }
  for (; row < end; row += step)
    body(row, load_pack<V>(column_a + row * channels), load_pack<V>(column_b + row * channels));
}

// Largest power of two below `count` (1 for count <= 2): the first stride of a tree reduction
// over `count` slots that need not be a power of two.
__device__ __forceinline__ int first_tree_stride(int count) {
  int stride = 1;
  while (stride * 2 < count) stride *= 2;
  return stride;
}

}  // namespace nnuc::cuda::rows
