// kernels/loss/loss.h on the CPU: softmax, argmax, CE and soft-Dice sums against double-precision
// references written here; nnU-Net's full DC+CE loss value (a hand-computed case, and random cases
// against a reference that follows nnU-Net's own steps); central-difference gradchecks in f64; ignore
// handling; Meta-vs-CPU allocator peaks and argument errors for every op of the family (region ops
// included; their values are checked in region_loss_test.cpp).
#include "kernels/loss/loss.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/core/allocator.h"
#include "kernels/loss/region_loss.h"
#include "tests/kernels/loss_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

using namespace loss_test;

// ---- double-precision references --------------------------------------------------------------------

std::vector<double> softmax_of(const double* x, std::int64_t classes) {
  double max = x[0];
  for (std::int64_t c = 1; c < classes; ++c) max = std::max(max, x[c]);
  std::vector<double> p(static_cast<std::size_t>(classes));
  double sum = 0;
  for (std::int64_t c = 0; c < classes; ++c) sum += (p[c] = std::exp(x[c] - max));
  for (double& value : p) value /= sum;
  return p;
}

SumsReference softmax_sums_reference(const Tensor& logits, const Tensor& labels, int ignore_label) {
  const Sizes s(logits.shape());
  const std::vector<double> x = values(logits), label = values(labels);
  SumsReference ref;
  ref.intersection.assign(static_cast<std::size_t>(s.samples * s.classes), 0.0);
  ref.prediction = ref.target = ref.intersection;
  for (std::int64_t n = 0; n < s.samples; ++n)
    for (std::int64_t v = 0; v < s.voxels; ++v) {
      const std::int64_t voxel = n * s.voxels + v;
      const int t = static_cast<int>(label[voxel]);
      if (ignore_label >= 0 && t == ignore_label) continue;
      const std::vector<double> p = softmax_of(&x[voxel * s.classes], s.classes);
      ref.loss_sum -= std::log(p[t]);
      ref.counted += 1;
      for (std::int64_t c = 0; c < s.classes; ++c) {
        ref.prediction[n * s.classes + c] += p[c];
        ref.intersection[n * s.classes + c] += c == t ? p[c] : 0.0;
        ref.target[n * s.classes + c] += c == t ? 1.0 : 0.0;
      }
    }
  return ref;
}

// ∂/∂x of scale · CE sum + Σ gI·I + gP·P (no Dice term when gI is empty).
std::vector<double> softmax_backward_reference(const Tensor& logits, const Tensor& labels, int ignore_label,
                                               double scale, const std::vector<double>& gi,
                                               const std::vector<double>& gp) {
  const Sizes s(logits.shape());
  const std::vector<double> x = values(logits), label = values(labels);
  std::vector<double> dx(x.size(), 0.0);
  for (std::int64_t voxel = 0; voxel < s.samples * s.voxels; ++voxel) {
    const int t = static_cast<int>(label[voxel]);
    if (ignore_label >= 0 && t == ignore_label) continue;
    const std::int64_t n = voxel / s.voxels;
    const std::vector<double> p = softmax_of(&x[voxel * s.classes], s.classes);
    std::vector<double> dp(p.size(), 0.0);  // ∂L/∂p
    for (std::int64_t c = 0; c < s.classes; ++c) {
      dp[c] = -scale * (c == t ? 1.0 / p[c] : 0.0);
      if (!gi.empty()) dp[c] += gp[n * s.classes + c] + (c == t ? gi[n * s.classes + c] : 0.0);
    }
    // Softmax Jacobian: ∂p_c/∂x_j = p_c (δ_cj − p_j).
    for (std::int64_t j = 0; j < s.classes; ++j)
      for (std::int64_t c = 0; c < s.classes; ++c)
        dx[voxel * s.classes + j] += dp[c] * p[c] * ((c == j ? 1.0 : 0.0) - p[j]);
  }
  return dx;
}

