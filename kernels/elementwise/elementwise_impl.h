// Internal to kernels/elementwise: the CPU and CUDA implementations of elementwise.h, with the same names, valid input
// assumed, outputs allocated by the entry point (elementwise.cpp), which dispatches between them.
#pragma once

#include "kernels/elementwise/elementwise.h"

namespace nnuc {

namespace cpu {
void add(const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Tensor& x, double s, Tensor& out);
void axpy(Tensor& y, double alpha, const Tensor& x);
void fill(Tensor& t, double value);
void cast(const Tensor& x, Tensor& out);
}  // namespace cpu

namespace cuda {
void add(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Context& ctx, const Tensor& x, double s, Tensor& out);
void axpy(const Context& ctx, Tensor& y, double alpha, const Tensor& x);
void fill(const Context& ctx, Tensor& t, double value);
void cast(const Context& ctx, const Tensor& x, Tensor& out);
}  // namespace cuda

}  // namespace nnuc
