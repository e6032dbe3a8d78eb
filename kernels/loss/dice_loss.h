// The scalar end of nnU-Net's losses (spec §6.2), on the device: combines the sums of a loss forward
// (kernels/loss/loss.h, region_loss.h) into the loss value, and an upstream gradient into the
// gradients of those sums, without copying anything to the host.
//
//   voxel term  = voxel_sum / d, 0 when d ≤ 0;  d = max(counted, counted_floor) if counted is given,
//                 else the constant d (region BCE without ignore: N·D·H·W·R)
//   dc          = (2·I + ε) / max(G + P + ε, 1e-8), ε = 1e-5, per (row, class c ≥ first_class); a row is
//                 a sample, or the whole batch (sums over samples) for batch Dice
//   L           = voxel term − mean of dc over the rows and classes (0 without a term)
//
// The arithmetic is in f64 on every device (the sums read in their dtype), in a fixed order, so CPU
// and CUDA agree to the rounding of the stored results. CUDA runs it as one tiny kernel launch; Meta
// allocates the outputs only.
#pragma once

#include <cstdint>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/loss/loss.h"

namespace nnuc {

// CUDA vs CPU on the same f32 sums, |a − e| ≤ atol + rtol · |e|: the same f64 expressions in the same
// order, up to nvcc's contraction of a·b + c into fused multiply-adds, then one f32 rounding.
inline constexpr Tolerance kSoftDiceLossTolerance{1e-7, 1e-6};

// How the voxel term (CE / BCE) is normalised.
struct VoxelTermDenominator {
  Tensor counted;              // (1) in the sums' dtype on ctx's device, or undefined: use `constant`
  double counted_floor = 0.0;  // d = max(counted, counted_floor)
  double constant = 1.0;       // d when counted is undefined
};

struct SoftDiceLossConfig {
  std::int64_t first_class = 0;  // 1: background dropped (do_bg = False); 0: every class / region
  bool batch_dice = false;
};

// requires: sums I, P, G (N, K) of one dtype (f32 or f64; CUDA f32) on ctx's device; voxel_sum (1) of
//   that dtype there; 0 ≤ first_class ≤ K.
// ensures: returns L as a (1) tensor of the sums' dtype on ctx's device.
Tensor soft_dice_loss_forward(const Context& ctx, const DiceSums& sums, const Tensor& voxel_sum,
                              const VoxelTermDenominator& denominator, const SoftDiceLossConfig& config);

struct SoftDiceLossGrads {
  Tensor grad_intersection, grad_prediction;  // (N, K) sums' dtype: upstream · ∂L/∂I, upstream · ∂L/∂P
  Tensor voxel_scale;                         // (1) f64: upstream / d (0 when d ≤ 0), the voxel term's scale
};

// requires: as soft_dice_loss_forward; upstream (1) of the sums' dtype on ctx's device.
// ensures: the gradients above on ctx's device (G gets none: it is a constant of the targets).
SoftDiceLossGrads soft_dice_loss_backward(const Context& ctx, const Tensor& upstream, const DiceSums& sums,
                                          const VoxelTermDenominator& denominator, const SoftDiceLossConfig& config);

}  // namespace nnuc
