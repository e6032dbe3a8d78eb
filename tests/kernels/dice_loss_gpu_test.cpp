// kernels/loss/dice_loss.h on a GPU: the loss and the sum gradients, CUDA vs CPU on the same f32 sums
// at kSoftDiceLossTolerance (every first class, batch Dice and denominator rule); and the backward
// kernels' device-scalar CE / BCE scale against the host scale.
#include <algorithm>
#include <vector>

#include "kernels/loss/dice_loss.h"
#include "kernels/loss/region_loss.h"
#include "tests/support/coverage.h"
#include "tests/support/test_support.h"

NNUC_COVER_CUDA("soft_dice_loss_forward");
NNUC_COVER_CUDA("soft_dice_loss_backward");

namespace nnuc {
namespace {

Tensor positive(const Shape& shape, double low, double high) {
  return testing::random_uniform(shape, DType::f32, low, high);
}

DiceSums on(const Context& ctx, const DiceSums& sums) {
  return {sums.intersection.copy_to(ctx), sums.prediction.copy_to(ctx), sums.target.copy_to(ctx)};
}

TEST(SoftDiceLossGpu, MatchesTheCpu) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const Context& cpu = Context::cpu();
  const Tolerance tol = kSoftDiceLossTolerance;
  for (const Shape& shape : {Shape{2, 3}, Shape{1, 2}, Shape{4, 17}})
    for (const std::int64_t first : {0, 1})
      for (const bool batch : {false, true})
        for (const int rule : {0, 1, 2, 3}) {  // counted, counted with floor, constant, nothing counted
          const DiceSums sums{positive(shape, 0, 3), positive(shape, 3, 13), positive(shape, 0, 10)};
          const Tensor voxel_sum = positive(Shape{1}, 1, 50);
          const Tensor upstream = positive(Shape{1}, 0.25, 1.25);
          VoxelTermDenominator host_d;
          if (rule != 2)
            host_d.counted = rule == 3 ? testing::as_f32(Tensor::from_vector(Shape{1}, std::vector<double>{0}))
                                       : positive(Shape{1}, 1, 200);
          host_d.counted_floor = rule == 1 ? 1e-8 : 0.0;
          host_d.constant = 4096;
          VoxelTermDenominator device_d = host_d;
          if (host_d.counted.defined()) device_d.counted = host_d.counted.copy_to(gpu);
          const SoftDiceLossConfig config{first, batch};

          const Tensor expected = soft_dice_loss_forward(cpu, sums, voxel_sum, host_d, config);
          const Tensor actual = soft_dice_loss_forward(gpu, on(gpu, sums), voxel_sum.copy_to(gpu), device_d, config);
          EXPECT_TRUE(testing::all_close(actual, expected, tol.atol, tol.rtol)) << shape.str() << " rule " << rule;

          const SoftDiceLossGrads want = soft_dice_loss_backward(cpu, upstream, sums, host_d, config);
          const SoftDiceLossGrads got =
              soft_dice_loss_backward(gpu, upstream.copy_to(gpu), on(gpu, sums), device_d, config);
          EXPECT_TRUE(testing::all_close(got.grad_intersection, want.grad_intersection, tol.atol, tol.rtol));
          EXPECT_TRUE(testing::all_close(got.grad_prediction, want.grad_prediction, tol.atol, tol.rtol));
          EXPECT_TRUE(testing::all_close(got.voxel_scale, want.voxel_scale, tol.atol, tol.rtol));
        }
}

TEST(SoftDiceLossGpu, DeviceScalarScaleMatchesTheHostScale) {
  NNUC_REQUIRE_GPU();
  Context& gpu = *testing::gpu();
  const double scale = 0.3 + std::uniform_real_distribution<double>(0, 1)(testing::rng());
  const Tensor scale_tensor = Tensor::from_vector(Shape{1}, std::vector<double>{scale}).copy_to(gpu);
  for (const DType dtype : {DType::f32, DType::bf16}) {
    const Shape shape{2, 3, 9, 11, 3};
    const Tensor logits = testing::to_device(testing::random_uniform(shape, DType::f32, -3.0, 3.0), dtype);
    const Tensor labels = testing::random_labels(Shape{2, 3, 9, 11, 1}, DType::i16, 3).copy_to(gpu);
    const Tensor gi = positive(Shape{2, 3}, -1, 1).copy_to(gpu), gp = positive(Shape{2, 3}, -1, 1).copy_to(gpu);
    const Tensor host_scaled = dice_ce_backward(gpu, logits, labels, kNoIgnoreLabel, scale, gi, gp);
    const Tensor device_scaled = dice_ce_backward(gpu, logits, labels, kNoIgnoreLabel, scale_tensor, gi, gp);
    EXPECT_EQ(testing::compare(device_scaled, host_scaled).max_abs, 0.0) << dtype_name(dtype);
    const Tensor targets = testing::random_labels(shape, DType::u8, 2).copy_to(gpu);
    const Tensor region_host = region_loss_backward(gpu, logits, targets, RegionIgnore::none, scale, gi, gp);
    const Tensor region_device = region_loss_backward(gpu, logits, targets, RegionIgnore::none, scale_tensor, gi, gp);
    EXPECT_EQ(testing::compare(region_device, region_host).max_abs, 0.0) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace nnuc
