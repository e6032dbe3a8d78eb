// Entry points and CPU implementation of kernels/loss/dice_loss.h.
#include "kernels/loss/dice_loss.h"

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/loss/dice_loss_math.h"

namespace nnuc {

namespace cuda {
void soft_dice_loss_forward(const Context& ctx, const DiceSums& sums, const Tensor& voxel_sum,
                            const VoxelTermDenominator& denominator, const loss_detail::SoftDiceShape& shape,
                            const Tensor& loss);
void soft_dice_loss_backward(const Context& ctx, const Tensor& upstream, const DiceSums& sums,
                             const VoxelTermDenominator& denominator, const loss_detail::SoftDiceShape& shape,
                             const SoftDiceLossGrads& grads);
}  // namespace cuda

namespace cpu {
namespace {

template <typename T>
void forward_typed(const DiceSums& sums, const Tensor& voxel_sum, const VoxelTermDenominator& denominator,
                   const loss_detail::SoftDiceShape& shape, const Tensor& loss) {
  const double d =
      loss_detail::voxel_denominator(denominator.counted.defined() ? denominator.counted.data<T>() : nullptr,
                                     denominator.counted_floor, denominator.constant);
  loss.data<T>()[0] = static_cast<T>(loss_detail::soft_dice_loss_value(shape, sums.intersection.data<T>(),
                                                                       sums.prediction.data<T>(), sums.target.data<T>(),
                                                                       static_cast<double>(voxel_sum.data<T>()[0]), d));
}

template <typename T>
void backward_typed(const Tensor& upstream, const DiceSums& sums, const VoxelTermDenominator& denominator,
                    const loss_detail::SoftDiceShape& shape, const SoftDiceLossGrads& grads) {
  const double d =
      loss_detail::voxel_denominator(denominator.counted.defined() ? denominator.counted.data<T>() : nullptr,
                                     denominator.counted_floor, denominator.constant);
  const double dy = static_cast<double>(upstream.data<T>()[0]);
  loss_detail::soft_dice_loss_gradients(shape, sums.intersection.data<T>(), sums.prediction.data<T>(),
                                        sums.target.data<T>(), dy, grads.grad_intersection.data<T>(),
                                        grads.grad_prediction.data<T>());
  grads.voxel_scale.data<double>()[0] = d > 0 ? dy / d : 0.0;
}

}  // namespace

void soft_dice_loss_forward(const DiceSums& sums, const Tensor& voxel_sum, const VoxelTermDenominator& denominator,
                            const loss_detail::SoftDiceShape& shape, const Tensor& loss) {
  if (loss.dtype() == DType::f64) return forward_typed<double>(sums, voxel_sum, denominator, shape, loss);
  forward_typed<float>(sums, voxel_sum, denominator, shape, loss);
}

void soft_dice_loss_backward(const Tensor& upstream, const DiceSums& sums, const VoxelTermDenominator& denominator,
                             const loss_detail::SoftDiceShape& shape, const SoftDiceLossGrads& grads) {
  if (upstream.dtype() == DType::f64) return backward_typed<double>(upstream, sums, denominator, shape, grads);
  backward_typed<float>(upstream, sums, denominator, shape, grads);
}

}  // namespace cpu

namespace {

// Checks the arguments shared by forward and backward; returns the shape of the Dice mean.
loss_detail::SoftDiceShape check_sums(const Context& ctx, const DiceSums& sums, const VoxelTermDenominator& denominator,
                                      const SoftDiceLossConfig& config) {
  check_defined(sums.intersection, "intersection");
  check_device(sums.intersection, ctx, "intersection");
  const DType dtype = sums.intersection.dtype();
  NNUC_CHECK(dtype == DType::f64 || dtype == DType::f32, "soft Dice sums must be f32 or f64, got ",
             sums.intersection.describe());
  NNUC_CHECK(ctx.models() != Device::CUDA || dtype == DType::f32, "soft Dice sums on CUDA must be f32, got ",
             sums.intersection.describe());
  NNUC_CHECK(sums.intersection.rank() == 2, "soft Dice sums must be (N, K), got ", sums.intersection.describe());
  const Shape& shape = sums.intersection.shape();
  for (const auto& [tensor, name] : {std::pair{&sums.prediction, "prediction"}, std::pair{&sums.target, "target"}}) {
    check_dtype(*tensor, dtype, name);
    check_device(*tensor, ctx, name);
    check_shape(*tensor, shape, name);
  }
  if (denominator.counted.defined()) {
    check_dtype(denominator.counted, dtype, "counted");
    check_device(denominator.counted, ctx, "counted");
    check_shape(denominator.counted, Shape{1}, "counted");
  }
  NNUC_CHECK(config.first_class >= 0 && config.first_class <= shape[1], "soft Dice: first_class ", config.first_class,
             " outside [0, ", shape[1], "]");
  return {shape[0], shape[1], config.first_class, config.batch_dice};
}

void check_scalar(const Context& ctx, const Tensor& tensor, DType dtype, const char* name) {
  check_dtype(tensor, dtype, name);
  check_device(tensor, ctx, name);
  check_shape(tensor, Shape{1}, name);
}

}  // namespace

Tensor soft_dice_loss_forward(const Context& ctx, const DiceSums& sums, const Tensor& voxel_sum,
                              const VoxelTermDenominator& denominator, const SoftDiceLossConfig& config) {
  NNUC_RANGE("soft_dice_loss_forward");
  const loss_detail::SoftDiceShape shape = check_sums(ctx, sums, denominator, config);
  const DType dtype = sums.intersection.dtype();
  check_scalar(ctx, voxel_sum, dtype, "voxel_sum");
  Tensor loss = Tensor::empty(Shape{1}, dtype, ctx);
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::soft_dice_loss_forward(sums, voxel_sum, denominator, shape, loss); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::soft_dice_loss_forward(ctx, sums, voxel_sum, denominator, shape, loss));
      break;
  }
  return loss;
}

SoftDiceLossGrads soft_dice_loss_backward(const Context& ctx, const Tensor& upstream, const DiceSums& sums,
                                          const VoxelTermDenominator& denominator, const SoftDiceLossConfig& config) {
  NNUC_RANGE("soft_dice_loss_backward");
  const loss_detail::SoftDiceShape shape = check_sums(ctx, sums, denominator, config);
  const DType dtype = sums.intersection.dtype();
  check_scalar(ctx, upstream, dtype, "upstream");
  SoftDiceLossGrads grads;
  grads.grad_intersection = Tensor::empty(sums.intersection.shape(), dtype, ctx);
  grads.grad_prediction = Tensor::empty(sums.intersection.shape(), dtype, ctx);
  grads.voxel_scale = Tensor::empty(Shape{1}, DType::f64, ctx);
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::soft_dice_loss_backward(upstream, sums, denominator, shape, grads); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::soft_dice_loss_backward(ctx, upstream, sums, denominator, shape, grads));
      break;
  }
  return grads;
}

}  // namespace nnuc
