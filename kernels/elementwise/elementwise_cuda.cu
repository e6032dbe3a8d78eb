// CUDA elementwise ops: the CPU functions of elementwise_cpu.cpp as vectorized map kernels.
//
// Each thread moves packs of V elements (V = 16 bytes / the smallest element size: 4 for f32, 8
// when a bf16 or f16 operand is involved) with one aligned vector load or store per operand, then
// finishes the count % V tail element by element. Tensor storage is never a view and starts at an
// allocation from cudaMallocAsync, aligned to at least 256 bytes (CUDA programming guide), so pack i
// of every operand (at most 64 bytes: 16 u8 -> f32) is aligned.
//
// f32 arithmetic uses __fmul_rn / __fadd_rn where the CPU rounds a product and a sum separately,
// so that f32 results equal the CPU's bit for bit (no contraction into a fused multiply-add).
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/convert.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/elementwise/elementwise_impl.h"

namespace nnuc::cuda {

namespace {

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Elements per pack: 16 bytes of the narrowest operand.
template <typename... Ts>
constexpr int pack_width() {
  std::size_t narrowest = 16;
  for (std::size_t size : {sizeof(Ts)...}) narrowest = size < narrowest ? size : narrowest;
  return static_cast<int>(16 / narrowest);
}

struct AddOp {
  __device__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};
struct AxpyOp {
  float alpha;
  __device__ float operator()(float y, float x) const { return __fadd_rn(y, __fmul_rn(alpha, x)); }
};
struct ScaleOp {
  float s;
  __device__ float operator()(float x) const { return __fmul_rn(s, x); }
};
struct CastOp {
  __device__ float operator()(float x) const { return x; }
};

// out[i] = op(a[i], b[i]) in f32, rounded to Out. out may be a (in place) and a may be b.
template <typename Out, typename A, typename B, typename Op>
__global__ void binary_map_kernel(const A* a, const B* b, Out* out, std::int64_t count, Op op) {
  constexpr int V = pack_width<Out, A, B>();
  const std::int64_t packs = count / V, stride = std::int64_t{gridDim.x} * blockDim.x;
  const std::int64_t first = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  for (std::int64_t p = first; p < packs; p += stride) {
    const Pack<A, V> pa = reinterpret_cast<const Pack<A, V>*>(a)[p];
    const Pack<B, V> pb = reinterpret_cast<const Pack<B, V>*>(b)[p];
    Pack<Out, V> po;
#pragma unroll
    for (int k = 0; k < V; ++k) po.v[k] = from_float<Out>(op(to_float(pa.v[k]), to_float(pb.v[k])));
    reinterpret_cast<Pack<Out, V>*>(out)[p] = po;
  }
  for (std::int64_t i = packs * V + first; i < count; i += stride)
    out[i] = from_float<Out>(op(to_float(a[i]), to_float(b[i])));
}

// out[i] = op(x[i]) in f32, rounded to Out.
template <typename Out, typename In, typename Op>
__global__ void unary_map_kernel(const In* x, Out* out, std::int64_t count, Op op) {
  constexpr int V = pack_width<Out, In>();
  const std::int64_t packs = count / V, stride = std::int64_t{gridDim.x} * blockDim.x;
  const std::int64_t first = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  for (std::int64_t p = first; p < packs; p += stride) {
    const Pack<In, V> px = reinterpret_cast<const Pack<In, V>*>(x)[p];
    Pack<Out, V> po;
#pragma unroll
    for (int k = 0; k < V; ++k) po.v[k] = from_float<Out>(op(to_float(px.v[k])));
    reinterpret_cast<Pack<Out, V>*>(out)[p] = po;
  }
  for (std::int64_t i = packs * V + first; i < count; i += stride) out[i] = from_float<Out>(op(to_float(x[i])));
}

// Writes the same bit pattern (an element of 1, 2, 4 or 8 bytes) everywhere.
template <typename Bits>
__global__ void fill_kernel(Bits* t, Bits value, std::int64_t count) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < count;
       i += std::int64_t{gridDim.x} * blockDim.x)
    t[i] = value;
}

template <typename T>
T* typed(const Tensor& tensor) {
  return static_cast<T*>(tensor.raw());
}

// Blocks for a map over `count` elements in packs of V.
template <typename... Ts>
unsigned map_grid(std::int64_t count) {
  return grid_for((count + pack_width<Ts...>() - 1) / pack_width<Ts...>());
}

template <typename Out, typename A, typename B, typename Op>
void binary_map(const Context& ctx, const A* a, const B* b, Out* out, std::int64_t count, Op op) {
  binary_map_kernel<<<map_grid<Out, A, B>(count), kThreads, 0, stream_of(ctx)>>>(a, b, out, count, op);
  CUDA_CHECK_LAUNCH();
}

