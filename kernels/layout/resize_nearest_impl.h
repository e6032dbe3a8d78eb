// Internal to kernels/layout: the CPU and CUDA implementations of resize_nearest.h, with the same names, valid input
// assumed, outputs allocated by the entry point (resize_nearest.cpp), which dispatches between them.
#pragma once

#include "kernels/layout/resize_nearest.h"

namespace nnuc {

namespace cpu {
void resize_nearest_exact(const Tensor& x, Tensor& out);
}  // namespace cpu

namespace cuda {
void resize_nearest_exact(const Context& ctx, const Tensor& x, Tensor& out);
}  // namespace cuda

}  // namespace nnuc
