// Gradchecks in double for every differentiable op (autograd/ops.h), central differences.
#include "autograd/gradcheck.h"

#include "autograd/ops.h"
#include "kernels/elementwise/elementwise.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

namespace nnuc::autograd {
namespace {

using testing::random_uniform;

NNUC_COVER_GRADCHECK("conv");
NNUC_COVER_GRADCHECK("conv_transpose");
NNUC_COVER_GRADCHECK("instance_norm_leaky_relu");
NNUC_COVER_GRADCHECK("leaky_relu");
NNUC_COVER_GRADCHECK("avg_pool");
NNUC_COVER_GRADCHECK("concat_channels");
NNUC_COVER_GRADCHECK("add");
NNUC_COVER_GRADCHECK("scale");
NNUC_COVER_GRADCHECK("cast");
NNUC_COVER_GRADCHECK("dice_ce_loss");
NNUC_COVER_GRADCHECK("region_dice_bce_loss");

GradcheckOptions options_with_seed() {
  GradcheckOptions options;
  options.seed = testing::test_seed();
  return options;
}

void expect_ok(const GradcheckResult& result) { EXPECT_TRUE(result.ok) << result.failure; }

TEST(Gradcheck, Conv3dStride2OddSizes) {
  const ConvGeometry geometry{{3, 3, 3}, {2, 1, 2}, {1, 1, 1}};
  expect_ok(gradcheck([&](Tape& tape, const std::vector<Var>& in) { return conv(tape, in[0], in[1], in[2], geometry); },
                      {random_uniform(Shape{2, 3, 4, 5, 2}, DType::f64),
                       random_uniform(Shape{3, 3, 3, 3, 2}, DType::f64), random_uniform(Shape{3}, DType::f64)},
                      {true, true, true}, options_with_seed()));
}

TEST(Gradcheck, ConvAnisotropic1x3x3And2d) {
  const ConvGeometry anisotropic{{1, 3, 3}, {1, 2, 2}, {0, 1, 1}};
  expect_ok(
      gradcheck([&](Tape& tape, const std::vector<Var>& in) { return conv(tape, in[0], in[1], Var(), anisotropic); },
                {random_uniform(Shape{1, 2, 5, 4, 3}, DType::f64), random_uniform(Shape{2, 1, 3, 3, 3}, DType::f64)},
                {true, true}, options_with_seed()));
  const ConvGeometry two_d{{1, 3, 3}, {1, 1, 1}, {0, 1, 1}};
  expect_ok(gradcheck([&](Tape& tape, const std::vector<Var>& in) { return conv(tape, in[0], in[1], in[2], two_d); },
                      {random_uniform(Shape{2, 1, 5, 3, 2}, DType::f64),
                       random_uniform(Shape{3, 1, 3, 3, 2}, DType::f64), random_uniform(Shape{3}, DType::f64)},
                      {true, true, true}, options_with_seed()));
}

TEST(Gradcheck, ConvTranspose) {
  const std::array<int, 3> stride{2, 1, 2};
  expect_ok(gradcheck(
      [&](Tape& tape, const std::vector<Var>& in) { return conv_transpose(tape, in[0], in[1], in[2], stride); },
      {random_uniform(Shape{2, 2, 3, 2, 3}, DType::f64), random_uniform(Shape{3, 2, 1, 2, 2}, DType::f64),
       random_uniform(Shape{2}, DType::f64)},
      {true, true, true}, options_with_seed()));
}

TEST(Gradcheck, InstanceNormLeakyRelu) {
  for (double slope : {0.01, 1.0}) {
    expect_ok(gradcheck(
        [&](Tape& tape, const std::vector<Var>& in) {
          return instance_norm_leaky_relu(tape, in[0], in[1], in[2], slope);
        },
        {random_uniform(Shape{2, 2, 3, 3, 3}, DType::f64), random_uniform(Shape{3}, DType::f64, 0.5, 1.5),
         random_uniform(Shape{3}, DType::f64)},
        {true, true, true}, options_with_seed()));
  }
}

TEST(Gradcheck, LeakyReluAvgPoolConcatAddScale) {
  auto opts = options_with_seed();
  expect_ok(gradcheck([](Tape& tape, const std::vector<Var>& in) { return leaky_relu(tape, in[0], 0.01); },
                      {random_uniform(Shape{2, 1, 3, 4, 3}, DType::f64)}, {true}, opts));
  expect_ok(gradcheck(
      [](Tape& tape, const std::vector<Var>& in) {
        return avg_pool(tape, in[0], {2, 1, 2});
      },
      {random_uniform(Shape{2, 4, 3, 4, 2}, DType::f64)}, {true}, opts));
  expect_ok(
      gradcheck([](Tape& tape, const std::vector<Var>& in) { return concat_channels(tape, in[0], in[1]); },
                {random_uniform(Shape{2, 1, 2, 3, 2}, DType::f64), random_uniform(Shape{2, 1, 2, 3, 3}, DType::f64)},
                {true, true}, opts));
  expect_ok(gradcheck([](Tape& tape, const std::vector<Var>& in) { return add(tape, in[0], scale(tape, in[1], -0.7)); },
                      {random_uniform(Shape{2, 3, 4}, DType::f64), random_uniform(Shape{2, 3, 4}, DType::f64)},
                      {true, true}, opts));
}

TEST(Gradcheck, CastThroughF32) {
  // f64 -> f32 -> f64 is the identity up to f32 rounding: a larger step keeps rounding noise small.
  GradcheckOptions opts = options_with_seed();
  opts.step = 1e-2;
  opts.atol = 1e-5;
  opts.rtol = 1e-4;
  expect_ok(gradcheck(
      [](Tape& tape, const std::vector<Var>& in) { return cast(tape, cast(tape, in[0], DType::f32), DType::f64); },
      {random_uniform(Shape{3, 5}, DType::f64)}, {true}, opts));
}

TEST(Gradcheck, DiceCeLossWithIgnoreAndBatchDice) {
  // Values 0..3: four classes without an ignore label, or classes 0..2 with 3 ignored.
  const Tensor labels = testing::random_labels(Shape{2, 2, 3, 3, 1}, DType::i16, 4);
  for (bool batch_dice : {false, true}) {
    for (int ignore : {kNoIgnoreLabel, 3}) {
      const int classes = ignore < 0 ? 4 : 3;
      expect_ok(gradcheck(
          [&](Tape& tape, const std::vector<Var>& in) { return dice_ce_loss(tape, in[0], labels, ignore, batch_dice); },
          {random_uniform(Shape{2, 2, 3, 3, classes}, DType::f64, -2, 2)}, {true}, options_with_seed()));
    }
  }
}

TEST(Gradcheck, RegionDiceBceLoss) {
  for (RegionIgnore ignore : {RegionIgnore::none, RegionIgnore::last_target_channel}) {
    const int regions = 2, channels = ignore == RegionIgnore::none ? 2 : 3;
    const Tensor targets = testing::random_labels(Shape{2, 2, 2, 3, channels}, DType::u8, 2);
    for (bool batch_dice : {false, true}) {
      expect_ok(gradcheck(
          [&](Tape& tape, const std::vector<Var>& in) {
            return region_dice_bce_loss(tape, in[0], targets, ignore, batch_dice);
          },
          {random_uniform(Shape{2, 2, 2, 3, regions}, DType::f64, -2, 2)}, {true}, options_with_seed()));
    }
  }
}

TEST(Gradcheck, DetectsAWrongGradient) {
  // A graph whose recorded backward is deliberately wrong must fail the check: the check can fail.
  auto wrong = [](Tape& tape, const std::vector<Var>& in) {
    const Context& ctx = tape.ctx();
    Tensor doubled = nnuc::scale(ctx, in[0].value(), 2.0);
    return tape.record("wrong", {in[0]}, std::move(doubled),
                       [&ctx](const std::vector<Tensor>& dy, const std::vector<bool>&) {
                         return std::vector<Tensor>{nnuc::scale(ctx, dy[0], 3.0)};
                       });
  };
  EXPECT_FALSE(gradcheck(wrong, {random_uniform(Shape{4}, DType::f64)}, {true}, options_with_seed()).ok);
}

TEST(GradcheckCoverage, EveryDifferentiableOpHasAGradcheck) {
  for (const char* op : kDifferentiableOps)
    EXPECT_TRUE(testing::gradcheck_covered_ops().count(op)) << "no gradcheck for differentiable op '" << op << "'";
}

}  // namespace
}  // namespace nnuc::autograd
