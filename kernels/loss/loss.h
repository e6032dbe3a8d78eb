// The loss family of label (softmax) training: softmax and argmax over channels, cross-entropy and
// the soft-Dice partial sums of nnU-Net's "DC_and_CE_loss" (spec §6.2), each forward with its
// backward. The region (sigmoid) variant is in kernels/loss/region_loss.h.
//
// The ops produce sums, never the loss itself: the loss ops (autograd/ops.cpp) combine them on the
// device with kernels/loss/dice_loss.h, which keeps the rules that differ between configurations
// (background dropped, batch Dice, CE := 0 on a patch batch with no annotated voxel) in one readable
// place (deep-supervision weights: nn/loss.cpp):
//   CE   = loss_sum / counted                            (0 when counted == 0)
//   dc_c = (2·I_c + ε) / max(G_c + P_c + ε, 1e-8),  ε = 1e-5, sums over the batch axis too if batch Dice
//   L    = CE − mean over foreground classes (c ≥ 1) [and samples] of dc_c
//
// Layout: logits (N, D, H, W, K) channels-last, K classes contiguous per voxel; labels i16
// (N, D, H, W, 1) in [0, K) or equal to the ignore label. Softmax is max-subtracted and the CE uses
// log-sum-exp, so any finite logits are safe. The backward ops recompute softmax from the logits:
// nothing but the logits and labels needs to be kept between forward and backward.
//
// Devices and dtypes: CPU f32 / f64 (per-voxel math in the logits' type, sums accumulated in f64);
// CUDA f32 / bf16 (math and sums in f32; per-(n, c) sums reduced deterministically: per-block partials
// in a workspace, then a fixed-order final pass). Sums are f64 for f64 logits, f32 otherwise.
// On Meta the ops allocate what the modelled device would (outputs, plus the CUDA workspace of
// loss_workspace_bytes) and compute nothing.
#pragma once

#include <cstddef>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// CUDA vs CPU, with the CPU run on the very inputs the device sees (bf16 logits rounded on the host):
//   sums (CE / BCE sums, Dice sums, counts):     |a − e| ≤ atol + rtol · |e|           (kLossSumTolerance*)
//   elementwise outputs (probabilities, grads):  |a − e| ≤ atol · max|e| + rtol · |e|  (kLossValueTolerance*)
// Sums: f32 partials of a few voxels per thread, a fixed tree per block, f64 across blocks (CPU: f64).
// bf16 outputs are rounded to nearest from the f32 result: 2^-9 relative, plus one ulp of slack.
inline constexpr Tolerance kLossSumToleranceF32{1e-4, 1e-4};
inline constexpr Tolerance kLossSumToleranceBf16{1e-4, 1e-4};
inline constexpr Tolerance kLossValueToleranceF32{1e-5, 1e-5};
inline constexpr Tolerance kLossValueToleranceBf16{1e-5, 8e-3};

// Pass as ignore_label when the dataset has none.
inline constexpr int kNoIgnoreLabel = -1;

// Bytes of scratch one loss forward allocates (through Tensor::empty) on `device`: the CUDA per-block
// partial sums, a pure function of the logits' shape; 0 on the CPU.
std::size_t loss_workspace_bytes(const Shape& logits_shape, Device device);

// p[n, v, c] = exp(x[n, v, c] − max_j x[n, v, j]) / Σ_k exp(x[n, v, k] − max_j x[n, v, j])
// requires: logits (N, D, H, W, K), every dim ≥ 1, on ctx's device; CPU f32/f64, CUDA f32/bf16.
// ensures: returns probabilities of the logits' shape and dtype (bf16 rounded from f32 math).
Tensor softmax_channels(const Context& ctx, const Tensor& logits);

// a[n, v] = argmax_c x[n, v, c]; ties go to the lowest class index.
// requires: logits as softmax_channels; K ≤ 32767.
// ensures: returns i16 (N, D, H, W, 1).
Tensor argmax_channels(const Context& ctx, const Tensor& logits);

// Sums of the CE term. counted is an exact integer stored as a floating value.
struct CrossEntropySums {
  Tensor loss_sum;  // (1): Σ over counted voxels of −log p[n, v, label]
  Tensor counted;   // (1): number of counted (non-ignored) voxels
};

// Soft-Dice partial sums, per sample and class, under the mask m = (label ≠ ignore), with the one-hot
// target y of the label (ignored voxels contribute nothing):
struct DiceSums {
  Tensor intersection;  // I (N, K) = Σ_v p·y·m
  Tensor prediction;    // P (N, K) = Σ_v p·m
  Tensor target;        // G (N, K) = Σ_v y·m (an exact count)
};

struct DiceCrossEntropySums {
  CrossEntropySums cross_entropy;
  DiceSums dice;
};

// Cross-entropy with softmax fused: loss_sum = Σ_{n,v: m} (logsumexp_c x[n, v, c] − x[n, v, label]).
// requires: logits as softmax_channels; labels i16 (N, D, H, W, 1) on the same device, each label in
//   [0, K) or equal to ignore_label (< 0: none; ≤ 32767). The CPU checks the labels and throws
//   InvalidInput; on CUDA a voxel with a label out of range turns loss_sum NaN (a check would cost a
//   host sync).
// ensures: loss_sum and counted (1), dtype f64 for f64 logits, else f32. counted == 0 and
//   loss_sum == 0 when every voxel is ignored.
CrossEntropySums cross_entropy_forward(const Context& ctx, const Tensor& logits, const Tensor& labels,
                                       int ignore_label);

// dx[n, v, c] = scale · (p[n, v, c] − y[n, v, c]) on counted voxels, 0 on ignored ones: the gradient of
// scale · loss_sum (the loss layer passes scale = weight / counted).
// requires: as cross_entropy_forward.
// ensures: returns the gradient with the logits' shape and dtype. On CUDA a voxel with a label out of
//   range gets NaN.
Tensor cross_entropy_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                              double scale);

// The soft-Dice sums I, P, G above with p = softmax(x).
// requires: as cross_entropy_forward (on CUDA a label out of range turns P[n, :] NaN).
// ensures: (N, K) each, f64 for f64 logits, else f32.
DiceSums dice_sums_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label);

// Given gI = ∂L/∂I and gP = ∂L/∂P, with g[c] = (gI[n, c]·y[c] + gP[n, c])·m:
//   dx[n, v, c] = p[c] · (g[c] − Σ_k p[k]·g[k])          (G is a constant of the labels: no gradient)
// requires: as dice_sums_forward; grad_intersection and grad_prediction (N, K) of the sums' dtype on
//   ctx's device.
// ensures: returns the gradient with the logits' shape and dtype; 0 on ignored voxels.
Tensor dice_sums_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                          const Tensor& grad_intersection, const Tensor& grad_prediction);

// cross_entropy_forward and dice_sums_forward in one pass over the logits (softmax computed once).
DiceCrossEntropySums dice_ce_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label);

// The sum of cross_entropy_backward(ce_scale) and dice_sums_backward(gI, gP) in one pass:
//   dx[n, v, c] = m · ce_scale · (p[c] − y[c]) + p[c] · (g[c] − Σ_k p[k]·g[k])
// requires: as dice_sums_backward. ensures: as dice_sums_backward.
Tensor dice_ce_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                        double ce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction);
// The same with ce_scale a (1) f64 tensor on ctx's device, read by the kernel: no host sync.
Tensor dice_ce_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                        const Tensor& ce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction);

}  // namespace nnuc
