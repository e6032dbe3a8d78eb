// kernels/loss/region_loss.h on the CPU: BCE with logits and the sigmoid soft-Dice sums against
// double-precision references written here, nnU-Net's DC+BCE loss value with its denominator quirk
// (hand-computed), central-difference gradchecks in f64, and the ignore channel.
#include "kernels/loss/region_loss.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/loss_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

using namespace loss_test;

double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double bce_of(double x, double y) { return -(y * std::log(sigmoid_of(x)) + (1 - y) * std::log(1 - sigmoid_of(x))); }

SumsReference region_sums_reference(const Tensor& logits, const Tensor& targets, RegionIgnore ignore) {
  const Sizes s(logits.shape());
  const std::int64_t channels = targets.dim(4);
  const std::vector<double> x = values(logits), t = values(targets);
  SumsReference ref;
  ref.intersection.assign(static_cast<std::size_t>(s.samples * s.classes), 0.0);
  ref.prediction = ref.target = ref.intersection;
  for (std::int64_t voxel = 0; voxel < s.samples * s.voxels; ++voxel) {
    if (ignore == RegionIgnore::last_target_channel && t[voxel * channels + s.classes] != 0) continue;
    ref.counted += 1;
    const std::int64_t n = voxel / s.voxels;
    for (std::int64_t r = 0; r < s.classes; ++r) {
      const double xv = x[voxel * s.classes + r], y = t[voxel * channels + r] != 0 ? 1.0 : 0.0;
      ref.loss_sum += bce_of(xv, y);
      ref.prediction[n * s.classes + r] += sigmoid_of(xv);
      ref.intersection[n * s.classes + r] += sigmoid_of(xv) * y;
      ref.target[n * s.classes + r] += y;
    }
  }
  return ref;
}

std::vector<double> region_backward_reference(const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                                              double scale, const std::vector<double>& gi,
                                              const std::vector<double>& gp) {
  const Sizes s(logits.shape());
  const std::int64_t channels = targets.dim(4);
  const std::vector<double> x = values(logits), t = values(targets);
  std::vector<double> dx(x.size(), 0.0);
  for (std::int64_t voxel = 0; voxel < s.samples * s.voxels; ++voxel) {
    if (ignore == RegionIgnore::last_target_channel && t[voxel * channels + s.classes] != 0) continue;
    const std::int64_t n = voxel / s.voxels;
    for (std::int64_t r = 0; r < s.classes; ++r) {
      const double sg = sigmoid_of(x[voxel * s.classes + r]), y = t[voxel * channels + r] != 0 ? 1.0 : 0.0;
      double value = scale * (sg - y);
      if (!gi.empty()) value += (gp[n * s.classes + r] + y * gi[n * s.classes + r]) * sg * (1 - sg);
      dx[voxel * s.classes + r] = value;
    }
  }
  return dx;
}

TEST(LossRegion, ForwardAndBackwardMatchReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (RegionIgnore ignore : {RegionIgnore::none, RegionIgnore::last_target_channel})
      for (const Shape& shape : kShapes) {
        SCOPED_TRACE(shape.str() + " " + dtype_name(dtype) + (ignore == RegionIgnore::none ? "" : " ignore"));
        const Sizes s(shape);
        const Tensor logits = testing::random_uniform(shape, dtype, -4, 4);
        const Tensor targets = make_targets(shape, ignore);
        const SumsReference ref = region_sums_reference(logits, targets, ignore);
        const double rtol = reference_rtol(dtype);
        const RegionLossSums fused = region_loss_forward(Context::cpu(), logits, targets, ignore);
        expect_sums(fused.bce.loss_sum, fused.bce.counted, ref, rtol);
        expect_sums(fused.dice, ref, rtol);
        const BceSums bce = bce_with_logits_forward(Context::cpu(), logits, targets, ignore);
        expect_sums(bce.loss_sum, bce.counted, ref, rtol);
        expect_sums(sigmoid_dice_sums_forward(Context::cpu(), logits, targets, ignore), ref, rtol);

        const std::vector<double> gi = random_values(s.samples * s.classes), gp = random_values(s.samples * s.classes);
        const Tensor gi_t = sums_tensor(gi, s, dtype), gp_t = sums_tensor(gp, s, dtype);
        const double scale = 0.3, atol = dtype == DType::f64 ? 1e-14 : 1e-6, vrtol = dtype == DType::f64 ? 1e-12 : 1e-5;
        EXPECT_TRUE(close(region_loss_backward(Context::cpu(), logits, targets, ignore, scale, gi_t, gp_t),
                          region_backward_reference(logits, targets, ignore, scale, gi, gp), atol, vrtol));
        EXPECT_TRUE(close(bce_with_logits_backward(Context::cpu(), logits, targets, ignore, scale),
                          region_backward_reference(logits, targets, ignore, scale, {}, {}), atol, vrtol));
        EXPECT_TRUE(close(sigmoid_dice_sums_backward(Context::cpu(), logits, targets, ignore, gi_t, gp_t),
                          region_backward_reference(logits, targets, ignore, 0.0, gi, gp), atol, vrtol));
      }
}

