// Internal to kernels/optim: the CPU and CUDA implementations of sgd.h, with the same names, valid input
// assumed, outputs allocated by the entry point (sgd.cpp), which dispatches between them.
#pragma once

#include <vector>

#include "kernels/optim/sgd.h"

namespace nnuc {

namespace cpu {
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale, const Tensor& skip_if_nonzero);
}  // namespace cpu

namespace cuda {
void sgd_step(const Context& ctx, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& momentum_buffers, const SgdOptions& options, bool first_step,
              const Tensor& grad_scale, const Tensor& skip_if_nonzero);
}  // namespace cuda

}  // namespace nnuc
