// nnU-Net's training loss (spec §6.2): Dice + CE for label training, Dice + BCE for region training,
// summed over the deep-supervision outputs with weights w_i = 2^-i, the lowest-resolution weight set
// to 0, normalized to sum 1 (spec Appendix A.7).
#pragma once

#include <vector>

#include "autograd/ops.h"

namespace nnuc::nn {

using autograd::Tape;
using autograd::Var;

// Weights for `outputs` deep-supervision outputs (highest resolution first); 1 output gives {1}.
std::vector<double> deep_supervision_weights(int outputs);

struct LossConfig {
  bool regions = false;                             // region training: sigmoid + BCE + Dice over all regions
  int ignore_label = -1;                            // label training: voxels with this label are ignored (< 0: none)
  RegionIgnore region_ignore = RegionIgnore::none;  // region training: last target channel = ignore
  bool batch_dice = false;                          // from the configuration
};

// Targets for each output: the label map (i16 (N, D, H, W, 1), or u8 multi-hot for regions)
// resized by nearest-exact to each output's spatial shape (spec §7.3 step 16); the first is the map
// itself when shapes agree.
std::vector<Tensor> deep_supervision_targets(const Context& ctx, const Tensor& labels,
                                             const std::vector<Shape>& output_shapes);

// L = Σ_i w_i · L_i over outputs with w_i > 0 (terms with weight 0 are skipped, as nnU-Net does).
Var deep_supervision_loss(Tape& tape, const std::vector<Var>& outputs, const std::vector<Tensor>& targets,
                          const LossConfig& config);

}  // namespace nnuc::nn
