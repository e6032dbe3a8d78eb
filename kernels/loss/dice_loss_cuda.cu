// CUDA implementation of kernels/loss/dice_loss.h: one thread evaluates dice_loss_math.h on the (N, K)
// sums (a few hundred values at most), so the loss and its sum gradients never leave the device.
#include <cuda_runtime.h>

#include "kernels/core/cuda_check.h"
#include "kernels/elementwise/cuda_util.cuh"
#include "kernels/loss/dice_loss.h"
#include "kernels/loss/dice_loss_math.h"

namespace nnuc::cuda {

namespace {

using loss_detail::SoftDiceShape;

__global__ void soft_dice_loss_forward_kernel(SoftDiceShape shape, const float* intersection, const float* prediction,
                                              const float* target, const float* voxel_sum, const float* counted,
                                              double counted_floor, double constant, float* loss) {
  const double d = loss_detail::voxel_denominator(counted, counted_floor, constant);
  *loss = static_cast<float>(
      loss_detail::soft_dice_loss_value(shape, intersection, prediction, target, static_cast<double>(*voxel_sum), d));
}

__global__ void soft_dice_loss_backward_kernel(SoftDiceShape shape, const float* upstream, const float* intersection,
                                               const float* prediction, const float* target, const float* counted,
                                               double counted_floor, double constant, float* grad_i, float* grad_p,
                                               double* voxel_scale) {
  const double d = loss_detail::voxel_denominator(counted, counted_floor, constant);
  const double dy = static_cast<double>(*upstream);
  loss_detail::soft_dice_loss_gradients(shape, intersection, prediction, target, dy, grad_i, grad_p);
  *voxel_scale = d > 0 ? dy / d : 0.0;
}

const float* counted_of(const VoxelTermDenominator& denominator) {
  return denominator.counted.defined() ? denominator.counted.data<float>() : nullptr;
}

}  // namespace

void soft_dice_loss_forward(const Context& ctx, const DiceSums& sums, const Tensor& voxel_sum,
                            const VoxelTermDenominator& denominator, const SoftDiceShape& shape, const Tensor& loss) {
  soft_dice_loss_forward_kernel<<<1, 1, 0, stream_of(ctx)>>>(
      shape, sums.intersection.data<float>(), sums.prediction.data<float>(), sums.target.data<float>(),
      voxel_sum.data<float>(), counted_of(denominator), denominator.counted_floor, denominator.constant,
      loss.data<float>());
  CUDA_CHECK_LAUNCH();
}

void soft_dice_loss_backward(const Context& ctx, const Tensor& upstream, const DiceSums& sums,
                             const VoxelTermDenominator& denominator, const SoftDiceShape& shape,
                             const SoftDiceLossGrads& grads) {
  soft_dice_loss_backward_kernel<<<1, 1, 0, stream_of(ctx)>>>(
      shape, upstream.data<float>(), sums.intersection.data<float>(), sums.prediction.data<float>(),
      sums.target.data<float>(), counted_of(denominator), denominator.counted_floor, denominator.constant,
      grads.grad_intersection.data<float>(), grads.grad_prediction.data<float>(), grads.voxel_scale.data<double>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace nnuc::cuda
