// Internal to kernels/layout: the CPU and CUDA implementations of avg_pool.h, with the same names, valid input
// assumed, outputs allocated by the entry point (avg_pool.cpp), which dispatches between them.
#pragma once

#include <array>
#include <cstdint>

#include "kernels/layout/avg_pool.h"

namespace nnuc {

namespace cpu {
void avg_pool_forward(const Tensor& x, const std::array<std::int64_t, 3>& kernel, Tensor& y);
void avg_pool_backward(const Tensor& grad_out, const std::array<std::int64_t, 3>& kernel, Tensor& grad_in);
}  // namespace cpu

namespace cuda {
void avg_pool_forward(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& kernel, Tensor& y);
void avg_pool_backward(const Context& ctx, const Tensor& grad_out, const std::array<std::int64_t, 3>& kernel,
                       Tensor& grad_in);
}  // namespace cuda

}  // namespace nnuc
