// The loss family of region training (spec §6.2, "has_regions"): nnU-Net's DC_and_BCE_loss, i.e.
// binary cross-entropy with logits plus soft Dice on p = sigmoid(x) over all region channels.
//
// Layout: logits (N, D, H, W, R) channels-last; targets u8 multi-hot (N, D, H, W, R), nonzero = the
// voxel is in region r. With RegionIgnore::last_target_channel the targets carry R + 1 channels and the
// last one is nnU-Net's ignore channel: m = (t[R] == 0); otherwise m = 1 everywhere.
//
// The ops return sums; the loss layer divides, and must replicate nnU-Net's denominator quirk:
//   without ignore:  BCE = bce_sum / (N·D·H·W·R)            (BCEWithLogitsLoss, mean over elements)
//   with ignore:     BCE = bce_sum / max(counted, 1e-8)      (counted = Σ_voxels m, NOT multiplied by R)
//   dc_r = (2·I_r + ε) / max(G_r + P_r + ε, 1e-8), ε = 1e-5, mean over all regions (do_bg = True)
// Devices, dtypes, sums and Meta behaviour as in kernels/loss/loss.h; tolerances kLossSumTolerance* and
// kLossValueTolerance*.
#pragma once

#include <cstdint>

#include "kernels/loss/loss.h"

namespace nnuc {

enum class RegionIgnore : std::uint8_t {
  none,                 // targets have R channels; every voxel counts
  last_target_channel,  // targets have R + 1 channels; the last, when nonzero, marks an ignored voxel
};

struct BceSums {
  Tensor loss_sum;  // (1): Σ_{n, v, r} m · bce(x, t)
  Tensor counted;   // (1): Σ_{n, v} m, voxels (not elements): the quirk's denominator
};

struct RegionLossSums {
  BceSums bce;
  DiceSums dice;  // I, P, G (N, R) with p = sigmoid(x), y = t[r] ≠ 0
};

// bce(x, t) = max(x, 0) − x·t + log(1 + exp(−|x|)), summed under the mask.
// requires: logits (N, D, H, W, R), every dim ≥ 1, on ctx's device (CPU f32/f64, CUDA f32/bf16);
//   targets u8 (N, D, H, W, R) or (N, D, H, W, R + 1) as `ignore` says, on the same device.
// ensures: loss_sum and counted (1), f64 for f64 logits, else f32; both 0 when every voxel is ignored.
BceSums bce_with_logits_forward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore);

// dx[n, v, r] = scale · m · (sigmoid(x) − t): the gradient of scale · loss_sum.
// requires: as bce_with_logits_forward. ensures: the logits' shape and dtype; 0 on ignored voxels.
Tensor bce_with_logits_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                                double scale);

// I = Σ_v s·y·m, P = Σ_v s·m, G = Σ_v y·m per (n, r), s = sigmoid(x).
// requires: as bce_with_logits_forward. ensures: (N, R) each, f64 for f64 logits, else f32.
DiceSums sigmoid_dice_sums_forward(const Context& ctx, const Tensor& logits, const Tensor& targets,
                                   RegionIgnore ignore);

// dx[n, v, r] = m · (gI[n, r]·y + gP[n, r]) · s · (1 − s)
// requires: as bce_with_logits_forward; grad_intersection and grad_prediction (N, R) of the sums'
//   dtype on ctx's device. ensures: the logits' shape and dtype; 0 on ignored voxels.
Tensor sigmoid_dice_sums_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                                  const Tensor& grad_intersection, const Tensor& grad_prediction);

// bce_with_logits_forward and sigmoid_dice_sums_forward in one pass.
RegionLossSums region_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& targets,
                                   RegionIgnore ignore);

// The sum of bce_with_logits_backward(bce_scale) and sigmoid_dice_sums_backward(gI, gP) in one pass:
//   dx = m · (bce_scale · (s − y) + (gI·y + gP) · s · (1 − s))
Tensor region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                            double bce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction);
// The same with bce_scale a (1) f64 tensor on ctx's device, read by the kernel: no host sync.
Tensor region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                            const Tensor& bce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction);

}  // namespace nnuc
