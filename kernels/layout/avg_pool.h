// Average pooling with kernel == stride per axis, no padding: the pooled skip path of a strided
// residual block (spec §5.4, BasicBlockD: AvgPool(kernel = stride, stride = stride), PyTorch
// defaults ceil_mode = False, count_include_pad = True).
//
// Channels-last (N, D, H, W, C) -> (N, D / kD, H / kH, W / kW, C), integer division: trailing
// planes that do not fill a window are left out of the forward pass and get zero gradient, as
// PyTorch's floor mode.
//
// Arithmetic (as PyTorch's CPU kernel): the window is summed in the compute type (f32 for f32 and
// bf16, f64 for f64) in (kd, kh, kw) order, then divided by kD * kH * kW; the backward divides the
// output gradient by the same count.
#pragma once

#include <array>
#include <cstdint>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// CUDA vs CPU. f32: the same additions in the same order and the same division: equal bits.
// bf16: the CPU oracle runs f32 on the bf16-rounded input; the CUDA result is that f32 value
// rounded once to bf16.
constexpr Tolerance kAvgPoolToleranceF32{0, 0};
constexpr Tolerance kAvgPoolToleranceBf16{1e-6, 4e-3};

// The pooled shape (N, D / kD, H / kH, W / kW, C).
Shape avg_pool_output_shape(const Shape& input, const std::array<std::int64_t, 3>& kernel);

// avg_pool_forward: y[n, i, j, k, c] = (1 / (kD kH kW)) * sum_{a < kD, b < kH, e < kW}
//                                        x[n, i kD + a, j kH + b, k kW + e, c]
// requires: x defined, on ctx's device, rank 5; dtype f32 or f64 (CPU), f32 or bf16 (CUDA);
//           kernel = (kD, kH, kW), each >= 1 and <= the matching extent of x.
// ensures:  returns a new tensor avg_pool_output_shape(x, kernel) of x's dtype.
Tensor avg_pool_forward(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& kernel);

// avg_pool_backward: dx[n, d, h, w, c] = dy[n, d / kD, h / kH, w / kW, c] / (kD kH kW) inside the
//                    pooled region, 0 in the trailing planes left out of the forward pass.
// requires: grad_out defined, on ctx's device, dtype as for the forward; input_shape rank 5 with
//           avg_pool_output_shape(input_shape, kernel) == grad_out's shape.
// ensures:  returns a new tensor input_shape of grad_out's dtype (the adjoint of the forward).
Tensor avg_pool_backward(const Context& ctx, const Tensor& grad_out, const Shape& input_shape,
                         const std::array<std::int64_t, 3>& kernel);

}  // namespace nnuc
