#include "autograd/ops.h"

#include <cmath>

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/layout/avg_pool.h"
#include "kernels/layout/concat.h"
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

constexpr double kDiceSmooth = 1e-5;

// The soft-Dice part of nnU-Net's losses on the tiny (N, K) sums, on the host in double:
//   dc = (2 I + ε) / max(G + P + ε, 1e-8) per class c >= first_class, per sample (or summed over the
//   batch for batch Dice); term = -mean(dc). Gradients with respect to I and P for a given upstream.
struct SoftDiceHost {
  std::int64_t samples = 0, classes = 0, first_class = 0;
  bool batch_dice = false;
  std::vector<double> intersection, prediction, target;  // (N, K) row-major

  SoftDiceHost() = default;
  SoftDiceHost(const DiceSums& sums, std::int64_t first, bool batch)
      : samples(sums.intersection.dim(0)),
        classes(sums.intersection.dim(1)),
        first_class(first),
        batch_dice(batch),
        intersection(sums.intersection.to_vector<double>()),
        prediction(sums.prediction.to_vector<double>()),
        target(sums.target.to_vector<double>()) {}

  std::int64_t rows() const { return batch_dice ? 1 : samples; }
  double terms() const { return static_cast<double>(rows() * (classes - first_class)); }
  template <typename Visit>  // visit(row, c, I, P, G) over the terms of the mean
  void for_each_term(Visit visit) const {
    for (std::int64_t row = 0; row < rows(); ++row) {
      for (std::int64_t c = first_class; c < classes; ++c) {
        double inter = 0, pred = 0, tgt = 0;
        for (std::int64_t n = batch_dice ? 0 : row; n < (batch_dice ? samples : row + 1); ++n) {
          const auto index = static_cast<std::size_t>(n * classes + c);
          inter += intersection[index];
          pred += prediction[index];
          tgt += target[index];
        }
        visit(row, c, inter, pred, tgt);
      }
    }
  }
  double value() const {
    double total = 0;
    for_each_term([&](std::int64_t, std::int64_t, double inter, double pred, double tgt) {
      total += (2 * inter + kDiceSmooth) / std::max(tgt + pred + kDiceSmooth, 1e-8);
    });
    return terms() > 0 ? -total / terms() : 0.0;
  }
  // d(value)/dI and d(value)/dP scaled by `upstream`, for every (n, c); zero for dropped classes.
  void gradients(double upstream, std::vector<double>& grad_i, std::vector<double>& grad_p) const {
    grad_i.assign(static_cast<std::size_t>(samples * classes), 0.0);
    grad_p.assign(grad_i.size(), 0.0);
    for_each_term([&](std::int64_t row, std::int64_t c, double inter, double pred, double tgt) {
      const double raw_denominator = tgt + pred + kDiceSmooth;
      const double denominator = std::max(raw_denominator, 1e-8);
      const double d_inter = -upstream / terms() * 2 / denominator;
      const double d_pred =
          raw_denominator > 1e-8 ? upstream / terms() * (2 * inter + kDiceSmooth) / (denominator * denominator) : 0.0;
      for (std::int64_t n = batch_dice ? 0 : row; n < (batch_dice ? samples : row + 1); ++n) {
        grad_i[static_cast<std::size_t>(n * classes + c)] = d_inter;
        grad_p[static_cast<std::size_t>(n * classes + c)] = d_pred;
      }
    });
  }
};

// A tensor on ctx's device holding `values` (f64 or f32): allocated there first, so a Meta run that
// only allocates accounts the same bytes on the device.
Tensor upload(const Context& ctx, const Shape& shape, DType dtype, const std::vector<double>& values) {
  Tensor out = Tensor::empty(shape, dtype, ctx);
  if (ctx.is_meta()) return out;
  if (dtype == DType::f64) {
    out.copy_from(Tensor::from_vector(shape, values), ctx);
  } else {
    out.copy_from(Tensor::from_vector(shape, std::vector<float>(values.begin(), values.end())), ctx);
  }
  return out;
}

double scalar_value(const Tensor& tensor) { return tensor.to_vector<double>()[0]; }

// What dice_ce_loss and region_dice_bce_loss share once their forward's sums are on the host (and
// released, before the loss value is allocated, on every device alike): the loss
//   voxel_sum / denominator + soft Dice      (the voxel term is 0 when the denominator is 0)
// and a backward that hands backward_op(voxel_scale, dL/dI, dL/dP) the voxel term's scale
// upstream / denominator and the Dice gradients with respect to the (N, K) sums.
struct LossOnHost {
  SoftDiceHost dice;
  double voxel_sum = 0;
  double denominator = 0;
};