// ---- softmax and argmax -----------------------------------------------------------------------------

TEST(LossSoftmax, MatchesReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& shape : kShapes) {
      const Tensor logits = testing::random_uniform(shape, dtype, -4, 4);
      const Tensor p = softmax_channels(Context::cpu(), logits);
      ASSERT_EQ(p.shape(), shape);
      ASSERT_EQ(p.dtype(), dtype);
      const std::vector<double> x = values(logits);
      std::vector<double> expected;
      for (std::int64_t voxel = 0; voxel < shape.numel() / shape[4]; ++voxel)
        for (double value : softmax_of(&x[voxel * shape[4]], shape[4])) expected.push_back(value);
      EXPECT_TRUE(close(p, expected, dtype == DType::f64 ? 1e-15 : 1e-7, dtype == DType::f64 ? 1e-13 : 1e-6))
          << shape.str();
    }
}

TEST(LossSoftmax, LargeLogitsAreStable) {
  const Tensor logits =
      Tensor::from_vector(Shape{1, 1, 1, 2, 3}, std::vector<float>{1000, 999, -1000, -500, -501, -502});
  const std::vector<double> p = values(softmax_channels(Context::cpu(), logits));
  const double e = std::exp(-1.0), z = 1 + e + e * e;
  const std::vector<double> expected = {1 / (1 + e), e / (1 + e), 0, 1 / z, e / z, e * e / z};
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], expected[i], 1e-6) << i;
  const CrossEntropySums ce =
      cross_entropy_forward(Context::cpu(), logits,
                            Tensor::from_vector(Shape{1, 1, 1, 2, 1}, std::vector<std::int16_t>{1, 2}), kNoIgnoreLabel);
  EXPECT_NEAR(scalar(ce.loss_sum), -std::log(e / (1 + e)) - std::log(e * e / z), 1e-4);
}

TEST(LossArgmax, MatchesReferenceAndTiesGoLow) {
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& shape : kShapes) {
      Tensor logits = testing::random_uniform(shape, dtype, -2, 2);
      std::vector<double> x = values(logits);
      for (std::size_t i = 0; i + 1 < x.size(); i += 7) x[i + 1] = x[i];  // plant ties
      logits = dtype == DType::f64 ? Tensor::from_vector(shape, x) : testing::as_f32(Tensor::from_vector(shape, x));
      x = values(logits);
      const Tensor a = argmax_channels(Context::cpu(), logits);
      ASSERT_EQ(a.dtype(), DType::i16);
      ASSERT_EQ(a.shape(), label_shape(shape));
      const std::vector<double> got = values(a);
      for (std::int64_t voxel = 0; voxel < shape.numel() / shape[4]; ++voxel) {
        const double* v = &x[voxel * shape[4]];
        EXPECT_EQ(got[voxel], static_cast<double>(std::max_element(v, v + shape[4]) - v)) << voxel;  // first max
      }
    }
}

// ---- CE and Dice sums ------------------------------------------------------------------------------

TEST(LossDiceCe, ForwardMatchesReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (int ignore : {kNoIgnoreLabel, 1000})
      for (const Shape& shape : kShapes) {
        const int ignore_label = ignore < 0 ? kNoIgnoreLabel : static_cast<int>(shape[4]);
        SCOPED_TRACE(shape.str() + " " + dtype_name(dtype) + " ignore " + std::to_string(ignore_label));
        const Tensor logits = testing::random_uniform(shape, dtype, -3, 3);
        const Tensor labels = make_labels(shape, ignore_label);
        const SumsReference ref = softmax_sums_reference(logits, labels, ignore_label);
        const double rtol = reference_rtol(dtype);
        const DiceCrossEntropySums fused = dice_ce_forward(Context::cpu(), logits, labels, ignore_label);
        ASSERT_EQ(fused.dice.intersection.shape(), (Shape{shape[0], shape[4]}));
        ASSERT_EQ(fused.cross_entropy.loss_sum.dtype(), dtype);
        expect_sums(fused.cross_entropy.loss_sum, fused.cross_entropy.counted, ref, rtol);
        expect_sums(fused.dice, ref, rtol);
        const CrossEntropySums ce = cross_entropy_forward(Context::cpu(), logits, labels, ignore_label);
        expect_sums(ce.loss_sum, ce.counted, ref, rtol);
        expect_sums(dice_sums_forward(Context::cpu(), logits, labels, ignore_label), ref, rtol);
      }
}

