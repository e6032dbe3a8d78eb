// The scalar end of the losses (kernels/loss/dice_loss.h) on the CPU: the loss against a direct f64
// evaluation of nnU-Net's formulas, the sum gradients against central differences, the empty cases
// (no Dice term, nothing counted), the device-scalar CE / BCE scale of the backward kernels, and the
// argument checks.
#include "kernels/loss/dice_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/loss/region_loss.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

struct Sums {
  std::vector<double> i, p, g;  // (N, K)
  double voxel_sum = 0, counted = 0;
};

Sums random_sums(std::int64_t samples, std::int64_t classes) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Sums s;
  for (std::int64_t index = 0; index < samples * classes; ++index) {
    s.i.push_back(3 * unit(testing::rng()));
    s.p.push_back(s.i.back() + 10 * unit(testing::rng()));
    s.g.push_back(std::floor(s.i.back() + 10 * unit(testing::rng())));
  }
  s.voxel_sum = 50 * unit(testing::rng()) + 1;
  s.counted = std::floor(200 * unit(testing::rng())) + 1;
  return s;
}

Tensor host(const std::vector<double>& values, const Shape& shape, DType dtype) {
  const Tensor f64 = Tensor::from_vector(shape, values);
  return dtype == DType::f64 ? f64 : testing::as_f32(f64);
}

DiceSums dice_of(const Sums& s, std::int64_t samples, std::int64_t classes, DType dtype) {
  const Shape shape{samples, classes};
  return {host(s.i, shape, dtype), host(s.p, shape, dtype), host(s.g, shape, dtype)};
}

// nnU-Net's loss written out: the voxel term plus −mean dc over rows and the kept classes.
double reference_loss(const Sums& s, std::int64_t samples, std::int64_t classes, const SoftDiceLossConfig& config,
                      double denominator) {
  double total = 0;
  int terms = 0;
  const std::int64_t rows = config.batch_dice ? 1 : samples;
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t c = config.first_class; c < classes; ++c) {
      double i = 0, p = 0, g = 0;
      for (std::int64_t n = 0; n < samples; ++n) {
        if (!config.batch_dice && n != row) continue;
        i += s.i[n * classes + c];
        p += s.p[n * classes + c];
        g += s.g[n * classes + c];
      }
      total += (2 * i + 1e-5) / std::max(g + p + 1e-5, 1e-8);
      ++terms;
    }
  const double voxel = denominator > 0 ? s.voxel_sum / denominator : 0.0;
  return voxel - (terms > 0 ? total / terms : 0.0);
}

double scalar(const Tensor& t) { return t.to_vector<double>()[0]; }

struct DenominatorCase {
  bool counted;
  double floor, constant;
};

TEST(SoftDiceLoss, ForwardMatchesTheFormulasInF64AndF32) {
  const Context& cpu = Context::cpu();
  for (const DType dtype : {DType::f64, DType::f32})
    for (const std::int64_t first : {0, 1})
      for (const bool batch : {false, true})
        for (const DenominatorCase d :
             {DenominatorCase{true, 0.0, 1.0}, DenominatorCase{true, 1e-8, 1.0}, DenominatorCase{false, 0.0, 4096.0}}) {
          const std::int64_t samples = 3, classes = 4;
          const Sums s = random_sums(samples, classes);
          VoxelTermDenominator denominator;
          if (d.counted) denominator.counted = host({s.counted}, Shape{1}, dtype);
          denominator.counted_floor = d.floor;
          denominator.constant = d.constant;
          const SoftDiceLossConfig config{first, batch};
          const Tensor loss = soft_dice_loss_forward(cpu, dice_of(s, samples, classes, dtype),
                                                     host({s.voxel_sum}, Shape{1}, dtype), denominator, config);
          ASSERT_EQ(loss.dtype(), dtype);
          ASSERT_EQ(loss.shape(), Shape{1});
          // f32: the sums are rounded to f32 first, then the f64 math; compare with a loose bound.
          const double expected = reference_loss(s, samples, classes, config, d.counted ? s.counted : d.constant);
          const double tolerance = dtype == DType::f64 ? 1e-12 : 1e-5;
          EXPECT_NEAR(scalar(loss), expected, tolerance * std::max(1.0, std::abs(expected)))
              << dtype_name(dtype) << " first " << first << " batch " << batch << " counted " << d.counted;
        }
}

TEST(SoftDiceLoss, BackwardMatchesCentralDifferences) {
  const Context& cpu = Context::cpu();
  for (const std::int64_t first : {0, 1})
    for (const bool batch : {false, true}) {
      const std::int64_t samples = 2, classes = 3;
      const Sums s = random_sums(samples, classes);
      const SoftDiceLossConfig config{first, batch};
      VoxelTermDenominator denominator;
      denominator.counted = host({s.counted}, Shape{1}, DType::f64);
      const double upstream = 0.25 + std::uniform_real_distribution<double>(0, 1)(testing::rng());
      const SoftDiceLossGrads grads = soft_dice_loss_backward(
          cpu, host({upstream}, Shape{1}, DType::f64), dice_of(s, samples, classes, DType::f64), denominator, config);
      EXPECT_DOUBLE_EQ(scalar(grads.voxel_scale), upstream / s.counted);
      const std::vector<double> gi = grads.grad_intersection.to_vector<double>();
      const std::vector<double> gp = grads.grad_prediction.to_vector<double>();
      for (std::size_t index = 0; index < s.i.size(); ++index) {
        for (const bool wrt_intersection : {true, false}) {
          const double h = 1e-5;
          Sums plus = s, minus = s;
          (wrt_intersection ? plus.i : plus.p)[index] += h;
          (wrt_intersection ? minus.i : minus.p)[index] -= h;
          const double numeric = upstream *
                                 (reference_loss(plus, samples, classes, config, s.counted) -
                                  reference_loss(minus, samples, classes, config, s.counted)) /
                                 (2 * h);
          const double analytic = wrt_intersection ? gi[index] : gp[index];
          EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-6 * std::abs(numeric))
              << (wrt_intersection ? "dL/dI[" : "dL/dP[") << index << "] first " << first << " batch " << batch;
        }
      }
    }
}

