// Elementwise ops: add, scale, axpy, fill, cast. Any shape (the ops see tensors as flat arrays).
//
// Compute types: f32 and bf16 tensors are computed in f32 (a bf16 result is rounded once, to
// nearest even); f64 in f64. Scalars given as double are first rounded to the compute type, as
// PyTorch does for a Python scalar in an op on an f32 tensor.
//
// Dtypes: CPU computes f32 and f64; CUDA computes f32 and bf16 (mixed mode). fill and cast also
// cover the 16-bit floats and the integer dtypes of images and label maps (see each op).
#pragma once

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// CUDA vs CPU on the same inputs (values of magnitude <= ~1). f32: both devices perform the same
// IEEE operations with the same roundings (the CUDA kernels use __fmul_rn / __fadd_rn, no fused
// multiply-add), so they agree bit for bit; the bound leaves room for one extra rounding should a
// CPU compiler contract a * b + c. bf16: the CPU oracle runs f32 on the bf16-rounded inputs, so its
// result differs from the CUDA bf16 result by that one final rounding (half a bf16 ulp, 2^-9).
constexpr Tolerance kElementwiseToleranceF32{1e-6, 1e-6};
constexpr Tolerance kElementwiseToleranceBf16{1e-6, 4e-3};

// add: out = a + b
// requires: a, b defined, same shape, same dtype, on ctx's device; dtype f32 or f64 (CPU),
//           f32 or bf16 (CUDA).
// ensures:  returns a new tensor of a's shape and dtype; on Meta it is only allocated.
Tensor add(const Context& ctx, const Tensor& a, const Tensor& b);

// scale: out = s * x
// requires: x defined, on ctx's device; dtype as for add; s finite.
// ensures:  returns a new tensor of x's shape and dtype.
Tensor scale(const Context& ctx, const Tensor& x, double s);

// axpy: y <- y + alpha * x, in place (gradient accumulation: "set on first, add after").
// requires: x, y defined, same shape, on ctx's device; alpha finite; (y, x) dtypes one of
//           (f32, f32), (f64, f64) [CPU], (bf16, bf16) [CUDA], and (f32, bf16) on both devices:
//           a bf16 gradient accumulated into an f32 buffer is widened exactly, then added in f32.
//           x may be y itself (y <- (1 + alpha) y, computed as y + alpha * y).
// ensures:  y is updated; nothing is allocated.
void axpy(const Context& ctx, Tensor& y, double alpha, const Tensor& x);

// fill: t[i] = value for every element, in place.
// requires: t defined, on ctx's device; any dtype on CPU and CUDA. For an integer dtype, value is
//           an integer within the dtype's range. For a floating dtype any value, NaN and Inf
//           included, is rounded to the dtype (nearest even).
// ensures:  t is overwritten; nothing is allocated.
void fill(const Context& ctx, Tensor& t, double value);

// cast: out = x converted to `dtype` (round to nearest even; NaN stays NaN; overflow gives Inf).
// requires: x defined, on ctx's device, and one of these conversions:
//           CPU:  any of f32, f64, bf16, f16 to any of them; i16, i32, i64, u8 to f32 or f64.
//           CUDA: any of f32, bf16, f16 to any of them; i16, i32, i64, u8 to f32.
//           The same dtype in and out is a copy. f64 -> bf16/f16 rounds through f32 (as PyTorch).
//           Integers beyond 2^24 round to the nearest f32.
// ensures:  returns a new tensor of x's shape in `dtype`.
Tensor cast(const Context& ctx, const Tensor& x, DType dtype);

// Implementations; outputs are allocated by the caller and inputs are valid.

}  // namespace nnuc
