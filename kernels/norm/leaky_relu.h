// Leaky ReLU on its own, for the places where the activation is not fused with a norm: ResEnc's
// block output leaky_relu(conv2 norm + skip) (spec §5.4). Elementwise on any shape.
#pragma once

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// y = x if x > 0 else slope · x.
// requires:
//   - x: any shape, on ctx's device; dtype f32 or f64 on CPU, f32 or bf16 on CUDA (a Meta context
//     accepts the dtypes of the device it models)
//   - slope finite and >= 0 (so that the sign of y is the sign of x and backward can use y)
// ensures:
//   - returns y, a new tensor with x's shape and dtype; slope is applied in x's dtype (f32 for bf16)
Tensor leaky_relu_forward(const Context& ctx, const Tensor& x, double slope);

// dx = dy if y > 0 else slope · dy, from the forward output y (x need not be kept).
// requires:
//   - dy, y: same shape and dtype, as for leaky_relu_forward; y is what leaky_relu_forward returned
//     for the same slope
// ensures:
//   - returns dx, a new tensor with y's shape and dtype
Tensor leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& y, double slope);

// CUDA vs CPU: f32 is exact; a bf16 result is the f32 result rounded once (half an ulp of 2^-8).
constexpr Tolerance kLeakyReluToleranceF32{0.0, 0.0};
constexpr Tolerance kLeakyReluToleranceBF16{0.0, 1.0 / 256};

}  // namespace nnuc
