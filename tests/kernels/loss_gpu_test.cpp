// kernels/loss on a GPU: every op of loss.h and region_loss.h, CUDA vs CPU in f32 and bf16 at the
// tolerances loss.h declares (the CPU runs on the bf16-rounded values the device holds), outputs
// drawn from a poisoned pool, repeatability of the reductions, NaN for labels out of range, and CUDA vs
// Meta allocator peaks.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/core/allocator.h"
#include "kernels/loss/loss.h"
#include "kernels/loss/region_loss.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("softmax_channels");
NNUC_COVER_CUDA("argmax_channels");
NNUC_COVER_CUDA("cross_entropy_forward");
NNUC_COVER_CUDA("cross_entropy_backward");
NNUC_COVER_CUDA("dice_sums_forward");
NNUC_COVER_CUDA("dice_sums_backward");
NNUC_COVER_CUDA("dice_ce_forward");
NNUC_COVER_CUDA("dice_ce_backward");
NNUC_COVER_CUDA("bce_with_logits_forward");
NNUC_COVER_CUDA("bce_with_logits_backward");
NNUC_COVER_CUDA("sigmoid_dice_sums_forward");
NNUC_COVER_CUDA("sigmoid_dice_sums_backward");
NNUC_COVER_CUDA("region_loss_forward");
NNUC_COVER_CUDA("region_loss_backward");

