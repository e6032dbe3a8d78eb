// nnU-Net's optimizer (spec §6.1): SGD with Nesterov momentum 0.99 and weight decay 3e-5 on all
// parameters, poly learning rate lr(e) = lr0 · (1 − e / E)^0.9, global gradient-norm clipping at 12.
// In mixed precision a step whose gradients hold a NaN or Inf is skipped on the device, counted and
// reported.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernels/optim/sgd.h"
#include "nn/module.h"

namespace nnuc::nn {

struct OptimizerConfig {
  double initial_lr = 1e-2;
  double momentum = 0.99;
  double weight_decay = 3e-5;
  bool nesterov = true;
  double max_grad_norm = 12.0;
  int epochs = 1000;
  double poly_exponent = 0.9;
};

// lr(e) = initial · (1 − epoch / epochs)^exponent, set at the start of epoch e (e = 0 .. epochs − 1).
double poly_lr(double initial_lr, int epoch, int epochs, double exponent = 0.9);

struct StepReport {
  bool skipped = false;      // the gradients held a NaN or Inf: nothing was updated
  double gradient_norm = 0;  // global L2 norm before clipping (read back only when asked)
};

class SGD {
 public:
  // Momentum buffers (one per parameter, same shape and dtype) are allocated on ctx and zeroed now:
  // they are part of the training state from the start (and of the memory of a step).
  SGD(const Context& ctx, std::vector<NamedParameter> parameters, OptimizerConfig config);

  // Drops every gradient (torch's zero_grad(set_to_none=True)).
  void zero_grad();
  // Clips the gradients' global norm to max_grad_norm, skips the update when a gradient is not
  // finite, else applies the SGD update with learning rate `lr` (on the device, no host sync).
  // Parameters without a gradient are left alone (as torch does). With `report` the norm and the
  // skip flag are read back (one host sync).
  StepReport step(double lr, bool report = false);

  // Steps skipped for non-finite gradients (counted on the device; reading it syncs).
  std::int64_t skipped_steps() const;
  std::int64_t steps() const { return steps_; }
  const OptimizerConfig& config() const { return config_; }
  // Momentum buffers by parameter name ("<name>.momentum"), for checkpoints.
  std::vector<std::pair<std::string, Tensor*>> state();
  void set_counters(std::int64_t steps, std::int64_t skipped);

 private:
  const Context& ctx_;
  std::vector<NamedParameter> parameters_;
  std::vector<Tensor> momentum_;
  OptimizerConfig config_;
  std::int64_t steps_ = 0;
  Tensor skipped_counter_;  // f32 (): Σ of the per-step non-finite flags
};

}  // namespace nnuc::nn
