// Internal to kernels/elementwise: the CPU and CUDA implementations of reduce.h, with the same names, valid input
// assumed, outputs allocated by the entry point (reduce.cpp), which dispatches between them.
#pragma once

#include <vector>

#include "kernels/elementwise/reduce.h"

namespace nnuc {

namespace cpu {
void reduce(const std::vector<Tensor>& tensors, ReduceKind kind, Tensor& workspace, Tensor& out);
void clip_coefficient(const Tensor& total_norm, double max_norm, Tensor& out);
void clip_by_total_norm(const std::vector<Tensor>& tensors, const Tensor& total_norm, double max_norm);
}  // namespace cpu

namespace cuda {
void reduce(const Context& ctx, const std::vector<Tensor>& tensors, ReduceKind kind, Tensor& workspace, Tensor& out);
void clip_coefficient(const Context& ctx, const Tensor& total_norm, double max_norm, Tensor& out);
void clip_by_total_norm(const Context& ctx, const std::vector<Tensor>& tensors, const Tensor& total_norm,
                        double max_norm);
}  // namespace cuda

}  // namespace nnuc