namespace nnuc {
namespace {

// (N, D, H, W, K): odd sizes, 2-D, batch > 1, K = 2..5, one voxel, K = 13 (two class chunks, the second
// partial), K = 17 (three), several blocks per sample, and more voxels than 1024 blocks cover at
// 8 voxels per thread (the grid-stride loop runs longer).
const std::vector<Shape> kShapes = {
    Shape{2, 3, 17, 19, 3}, Shape{1, 1, 33, 31, 2}, Shape{3, 2, 5, 7, 5},    Shape{2, 5, 9, 11, 13},
    Shape{1, 1, 1, 1, 4},   Shape{2, 2, 3, 3, 17},  Shape{2, 16, 64, 64, 3}, Shape{1, 32, 256, 260, 2},
};

struct Case {
  DType dtype;
  Shape shape;
  int ignore_label;  // kNoIgnoreLabel or K
  std::string str() const {
    return std::string(dtype_name(dtype)) + " " + shape.str() + " ignore " + std::to_string(ignore_label);
  }
  RegionIgnore region_ignore() const {
    return ignore_label < 0 ? RegionIgnore::none : RegionIgnore::last_target_channel;
  }
  Shape per_class() const { return Shape{shape[0], shape[4]}; }
};

std::vector<Case> cases() {
  std::vector<Case> all;
  for (DType dtype : {DType::f32, DType::bf16})
    for (const Shape& shape : kShapes)
      for (bool ignore : {false, true})
        all.push_back(Case{dtype, shape, ignore ? static_cast<int>(shape[4]) : kNoIgnoreLabel});
  return all;
}

// The loss's two tolerances for one dtype: sums and elementwise values.
struct LossTolerances {
  Tolerance sums, values;
};
LossTolerances tolerance(DType dtype) {
  return dtype == DType::bf16 ? LossTolerances{kLossSumToleranceBf16, kLossValueToleranceBf16}
                              : LossTolerances{kLossSumToleranceF32, kLossValueToleranceF32};
}

// Inputs as host tensors (the CPU's) and their device copies holding the same values.
struct Inputs {
  Tensor logits, labels, targets, grad_i, grad_p;                                     // host; logits f32 as stored
  Tensor device_logits, device_labels, device_targets, device_grad_i, device_grad_p;  // CUDA
};

Inputs make_inputs(const Case& c) {
  Inputs in;
  const Tensor logits = testing::random_uniform(c.shape, DType::f32, -4, 4);
  in.logits = c.dtype == DType::bf16 ? testing::round_to_bf16(logits) : logits;
  const Shape labels_shape{c.shape[0], c.shape[1], c.shape[2], c.shape[3], 1};
  in.labels =
      testing::random_labels(labels_shape, DType::i16, static_cast<int>(c.shape[4]) + (c.ignore_label < 0 ? 0 : 1));
  const Shape targets_shape{c.shape[0], c.shape[1], c.shape[2], c.shape[3], c.shape[4] + (c.ignore_label < 0 ? 0 : 1)};
  in.targets = testing::random_labels(targets_shape, DType::u8, 2);
  const double spread = 1.0 / static_cast<double>(c.shape[0] * c.shape[4]);  // like ∂(mean dc)/∂I
  in.grad_i = testing::random_uniform(c.per_class(), DType::f32, -spread, spread);
  in.grad_p = testing::random_uniform(c.per_class(), DType::f32, -spread, spread);
  in.device_logits = testing::to_device(in.logits, c.dtype);
  Context& gpu = *testing::gpu();
  in.device_labels = in.labels.copy_to(gpu);
  in.device_targets = in.targets.copy_to(gpu);
  in.device_grad_i = in.grad_i.copy_to(gpu);
  in.device_grad_p = in.grad_p.copy_to(gpu);
  return in;
}

// The ops allocate outputs (and the forward's workspace) from the stream-ordered pool: fill blocks of
// those sizes with NaN and hand them back, so that an unwritten element (or an unwritten partial that
// is read) most likely shows up as NaN.
void poison_pool(const Case& c) {
  std::vector<Tensor> blocks;
  const std::vector<std::pair<Shape, DType>> outputs = {
      {c.shape, c.dtype},
      {Shape{static_cast<std::int64_t>(loss_workspace_bytes(c.shape, Device::CUDA) / 4)}, DType::f32},
      {Shape{1}, DType::f32},
      {Shape{1}, DType::f32},
      {c.per_class(), DType::f32},
      {c.per_class(), DType::f32},
      {c.per_class(), DType::f32}};
  for (const auto& [shape, dtype] : outputs) {
    blocks.push_back(Tensor::empty(shape, dtype, *testing::gpu()));
    testing::poison(blocks.back());
  }
}

::testing::AssertionResult sums_close(const Tensor& device, const Tensor& expected, const LossTolerances& tol) {
  if (device.device() != Device::CUDA) return ::testing::AssertionFailure() << "not on CUDA: " << device.describe();
  return testing::all_close(device.to_cpu(), expected, tol.sums.atol, tol.sums.rtol);
}

::testing::AssertionResult values_close(const Tensor& device, const Tensor& expected, const LossTolerances& tol) {
  if (device.device() != Device::CUDA) return ::testing::AssertionFailure() << "not on CUDA: " << device.describe();
  double largest = 0;
  for (double value : expected.to_vector<double>()) largest = std::max(largest, std::fabs(value));
  return testing::all_close(testing::to_host_f32(device), expected, tol.values.atol * largest, tol.values.rtol);
}

void expect_dice_close(const DiceSums& device, const DiceSums& expected, const LossTolerances& tol) {
  EXPECT_TRUE(sums_close(device.intersection, expected.intersection, tol)) << "intersection";
  EXPECT_TRUE(sums_close(device.prediction, expected.prediction, tol)) << "prediction";
  EXPECT_TRUE(testing::all_close(device.target.to_cpu(), expected.target, 0, 0)) << "target (exact counts)";
}

TEST(LossGpu, SoftmaxAndArgmaxMatchCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  for (const Case& c : cases()) {
    if (c.ignore_label >= 0) continue;  // no labels involved
    SCOPED_TRACE(c.str());
    const Inputs in = make_inputs(c);
    poison_pool(c);
    const Tensor p = softmax_channels(gpu, in.device_logits);
    ASSERT_EQ(p.dtype(), c.dtype);
    EXPECT_TRUE(values_close(p, softmax_channels(Context::cpu(), in.logits), tolerance(c.dtype)));
    poison_pool(c);
    const Tensor a = argmax_channels(gpu, in.device_logits);
    EXPECT_TRUE(testing::all_close(a.to_cpu(), argmax_channels(Context::cpu(), in.logits), 0, 0));  // exact, ties too
  }
}

TEST(LossGpu, SoftmaxForwardSumsMatchCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.str());
    const Inputs in = make_inputs(c);
    const LossTolerances tol = tolerance(c.dtype);
    const DiceCrossEntropySums expected = dice_ce_forward(Context::cpu(), in.logits, in.labels, c.ignore_label);
    poison_pool(c);
    const DiceCrossEntropySums fused = dice_ce_forward(gpu, in.device_logits, in.device_labels, c.ignore_label);
    EXPECT_TRUE(sums_close(fused.cross_entropy.loss_sum, expected.cross_entropy.loss_sum, tol)) << "fused CE";
    EXPECT_TRUE(testing::all_close(fused.cross_entropy.counted.to_cpu(), expected.cross_entropy.counted, 0, 0));
    expect_dice_close(fused.dice, expected.dice, tol);
    poison_pool(c);
    const CrossEntropySums ce = cross_entropy_forward(gpu, in.device_logits, in.device_labels, c.ignore_label);
    EXPECT_TRUE(sums_close(ce.loss_sum, expected.cross_entropy.loss_sum, tol)) << "CE";
    EXPECT_TRUE(testing::all_close(ce.counted.to_cpu(), expected.cross_entropy.counted, 0, 0));
    poison_pool(c);
    expect_dice_close(dice_sums_forward(gpu, in.device_logits, in.device_labels, c.ignore_label), expected.dice, tol);
  }
}

