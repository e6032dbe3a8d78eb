#include "nn/trainer_metrics.h"

#include <cmath>
#include <limits>

#include "kernels/loss/loss.h"

namespace nnuc::nn {

void PseudoDiceCounts::add(const PseudoDiceCounts& other) {
  if (tp.empty()) {
    *this = other;
    return;
  }
  NNUC_CHECK(other.tp.size() == tp.size(), "pseudo Dice: adding counts of ", other.tp.size(), " classes to ",
             tp.size());
  for (std::size_t c = 0; c < tp.size(); ++c) {
    tp[c] += other.tp[c];
    fp[c] += other.fp[c];
    fn[c] += other.fn[c];
  }
}

namespace {

// Exact integer counts as the double counts, from class `first` on (1: background dropped).
PseudoDiceCounts counts_from(const std::vector<std::int64_t>& tp, const std::vector<std::int64_t>& fp,
                             const std::vector<std::int64_t>& fn, std::size_t first) {
  PseudoDiceCounts counts;
  for (std::size_t c = first; c < tp.size(); ++c) {
    counts.tp.push_back(static_cast<double>(tp[c]));
    counts.fp.push_back(static_cast<double>(fp[c]));
    counts.fn.push_back(static_cast<double>(fn[c]));
  }
  return counts;
}

PseudoDiceCounts label_counts(const Context& ctx, const Tensor& logits, const Tensor& target, int ignore_label) {
  const auto classes = static_cast<std::size_t>(logits.dim(4));
  const std::vector<std::int16_t> predicted = argmax_channels(ctx, logits).to_vector<std::int16_t>();
  const std::vector<std::int16_t> labels = target.to_vector<std::int16_t>();
  // Integer counts per class (exact for any volume), background included, dropped at the end.
  std::vector<std::int64_t> tp(classes, 0), fp(classes, 0), fn(classes, 0);
  for (std::size_t v = 0; v < labels.size(); ++v) {
    const int truth = labels[v];
    if (ignore_label >= 0 && truth == ignore_label) continue;
    const auto p = static_cast<std::size_t>(predicted[v]);
    NNUC_CHECK(truth >= 0 && static_cast<std::size_t>(truth) < classes, "pseudo Dice: target label ", truth,
               " at voxel ", v, " is outside [0, ", classes, ")");
    const auto t = static_cast<std::size_t>(truth);
    if (p == t) {
      ++tp[t];
    } else {
      ++fp[p];
      ++fn[t];
    }
  }
  return counts_from(tp, fp, fn, 1);
}

PseudoDiceCounts region_counts(const Tensor& logits, const Tensor& target, bool ignore_channel) {
  const auto regions = static_cast<std::size_t>(logits.dim(4));
  const auto target_channels = static_cast<std::size_t>(target.dim(4));
  NNUC_CHECK(target_channels == regions + (ignore_channel ? 1 : 0), "pseudo Dice: region target has ", target_channels,
             " channels for ", regions, " regions", ignore_channel ? " and an ignore channel" : "");
  const std::vector<float> values = logits.to_vector<float>();
  const std::vector<std::uint8_t> truth = target.to_vector<std::uint8_t>();
  const std::size_t voxels = values.size() / regions;
  std::vector<std::int64_t> tp(regions, 0), fp(regions, 0), fn(regions, 0);
  for (std::size_t v = 0; v < voxels; ++v) {
    if (ignore_channel && truth[v * target_channels + regions] != 0) continue;
    for (std::size_t r = 0; r < regions; ++r) {
      const float probability = 1.0f / (1.0f + std::exp(-values[v * regions + r]));
      const bool predicted = probability > 0.5f;
      const bool actual = truth[v * target_channels + r] != 0;
      tp[r] += predicted && actual;
      fp[r] += predicted && !actual;
      fn[r] += !predicted && actual;
    }
  }
  return counts_from(tp, fp, fn, 0);
}

}  // namespace

PseudoDiceCounts pseudo_dice_counts(const Context& ctx, const Tensor& logits, const Tensor& target,
                                    const LossConfig& loss) {
  check_defined(logits, "logits");
  check_defined(target, "target");
  NNUC_CHECK(logits.rank() == 5 && target.rank() == 5, "pseudo Dice: logits ", logits.describe(), " and target ",
             target.describe(), " must be 5-D (N, D, H, W, C)");
  for (int axis = 0; axis < 4; ++axis)
    NNUC_CHECK(logits.dim(axis) == target.dim(axis), "pseudo Dice: logits ", logits.describe(), " and target ",
               target.describe(), " differ in axis ", axis);
  if (loss.regions) {
    check_dtype(target, DType::u8, "region target");
    return region_counts(logits, target, loss.region_ignore == RegionIgnore::last_target_channel);
  }
  check_dtype(target, DType::i16, "label target");
  NNUC_CHECK(target.dim(4) == 1, "pseudo Dice: label target ", target.describe(), " must have one channel");
  return label_counts(ctx, logits, target, loss.ignore_label);
}

std::vector<double> dice_per_class(const PseudoDiceCounts& counts) {
  std::vector<double> dice;
  for (std::size_t c = 0; c < counts.tp.size(); ++c) {
    const double denominator = 2 * counts.tp[c] + counts.fp[c] + counts.fn[c];
    dice.push_back(denominator == 0 ? std::numeric_limits<double>::quiet_NaN() : 2 * counts.tp[c] / denominator);
  }
  return dice;
}

double nanmean(const std::vector<double>& values) {
  double sum = 0;
  int count = 0;
  for (double value : values) {
    if (std::isnan(value)) continue;
    sum += value;
    ++count;
  }
  return count == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / count;
}

double ema_pseudo_dice(std::optional<double> previous_ema, double mean_fg_dice) {
  return previous_ema ? *previous_ema * 0.9 + 0.1 * mean_fg_dice : mean_fg_dice;
}

}  // namespace nnuc::nn