TEST(LossDiceCe, BackwardMatchesReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(shape.str() + " " + dtype_name(dtype));
      const int ignore_label = static_cast<int>(shape[4]);
      const Sizes s(shape);
      const Tensor logits = testing::random_uniform(shape, dtype, -3, 3);
      const Tensor labels = make_labels(shape, ignore_label);
      const std::vector<double> gi = random_values(s.samples * s.classes), gp = random_values(s.samples * s.classes);
      const double scale = 0.37, atol = dtype == DType::f64 ? 1e-13 : 2e-6, rtol = dtype == DType::f64 ? 1e-11 : 1e-5;
      const Tensor gi_t = sums_tensor(gi, s, dtype), gp_t = sums_tensor(gp, s, dtype);
      const Tensor fused = dice_ce_backward(Context::cpu(), logits, labels, ignore_label, scale, gi_t, gp_t);
      ASSERT_EQ(fused.shape(), shape);
      ASSERT_EQ(fused.dtype(), dtype);
      EXPECT_TRUE(close(fused, softmax_backward_reference(logits, labels, ignore_label, scale, gi, gp), atol, rtol));
      EXPECT_TRUE(close(cross_entropy_backward(Context::cpu(), logits, labels, ignore_label, scale),
                        softmax_backward_reference(logits, labels, ignore_label, scale, {}, {}), atol, rtol));
      EXPECT_TRUE(close(dice_sums_backward(Context::cpu(), logits, labels, ignore_label, gi_t, gp_t),
                        softmax_backward_reference(logits, labels, ignore_label, 0.0, gi, gp), atol, rtol));
    }
}

TEST(LossDiceCe, GradcheckF64) {
  for (const Shape& shape : {Shape{2, 1, 3, 2, 3}, Shape{1, 2, 2, 3, 5}, Shape{2, 1, 1, 3, 2}})
    for (int ignore_label : {kNoIgnoreLabel, static_cast<int>(shape[4])}) {
      SCOPED_TRACE(shape.str() + " ignore " + std::to_string(ignore_label));
      const Sizes s(shape);
      const Tensor logits = testing::random_uniform(shape, DType::f64, -2, 2);
      const Tensor labels = make_labels(shape, ignore_label);
      const std::vector<double> gi = random_values(s.samples * s.classes), gp = random_values(s.samples * s.classes);
      const Tensor gi_t = sums_tensor(gi, s, DType::f64), gp_t = sums_tensor(gp, s, DType::f64);
      const double scale = 0.7;
      const Context& cpu = Context::cpu();
      gradcheck(logits, cross_entropy_backward(cpu, logits, labels, ignore_label, scale), [&](const Tensor& x) {
        return scale * scalar(cross_entropy_forward(cpu, x, labels, ignore_label).loss_sum);
      });
      gradcheck(logits, dice_sums_backward(cpu, logits, labels, ignore_label, gi_t, gp_t), [&](const Tensor& x) {
        const DiceSums d = dice_sums_forward(cpu, x, labels, ignore_label);
        return dot(d.intersection, gi) + dot(d.prediction, gp);
      });
      gradcheck(logits, dice_ce_backward(cpu, logits, labels, ignore_label, scale, gi_t, gp_t), [&](const Tensor& x) {
        const DiceCrossEntropySums d = dice_ce_forward(cpu, x, labels, ignore_label);
        return scale * scalar(d.cross_entropy.loss_sum) + dot(d.dice.intersection, gi) + dot(d.dice.prediction, gp);
      });
    }
}

