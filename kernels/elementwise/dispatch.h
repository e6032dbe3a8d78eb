// Helpers for the public entry points of every op (kernels/*, data/augment): dtype checks that name
// the op and the argument, and NNUC_IF_CUDA, the one way an entry point says "built without CUDA".
#pragma once

#include <initializer_list>
#include <string>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

// The CUDA arm of an op's device switch: `case Device::CUDA: NNUC_IF_CUDA(cuda::op(ctx, ...)); break;`.
// Built without CUDA (NNUC_CUDA=OFF) the call is not compiled (cuda:: functions need not exist) and the
// arm throws CudaError naming the call; it is unreachable there, since no Context or tensor can be on
// CUDA in such a build.
#ifdef NNUC_WITH_CUDA
#define NNUC_IF_CUDA(call) call
#else
#define NNUC_IF_CUDA(call) \
  NNUC_THROW(::nnuc::CudaError, #call, ": nnuc was built without CUDA (configure with -DNNUC_CUDA=ON)")
#endif

namespace nnuc::detail {

// The device whose rules apply to ctx: CPU or CUDA (what a Meta context models).
inline Device rules_device(const Context& ctx) { return ctx.models(); }

// "f32, f64"
inline std::string dtype_list(std::initializer_list<DType> dtypes) {
  std::string out;
  for (DType dtype : dtypes) out += (out.empty() ? "" : ", ") + std::string(dtype_name(dtype));
  return out;
}

// Throws InvalidInput "<op>: <name> must be one of {...} on <device>, got <describe>".
inline void check_dtype_in(const Tensor& tensor, std::initializer_list<DType> allowed, const Context& ctx,
                           const char* op, const char* name) {
  for (DType dtype : allowed)
    if (tensor.dtype() == dtype) return;
  NNUC_THROW(InvalidInput, op, ": ", name, " must be one of {", dtype_list(allowed), "} on ",
             device_name(rules_device(ctx)), ", got ", tensor.describe());
}

// The floating dtypes an arithmetic op computes on ctx's device: f32, f64 (CPU); f32, bf16 (CUDA).
inline void check_compute_dtype(const Tensor& tensor, const Context& ctx, const char* op, const char* name) {
  if (rules_device(ctx) == Device::CUDA)
    check_dtype_in(tensor, {DType::f32, DType::bf16}, ctx, op, name);
  else
    check_dtype_in(tensor, {DType::f32, DType::f64}, ctx, op, name);
}

// Defined and on ctx's device; the message names the op and the argument.
inline void check_operand(const Tensor& tensor, const Context& ctx, const char* op, const char* name) {
  NNUC_CHECK(tensor.defined(), op, ": ", name, " is an undefined tensor");
  NNUC_CHECK(tensor.device() == ctx.device(), op, ": ", name, " is ", tensor.describe(), " but the op runs on ",
             device_name(ctx.device()));
}

}  // namespace nnuc::detail
