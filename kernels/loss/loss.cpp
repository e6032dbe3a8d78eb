// Public entry points of kernels/loss/loss.h: argument checks, allocation (also on Meta), dispatch.
#include "kernels/loss/loss.h"

#include <cstdint>
#include <string>

#include "kernels/core/nvtx.h"
#include "kernels/elementwise/dispatch.h"
#include "kernels/loss/loss_impl.h"

namespace nnuc {

namespace loss_detail {

void check_logits(const Context& ctx, const Tensor& logits) {
  check_defined(logits, "logits");
  check_device(logits, ctx, "logits");
  NNUC_CHECK(logits.rank() == 5, "logits must be 5-D (N, D, H, W, K) channels-last, got ", logits.describe());
  for (int axis = 0; axis < 5; ++axis)
    NNUC_CHECK(logits.dim(axis) >= 1, "logits must have every dim >= 1, got ", logits.describe());
  if (ctx.models() == Device::CUDA) {
    NNUC_CHECK(logits.dtype() == DType::f32 || logits.dtype() == DType::bf16,
               "logits on CUDA must be f32 or bf16, got ", logits.describe());
    NNUC_CHECK(logits.dim(0) <= 65535, "logits: batch ", logits.dim(0), " exceeds the CUDA grid limit 65535");
    NNUC_CHECK(class_chunks(logits.dim(4)) <= 65535, "logits: ", logits.dim(4), " channels exceed the CUDA grid limit ",
               65535 * kClassChunk);
  } else {
    NNUC_CHECK(logits.dtype() == DType::f32 || logits.dtype() == DType::f64,
               "logits on the CPU must be f32 or f64, got ", logits.describe());
  }
}

DType sums_dtype(DType logits_dtype) { return logits_dtype == DType::f64 ? DType::f64 : DType::f32; }

void check_sum_grad(const Context& ctx, const Tensor& logits, const Tensor& grad, const char* name) {
  check_dtype(grad, sums_dtype(logits.dtype()), name);
  check_device(grad, ctx, name);
  check_shape(grad, Shape{logits.dim(0), logits.dim(4)}, name);
}

SumOutputs allocate_sums(const Context& ctx, const Tensor& logits, bool loss, bool dice) {
  const DType dtype = sums_dtype(logits.dtype());
  SumOutputs out;
  if (loss) {
    out.loss_sum = Tensor::empty(Shape{1}, dtype, ctx);
    out.counted = Tensor::empty(Shape{1}, dtype, ctx);
  }
  if (dice) {
    const Shape per_class{logits.dim(0), logits.dim(4)};
    out.intersection = Tensor::empty(per_class, dtype, ctx);
    out.prediction = Tensor::empty(per_class, dtype, ctx);
    out.target = Tensor::empty(per_class, dtype, ctx);
  }
  return out;
}

BackwardTerms dice_terms(double loss_scale, const Tensor& grad_intersection, const Tensor& grad_prediction) {
  check_defined(grad_intersection, "grad_intersection");
  check_defined(grad_prediction, "grad_prediction");
  BackwardTerms terms;
  terms.loss_scale = loss_scale;
  terms.grad_intersection = grad_intersection;
  terms.grad_prediction = grad_prediction;
  return terms;
}

BackwardTerms dice_terms(const Context& ctx, const Tensor& loss_scale, const Tensor& grad_intersection,
                         const Tensor& grad_prediction) {
  check_defined(loss_scale, "loss_scale");
  check_dtype(loss_scale, DType::f64, "loss_scale");
  check_device(loss_scale, ctx, "loss_scale");
  check_shape(loss_scale, Shape{1}, "loss_scale");
  BackwardTerms terms = dice_terms(1.0, grad_intersection, grad_prediction);
  terms.loss_scale_factor = loss_scale;
  return terms;
}

// The CUDA forward's partial sums; nothing on the CPU. Allocated on Meta too, so that a Meta run
// modelling CUDA peaks where the real one does.
Tensor allocate_workspace(const Context& ctx, const Tensor& logits) {
  if (ctx.models() != Device::CUDA) return Tensor();
  return Tensor::empty(Shape{workspace_elements(logits.shape())}, DType::f32, ctx);
}

namespace {

void check_labels(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label) {
  check_dtype(labels, DType::i16, "labels");
  check_device(labels, ctx, "labels");
  check_shape(labels, Shape{logits.dim(0), logits.dim(1), logits.dim(2), logits.dim(3), 1}, "labels");
  NNUC_CHECK(ignore_label <= INT16_MAX, "ignore_label ", ignore_label, " does not fit the i16 labels");
  if (ctx.device() != Device::CPU) return;  // on CUDA a bad label surfaces as NaN (see loss.h)
  const std::int16_t* values = labels.data<std::int16_t>();
  const std::int64_t classes = logits.dim(4);
  for (std::int64_t index = 0; index < labels.numel(); ++index) {
    const int label = values[index];
    const bool ignored = ignore_label >= 0 && label == ignore_label;
    NNUC_CHECK(ignored || (label >= 0 && label < classes), "labels[", index, "] = ", label, " is outside [0, ", classes,
               ")", ignore_label >= 0 ? " and is not the ignore label " : " (no ignore label)",
               ignore_label >= 0 ? std::to_string(ignore_label) : std::string());
  }
}

DiceCrossEntropySums softmax_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& labels,
                                          int ignore_label, bool cross_entropy, bool dice) {
  check_logits(ctx, logits);
  check_labels(ctx, logits, labels, ignore_label);
  const SumOutputs out = allocate_sums(ctx, logits, cross_entropy, dice);
  const Tensor workspace = allocate_workspace(ctx, logits);
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::softmax_loss_forward(logits, labels, ignore_label, out); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::softmax_loss_forward(ctx, logits, labels, ignore_label, out, workspace));
      break;
  }
  return {{out.loss_sum, out.counted}, {out.intersection, out.prediction, out.target}};
}