// ---- nnU-Net's loss values ---------------------------------------------------------------------------

// What the loss layer computes from the sums: CE mean (0 without counted voxels) − mean foreground dc.
double dc_ce_loss_from_sums(const DiceCrossEntropySums& sums, bool batch_dice) {
  const double counted = scalar(sums.cross_entropy.counted);
  const double ce = counted > 0 ? scalar(sums.cross_entropy.loss_sum) / counted : 0.0;
  const std::vector<double> i = values(sums.dice.intersection), p = values(sums.dice.prediction),
                            g = values(sums.dice.target);
  const std::int64_t samples = sums.dice.intersection.dim(0), classes = sums.dice.intersection.dim(1);
  double dc_total = 0;
  int terms = 0;
  for (std::int64_t c = 1; c < classes; ++c) {
    if (batch_dice) {
      double bi = 0, bp = 0, bg = 0;
      for (std::int64_t n = 0; n < samples; ++n)
        bi += i[n * classes + c], bp += p[n * classes + c], bg += g[n * classes + c];
      dc_total += (2 * bi + kSmooth) / std::max(bg + bp + kSmooth, 1e-8), ++terms;
    } else {
      for (std::int64_t n = 0; n < samples; ++n, ++terms)
        dc_total +=
            (2 * i[n * classes + c] + kSmooth) / std::max(g[n * classes + c] + p[n * classes + c] + kSmooth, 1e-8);
    }
  }
  return ce - dc_total / terms;
}

// nnU-Net's DC_and_CE_loss step by step: mask = target ≠ ignore; target_dice = where(mask, target, 0);
// one-hot; background dropped; sums over space (and batch); CE mean over the mask, 0 if it is empty.
double nnunet_dc_ce_reference(const Tensor& logits, const Tensor& labels, int ignore_label, bool batch_dice) {
  const Sizes s(logits.shape());
  const std::vector<double> x = values(logits), target = values(labels);
  std::vector<double> intersect(static_cast<std::size_t>(s.samples * s.classes)), sum_pred = intersect,
                                                                                  sum_gt = intersect;
  double ce_total = 0, num_fg = 0;
  for (std::int64_t n = 0; n < s.samples; ++n)
    for (std::int64_t v = 0; v < s.voxels; ++v) {
      const std::int64_t voxel = n * s.voxels + v;
      const double mask = (ignore_label >= 0 && target[voxel] == ignore_label) ? 0.0 : 1.0;
      const int target_dice = mask > 0 ? static_cast<int>(target[voxel]) : 0;
      const std::vector<double> p = softmax_of(&x[voxel * s.classes], s.classes);
      for (std::int64_t c = 0; c < s.classes; ++c) {
        const double y = c == target_dice ? 1.0 : 0.0;
        intersect[n * s.classes + c] += p[c] * y * mask;
        sum_pred[n * s.classes + c] += p[c] * mask;
        sum_gt[n * s.classes + c] += y * mask;
      }
      if (mask > 0) ce_total -= std::log(p[target_dice]), num_fg += 1;
    }
  std::vector<double> dc;
  for (std::int64_t n = 0; n < (batch_dice ? 1 : s.samples); ++n)
    for (std::int64_t c = 1; c < s.classes; ++c) {  // do_bg = False
      double i = 0, p = 0, g = 0;
      for (std::int64_t m = batch_dice ? 0 : n; m < (batch_dice ? s.samples : n + 1); ++m)
        i += intersect[m * s.classes + c], p += sum_pred[m * s.classes + c], g += sum_gt[m * s.classes + c];
      dc.push_back((2 * i + kSmooth) / std::max(g + p + kSmooth, 1e-8));
    }
  double mean_dc = 0;
  for (double value : dc) mean_dc += value / static_cast<double>(dc.size());
  return (num_fg > 0 ? ce_total / num_fg : 0.0) - mean_dc;
}

