#include "nn/optimizer.h"

#include <cmath>

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/reduce.h"

namespace nnuc::nn {

double poly_lr(double initial_lr, int epoch, int epochs, double exponent) {
  NNUC_CHECK(epochs > 0 && epoch >= 0 && epoch <= epochs, "poly_lr: epoch ", epoch, " of ", epochs);
  return initial_lr * std::pow(1.0 - static_cast<double>(epoch) / epochs, exponent);
}

SGD::SGD(const Context& ctx, std::vector<NamedParameter> parameters, OptimizerConfig config)
    : ctx_(ctx), parameters_(std::move(parameters)), config_(config) {
  for (const NamedParameter& parameter : parameters_) {
    const Tensor& value = parameter.var->value();
    Tensor buffer = Tensor::empty(value.shape(), value.dtype(), ctx_);
    fill(ctx_, buffer, 0.0);
    momentum_.push_back(std::move(buffer));
  }
  skipped_counter_ = Tensor::empty(Shape{}, DType::f32, ctx_);
  fill(ctx_, skipped_counter_, 0.0);
}

std::int64_t SGD::skipped_steps() const {
  if (ctx_.is_meta()) return 0;
  return static_cast<std::int64_t>(skipped_counter_.to_vector<double>()[0]);
}

void SGD::set_counters(std::int64_t steps, std::int64_t skipped) {
  steps_ = steps;
  fill(ctx_, skipped_counter_, static_cast<double>(skipped));
}

void SGD::zero_grad() {
  for (NamedParameter& parameter : parameters_) parameter.var->grad() = Tensor();
}

StepReport SGD::step(double lr, bool report) {
  NNUC_RANGE("sgd_step");
  std::vector<Tensor> params, grads, buffers;
  for (std::size_t index = 0; index < parameters_.size(); ++index) {
    Var& var = *parameters_[index].var;
    if (!var.grad().defined()) continue;
    params.push_back(var.value());
    grads.push_back(var.grad());
    buffers.push_back(momentum_[index]);
  }
  StepReport result;
  if (grads.empty()) return result;
  const Tensor total_norm = l2_norm(ctx_, grads);
  const Tensor nonfinite = any_nonfinite(ctx_, grads);
  const Tensor coefficient = clip_coefficient(ctx_, total_norm, config_.max_grad_norm);
  const SgdOptions options{lr, config_.momentum, config_.weight_decay, config_.nesterov};
  // Buffers start zeroed, so first_step = false gives torch's first step (buf = g) exactly and stays
  // right when a step is skipped on the device.
  sgd_step(ctx_, params, grads, buffers, options, /*first_step=*/false, coefficient, nonfinite);
  axpy(ctx_, skipped_counter_, 1.0, nonfinite);
  ++steps_;
  if (report && !ctx_.is_meta()) {
    result.gradient_norm = total_norm.to_vector<double>()[0];
    result.skipped = nonfinite.to_vector<double>()[0] != 0.0;
  }
  return result;
}

std::vector<std::pair<std::string, Tensor*>> SGD::state() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (std::size_t index = 0; index < parameters_.size(); ++index)
    out.emplace_back(parameters_[index].name + ".momentum", &momentum_[index]);
  return out;
}

}  // namespace nnuc::nn