template <typename Out, typename In, typename Op>
void unary_map(const Context& ctx, const In* x, Out* out, std::int64_t count, Op op) {
  unary_map_kernel<<<map_grid<Out, In>(count), kThreads, 0, stream_of(ctx)>>>(x, out, count, op);
  CUDA_CHECK_LAUNCH();
}

template <typename In>
void cast_from(const Context& ctx, const Tensor& x, Tensor& out) {
  const std::int64_t count = x.numel();
  const In* in = typed<In>(x);
  switch (out.dtype()) {
    case DType::f32: unary_map(ctx, in, typed<float>(out), count, CastOp{}); break;
    case DType::bf16: unary_map(ctx, in, typed<__nv_bfloat16>(out), count, CastOp{}); break;
    case DType::f16: unary_map(ctx, in, typed<__half>(out), count, CastOp{}); break;
    default: NNUC_THROW(InvalidInput, "cast: unsupported CUDA target ", dtype_name(out.dtype()));
  }
}

}  // namespace

void add(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  NNUC_RANGE("add");
  const std::int64_t count = a.numel();
  if (count == 0) return;
  if (a.dtype() == DType::bf16)
    binary_map(ctx, typed<__nv_bfloat16>(a), typed<__nv_bfloat16>(b), typed<__nv_bfloat16>(out), count, AddOp{});
  else
    binary_map(ctx, typed<float>(a), typed<float>(b), typed<float>(out), count, AddOp{});
}

void scale(const Context& ctx, const Tensor& x, double s, Tensor& out) {
  NNUC_RANGE("scale");
  const std::int64_t count = x.numel();
  if (count == 0) return;
  const ScaleOp op{static_cast<float>(s)};
  if (x.dtype() == DType::bf16)
    unary_map(ctx, typed<__nv_bfloat16>(x), typed<__nv_bfloat16>(out), count, op);
  else
    unary_map(ctx, typed<float>(x), typed<float>(out), count, op);
}

void axpy(const Context& ctx, Tensor& y, double alpha, const Tensor& x) {
  NNUC_RANGE("axpy");
  const std::int64_t count = y.numel();
  if (count == 0) return;
  const AxpyOp op{static_cast<float>(alpha)};
  if (y.dtype() == DType::bf16)
    binary_map(ctx, typed<__nv_bfloat16>(y), typed<__nv_bfloat16>(x), typed<__nv_bfloat16>(y), count, op);
  else if (x.dtype() == DType::bf16)
    binary_map(ctx, typed<float>(y), typed<__nv_bfloat16>(x), typed<float>(y), count, op);
  else
    binary_map(ctx, typed<float>(y), typed<float>(x), typed<float>(y), count, op);
}

void fill(const Context& ctx, Tensor& t, double value) {
  NNUC_RANGE("fill");
  const std::int64_t count = t.numel();
  if (count == 0) return;
  // The element's bits, converted on the host by the CPU's rules, so both devices store the same.
  const std::uint64_t bits = cpu::element_bits(t.dtype(), value);
  switch (dtype_size(t.dtype())) {
    case 1:
      fill_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(typed<std::uint8_t>(t),
                                                                    static_cast<std::uint8_t>(bits), count);
      break;
    case 2:
      fill_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(typed<std::uint16_t>(t),
                                                                    static_cast<std::uint16_t>(bits), count);
      break;
    case 4:
      fill_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(typed<std::uint32_t>(t),
                                                                    static_cast<std::uint32_t>(bits), count);
      break;
    default: fill_kernel<<<grid_for(count), kThreads, 0, stream_of(ctx)>>>(typed<std::uint64_t>(t), bits, count); break;
  }
  CUDA_CHECK_LAUNCH();
}

void cast(const Context& ctx, const Tensor& x, Tensor& out) {
  NNUC_RANGE("cast");
  const std::int64_t count = x.numel();
  if (count == 0) return;
  if (x.dtype() == out.dtype()) {
    CUDA_CHECK(cudaMemcpyAsync(out.raw(), x.raw(), x.bytes(), cudaMemcpyDeviceToDevice, stream_of(ctx)));
    return;
  }
  switch (x.dtype()) {
    case DType::f32: cast_from<float>(ctx, x, out); break;
    case DType::bf16: cast_from<__nv_bfloat16>(ctx, x, out); break;
    case DType::f16: cast_from<__half>(ctx, x, out); break;
    case DType::i16: cast_from<std::int16_t>(ctx, x, out); break;
    case DType::i32: cast_from<std::int32_t>(ctx, x, out); break;
    case DType::i64: cast_from<std::int64_t>(ctx, x, out); break;
    case DType::u8: cast_from<std::uint8_t>(ctx, x, out); break;
    default: NNUC_THROW(InvalidInput, "cast: unsupported CUDA source ", dtype_name(x.dtype()));
  }
}

}  // namespace nnuc::cuda