TEST(LossDiceCe, HandComputedNnUNetLoss) {
  // Two voxels, K = 2: logits (0, ln 3) with label 1 and (ln 3, 0) with label 0: p = (1/4, 3/4), (3/4, 1/4).
  // CE = −ln(3/4) per voxel; class 1 (class 0 alike): I = 3/4, P = 3/4 + 1/4 = 1, G = 1: dc = (1.5 + ε) / (2 + ε).
  const double ln3 = std::log(3.0);
  const Tensor logits = Tensor::from_vector(Shape{1, 1, 1, 2, 2}, std::vector<double>{0, ln3, ln3, 0});
  const Tensor labels = Tensor::from_vector(Shape{1, 1, 1, 2, 1}, std::vector<std::int16_t>{1, 0});
  const DiceCrossEntropySums sums = dice_ce_forward(Context::cpu(), logits, labels, kNoIgnoreLabel);
  EXPECT_NEAR(scalar(sums.cross_entropy.loss_sum), -2 * std::log(0.75), 1e-14);
  EXPECT_EQ(scalar(sums.cross_entropy.counted), 2.0);
  EXPECT_TRUE(close(sums.dice.intersection, {0.75, 0.75}, 1e-15, 0));  // p of the true class is 3/4 at both voxels
  EXPECT_TRUE(close(sums.dice.prediction, {1.0, 1.0}, 1e-15, 0));
  EXPECT_TRUE(close(sums.dice.target, {1.0, 1.0}, 0, 0));
  const double expected = -std::log(0.75) - (1.5 + kSmooth) / (2 + kSmooth);  // ≈ −0.4623
  EXPECT_NEAR(dc_ce_loss_from_sums(sums, false), expected, 1e-14);
  EXPECT_NEAR(nnunet_dc_ce_reference(logits, labels, kNoIgnoreLabel, false), expected, 1e-14);
}

TEST(LossDiceCe, NnUNetLossMatchesStepByStepReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (bool batch_dice : {false, true})
      for (int ignore : {kNoIgnoreLabel, 1})
        for (const Shape& shape : {Shape{2, 3, 4, 5, 3}, Shape{3, 1, 7, 6, 4}}) {
          SCOPED_TRACE(shape.str() + " batch_dice " + std::to_string(batch_dice) + " ignore " + std::to_string(ignore));
          const int ignore_label = ignore < 0 ? kNoIgnoreLabel : static_cast<int>(shape[4]);
          const Tensor logits = testing::random_uniform(shape, dtype, -3, 3);
          const Tensor labels = make_labels(shape, ignore_label);
          const double loss =
              dc_ce_loss_from_sums(dice_ce_forward(Context::cpu(), logits, labels, ignore_label), batch_dice);
          EXPECT_NEAR(loss, nnunet_dc_ce_reference(logits, labels, ignore_label, batch_dice),
                      dtype == DType::f64 ? 1e-12 : 1e-5);
        }
}

// ---- ignore handling ---------------------------------------------------------------------------------

