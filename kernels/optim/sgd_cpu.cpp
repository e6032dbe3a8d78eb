// CPU SGD step: the specification the CUDA version is tested against (the update in sgd.h).
#include "kernels/optim/sgd_impl.h"

namespace nnuc::cpu {

namespace {

template <typename T>
struct SgdConstants {
  T lr, momentum, weight_decay, grad_scale;
  bool nesterov, first_step, has_grad_scale;
};

template <typename T>
void sgd_update(T* w, const T* grad, T* buf, std::int64_t count, const SgdConstants<T>& c) {
#pragma omp parallel for schedule(static) if (count >= (1 << 15))
  for (std::int64_t i = 0; i < count; ++i) {
    T g = grad[i];
    if (c.has_grad_scale) g = g * c.grad_scale;
    if (c.weight_decay != 0) g = g + c.weight_decay * w[i];
    T d = g;
    if (c.momentum != 0) {
      const T b = c.first_step ? g : c.momentum * buf[i] + g;
      buf[i] = b;
      d = c.nesterov ? g + c.momentum * b : b;
    }
    w[i] = w[i] + (-c.lr) * d;
  }
}

template <typename T>
SgdConstants<T> constants(const SgdOptions& options, bool first_step, const Tensor& grad_scale) {
  SgdConstants<T> c{};
  c.lr = static_cast<T>(options.lr);
  c.momentum = static_cast<T>(options.momentum);
  c.weight_decay = static_cast<T>(options.weight_decay);
  c.nesterov = options.nesterov;
  c.first_step = first_step;
  c.has_grad_scale = grad_scale.defined();
  c.grad_scale = c.has_grad_scale ? static_cast<T>(grad_scale.data<float>()[0]) : T{1};
  return c;
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale, const Tensor& skip_if_nonzero) {
  if (skip_if_nonzero.defined() && skip_if_nonzero.data<float>()[0] != 0.0f) return;  // NaN != 0 skips too
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i].dtype() == DType::f64)
      sgd_update(params[i].data<double>(), grads[i].data<double>(), momentum_buffers[i].data<double>(),
                 params[i].numel(), constants<double>(options, first_step, grad_scale));
    else
      sgd_update(params[i].data<float>(), grads[i].data<float>(), momentum_buffers[i].data<float>(), params[i].numel(),
                 constants<float>(options, first_step, grad_scale));
  }
}

}  // namespace nnuc::cpu