Tensor softmax_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                             const BackwardTerms& terms) {
  check_logits(ctx, logits);
  check_labels(ctx, logits, labels, ignore_label);
  if (terms.dice()) {
    check_sum_grad(ctx, logits, terms.grad_intersection, "grad_intersection");
    check_sum_grad(ctx, logits, terms.grad_prediction, "grad_prediction");
  }
  Tensor grad_logits = Tensor::empty(logits.shape(), logits.dtype(), ctx);  // (N, D, H, W, K)
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::softmax_loss_backward(logits, labels, ignore_label, terms, grad_logits); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::softmax_loss_backward(ctx, logits, labels, ignore_label, terms, grad_logits));
      break;
  }
  return grad_logits;
}

}  // namespace
}  // namespace loss_detail

std::size_t loss_workspace_bytes(const Shape& logits_shape, Device device) {
  NNUC_CHECK(device != Device::Meta, "loss_workspace_bytes: name the real device (CPU or CUDA) a Meta run models");
  NNUC_CHECK(logits_shape.rank() == 5, "loss_workspace_bytes: logits shape must be 5-D, got ", logits_shape.str());
  if (device != Device::CUDA) return 0;
  return static_cast<std::size_t>(loss_detail::workspace_elements(logits_shape)) * sizeof(float);
}

Tensor softmax_channels(const Context& ctx, const Tensor& logits) {
  NNUC_RANGE("softmax_channels");
  loss_detail::check_logits(ctx, logits);
  Tensor probabilities = Tensor::empty(logits.shape(), logits.dtype(), ctx);  // (N, D, H, W, K)
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::softmax_channels(logits, probabilities); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::softmax_channels(ctx, logits, probabilities)); break;
  }
  return probabilities;
}

Tensor argmax_channels(const Context& ctx, const Tensor& logits) {
  NNUC_RANGE("argmax_channels");
  loss_detail::check_logits(ctx, logits);
  NNUC_CHECK(logits.dim(4) <= INT16_MAX, "argmax_channels: ", logits.dim(4), " classes do not fit i16 labels");
  const Shape& shape = logits.shape();
  Tensor classes = Tensor::empty(Shape{shape[0], shape[1], shape[2], shape[3], 1}, DType::i16, ctx);
  switch (ctx.device()) {
    case Device::Meta: break;
    case Device::CPU: cpu::argmax_channels(logits, classes); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::argmax_channels(ctx, logits, classes)); break;
  }
  return classes;
}

CrossEntropySums cross_entropy_forward(const Context& ctx, const Tensor& logits, const Tensor& labels,
                                       int ignore_label) {
  NNUC_RANGE("cross_entropy_forward");
  return loss_detail::softmax_loss_forward(ctx, logits, labels, ignore_label, true, false).cross_entropy;
}

Tensor cross_entropy_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                              double scale) {
  NNUC_RANGE("cross_entropy_backward");
  loss_detail::BackwardTerms terms;
  terms.loss_scale = scale;
  return loss_detail::softmax_loss_backward(ctx, logits, labels, ignore_label, terms);
}

DiceSums dice_sums_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label) {
  NNUC_RANGE("dice_sums_forward");
  return loss_detail::softmax_loss_forward(ctx, logits, labels, ignore_label, false, true).dice;
}

Tensor dice_sums_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                          const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("dice_sums_backward");
  return loss_detail::softmax_loss_backward(ctx, logits, labels, ignore_label,
                                            loss_detail::dice_terms(0.0, grad_intersection, grad_prediction));
}

DiceCrossEntropySums dice_ce_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label) {
  NNUC_RANGE("dice_ce_forward");
  return loss_detail::softmax_loss_forward(ctx, logits, labels, ignore_label, true, true);
}

Tensor dice_ce_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                        double ce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("dice_ce_backward");
  return loss_detail::softmax_loss_backward(ctx, logits, labels, ignore_label,
                                            loss_detail::dice_terms(ce_scale, grad_intersection, grad_prediction));
}

Tensor dice_ce_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                        const Tensor& ce_scale, const Tensor& grad_intersection, const Tensor& grad_prediction) {
  NNUC_RANGE("dice_ce_backward");
  return loss_detail::softmax_loss_backward(ctx, logits, labels, ignore_label,
                                            loss_detail::dice_terms(ctx, ce_scale, grad_intersection, grad_prediction));
}

}  // namespace nnuc
