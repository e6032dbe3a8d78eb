// The differentiable ops (each backward rule sits beside its forward in ops.cpp). All of them:
//
//   conv, conv_transpose          convolution (any kernel/stride/padding), transposed conv (kernel = stride)
//   instance_norm_leaky_relu      fused norm + activation (slope 1: plain instance norm)
//   leaky_relu                    activation alone (ResEnc block output)
//   avg_pool                      kernel = stride (ResEnc strided skip path)
//   concat_channels               [a, b] along channels (decoder skip concat)
//   add, scale                    residual sums, loss weighting
//   cast                          dtype change (f32 master weights -> bf16 compute copy)
//   dice_ce_loss                  nnU-Net's Dice + CE on logits and labels (spec §6.2), one scalar
//   region_dice_bce_loss          region training's sigmoid Dice + BCE (spec §6.2)
//
// Activations are channels-last (N, D, H, W, C). Ops run on the tape's Context; on a Meta context they
// allocate what the modelled device would and compute nothing (measure mode).
//
// Host syncs. No op here copies a value to the host: the loss ops keep their sums, the loss value and
// the gradients of the sums on the device (kernels/loss/dice_loss.h combines them, one tiny kernel a pass;
// the CE / BCE scale reaches the backward kernel as a device scalar), and the deep-supervision
// weighting (nn/loss.cpp) is scale/add on (1) tensors. What still syncs in a CUDA training step
// (nn::Trainer::train_epoch):
//   - the batch upload (nn/trainer_data.cpp: Tensor::copy_to of data and seg, each synchronizing the
//     stream after its copy): the host-side batch must stay valid until the copy is done;
//   - the one read of the loss by the Trainer after the step (a device-to-host copy, which waits for
//     the step's work): the value the epoch's mean loss and the non-finite check need;
//   - right after it, the optimizer's skipped-step counter (nn::SGD::skipped_steps): a second tiny
//     copy, on a stream that the loss read has already drained, so it waits for no GPU work;
//   - on the first pass of each convolution shape only: cudnnFind*Ex's timing (kernels/conv);
//   - cascade training only: the augmentation's connected components run on the host (data/components).
#pragma once

#include <array>

#include "autograd/tape.h"
#include "kernels/conv/conv.h"
#include "kernels/loss/region_loss.h"

namespace nnuc::autograd {

// The names above; GradcheckCoverage (tests/autograd/gradcheck_test.cpp) fails when one of them has
// no gradcheck.
inline constexpr const char* kDifferentiableOps[] = {
    "conv", "conv_transpose", "instance_norm_leaky_relu", "leaky_relu", "avg_pool", "concat_channels", "add", "scale",
    "cast", "dice_ce_loss",   "region_dice_bce_loss"};

// y = conv(x, w) + bias; x (N,D,H,W,Ci), w (Co,kD,kH,kW,Ci), bias (Co) in the norm/parameter dtype
// (f32, or f64 for f64 activations) or undefined. Saves x and w for backward.
Var conv(Tape& tape, const Var& x, const Var& w, const Var& bias, const ConvGeometry& geometry);

// Transposed convolution with kernel == stride; w (Ci,sD,sH,sW,Co). Saves x and w.
Var conv_transpose(Tape& tape, const Var& x, const Var& w, const Var& bias, const std::array<int, 3>& stride);

// leaky_relu(instance_norm(x) * gamma + beta). Saves x and the per-(n, c) statistics.
Var instance_norm_leaky_relu(Tape& tape, const Var& x, const Var& gamma, const Var& beta, double slope);

// Saves the output (its sign gives the derivative).
Var leaky_relu(Tape& tape, const Var& x, double slope);

// Average pooling with kernel == stride. Saves nothing but shapes.
Var avg_pool(Tape& tape, const Var& x, const std::array<int, 3>& kernel);

// [a, b] along the channel axis. Saves nothing but a's channel count.
Var concat_channels(Tape& tape, const Var& a, const Var& b);

Var add(Tape& tape, const Var& a, const Var& b);
Var scale(Tape& tape, const Var& x, double factor);

// Converts to `dtype`; the gradient is converted back to the input's dtype.
Var cast(Tape& tape, const Var& x, DType dtype);

// nnU-Net's DC_and_CE_loss for label training on one output (spec §6.2):
//   L = CE - mean_c dc_c over foreground classes (c >= 1) [and samples unless batch_dice],
//   dc_c = (2 I_c + 1e-5) / max(G_c + P_c + 1e-5, 1e-8), CE = mean over non-ignored voxels (0 if none).
// logits (N,D,H,W,K); labels i16 (N,D,H,W,1) on the tape's device (a constant). Returns a (1) tensor
// in the sums' dtype (f32, or f64 for f64 logits).
Var dice_ce_loss(Tape& tape, const Var& logits, const Tensor& labels, int ignore_label, bool batch_dice);

// nnU-Net's DC_and_BCE_loss for region training on one output (spec §6.2): BCE with logits (mean over
// elements; with an ignore channel divided by the unignored voxel count, nnU-Net's quirk) minus the
// mean soft Dice of sigmoid(logits) over all regions. targets u8 multi-hot (N,D,H,W,R[+1]).
Var region_dice_bce_loss(Tape& tape, const Var& logits, const Tensor& targets, RegionIgnore ignore, bool batch_dice);

}  // namespace nnuc::autograd