template <typename BackwardOp>
Var record_dice_loss(Tape& tape, const char* name, const Var& logits, const LossOnHost& host, const Shape& sums_shape,
                     DType sums_dtype, BackwardOp backward_op) {
  const Context& ctx = tape.ctx();
  const double voxel_term = host.denominator > 0 ? host.voxel_sum / host.denominator : 0.0;
  Tensor loss = upload(ctx, Shape{1}, sums_dtype, {ctx.is_meta() ? 0.0 : voxel_term + host.dice.value()});
  return tape.record(name, {logits}, std::move(loss),
                     [&ctx, host, sums_shape, sums_dtype, backward_op](const Grads& dy, const std::vector<bool>&) {
                       const double upstream = ctx.is_meta() ? 0.0 : scalar_value(dy[0]);
                       std::vector<double> grad_i, grad_p;
                       if (ctx.is_meta()) {
                         grad_i.assign(static_cast<std::size_t>(sums_shape.numel()), 0.0);
                         grad_p = grad_i;
                       } else {
                         host.dice.gradients(upstream, grad_i, grad_p);
                       }
                       const double voxel_scale = host.denominator > 0 ? upstream / host.denominator : 0.0;
                       return Grads{backward_op(voxel_scale, upload(ctx, sums_shape, sums_dtype, grad_i),
                                                upload(ctx, sums_shape, sums_dtype, grad_p))};
                     });
}

}  // namespace

Var dice_ce_loss(Tape& tape, const Var& logits, const Tensor& labels, int ignore_label, bool batch_dice) {
  NNUC_RANGE("dice_ce_loss");
  const Context& ctx = tape.ctx();
  DiceCrossEntropySums sums = dice_ce_forward(ctx, logits.value(), labels, ignore_label);
  const Shape sums_shape = sums.dice.intersection.shape();  // (N, K)
  const DType sums_dtype = sums.dice.intersection.dtype();
  LossOnHost host;
  if (!ctx.is_meta()) {
    host.dice = SoftDiceHost(sums.dice, /*first_class=*/1, batch_dice);  // background dropped (do_bg = False)
    host.voxel_sum = scalar_value(sums.cross_entropy.loss_sum);
    host.denominator = scalar_value(sums.cross_entropy.counted);  // CE := 0 when nothing is annotated
  }
  sums = DiceCrossEntropySums{};
  Tensor saved_logits = logits.value(), saved_labels = labels;
  return record_dice_loss(
      tape, "dice_ce_loss", logits, host, sums_shape, sums_dtype,
      [&ctx, saved_logits, saved_labels, ignore_label](double ce_scale, const Tensor& grad_i, const Tensor& grad_p) {
        return dice_ce_backward(ctx, saved_logits, saved_labels, ignore_label, ce_scale, grad_i, grad_p);
      });
}

Var region_dice_bce_loss(Tape& tape, const Var& logits, const Tensor& targets, RegionIgnore ignore, bool batch_dice) {
  NNUC_RANGE("region_dice_bce_loss");
  const Context& ctx = tape.ctx();
  RegionLossSums sums = region_loss_forward(ctx, logits.value(), targets, ignore);
  const Shape sums_shape = sums.dice.intersection.shape();  // (N, R)
  const DType sums_dtype = sums.dice.intersection.dtype();
  LossOnHost host;
  host.denominator = 1;
  if (!ctx.is_meta()) {
    host.dice = SoftDiceHost(sums.dice, /*first_class=*/0, batch_dice);  // every region (do_bg = True)
    host.voxel_sum = scalar_value(sums.bce.loss_sum);
    // nnU-Net's quirk: with an ignore channel the BCE mean divides by voxels, not voxels * regions.
    host.denominator = ignore == RegionIgnore::none ? static_cast<double>(logits.value().numel())
                                                    : std::max(scalar_value(sums.bce.counted), 1e-8);
  }
  sums = RegionLossSums{};
  Tensor saved_logits = logits.value(), saved_targets = targets;
  return record_dice_loss(
      tape, "region_dice_bce_loss", logits, host, sums_shape, sums_dtype,
      [&ctx, saved_logits, saved_targets, ignore](double bce_scale, const Tensor& grad_i, const Tensor& grad_p) {
        return region_loss_backward(ctx, saved_logits, saved_targets, ignore, bce_scale, grad_i, grad_p);
      });
}

}  // namespace nnuc::autograd
