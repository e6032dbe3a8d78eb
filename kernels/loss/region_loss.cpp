// Public entry points of kernels/loss/region_loss.h: argument checks, allocation (also on Meta), dispatch.
#include "kernels/loss/region_loss.h"

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/loss/loss_impl.h"

namespace nnuc {

namespace {

using loss_detail::BackwardTerms;
using loss_detail::SumOutputs;

void check_targets(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore) {
  check_dtype(targets, DType::u8, "targets");
  check_device(targets, ctx, "targets");
  const std::int64_t channels = logits.dim(4) + (ignore == RegionIgnore::last_target_channel ? 1 : 0);
  const Shape expected{logits.dim(0), logits.dim(1), logits.dim(2), logits.dim(3), channels};
  NNUC_CHECK(targets.shape() == expected, "targets must have shape ", expected.str(), " (R = ", logits.dim(4),
             " regions", ignore == RegionIgnore::last_target_channel ? " + the ignore channel" : "", "), got ",
             targets.describe());
}

RegionLossSums forward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore, bool bce,
                       bool dice) {
  loss_detail::check_logits(ctx, logits);
  check_targets(ctx, logits, targets, ignore);
  const SumOutputs out = loss_detail::allocate_sums(ctx, logits, bce, dice);
  const Tensor workspace = loss_detail::allocate_workspace(ctx, logits);
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::region_loss_forward(logits, targets, ignore, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::region_loss_forward(ctx, logits, targets, ignore, out, workspace)); break;
  }
  return {{out.loss_sum, out.counted}, {out.intersection, out.prediction, out.target}};
}

Tensor backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                const BackwardTerms& terms) {
  loss_detail::check_logits(ctx, logits);
  check_targets(ctx, logits, targets, ignore);
  if (terms.dice()) {
    loss_detail::check_sum_grad(ctx, logits, terms.grad_intersection, "grad_intersection");
    loss_detail::check_sum_grad(ctx, logits, terms.grad_prediction, "grad_prediction");
  }
  Tensor grad_logits = Tensor::empty(logits.shape(), logits.dtype(), ctx);  // (N, D, H, W, R)
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::region_loss_backward(logits, targets, ignore, terms, grad_logits); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::region_loss_backward(ctx, logits, targets, ignore, terms, grad_logits));
      break;
  }
  return grad_logits;
}

}  // namespace

BceSums bce_with_logits_forward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore) {
  NNUC_RANGE("bce_with_logits_forward");
  return forward(ctx, logits, targets, ignore, true, false).bce;
}

Tensor bce_with_logits_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                                double scale) {
  NNUC_RANGE("bce_with_logits_backward");
  BackwardTerms terms;
  terms.loss_scale = scale;
  return backward(ctx, logits, targets, ignore, terms);
}

DiceSums sigmoid_dice_sums_forward(const Context& ctx, const Tensor& logits, const Tensor& targets,
                                   RegionIgnore ignore) {
  NNUC_RANGE("sigmoid_dice_sums_forward");
  return forward(ctx, logits, targets, ignore, false, true).dice;
}

Tensor sigmoid_dice_sums_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                                  const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("sigmoid_dice_sums_backward");
  return backward(ctx, logits, targets, ignore, loss_detail::dice_terms(0.0, grad_intersection, grad_prediction));
}

RegionLossSums region_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& targets,
                                   RegionIgnore ignore) {
  NNUC_RANGE("region_loss_forward");
  return forward(ctx, logits, targets, ignore, true, true);
}

Tensor region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                            double bce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("region_loss_backward");
  return backward(ctx, logits, targets, ignore, loss_detail::dice_terms(bce_scale, grad_intersection, grad_prediction));
}

Tensor region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                            const Tensor& bce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("region_loss_backward");
  return backward(ctx, logits, targets, ignore,
                  loss_detail::dice_terms(ctx, bce_scale, grad_intersection, grad_prediction));
}

}  // namespace nnuc