TEST(LossDiceCe, IgnoredVoxelsContributeNothing) {
  const Shape shape{2, 3, 5, 4, 3};
  const int ignore_label = 3;
  const Tensor logits = testing::random_uniform(shape, DType::f64, -3, 3);
  const Tensor labels = make_labels(shape, ignore_label);
  // Different logits on ignored voxels only: every sum and every other gradient stays the same.
  std::vector<double> x = values(logits);
  const std::vector<double> label = values(labels);
  for (std::size_t voxel = 0; voxel < label.size(); ++voxel)
    if (label[voxel] == ignore_label)
      for (std::int64_t c = 0; c < 3; ++c) x[voxel * 3 + c] = 50.0 * (c + 1);
  const Tensor changed = Tensor::from_vector(shape, x);
  const Sizes s(shape);
  const Tensor gi = sums_tensor(random_values(6), s, DType::f64), gp = sums_tensor(random_values(6), s, DType::f64);
  const DiceCrossEntropySums a = dice_ce_forward(Context::cpu(), logits, labels, ignore_label);
  const DiceCrossEntropySums b = dice_ce_forward(Context::cpu(), changed, labels, ignore_label);
  EXPECT_TRUE(close(b.cross_entropy.loss_sum, values(a.cross_entropy.loss_sum), 0, 0));
  EXPECT_TRUE(close(b.dice.intersection, values(a.dice.intersection), 0, 0));
  EXPECT_TRUE(close(b.dice.prediction, values(a.dice.prediction), 0, 0));
  const std::vector<double> grad = values(dice_ce_backward(Context::cpu(), changed, labels, ignore_label, 0.5, gi, gp));
  EXPECT_TRUE(close(dice_ce_backward(Context::cpu(), logits, labels, ignore_label, 0.5, gi, gp), grad, 0, 0));
  for (std::size_t voxel = 0; voxel < label.size(); ++voxel) {
    if (label[voxel] != ignore_label) continue;
    for (std::int64_t c = 0; c < 3; ++c) EXPECT_EQ(grad[voxel * 3 + c], 0.0);
  }
}

TEST(LossDiceCe, AllIgnoredCountsZero) {
  const Shape shape{2, 1, 3, 3, 2};
  const Tensor logits = testing::random_uniform(shape, DType::f32, -3, 3);
  const Tensor labels = Tensor::from_vector(label_shape(shape), std::vector<std::int16_t>(18, 2));
  const DiceCrossEntropySums sums = dice_ce_forward(Context::cpu(), logits, labels, 2);
  EXPECT_EQ(scalar(sums.cross_entropy.counted), 0.0);
  EXPECT_EQ(scalar(sums.cross_entropy.loss_sum), 0.0);
  for (const Tensor* t : {&sums.dice.intersection, &sums.dice.prediction, &sums.dice.target})
    EXPECT_TRUE(close(*t, std::vector<double>(4, 0.0), 0, 0));
  // The loss layer's rules then give CE := 0 and dc = ε / ε = 1 for every class.
  EXPECT_NEAR(dc_ce_loss_from_sums(sums, false), -1.0, 1e-12);
  EXPECT_TRUE(
      close(cross_entropy_backward(Context::cpu(), logits, labels, 2, 1.0), std::vector<double>(36, 0.0), 0, 0));
}

// ---- memory: Meta allocates what the device would -------------------------------------------------------

