// Public entry points of the SGD step: check at the door, dispatch.
#include "kernels/optim/sgd.h"

#include <cmath>
#include <string>

#include "kernels/elementwise/dispatch.h"
#include "kernels/optim/sgd_impl.h"

namespace nnuc {

namespace {

std::string indexed(const char* list, std::size_t index) {
  return std::string(list) + "[" + std::to_string(index) + "]";
}

void check_scalar_operand(const Tensor& scalar, const Context& ctx, const char* name) {
  if (!scalar.defined()) return;
  detail::check_operand(scalar, ctx, "sgd_step", name);
  NNUC_CHECK(scalar.dtype() == DType::f32 && scalar.numel() == 1, "sgd_step: ", name,
             " must be undefined or an f32 tensor of one element, got ", scalar.describe());
}

}  // namespace

void sgd_step(const Context& ctx, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale, const Tensor& skip_if_nonzero) {
  NNUC_CHECK(grads.size() == params.size() && momentum_buffers.size() == params.size(), "sgd_step: ", params.size(),
             " params, ", grads.size(), " grads and ", momentum_buffers.size(),
             " momentum_buffers: the lists must have the same length");
  NNUC_CHECK(std::isfinite(options.lr) && options.lr >= 0, "sgd_step: lr must be finite and >= 0, got ", options.lr);
  NNUC_CHECK(std::isfinite(options.momentum) && options.momentum >= 0 && options.momentum < 1,
             "sgd_step: momentum must be in [0, 1), got ", options.momentum);
  NNUC_CHECK(std::isfinite(options.weight_decay) && options.weight_decay >= 0,
             "sgd_step: weight_decay must be finite and >= 0, got ", options.weight_decay);
  NNUC_CHECK(!options.nesterov || options.momentum > 0, "sgd_step: nesterov requires momentum > 0, got momentum ",
             options.momentum);
  check_scalar_operand(grad_scale, ctx, "grad_scale");
  check_scalar_operand(skip_if_nonzero, ctx, "skip_if_nonzero");
  const bool cuda_rules = detail::rules_device(ctx) == Device::CUDA;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string param = indexed("params", i), grad = indexed("grads", i), buffer = indexed("momentum_buffers", i);
    detail::check_operand(params[i], ctx, "sgd_step", param.c_str());
    detail::check_operand(grads[i], ctx, "sgd_step", grad.c_str());
    detail::check_operand(momentum_buffers[i], ctx, "sgd_step", buffer.c_str());
    NNUC_CHECK(grads[i].shape() == params[i].shape() && momentum_buffers[i].shape() == params[i].shape(),
               "sgd_step: ", param, " ", params[i].describe(), ", ", grad, " ", grads[i].describe(), " and ", buffer,
               " ", momentum_buffers[i].describe(), " must have the same shape");
    if (cuda_rules) {
      detail::check_dtype_in(params[i], {DType::f32}, ctx, "sgd_step", param.c_str());
      detail::check_dtype_in(momentum_buffers[i], {DType::f32}, ctx, "sgd_step", buffer.c_str());
      detail::check_dtype_in(grads[i], {DType::f32, DType::bf16}, ctx, "sgd_step", grad.c_str());
    } else {
      detail::check_dtype_in(params[i], {DType::f32, DType::f64}, ctx, "sgd_step", param.c_str());
      NNUC_CHECK(grads[i].dtype() == params[i].dtype() && momentum_buffers[i].dtype() == params[i].dtype(),
                 "sgd_step: on CPU ", grad, " ", grads[i].describe(), " and ", buffer, " ",
                 momentum_buffers[i].describe(), " must have the dtype of ", param, " ", params[i].describe());
    }
  }
  switch (ctx.device()) {
    case Device::CPU:
      cpu::sgd_step(params, grads, momentum_buffers, options, first_step, grad_scale, skip_if_nonzero);
      break;
    case Device::CUDA:
      NNUC_IF_CUDA(
          cuda::sgd_step(ctx, params, grads, momentum_buffers, options, first_step, grad_scale, skip_if_nonzero));
      break;
    case Device::Meta: break;
  }
}

void sgd_step(const Context& ctx, Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdOptions& options,
              bool first_step, const Tensor& grad_scale, const Tensor& skip_if_nonzero) {
  sgd_step(ctx, std::vector<Tensor>{param}, std::vector<Tensor>{grad}, std::vector<Tensor>{momentum_buffer}, options,
           first_step, grad_scale, skip_if_nonzero);
}

}  // namespace nnuc
