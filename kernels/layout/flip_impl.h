// Internal to kernels/layout: the CPU and CUDA implementations of flip.h, with the same names, valid input
// assumed, outputs allocated by the entry point (flip.cpp), which dispatches between them.
#pragma once

#include "kernels/layout/flip.h"

namespace nnuc {

namespace cpu {
void flip(const Tensor& x, unsigned axes, Tensor& out);
}  // namespace cpu

namespace cuda {
void flip(const Context& ctx, const Tensor& x, unsigned axes, Tensor& out);
}  // namespace cuda

}  // namespace nnuc