TEST(LossMemory, MetaPeakEqualsCpuPeakAndModelsCuda) {
  const Shape shape{2, 3, 9, 7, 4};
  const Sizes s(shape);
  auto meta_cpu = Context::meta(Device::CPU);
  auto meta_cuda = Context::meta(Device::CUDA);
  const Tensor logits = testing::random_uniform(shape, DType::f32, -3, 3);
  const Tensor labels = make_labels(shape, 4);
  const Tensor targets = make_targets(shape, RegionIgnore::last_target_channel);
  const Tensor gi = sums_tensor(random_values(8), s, DType::f32), gp = sums_tensor(random_values(8), s, DType::f32);
  // Every op, run on a context whose tensors are given.
  using Inputs = std::vector<Tensor>;  // logits, labels, targets, gi, gp
  const std::vector<std::pair<std::string, std::function<void(const Context&, const Inputs&)>>> ops = {
      {"softmax_channels", [](const Context& c, const Inputs& in) { softmax_channels(c, in[0]); }},
      {"argmax_channels", [](const Context& c, const Inputs& in) { argmax_channels(c, in[0]); }},
      {"cross_entropy_forward", [](const Context& c, const Inputs& in) { cross_entropy_forward(c, in[0], in[1], 4); }},
      {"cross_entropy_backward",
       [](const Context& c, const Inputs& in) { cross_entropy_backward(c, in[0], in[1], 4, 1); }},
      {"dice_sums_forward", [](const Context& c, const Inputs& in) { dice_sums_forward(c, in[0], in[1], 4); }},
      {"dice_sums_backward",
       [](const Context& c, const Inputs& in) { dice_sums_backward(c, in[0], in[1], 4, in[3], in[4]); }},
      {"dice_ce_forward", [](const Context& c, const Inputs& in) { dice_ce_forward(c, in[0], in[1], 4); }},
      {"dice_ce_backward",
       [](const Context& c, const Inputs& in) { dice_ce_backward(c, in[0], in[1], 4, 1, in[3], in[4]); }},
      {"region_loss_forward",
       [](const Context& c, const Inputs& in) {
         region_loss_forward(c, in[0], in[2], RegionIgnore::last_target_channel);
       }},
      {"region_loss_backward",
       [](const Context& c, const Inputs& in) {
         region_loss_backward(c, in[0], in[2], RegionIgnore::last_target_channel, 1, in[3], in[4]);
       }},
  };
  const Inputs cpu_inputs = {logits, labels, targets, gi, gp};
  const auto on = [](const Context& ctx, const Inputs& host) {
    Inputs out;
    for (const Tensor& t : host) out.push_back(Tensor::empty(t.shape(), t.dtype(), ctx));
    return out;
  };
  const Inputs meta_cpu_inputs = on(*meta_cpu, cpu_inputs), meta_cuda_inputs = on(*meta_cuda, cpu_inputs);
  const std::size_t sums = 3 * rounded_allocation_bytes(8 * 4) + 2 * rounded_allocation_bytes(4);
  const std::size_t workspace = rounded_allocation_bytes(loss_workspace_bytes(shape, Device::CUDA));
  ASSERT_GT(workspace, 0u);
  EXPECT_EQ(loss_workspace_bytes(shape, Device::CPU), 0u);
  for (const auto& named_op : ops) {
    const std::string& name = named_op.first;
    const auto& op = named_op.second;  // not a structured binding: C++17 lambdas cannot capture one (clang)
    SCOPED_TRACE(name);
    const std::size_t cpu_peak = testing::peak_bytes_of(Device::CPU, [&] { op(Context::cpu(), cpu_inputs); });
    EXPECT_GT(cpu_peak, 0u);
    EXPECT_EQ(testing::peak_bytes_of(meta_cpu->device(), [&] { op(*meta_cpu, meta_cpu_inputs); }), cpu_peak);
    const std::size_t cuda_peak =
        testing::peak_bytes_of(meta_cuda->device(), [&] { op(*meta_cuda, meta_cuda_inputs); });
    const bool is_forward_sums = name.find("_forward") != std::string::npos;
    if (is_forward_sums) {  // outputs + the partials workspace
      const std::size_t outputs = name.find("dice_ce") != std::string::npos || name.find("region") != std::string::npos
                                      ? sums
                                  : name.find("dice") != std::string::npos ? 3 * rounded_allocation_bytes(32)
                                                                           : 2 * rounded_allocation_bytes(4);
      EXPECT_EQ(cuda_peak, outputs + workspace);
    } else {
      EXPECT_EQ(cuda_peak, cpu_peak);  // elementwise: the output only
    }
  }
}

// ---- argument errors -----------------------------------------------------------------------------------