TEST(LossRegion, GradcheckF64) {
  for (RegionIgnore ignore : {RegionIgnore::none, RegionIgnore::last_target_channel})
    for (const Shape& shape : {Shape{2, 1, 3, 2, 3}, Shape{1, 2, 2, 3, 2}}) {
      const Sizes s(shape);
      const Tensor logits = testing::random_uniform(shape, DType::f64, -3, 3);
      const Tensor targets = make_targets(shape, ignore);
      const std::vector<double> gi = random_values(s.samples * s.classes), gp = random_values(s.samples * s.classes);
      const Tensor gi_t = sums_tensor(gi, s, DType::f64), gp_t = sums_tensor(gp, s, DType::f64);
      const double scale = 1.3;
      const Context& cpu = Context::cpu();
      gradcheck(logits, bce_with_logits_backward(cpu, logits, targets, ignore, scale), [&](const Tensor& x) {
        return scale * scalar(bce_with_logits_forward(cpu, x, targets, ignore).loss_sum);
      });
      gradcheck(logits, sigmoid_dice_sums_backward(cpu, logits, targets, ignore, gi_t, gp_t), [&](const Tensor& x) {
        const DiceSums d = sigmoid_dice_sums_forward(cpu, x, targets, ignore);
        return dot(d.intersection, gi) + dot(d.prediction, gp);
      });
      gradcheck(logits, region_loss_backward(cpu, logits, targets, ignore, scale, gi_t, gp_t), [&](const Tensor& x) {
        const RegionLossSums d = region_loss_forward(cpu, x, targets, ignore);
        return scale * scalar(d.bce.loss_sum) + dot(d.dice.intersection, gi) + dot(d.dice.prediction, gp);
      });
    }
}

// nnU-Net's DC_and_BCE_loss from the sums, with its denominator quirk (region_loss.h).
double dc_bce_loss_from_sums(const RegionLossSums& sums, RegionIgnore ignore, double elements, bool batch_dice) {
  const double bce = ignore == RegionIgnore::none
                         ? scalar(sums.bce.loss_sum) / elements
                         : scalar(sums.bce.loss_sum) / std::max(scalar(sums.bce.counted), 1e-8);
  const std::vector<double> i = values(sums.dice.intersection), p = values(sums.dice.prediction),
                            g = values(sums.dice.target);
  const std::int64_t samples = sums.dice.intersection.dim(0), regions = sums.dice.intersection.dim(1);
  const auto dc = [](double i_r, double p_r, double g_r) {
    return (2 * i_r + kSmooth) / std::max(g_r + p_r + kSmooth, 1e-8);
  };
  double dc_total = 0;
  int terms = 0;
  for (std::int64_t r = 0; r < regions; ++r) {  // do_bg = True: every region
    if (batch_dice) {
      double bi = 0, bp = 0, bg = 0;
      for (std::int64_t n = 0; n < samples; ++n)
        bi += i[n * regions + r], bp += p[n * regions + r], bg += g[n * regions + r];
      dc_total += dc(bi, bp, bg), ++terms;
    } else {
      for (std::int64_t n = 0; n < samples; ++n, ++terms)
        dc_total += dc(i[n * regions + r], p[n * regions + r], g[n * regions + r]);
    }
  }
  return bce - dc_total / terms;
}

TEST(LossRegion, HandComputedNnUNetLossWithQuirk) {
  // One sample, two voxels, R = 2, ignore channel last. Voxel 0 (counted): x = (0, ln 3), t = (1, 0):
  // bce = ln 2 + ln 4; s = (1/2, 3/4). Voxel 1 is ignored. With ignore, BCE divides by Σm = 1 voxel,
  // not by 2 elements: BCE = ln 8. Dice: r0: I = 1/2, P = 1/2, G = 1; r1: I = 0, P = 3/4, G = 0.
  const double ln3 = std::log(3.0);
  const Tensor logits = Tensor::from_vector(Shape{1, 1, 1, 2, 2}, std::vector<double>{0, ln3, 5, -5});
  const Tensor targets = Tensor::from_vector(Shape{1, 1, 1, 2, 3}, std::vector<std::uint8_t>{1, 0, 0, 1, 1, 1});
  const RegionLossSums sums = region_loss_forward(Context::cpu(), logits, targets, RegionIgnore::last_target_channel);
  EXPECT_NEAR(scalar(sums.bce.loss_sum), std::log(8.0), 1e-14);
  EXPECT_EQ(scalar(sums.bce.counted), 1.0);
  EXPECT_TRUE(close(sums.dice.intersection, {0.5, 0.0}, 1e-15, 0));
  EXPECT_TRUE(close(sums.dice.prediction, {0.5, 0.75}, 1e-15, 0));
  EXPECT_TRUE(close(sums.dice.target, {1.0, 0.0}, 0, 0));
  const double dc0 = (1.0 + kSmooth) / (1.5 + kSmooth), dc1 = kSmooth / (0.75 + kSmooth);
  EXPECT_NEAR(dc_bce_loss_from_sums(sums, RegionIgnore::last_target_channel, 4, false), std::log(8.0) - (dc0 + dc1) / 2,
              1e-14);
}

TEST(LossRegion, AllIgnoredCountsZero) {
  const Shape shape{1, 2, 2, 2, 2};
  const Tensor logits = testing::random_uniform(shape, DType::f32, -3, 3);
  const Tensor targets = Tensor::from_vector(Shape{1, 2, 2, 2, 3}, std::vector<std::uint8_t>(24, 1));
  const BceSums bce = bce_with_logits_forward(Context::cpu(), logits, targets, RegionIgnore::last_target_channel);
  EXPECT_EQ(scalar(bce.counted), 0.0);
  EXPECT_EQ(scalar(bce.loss_sum), 0.0);
  EXPECT_TRUE(close(bce_with_logits_backward(Context::cpu(), logits, targets, RegionIgnore::last_target_channel, 1.0),
                    std::vector<double>(16, 0.0), 0, 0));
}

}  // namespace
}  // namespace nnuc
