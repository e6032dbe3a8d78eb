#include "autograd/ops.h"

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/layout/avg_pool.h"
#include "kernels/layout/concat.h"
#include "kernels/loss/dice_loss.h"
#include "kernels/loss/loss.h"
#include "kernels/loss/region_loss.h"
#include "kernels/norm/instance_norm.h"
#include "kernels/norm/leaky_relu.h"

namespace nnuc::autograd {

using Grads = std::vector<Tensor>;

Var conv(Tape& tape, const Var& x, const Var& w, const Var& bias, const ConvGeometry& geometry) {
  const Context& ctx = tape.ctx();
  Tensor y = conv_forward(ctx, x.value(), w.value(), bias.defined() ? bias.value() : Tensor(), geometry);
  std::vector<Var> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  const bool has_bias = bias.defined();
  Tensor saved_x = x.value(), saved_w = w.value();
  return tape.record("conv", inputs, std::move(y),
                     [&ctx, saved_x, saved_w, geometry, has_bias](const Grads& dy, const std::vector<bool>& needs) {
                       Grads grads(needs.size());
                       if (needs[0]) grads[0] = conv_backward_data(ctx, dy[0], saved_w, geometry, saved_x.shape());
                       if (needs[1]) grads[1] = conv_backward_weight(ctx, saved_x, dy[0], geometry, saved_w.shape());
                       if (has_bias && needs[2]) grads[2] = conv_backward_bias(ctx, dy[0]);
                       return grads;
                     });
}

Var conv_transpose(Tape& tape, const Var& x, const Var& w, const Var& bias, const std::array<int, 3>& stride) {
  const Context& ctx = tape.ctx();
  Tensor y = conv_transpose_forward(ctx, x.value(), w.value(), bias.defined() ? bias.value() : Tensor(), stride);
  std::vector<Var> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  const bool has_bias = bias.defined();
  Tensor saved_x = x.value(), saved_w = w.value();
  return tape.record("conv_transpose", inputs, std::move(y),
                     [&ctx, saved_x, saved_w, stride, has_bias](const Grads& dy, const std::vector<bool>& needs) {
                       Grads grads(needs.size());
                       if (needs[0]) grads[0] = conv_transpose_backward_data(ctx, dy[0], saved_w, stride);
                       if (needs[1]) grads[1] = conv_transpose_backward_weight(ctx, saved_x, dy[0], stride);
                       if (has_bias && needs[2]) grads[2] = conv_backward_bias(ctx, dy[0]);
                       return grads;
                     });
}

Var instance_norm_leaky_relu(Tape& tape, const Var& x, const Var& gamma, const Var& beta, double slope) {
  const Context& ctx = tape.ctx();
  const bool keep = tape.recording() && (x.requires_grad() || gamma.requires_grad() || beta.requires_grad());
  InstanceNormStats stats;
  Tensor y = instance_norm_leaky_relu_forward(ctx, x.value(), gamma.value(), beta.value(), kInstanceNormEps, slope,
                                              keep ? &stats : nullptr);
  Tensor saved_x = x.value(), saved_gamma = gamma.value(), saved_beta = beta.value();
  return tape.record(
      "instance_norm_leaky_relu", {x, gamma, beta}, std::move(y),
      [&ctx, saved_x, saved_gamma, saved_beta, stats, slope](const Grads& dy, const std::vector<bool>& needs) {
        InstanceNormGrads g =
            instance_norm_leaky_relu_backward(ctx, dy[0], saved_x, saved_gamma, saved_beta, stats, slope);
        Grads grads(3);
        if (needs[0]) grads[0] = std::move(g.dx);
        if (needs[1]) grads[1] = std::move(g.dgamma);
        if (needs[2]) grads[2] = std::move(g.dbeta);
        return grads;
      });
}

Var leaky_relu(Tape& tape, const Var& x, double slope) {
  const Context& ctx = tape.ctx();
  Tensor y = leaky_relu_forward(ctx, x.value(), slope);
  Tensor saved_y = y;
  return tape.record("leaky_relu", {x}, std::move(y),
                     [&ctx, saved_y, slope](const Grads& dy, const std::vector<bool>&) {
                       return Grads{leaky_relu_backward(ctx, dy[0], saved_y, slope)};
                     });
}

Var avg_pool(Tape& tape, const Var& x, const std::array<int, 3>& kernel) {
  const Context& ctx = tape.ctx();
  const std::array<std::int64_t, 3> window{kernel[0], kernel[1], kernel[2]};
  Tensor y = avg_pool_forward(ctx, x.value(), window);
  const Shape x_shape = x.shape();
  return tape.record("avg_pool", {x}, std::move(y), [&ctx, x_shape, window](const Grads& dy, const std::vector<bool>&) {
    return Grads{avg_pool_backward(ctx, dy[0], x_shape, window)};
  });
}

Var concat_channels(Tape& tape, const Var& a, const Var& b) {
  const Context& ctx = tape.ctx();
  Tensor y = nnuc::concat_channels(ctx, a.value(), b.value());
  const std::int64_t a_channels = a.shape()[a.shape().rank() - 1];
  return tape.record("concat_channels", {a, b}, std::move(y),
                     [&ctx, a_channels](const Grads& dy, const std::vector<bool>&) {
                       auto parts = split_channels(ctx, dy[0], a_channels);
                       return Grads{std::move(parts.first), std::move(parts.second)};
                     });
}

Var add(Tape& tape, const Var& a, const Var& b) {
  const Context& ctx = tape.ctx();
  return tape.record("add", {a, b}, nnuc::add(ctx, a.value(), b.value()),
                     [](const Grads& dy, const std::vector<bool>&) {
                       return Grads{dy[0], dy[0]};
                     });
}

Var scale(Tape& tape, const Var& x, double factor) {
  const Context& ctx = tape.ctx();
  return tape.record(
      "scale", {x}, nnuc::scale(ctx, x.value(), factor),
      [&ctx, factor](const Grads& dy, const std::vector<bool>&) { return Grads{nnuc::scale(ctx, dy[0], factor)}; });
}

Var cast(Tape& tape, const Var& x, DType dtype) {
  const Context& ctx = tape.ctx();
  const DType input_dtype = x.value().dtype();
  if (dtype == input_dtype) return x;
  return tape.record("cast", {x}, nnuc::cast(ctx, x.value(), dtype),
                     [&ctx, input_dtype](const Grads& dy, const std::vector<bool>&) {
                       return Grads{nnuc::cast(ctx, dy[0], input_dtype)};
                     });
}

namespace {

// What dice_ce_loss and region_dice_bce_loss share once their forward's sums exist: the loss
//   voxel_sum / denominator + soft Dice      (the voxel term is 0 when the denominator is 0)
// computed on the tape's device (kernels/loss/dice_loss.h), and a backward that hands
// backward_op(voxel_scale, dL/dI, dL/dP) the voxel term's scale upstream / denominator ((1) f64) and
// the Dice gradients with respect to the (N, K) sums, all on the device. The backward keeps the (N, K)
// sums and the count; the voxel sum is released with the caller's sums.
template <typename BackwardOp>
Var record_dice_loss(Tape& tape, const char* name, const Var& logits, const DiceSums& dice, const Tensor& voxel_sum,
                     const VoxelTermDenominator& denominator, const SoftDiceLossConfig& config,
                     BackwardOp backward_op) {
  const Context& ctx = tape.ctx();
  Tensor loss = soft_dice_loss_forward(ctx, dice, voxel_sum, denominator, config);
  return tape.record(name, {logits}, std::move(loss),
                     [&ctx, dice, denominator, config, backward_op](const Grads& dy, const std::vector<bool>&) {
                       const SoftDiceLossGrads g = soft_dice_loss_backward(ctx, dy[0], dice, denominator, config);
                       return Grads{backward_op(g.voxel_scale, g.grad_intersection, g.grad_prediction)};
                     });
}

}  // namespace

Var dice_ce_loss(Tape& tape, const Var& logits, const Tensor& labels, int ignore_label, bool batch_dice) {
  NNUC_RANGE("dice_ce_loss");
  const Context& ctx = tape.ctx();
  DiceCrossEntropySums sums = dice_ce_forward(ctx, logits.value(), labels, ignore_label);
  VoxelTermDenominator denominator;
  denominator.counted = sums.cross_entropy.counted;  // CE := 0 when nothing is annotated
  SoftDiceLossConfig config;
  config.first_class = 1;  // background dropped (do_bg = False)
  config.batch_dice = batch_dice;
  Tensor saved_logits = logits.value(), saved_labels = labels;
  return record_dice_loss(tape, "dice_ce_loss", logits, sums.dice, sums.cross_entropy.loss_sum, denominator, config,
                          [&ctx, saved_logits, saved_labels, ignore_label](const Tensor& ce_scale, const Tensor& grad_i,
                                                                           const Tensor& grad_p) {
                            return dice_ce_backward(ctx, saved_logits, saved_labels, ignore_label, ce_scale, grad_i,
                                                    grad_p);
                          });
}

Var region_dice_bce_loss(Tape& tape, const Var& logits, const Tensor& targets, RegionIgnore ignore, bool batch_dice) {
  NNUC_RANGE("region_dice_bce_loss");
  const Context& ctx = tape.ctx();
  RegionLossSums sums = region_loss_forward(ctx, logits.value(), targets, ignore);
  VoxelTermDenominator denominator;
  if (ignore == RegionIgnore::none) {
    denominator.constant = static_cast<double>(logits.value().numel());  // BCEWithLogitsLoss: mean over elements
  } else {
    // nnU-Net's quirk: with an ignore channel the BCE mean divides by voxels, not voxels * regions.
    denominator.counted = sums.bce.counted;
    denominator.counted_floor = 1e-8;
  }
  SoftDiceLossConfig config;
  config.first_class = 0;  // every region (do_bg = True)
  config.batch_dice = batch_dice;
  Tensor saved_logits = logits.value(), saved_targets = targets;
  return record_dice_loss(
      tape, "region_dice_bce_loss", logits, sums.dice, sums.bce.loss_sum, denominator, config,
      [&ctx, saved_logits, saved_targets, ignore](const Tensor& bce_scale, const Tensor& grad_i, const Tensor& grad_p) {
        return region_loss_backward(ctx, saved_logits, saved_targets, ignore, bce_scale, grad_i, grad_p);
      });
}

}  // namespace nnuc::autograd
