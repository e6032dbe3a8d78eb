// Fused SGD step with momentum, Nesterov and weight decay: PyTorch's torch.optim.SGD update
// (dampening 0), the optimizer of nnU-Net (spec §6.1: lr 1e-2 with poly decay, momentum 0.99,
// Nesterov, weight decay 3e-5 on all parameters).
//
// Per element, in this order (each operation rounded in the parameter's dtype, f32 or f64; no
// fused multiply-add, identical on CPU and CUDA):
//   g   = grad                        (widened exactly from bf16)
//   g   = g * grad_scale              (only when a grad_scale tensor is given: unscaling, clipping)
//   g   = g + weight_decay * w        (only when weight_decay != 0)
//   buf = first_step ? g : momentum * buf + g          (only when momentum != 0)
//   d   = nesterov ? g + momentum * buf : buf          (d = g when momentum == 0)
//   w   = w + (-lr) * d
// One launch (CUDA) or one parallel loop (CPU) covers the whole parameter list.
#pragma once

#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// CUDA vs CPU on the same inputs: both devices perform the same f32 operations with the same
// roundings (a bf16 gradient widens exactly), so the results agree bit for bit.
constexpr Tolerance kSgdToleranceF32{0, 0};
constexpr Tolerance kSgdToleranceBf16Grad{0, 0};

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0.99;
  double weight_decay = 3e-5;
  bool nesterov = true;
};

// sgd_step: the update above, in place, for every (params[i], grads[i], momentum_buffers[i]).
// requires: the three lists have the same length; entry i of each has the same shape, is defined
//           and on ctx's device. CPU: params, grads and buffers all f32 or all f64. CUDA: params
//           and buffers f32, grads f32 or bf16. lr >= 0, momentum in [0, 1), weight_decay >= 0,
//           all finite; nesterov requires momentum > 0. A buffer is not read when first_step is
//           true (it may be uninitialized) and not touched at all when momentum is 0.
//           grad_scale: undefined, or an f32 tensor of one element on ctx's device (read on the
//           device, e.g. clip_coefficient() times an inverse loss scale).
//           skip_if_nonzero: undefined, or an f32 tensor of one element on ctx's device; when it
//           holds a nonzero value (or NaN) nothing is written (mixed-precision step skipping,
//           e.g. any_nonfinite() of the gradients). Where a step may be skipped on the device, the
//           host cannot know whether the first step happened: zero the buffers (fill) and pass
//           first_step = false from the start instead — buf = momentum * 0 + g = g is the same
//           first step, exactly.
// ensures:  params and buffers updated; grads unchanged; nothing is allocated.
void sgd_step(const Context& ctx, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale = Tensor(), const Tensor& skip_if_nonzero = Tensor());

// The same for one parameter.
void sgd_step(const Context& ctx, Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdOptions& options,
              bool first_step, const Tensor& grad_scale = Tensor(), const Tensor& skip_if_nonzero = Tensor());

// Implementations; inputs are valid.

}  // namespace nnuc
