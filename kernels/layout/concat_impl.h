// Internal to kernels/layout: the CPU and CUDA implementations of concat.h, with the same names, valid input
// assumed, outputs allocated by the entry point (concat.cpp), which dispatches between them.
#pragma once

#include "kernels/layout/concat.h"

namespace nnuc {

namespace cpu {
void concat_channels(const Tensor& a, const Tensor& b, Tensor& out);
void split_channels(const Tensor& x, Tensor& first, Tensor& second);
}  // namespace cpu

namespace cuda {
void concat_channels(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out);
void split_channels(const Context& ctx, const Tensor& x, Tensor& first, Tensor& second);
}  // namespace cuda

}  // namespace nnuc
