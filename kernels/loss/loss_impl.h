// kernels/loss internals: the cpu:: and cuda:: implementations behind loss.h and region_loss.h, and
// the CUDA reduction geometry that loss_workspace_bytes models. The implementations assume arguments
// checked by the public entry points (loss.cpp, region_loss.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/loss/region_loss.h"

namespace nnuc {

namespace loss_detail {

// CUDA forward reduction: grid (blocks_per_sample, N, class_chunks). A block reduces its voxels'
// sums for kClassChunk classes into kSlots partials; a final pass adds the partials in fixed order.
constexpr int kThreads = 256;
constexpr int kClassChunk = 8;
constexpr int kSlotIntersection = 0;               // [0, 8): I of the chunk's classes
constexpr int kSlotPrediction = kClassChunk;       // [8, 16): P
constexpr int kSlotTarget = 2 * kClassChunk;       // [16, 24): G
constexpr int kSlotLoss = 3 * kClassChunk;         // CE / BCE sum
constexpr int kSlotCounted = 3 * kClassChunk + 1;  // counted voxels
constexpr int kSlots = 3 * kClassChunk + 2;
constexpr std::int64_t kVoxelsPerThread = 8;  // enough work per thread to hide latency
constexpr std::int64_t kMaxBlocksPerSample = 1024;

inline std::int64_t class_chunks(std::int64_t classes) { return (classes + kClassChunk - 1) / kClassChunk; }
inline std::int64_t blocks_per_sample(std::int64_t voxels_per_sample) {
  const std::int64_t wanted = (voxels_per_sample + kThreads * kVoxelsPerThread - 1) / (kThreads * kVoxelsPerThread);
  return std::clamp<std::int64_t>(wanted, 1, kMaxBlocksPerSample);
}
// Elements of the f32 partials workspace: (N, class_chunks, blocks_per_sample, kSlots).
inline std::int64_t workspace_elements(const Shape& logits_shape) {
  const std::int64_t voxels = logits_shape[1] * logits_shape[2] * logits_shape[3];
  return logits_shape[0] * class_chunks(logits_shape[4]) * blocks_per_sample(voxels) * kSlots;
}

// What a forward computes; undefined tensors are not requested.
struct SumOutputs {
  Tensor loss_sum, counted;                 // (1)
  Tensor intersection, prediction, target;  // (N, K); all three defined or none
  bool dice() const { return intersection.defined(); }
};

// What a backward adds; undefined grads mean "no Dice term". loss_scale 0 means "no CE / BCE term".
// With loss_scale_factor defined ((1) f64 on the op's device) the CE / BCE weight is
// loss_scale · loss_scale_factor[0], read by the kernel itself (no host sync).
struct BackwardTerms {
  double loss_scale = 0;
  Tensor loss_scale_factor;
  double scale_on_host() const {
    return loss_scale_factor.defined() ? loss_scale * loss_scale_factor.data<double>()[0] : loss_scale;
  }
  const double* scale_factor_on_device() const {
    return loss_scale_factor.defined() ? loss_scale_factor.data<double>() : nullptr;
  }
  Tensor grad_intersection, grad_prediction;  // (N, K)
  bool dice() const { return grad_intersection.defined(); }
};

// Shared by the public entry points of loss.cpp and region_loss.cpp (defined in loss.cpp).
// Logits: 5-D, every dim >= 1, on ctx's device, a dtype the modelled device supports.
void check_logits(const Context& ctx, const Tensor& logits);
// f64 for f64 logits, else f32.
DType sums_dtype(DType logits_dtype);
// An upstream gradient of the (N, K) sums: the sums' dtype, on ctx's device.
void check_sum_grad(const Context& ctx, const Tensor& logits, const Tensor& grad, const char* name);
SumOutputs allocate_sums(const Context& ctx, const Tensor& logits, bool loss, bool dice);
// Backward terms with a Dice part (both grads required) and a CE / BCE part of weight loss_scale.
BackwardTerms dice_terms(double loss_scale, const Tensor& grad_intersection, const Tensor& grad_prediction);
// dice_terms(1, ...) with the CE / BCE weight read from `loss_scale` ((1) f64 on ctx's device), checked.
BackwardTerms dice_terms(const Context& ctx, const Tensor& loss_scale, const Tensor& grad_intersection,
                         const Tensor& grad_prediction);
// f32 (workspace_elements) where ctx models CUDA; undefined otherwise.
Tensor allocate_workspace(const Context& ctx, const Tensor& logits);

}  // namespace loss_detail

namespace cpu {
// Adds per-thread partials laid out [thread][n][I(K), P(K), G(K)], loss, counted in thread order and
// writes the requested sums (in their dtype).
void write_sums(const std::vector<double>& partials, std::int64_t samples, std::int64_t classes,
                const loss_detail::SumOutputs& out);
void softmax_channels(const Tensor& logits, const Tensor& probabilities);
void argmax_channels(const Tensor& logits, const Tensor& classes);
void softmax_loss_forward(const Tensor& logits, const Tensor& labels, int ignore_label,
                          const loss_detail::SumOutputs& out);
void softmax_loss_backward(const Tensor& logits, const Tensor& labels, int ignore_label,
                           const loss_detail::BackwardTerms& terms, const Tensor& grad_logits);
void region_loss_forward(const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                         const loss_detail::SumOutputs& out);
void region_loss_backward(const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                          const loss_detail::BackwardTerms& terms, const Tensor& grad_logits);
}  // namespace cpu

namespace cuda {
void softmax_channels(const Context& ctx, const Tensor& logits, const Tensor& probabilities);
void argmax_channels(const Context& ctx, const Tensor& logits, const Tensor& classes);
// `workspace`: f32 of loss_detail::workspace_elements(logits.shape()).
void softmax_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                          const loss_detail::SumOutputs& out, const Tensor& workspace);
void softmax_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& labels, int ignore_label,
                           const loss_detail::BackwardTerms& terms, const Tensor& grad_logits);
void region_loss_forward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                         const loss_detail::SumOutputs& out, const Tensor& workspace);
void region_loss_backward(const Context& ctx, const Tensor& logits, const Tensor& targets, RegionIgnore ignore,
                          const loss_detail::BackwardTerms& terms, const Tensor& grad_logits);
// Adds the forward's partials (N, chunks_used, blocks_per_sample, kSlots) in fixed order into `out`.
void finalize_loss_sums(const Context& ctx, const Tensor& workspace, std::int64_t samples, std::int64_t classes,
                        std::int64_t chunks_used, std::int64_t blocks, const loss_detail::SumOutputs& out);
}  // namespace cuda

}  // namespace nnuc