TEST(LossErrors, RejectsBadArguments) {
  const Context& cpu = Context::cpu();
  const Shape shape{2, 1, 3, 4, 3};
  const Tensor logits = testing::random_uniform(shape, DType::f32, -1, 1);
  const Tensor labels = make_labels(shape, kNoIgnoreLabel);
  const Tensor gi = testing::random_uniform(Shape{2, 3}, DType::f32), gp = gi;
  // Labels: wrong shape, wrong dtype, out of range, ignore label that cannot be an i16.
  EXPECT_THROW(cross_entropy_forward(cpu, logits, testing::random_labels(Shape{2, 1, 3, 5, 1}, DType::i16, 3), -1),
               InvalidInput);
  EXPECT_THROW(cross_entropy_forward(cpu, logits, testing::random_labels(Shape{2, 1, 3, 4, 3}, DType::i16, 3), -1),
               InvalidInput);
  EXPECT_THROW(dice_ce_forward(cpu, logits, testing::random_labels(label_shape(shape), DType::i32, 3), -1),
               InvalidInput);
  std::vector<std::int16_t> out_of_range(24, 1);
  out_of_range[7] = 3;  // K = 3 and the ignore label is 5
  EXPECT_THROW(dice_sums_forward(cpu, logits, Tensor::from_vector(label_shape(shape), out_of_range), 5), InvalidInput);
  out_of_range[7] = -1;  // −1 (outside the nonzero mask) must be mapped to 0 before the loss
  EXPECT_THROW(dice_ce_forward(cpu, logits, Tensor::from_vector(label_shape(shape), out_of_range), kNoIgnoreLabel),
               InvalidInput);
  out_of_range[7] = 5;
  EXPECT_NO_THROW(dice_ce_forward(cpu, logits, Tensor::from_vector(label_shape(shape), out_of_range), 5));
  EXPECT_THROW(dice_ce_forward(cpu, logits, labels, 40000), InvalidInput);
  // Logits: dtype, rank, empty dim, device.
  EXPECT_THROW(softmax_channels(cpu, testing::random_labels(shape, DType::i16, 3)), InvalidInput);
  EXPECT_THROW(argmax_channels(cpu, logits.reshape(Shape{2, 3, 4, 3})), InvalidInput);
  EXPECT_THROW(softmax_channels(cpu, Tensor::empty_cpu(Shape{2, 0, 3, 4, 3}, DType::f32)), InvalidInput);
  EXPECT_THROW(softmax_channels(*Context::meta(Device::CPU), logits), InvalidInput);
  auto meta_cuda = Context::meta(Device::CUDA);
  EXPECT_THROW(softmax_channels(*meta_cuda, Tensor::empty(shape, DType::f64, *meta_cuda)), InvalidInput);
  // Upstream grads: shape, dtype, undefined.
  EXPECT_THROW(dice_sums_backward(cpu, logits, labels, -1, testing::random_uniform(Shape{2, 4}, DType::f32), gp),
               InvalidInput);
  EXPECT_THROW(dice_ce_backward(cpu, logits, labels, -1, 1, gi, testing::random_uniform(Shape{2, 3}, DType::f64)),
               InvalidInput);
  EXPECT_THROW(dice_ce_backward(cpu, logits, labels, -1, 1, Tensor(), gp), InvalidInput);
  // Region targets: channel count with and without the ignore channel, dtype.
  const Tensor targets = make_targets(shape, RegionIgnore::none);
  EXPECT_NO_THROW(bce_with_logits_forward(cpu, logits, targets, RegionIgnore::none));
  EXPECT_THROW(bce_with_logits_forward(cpu, logits, targets, RegionIgnore::last_target_channel), InvalidInput);
  EXPECT_THROW(
      region_loss_forward(cpu, logits, make_targets(shape, RegionIgnore::last_target_channel), RegionIgnore::none),
      InvalidInput);
  EXPECT_THROW(sigmoid_dice_sums_forward(cpu, logits, testing::random_labels(targets.shape(), DType::i16, 2),
                                         RegionIgnore::none),
               InvalidInput);
  EXPECT_THROW(region_loss_backward(cpu, logits, targets, RegionIgnore::none, 1, gi,
                                    testing::random_uniform(Shape{3, 3}, DType::f32)),
               InvalidInput);
  EXPECT_THROW(loss_workspace_bytes(shape, Device::Meta), InvalidInput);
}

}  // namespace
}  // namespace nnuc