TEST(LossGpu, RegionForwardSumsMatchCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.str());
    const Inputs in = make_inputs(c);
    const LossTolerances tol = tolerance(c.dtype);
    const RegionIgnore ignore = c.region_ignore();
    const RegionLossSums expected = region_loss_forward(Context::cpu(), in.logits, in.targets, ignore);
    poison_pool(c);
    const RegionLossSums fused = region_loss_forward(gpu, in.device_logits, in.device_targets, ignore);
    EXPECT_TRUE(sums_close(fused.bce.loss_sum, expected.bce.loss_sum, tol)) << "fused BCE";
    EXPECT_TRUE(testing::all_close(fused.bce.counted.to_cpu(), expected.bce.counted, 0, 0));
    expect_dice_close(fused.dice, expected.dice, tol);
    poison_pool(c);
    const BceSums bce = bce_with_logits_forward(gpu, in.device_logits, in.device_targets, ignore);
    EXPECT_TRUE(sums_close(bce.loss_sum, expected.bce.loss_sum, tol)) << "BCE";
    EXPECT_TRUE(testing::all_close(bce.counted.to_cpu(), expected.bce.counted, 0, 0));
    poison_pool(c);
    expect_dice_close(sigmoid_dice_sums_forward(gpu, in.device_logits, in.device_targets, ignore), expected.dice, tol);
  }
}

TEST(LossGpu, BackwardsMatchCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Context& cpu = Context::cpu();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.str());
    const Inputs in = make_inputs(c);
    const LossTolerances tol = tolerance(c.dtype);
    const int ignore = c.ignore_label;
    const RegionIgnore region = c.region_ignore();
    const double scale = 1.0 / static_cast<double>(c.shape.numel() / c.shape[4]);  // 1 / voxels, as a CE mean
    const std::vector<std::pair<std::string, std::function<Tensor(const Context&, bool)>>> ops = {
        {"cross_entropy_backward",
         [&](const Context& ctx, bool dev) {
           return cross_entropy_backward(ctx, dev ? in.device_logits : in.logits, dev ? in.device_labels : in.labels,
                                         ignore, scale);
         }},
        {"dice_sums_backward",
         [&](const Context& ctx, bool dev) {
           return dice_sums_backward(ctx, dev ? in.device_logits : in.logits, dev ? in.device_labels : in.labels,
                                     ignore, dev ? in.device_grad_i : in.grad_i, dev ? in.device_grad_p : in.grad_p);
         }},
        {"dice_ce_backward",
         [&](const Context& ctx, bool dev) {
           return dice_ce_backward(ctx, dev ? in.device_logits : in.logits, dev ? in.device_labels : in.labels, ignore,
                                   scale, dev ? in.device_grad_i : in.grad_i, dev ? in.device_grad_p : in.grad_p);
         }},
        {"bce_with_logits_backward",
         [&](const Context& ctx, bool dev) {
           return bce_with_logits_backward(ctx, dev ? in.device_logits : in.logits,
                                           dev ? in.device_targets : in.targets, region, scale);
         }},
        {"sigmoid_dice_sums_backward",
         [&](const Context& ctx, bool dev) {
           return sigmoid_dice_sums_backward(ctx, dev ? in.device_logits : in.logits,
                                             dev ? in.device_targets : in.targets, region,
                                             dev ? in.device_grad_i : in.grad_i, dev ? in.device_grad_p : in.grad_p);
         }},
        {"region_loss_backward",
         [&](const Context& ctx, bool dev) {
           return region_loss_backward(ctx, dev ? in.device_logits : in.logits, dev ? in.device_targets : in.targets,
                                       region, scale, dev ? in.device_grad_i : in.grad_i,
                                       dev ? in.device_grad_p : in.grad_p);
         }},
    };
    for (const auto& [name, op] : ops) {
      const Tensor expected = op(cpu, false);
      poison_pool(c);
      const Tensor grad = op(gpu, true);
      ASSERT_EQ(grad.dtype(), c.dtype) << name;
      ASSERT_EQ(grad.shape(), c.shape) << name;
      EXPECT_TRUE(values_close(grad, expected, tol)) << name;
    }
  }
}

