#include "nn/loss.h"

#include <cmath>

#include "kernels/layout/resize_nearest.h"

namespace nnuc::nn {

std::vector<double> deep_supervision_weights(int outputs) {
  NNUC_CHECK(outputs >= 1, "deep supervision needs at least one output, got ", outputs);
  if (outputs == 1) return {1.0};
  std::vector<double> weights(static_cast<std::size_t>(outputs));
  double total = 0;
  for (int i = 0; i < outputs; ++i) {
    weights[static_cast<std::size_t>(i)] = i + 1 == outputs ? 0.0 : std::ldexp(1.0, -i);
    total += weights[static_cast<std::size_t>(i)];
  }
  for (double& weight : weights) weight /= total;
  return weights;
}

std::vector<Tensor> deep_supervision_targets(const Context& ctx, const Tensor& labels,
                                             const std::vector<Shape>& output_shapes) {
  std::vector<Tensor> targets;
  for (const Shape& output : output_shapes) {
    const Shape wanted{labels.dim(0), output[1], output[2], output[3], labels.dim(4)};
    targets.push_back(wanted == labels.shape() ? labels
                                               : resize_nearest_exact(ctx, labels, {output[1], output[2], output[3]}));
  }
  return targets;
}

Var deep_supervision_loss(Tape& tape, const std::vector<Var>& outputs, const std::vector<Tensor>& targets,
                          const LossConfig& config) {
  NNUC_CHECK(outputs.size() == targets.size(), "deep_supervision_loss: ", outputs.size(), " outputs but ",
             targets.size(), " targets");
  const std::vector<double> weights = deep_supervision_weights(static_cast<int>(outputs.size()));
  Var total;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (weights[i] == 0.0) continue;
    Var term =
        config.regions
            ? autograd::region_dice_bce_loss(tape, outputs[i], targets[i], config.region_ignore, config.batch_dice)
            : autograd::dice_ce_loss(tape, outputs[i], targets[i], config.ignore_label, config.batch_dice);
    if (weights[i] != 1.0) term = autograd::scale(tape, term, weights[i]);
    total = total.defined() ? autograd::add(tape, total, term) : term;
  }
  return total;
}

}  // namespace nnuc::nn
