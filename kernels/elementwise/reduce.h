// Reductions to one device scalar, and the gradient-clipping and step-skipping ops built on them:
// sum, l2_norm, any_nonfinite, clip_coefficient, clip_by_total_norm.
//
// Scalars are tensors of shape () (rank 0, one element) that stay on the op's device: a training
// step reads them in later kernels (clip_by_total_norm, sgd_step) without a host synchronization.
//
// Accumulation and determinism. The elements are cut into fixed chunks (kReduceChunkCpu /
// kReduceChunkCuda elements per tensor), each chunk is reduced in f64 in a fixed order, and the
// chunk partials are combined in a fixed order: CPU pairwise, CUDA one block's fixed tree. The
// result depends only on the values, never on thread counts, SM counts or timing: the same inputs
// give the same bits on every run. CPU and CUDA use different chunkings, so they agree to f64
// accuracy before the final rounding to f32.
//
// Scratch: one f64 partial per chunk, allocated through Tensor::empty (reduction_workspace_bytes),
// so a Meta run accounts it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

constexpr std::int64_t kReduceChunkCpu = 8192;
constexpr std::int64_t kReduceChunkCuda = 16384;

// CUDA vs CPU, f32 result. Both accumulate in f64; the f32 results differ by at most one f32
// rounding (the bf16 inputs are exact in f32, so bf16 needs no looser bound).
constexpr Tolerance kReduceToleranceF32{1e-6, 1e-6};
constexpr Tolerance kReduceToleranceBf16{1e-6, 1e-6};
// clip_by_total_norm: one f32 (or bf16) multiplication by the same f32 coefficient on both devices.
constexpr Tolerance kClipToleranceF32{0, 0};
constexpr Tolerance kClipToleranceBf16{0, 0};

// Bytes of chunk partials a reduction over tensors of these element counts allocates on `device`
// (CPU or CUDA; rounded up by the allocator as any allocation).
std::size_t reduction_workspace_bytes(const std::vector<std::int64_t>& numels, Device device);

// sum: out = sum_i x[i]
// requires: x defined, on ctx's device; dtype f32 or f64 (CPU), f32 or bf16 (CUDA).
// ensures:  returns a scalar tensor () on ctx's device: f64 for f64 input, else f32 (the f64
//           accumulation rounded once); an empty x sums to 0. Allocates reduction scratch.
Tensor sum(const Context& ctx, const Tensor& x);

// l2_norm: out = sqrt(sum_t sum_i tensors[t][i]^2), the global norm of a list (gradient clipping).
// requires: every tensor defined and on ctx's device; dtypes f32 or f64 (CPU), f32 or bf16 (CUDA),
//           mixed freely. An empty list is allowed.
// ensures:  returns an f32 scalar () on ctx's device (NaN or Inf when an element is). The list is
//           read only. Allocates reduction scratch.
Tensor l2_norm(const Context& ctx, const std::vector<Tensor>& tensors);

// any_nonfinite: out = 1 if some element of some tensor is NaN or +-Inf, else 0 (mixed-precision
// step skipping: pass it to sgd_step as skip_if_nonzero).
// requires: every tensor defined and on ctx's device; dtypes f32, f64, bf16, f16 (CPU),
//           f32, bf16, f16 (CUDA). An empty list is allowed.
// ensures:  returns an f32 scalar () on ctx's device holding 0 or 1. Allocates reduction scratch.
Tensor any_nonfinite(const Context& ctx, const std::vector<Tensor>& tensors);

// clip_coefficient: out = min(1, max_norm / (total_norm + 1e-6)), computed in f32 exactly as
// PyTorch's clip_grad_norm_ evaluates it: (1 / (total_norm + 1e-6f)) * max_norm (Tensor.__rtruediv__
// is reciprocal() * other), then clamp(max = 1). A NaN norm gives NaN, an infinite norm gives 0.
// requires: total_norm an f32 tensor of one element on ctx's device; max_norm > 0 and finite.
// ensures:  returns an f32 scalar () on ctx's device.
Tensor clip_coefficient(const Context& ctx, const Tensor& total_norm, double max_norm);

// clip_by_total_norm: every element of every tensor t <- t * clip_coefficient(total_norm, max_norm),
// in place, the coefficient read on the device (torch.nn.utils.clip_grad_norm_ with the norm
// computed beforehand by l2_norm). As in PyTorch, tensors are multiplied even when the
// coefficient is 1 (which leaves them unchanged).
// requires: tensors defined and on ctx's device, dtypes f32 or f64 (CPU), f32 or bf16 (CUDA);
//           total_norm as for clip_coefficient; max_norm > 0 and finite.
// ensures:  the tensors are scaled (f64 tensors by the f32 coefficient); nothing is allocated.
void clip_by_total_norm(const Context& ctx, const std::vector<Tensor>& tensors, const Tensor& total_norm,
                        double max_norm);

// What the chunk partials hold and how the final value is formed from their f64 total.
enum class ReduceKind : std::uint8_t {
  sum,              // total
  sum_of_squares,   // sqrt(total)
  nonfinite_count,  // total > 0 ? 1 : 0
};

// Implementations; `out` and `workspace` (reduction_workspace_bytes of the list, as f64) are
// allocated by the caller and the inputs are valid.

}  // namespace nnuc
