// Public entry points of the reductions and the clipping ops: check at the door, allocate, dispatch.
#include "kernels/elementwise/reduce.h"

#include <cmath>
#include <string>

#include "kernels/elementwise/dispatch.h"
#include "kernels/elementwise/reduce_impl.h"

namespace nnuc {

using detail::check_operand;

std::size_t reduction_workspace_bytes(const std::vector<std::int64_t>& numels, Device device) {
  NNUC_CHECK(device == Device::CPU || device == Device::CUDA,
             "reduction_workspace_bytes: device must be CPU or CUDA, got ", device_name(device));
  const std::int64_t chunk = device == Device::CUDA ? kReduceChunkCuda : kReduceChunkCpu;
  std::size_t chunks = 0;
  for (std::int64_t count : numels) chunks += static_cast<std::size_t>((count + chunk - 1) / chunk);
  return chunks * sizeof(double);
}

namespace {

// "tensors[3]"
std::string element_name(std::size_t index) { return "tensors[" + std::to_string(index) + "]"; }

// Checks the list and runs the reduction: output scalar, then the scratch (freed on return).
Tensor reduce_list(const Context& ctx, const std::vector<Tensor>& tensors, ReduceKind kind, DType out_dtype,
                   const char* op, std::initializer_list<DType> cpu_dtypes, std::initializer_list<DType> cuda_dtypes) {
  std::vector<std::int64_t> numels;
  numels.reserve(tensors.size());
  for (std::size_t index = 0; index < tensors.size(); ++index) {
    const std::string name = element_name(index);
    check_operand(tensors[index], ctx, op, name.c_str());
    detail::check_dtype_in(tensors[index], detail::rules_device(ctx) == Device::CUDA ? cuda_dtypes : cpu_dtypes, ctx,
                           op, name.c_str());
    numels.push_back(tensors[index].numel());
  }
  Tensor out = Tensor::empty(Shape{}, out_dtype, ctx);  // ()
  const std::size_t scratch_bytes = reduction_workspace_bytes(numels, detail::rules_device(ctx));
  Tensor workspace = Tensor::empty(Shape{static_cast<std::int64_t>(scratch_bytes / sizeof(double))}, DType::f64, ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::reduce(tensors, kind, workspace, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::reduce(ctx, tensors, kind, workspace, out)); break;
    case Device::Meta: break;
  }
  return out;
}

void check_total_norm(const Context& ctx, const Tensor& total_norm, double max_norm, const char* op) {
  check_operand(total_norm, ctx, op, "total_norm");
  NNUC_CHECK(total_norm.dtype() == DType::f32 && total_norm.numel() == 1, op,
             ": total_norm must be an f32 tensor of one element, got ", total_norm.describe());
  NNUC_CHECK(std::isfinite(max_norm) && max_norm > 0, op, ": max_norm must be finite and > 0, got ", max_norm);
}

}  // namespace

Tensor sum(const Context& ctx, const Tensor& x) {
  check_operand(x, ctx, "sum", "x");
  detail::check_compute_dtype(x, ctx, "sum", "x");
  const DType out_dtype = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
  return reduce_list(ctx, {x}, ReduceKind::sum, out_dtype, "sum", {DType::f32, DType::f64}, {DType::f32, DType::bf16});
}

Tensor l2_norm(const Context& ctx, const std::vector<Tensor>& tensors) {
  return reduce_list(ctx, tensors, ReduceKind::sum_of_squares, DType::f32, "l2_norm", {DType::f32, DType::f64},
                     {DType::f32, DType::bf16});
}

Tensor any_nonfinite(const Context& ctx, const std::vector<Tensor>& tensors) {
  return reduce_list(ctx, tensors, ReduceKind::nonfinite_count, DType::f32, "any_nonfinite",
                     {DType::f32, DType::f64, DType::bf16, DType::f16}, {DType::f32, DType::bf16, DType::f16});
}

Tensor clip_coefficient(const Context& ctx, const Tensor& total_norm, double max_norm) {
  check_total_norm(ctx, total_norm, max_norm, "clip_coefficient");
  Tensor out = Tensor::empty(Shape{}, DType::f32, ctx);  // ()
  switch (ctx.device()) {
    case Device::CPU: cpu::clip_coefficient(total_norm, max_norm, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::clip_coefficient(ctx, total_norm, max_norm, out)); break;
    case Device::Meta: break;
  }
  return out;
}

void clip_by_total_norm(const Context& ctx, const std::vector<Tensor>& tensors, const Tensor& total_norm,
                        double max_norm) {
  check_total_norm(ctx, total_norm, max_norm, "clip_by_total_norm");
  for (std::size_t index = 0; index < tensors.size(); ++index) {
    const std::string name = element_name(index);
    check_operand(tensors[index], ctx, "clip_by_total_norm", name.c_str());
    detail::check_compute_dtype(tensors[index], ctx, "clip_by_total_norm", name.c_str());
  }
  switch (ctx.device()) {
    case Device::CPU: cpu::clip_by_total_norm(tensors, total_norm, max_norm); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::clip_by_total_norm(ctx, tensors, total_norm, max_norm)); break;
    case Device::Meta: break;
  }
}

}  // namespace nnuc
