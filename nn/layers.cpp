#include "nn/layers.h"

#include <cmath>

#include "kernels/norm/instance_norm.h"

namespace nnuc::nn {

namespace {
Triple same_padding(const Triple& kernel) { return {(kernel[0] - 1) / 2, (kernel[1] - 1) / 2, (kernel[2] - 1) / 2}; }
std::int64_t volume(const Triple& t) { return std::int64_t{t[0]} * t[1] * t[2]; }
// The compute copy of a weight: itself, or a cast to the activation dtype (bf16) recorded on the tape.
Var compute_weight(Tape& tape, const Var& weight, DType activations) {
  return weight.value().dtype() == activations ? weight : autograd::cast(tape, weight, activations);
}
}  // namespace

namespace {
// Initial conv weights; none on Meta, whose parameters hold no values (drawing the ~30 M normals of a
// 3-D U-Net was 90 % of a planner memory prediction).
std::vector<double> initial_weights(const Context& ctx, Rng& rng, std::int64_t count, std::int64_t fan_in) {
  return ctx.is_meta() ? std::vector<double>{} : kaiming_normal(rng, count, fan_in);
}
}  // namespace

Tensor make_parameter(const Context& ctx, const Shape& shape, DType dtype, const std::vector<double>& host_values) {
  Tensor out = Tensor::empty(shape, dtype, ctx);
  if (ctx.is_meta()) return out;
  if (dtype == DType::f64) {
    out.copy_from(Tensor::from_vector(shape, host_values), ctx);
  } else {
    NNUC_CHECK(dtype == DType::f32, "parameters are f32 or f64, got ", dtype_name(dtype));
    out.copy_from(Tensor::from_vector(shape, std::vector<float>(host_values.begin(), host_values.end())), ctx);
  }
  return out;
}

std::vector<double> kaiming_normal(Rng& rng, std::int64_t count, std::int64_t fan_in) {
  const double gain = std::sqrt(2.0 / (1.0 + kKaimingNegativeSlope * kKaimingNegativeSlope));
  const double sigma = gain / std::sqrt(static_cast<double>(fan_in));
  std::vector<double> values(static_cast<std::size_t>(count));
  for (double& value : values) value = sigma * rng.normal();
  return values;
}

Conv::Conv(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride, bool bias, DType dtype,
           Rng& rng)
    : geometry_{kernel, stride, same_padding(kernel)} {
  const Shape shape{out_channels, kernel[0], kernel[1], kernel[2], in_channels};
  weight_ = &register_parameter(
      "weight",
      make_parameter(ctx, shape, dtype, initial_weights(ctx, rng, shape.numel(), in_channels * volume(kernel))));
  if (bias) {
    bias_ =
        &register_parameter("bias", make_parameter(ctx, Shape{out_channels}, dtype,
                                                   std::vector<double>(static_cast<std::size_t>(out_channels), 0.0)));
  }
}

Var Conv::forward(Tape& tape, const Var& x) {
  return autograd::conv(tape, x, compute_weight(tape, *weight_, x.value().dtype()), bias_ ? *bias_ : Var(), geometry_);
}

ConvTranspose::ConvTranspose(const Context& ctx, int in_channels, int out_channels, Triple stride, DType dtype,
                             Rng& rng)
    : stride_(stride) {
  const Shape shape{in_channels, stride[0], stride[1], stride[2], out_channels};
  weight_ = &register_parameter(
      "weight",
      make_parameter(ctx, shape, dtype, initial_weights(ctx, rng, shape.numel(), out_channels * volume(stride))));
  bias_ = &register_parameter("bias", make_parameter(ctx, Shape{out_channels}, dtype,
                                                     std::vector<double>(static_cast<std::size_t>(out_channels), 0.0)));
}

Var ConvTranspose::forward(Tape& tape, const Var& x) {
  return autograd::conv_transpose(tape, x, compute_weight(tape, *weight_, x.value().dtype()), *bias_, stride_);
}

InstanceNorm::InstanceNorm(const Context& ctx, int channels, DType dtype, bool zero_init) {
  const auto count = static_cast<std::size_t>(channels);
  gamma_ = &register_parameter(
      "weight", make_parameter(ctx, Shape{channels}, dtype, std::vector<double>(count, zero_init ? 0.0 : 1.0)));
  beta_ = &register_parameter("bias", make_parameter(ctx, Shape{channels}, dtype, std::vector<double>(count, 0.0)));
}

Var InstanceNorm::forward(Tape& tape, const Var& x, double slope) {
  return autograd::instance_norm_leaky_relu(tape, x, *gamma_, *beta_, slope);
}

ConvNormAct::ConvNormAct(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride,
                         DType dtype, Rng& rng, bool nonlinearity, bool zero_init_norm, bool conv_bias)
    : nonlinearity_(nonlinearity) {
  conv_ = &register_module(
      "conv", std::make_unique<Conv>(ctx, in_channels, out_channels, kernel, stride, conv_bias, dtype, rng));
  norm_ = &register_module("norm", std::make_unique<InstanceNorm>(ctx, out_channels, dtype, zero_init_norm));
}

Var ConvNormAct::forward(Tape& tape, const Var& x) {
  return norm_->forward(tape, conv_->forward(tape, x), nonlinearity_ ? kLeakyReluSlope : 1.0);
}

BasicBlockD::BasicBlockD(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride,
                         DType dtype, Rng& rng)
    : stride_(stride), pool_(volume(stride) > 1) {
  conv1_ = &register_module("conv1",
                            std::make_unique<ConvNormAct>(ctx, in_channels, out_channels, kernel, stride, dtype, rng));
  conv2_ = &register_module(
      "conv2", std::make_unique<ConvNormAct>(ctx, out_channels, out_channels, kernel, Triple{1, 1, 1}, dtype, rng,
                                             /*nonlinearity=*/false, /*zero_init_norm=*/true));
  if (in_channels != out_channels) {
    projection_ = &register_module(
        "skip", std::make_unique<ConvNormAct>(ctx, in_channels, out_channels, Triple{1, 1, 1}, Triple{1, 1, 1}, dtype,
                                              rng, /*nonlinearity=*/false, /*zero_init_norm=*/false,
                                              /*conv_bias=*/false));
  }
}

Var BasicBlockD::forward(Tape& tape, const Var& x) {
  Var residual = x;
  if (pool_) residual = autograd::avg_pool(tape, residual, stride_);
  if (projection_) residual = projection_->forward(tape, residual);
  Var main = conv2_->forward(tape, conv1_->forward(tape, x));
  return autograd::leaky_relu(tape, autograd::add(tape, main, residual), kLeakyReluSlope);
}

}  // namespace nnuc::nn
