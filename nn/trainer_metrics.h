// Online validation of the trainer, nnU-Net's "pseudo Dice" (spec §6.5): per validation batch the
// true/false positives and false negatives of the full-resolution output, summed over the epoch,
// then dice_c = 2TP / (2TP + FP + FN), their nanmean, and its exponential moving average.
#pragma once

#include <optional>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "nn/loss.h"

namespace nnuc::nn {

// Counts per foreground class (label training: classes 1..K-1) or per region (region training).
struct PseudoDiceCounts {
  std::vector<double> tp, fp, fn;
  // Adds `other` (same number of classes, or this one empty).
  void add(const PseudoDiceCounts& other);
};

// The counts of one validation batch.
//   logits: the full-resolution output (N, D, H, W, K) on ctx's device (f32, bf16 or f64).
//   target: the full-resolution target on ctx's device: i16 (N, D, H, W, 1) labels, or u8 multi-hot
//     (N, D, H, W, R) regions with one more channel, the ignore mask, when loss.region_ignore is set.
// Label training: prediction = argmax over channels (ties to the lowest class); with an ignore label
//   voxels whose target is the ignore label count nowhere; background is dropped.
// Region training: prediction = sigmoid(logit) > 0.5 per region (in f32, as torch does); with an
//   ignore channel its voxels count nowhere.
// The argmax runs on the device; the comparison with the target on the host (one copy of the
// (N, D, H, W, 1) prediction and the target per validation batch).
PseudoDiceCounts pseudo_dice_counts(const Context& ctx, const Tensor& logits, const Tensor& target,
                                    const LossConfig& loss);

// dice_c = 2·TP_c / (2·TP_c + FP_c + FN_c), NaN when the denominator is 0.
std::vector<double> dice_per_class(const PseudoDiceCounts& counts);
// numpy's nanmean: the mean over the non-NaN entries; NaN when there are none.
double nanmean(const std::vector<double>& values);
// ema_e = 0.9·ema_{e−1} + 0.1·mean_e; the first epoch's ema is its mean (previous empty). A NaN
// mean makes the ema NaN from then on, as in nnU-Net.
double ema_pseudo_dice(std::optional<double> previous_ema, double mean_fg_dice);

}  // namespace nnuc::nn
