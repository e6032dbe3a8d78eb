// Internal to kernels/norm: the CPU and CUDA implementations of leaky_relu.h, with the same names, valid input
// assumed, outputs allocated by the entry point (leaky_relu.cpp), which dispatches between them.
#pragma once

#include "kernels/norm/leaky_relu.h"

namespace nnuc {

namespace cpu {
void leaky_relu_forward(const Context& ctx, const Tensor& x, double slope, Tensor& y);
void leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& y, double slope, Tensor& dx);
}  // namespace cpu

namespace cuda {
void leaky_relu_forward(const Context& ctx, const Tensor& x, double slope, Tensor& y);
void leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& y, double slope, Tensor& dx);
}  // namespace cuda

}  // namespace nnuc