TEST(SoftDiceLoss, NothingCountedAndNoDiceTermGiveZeroTerms) {
  const Context& cpu = Context::cpu();
  const Sums s = random_sums(2, 2);
  VoxelTermDenominator nothing_counted;
  nothing_counted.counted = host({0.0}, Shape{1}, DType::f64);
  const SoftDiceLossConfig no_dice{/*first_class=*/2, false};
  const DiceSums dice = dice_of(s, 2, 2, DType::f64);
  EXPECT_EQ(
      scalar(soft_dice_loss_forward(cpu, dice, host({s.voxel_sum}, Shape{1}, DType::f64), nothing_counted, no_dice)),
      0.0);
  const SoftDiceLossGrads grads =
      soft_dice_loss_backward(cpu, host({1.0}, Shape{1}, DType::f64), dice, nothing_counted, no_dice);
  EXPECT_EQ(scalar(grads.voxel_scale), 0.0);
  for (const double g : grads.grad_intersection.to_vector<double>()) EXPECT_EQ(g, 0.0);
  for (const double g : grads.grad_prediction.to_vector<double>()) EXPECT_EQ(g, 0.0);
}

// The backward kernels read the CE / BCE scale from a device scalar: the same gradient, bit for bit,
// as with the scale passed from the host.
TEST(SoftDiceLoss, DeviceScalarScaleMatchesTheHostScale) {
  const Context& cpu = Context::cpu();
  const double scale = 0.3 + std::uniform_real_distribution<double>(0, 1)(testing::rng());
  const Tensor scale_tensor = Tensor::from_vector(Shape{1}, std::vector<double>{scale});
  for (const DType dtype : {DType::f32, DType::f64}) {
    const Shape shape{2, 3, 4, 5, 3};
    const Tensor logits = testing::random_uniform(shape, dtype, -3.0, 3.0);
    const Tensor labels = testing::random_labels(Shape{2, 3, 4, 5, 1}, DType::i16, 3);
    const Tensor gi = testing::random_uniform(Shape{2, 3}, dtype), gp = testing::random_uniform(Shape{2, 3}, dtype);
    const Tensor host_scaled = dice_ce_backward(cpu, logits, labels, kNoIgnoreLabel, scale, gi, gp);
    const Tensor device_scaled = dice_ce_backward(cpu, logits, labels, kNoIgnoreLabel, scale_tensor, gi, gp);
    EXPECT_EQ(testing::compare(device_scaled, host_scaled).max_abs, 0.0) << dtype_name(dtype);

    const Tensor targets = testing::random_labels(shape, DType::u8, 2);
    const Tensor region_host = region_loss_backward(cpu, logits, targets, RegionIgnore::none, scale, gi, gp);
    const Tensor region_device = region_loss_backward(cpu, logits, targets, RegionIgnore::none, scale_tensor, gi, gp);
    EXPECT_EQ(testing::compare(region_device, region_host).max_abs, 0.0) << dtype_name(dtype);
  }
}

TEST(SoftDiceLoss, ArgumentsAreChecked) {
  const Context& cpu = Context::cpu();
  const Sums s = random_sums(2, 3);
  const DiceSums dice = dice_of(s, 2, 3, DType::f64);
  const Tensor voxel_sum = host({s.voxel_sum}, Shape{1}, DType::f64);
  EXPECT_ERROR_MENTIONS(soft_dice_loss_forward(cpu, dice, voxel_sum, {}, SoftDiceLossConfig{4, false}),
                        "first_class 4");
  EXPECT_ERROR_MENTIONS(
      soft_dice_loss_forward(cpu, dice, host({s.voxel_sum}, Shape{1}, DType::f32), {}, SoftDiceLossConfig{}),
      "voxel_sum");
  VoxelTermDenominator wrong_count;
  wrong_count.counted = host({1.0, 2.0}, Shape{2}, DType::f64);
  EXPECT_ERROR_MENTIONS(soft_dice_loss_forward(cpu, dice, voxel_sum, wrong_count, SoftDiceLossConfig{}), "counted");
  DiceSums mismatched = dice;
  mismatched.target = host(s.g, Shape{3, 2}, DType::f64);
  EXPECT_ERROR_MENTIONS(soft_dice_loss_forward(cpu, mismatched, voxel_sum, {}, SoftDiceLossConfig{}), "target");

  const Tensor logits = testing::random_uniform(Shape{2, 2, 2, 2, 3}, DType::f32);
  const Tensor labels = testing::random_labels(Shape{2, 2, 2, 2, 1}, DType::i16, 3);
  const Tensor gi = testing::random_uniform(Shape{2, 3}, DType::f32);
  const Tensor f32_scale = testing::random_uniform(Shape{1}, DType::f32);
  EXPECT_ERROR_MENTIONS(dice_ce_backward(cpu, logits, labels, kNoIgnoreLabel, f32_scale, gi, gi), "loss_scale");
}

}  // namespace
}  // namespace nnuc