// Partials are added in a fixed order without atomics: two runs give the same bits.
TEST(LossGpu, ForwardSumsAreRepeatable) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Case c{DType::bf16, Shape{2, 16, 64, 64, 13}, 13};
  const Inputs in = make_inputs(c);
  const DiceCrossEntropySums a = dice_ce_forward(gpu, in.device_logits, in.device_labels, c.ignore_label);
  const DiceCrossEntropySums b = dice_ce_forward(gpu, in.device_logits, in.device_labels, c.ignore_label);
  EXPECT_EQ(a.cross_entropy.loss_sum.to_vector<float>(), b.cross_entropy.loss_sum.to_vector<float>());
  EXPECT_EQ(a.dice.intersection.to_vector<float>(), b.dice.intersection.to_vector<float>());
  EXPECT_EQ(a.dice.prediction.to_vector<float>(), b.dice.prediction.to_vector<float>());
  const RegionLossSums r1 = region_loss_forward(gpu, in.device_logits, in.device_targets, c.region_ignore());
  const RegionLossSums r2 = region_loss_forward(gpu, in.device_logits, in.device_targets, c.region_ignore());
  EXPECT_EQ(r1.bce.loss_sum.to_vector<float>(), r2.bce.loss_sum.to_vector<float>());
  EXPECT_EQ(r1.dice.prediction.to_vector<float>(), r2.dice.prediction.to_vector<float>());
}

// On CUDA a label outside [0, K) that is not the ignore label turns the sums and its voxel's grads NaN.
TEST(LossGpu, LabelOutOfRangeTurnsNaN) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Shape shape{1, 1, 2, 3, 3};
  const Tensor logits = testing::to_device(testing::random_uniform(shape, DType::f32, -1, 1), DType::f32);
  const Tensor labels =
      Tensor::from_vector(Shape{1, 1, 2, 3, 1}, std::vector<std::int16_t>{0, 1, 2, -1, 1, 0}).copy_to(gpu);
  const DiceCrossEntropySums sums = dice_ce_forward(gpu, logits, labels, kNoIgnoreLabel);
  EXPECT_TRUE(std::isnan(sums.cross_entropy.loss_sum.to_vector<float>()[0]));
  for (float value : sums.dice.prediction.to_vector<float>()) EXPECT_TRUE(std::isnan(value));
  const std::vector<float> grad = cross_entropy_backward(gpu, logits, labels, kNoIgnoreLabel, 1.0).to_vector<float>();
  for (int i = 0; i < 18; ++i) EXPECT_EQ(std::isnan(grad[i]), i / 3 == 3) << i;
}

using testing::peak_bytes_of;

TEST(LossGpu, CudaPeakEqualsMeta) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  auto meta = Context::meta(Device::CUDA);
  const Case c{DType::bf16, Shape{2, 5, 9, 11, 13}, 13};
  const Inputs in = make_inputs(c);
  const auto on_meta = [&](const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), *meta); };
  const Tensor logits = on_meta(in.device_logits), labels = on_meta(in.device_labels),
               targets = on_meta(in.device_targets), gi = on_meta(in.device_grad_i), gp = on_meta(in.device_grad_p);
  const RegionIgnore region = c.region_ignore();
  EXPECT_EQ(peak_bytes_of(gpu, [&] { dice_ce_forward(gpu, in.device_logits, in.device_labels, 13); }),
            peak_bytes_of(*meta, [&] { dice_ce_forward(*meta, logits, labels, 13); }));
  EXPECT_EQ(peak_bytes_of(gpu, [&] { cross_entropy_forward(gpu, in.device_logits, in.device_labels, 13); }),
            peak_bytes_of(*meta, [&] { cross_entropy_forward(*meta, logits, labels, 13); }));
  EXPECT_EQ(peak_bytes_of(gpu,
                          [&] {
                            dice_ce_backward(gpu, in.device_logits, in.device_labels, 13, 1, in.device_grad_i,
                                             in.device_grad_p);
                          }),
            peak_bytes_of(*meta, [&] { dice_ce_backward(*meta, logits, labels, 13, 1, gi, gp); }));
  EXPECT_EQ(peak_bytes_of(gpu, [&] { region_loss_forward(gpu, in.device_logits, in.device_targets, region); }),
            peak_bytes_of(*meta, [&] { region_loss_forward(*meta, logits, targets, region); }));
  EXPECT_EQ(peak_bytes_of(gpu, [&] { softmax_channels(gpu, in.device_logits); }),
            peak_bytes_of(*meta, [&] { softmax_channels(*meta, logits); }));
}

}  // namespace
}  // namespace nnuc
