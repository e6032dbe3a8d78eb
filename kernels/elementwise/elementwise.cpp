// Public entry points of the elementwise ops: check at the door, allocate, dispatch.
#include "kernels/elementwise/elementwise.h"

#include <cmath>
#include <limits>

#include "kernels/elementwise/dispatch.h"
#include "kernels/elementwise/elementwise_impl.h"

namespace nnuc {

using detail::check_compute_dtype;
using detail::check_operand;

Tensor add(const Context& ctx, const Tensor& a, const Tensor& b) {
  check_operand(a, ctx, "add", "a");
  check_operand(b, ctx, "add", "b");
  check_compute_dtype(a, ctx, "add", "a");
  NNUC_CHECK(a.dtype() == b.dtype() && a.shape() == b.shape(), "add: a ", a.describe(), " and b ", b.describe(),
             " must have the same shape and dtype");
  Tensor out = Tensor::empty(a.shape(), a.dtype(), ctx);  // shape of a
  switch (ctx.device()) {
    case Device::CPU: cpu::add(a, b, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::add(ctx, a, b, out)); break;
    case Device::Meta: break;
  }
  return out;
}

Tensor scale(const Context& ctx, const Tensor& x, double s) {
  check_operand(x, ctx, "scale", "x");
  check_compute_dtype(x, ctx, "scale", "x");
  NNUC_CHECK(std::isfinite(s), "scale: s must be finite, got ", s);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), ctx);  // shape of x
  switch (ctx.device()) {
    case Device::CPU: cpu::scale(x, s, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::scale(ctx, x, s, out)); break;
    case Device::Meta: break;
  }
  return out;
}

void axpy(const Context& ctx, Tensor& y, double alpha, const Tensor& x) {
  check_operand(y, ctx, "axpy", "y");
  check_operand(x, ctx, "axpy", "x");
  NNUC_CHECK(y.shape() == x.shape(), "axpy: y ", y.describe(), " and x ", x.describe(), " must have the same shape");
  NNUC_CHECK(std::isfinite(alpha), "axpy: alpha must be finite, got ", alpha);
  const bool cuda_rules = detail::rules_device(ctx) == Device::CUDA;
  const bool same =
      y.dtype() == x.dtype() && (y.dtype() == DType::f32 || y.dtype() == (cuda_rules ? DType::bf16 : DType::f64));
  const bool widening = y.dtype() == DType::f32 && x.dtype() == DType::bf16;
  NNUC_CHECK(same || widening, "axpy: (y, x) dtypes must be (f32, f32), (f32, bf16) or ",
             cuda_rules ? "(bf16, bf16)" : "(f64, f64)", " on ", device_name(detail::rules_device(ctx)), ", got y ",
             y.describe(), ", x ", x.describe());
  switch (ctx.device()) {
    case Device::CPU: cpu::axpy(y, alpha, x); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::axpy(ctx, y, alpha, x)); break;
    case Device::Meta: break;
  }
}

namespace {
// True when `value` is an integer that `dtype` (an integer dtype) can hold.
bool fits_integer(double value, DType dtype) {
  if (!std::isfinite(value) || std::trunc(value) != value) return false;
  switch (dtype) {
    case DType::u8: return value >= 0 && value <= 255;
    case DType::i16: return value >= -32768 && value <= 32767;
    case DType::i32: return value >= -2147483648.0 && value <= 2147483647.0;
    // Doubles at and above 2^63 do not fit; -2^63 does.
    case DType::i64: return value >= -9223372036854775808.0 && value < 9223372036854775808.0;
    default: return false;
  }
}
}  // namespace

void fill(const Context& ctx, Tensor& t, double value) {
  check_operand(t, ctx, "fill", "t");
  if (!is_floating(t.dtype()))
    NNUC_CHECK(fits_integer(value, t.dtype()), "fill: value ", value, " is not an integer that ", dtype_name(t.dtype()),
               " can hold (t is ", t.describe(), ")");
  switch (ctx.device()) {
    case Device::CPU: cpu::fill(t, value); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::fill(ctx, t, value)); break;
    case Device::Meta: break;
  }
}

namespace {
bool is_integer_dtype(DType dtype) {
  return dtype == DType::i16 || dtype == DType::i32 || dtype == DType::i64 || dtype == DType::u8;
}
bool cast_supported(DType from, DType to, Device rules) {
  if (from == to) return true;
  if (rules == Device::CUDA) {
    const auto cuda_float = [](DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; };
    return (cuda_float(from) && cuda_float(to)) || (is_integer_dtype(from) && to == DType::f32);
  }
  return (is_floating(from) && is_floating(to)) || (is_integer_dtype(from) && (to == DType::f32 || to == DType::f64));
}
}  // namespace

Tensor cast(const Context& ctx, const Tensor& x, DType dtype) {
  check_operand(x, ctx, "cast", "x");
  NNUC_CHECK(cast_supported(x.dtype(), dtype, detail::rules_device(ctx)), "cast: ", dtype_name(x.dtype()), " -> ",
             dtype_name(dtype), " is not supported on ", device_name(detail::rules_device(ctx)), " (x is ",
             x.describe(), ")");
  Tensor out = Tensor::empty(x.shape(), dtype, ctx);  // shape of x
  switch (ctx.device()) {
    case Device::CPU: cpu::cast(x, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::cast(ctx, x, out)); break;
    case Device::Meta: break;
  }
  return out;
}

}  // namespace nnuc
