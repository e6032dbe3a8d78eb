// CPU elementwise ops: the specification the CUDA versions are tested against.
#include <cstdint>

#include "kernels/elementwise/convert.h"
#include "kernels/elementwise/elementwise_impl.h"

namespace nnuc::cpu {

namespace {

// Below this many elements a loop runs on one thread (a parallel region costs a few microseconds).
constexpr std::int64_t kParallelThreshold = 1 << 15;

template <typename T>
void add_typed(const T* a, const T* b, T* out, std::int64_t count) {
#pragma omp parallel for schedule(static) if (count >= kParallelThreshold)
  for (std::int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void scale_typed(const T* x, T s, T* out, std::int64_t count) {
#pragma omp parallel for schedule(static) if (count >= kParallelThreshold)
  for (std::int64_t i = 0; i < count; ++i) out[i] = s * x[i];
}

// y[i] += alpha * x[i], computed in Y (f32 for a bf16 x: the widening is exact).
template <typename Y, typename X>
void axpy_typed(Y* y, Y alpha, const X* x, std::int64_t count) {
#pragma omp parallel for schedule(static) if (count >= kParallelThreshold)
  for (std::int64_t i = 0; i < count; ++i) y[i] = y[i] + alpha * convert_value<Y>(x[i]);
}

template <typename T>
void fill_typed(T* t, T value, std::int64_t count) {
#pragma omp parallel for schedule(static) if (count >= kParallelThreshold)
  for (std::int64_t i = 0; i < count; ++i) t[i] = value;
}

template <typename Out, typename In>
void cast_typed(const In* x, Out* out, std::int64_t count) {
#pragma omp parallel for schedule(static) if (count >= kParallelThreshold)
  for (std::int64_t i = 0; i < count; ++i) out[i] = convert_value<Out>(x[i]);
}

template <typename In>
void cast_from(const Tensor& x, Tensor& out) {
  const In* in = static_cast<const In*>(x.raw());
  const std::int64_t count = x.numel();
  switch (out.dtype()) {
    case DType::f32: cast_typed(in, out.data<float>(), count); return;
    case DType::f64: cast_typed(in, out.data<double>(), count); return;
    case DType::bf16: cast_typed(in, out.data<bf16>(), count); return;
    case DType::f16: cast_typed(in, out.data<f16>(), count); return;
    case DType::i16: cast_typed(in, out.data<std::int16_t>(), count); return;
    case DType::i32: cast_typed(in, out.data<std::int32_t>(), count); return;
    case DType::i64: cast_typed(in, out.data<std::int64_t>(), count); return;
    case DType::u8: cast_typed(in, out.data<std::uint8_t>(), count); return;
  }
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  if (a.dtype() == DType::f64)
    add_typed(a.data<double>(), b.data<double>(), out.data<double>(), a.numel());
  else
    add_typed(a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
}

void scale(const Tensor& x, double s, Tensor& out) {
  if (x.dtype() == DType::f64)
    scale_typed(x.data<double>(), s, out.data<double>(), x.numel());
  else
    scale_typed(x.data<float>(), static_cast<float>(s), out.data<float>(), x.numel());
}

void axpy(Tensor& y, double alpha, const Tensor& x) {
  if (y.dtype() == DType::f64)
    axpy_typed(y.data<double>(), alpha, x.data<double>(), y.numel());
  else if (x.dtype() == DType::bf16)
    axpy_typed(y.data<float>(), static_cast<float>(alpha), x.data<bf16>(), y.numel());
  else
    axpy_typed(y.data<float>(), static_cast<float>(alpha), x.data<float>(), y.numel());
}

void fill(Tensor& t, double value) {
  const std::uint64_t bits = element_bits(t.dtype(), value);
  const std::int64_t count = t.numel();
  switch (dtype_size(t.dtype())) {
    case 1: fill_typed(static_cast<std::uint8_t*>(t.raw()), static_cast<std::uint8_t>(bits), count); return;
    case 2: fill_typed(static_cast<std::uint16_t*>(t.raw()), static_cast<std::uint16_t>(bits), count); return;
    case 4: fill_typed(static_cast<std::uint32_t*>(t.raw()), static_cast<std::uint32_t>(bits), count); return;
    default: fill_typed(static_cast<std::uint64_t*>(t.raw()), bits, count); return;
  }
}

void cast(const Tensor& x, Tensor& out) {
  switch (x.dtype()) {
    case DType::f32: cast_from<float>(x, out); return;
    case DType::f64: cast_from<double>(x, out); return;
    case DType::bf16: cast_from<bf16>(x, out); return;
    case DType::f16: cast_from<f16>(x, out); return;
    case DType::i16: cast_from<std::int16_t>(x, out); return;
    case DType::i32: cast_from<std::int32_t>(x, out); return;
    case DType::i64: cast_from<std::int64_t>(x, out); return;
    case DType::u8: cast_from<std::uint8_t>(x, out); return;
  }
}

}  // namespace nnuc::cpu
